//! One run of one backup set: observe, plan, act, wait for what was started, record.

use std::time::Duration;

use chrono::{DateTime, Utc};
use twincloud_core::Signal;
use twincloud_core::config::BackupSet;
use twincloud_core::planner::backup::{
    BackupInputs, BackupPlan, BackupPolicy, BackupProblem, BackupStep, Observed, PendingSnapshot,
    QueuedCopy, newest_good, plan_backup,
};
use twincloud_core::ports::{
    DatabaseInfo, ErrorKind, PortError, Retry, Snapshot, SnapshotStatus, Version,
};

use super::set_run::SetRun;
use super::targets::{Targets, targets};
use super::{Backup, BackupRecord, GoodBackup, export, record_key};
use twincloud_runtime::error::RunError;
use twincloud_runtime::function::Invocation;
use twincloud_runtime::lease;
use twincloud_runtime::services::Services;

/// Time kept before the platform's deadline to record what was done.
const WIND_DOWN: Duration = Duration::from_secs(20);
/// Longest pause between two looks at what is in progress.
const MAX_POLL: Duration = Duration::from_secs(15);

/// Runs `set` once.
pub(super) async fn run_set(
    f: &Backup,
    set: &BackupSet,
    signal: &Signal,
    services: &Services,
    inv: Invocation,
    run_at: DateTime<Utc>,
    follow_up: bool,
) -> Result<SetRun, RunError> {
    let mut run = SetRun::new(services, signal, &set.name, inv);
    let key = record_key(&set.name);
    let state = services.state.as_ref();
    // The adapters first: a setup error then holds no lease.
    let Some(t) = targets(set, services).await? else {
        return Ok(run);
    };
    let Some((mut record, mut version)) =
        open_record(f, &set.name, signal, services, inv, &mut run).await?
    else {
        return Ok(run);
    };
    let policy = BackupPolicy {
        retention: set.retention,
        max_age_hours: set.max_age_hours,
        dr: t.dr.as_ref().map(|(_, d)| (d.retention, d.max_in_flight)),
    };
    let started = std::time::Instant::now();
    let mut poll = f.first_poll;
    let mut take = !follow_up;
    let mut first_round = true;
    loop {
        let Some(fresh) = one_round(
            set,
            &t,
            &policy,
            &mut record,
            &mut run,
            run_at,
            take,
            first_round,
        )
        .await
        else {
            break;
        };
        take = false;
        first_round = false;
        save(state, &key, &record, &mut version, &mut run, &set.name).await?;
        let waiting = !record.pending.is_empty() || !record.exports.is_empty();
        let budget_left = inv.may_wait(poll + WIND_DOWN) && started.elapsed() + poll <= f.max_wait;
        // Snapshots done at once can be copied at once: one more round, no pause.
        let again_now = fresh && t.dr.is_some();
        if (!waiting && !again_now) || !budget_left {
            if waiting {
                run.note(
                    &set.name,
                    format!(
                        "{} snapshot(s) and {} export(s) still in progress: the next run follows them up",
                        record.pending.len(),
                        record.exports.len()
                    ),
                );
            }
            break;
        }
        if again_now {
            continue;
        }
        tokio::time::sleep(poll).await;
        poll = (poll * 2).min(MAX_POLL);
    }
    end_run(services, set, &t, record, version, &mut run).await?;
    Ok(run)
}

/// Ends a set's run: what it made or copied is the newest now (looked at once more, so the
/// record says so), and the record closed.
async fn end_run(
    services: &Services,
    set: &BackupSet,
    t: &Targets,
    mut record: BackupRecord,
    version: Version,
    run: &mut SetRun,
) -> Result<(), RunError> {
    // What this run made or copied is the newest now: look once more, so the record says so.
    if run.summary.made + run.summary.copied > 0
        && let Ok((observed, _, _)) = observe(set, t).await
    {
        note_newest(
            &mut record,
            &observed,
            t.dr.as_ref().map(|(_, d)| d.region.as_str()),
        );
    }
    run.summary.queued = record.queue.len() as u32;
    close_record(services, &set.name, record, version, run).await
}

/// One round of a set's run: observe, plan, carry out the plan, follow the exports. `Some`
/// with whether a snapshot was available at once; `None` when the databases could not be
/// listed (said).
#[allow(clippy::too_many_arguments)]
async fn one_round(
    set: &BackupSet,
    t: &Targets,
    policy: &BackupPolicy,
    record: &mut BackupRecord,
    run: &mut SetRun,
    run_at: DateTime<Utc>,
    take: bool,
    first_round: bool,
) -> Option<bool> {
    let (observed, missing, in_flight) = match observe(set, t).await {
        Ok(o) => o,
        Err(e) => {
            run.port_failure("*", "listing databases and snapshots", &e);
            return None;
        }
    };
    note_newest(
        record,
        &observed,
        t.dr.as_ref().map(|(_, d)| d.region.as_str()),
    );
    // Deferred snapshots are tried once per invocation, in its first round.
    let deferred = if first_round {
        std::mem::take(&mut record.deferred)
    } else {
        Vec::new()
    };
    let inputs = BackupInputs {
        run_at,
        now: Utc::now(),
        take_snapshots: take,
        databases: &observed,
        missing: &missing,
        pending: &record.pending,
        queue: &record.queue,
        deferred: &deferred,
        copies_in_flight: in_flight,
    };
    let plan = plan_backup(&inputs, policy);
    for n in &plan.notes {
        run.note(&set.name, n);
    }
    for (db, id) in &plan.made {
        run.summary.made += 1;
        run.note(&set.name, format!("{db}: snapshot {id} is available"));
    }
    for p in &plan.problems {
        run.problem(p.clone());
    }
    record.pending = plan.pending.clone();
    record.queue = plan.queue.clone();
    let fresh = act(&plan, t, record, run, &set.name, &deferred).await;
    if let Some(x) = &t.export {
        export::run_exports(x, &observed, run_at, take, record, run, &set.name).await;
    }
    Some(fresh)
}

/// Ends a run of either engine: counts the problems not told before, records the summary and
/// releases the lease.
pub(super) async fn close_record(
    services: &Services,
    set: &str,
    mut record: BackupRecord,
    version: Version,
    run: &mut SetRun,
) -> Result<(), RunError> {
    let told = std::mem::replace(
        &mut record.told,
        run.problems.iter().map(|p| p.state.clone()).collect(),
    );
    run.new_problems = run
        .problems
        .iter()
        .filter(|p| !told.contains(&p.state))
        .count();
    record.last = Some(run.summary.clone());
    let state = services.state.as_ref();
    if !lease::release(state, &record_key(set), record, version).await? {
        run.note(
            set,
            "the lease ran out and another invocation took the set over; its record stands",
        );
    }
    Ok(())
}

/// Keeps the newest good snapshot of each database, here and in the disaster-recovery region.
fn note_newest(record: &mut BackupRecord, observed: &[Observed], dr_region: Option<&str>) {
    record
        .newest
        .retain(|name, _| observed.iter().any(|db| &db.info.name == name));
    for db in observed {
        let mut places = Vec::new();
        if let Some((at, s)) = newest_good(&db.snapshots) {
            places.push(GoodBackup {
                place: "primary".into(),
                id: s.id.clone(),
                at,
            });
        }
        if let (Some(copies), Some(region)) = (&db.copies, dr_region)
            && let Some((at, s)) = newest_good(copies)
        {
            places.push(GoodBackup {
                place: region.into(),
                id: s.id.clone(),
                at,
            });
        }
        record.newest.insert(db.info.name.clone(), places);
    }
}

/// A set's record under this invocation's lease; `None`, noted, when
/// another invocation holds it.
pub(super) async fn open_record(
    f: &Backup,
    set: &str,
    signal: &Signal,
    services: &Services,
    inv: Invocation,
    run: &mut SetRun,
) -> Result<Option<(BackupRecord, Version)>, RunError> {
    let key = record_key(set);
    let state = services.state.as_ref();
    let lease_for = inv
        .deadline
        .map(|d| d.saturating_duration_since(std::time::Instant::now()))
        .unwrap_or(f.max_wait + Duration::from_secs(60));
    let until = inv.now + chrono::Duration::from_std(lease_for).unwrap_or_default();
    match lease::take::<BackupRecord>(state, &key, &signal.id, until, inv.now).await? {
        Some(taken) => Ok(Some(taken)),
        None => {
            run.held_elsewhere = true;
            run.note(set, "another invocation is running this set; nothing done");
            Ok(None)
        }
    }
}

/// Records progress so that a kill loses nothing already started.
async fn save(
    state: &dyn twincloud_core::ports::StateStore,
    key: &str,
    record: &BackupRecord,
    version: &mut Version,
    run: &mut SetRun,
    set: &str,
) -> Result<(), RunError> {
    if !lease::save(state, key, record, version).await? {
        run.note(set, "another invocation took the set over");
    }
    Ok(())
}

/// The selected databases with their snapshots in both regions, the names not found, and the
/// copies in flight.
async fn observe(
    set: &BackupSet,
    t: &Targets,
) -> Result<(Vec<Observed>, Vec<String>, u32), PortError> {
    let all = t.primary.list_databases().await?;
    let selected: Vec<DatabaseInfo> = all.iter().filter(|d| set.selects(d)).cloned().collect();
    let missing: Vec<String> = set
        .databases
        .iter()
        .filter(|n| !all.iter().any(|d| &d.name == *n))
        .cloned()
        .collect();
    let mut snapshots = t.primary.snapshots_of(&selected).await?;
    // The quota is per destination region: copies of every database count, other sets' too
    // (RDS lists the region in one paged call either way).
    let mut copies = match &t.dr {
        Some((dr, _)) => Some(dr.snapshots_of(&all).await?),
        None => None,
    };
    let in_flight = copies
        .iter()
        .flat_map(|c| c.values().flatten())
        .filter(|s| s.managed && s.status == SnapshotStatus::Creating)
        .count() as u32;
    let observed = selected
        .into_iter()
        .map(|info| Observed {
            snapshots: snapshots.remove(&info.name).unwrap_or_default(),
            copies: copies
                .as_mut()
                .map(|c| c.remove(&info.name).unwrap_or_default()),
            info,
        })
        .collect();
    Ok((observed, missing, in_flight))
}

/// Carries out the steps, in order; what fails is a problem, what is refused for quota waits.
/// Returns whether a snapshot was available at once (its copy can start right away).
async fn act(
    plan: &BackupPlan,
    t: &Targets,
    record: &mut BackupRecord,
    run: &mut SetRun,
    set: &str,
    deferred: &[PendingSnapshot],
) -> bool {
    let mut fresh = false;
    for step in &plan.steps {
        match step {
            BackupStep::Prune { database, id, dr } => prune(t, run, set, database, id, *dr).await,
            BackupStep::Snapshot { database, id, .. } => {
                fresh |= snapshot(t, record, run, set, deferred, database, id).await;
            }
            BackupStep::Copy { database, snapshot } => {
                copy(t, record, run, set, database, snapshot).await;
            }
        }
    }
    fresh
}

/// Deletes a snapshot retention let go, in its region.
async fn prune(t: &Targets, run: &mut SetRun, set: &str, database: &String, id: &String, dr: bool) {
    let target = match (dr, &t.dr) {
        (false, _) => t.primary.as_ref(),
        (true, Some((d, _))) => d.as_ref(),
        (true, None) => return,
    };
    let Some(result) = run
        .effect(
            database,
            format!("prune-{id}{}", if dr { "-dr" } else { "" }),
            format!("prune {id}{}", if dr { " (DR region)" } else { "" }),
            target.delete_snapshot(database, id),
        )
        .await
    else {
        return;
    };
    match result {
        Ok(()) => {
            run.summary.pruned += 1;
            run.note(
                set,
                format!(
                    "{database}: pruned {id}{}",
                    if dr { " (DR region)" } else { "" }
                ),
            );
        }
        Err(e) => run.port_failure(database, &format!("pruning {id}"), &e),
    }
}

/// Starts this run's snapshot; true when the provider says it is available already. A full
/// manual-snapshot quota defers it (tried again for a day) and says so.
#[allow(clippy::too_many_arguments)]
async fn snapshot(
    t: &Targets,
    record: &mut BackupRecord,
    run: &mut SetRun,
    set: &str,
    deferred: &[PendingSnapshot],
    database: &String,
    id: &String,
) -> bool {
    // "Exists already" after this effect's own earlier attempt (its answer lost)
    // is the snapshot that attempt started: waited for like any other.
    let started = |_: &PortError| Snapshot {
        id: id.clone(),
        database: database.clone(),
        created: Utc::now().to_rfc3339(),
        status: SnapshotStatus::Creating,
        managed: true,
        arn: None,
        cluster: false,
    };
    let Some(result) = run
        .effect_settled(
            database,
            format!("snapshot-{id}"),
            format!("take snapshot {id}"),
            t.primary.create_snapshot(database, id),
            |e, tried| {
                (tried && e.is(ErrorKind::AlreadyExists))
                    .then(|| (started(e), "started by an earlier attempt of this run"))
            },
        )
        .await
    else {
        return false;
    };
    took(record, run, set, deferred, database, id, result)
}

/// What a snapshot's start came to; true when it is available already.
#[allow(clippy::too_many_arguments)]
fn took(
    record: &mut BackupRecord,
    run: &mut SetRun,
    set: &str,
    deferred: &[PendingSnapshot],
    database: &String,
    id: &String,
    result: Result<Snapshot, PortError>,
) -> bool {
    let mut fresh = false;
    match result {
        Ok(s) => {
            run.summary.started += 1;
            run.note(set, format!("{database}: snapshot {id} started"));
            if s.status == SnapshotStatus::Failed {
                run.problem(BackupProblem {
                    database: database.clone(),
                    message: format!("snapshot {id} of {database} failed"),
                    state: format!("failed:{id}"),
                });
            } else if s.status == SnapshotStatus::Available {
                // The provider says it is done already: nothing to wait for.
                run.summary.made += 1;
                run.note(set, format!("{database}: snapshot {id} is available"));
                fresh = true;
            } else {
                record.pending.push(PendingSnapshot {
                    database: database.clone(),
                    id: id.clone(),
                    since: Utc::now(),
                });
            }
        }
        // A duplicate invocation of the same schedule got there first.
        Err(e) if e.is(ErrorKind::AlreadyExists) => {
            run.note(set, format!("{database}: snapshot {id} exists already"))
        }
        // The region's manual-snapshot quota is full: the next runs try again
        // (for a day), and people hear of it now.
        Err(e) if e.is(ErrorKind::QuotaExceeded) => {
            let since = deferred
                .iter()
                .find(|d| &d.id == id)
                .map(|d| d.since)
                .unwrap_or_else(Utc::now);
            record.deferred.push(PendingSnapshot {
                database: database.clone(),
                id: id.clone(),
                since,
            });
            run.problem(BackupProblem {
                    database: database.clone(),
                    message: format!(
                        "snapshot {id} of {database} could not start: the manual-snapshot quota is full (prune or raise it); the next runs try again"
                    ),
                    state: format!("deferred:{id}"),
                });
        }
        Err(e) => run.port_failure(database, &format!("snapshot {id}"), &e),
    }
    fresh
}

/// Starts a copy to the disaster-recovery region; quota or throttling queues it for the next
/// run.
async fn copy(
    t: &Targets,
    record: &mut BackupRecord,
    run: &mut SetRun,
    set: &str,
    database: &String,
    snapshot: &Snapshot,
) {
    let Some((dr, cfg)) = &t.dr else { return };
    let Some(result) = run
        .effect(
            database,
            format!("copy-{}", snapshot.id),
            format!("copy {} to {}", snapshot.id, cfg.region),
            dr.copy_snapshot(snapshot, cfg.kms_key.as_deref()),
        )
        .await
    else {
        return;
    };
    match result {
        Ok(_) => {
            run.summary.copied += 1;
            run.note(
                set,
                format!(
                    "{database}: copy of {} to {} started",
                    snapshot.id, cfg.region
                ),
            );
        }
        Err(e) if e.is(ErrorKind::AlreadyExists) => {}
        // Quota or throttling: it waits in the queue for the next run, tried once
        // per run, never in a loop.
        Err(e) if e.retry == Retry::Transient || e.is(ErrorKind::QuotaExceeded) => {
            run.note(
                set,
                format!("{database}: copy of {} waits: {}", snapshot.id, e.message),
            );
            record.queue.insert(
                0,
                QueuedCopy {
                    database: database.clone(),
                    id: snapshot.id.clone(),
                    since: Utc::now(),
                },
            );
        }
        Err(e) => run.port_failure(database, &format!("copying {}", snapshot.id), &e),
    }
}
