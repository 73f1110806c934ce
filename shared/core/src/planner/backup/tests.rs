use std::collections::BTreeMap;

use chrono::TimeZone;
use proptest::prelude::*;

use super::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 3, 0, 0)
        .single()
        .unwrap_or_default()
}

fn db(name: &str) -> DatabaseInfo {
    DatabaseInfo {
        name: name.into(),
        kind: DatabaseKind::Instance,
        tags: BTreeMap::new(),
    }
}

fn snap(database: &str, days_ago: i64, status: SnapshotStatus) -> Snapshot {
    let at = t0() - Duration::days(days_ago);
    Snapshot {
        id: snapshot_id(database, at),
        database: database.into(),
        created: at.to_rfc3339(),
        status,
        managed: true,
        arn: None,
        cluster: false,
    }
}

fn observed(name: &str, ages: &[i64], copies: Option<&[i64]>) -> Observed {
    Observed {
        info: db(name),
        snapshots: ages
            .iter()
            .map(|a| snap(name, *a, SnapshotStatus::Available))
            .collect(),
        copies: copies.map(|c| {
            c.iter()
                .map(|a| snap(name, *a, SnapshotStatus::Available))
                .collect()
        }),
    }
}

fn policy(dr: bool) -> BackupPolicy {
    let retention = RetentionPolicy {
        retain_days: 30,
        keep_min: 3,
    };
    BackupPolicy {
        retention,
        max_age_hours: 26,
        dr: dr.then_some((retention, 5)),
    }
}

fn inputs<'a>(dbs: &'a [Observed]) -> BackupInputs<'a> {
    BackupInputs {
        run_at: t0(),
        now: t0(),
        take_snapshots: true,
        databases: dbs,
        missing: &[],
        pending: &[],
        queue: &[],
        deferred: &[],
        copies_in_flight: 0,
    }
}

fn count(plan: &BackupPlan, f: impl Fn(&BackupStep) -> bool) -> usize {
    plan.steps.iter().filter(|s| f(s)).count()
}

#[test]
fn a_run_snapshots_each_database_under_the_schedule_time() {
    let dbs = [
        observed("aion-db", &[1, 2], None),
        observed("billing", &[], None),
    ];
    let plan = plan_backup(&inputs(&dbs), &policy(false));
    assert_eq!(
        plan.steps,
        vec![
            BackupStep::Snapshot {
                database: "aion-db".into(),
                id: "aion-db-20261122-030000".into(),
                cluster: false
            },
            BackupStep::Snapshot {
                database: "billing".into(),
                id: "billing-20261122-030000".into(),
                cluster: false
            },
        ]
    );
    assert!(plan.problems.is_empty());
}

#[test]
fn the_same_schedule_twice_takes_one_snapshot() {
    let dbs = [observed("aion-db", &[0, 1], None)];
    let plan = plan_backup(&inputs(&dbs), &policy(false));
    assert_eq!(
        count(&plan, |s| matches!(s, BackupStep::Snapshot { .. })),
        0
    );
    assert!(plan.notes[0].contains("exists already"), "{:?}", plan.notes);
}

#[test]
fn old_snapshots_are_pruned_first_in_both_regions() {
    let dbs = [observed(
        "aion-db",
        &[1, 2, 3, 31, 40],
        Some(&[1, 2, 3, 35]),
    )];
    let plan = plan_backup(&inputs(&dbs), &policy(true));
    let prunes: Vec<_> = plan
        .steps
        .iter()
        .filter_map(|s| match s {
            BackupStep::Prune { id, dr, .. } => Some((id.as_str(), *dr)),
            _ => None,
        })
        .collect();
    assert_eq!(
        prunes,
        [
            ("aion-db-20261022-030000", false),
            ("aion-db-20261013-030000", false),
            ("aion-db-20261018-030000", true)
        ]
    );
    assert!(matches!(plan.steps[3], BackupStep::Snapshot { .. }));
}

#[test]
fn copies_beyond_the_quota_wait_in_the_queue_and_start_later_in_order() {
    let dbs: Vec<Observed> = (0..8)
        .map(|i| observed(&format!("db{i}"), &[1], Some(&[2])))
        .collect();
    let first = plan_backup(&inputs(&dbs), &policy(true));
    assert_eq!(count(&first, |s| matches!(s, BackupStep::Copy { .. })), 5);
    assert_eq!(first.queue.len(), 3);
    assert!(first.notes.iter().any(|n| n.contains("3 queued")));

    // Next run: four copies still running; the oldest queued entry goes first.
    let mut queue = first.queue.clone();
    queue.reverse();
    let mut next = inputs(&dbs);
    next.take_snapshots = false;
    next.queue = &queue;
    next.copies_in_flight = 4;
    // The five started before are in the DR region now.
    let done: Vec<Observed> = dbs
        .iter()
        .map(|d| {
            let started = first.steps.iter().any(
                |s| matches!(s, BackupStep::Copy { database, .. } if *database == d.info.name),
            );
            if started {
                observed(&d.info.name, &[1], Some(&[1, 2]))
            } else {
                d.clone()
            }
        })
        .collect();
    next.databases = &done;
    let second = plan_backup(&next, &policy(true));
    let started: Vec<&str> = second
        .steps
        .iter()
        .filter_map(|s| match s {
            BackupStep::Copy { database, .. } => Some(database.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(started, [queue[0].database.as_str()]);
    assert_eq!(second.queue.len(), 2);
    assert_eq!(second.queue[0].since, queue[1].since, "queued time kept");
}

#[test]
fn an_old_snapshot_is_never_copied_when_the_dr_region_has_a_newer_one() {
    let dbs = [observed("aion-db", &[3], Some(&[1]))];
    let plan = plan_backup(&inputs(&dbs), &policy(true));
    assert_eq!(count(&plan, |s| matches!(s, BackupStep::Copy { .. })), 0);
}

#[test]
fn a_snapshot_waiting_to_be_copied_is_not_pruned() {
    let mut p = policy(true);
    p.retention.keep_min = 0;
    p.retention.retain_days = 1;
    let dbs = [observed("aion-db", &[3, 2], Some(&[]))];
    let queue = [QueuedCopy {
        database: "aion-db".into(),
        id: snapshot_id("aion-db", t0() - Duration::days(3)),
        since: t0(),
    }];
    let mut i = inputs(&dbs);
    i.queue = &queue;
    let plan = plan_backup(&i, &p);
    assert_eq!(count(&plan, |s| matches!(s, BackupStep::Prune { .. })), 0);
    assert!(plan.notes.iter().any(|n| n.contains("waits to be copied")));
}

#[test]
fn follow_up_reports_finished_failed_stuck_and_vanished_snapshots() {
    let mut d = observed("aion-db", &[0], None);
    d.snapshots.push(Snapshot {
        id: "aion-db-failed".into(),
        status: SnapshotStatus::Failed,
        ..snap("aion-db", 1, SnapshotStatus::Failed)
    });
    d.snapshots.push(Snapshot {
        id: "aion-db-slow".into(),
        status: SnapshotStatus::Creating,
        ..snap("aion-db", 2, SnapshotStatus::Creating)
    });
    let pending = |id: &str, hours: i64| PendingSnapshot {
        database: "aion-db".into(),
        id: id.into(),
        since: t0() - Duration::hours(hours),
    };
    let pend = [
        pending("aion-db-20261122-030000", 1),
        pending("aion-db-failed", 1),
        pending("aion-db-slow", 30),
        pending("aion-db-gone", 1),
    ];
    let dbs = [d];
    let mut i = inputs(&dbs);
    i.pending = &pend;
    i.take_snapshots = false;
    let plan = plan_backup(&i, &policy(false));
    assert_eq!(
        plan.made,
        [("aion-db".into(), "aion-db-20261122-030000".into())]
    );
    let states: Vec<&str> = plan.problems.iter().map(|p| p.state.as_str()).collect();
    assert_eq!(
        states,
        [
            "failed:aion-db-failed",
            "stuck:aion-db-slow",
            "vanished:aion-db-gone"
        ]
    );
    assert_eq!(plan.pending, [pend[2].clone()], "still followed");
}

#[test]
fn a_follow_up_run_reports_a_missed_backup_once_per_snapshot() {
    let dbs = [observed("aion-db", &[2], None)];
    let mut i = inputs(&dbs);
    i.take_snapshots = false;
    i.run_at = t0() - Duration::hours(1);
    let plan = plan_backup(&i, &policy(false));
    assert_eq!(plan.problems.len(), 1);
    assert!(plan.problems[0].message.contains("48 hours old"));
    assert_eq!(plan.problems[0].state, "missed:aion-db-20261120-030000");
    assert!(plan.steps.is_empty());
}

#[test]
fn a_snapshot_that_could_not_start_is_taken_late_under_its_own_id_for_a_day() {
    let dbs = [
        observed("aion-db", &[1], None),
        observed("billing", &[1], None),
    ];
    let deferred = [
        PendingSnapshot {
            database: "aion-db".into(),
            id: "aion-db-20261122-030000".into(),
            since: t0(),
        },
        PendingSnapshot {
            database: "billing".into(),
            id: "billing-20261121-040000".into(),
            since: t0() - Duration::hours(25),
        },
    ];
    let mut i = inputs(&dbs);
    i.take_snapshots = false;
    i.run_at = t0() + Duration::minutes(15);
    i.deferred = &deferred;
    let plan = plan_backup(&i, &policy(false));
    assert_eq!(
        plan.steps,
        [BackupStep::Snapshot {
            database: "aion-db".into(),
            id: "aion-db-20261122-030000".into(),
            cluster: false
        }]
    );
    assert_eq!(plan.problems[0].state, "given-up:billing-20261121-040000");
    // A new scheduled run takes today's snapshot instead of the late one.
    let mut i = inputs(&dbs);
    i.deferred = &deferred[..1];
    i.run_at = t0() + Duration::days(1);
    let plan = plan_backup(&i, &policy(false));
    let ids: Vec<&str> = plan
        .steps
        .iter()
        .filter_map(|s| match s {
            BackupStep::Snapshot { id, .. } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(ids, ["aion-db-20261123-030000", "billing-20261123-030000"]);
}

#[test]
fn a_named_database_that_does_not_exist_is_a_problem() {
    let missing = ["ghost-db".to_owned()];
    let mut i = inputs(&[]);
    i.missing = &missing;
    let plan = plan_backup(&i, &policy(false));
    assert_eq!(plan.problems[0].database, "ghost-db");
}

proptest! {
    /// Whatever is in flight and queued: never more copies running than the quota allows,
    /// and every wanted copy either starts or stays queued (none lost, none doubled).
    #[test]
    fn copies_never_exceed_the_quota_and_none_is_lost(
        n in 0usize..20,
        in_flight in 0u32..8,
        queued in proptest::collection::vec(any::<bool>(), 20),
    ) {
        let dbs: Vec<Observed> = (0..n)
            .map(|i| observed(&format!("db{i:02}"), &[1], Some(&[5])))
            .collect();
        let queue: Vec<QueuedCopy> = (0..n)
            .filter(|i| queued[*i])
            .map(|i| QueuedCopy {
                database: format!("db{i:02}"),
                id: snapshot_id(&format!("db{i:02}"), t0() - Duration::days(1)),
                since: t0(),
            })
            .collect();
        let mut i = inputs(&dbs);
        i.queue = &queue;
        i.copies_in_flight = in_flight;
        let plan = plan_backup(&i, &policy(true));
        let started: Vec<String> = plan
            .steps
            .iter()
            .filter_map(|s| match s {
                BackupStep::Copy { database, .. } => Some(database.clone()),
                _ => None,
            })
            .collect();
        prop_assert!(started.len() as u32 + in_flight <= 5.max(in_flight));
        prop_assert_eq!(started.len() + plan.queue.len(), n);
        let mut all: Vec<String> = started
            .iter()
            .cloned()
            .chain(plan.queue.iter().map(|q| q.database.clone()))
            .collect();
        all.sort();
        all.dedup();
        prop_assert_eq!(all.len(), n);
        // Queued ones go before new ones.
        if let Some(first_new) = started.iter().position(|d| !queue.iter().any(|q| &q.database == d)) {
            prop_assert!(started[..first_new].iter().all(|d| queue.iter().any(|q| &q.database == d)));
            prop_assert!(plan.queue.iter().all(|q| !queue.iter().any(|x| x.database == q.database)));
        }
    }
}
