//! The readiness audit on the local backend: every kind of drift it reads here (a different
//! digest on a side, a secret on one side only, a standby whose maximum is below the active size, a budget hold, a TTL of
//! 3600 s, a stale backup, a silent failover function) is flagged in one run with exactly one
//! message, stays quiet while it stands, and clears with one message once fixed.
#![allow(clippy::unwrap_used)]

#[path = "../../../tests/support/common.rs"]
mod common;

use chrono::{Duration, Utc};
use common::{config, invoker};
use twincloud_core::ports::{Precondition, StateStore};
use twincloud_local::{LocalCompute, LocalDeployer, LocalStateStore};
use twincloud_runtime::Invoker;

const TOML: &str = r#"
[readiness]
vantages = ["local"]

[[deploy.targets]]
name = "app"
tags = ["v*"]
order = "listed"

[[deploy.targets.sides]]
image = "r.example/app"
compute = "local"
service = "app-gcp"
health = ["http://127.0.0.1:9/"]

[[deploy.targets.sides]]
image = "r.example/app"
compute = "local"
service = "app-aws"
health = ["http://127.0.0.1:9/"]

[[backup.sets]]
name = "nightly"
engine = "local"
databases = ["db"]
max_age_hours = 26
"#;

fn digest(c: char) -> String {
    format!("r.example/app@sha256:{}", c.to_string().repeat(64))
}

struct World {
    dir: tempfile::TempDir,
    inv: Invoker,
}

impl World {
    async fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let toml = format!("{}{TOML}", twincloud_testkit::fixtures::LOCAL_FAILOVER_PAIR);
        let inv = invoker(&twincloud_readiness::SPEC, config(dir.path(), &toml), false).await;
        let w = World { dir, inv };
        w.healthy().await;
        w
    }

    fn store(&self) -> LocalStateStore {
        LocalStateStore::new(self.dir.path())
    }

    async fn put(&self, key: &str, value: serde_json::Value) {
        self.store()
            .put(key, value.to_string().as_bytes(), &Precondition::None)
            .await
            .unwrap();
    }

    fn dns(&self, ttl: u32) {
        let path = self.dir.path().join("sim/dns");
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(
            path.join("api.aion.example..json"),
            serde_json::json!({"target": "g.example.", "ttl": ttl}).to_string(),
        )
        .unwrap();
    }

    /// Everything as it should be.
    async fn healthy(&self) {
        let compute = LocalCompute::new(self.dir.path());
        compute
            .create_service("backend-gcp", 2, Some(10))
            .await
            .unwrap();
        compute
            .create_service("backend-aws", 1, Some(10))
            .await
            .unwrap();
        let releases = LocalDeployer::new(self.dir.path());
        for svc in ["app-gcp", "app-aws"] {
            releases
                .create_service(svc, &format!("{svc}-1"), &digest('a'))
                .await
                .unwrap();
            releases
                .set_env(svc, &["DATABASE_URL", "STRIPE_KEY"])
                .await
                .unwrap();
        }
        self.dns(60);
        let now = Utc::now();
        self.put(
            "failover/vantage/local",
            serde_json::json!({"vantage": "local", "at": now, "endpoints": {}}),
        )
        .await;
        self.put(
            "backup/nightly",
            serde_json::json!({"newest": {"db": [{"place": "primary", "id": "db-1", "at": now - Duration::hours(2)}]}}),
        )
        .await;
        self.store()
            .delete("holds/standby", &Precondition::None)
            .await
            .unwrap();
    }

    /// Every drift at once.
    async fn drifted(&self) {
        let compute = LocalCompute::new(self.dir.path());
        compute
            .create_service("backend-gcp", 4, Some(10))
            .await
            .unwrap();
        compute
            .create_service("backend-aws", 1, Some(3))
            .await
            .unwrap();
        let releases = LocalDeployer::new(self.dir.path());
        releases
            .create_service("app-aws", "app-aws-2", &digest('b'))
            .await
            .unwrap();
        // A secret the standby's revision does not have.
        releases
            .set_env("app-aws", &["DATABASE_URL"])
            .await
            .unwrap();
        self.dns(3600);
        let now = Utc::now();
        self.put(
            "failover/vantage/local",
            serde_json::json!({"vantage": "local", "at": now - Duration::minutes(30), "endpoints": {}}),
        )
        .await;
        self.put(
            "backup/nightly",
            serde_json::json!({"newest": {"db": [{"place": "primary", "id": "db-1", "at": now - Duration::hours(30)}]}}),
        )
        .await;
        self.put(
            "holds/standby",
            serde_json::json!({"max": 0, "kind": "standby_to_zero", "set_by": "budget guard `monthly`", "until": "the budget period moves on", "while_standby": true}),
        )
        .await;
    }

    async fn tick(&self, id: &str) -> String {
        let ev = serde_json::json!({"twincloud": "schedule", "name": "readiness", "id": id});
        self.inv
            .handle_json(ev.to_string().as_bytes())
            .await
            .unwrap()
            .notes_text()
    }

    fn messages(&self) -> Vec<serde_json::Value> {
        twincloud_testkit::fs::outbox(self.dir.path())
    }
}

#[tokio::test]
async fn each_drift_is_flagged_once_and_clears_once() {
    let w = World::new().await;
    let notes = w.tick("t1").await;
    assert!(!notes.contains("not ready"), "{notes}");
    assert!(w.messages().is_empty(), "all ready: nothing to say");

    w.drifted().await;
    let notes = w.tick("t2").await;
    let messages = w.messages();
    assert_eq!(
        messages.len(),
        1,
        "one message for every change: {messages:#?}"
    );
    let m = &messages[0];
    assert_eq!(m["title"], "Readiness: 7 not ready", "{m}");
    let summary = m["summary"].as_str().unwrap();
    for want in [
        "same code: deploy app: not ready: local app-gcp serves sha256:aaaaaaaaaaaa, local app-aws serves sha256:bbbbbbbbbbbb",
        "config parity: deploy app: not ready: local app-aws lacks STRIPE_KEY that another side has",
        "capacity: AWS Fargate: not ready: AWS Fargate can reach at most 3 instance(s); GCP Cloud Run runs 4 now",
        "budget hold: AWS Fargate: not ready: the standby is standby held at 0 by budget guard `monthly`",
        "twincloud budget restore monthly",
        "routing: api.aion.example.: not ready: the record's TTL is 3600 s",
        "backup: backup nightly: not ready: the newest backup of db is 30 h old (bound 26 h)",
        "heartbeat: failover on local: not ready: its failover function last probed",
    ] {
        assert!(
            summary.contains(want),
            "missing {want:?} in:\n{summary}\n{notes}"
        );
    }
    // What the provider shows is what was said: the standby's maximum really is 3.
    use twincloud_core::ports::Compute;
    let standby = LocalCompute::new(w.dir.path())
        .scale("backend-aws")
        .await
        .unwrap();
    assert_eq!(standby.max, Some(3));

    // The page shows every finding, the ones not ready in red, and the hold.
    let s = w.inv.services();
    let o = twincloud_runtime::overview::gather(&s.config, s.state.as_ref(), Utc::now()).await;
    let page = twincloud_testkit::browser::render(
        "readiness-drift",
        &twincloud_runtime::overview::render_html(&o),
    )
    .await;
    let rows = page["readiness_rows"].as_array().unwrap();
    assert_eq!(rows.len(), 7, "{page}");
    let red: Vec<&str> = rows
        .iter()
        .filter(|r| r["red"] == true)
        .map(|r| r["text"].as_str().unwrap())
        .collect();
    assert_eq!(red.len(), 7, "every drifted finding in red: {page}");
    assert!(
        red.iter().any(|r| r.contains("the record's TTL is 3600 s")),
        "{red:?}"
    );
    assert!(
        page["hold_rows"][0]
            .as_str()
            .unwrap()
            .contains("every failover standby\tat 0 while standby\tbudget guard `monthly`"),
        "{page}"
    );
    // Nothing changed: nothing said.
    w.tick("t3").await;
    assert_eq!(w.messages().len(), 1);

    // Fixed: one message that says so.
    w.healthy().await;
    let notes = w.tick("t4").await;
    let messages = w.messages();
    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert_eq!(messages[1]["title"], "Readiness: 7 ready again", "{notes}");
    // The page shows the findings.
    let s = w.inv.services();
    let o = twincloud_runtime::overview::gather(&s.config, s.state.as_ref(), Utc::now()).await;
    let text = twincloud_runtime::overview::render_text(&o);
    assert!(text.contains("readiness: all 7 finding(s) ready"), "{text}");
}

#[tokio::test]
async fn an_unreadable_side_is_unknown_never_ready() {
    let w = World::new().await;
    // The standby's service is gone: its scale cannot be read.
    std::fs::remove_file(w.dir.path().join("sim/services/backend-aws.json")).unwrap();
    let notes = w.tick("u1").await;
    assert!(
        notes.contains("capacity: AWS Fargate: unknown: AWS Fargate:"),
        "{notes}"
    );
    let messages = w.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["title"], "Readiness: 1 unknown");
    // A record that cannot be read is unknown too, not "no backup recorded".
    std::fs::write(
        w.dir.path().join("state/backup/nightly"),
        "twincloud-generation 9\nnot json",
    )
    .unwrap();
    let notes = w.tick("u2").await;
    assert!(
        notes.contains("backup: backup nightly: unknown: record `backup/nightly` unreadable"),
        "{notes}"
    );
}

/// The audit reads what each side serves without the registries' logins: on AWS it has no
/// grant to deploy's registry secrets, so building them would fail it before it read anything.
#[tokio::test]
async fn it_runs_without_the_registry_logins_deploy_needs() {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "{}{}",
        twincloud_testkit::fixtures::LOCAL_FAILOVER_PAIR,
        TOML.replace(
            "image = \"r.example/app\"\n",
            "image = \"r.example/app\"\nregistry_auth = \"basic:env:TWINCLOUD_TEST_UNSET_REGISTRY_LOGIN\"\n"
        )
    );
    let inv = invoker(&twincloud_readiness::SPEC, config(dir.path(), &toml), false).await;
    let ev = serde_json::json!({"twincloud": "schedule", "name": "readiness", "id": "r1"});
    let notes = inv
        .handle_json(ev.to_string().as_bytes())
        .await
        .unwrap()
        .notes_text();
    assert!(notes.contains("same code: deploy app:"), "{notes}");
}
