//! Inputs tests share: a sample message, event fixtures from `events/`, and the schedule
//! events twincloud's own schedules deliver.

use twincloud_core::{Message, Severity};

/// A warning-level budget message titled `title`.
pub fn message(title: &str) -> Message {
    Message {
        project: "aion".into(),
        title: title.into(),
        severity: Severity::Warning,
        kind: "budget".into(),
        summary: "aion-monthly spent 84% of its budget (€84.17 of €100, naïve forecast ✓).".into(),
        fields: vec![("Spent".into(), "$84.17".into())],
        link: None,
        event_id: "evt-test".into(),
    }
}

/// The bytes of fixture `rel` under `events/`.
pub fn event(rel: &str) -> Vec<u8> {
    let path = super::workspace_root().join("events").join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A schedule event as EventBridge Scheduler and Cloud Scheduler deliver twincloud's input:
/// `{"twincloud": "schedule", "name": ..., "args": ..., "time": ..., "id": ...}`.
pub fn schedule(id: &str, name: &str, time: &str, args: serde_json::Value) -> Vec<u8> {
    serde_json::json!({
        "twincloud": "schedule",
        "name": name,
        "args": args,
        "time": time,
        "id": id,
    })
    .to_string()
    .into_bytes()
}

/// A configuration with the local backend in `dir` (project `aion`) and the given extra TOML
/// (channels, sections).
pub fn config(dir: &std::path::Path, extra: &str) -> twincloud_core::Config {
    let text = format!(
        "[project]\nname = \"aion\"\nstate = \"{}\"\n\n{extra}",
        dir.display()
    );
    twincloud_core::Config::parse("test.toml", &text).unwrap_or_else(|e| panic!("{e}"))
}

/// An outbox channel and a failover pair on the local backend, as TOML: `GCP Cloud Run`
/// (primary, service `backend-gcp`, DNS target `g.example.`) and `AWS Fargate` (service
/// `backend-aws`, `a.example.`), probed on a loopback port nothing listens on.
pub const LOCAL_FAILOVER_PAIR: &str = r#"[[notify.channels]]
name = "outbox"
type = "outbox"

[failover]
record = "api.aion.example."

[[failover.endpoints]]
name = "GCP Cloud Run"
cloud = "gcp"
primary = true
url = "http://127.0.0.1:9"
dns_target = "g.example."
compute = "local"
service = "backend-gcp"

[[failover.endpoints]]
name = "AWS Fargate"
cloud = "aws"
url = "http://127.0.0.1:9"
dns_target = "a.example."
compute = "local"
service = "backend-aws"
"#;

/// A webhook channel posting to `url`, as TOML.
pub fn webhook(name: &str, url: &str) -> String {
    format!("[[notify.channels]]\nname = \"{name}\"\ntype = \"webhook\"\nurl = \"{url}\"\n\n")
}
