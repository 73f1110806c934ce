//! The backup part of the demo: a nightly schedule snapshots a local database and prunes the
//! snapshot that fell out of the 30-day retention; the same schedule delivered again takes no
//! second snapshot.

use std::path::Path;

use chrono::{Duration, Utc};
use twincloud_core::Config;
use twincloud_functions::backup::Backup;
use twincloud_local::LocalDatabase;
use twincloud_runtime::{Clouds, Invoker, Report, Services};

/// The demo's configuration text for this part.
pub(super) fn text(dir: &Path) -> String {
    format!(
        r#"[project]
name = "aion (demo)"
state = "{}"

[[notify.channels]]
name = "outbox"
type = "outbox"

[[backup.sets]]
name = "nightly"
engine = "local"
patterns = ["aion-*"]
retain_days = 30
keep_min = 3
"#,
        dir.display()
    )
}

pub(super) fn config(dir: &Path) -> Result<Config, String> {
    Config::parse("(demo backup config)", &text(dir)).map_err(|e| e.to_string())
}

/// Runs the backup scenario; appends each step's report to `reports`.
pub async fn run(
    dir: &Path,
    json: bool,
    reports: &mut Vec<(String, Report)>,
) -> Result<(), String> {
    let dbs = LocalDatabase::new(dir);
    let err = |e: twincloud_core::ports::PortError| e.message;
    dbs.create_database(
        "aion-db",
        &[("rds:aion-db-automated", "2026-10-01T03:00:00Z")],
    )
    .await
    .map_err(err)?;
    for days in [40, 10, 2, 1] {
        let at = Utc::now() - Duration::days(days);
        let id = format!("aion-db-{}", at.format("%Y%m%d-030000"));
        dbs.add_managed_snapshot("aion-db", &id, at)
            .await
            .map_err(err)?;
    }
    let services = Services::build(config(dir)?, &Clouds::default())
        .await
        .map_err(|e| e.to_string())?;
    let invoker = Invoker::new(Box::new(Backup::default()), services, false);
    let time = Utc::now().format("%Y-%m-%dT03:00:00Z").to_string();
    let steps = [
        (
            "16. The nightly schedule backs up aion-db: a snapshot named after the schedule's time, and the 40-day-old one pruned (30-day retention; the 3 newest and RDS's own are kept).",
            "demo-backup-1",
        ),
        (
            "17. The scheduler delivers the same run again: the snapshot exists, none is taken twice, no second summary.",
            "demo-backup-1-redelivered",
        ),
    ];
    for (say, id) in steps {
        let event =
            serde_json::json!({"twincloud": "schedule", "name": "nightly", "time": time, "id": id});
        super::tick(&invoker, say, &event, json, reports).await?;
    }
    Ok(())
}
