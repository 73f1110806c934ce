//! The operations page: a backup set's page from the records the real backup function wrote
//! (a stale database in red), an empty configuration, a project on one cloud only, and a state
//! store of 10,000 records, each opened in headless Chromium (screenshots under
//! `target/test-artefacts/status-page/`). The failover, sync, budget and scaling sections are
//! checked on the demo's page (`cli/tests/cli.rs`), the rollback on the deploy end-to-end test.
#![allow(clippy::unwrap_used)]

#[path = "../../../tests/support/busy_store.rs"]
mod busy_store;

use std::time::Duration;

use chrono::Utc;
use twincloud_core::Config;
use twincloud_core::ports::StateStore;
use twincloud_functions::backup::Backup;
use twincloud_local::{LocalDatabase, LocalStateStore};
use twincloud_runtime::overview::{gather, render_html, render_text};
use twincloud_runtime::{Clouds, Invoker, Services};
use twincloud_testkit::browser::render;

fn config(state: &std::path::Path, sections: &str) -> Config {
    Config::parse(
        "t.toml",
        &format!(
            "[project]\nname = \"aion\"\nstate = \"{}\"\n\n[[notify.channels]]\nname = \"outbox\"\ntype = \"outbox\"\n\n{sections}",
            state.display()
        ),
    )
    .unwrap()
}

#[tokio::test]
async fn a_database_whose_backups_stopped_is_red_beside_a_fresh_one() {
    let dir = tempfile::tempdir().unwrap();
    let dbs = LocalDatabase::new(dir.path());
    dbs.create_database("aion-db", &[]).await.unwrap();
    // The ledger's last good snapshot is three days old; its snapshots fail since.
    dbs.create_database("aion-ledger", &[]).await.unwrap();
    dbs.add_managed_snapshot(
        "aion-ledger",
        "aion-ledger-old",
        Utc::now() - chrono::Duration::days(3),
    )
    .await
    .unwrap();
    dbs.set_failing("aion-ledger", true).await.unwrap();
    let cfg = config(
        dir.path(),
        "[[backup.sets]]\nname = \"nightly\"\nengine = \"local\"\npatterns = [\"aion-*\"]\nmax_age_hours = 26\n",
    );
    let services = Services::build_for(
        twincloud_functions::backup::SPEC.wiring,
        cfg.clone(),
        &Clouds::default(),
    )
    .await
    .unwrap();
    let f = Backup {
        first_poll: Duration::from_millis(50),
        max_wait: Duration::from_secs(20),
    };
    let time = Utc::now().format("%Y-%m-%dT03:00:00Z").to_string();
    Invoker::new(Box::new(f), services, false)
        .handle_json(&twincloud_testkit::fixtures::schedule(
            "run-1",
            "nightly",
            &time,
            serde_json::json!({}),
        ))
        .await
        .unwrap();

    let o = gather(&cfg, &LocalStateStore::new(dir.path()), Utc::now()).await;
    let page = render("backup-stale", &render_html(&o)).await;
    let stale = page["stale"].as_array().unwrap();
    assert_eq!(stale.len(), 1, "{page}");
    assert!(stale[0]["row"].as_str().unwrap().contains("aion-ledger"));
    assert!(
        stale[0]["row"]
            .as_str()
            .unwrap()
            .contains("aion-ledger-old")
    );
    assert_eq!(stale[0]["red"], true, "stale is red: {page}");
    let fresh = page["fresh_backups"].as_array().unwrap();
    assert_eq!(fresh.len(), 1, "{page}");
    assert!(fresh[0].as_str().unwrap().contains("aion-db"));
    assert!(
        page["body"].as_str().unwrap().contains("1 failed"),
        "{page}"
    );
    let text = render_text(&o);
    assert!(
        text.contains("aion-ledger-old (3 d 0 h old, STALE)"),
        "{text}"
    );
}

#[tokio::test]
async fn an_empty_configuration_and_a_project_on_one_cloud_render() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStateStore::new(dir.path());
    // Nothing configured, nothing recorded.
    let o = gather(&config(dir.path(), ""), &store, Utc::now()).await;
    assert!(o.is_empty());
    let page = render("empty", &render_html(&o)).await;
    assert_eq!(page["empty"], true, "{page}");
    assert_eq!(page["sections"], serde_json::json!(["empty"]));
    assert_eq!(render_text(&o), "nothing configured to show\n");

    // Only GCP: a Cloud SQL backup set and a Cloud Run deploy target, never run yet.
    let gcp_only = config(
        dir.path(),
        r#"[[backup.sets]]
name = "nightly"
engine = "cloudsql"
project = "aion-prod"
databases = ["aion-sql"]

[[deploy.targets]]
name = "backend"
tags = ["v*"]

[[deploy.targets.sides]]
image = "us-docker.pkg.dev/aion-prod/images/aion-backend"
registry_auth = "google"
compute = "cloudrun"
project = "aion-prod"
region = "us-central1"
service = "aion-backend"
health = ["/health"]
"#,
    );
    let o = gather(&gcp_only, &store, Utc::now()).await;
    assert!(o.unreadable.is_empty(), "{:?}", o.unreadable);
    let page = render("gcp-only", &render_html(&o)).await;
    assert_eq!(
        page["sections"],
        serde_json::json!(["backups", "deploys"]),
        "{page}"
    );
    assert_eq!(page["active"], serde_json::Value::Null);
    let rows = page["deploy_rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert!(
        rows[0]
            .as_str()
            .unwrap()
            .contains("not recorded (no rollout yet)"),
        "{page}"
    );
    assert!(
        page["body"]
            .as_str()
            .unwrap()
            .contains("No run recorded yet."),
        "{page}"
    );
}

#[tokio::test]
async fn ten_thousand_records_render_in_under_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStateStore::new(dir.path());
    busy_store::seed(&store, Utc::now(), 10_000, 900).await;
    assert_eq!(store.list("").await.unwrap().len(), 10_000);

    let cfg = config(dir.path(), busy_store::FAILOVER);
    let started = std::time::Instant::now();
    let o = gather(&cfg, &store, Utc::now()).await;
    let html = render_html(&o);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "gathered and rendered 10,000 records in {took:?}"
    );
    assert!(o.unreadable.is_empty(), "{:?}", o.unreadable);
    assert_eq!((o.refused_today, o.refused_more), (900, false));
    let f = o.failover.as_ref().unwrap();
    assert_eq!(f.switches.len(), 20);
    let newest = &f.switches[0];
    assert_eq!(
        newest.switched.map(|s| (s - newest.detected).num_seconds()),
        Some(42),
        "the DNS change's time comes from the audit trail"
    );
    assert_eq!(
        newest.scaled.map(|s| (s - newest.detected).num_seconds()),
        Some(40)
    );
    assert!(
        html.len() < 512 * 1024,
        "the page is bounded: {} bytes",
        html.len()
    );

    let page = render("ten-thousand-records", &html).await;
    assert!(
        page["load_ms"].as_u64().unwrap() < 1000,
        "Chromium took {} ms",
        page["load_ms"]
    );
    assert_eq!(page["active"], "GCP Cloud Run");
    let sides = page["sides"].as_array().unwrap();
    assert_eq!(sides[0]["slots"], 96);
    let (red, mixed) = (
        sides[0]["failed_slots"].as_u64().unwrap(),
        sides[0]["mixed_slots"].as_u64().unwrap(),
    );
    assert!(
        red >= 3 && (4..=5).contains(&(red + mixed)),
        "an hour of failures: four quarter hours, or three and two partial ones: {page}"
    );
    assert_eq!(sides[1]["failed_slots"], 0);
    assert_eq!(page["switches"].as_array().unwrap().len(), 20);
    let body = page["body"].as_str().unwrap();
    assert!(body.contains("900 event(s) refused today"), "{body}");
    assert!(body.contains("and 150 earlier."), "{body}");
}

#[tokio::test]
async fn a_flood_of_refused_events_is_counted_up_to_a_bound() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStateStore::new(dir.path());
    let today = Utc::now().format("%Y-%m-%d");
    let n = twincloud_runtime::overview::REFUSED_SHOWN + 1;
    for i in 0..n {
        store
            .put(
                &format!("rejected/{today}/notifier/{i:05}"),
                b"{}",
                &twincloud_core::ports::Precondition::None,
            )
            .await
            .unwrap();
    }
    let cfg = config(dir.path(), busy_store::FAILOVER);
    let o = gather(&cfg, &store, Utc::now()).await;
    assert_eq!((o.refused_today, o.refused_more), (n - 1, true));
    assert!(
        render_text(&o).contains("1000 or more event(s) refused today"),
        "{}",
        render_text(&o)
    );
}
