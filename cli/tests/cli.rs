//! The `twincloud` binary as a user runs it: exit codes, output formats, the demo, and the
//! notifier end to end with a Slack secret from the environment.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use twincloud_testkit::{CaptureServer, workspace_root};

fn twincloud(dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_twincloud"));
    c.current_dir(dir).env_remove("TWINCLOUD_CONFIG");
    c
}

/// Runs a command without blocking the test's runtime (the capture servers live on it).
async fn output(c: &mut Command) -> std::process::Output {
    let c = std::mem::replace(c, Command::new("true"));
    tokio::process::Command::from(c).output().await.unwrap()
}

fn event(rel: &str) -> String {
    workspace_root()
        .join("events")
        .join(rel)
        .display()
        .to_string()
}

#[test]
fn events_lists_every_shape() {
    let dir = tempfile::tempdir().unwrap();
    let out = twincloud(dir.path())
        .args(["events", "--output", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v.as_array().unwrap().len(),
        twincloud_core::Shape::ALL.len()
    );
}

#[test]
fn validate_reports_lines_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let ok = twincloud(dir.path())
        .args([
            "validate",
            &workspace_root()
                .join("twincloud.example.toml")
                .display()
                .to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(out.contains("valid"));
    // What it found of each section, one line per item.
    for line in [
        "failover api.aion.example.: GCP Cloud Run (local aion-backend, primary)",
        "sync     static-site: gs://aion-static/ -> s3://aion-static-backup/",
        "backup   nightly (rds)",
    ] {
        assert!(out.contains(line), "{line}:\n{out}");
    }
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[project]\nname = \"x\"\n\n[notify]\nrate_limit = 3\n",
    )
    .unwrap();
    let out = twincloud(dir.path())
        .args(["validate", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml:5:") && err.contains("unknown field `rate_limit`"),
        "{err}"
    );
}

#[test]
fn invoke_on_bad_input_exits_2_and_names_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let out = twincloud(dir.path())
        .args([
            "invoke",
            "notifier",
            "--event",
            &event("malformed/ecr-repository-not-string.json"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("aws.eventbridge.ecr-image-action: field `detail.repository-name`"),
        "{err}"
    );
    let out = twincloud(dir.path())
        .args([
            "invoke",
            "nobody",
            "--event",
            &event("aws/ecr-image-push.json"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = twincloud(dir.path())
        .args(["invoke", "notifier", "--event", "/does/not/exist.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn invoke_json_output_and_dry_run_on_the_local_backend() {
    let dir = tempfile::tempdir().unwrap();
    let out = twincloud(dir.path())
        .args([
            "invoke",
            "notifier",
            "--event",
            &event("aws/sns-budget-actual.json"),
            "--dry-run",
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["dry_run"], true);
    assert_eq!(
        v["results"][0]["execution"]["actions"][0]["outcome"]["status"],
        "would_run"
    );
    assert!(
        !dir.path().join(".twincloud").exists(),
        "a dry run writes nothing"
    );
    let out = twincloud(dir.path())
        .args([
            "invoke",
            "notifier",
            "--event",
            &event("aws/sns-budget-actual.json"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let outbox =
        std::fs::read_to_string(dir.path().join(".twincloud/outbox/outbox.jsonl")).unwrap();
    assert!(outbox.contains("Budget aion-monthly: $84.17 of $100.00 (84%)"));
}

#[tokio::test]
async fn invoke_posts_to_slack_with_the_url_from_the_environment() {
    let slack = CaptureServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("twincloud.toml");
    std::fs::write(
        &cfg,
        "[project]\nname = \"aion\"\n\n[[notify.channels]]\nname = \"oncall\"\ntype = \"slack\"\nwebhook_url = \"env:SLACK_WEBHOOK_URL\"\nmin_severity = \"warning\"\n",
    )
    .unwrap();
    let url = format!("{}/services/T000/B000/XXXX", slack.url());
    let d = dir.path().to_owned();
    let alarm = event("aws/eventbridge-alarm-state-change.json");
    let out = output(
        twincloud(&d)
            .env("TWINCLOUD_CONFIG", &cfg)
            .env("SLACK_WEBHOOK_URL", &url)
            .args(["invoke", "notifier", "--event", &alarm]),
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reqs = slack.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].uri, "/services/T000/B000/XXXX");
    let body = reqs[0].json();
    assert!(
        body["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("Alarm aion-backup-cpu-high is in ALARM")
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains("XXXX") && !String::from_utf8_lossy(&out.stderr).contains("XXXX"),
        "the webhook URL is a secret"
    );

    // Without the variable: a configuration error naming the reference, exit 2.
    let d = dir.path().to_owned();
    let cfg = dir.path().join("twincloud.toml");
    let alarm = event("aws/eventbridge-alarm-state-change.json");
    let out = output(
        twincloud(&d)
            .env("TWINCLOUD_CONFIG", &cfg)
            .env_remove("SLACK_WEBHOOK_URL")
            .args(["invoke", "notifier", "--event", &alarm]),
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("env:SLACK_WEBHOOK_URL"));
}

#[tokio::test]
async fn demo_runs_on_the_local_backend() {
    let dir = tempfile::tempdir().unwrap();
    let out = twincloud(dir.path())
        .args(["demo", "--output", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["steps"].as_array().unwrap().len(), 26);
    // 3 notifier messages, the failover and failback reports, one backup summary (the
    // redelivered schedule sends none), the scale-out and scale-in notices, the budget guard's
    // stop and its restore (the unconfirmed alert sends nothing), and the readiness audit's
    // drift and its end (the first, all-ready audit sends nothing).
    assert_eq!(v["messages_sent"], 12);

    // The demo's operations page, written from the records the functions left, in a browser.
    let html = std::fs::read_to_string(dir.path().join(v["page"].as_str().unwrap())).unwrap();
    let page = twincloud_testkit::browser::render("demo", &html).await;
    assert_eq!(
        page["sections"],
        serde_json::json!([
            "traffic",
            "readiness",
            "backups",
            "sync",
            "budgets",
            "scaling"
        ]),
        "{page}"
    );
    assert_eq!(page["active"], "GCP Cloud Run", "failed back at the end");
    let sides = page["sides"].as_array().unwrap();
    assert_eq!(sides.len(), 2);
    assert_eq!(sides[0]["active"], true);
    assert_eq!(sides[1]["active"], false);
    for s in sides {
        assert_eq!(s["slots"], 96, "a day of quarter hours: {s}");
    }
    // The primary was killed and came back: its strip shows failed rounds; the standby's none.
    let bad = |s: &serde_json::Value| {
        s["failed_slots"].as_u64().unwrap() + s["mixed_slots"].as_u64().unwrap()
    };
    assert!(bad(&sides[0]) >= 1, "{page}");
    assert_eq!(bad(&sides[1]), 0, "{page}");
    let switches = page["switches"].as_array().unwrap();
    assert_eq!(switches.len(), 2, "{page}");
    assert!(
        switches[0]
            .as_str()
            .unwrap()
            .starts_with("failback\tAWS Fargate → GCP Cloud Run"),
        "newest first: {page}"
    );
    assert!(page["stale"].as_array().unwrap().is_empty(), "{page}");
    assert_eq!(page["fresh_backups"].as_array().unwrap().len(), 1, "{page}");
    let body = page["body"].as_str().unwrap();
    assert!(body.contains("2 → 4") && body.contains("4 → 2"), "{body}");

    // The same records as text, through `twincloud status` on the configuration the demo wrote.
    let cfg = dir.path().join(".twincloud-demo/twincloud.toml");
    let text = twincloud(dir.path())
        .args(["status", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&text.stdout);
    assert!(text.status.success(), "{out}");
    for want in [
        "record api.aion.example. → active: GCP Cloud Run",
        "Failback AWS Fargate → GCP Cloud Run",
        "backup nightly: 1 database(s)",
        "sync uploads/all: last complete pass",
        "budget aion-monthly: 2.00 spent",
        "scaling aion-api: 2 change(s) in 24 h",
        "readiness: all 4 finding(s) ready",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    // `validate` on it names every scaling service and budget guard it found.
    let valid = twincloud(dir.path())
        .args(["validate", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&valid.stdout);
    for want in [
        "scaling  aion-api (local aion-api): 2 to 10 instances",
        "budget   aion-monthly: 1 step(s) on AWS budget aion-monthly",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    // And as a file to share: the same page the demo wrote.
    let file = dir.path().join("shared/status.html");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let out = twincloud(dir.path())
        .args(["status", "--config", cfg.to_str().unwrap(), "--html"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shared = std::fs::read_to_string(&file).unwrap();
    assert!(
        shared.contains("<strong data-test=\"active-side\">GCP Cloud Run</strong>"),
        "{shared}"
    );
    assert!(!file.with_extension("html.partial").exists());
}

#[tokio::test]
async fn configuration_loads_from_s3_and_gcs_urls() {
    let text = "[project]\nname = \"from-a-bucket\"\n\n[notify]\nrate_limit_per_minute = 5\n";
    let c = reqwest::Client::new();
    // S3 on moto (path-style; moto accepts unsigned setup requests).
    let moto = twincloud_testkit::emulators::moto_url();
    let bucket = twincloud_testkit::unique("config");
    assert!(
        c.put(format!("{moto}/{bucket}"))
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    assert!(
        c.put(format!("{moto}/{bucket}/prod/twincloud.toml"))
            .body(text)
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    // GCS on fake-gcs-server.
    let gcs = twincloud_testkit::emulators::gcs_url();
    let gbucket = twincloud_testkit::unique("config");
    assert!(
        c.post(format!("{gcs}/storage/v1/b?project=test"))
            .json(&serde_json::json!({"name": gbucket}))
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let up = c
        .post(format!(
            "{gcs}/upload/storage/v1/b/{gbucket}/o?uploadType=media&name=prod%2Ftwincloud.toml"
        ))
        .body(text)
        .send()
        .await
        .unwrap();
    assert!(up.status().is_success());

    let dir = tempfile::tempdir().unwrap();
    for url in [
        format!("s3://{bucket}/prod/twincloud.toml"),
        format!("gs://{gbucket}/prod/twincloud.toml"),
    ] {
        let (d, moto, gcs) = (dir.path().to_owned(), moto.clone(), gcs.clone());
        let out = output(
            twincloud(&d)
                .env("AWS_ENDPOINT_URL", &moto)
                .env("AWS_ACCESS_KEY_ID", "testing")
                .env("AWS_SECRET_ACCESS_KEY", "testing")
                .env("AWS_REGION", "us-east-1")
                .env("STORAGE_EMULATOR_HOST", &gcs)
                .env("TWINCLOUD_GCP_AUTH", "none")
                .args(["validate", &url, "--output", "json"]),
        )
        .await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["project"], "from-a-bucket");
    }
}

/// Writes `dir/twincloud.toml`: the example's failover section (its channels need secrets) on
/// local state, each `(from, to)` replaced in it. Probes go to loopback only: nothing listens on
/// port 9, so both sides fail.
fn loopback_failover(dir: &std::path::Path, edits: &[(&str, &str)]) -> std::path::PathBuf {
    let example = std::fs::read_to_string(workspace_root().join("twincloud.example.toml")).unwrap();
    let mut failover = example[example.find("[failover]").unwrap()..]
        .replace("https://aion-xyz-uc.a.run.app", "http://127.0.0.1:9")
        .replace(
            "https://aion-alb-123.us-east-1.elb.amazonaws.com",
            "http://127.0.0.1:9",
        );
    for (from, to) in edits {
        assert!(failover.contains(from), "the example has no `{from}`");
        failover = failover.replace(from, to);
    }
    assert!(
        !failover
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .any(|l| l.contains("https://")),
        "no probe may leave the machine"
    );
    let cfg = dir.join("twincloud.toml");
    std::fs::write(
        &cfg,
        format!(
            "[project]\nname = \"aion\"\nstate = \"{}\"\n\n{failover}",
            dir.join("state").display()
        ),
    )
    .unwrap();
    cfg
}

#[test]
fn status_and_failback_on_a_failover_config() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = loopback_failover(dir.path(), &[]);
    let out = twincloud(dir.path())
        .args([
            "status",
            "--config",
            cfg.to_str().unwrap(),
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["activeEndpoint"], "GCP Cloud Run");
    assert_eq!(v["endpoints"].as_array().unwrap().len(), 2);
    let text = twincloud(dir.path())
        .args(["status", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&text.stdout)
            .contains("record api.aion.example. → active: GCP Cloud Run")
    );
    // Failback while the primary is active changes nothing (the probes fail: nothing listens).
    let out = twincloud(dir.path())
        .args(["failback", "--config", cfg.to_str().unwrap(), "--dry-run"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("already on the primary"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Without a [failover] section: a clear configuration error.
    let out = twincloud(dir.path()).args(["status"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no [failover] section"));
}

#[test]
fn sync_between_directories_with_a_dry_run_first() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("uploads"), dir.path().join("mirror"));
    std::fs::create_dir_all(src.join("tenants/acme")).unwrap();
    std::fs::write(src.join("tenants/acme/avatar.png"), b"png").unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["sync", src.to_str().unwrap(), dst.to_str().unwrap()];
        args.extend_from_slice(extra);
        twincloud(dir.path()).args(&args).output().unwrap()
    };
    let out = run(&["--dry-run"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("would copy 1 object(s) (3 B)"));
    assert!(!dst.exists());
    let out = run(&["--output", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["copied"].as_u64(), v["bytes"].as_u64()),
        (Some(1), Some(3))
    );
    assert_eq!(
        std::fs::read(dst.join("tenants/acme/avatar.png")).unwrap(),
        b"png"
    );
    let out = twincloud(dir.path())
        .args(["sync", "ftp://nope", dst.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_and_rollback_on_the_local_backend_with_real_registries() {
    use twincloud_testkit::registry::{Registry, noise};
    let dir = tempfile::tempdir().unwrap();
    let a = Registry::start("ci", "pw-a").await;
    let b = Registry::start("ci", "pw-b").await;
    let health = CaptureServer::start().await;
    let d = a.push_image("app", "v1", &[noise(8192, 5)], "amd64").await;
    let releases = twincloud_local::LocalDeployer::new(dir.path());
    for svc in ["app-a", "app-b"] {
        releases
            .create_service(svc, &format!("{svc}-00001"), "old@sha256:0")
            .await
            .unwrap();
    }
    let config = format!(
        r#"[project]
name = "local"
state = "{state}"

[[deploy.targets]]
name = "app"
tags = ["v*"]
order = "listed"
bake_secs = 0

[[deploy.targets.sides]]
image = "{a}/app"
registry_auth = "basic:env:REG_A"
compute = "local"
service = "app-a"
health = ["{h}/a"]
step_pause_secs = 0

[[deploy.targets.sides]]
image = "{b}/app"
registry_auth = "basic:env:REG_B"
compute = "local"
service = "app-b"
health = ["{h}/b"]
step_pause_secs = 0
"#,
        state = dir.path().display(),
        a = a.host,
        b = b.host,
        h = health.url()
    );
    let cfg = dir.path().join("twincloud.toml");
    std::fs::write(&cfg, config).unwrap();
    let run = |args: Vec<String>| {
        let mut c = twincloud(dir.path());
        c.args(args)
            .arg("--config")
            .arg(&cfg)
            .env("REG_A", "ci:pw-a")
            .env("REG_B", "ci:pw-b");
        c
    };
    let image = format!("{}/app@{d}", a.host);
    // By tag: refused before anything runs.
    let out = output(&mut run(vec![
        "deploy".into(),
        "--image".into(),
        format!("{}/app:v1", a.host),
    ]))
    .await;
    assert_eq!(out.status.code(), Some(2));
    // A dry run says what would change and changes nothing.
    let out = output(&mut run(vec![
        "deploy".into(),
        "--image".into(),
        image.clone(),
        "--dry-run".into(),
    ]))
    .await;
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}");
    assert!(text.contains("would mirror"), "{text}");
    assert!(
        text.contains("would make a revision from app-b-00001 with image old@sha256:0"),
        "{text}"
    );
    // The dry run went through the real path on a rehearsal of the state: nothing is queued,
    // no lease is held, no journal entry is left.
    assert!(
        !dir.path().join("state/journal").exists() && !dir.path().join("state/deploy").exists(),
        "a dry run wrote state"
    );
    assert_eq!(
        releases.serving_image("app-b").await.unwrap(),
        "old@sha256:0"
    );
    // For real: mirrored to the second registry, both services on the digest.
    let out = output(&mut run(vec![
        "deploy".into(),
        "--image".into(),
        image.clone(),
    ]))
    .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(releases.serving_image("app-a").await.unwrap(), image);
    assert_eq!(
        releases.serving_image("app-b").await.unwrap(),
        format!("{}/app@{d}", b.host)
    );
    assert_eq!(b.manifest("app", &d).await.unwrap().1, d);
    // A dry run of the schedule's tick steps nothing.
    let out = output(&mut run(vec![
        "invoke".into(),
        "deploy".into(),
        "--event".into(),
        event("aws/eventbridge-scheduled-event.json"),
        "--dry-run".into(),
    ]))
    .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(!text.contains("would run"), "nothing is in flight: {text}");
    // And back.
    let out = output(&mut run(vec!["rollback".into(), "app".into()])).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        releases.serving_image("app-a").await.unwrap(),
        "old@sha256:0"
    );
    assert_eq!(
        releases.serving_image("app-b").await.unwrap(),
        "old@sha256:0"
    );
}

/// A process with no CA certificates (an image without `ca-certificates`, or `SSL_CERT_FILE`
/// pointing at nothing) cannot make HTTPS calls: every command that needs them says so, with
/// the fix, and exits 2; none panics; the failover probes read unhealthy with that reason and
/// traffic stays where it is.
#[test]
fn without_ca_certificates_commands_say_what_to_fix_and_nothing_switches() {
    let dir = tempfile::tempdir().unwrap();
    let no_certs = || {
        let mut c = twincloud(dir.path());
        c.env("SSL_CERT_FILE", dir.path().join("missing.pem"))
            .env("SSL_CERT_DIR", dir.path().join("missing"));
        c
    };
    let says_what_to_fix = |out: &std::process::Output| {
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("cannot set up HTTPS")
                && err.contains("No CA certificates")
                && err.contains("SSL_CERT_FILE"),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    };

    // A Slack channel (the webhook client), even to a plain-HTTP URL.
    let slack = dir.path().join("slack.toml");
    std::fs::write(
        &slack,
        "[project]\nname = \"aion\"\n\n[[notify.channels]]\nname = \"oncall\"\ntype = \"slack\"\nwebhook_url = \"env:SLACK_WEBHOOK_URL\"\n",
    )
    .unwrap();
    let mut c = no_certs();
    c.env("TWINCLOUD_CONFIG", &slack)
        .env("SLACK_WEBHOOK_URL", "http://127.0.0.1:9/services/T/B/X")
        .args([
            "invoke",
            "notifier",
            "--event",
            &event("aws/eventbridge-alarm-state-change.json"),
        ]);
    says_what_to_fix(&c.output().unwrap());

    // State on GCS (the Google APIs' client), and a sync to a bucket.
    let gcs = dir.path().join("gcs.toml");
    std::fs::write(
        &gcs,
        "[project]\nname = \"aion\"\nstate = \"gs://aion-state/twincloud\"\n",
    )
    .unwrap();
    let mut c = no_certs();
    c.args(["status", "--config", gcs.to_str().unwrap()]);
    says_what_to_fix(&c.output().unwrap());
    let mut c = no_certs();
    c.args(["sync", dir.path().to_str().unwrap(), "gs://aion-copy/x"]);
    says_what_to_fix(&c.output().unwrap());

    // Failover: one probe round; both sides unhealthy for that reason, no switch.
    let failover = loopback_failover(
        dir.path(),
        &[
            ("probe_interval_secs = 5", "probe_interval_secs = 1"),
            ("probe_window_secs = 55", "probe_window_secs = 1"),
            ("threshold = 3", "threshold = 1"),
        ],
    );
    let mut c = no_certs();
    c.args([
        "--output",
        "json",
        "invoke",
        "failover",
        "--config",
        failover.to_str().unwrap(),
        "--event",
        &event("aws/eventbridge-scheduled-event.json"),
    ]);
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let execution = &v["results"][0]["execution"];
    assert_eq!(execution["actions"], serde_json::json!([]), "{v:#}");
    let notes = execution["plan"]["notes"].to_string();
    assert!(
        notes.contains("cannot set up HTTPS") && notes.contains("no other side is healthy"),
        "{notes}"
    );
    let mut c = twincloud(dir.path());
    c.args([
        "status",
        "--config",
        failover.to_str().unwrap(),
        "--output",
        "json",
    ]);
    let status: serde_json::Value = serde_json::from_slice(&c.output().unwrap().stdout).unwrap();
    assert_eq!(status["activeEndpoint"], "GCP Cloud Run");
}

/// Output to a reader that has gone (`twincloud events | head -1`, a pager quit early) is
/// dropped: the command still finishes and exits with its own code, without a panic.
#[test]
fn a_closed_standard_output_is_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        twincloud(dir.path())
            .args(args)
            .stdout(writer)
            .output()
            .unwrap()
    };
    for args in [&["events"][..], &["functions"], &["demo", "--dir", "demo"]] {
        let out = run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    // The demo did all its work: its page is written.
    assert!(dir.path().join("demo/status.html").is_file());
    // A failing command keeps its exit code.
    let out = run(&["invoke", "notifier", "--event", "missing.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}

/// A bucket that does not exist is bad configuration, named, exit 2: not "1 object failed",
/// and not a transient failure retried for ever (on moto and fake-gcs-server).
#[tokio::test]
async fn a_bucket_that_does_not_exist_is_named_and_exits_2() {
    let moto = twincloud_testkit::emulators::moto_url();
    let gcs = twincloud_testkit::emulators::gcs_url();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a.txt"), b"hi").unwrap();
    let missing_s3 = format!("s3://{}/p", twincloud_testkit::unique("missing"));
    let missing_gcs = format!("gs://{}/p", twincloud_testkit::unique("missing"));
    let cfg = dir.path().join("twincloud.toml");
    std::fs::write(
        &cfg,
        format!(
            "[project]\nname = \"x\"\nstate = \"{}\"\n\n[[sync.pairs]]\nname = \"p\"\nsource = \"{missing_s3}\"\ndestination = \"{}\"\n",
            dir.path().join("state").display(),
            dir.path().join("dst").display()
        ),
    )
    .unwrap();
    let env = |c: &mut Command| {
        c.env("AWS_ENDPOINT_URL", &moto)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("STORAGE_EMULATOR_HOST", &gcs)
            .env("TWINCLOUD_GCP_AUTH", "none");
    };
    let runs: Vec<Vec<String>> = vec![
        vec!["sync".into(), src.display().to_string(), missing_s3.clone()],
        vec![
            "sync".into(),
            missing_gcs.clone(),
            src.display().to_string(),
        ],
        vec![
            "invoke".into(),
            "bucket-sync".into(),
            "--config".into(),
            cfg.display().to_string(),
            "--event".into(),
            event("aws/eventbridge-scheduled-event.json"),
        ],
    ];
    for args in runs {
        let mut c = twincloud(dir.path());
        env(&mut c);
        let out = output(c.args(&args)).await;
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("does not exist") || err.contains("NoSuchBucket") || err.contains("404"),
            "{args:?} names the bucket's absence: {err}"
        );
        assert!(!err.contains("will be retried"), "{err}");
    }
}

/// Ctrl-C stops a command where it is and gives back its lease: the next deploy does not wait
/// out a lease held by a run that is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_gives_the_deploy_lease_back() {
    use twincloud_testkit::registry::{Registry, noise};
    let dir = tempfile::tempdir().unwrap();
    let a = Registry::start("ci", "pw-a").await;
    let health = CaptureServer::start().await;
    let d = a.push_image("app", "v1", &[noise(4096, 7)], "amd64").await;
    twincloud_local::LocalDeployer::new(dir.path())
        .create_service("app-a", "app-a-00001", "old@sha256:0")
        .await
        .unwrap();
    // Two traffic steps 15 s apart: the command sits through the pause.
    let config = format!(
        r#"[project]
name = "local"
state = "{state}"

[[deploy.targets]]
name = "app"
tags = ["v*"]
order = "listed"
bake_secs = 0

[[deploy.targets.sides]]
image = "{a}/app"
registry_auth = "basic:env:REG_A"
compute = "local"
service = "app-a"
health = ["{h}/a"]
steps = [50, 100]
step_pause_secs = 15
"#,
        state = dir.path().display(),
        a = a.host,
        h = health.url()
    );
    let cfg = dir.path().join("twincloud.toml");
    std::fs::write(&cfg, config).unwrap();
    let mut c = tokio::process::Command::from(twincloud(dir.path()));
    c.args(["deploy", "--image", &format!("{}/app@{d}", a.host)])
        .arg("--config")
        .arg(&cfg)
        .env("REG_A", "ci:pw-a")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    let record = dir.path().join("state/deploy/app/rollout");
    let holder = || {
        // The local store's file: a generation line, then the record.
        std::fs::read_to_string(&record)
            .ok()
            .and_then(|t| t.split_once('\n').map(|(_, json)| json.to_owned()))
            .and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok())
            .map(|v| v["lease_holder"].clone())
    };
    // Wait until the rollout holds its lease and sits in the pause.
    let start = std::time::Instant::now();
    while !holder().is_some_and(|h| h.is_string()) {
        if start.elapsed().as_secs() > 20 || child.try_wait().unwrap().is_some() {
            let _ = child.start_kill();
            let out = child.wait_with_output().await.unwrap();
            let files: Vec<String> = walk(&dir.path().join("state"));
            panic!(
                "the rollout never took its lease: {files:?} {:?} {}{}",
                std::fs::read_to_string(&record),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let pid = i32::try_from(child.id().unwrap()).unwrap();
    std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().await.unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("lease(s) given back"), "{err}");
    assert_eq!(
        holder(),
        Some(serde_json::Value::Null),
        "the lease is given back"
    );
}

fn walk(p: &std::path::Path) -> Vec<String> {
    let mut out = vec![];
    for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path().display().to_string());
        }
    }
    out
}

#[test]
fn a_malformed_or_unknown_image_exits_2_and_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("twincloud.toml");
    std::fs::write(
        &cfg,
        format!(
            "[project]\nname = \"local\"\nstate = \"{}\"\n\n[[deploy.targets]]\nname = \"app\"\ntags = [\"v*\"]\n\n\
             [[deploy.targets.sides]]\nimage = \"registry.example/app\"\ncompute = \"local\"\nservice = \"app-a\"\nhealth = [\"http://127.0.0.1:9/\"]\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let d = format!("sha256:{}", "a".repeat(64));
    for (image, says) in [
        (format!("@{d}"), "no repository"),
        (format!("registry.example/App@{d}"), "no repository name"),
        (format!("https://registry.example/app@{d}"), "no scheme"),
        (format!("registry.example//app@{d}"), "separated by one `/`"),
        (
            format!("registry.example/other@{d}"),
            "registry.example/other is no deploy target's image repository",
        ),
    ] {
        for dry in [false, true] {
            let mut c = twincloud(dir.path());
            c.args([
                "deploy",
                "--image",
                &image,
                "--config",
                cfg.to_str().unwrap(),
            ]);
            if dry {
                c.arg("--dry-run");
            }
            let out = c.output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{image} (dry run {dry}): {err}");
            assert!(err.contains(says), "{image} (dry run {dry}): {err}");
        }
    }
}
