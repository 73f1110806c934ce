//! `infra/gcp/deploy.sh` run against a recording stand-in for the gcloud CLI (there is no
//! emulator of Google's control plane): every variable set in the one deploy step, and each
//! runtime account granted what its function needs, resource by resource.
#![allow(clippy::unwrap_used)]

use std::path::Path;

fn deploy(function: &str, vars: &[(&str, &str)]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        root.join("tests/tools/fake-gcloud"),
        bin.path().join("gcloud"),
    )
    .unwrap();
    let log = bin.path().join("calls.log");
    // The binary the image gets: a stand-in, so the test builds nothing in release.
    let bootstrap = bin.path().join("bootstrap");
    std::fs::write(&bootstrap, b"\x7fELF stand-in").unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = std::process::Command::new("bash")
        .arg(root.join("infra/gcp/deploy.sh"))
        .arg(function)
        .current_dir(&root)
        .env("PATH", path)
        .env("GCLOUD_LOG", &log)
        .env("BOOTSTRAP", &bootstrap)
        .env("PROJECT", "aion-prod")
        .env("REGION", "us-central1")
        .env("CONFIG", "gs://aion-ops/twincloud/twincloud.toml")
        .envs(vars.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn one_deploy_step_sets_verification_and_the_command_callers() {
    let calls = deploy(
        "failover",
        &[
            (
                "COMMAND_CALLERS",
                "oncall@acme.example,ops-bot@aion-prod.iam.gserviceaccount.com",
            ),
            ("SCHEDULE", "* * * * *"),
            ("TOPICS", "monitoring-incidents"),
            ("RUN_SERVICES", "aion-backend"),
            ("DNS_ZONE", "aion-example"),
            ("STATE", "gs://aion-ops/twincloud-state"),
        ],
    );
    let deploys: Vec<&String> = calls
        .iter()
        .filter(|c| c.starts_with("run deploy"))
        .collect();
    assert_eq!(deploys.len(), 1);
    let d = deploys[0];
    for want in [
        "TWINCLOUD_PUSH_AUDIENCE=https://twincloud-failover-123456789012.us-central1.run.app",
        "TWINCLOUD_PUSH_SERVICE_ACCOUNT=twincloud-invoker@aion-prod.iam.gserviceaccount.com",
        "TWINCLOUD_COMMAND_CALLERS=oncall@acme.example,ops-bot@aion-prod.iam.gserviceaccount.com",
    ] {
        assert!(d.contains(want), "missing {want} in {d}");
    }
    assert!(!calls.iter().any(|c| c.contains("update-env-vars")));
    // The image is built from the staged context (the tested binary), not compiled anew.
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("builds submit --tag us-central1-docker.pkg.dev/aion-prod/")),
        "{calls:#?}"
    );
    for want in [
        "member user:oncall@acme.example --role roles/run.invoker",
        "member serviceAccount:ops-bot@aion-prod.iam.gserviceaccount.com --role roles/run.invoker",
        "run services add-iam-policy-binding aion-backend",
        "dns managed-zones add-iam-policy-binding aion-example",
        "--max-delivery-attempts 10",
        "objects/twincloud-state/",
        "objects/twincloud/twincloud.toml",
    ] {
        assert!(
            calls.iter().any(|c| c.contains(want)),
            "no call with {want}:\n{}",
            calls.join("\n")
        );
    }
    assert!(
        !calls
            .iter()
            .any(|c| c.contains("projects add-iam-policy-binding")),
        "no project-wide role for failover"
    );
}

#[test]
fn bucket_sync_reads_its_sources_and_writes_its_destinations_only() {
    let calls = deploy(
        "bucket-sync",
        &[
            ("BUCKETS", "aion-acme-uploads"),
            ("SYNC_DESTINATIONS", "aion-acme-replica"),
        ],
    );
    let grant = |bucket: &str, role: &str| {
        calls.iter().any(|c| {
            c.starts_with(&format!(
                "storage buckets add-iam-policy-binding gs://{bucket} "
            )) && c.contains(role)
        })
    };
    assert!(grant("aion-acme-uploads", "roles/storage.objectViewer"));
    assert!(!grant("aion-acme-uploads", "roles/storage.objectAdmin"));
    assert!(grant("aion-acme-replica", "roles/storage.objectAdmin"));
}

#[test]
fn federation_admits_only_the_stacks_roles_and_writes_a_credential_config() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        root.join("tests/tools/fake-gcloud"),
        bin.path().join("gcloud"),
    )
    .unwrap();
    let log = bin.path().join("calls.log");
    // The binary the image gets: a stand-in, so the test builds nothing in release.
    let bootstrap = bin.path().join("bootstrap");
    std::fs::write(&bootstrap, b"\x7fELF stand-in").unwrap();
    let out = std::process::Command::new("bash")
        .arg(root.join("infra/gcp/federate-aws.sh"))
        .current_dir(bin.path())
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.path().display(),
                std::env::var("PATH").unwrap()
            ),
        )
        .env("GCLOUD_LOG", &log)
        .env("BOOTSTRAP", &bootstrap)
        .env("PROJECT", "aion-prod")
        .env("AWS_ACCOUNT", "111122223333")
        .env("STACK", "aion-twincloud")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls = std::fs::read_to_string(log).unwrap();
    assert!(calls.contains(
        "assertion.arn.startsWith('arn:aws:sts::111122223333:assumed-role/aion-twincloud-')"
    ));
    assert!(calls.contains("--account-id 111122223333"));
    assert!(calls.contains("create-cred-config"));
    assert!(calls.contains("--aws"));
}

#[test]
fn scaling_may_scale_its_services_and_read_their_load_only() {
    let calls = deploy(
        "scaling",
        &[("RUN_SERVICES", "aion-backend"), ("SCHEDULE", "* * * * *")],
    );
    assert!(calls.iter().any(
        |c| c.contains("run services add-iam-policy-binding aion-backend")
            && c.contains("roles/run.developer")
    ));
    assert!(calls.iter().any(|c| c.contains("roles/monitoring.viewer")));
    assert!(!calls.iter().any(|c| c.contains("dns managed-zones")));
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("scheduler jobs create http twincloud-scaling-schedule"))
    );
}

#[test]
fn deploy_may_roll_out_to_its_services_and_mirror_into_its_repositories_only() {
    let calls = deploy(
        "deploy",
        &[
            ("RUN_SERVICES", "aion-backend"),
            (
                "RUN_SERVICE_ACCOUNTS",
                "aion-backend@aion-prod.iam.gserviceaccount.com",
            ),
            ("AR_REPOSITORIES", "us-central1/images"),
            ("TOPICS", "gcr"),
            ("SCHEDULE", "* * * * *"),
        ],
    );
    assert!(calls.iter().any(
        |c| c.contains("run services add-iam-policy-binding aion-backend")
            && c.contains("roles/run.developer")
    ));
    assert!(calls.iter().any(|c| c.contains(
        "iam service-accounts add-iam-policy-binding aion-backend@aion-prod.iam.gserviceaccount.com"
    ) && c.contains("roles/iam.serviceAccountUser")));
    assert!(calls.iter().any(
        |c| c.contains("artifacts repositories add-iam-policy-binding images")
            && c.contains("--location us-central1")
            && c.contains("roles/artifactregistry.writer")
    ));
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("pubsub subscriptions create twincloud-deploy-gcr"))
    );
    assert!(
        !calls
            .iter()
            .any(|c| c.contains("dns managed-zones") || c.contains("cloudsql"))
    );
}

#[test]
fn the_budget_guard_detaches_billing_only_where_enabled_and_only_billing_publishes() {
    let calls = deploy(
        "budget-guard",
        &[
            ("BUDGET_TOPIC", "billing-alerts"),
            ("TOPICS", "billing-alerts"),
            ("BILLING_ACCOUNT", "01D4EE-079462-DFD6EC"),
            ("RUN_SERVICES", "aion-worker"),
            ("DETACH_PROJECTS", "aion-sandbox"),
        ],
    );
    assert!(calls.iter().any(|c| {
        c.contains("billing accounts add-iam-policy-binding 01D4EE-079462-DFD6EC")
            && c.contains("roles/billing.viewer")
    }));
    let managers: Vec<&String> = calls
        .iter()
        .filter(|c| c.contains("roles/billing.projectManager"))
        .collect();
    assert_eq!(managers.len(), 1, "{managers:?}");
    assert!(managers[0].contains("projects add-iam-policy-binding aion-sandbox"));
    assert!(calls.iter().any(
        |c| c.contains("pubsub topics add-iam-policy-binding billing-alerts")
            && c.contains("billing-budget-alert@system.gserviceaccount.com")
            && c.contains("roles/pubsub.publisher")
    ));
    let none = deploy(
        "budget-guard",
        &[("BILLING_ACCOUNT", "01D4EE-079462-DFD6EC")],
    );
    assert!(
        !none.iter().any(|c| c.contains("billing.projectManager")),
        "no detach step, no billing manager"
    );
    // The undo links the project again: billing.user on the billing account, only when
    // detaching is enabled.
    assert!(calls.iter().any(|c| {
        c.contains("billing accounts add-iam-policy-binding 01D4EE-079462-DFD6EC")
            && c.contains("roles/billing.user")
    }));
    assert!(!none.iter().any(|c| c.contains("roles/billing.user")));
}

#[test]
fn backup_gets_a_custom_cloud_sql_role_not_the_editor() {
    let calls = deploy("backup", &[("BACKUP_SET", "nightly")]);
    let create = calls
        .iter()
        .find(|c| c.starts_with("iam roles create twincloudBackup"))
        .expect("the custom role is created");
    for p in [
        "cloudsql.backupRuns.create",
        "cloudsql.backupRuns.delete",
        "cloudsql.instances.export",
    ] {
        assert!(create.contains(p), "{create}");
    }
    for p in [
        "cloudsql.instances.update",
        "cloudsql.instances.import",
        "cloudsql.users",
    ] {
        assert!(!create.contains(p), "{create}");
    }
    assert!(
        calls
            .iter()
            .any(|c| c.contains("--role projects/aion-prod/roles/twincloudBackup"))
    );
    assert!(!calls.iter().any(|c| c.contains("cloudsql.editor")));
}

#[test]
fn each_account_writes_only_its_own_state_records_and_reads_them_all() {
    let calls = deploy("notifier", &[("STATE", "gs://aion-ops/twincloud-state")]);
    let admin: Vec<&String> = calls
        .iter()
        .filter(|c| c.contains("gs://aion-ops ") && c.contains("roles/storage.objectAdmin"))
        .collect();
    let on = |p: &str| {
        admin
            .iter()
            .any(|c| c.contains(&format!("objects/twincloud-state/{p}")))
    };
    for own in [
        "notify/",
        "journal/notifier/",
        "audit/{day}/notifier/",
        "rejected/{day}/notifier/",
    ] {
        assert!(on(own), "no write grant on {own}:\n{admin:#?}");
    }
    // The notifier cannot queue a deploy or write the failover record (it could before: one
    // objectAdmin on the whole prefix).
    for other in ["deploy/", "failover/", "holds/", "scaling/", "budget/"] {
        assert!(!on(other), "a write grant on {other}:\n{admin:#?}");
    }
    assert!(
        !admin
            .iter()
            .any(|c| c
                .contains("startsWith(\"projects/_/buckets/aion-ops/objects/twincloud-state/\")")),
        "no write grant on the whole prefix:\n{admin:#?}"
    );
    assert!(
        calls
            .iter()
            .any(|c| c.contains("roles/storage.objectViewer")
                && c.contains(
                    "startsWith(\"projects/_/buckets/aion-ops/objects/twincloud-state/\")"
                ))
    );
    let guard = deploy(
        "budget-guard",
        &[("STATE", "gs://aion-ops/twincloud-state")],
    );
    assert!(
        guard.iter().any(|c| c.contains("roles/storage.objectAdmin")
            && c.contains("objects/twincloud-state/holds/"))
    );
}

#[test]
fn a_gke_workload_gets_cluster_read_access_and_a_backup_its_verify_job() {
    let calls = deploy("failover", &[("GKE_PROJECT", "aion-gke-prod")]);
    assert!(
        calls.iter().any(
            |c| c.contains("projects add-iam-policy-binding aion-gke-prod")
                && c.contains("roles/container.clusterViewer")
        ),
        "{calls:#?}"
    );
    let calls = deploy(
        "backup",
        &[("BACKUP_SET", "neon"), ("SCHEDULE", "0 3 * * *")],
    );
    assert!(
        calls
            .iter()
            .any(|c| c.contains("twincloud-backup-neon-verify") && c.contains("verify")),
        "{calls:#?}"
    );
}

#[test]
fn every_function_may_publish_its_reports_to_the_pubsub_channels_topics_only() {
    for function in ["notifier", "failover", "scaling"] {
        let calls = deploy(function, &[("PUBLISH_TOPICS", "ops-alerts")]);
        let publish: Vec<&String> = calls
            .iter()
            .filter(|c| c.contains("roles/pubsub.publisher"))
            .filter(|c| c.contains(&format!("serviceAccount:twincloud-{function}@")))
            .collect();
        assert_eq!(publish.len(), 1, "{function}: {publish:#?}");
        assert!(
            publish[0].contains("pubsub topics add-iam-policy-binding ops-alerts"),
            "{function}: on the channel's topic only: {}",
            publish[0]
        );
    }
}
