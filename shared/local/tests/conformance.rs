//! The local backend passes the conformance suite of every port it implements.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use twincloud_local::LocalStateStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_state_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    twincloud_testkit::conformance::state_store(
        Arc::new(LocalStateStore::new(dir.path())),
        "suite",
    )
    .await;
}

#[tokio::test]
async fn outbox_appends_one_json_line_per_message() {
    use twincloud_core::ports::Notifier;
    let dir = tempfile::tempdir().unwrap();
    let outbox = twincloud_local::OutboxNotifier::new(dir.path(), "ops");
    let msg = twincloud_core::Message {
        project: "p".into(),
        title: "t".into(),
        severity: twincloud_core::Severity::Warning,
        kind: "alarm".into(),
        summary: String::new(),
        fields: vec![],
        link: None,
        event_id: "e1".into(),
    };
    outbox.send(&msg).await.unwrap();
    outbox.send(&msg).await.unwrap();
    let text = std::fs::read_to_string(outbox.path()).unwrap();
    assert_eq!(text.lines().count(), 2);
    let back: twincloud_core::Message = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(back, msg);
}

#[tokio::test]
async fn local_compute_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let c = twincloud_local::LocalCompute::new(dir.path());
    c.create_service("aion-backend-aws", 2, Some(10))
        .await
        .unwrap();
    twincloud_testkit::conformance::compute(&c, "aion-backend-aws", 10, "nope").await;
}

#[tokio::test]
async fn local_traffic_conforms() {
    let dir = tempfile::tempdir().unwrap();
    twincloud_testkit::conformance::traffic(
        &twincloud_local::LocalTraffic::new(dir.path()),
        "api.aion.example.",
    )
    .await;
}

#[tokio::test]
async fn local_database_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let d = twincloud_local::LocalDatabase::new(dir.path());
    d.create_database(
        "aion-db",
        &[("rds:aion-db-2026-11-01", "2026-11-01T03:00:00Z")],
    )
    .await
    .unwrap();
    twincloud_testkit::conformance::database(&d, "aion-db", "rds:aion-db-2026-11-01", "nope").await;
    let snapshot = twincloud_core::ports::Database::list_snapshots(&d, "aion-db")
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.status == twincloud_core::ports::SnapshotStatus::Available)
        .expect("an available snapshot")
        .id;
    twincloud_testkit::conformance::database_restore(&d, "aion-db", &snapshot, "restored").await;
}

#[tokio::test]
async fn local_object_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    twincloud_testkit::object_conformance::object_store(
        &twincloud_local::LocalObjectStore::new(dir.path().join("bucket")),
        twincloud_testkit::object_conformance::ObjectBackend {
            keeps_metadata: false,
        },
    )
    .await;
}

#[tokio::test]
async fn outbox_notifier_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = twincloud_local::OutboxNotifier::new(dir.path(), "ops");
    let lines = || async {
        twincloud_testkit::fs::outbox_of(dir.path(), "ops")
            .iter()
            .map(|m| m.to_string())
            .collect::<Vec<_>>()
    };
    twincloud_testkit::conformance::notifier(&outbox, lines).await;
}

#[tokio::test]
async fn local_alarms_budgets_and_metrics_conform() {
    use twincloud_core::config::Metric;
    use twincloud_core::planner::budget::{BudgetRef, Reading};
    use twincloud_core::signal::AlarmState;
    let dir = tempfile::tempdir().unwrap();
    let alarms = twincloud_local::LocalAlarms::new(dir.path());
    alarms.set("cpu-high", AlarmState::Alarm).await.unwrap();
    alarms.set("cpu-low", AlarmState::Ok).await.unwrap();
    twincloud_testkit::conformance::alarm_states(&alarms, "cpu-high", "cpu-low", "nope").await;

    let billing = twincloud_local::LocalBilling::new(dir.path());
    let present = BudgetRef::Aws {
        account: "123456789012".into(),
        name: "monthly".into(),
    };
    billing
        .set_budget(
            &present,
            &Reading {
                limit: 10.0,
                actual: Some(4.0),
                forecast: None,
                period_start: "2026-12-01".into(),
            },
        )
        .await
        .unwrap();
    let missing = BudgetRef::Aws {
        account: "123456789012".into(),
        name: "gone".into(),
    };
    twincloud_testkit::conformance::budgets(&billing, &present, 10.0, &missing).await;

    let metrics = twincloud_local::LocalMetrics::new(dir.path());
    let data = [(Metric::Cpu, 71.5), (Metric::RequestsPerInstance, 300.0)];
    metrics.set("api", &data).await.unwrap();
    twincloud_testkit::conformance::metrics(&metrics, "api", &data, "quiet").await;
}

#[tokio::test]
async fn local_deployer_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let d = twincloud_local::LocalDeployer::new(dir.path());
    d.create_service("app", "app-00001", "old@sha256:0")
        .await
        .unwrap();
    let image = format!("reg.example/app@sha256:{}", "1".repeat(64));
    twincloud_testkit::conformance::deployer(&d, "app", None, &image, "nope").await;
}

#[tokio::test]
async fn local_billing_link_conforms() {
    use twincloud_core::ports::BillingLink;
    let dir = tempfile::tempdir().unwrap();
    let b = twincloud_local::LocalBilling::new(dir.path());
    b.set_account("sandbox", Some("billingAccounts/01"))
        .await
        .unwrap();
    twincloud_testkit::conformance::billing_link(&b, "sandbox", "billingAccounts/01").await;
}
