//! The backup function on Cloud SQL: a fake of the Admin API v1 that checks every request
//! against Google's discovery document (`sqladmin.v1.json`), and fake-gcs-server for the
//! export bucket. Backup runs and exports take a few polls to finish, as they do for real.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use twincloud_backup::Backup;
use twincloud_core::Config;
use twincloud_core::ports::{Database, ObjectStore};
use twincloud_gcp::{CloudSqlDatabase, GcpContext, GcsObjectStore};
use twincloud_runtime::{Clouds, Invoker, Services};
use twincloud_testkit::{ApiCall, DiscoveryFake, emulators};

#[derive(Default)]
struct SqlAdmin {
    runs: Vec<Value>,
    polls: HashMap<String, u32>,
    next: u64,
}

impl SqlAdmin {
    fn op(&mut self, status: &str) -> Value {
        self.next += 1;
        let name = format!("op-{}", self.next);
        self.polls.insert(name.clone(), 0);
        json!({"kind": "sql#operation", "name": name, "status": status})
    }

    fn answer(&mut self, call: &ApiCall) -> (u16, Value) {
        let instance = call
            .path
            .split("/instances/")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap_or_default()
            .to_owned();
        match call.method.as_str() {
            "sql.instances.list" => (
                200,
                json!({"items": [
                    {"name": "ai-chatbot-db", "settings": {"userLabels": {"backup": "daily"}}},
                    {"name": "scratch-db"}
                ]}),
            ),
            "sql.backupRuns.list" => {
                // Each look moves a running backup on: RUNNING, then SUCCESSFUL.
                let items: Vec<Value> = self
                    .runs
                    .iter_mut()
                    .filter(|r| r["instance"] == instance.as_str())
                    .map(|r| {
                        let shown = r.clone();
                        if r["status"] == "RUNNING" {
                            r["status"] = json!("SUCCESSFUL");
                        }
                        shown
                    })
                    .collect();
                (200, json!({"kind": "sql#backupRunsList", "items": items}))
            }
            "sql.backupRuns.insert" => {
                self.next += 1;
                self.runs.push(json!({
                    "kind": "sql#backupRun",
                    "id": (1_000 + self.next).to_string(),
                    "status": "RUNNING",
                    "type": "ON_DEMAND",
                    "instance": instance,
                    "description": call.body["description"],
                    "enqueuedTime": chrono::Utc::now().to_rfc3339(),
                }));
                (200, self.op("PENDING"))
            }
            "sql.backupRuns.delete" => {
                let id = call.path.rsplit('/').next().unwrap_or_default().to_owned();
                self.runs.retain(|r| r["id"] != id.as_str());
                (200, self.op("DONE"))
            }
            "sql.instances.export" => (200, self.op("PENDING")),
            "sql.operations.get" => {
                let name = call.path.rsplit('/').next().unwrap_or_default().to_owned();
                let n = self.polls.entry(name.clone()).or_default();
                *n += 1;
                let status = if *n >= 2 { "DONE" } else { "RUNNING" };
                (
                    200,
                    json!({"kind": "sql#operation", "name": name, "status": status}),
                )
            }
            other => (
                500,
                json!({"error": {"message": format!("unexpected {other}")}}),
            ),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_sql_backup_runs_and_exports_are_made_checked_and_pruned() {
    let admin = Arc::new(Mutex::new(SqlAdmin::default()));
    // An old backup run somebody made by hand, and an automated one: never deleted.
    admin.lock().unwrap().runs.push(json!({
        "id": "1", "status": "SUCCESSFUL", "type": "ON_DEMAND", "instance": "ai-chatbot-db",
        "description": "before the migration", "enqueuedTime": "2026-01-01T00:00:00Z"
    }));
    let a = admin.clone();
    let fake =
        DiscoveryFake::start("sqladmin.v1", move |call| a.lock().unwrap().answer(call)).await;
    let bucket = emulators::new_gcs_bucket("sql-exports").await;
    let gcp = GcpContext::for_emulator(&emulators::gcs_url())
        .unwrap()
        .with_sqladmin(&fake.url());
    let exports = GcsObjectStore::new(&gcp, &bucket, "sql/");
    // An export from 40 days ago, and someone's own dump: only the first is ours to prune.
    let old = (chrono::Utc::now() - chrono::Duration::days(40))
        .format("%Y%m%d-%H%M%S")
        .to_string();
    exports
        .put_bytes(
            &format!("ai-chatbot-db/ai-chatbot-db-{old}.sql.gz"),
            b"old dump",
        )
        .await
        .unwrap();
    exports
        .put_bytes("ai-chatbot-db/manual.sql", b"by hand")
        .await
        .unwrap();

    // Cloud SQL writes the export object when the operation runs: so does this stand-in.
    let writer = {
        let (fake, exports) = (fake.clone(), exports.clone());
        tokio::spawn(async move {
            loop {
                for c in fake.calls() {
                    if c.method == "sql.instances.export" {
                        let uri = c.body["exportContext"]["uri"].as_str().unwrap().to_owned();
                        let key = uri.split("/sql/").nth(1).unwrap().to_owned();
                        if exports.head(&key).await.unwrap().is_none() {
                            exports.put_bytes(&key, b"-- dump --").await.unwrap();
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    let state = tempfile::tempdir().unwrap();
    let text = format!(
        r#"[project]
name = "aion"
state = "{}"

[[notify.channels]]
name = "outbox"
type = "outbox"

[[backup.sets]]
name = "nightly"
engine = "cloudsql"
project = "aion-prod"
tags = {{ backup = "daily" }}
keep_min = 1
export_to = "gs://{bucket}/sql/"
export_databases = ["ai_agent"]
"#,
        state.path().display()
    );
    let services = Services::build_for(
        twincloud_backup::SPEC.wiring,
        Config::parse("t.toml", &text).unwrap(),
        &Clouds::default().and_gcp(gcp.clone()),
    )
    .await
    .unwrap();
    let f = Backup {
        first_poll: Duration::from_millis(50),
        max_wait: Duration::from_secs(20),
    };
    let inv = Invoker::new(Box::new(f), services, false);
    // Cloud SQL answers the first calls with 503 and 429: retried, not failed.
    fake.fail_next([
        (
            503,
            json!({"error": {"code": 503, "message": "backend unavailable"}}),
        ),
        (
            429,
            json!({"error": {"code": 429, "message": "quota exceeded"}}),
        ),
    ]);
    // The schedule follows the clock: retention judges the old export against the run's time.
    let today = chrono::Utc::now();
    let day = today.format("%Y%m%d").to_string();
    let event = json!({
        "twincloud": "schedule", "name": "nightly", "args": {},
        "time": today.format("%Y-%m-%dT03:00:00Z").to_string(), "id": "sql-1"
    });
    let r = inv.handle_json(event.to_string().as_bytes()).await.unwrap();
    let n = r.notes().collect::<Vec<_>>().join("\n");
    writer.abort();
    assert!(fake.rejected().is_empty(), "{:?}", fake.rejected());
    for want in [
        &format!("ai-chatbot-db: snapshot ai-chatbot-db-{day}-030000 started"),
        &format!("ai-chatbot-db: snapshot ai-chatbot-db-{day}-030000 is available"),
        &format!(
            "ai-chatbot-db: export to ai-chatbot-db/ai-chatbot-db-{day}-030000.sql.gz started"
        ),
        &format!("export ai-chatbot-db/ai-chatbot-db-{day}-030000.sql.gz done (10 bytes)"),
        &format!("pruned export ai-chatbot-db/ai-chatbot-db-{old}.sql.gz"),
    ] {
        assert!(n.contains(want), "missing {want:?} in:\n{n}");
    }
    assert!(!n.contains("scratch-db"), "not selected: {n}");
    // The export was asked for after the backup run finished: one operation at a time.
    let methods: Vec<String> = fake.calls().into_iter().map(|c| c.method).collect();
    let insert = methods
        .iter()
        .position(|m| m == "sql.backupRuns.insert")
        .unwrap();
    let export = methods
        .iter()
        .position(|m| m == "sql.instances.export")
        .unwrap();
    assert!(
        methods[insert..export]
            .iter()
            .filter(|m| *m == "sql.backupRuns.list")
            .count()
            >= 2,
        "{methods:?}"
    );
    let body = &fake
        .calls()
        .into_iter()
        .find(|c| c.method == "sql.instances.export")
        .unwrap()
        .body;
    assert_eq!(body["exportContext"]["fileType"], "SQL");
    assert_eq!(body["exportContext"]["databases"], json!(["ai_agent"]));
    assert!(
        exports
            .head("ai-chatbot-db/manual.sql")
            .await
            .unwrap()
            .is_some()
    );

    let sql = CloudSqlDatabase::new(&gcp, "aion-prod");
    let snaps = sql.list_snapshots("ai-chatbot-db").await.unwrap();
    assert_eq!(snaps.len(), 2);
    assert!(!snaps[0].managed && snaps[1].managed);
    assert!(
        sql.delete_snapshot("ai-chatbot-db", &snaps[0].id)
            .await
            .is_err()
    );
    let sent = std::fs::read_to_string(state.path().join("outbox/outbox.jsonl")).unwrap();
    assert!(
        sent.contains("2 made, 1 started, 0 copied, 1 pruned, 0 queued, 0 failed"),
        "{sent}"
    );
}
