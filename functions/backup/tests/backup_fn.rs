//! The backup function end to end: on the local backend (slow and failing databases, the same
//! schedule twice, a wait handed to the follow-up run) and on moto (more databases than the
//! cross-region copy quota, throttling injected by the fault proxy).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chrono::{DateTime, Utc};
use twincloud_backup::Backup;
use twincloud_core::Config;
use twincloud_core::ports::{Database, SnapshotStatus};
use twincloud_local::{LocalDatabase, SimulatedDatabase};
use twincloud_runtime::{Clouds, Invoker, Services};
use twincloud_testkit::fs::outbox;
use twincloud_testkit::{Fault, FaultProxy, emulators, unique};

/// A schedule event of the `nightly` set.
fn schedule(id: &str, time: &str, args: serde_json::Value) -> Vec<u8> {
    twincloud_testkit::fixtures::schedule(id, "nightly", time, args)
}

fn fast() -> Backup {
    Backup {
        first_poll: Duration::from_millis(100),
        max_wait: Duration::from_secs(30),
    }
}

async fn invoker(state: &std::path::Path, set: &str, clouds: &Clouds, f: Backup) -> Invoker {
    let text = format!(
        r#"[project]
name = "aion"
state = "{}"

[[notify.channels]]
name = "outbox"
type = "outbox"

[[backup.sets]]
name = "nightly"
{set}
"#,
        state.display()
    );
    let services = Services::build_for(
        twincloud_backup::SPEC.wiring,
        Config::parse("t.toml", &text).unwrap(),
        clouds,
    )
    .await
    .unwrap();
    Invoker::new(Box::new(f), services, false)
}

/// The operations page of what the backup function recorded, opened in Chromium.
async fn page_of(inv: &Invoker, name: &str) -> serde_json::Value {
    let s = inv.services();
    let o = twincloud_runtime::overview::gather(&s.config, s.state.as_ref(), Utc::now()).await;
    twincloud_testkit::browser::render(name, &twincloud_runtime::overview::render_html(&o)).await
}

fn days_ago(d: i64) -> DateTime<Utc> {
    Utc::now() - chrono::Duration::days(d)
}

#[tokio::test]
async fn a_local_run_snapshots_prunes_waits_and_reports_once() {
    let state = tempfile::tempdir().unwrap();
    let dbs = LocalDatabase::new(state.path());
    dbs.create_database(
        "aion-db",
        &[("rds:aion-db-automated", "2026-01-01T00:00:00Z")],
    )
    .await
    .unwrap();
    for (id, d) in [
        ("aion-db-old-40", 40),
        ("aion-db-old-35", 35),
        ("aion-db-3", 3),
    ] {
        dbs.add_managed_snapshot("aion-db", id, days_ago(d))
            .await
            .unwrap();
    }
    let slow = SimulatedDatabase {
        snapshot_secs: 1,
        ..SimulatedDatabase::default()
    };
    dbs.create_simulated("billing", slow, &[]).await.unwrap();
    dbs.create_database("unrelated", &[]).await.unwrap();
    let set = r#"engine = "local"
patterns = ["aion-*"]
databases = ["billing", "ghost-db"]
keep_min = 2"#;
    // A dry run says what it would do and changes nothing.
    let text = format!(
        "[project]\nname = \"aion\"\nstate = \"{}\"\n\n[[backup.sets]]\nname = \"nightly\"\n{set}\n",
        state.path().display()
    );
    let services = Services::build_for(
        twincloud_backup::SPEC.wiring,
        Config::parse("t.toml", &text).unwrap(),
        &Clouds::default(),
    )
    .await
    .unwrap();
    let dry = Invoker::new(Box::new(fast()), services, true);
    let r = dry
        .handle_json(&schedule(
            "dry-1",
            "2026-11-22T03:00:00Z",
            serde_json::json!({}),
        ))
        .await
        .unwrap();
    let n = r.notes_text();
    assert!(
        n.contains("aion-db: would take snapshot aion-db-20261122-030000"),
        "{n}"
    );
    assert!(n.contains("aion-db: would prune aion-db-old-40"), "{n}");
    assert_eq!(dbs.list_snapshots("aion-db").await.unwrap().len(), 4);
    assert!(
        !state.path().join("state").exists(),
        "a dry run wrote state"
    );

    let inv = invoker(state.path(), set, &Clouds::default(), fast()).await;
    let t = "2026-11-22T03:00:00Z";
    let r = inv
        .handle_json(&schedule("run-1", t, serde_json::json!({})))
        .await
        .unwrap();
    let n = r.notes_text();
    for want in [
        "aion-db: pruned aion-db-old-40",
        "aion-db: pruned aion-db-old-35",
        "aion-db: snapshot aion-db-20261122-030000 started",
        "billing: snapshot billing-20261122-030000 started",
        "billing: snapshot billing-20261122-030000 is available",
    ] {
        assert!(n.contains(want), "missing {want:?} in:\n{n}");
    }
    let after: Vec<String> = dbs
        .list_snapshots("aion-db")
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(
        after,
        [
            "rds:aion-db-automated",
            "aion-db-3",
            "aion-db-20261122-030000"
        ],
        "the foreign snapshot stays, whatever its age"
    );
    assert!(dbs.list_snapshots("unrelated").await.unwrap().is_empty());
    // Every prune and snapshot is in the audit trail, one record each.
    let store = twincloud_local::LocalStateStore::new(state.path());
    let audit = twincloud_core::ports::StateStore::list(&store, "audit/")
        .await
        .unwrap();
    let ours: Vec<&String> = audit
        .iter()
        .filter(|k| k.contains("/backup/run-1-"))
        .collect();
    for action in [
        "prune-aion-db-old-40@",
        "prune-aion-db-old-35@",
        "snapshot-aion-db-20261122-030000@",
        "snapshot-billing-20261122-030000@",
    ] {
        assert_eq!(
            ours.iter().filter(|k| k.contains(action)).count(),
            1,
            "{action} in {ours:?}"
        );
    }
    let sent = outbox(state.path());
    assert_eq!(sent.len(), 1, "one summary: {sent:?}");
    let msg = sent[0].to_string();
    assert!(
        msg.contains("2 made, 2 started, 0 copied, 2 pruned, 0 queued, 1 failed"),
        "{msg}"
    );
    assert!(
        msg.contains("ghost-db") && msg.contains("critical"),
        "{msg}"
    );

    // The same schedule delivered again (another id, same time): no second snapshot.
    let r = inv
        .handle_json(&schedule("run-1-again", t, serde_json::json!({})))
        .await
        .unwrap();
    assert!(
        r.notes_text().contains("exists already"),
        "{}",
        r.notes_text()
    );
    assert_eq!(dbs.list_snapshots("billing").await.unwrap().len(), 1);
    assert_eq!(dbs.list_snapshots("aion-db").await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_wait_that_does_not_fit_is_handed_to_the_follow_up_run() {
    let state = tempfile::tempdir().unwrap();
    let dbs = LocalDatabase::new(state.path());
    let slow = SimulatedDatabase {
        snapshot_secs: 2,
        ..SimulatedDatabase::default()
    };
    dbs.create_simulated("aion-db", slow, &[]).await.unwrap();
    let failing = SimulatedDatabase {
        failing: true,
        ..SimulatedDatabase::default()
    };
    dbs.create_simulated("aion-broken", failing, &[])
        .await
        .unwrap();
    let inv = invoker(
        state.path(),
        "engine = \"local\"\npatterns = [\"aion-*\"]",
        &Clouds::default(),
        fast(),
    )
    .await;
    // Lambda's deadline is close: nothing can be waited for.
    let decoded = twincloud_core::decode::decode_json(&schedule(
        "run-2",
        "2026-11-22T03:00:00Z",
        serde_json::json!({}),
    ))
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(21);
    // As the Lambda entry hands it over: the invoke is the caller IAM let through.
    let decoded = decoded.authenticated_by("aws-iam:lambda-invoke");
    let r = inv.handle_until(decoded, Some(deadline)).await.unwrap();
    let n = r.notes_text();
    assert!(
        n.contains("1 snapshot(s) and 0 export(s) still in progress"),
        "{n}"
    );
    let first = outbox(state.path());
    assert_eq!(first.len(), 1);
    assert!(
        first[0]
            .to_string()
            .contains("snapshot aion-broken-20261122-030000 of aion-broken failed")
    );

    tokio::time::sleep(Duration::from_secs(2)).await;
    let follow = schedule(
        "follow-1",
        "2026-11-22T03:15:00Z",
        serde_json::json!({"follow_up": true}),
    );
    let r = inv.handle_json(&follow).await.unwrap();
    let n = r.notes_text();
    assert!(
        n.contains("aion-db: snapshot aion-db-20261122-030000 is available"),
        "{n}"
    );
    assert!(!n.contains("started"), "a follow-up takes no snapshot: {n}");
    let sent = outbox(state.path());
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent[1].to_string().contains("(follow-up)"));

    // A follow-up with nothing new stays quiet.
    let quiet = schedule(
        "follow-2",
        "2026-11-22T03:30:00Z",
        serde_json::json!({"follow_up": true}),
    );
    inv.handle_json(&quiet).await.unwrap();
    assert_eq!(outbox(state.path()).len(), 2);
    assert!(
        dbs.list_snapshots("aion-db")
            .await
            .unwrap()
            .iter()
            .all(|s| s.status == SnapshotStatus::Available)
    );
}

#[tokio::test]
async fn a_snapshot_refused_for_quota_is_reported_and_taken_by_the_next_run() {
    let state = tempfile::tempdir().unwrap();
    let dbs = LocalDatabase::new(state.path());
    let full = SimulatedDatabase {
        quota: Some(1),
        ..SimulatedDatabase::default()
    };
    dbs.create_simulated("aion-db", full, &[]).await.unwrap();
    dbs.add_managed_snapshot("aion-db", "aion-db-manual-keep", days_ago(1))
        .await
        .unwrap();
    let inv = invoker(
        state.path(),
        "engine = \"local\"\ndatabases = [\"aion-db\"]",
        &Clouds::default(),
        fast(),
    )
    .await;
    let r = inv
        .handle_json(&schedule(
            "q-1",
            "2026-11-22T03:00:00Z",
            serde_json::json!({}),
        ))
        .await
        .unwrap();
    assert!(!r.notes_text().contains("started"), "{}", r.notes_text());
    let sent = outbox(state.path());
    assert!(
        sent[0]
            .to_string()
            .contains("manual-snapshot quota is full"),
        "{sent:?}"
    );
    // A follow-up in the same state tries once more and says nothing new.
    inv.handle_json(&schedule(
        "q-follow-1",
        "2026-11-22T03:15:00Z",
        serde_json::json!({"follow_up": true}),
    ))
    .await
    .unwrap();
    assert_eq!(outbox(state.path()).len(), 1);
    // Someone makes room: the next follow-up takes the snapshot under the schedule's id.
    dbs.delete_snapshot("aion-db", "aion-db-manual-keep")
        .await
        .unwrap();
    let r = inv
        .handle_json(&schedule(
            "q-follow-2",
            "2026-11-22T03:30:00Z",
            serde_json::json!({"follow_up": true}),
        ))
        .await
        .unwrap();
    let n = r.notes_text();
    assert!(
        n.contains("aion-db: snapshot aion-db-20261122-030000 is tried again"),
        "{n}"
    );
    assert!(
        n.contains("aion-db: snapshot aion-db-20261122-030000 started"),
        "{n}"
    );
    let ids: Vec<String> = dbs
        .list_snapshots("aion-db")
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, ["aion-db-20261122-030000"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_databases_than_the_copy_quota_queue_and_copy_on_the_next_run() {
    let proxy = FaultProxy::start(&emulators::moto_db_url()).await;
    let aws = twincloud_aws::AwsContext::for_endpoint(&proxy.url(), "us-east-1").await;
    let suite = unique("quota");
    let mut names = Vec::new();
    for i in 0..8 {
        let name = format!("{suite}-db{i}");
        aws.rds()
            .create_db_instance()
            .db_instance_identifier(&name)
            .engine("postgres")
            .db_instance_class("db.t3.micro")
            .allocated_storage(20)
            .master_username("aion")
            .master_user_password("not-a-real-password")
            .tags(
                aws_sdk_rds::types::Tag::builder()
                    .key("suite")
                    .value(&suite)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        names.push(name);
    }
    // And an Aurora cluster, backed up through cluster snapshots.
    let cluster = format!("{suite}-aurora");
    aws.rds()
        .create_db_cluster()
        .db_cluster_identifier(&cluster)
        .engine("aurora-postgresql")
        .master_username("aion")
        .master_user_password("not-a-real-password")
        .tags(
            aws_sdk_rds::types::Tag::builder()
                .key("suite")
                .value(&suite)
                .build(),
        )
        .send()
        .await
        .unwrap();
    names.push(cluster.clone());
    let state = tempfile::tempdir().unwrap();
    let set = format!(
        "engine = \"rds\"\ntags = {{ suite = \"{suite}\" }}\ndr_region = \"us-west-2\"\nmax_copies_in_flight = 5"
    );
    let inv = invoker(state.path(), &set, &Clouds::with_aws(aws.clone()), fast()).await;
    // RDS throttles the first calls: the SDK's retries absorb it.
    proxy.inject("POST /", 2, Fault::aws_query_throttling());
    let t = "2026-11-22T03:00:00Z";
    let r = inv
        .handle_json(&schedule("quota-1", t, serde_json::json!({})))
        .await
        .unwrap();
    let n = r.notes_text();
    assert_eq!(proxy.stats().faulted, 2);
    let started = n
        .lines()
        .filter(|l| l.contains(": snapshot ") && l.ends_with(" started"))
        .count();
    assert_eq!(started, 9, "{n}");
    assert!(
        n.contains(&format!(
            "{cluster}: snapshot {cluster}-20261122-030000 started"
        )),
        "{n}"
    );
    assert_eq!(n.matches("to us-west-2 started").count(), 5, "{n}");
    assert!(n.contains("4 queued for a later run"), "{n}");
    let msg = outbox(state.path())[0].to_string();
    assert!(
        msg.contains("9 made, 9 started, 5 copied, 0 pruned, 4 queued, 0 failed"),
        "{msg}"
    );

    let dr = twincloud_aws::RdsDatabase::new(&aws.in_region("us-west-2"));
    let infos: Vec<_> = twincloud_aws::RdsDatabase::new(&aws)
        .list_databases()
        .await
        .unwrap()
        .into_iter()
        .filter(|d| names.contains(&d.name))
        .collect();
    let copied = |m: &std::collections::BTreeMap<String, Vec<twincloud_core::ports::Snapshot>>| {
        m.values().filter(|v| !v.is_empty()).count()
    };
    assert_eq!(copied(&dr.snapshots_of(&infos).await.unwrap()), 5);
    // The operations page: each database's snapshot here, five copies in us-west-2, four waiting.
    let page = page_of(&inv, "backup-copy-queue").await;
    let body = page["body"].as_str().unwrap();
    assert!(body.contains("4 copies waiting for a slot"), "{body}");
    let in_dr = |page: &serde_json::Value| {
        page["fresh_backups"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r.as_str().unwrap().contains("us-west-2"))
            .count()
    };
    assert_eq!(in_dr(&page), 5, "{page}");
    assert_eq!(page["fresh_backups"].as_array().unwrap().len(), 14);

    // The follow-up run starts the four queued copies; nothing is copied twice.
    let r = inv
        .handle_json(&schedule(
            "quota-follow",
            "2026-11-22T03:15:00Z",
            serde_json::json!({"follow_up": true}),
        ))
        .await
        .unwrap();
    let n = r.notes_text();
    assert_eq!(n.matches("to us-west-2 started").count(), 4, "{n}");
    assert_eq!(copied(&dr.snapshots_of(&infos).await.unwrap()), 9);
    let page = page_of(&inv, "backup-copies-done").await;
    assert_eq!(in_dr(&page), 9, "every database now has its copy: {page}");
    assert!(page["body"].as_str().unwrap().contains("Copy queue empty."));

    // The same schedule event again: no snapshot, no copy.
    let r = inv
        .handle_json(&schedule("quota-1-again", t, serde_json::json!({})))
        .await
        .unwrap();
    let n = r.notes_text();
    assert!(!n.contains(" started"), "{n}");
    let primary = twincloud_aws::RdsDatabase::new(&aws);
    for name in &names {
        let mine = primary
            .list_snapshots(name)
            .await
            .unwrap()
            .into_iter()
            .filter(|s| s.managed)
            .count();
        assert_eq!(mine, 1, "{name}");
    }
}

#[tokio::test]
async fn the_weekly_verification_run_leaves_snapshot_sets_alone() {
    let state = tempfile::tempdir().unwrap();
    let dbs = LocalDatabase::new(state.path());
    dbs.create_database("aion-db", &[]).await.unwrap();
    let set = "engine = \"local\"\ndatabases = [\"aion-db\"]";
    let inv = invoker(state.path(), set, &Clouds::default(), fast()).await;
    let r = inv
        .handle_json(&schedule(
            "verify-1",
            "2026-11-22T05:00:00Z",
            serde_json::json!({"verify": true}),
        ))
        .await
        .unwrap();
    assert!(
        r.notes_text()
            .contains("verification by restore is for engine postgres"),
        "{}",
        r.notes_text()
    );
    assert!(dbs.list_snapshots("aion-db").await.unwrap().is_empty());
    assert!(outbox(state.path()).is_empty());
}
