use super::*;

const GOOD: &str = r#"
[project]
name = "aion"
state = "s3://aion-twincloud-state/prod"

[notify]
dedupe_window_secs = 3600
rate_limit_per_minute = 10

[[notify.channels]]
name = "oncall"
type = "slack"
webhook_url = "env:SLACK_WEBHOOK_URL"
min_severity = "warning"
kinds = ["alarm", "incident", "budget"]

[[notify.channels]]
name = "audit"
type = "webhook"
url = "https://hooks.example.com/twincloud"
authorization = "aws-sm:twincloud/webhook#token"

[[notify.channels]]
name = "email"
type = "ses"
from = "ops@example.com"
to = ["oncall@example.com"]

[[notify.channels]]
name = "sns"
type = "sns"
topic_arn = "arn:aws:sns:us-east-1:123456789012:aion-alerts"

[[notify.channels]]
name = "bus"
type = "pubsub"
topic = "projects/aion-prod/topics/twincloud-messages"
"#;

#[test]
fn a_full_config_validates() {
    let c = Config::parse("twincloud.toml", GOOD).expect("valid");
    assert_eq!(
        c.project.state,
        Location::S3 {
            bucket: "aion-twincloud-state".into(),
            prefix: "prod".into()
        }
    );
    assert_eq!(c.notify.channels.len(), 5);
    assert_eq!(c.notify.channels[0].min_severity, Severity::Warning);
    assert_eq!(c.secret_refs().len(), 2);
}

#[test]
fn the_example_file_validates() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../twincloud.example.toml");
    let text = std::fs::read_to_string(&path).expect("example exists");
    Config::parse("twincloud.example.toml", &text).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn unknown_keys_are_rejected_with_their_line() {
    let text = "[project]\nname = \"x\"\nstaet = \".twincloud\"\n";
    let e = Config::parse("t.toml", text).expect_err("unknown key");
    let s = e.to_string();
    assert!(s.starts_with("t.toml:3:"), "{s}");
    assert!(s.contains("unknown field `staet`"), "{s}");
}

#[test]
fn literal_secrets_are_rejected_with_the_line_of_their_key() {
    let text = "[project]\nname = \"x\"\n\n[[notify.channels]]\nname = \"s\"\ntype = \"slack\"\nwebhook_url = \"https://hooks.slack.com/services/T/B/X\"\n";
    let e = Config::parse("t.toml", text).expect_err("literal");
    let s = e.to_string();
    assert!(s.starts_with("t.toml:7:"), "{s}");
    assert!(
        s.contains("channel `s` (slack): `webhook_url`: expected a secret reference"),
        "{s}"
    );
    assert!(
        !s.contains("hooks.slack.com"),
        "the literal must not be echoed: {s}"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = r#"
[project]
name = ""
state = "ftp://nope"

[[notify.channels]]
name = "a"
type = "carrier-pigeon"

[[notify.channels]]
name = "b"
type = "sns"
topic_arn = "aion-alerts"
kinds = ["alarm", "weather"]

[[notify.channels]]
name = "b"
type = "ses"
from = "nobody"
"#;
    let e = Config::parse("t.toml", text).expect_err("invalid");
    let s = e.to_string();
    for want in [
        "t.toml:3: project.name must not be empty",
        "t.toml:4: project.state:",
        "t.toml:8: channel `a`: unknown type `carrier-pigeon`",
        "t.toml:14: channel `b` (sns): unknown kind `weather`",
        "t.toml:13: channel `b` (sns): `topic_arn` must be an ARN",
        "t.toml:16: channel `b` (ses): the name is used by another channel",
        "t.toml:16: channel `b` (ses): `to` needs at least one address",
        "t.toml:19: channel `b` (ses): `nobody` is not an email address",
    ] {
        assert!(s.contains(want), "missing {want:?} in:\n{s}");
    }
}

#[test]
fn syntax_errors_name_the_line() {
    let e = Config::parse("t.toml", "[project]\nname = \"x\n").expect_err("syntax");
    assert!(e.to_string().starts_with("t.toml:2:"), "{e}");
    let e = Config::parse("t.toml", "").expect_err("empty");
    assert!(e.to_string().contains("missing field `project`"), "{e}");
}

#[test]
fn the_example_failover_section_validates() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../twincloud.example.toml");
    let c = Config::parse("x", &std::fs::read_to_string(path).expect("example")).expect("valid");
    let f = c.failover.expect("failover section");
    assert_eq!(f.primary().name, "GCP Cloud Run");
    assert_eq!((f.threshold, f.probe_interval_secs), (3, 5));
    assert_eq!(f.endpoints[1].alarms, vec!["aion-backup-health"]);
}

#[test]
fn failover_mistakes_are_reported_with_their_lines() {
    let text = r#"[project]
name = "x"

[failover]
record = "api."
probe_interval_secs = 10
probe_window_secs = 5

[[failover.endpoints]]
name = "a"
cloud = "gcp"
primary = true
url = "ftp://a"
health = ["health"]
dns_target = "a."
compute = "lambda"
service = "a"
active_size = 1
standby_size = 3

[[failover.endpoints]]
name = "b"
cloud = "azure"
url = "http://b"
dns_target = "b."
compute = "local"
service = "b"
"#;
    let e = Config::parse("t.toml", text).expect_err("invalid");
    let s = e.to_string();
    assert!(s.contains("unknown variant `azure`"), "{s}");
    let text = text.replace("cloud = \"azure\"", "cloud = \"aws\"");
    let s = Config::parse("t.toml", &text)
        .expect_err("invalid")
        .to_string();
    for want in [
        "t.toml:13: failover endpoint `a`: `url` must start with http:// or https://",
        "t.toml:14: failover endpoint `a`: health path `health` must start with `/`",
        "t.toml:16: failover endpoint `a`: unknown compute `lambda` (one of: local, ecs, cloudrun, kubernetes)",
        "t.toml:19: failover endpoint `a`: `standby_size` (3) is above `active_size` (1)",
        "failover: `probe_window_secs` (5) must be at least `probe_interval_secs` (10)",
    ] {
        assert!(s.contains(want), "missing {want:?} in:\n{s}");
    }
}

#[test]
fn sync_pairs_expand_tenants_and_find_the_pair_of_an_object() {
    let text = r#"[project]
name = "x"

[[sync.pairs]]
name = "uploads"
source = "s3://aion-{tenant}-uploads/in"
destination = "gs://aion-{tenant}-replica/"
tenants = ["acme", "globex"]
partitions = ["2026/", "2025/"]
delete = true
max_delete_percent = 5

[[sync.pairs]]
name = "site"
source = "./public"
destination = "s3://aion-site/"
"#;
    let c = Config::parse("x.toml", text).expect("valid");
    let s = c.sync.expect("sync section");
    let names: Vec<&str> = s.pairs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["uploads/acme", "uploads/globex", "site"]);
    let acme = &s.pairs[0];
    assert_eq!(acme.source.to_string(), "s3://aion-acme-uploads/in");
    assert_eq!(acme.partitions, ["2025/", "2026/"]);
    assert!(
        acme.deletes.enabled && !acme.delete_on_event,
        "event deletes are off unless set"
    );
    assert_eq!(acme.max_event_deletes_per_hour, 100);
    assert!((acme.deletes.max_fraction - 0.05).abs() < 1e-9);
    assert!(!s.pairs[2].deletes.enabled, "deletes are off by default");
    assert_eq!(s.pairs[2].partitions, [""]);
    let hit = s.pairs_for(true, "aion-globex-uploads", "in/2026/a b+c.pdf");
    assert_eq!(hit.len(), 1);
    assert_eq!(
        (hit[0].0.name.as_str(), hit[0].1.as_str()),
        ("uploads/globex", "2026/a b+c.pdf")
    );
    assert!(s.pairs_for(true, "aion-globex-uploads", "out/x").is_empty());
    assert!(s.pairs_for(false, "aion-globex-uploads", "in/x").is_empty());
}

#[test]
fn sync_mistakes_are_reported_with_their_lines() {
    let text = r#"[project]
name = "x"

[[sync.pairs]]
name = "a"
source = "s3://b-{tenant}/"
destination = "gs://c/"

[[sync.pairs]]
name = "b"
source = "s3://same/"
destination = "s3://same/"
partitions = ["2026/", "2026/01/"]
max_delete_percent = 150

[[sync.pairs]]
name = "nested"
source = "gs://bucket/data/"
destination = "gs://bucket/data/replica/"
"#;
    let e = Config::parse("x.toml", text).unwrap_err().to_string();
    for want in [
        "x.toml:4: sync pair `a`: {tenant} is used but `tenants` is empty",
        "x.toml:9: sync pair `b`: max_delete_percent 150",
        "partitions `2026/` and `2026/01/` overlap",
        "source and destination are the same",
        "source gs://bucket/data/ and destination gs://bucket/data/replica/ overlap",
    ] {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
}

#[test]
fn backup_sets_select_databases_by_name_pattern_or_tags() {
    let text = r#"[project]
name = "x"

[[backup.sets]]
name = "nightly"
engine = "rds"
databases = ["billing"]
patterns = ["aion-*"]
tags = { backup = "daily" }
dr_region = "us-west-2"
dr_kms_key = "arn:aws:kms:us-west-2:111122223333:key/k"

[[backup.sets]]
name = "cloudsql"
engine = "cloudsql"
project = "aion-prod"
databases = ["ai-chatbot-db"]
export_to = "gs://aion-backups/sql/"
export_databases = ["ai_agent"]
"#;
    let c = Config::parse("x.toml", text).expect("valid");
    let b = c.backup.expect("backup section");
    let nightly = &b.sets[0];
    let info = |name: &str, tags: &[(&str, &str)]| crate::ports::DatabaseInfo {
        name: name.into(),
        kind: crate::ports::DatabaseKind::Instance,
        tags: tags
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
    };
    assert!(nightly.selects(&info("billing", &[])));
    assert!(nightly.selects(&info("aion-db", &[])));
    assert!(nightly.selects(&info("other", &[("backup", "daily")])));
    assert!(!nightly.selects(&info("other", &[("backup", "weekly")])));
    assert_eq!(nightly.retention.retain_days, 30);
    match &nightly.engine {
        BackupEngine::Rds { dr: Some(dr), .. } => {
            assert_eq!((dr.region.as_str(), dr.max_in_flight), ("us-west-2", 5));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        &b.sets[1].engine,
        BackupEngine::CloudSql { export: Some(e), .. } if e.retain_days == 30
    ));
    let input = serde_json::json!({"set": "cloudsql"});
    assert_eq!(
        b.set_for("any", Some(&input)).map(|s| s.name.as_str()),
        Some("cloudsql")
    );
    assert_eq!(
        b.set_for("nightly", None).map(|s| s.name.as_str()),
        Some("nightly")
    );
    assert!(
        b.set_for("weekly", None).is_none(),
        "two sets: the name must say which"
    );
}

#[test]
fn backup_mistakes_are_reported_with_their_lines() {
    let text = r#"[project]
name = "x"

[[backup.sets]]
name = "a"
engine = "rds"
export_to = "gs://b/"

[[backup.sets]]
name = "b"
engine = "cloudsql"
databases = ["x"]
export_to = "s3://b/"

[[backup.sets]]
name = "c"
engine = "oracle"
databases = ["x"]
"#;
    let e = Config::parse("x.toml", text).unwrap_err().to_string();
    for want in [
        "x.toml:4: backup set `a`: select databases with `databases`, `patterns` or `tags`",
        "x.toml:7: backup set `a`: `export_to` does not apply to engine `rds`",
        "x.toml:11: backup set `b`: `project` is required for engine `cloudsql`",
        "export_to `s3://b/` must be a gs:// location",
        "x.toml:17: backup set `c`: unknown engine `oracle`",
    ] {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
}

#[test]
fn a_key_of_another_kind_is_an_error_at_its_entry() {
    let text = r#"[project]
name = "x"

[[notify.channels]]
name = "ok"
type = "outbox"

[[notify.channels]]
name = "s"
type = "slack"
webhook_url = "env:SLACK_URL"
topic = "projects/p/topics/t"

[failover]
record = "api.example.com."
[failover.dns]
provider = "route53"
zone_id = "Z1"
api_token = "env:CF_TOKEN"

[[failover.endpoints]]
name = "gcp"
cloud = "gcp"
primary = true
url = "https://gcp.example.com"
dns_target = "gcp.example.com."
compute = "cloudrun"
project = "p"
region = "us-central1"
service = "api"
cluster = "prod"

[[failover.endpoints]]
name = "aws"
cloud = "aws"
url = "https://aws.example.com"
dns_target = "aws.example.com."
compute = "local"
service = "api"
max_size = 4

[[backup.sets]]
name = "local"
engine = "local"
databases = ["db"]
dr_region = "us-west-2"
"#;
    let e = Config::parse("k.toml", text)
        .expect_err("inapplicable keys")
        .to_string();
    for want in [
        "k.toml:12: channel `s` (slack): `topic` does not apply to type `slack`",
        "failover: dns: `api_token` does not apply to dns provider `route53`",
        "k.toml:31: failover endpoint `gcp`: `cluster` does not apply to compute `cloudrun`",
        "k.toml:40: failover endpoint `aws`: `max_size` does not apply to compute `local`",
        "k.toml:46: backup set `local`: `dr_region` does not apply to engine `local`",
    ] {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
    assert!(
        !e.contains("k.toml:4:"),
        "the first, valid channel is not blamed:\n{e}"
    );
}

#[test]
fn numbers_that_could_overflow_time_arithmetic_are_refused() {
    let text = r#"[project]
name = "x"

[notify]
dedupe_window_secs = 9223372036854775807
rate_limit_per_minute = 0

[[backup.sets]]
name = "n"
engine = "local"
databases = ["db"]
retain_days = 4000000000
max_age_hours = 0
"#;
    let e = Config::parse("n.toml", text)
        .expect_err("out of range")
        .to_string();
    for want in [
        "n.toml:5: notify: `dedupe_window_secs` = 9223372036854775807 is out of range",
        "notify: `rate_limit_per_minute` = 0 is out of range (1 to 10000)",
        "n.toml:12: backup set `n`: `retain_days` = 4000000000 is out of range (1 to 3650)",
        "backup set `n`: `max_age_hours` = 0 is out of range",
    ] {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
}

#[test]
fn scaling_mistakes_are_reported() {
    let text = r#"[project]
name = "x"

[[scaling.services]]
name = "api"
compute = "ecs"
cluster = "aion"
service = "api"
min = 0
max = 10
targets = { requests_per_instance = 1000 }
schedules = [{ cron = "0 8 * * MON-FRI", hours = 10, timezone = "Mars/Olympus", min = 4 }]
endpoint = "nowhere"
"#;
    let e = Config::parse("x.toml", text).unwrap_err().to_string();
    for want in [
        "`min` = 0 needs `scale_to_zero = true`",
        "needs `target_group`",
        "is not an IANA time zone",
        "`endpoint` = `nowhere` is not a failover endpoint",
    ] {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
}

#[test]
fn postgres_sets_take_secret_urls_and_destinations() {
    let text = r#"[project]
name = "x"

[[backup.sets]]
name = "neon"
engine = "postgres"
url = "aws-sm:prod/neon#url"
verify_url = "env:SCRATCH_URL"
databases = ["app", "billing"]
to = ["s3://b/pg/", "gs://g/pg/", "/var/backups/pg"]
"#;
    let c = Config::parse("x.toml", text).unwrap();
    let set = &c.backup.as_ref().unwrap().sets[0];
    let crate::config::BackupEngine::Postgres(pg) = &set.engine else {
        panic!("not postgres: {:?}", set.engine)
    };
    assert_eq!(pg.to.len(), 3);
    assert_eq!(pg.tls, crate::config::PgTls::Require, "TLS by default");
    assert_eq!((pg.verify_every_days, pg.max_unverified_days), (7, 14));
    assert_eq!(pg.connect_timeout_secs, 120);
    assert!(
        c.secret_refs().len() >= 2,
        "both URLs are secrets to resolve"
    );

    let bad = r#"[project]
name = "x"

[[backup.sets]]
name = "a"
engine = "postgres"
url = "postgres://app:hunter2@db/app"
patterns = ["app*"]
to = ["s3://b/", "s3://b/"]
tls = "prefer"

[[backup.sets]]
name = "b"
engine = "postgres"
url = "env:DB"
databases = ["my db"]
to = ["ftp://x"]
verify = false
verify_url = "env:S"
"#;
    let e = Config::parse("x.toml", bad).unwrap_err().to_string();
    for want in [
        "x.toml:7: backup set `a`: `url`: expected a secret reference",
        "`patterns` and `tags` do not apply",
        "needs `databases`",
        "`to` lists `s3://b/` twice",
        "`tls` = `prefer`",
        "needs `verify_url`",
        "database `my db`",
        "`verify = false` and `verify_url` contradict",
    ] {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
    assert!(
        !e.contains("hunter2"),
        "a literal URL's password is echoed: {e}"
    );
}

#[test]
fn kubernetes_compute_is_a_gke_cluster_or_a_kubeconfig_context() {
    let text = r#"[project]
name = "x"

[failover]
record = "api.example.com."

[[failover.endpoints]]
name = "GKE"
cloud = "gcp"
primary = true
url = "https://gke.example.com"
dns_target = "gke.example.com."
compute = "kubernetes"
project = "aion-prod"
location = "us-central1"
cluster = "aion-gke"
namespace = "prod"
deployment = "chatbot"

[[failover.endpoints]]
name = "Other"
cloud = "aws"
url = "https://other.example.com"
dns_target = "other.example.com."
compute = "kubernetes"
context = "staging"
deployment = "chatbot"
max_size = 6
"#;
    let c = Config::parse("x.toml", text).unwrap();
    let f = c.failover.unwrap();
    match &f.endpoints[0].compute {
        crate::config::ComputeTarget::Kubernetes {
            cluster: crate::config::KubeCluster::Gke { cluster, .. },
            namespace,
            deployment,
            ..
        } => assert_eq!(
            (cluster.as_str(), namespace.as_str(), deployment.as_str()),
            ("aion-gke", "prod", "chatbot")
        ),
        other => panic!("{other:?}"),
    }
    match &f.endpoints[1].compute {
        crate::config::ComputeTarget::Kubernetes {
            cluster:
                crate::config::KubeCluster::Kubeconfig {
                    path: None,
                    context,
                },
            namespace,
            max_size,
            ..
        } => {
            assert_eq!(context.as_deref(), Some("staging"));
            assert_eq!(namespace, "default");
            assert_eq!(*max_size, Some(6));
        }
        other => panic!("{other:?}"),
    }

    let bad = text
        .replace("namespace = \"prod\"", "namespace = \"Prod_NS\"")
        .replace(
            "context = \"staging\"",
            "context = \"staging\"\nproject = \"p\"",
        );
    let e = Config::parse("x.toml", &bad).unwrap_err().to_string();
    assert!(
        e.contains("`namespace` = `Prod_NS` is not a Kubernetes name"),
        "{e}"
    );
    assert!(e.contains("not both"), "{e}");
    let partial = text.replace("location = \"us-central1\"\n", "");
    let e = Config::parse("x.toml", &partial).unwrap_err().to_string();
    assert!(
        e.contains("`project`, `location` and `cluster` together"),
        "{e}"
    );

    // Load targets need GKE's metrics; requests per instance is not measured on Kubernetes.
    let scaling = r#"[project]
name = "x"

[[scaling.services]]
name = "s"
compute = "kubernetes"
context = "staging"
deployment = "chatbot"
min = 1
max = 5
targets = { cpu = 70 }
"#;
    let e = Config::parse("x.toml", scaling).unwrap_err().to_string();
    assert!(
        e.contains("target `cpu` is not measured on this Kubernetes cluster"),
        "{e}"
    );
}

#[test]
fn a_problem_is_reported_at_the_line_of_the_key_or_value_it_names() {
    let text = r#"[project]
name = "x"

[[scaling.services]]
name = "backend"
compute = "local"
service = "backend"
min = 20
max = 10
cooldown_out_secs = "sixty"

[[budget.guards]]
name = "monthly"
aws_account = "123"
aws_budget = "b"

[[budget.guards.steps]]
at = 0.5
action = "notify"

[[budget.guards.steps]]
at = 1.0
action = "stop"
services = ["nope"]
"#;
    let Err(e) = Config::parse("t.toml", text) else {
        panic!("accepted")
    };
    let e = e.to_string();
    for want in [
        "t.toml:10: scaling service `backend`: invalid type: string \"sixty\"",
        "t.toml:14: budget guard `monthly`: `aws_account` = `123`: twelve digits",
        "t.toml:24: budget guard `monthly`: step 2: `nope` is not a [[scaling.services]] entry",
    ] {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
    // Said once, and no "needs at least one step" when a step was given.
    assert_eq!(e.matches("`nope`").count(), 1, "{e}");
    assert!(!e.contains("needs at least one"), "{e}");
}
