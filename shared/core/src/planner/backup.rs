//! Database backups: what one run of a backup set does, from what it observed.
//!
//! A run names its snapshots after the schedule's time (`<db>-<yyyymmdd-hhmmss>`), so the same
//! schedule event delivered twice finds its snapshot already there and takes no second one.
//! Snapshots still being taken are followed up by later runs (the `pending` list in the state
//! store), and copies to the disaster-recovery region start only while fewer than the quota are
//! in flight: the rest wait in a queue, oldest first, for a later run.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::planner::retention::{RetentionPolicy, Verdict, retention};
use crate::ports::{DatabaseInfo, DatabaseKind, Snapshot, SnapshotStatus};

/// A snapshot a run started and later runs follow until the provider says how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingSnapshot {
    /// Database.
    pub database: String,
    /// Snapshot id.
    pub id: String,
    /// When it was started.
    pub since: DateTime<Utc>,
}

/// A copy to the disaster-recovery region that could not start yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedCopy {
    /// Database.
    pub database: String,
    /// Snapshot id (the copy gets the same id).
    pub id: String,
    /// When it was first queued.
    pub since: DateTime<Utc>,
}

/// What a run observed of one selected database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// The database.
    pub info: DatabaseInfo,
    /// Its snapshots in its own region.
    pub snapshots: Vec<Snapshot>,
    /// Its snapshots in the disaster-recovery region, when copies are configured.
    pub copies: Option<Vec<Snapshot>>,
}

/// Everything one run decides from.
#[derive(Debug, Clone)]
pub struct BackupInputs<'a> {
    /// The schedule's time: names this run's snapshots.
    pub run_at: DateTime<Utc>,
    /// The clock.
    pub now: DateTime<Utc>,
    /// Whether this run takes snapshots (a follow-up run only follows up, copies and prunes).
    pub take_snapshots: bool,
    /// The selected databases.
    pub databases: &'a [Observed],
    /// Databases the set names that do not exist.
    pub missing: &'a [String],
    /// Snapshots earlier runs started and have not seen finish.
    pub pending: &'a [PendingSnapshot],
    /// Copies waiting for a free slot.
    pub queue: &'a [QueuedCopy],
    /// Snapshots an earlier run could not start (the manual-snapshot quota was full).
    pub deferred: &'a [PendingSnapshot],
    /// Copies to the disaster-recovery region in progress now (all of twincloud's).
    pub copies_in_flight: u32,
}

/// The policy a run applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupPolicy {
    /// Snapshot retention in the databases' region.
    pub retention: RetentionPolicy,
    /// A newest good snapshot older than this is a missed backup.
    pub max_age_hours: u32,
    /// Retention and the in-flight quota of copies, when copies are configured.
    pub dr: Option<(RetentionPolicy, u32)>,
}

/// One thing a run does, in the order given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum BackupStep {
    /// Delete an old snapshot twincloud made (in the DR region when `dr`).
    Prune {
        /// Database.
        database: String,
        /// Snapshot id.
        id: String,
        /// In the disaster-recovery region.
        dr: bool,
    },
    /// Take a snapshot.
    Snapshot {
        /// Database.
        database: String,
        /// Snapshot id.
        id: String,
        /// Of a cluster.
        cluster: bool,
    },
    /// Start a copy to the disaster-recovery region.
    Copy {
        /// Database.
        database: String,
        /// The snapshot to copy.
        snapshot: Snapshot,
    },
}

/// A problem worth telling people about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupProblem {
    /// Database.
    pub database: String,
    /// What is wrong.
    pub message: String,
    /// Identifies the problem across runs, so it is told once.
    pub state: String,
}

/// What one run decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupPlan {
    /// Steps: prunes, then snapshots, then copies.
    pub steps: Vec<BackupStep>,
    /// Snapshots still to follow up after this run's steps (the run adds those it starts).
    pub pending: Vec<PendingSnapshot>,
    /// Copies that wait for a later run.
    pub queue: Vec<QueuedCopy>,
    /// Snapshots that finished well since the last run.
    pub made: Vec<(String, String)>,
    /// Problems.
    pub problems: Vec<BackupProblem>,
    /// What was decided and why, for the report.
    pub notes: Vec<String>,
}

/// The id of a snapshot of `database` taken by the run of `run_at`.
pub fn snapshot_id(database: &str, run_at: DateTime<Utc>) -> String {
    format!("{database}-{}", run_at.format("%Y%m%d-%H%M%S"))
}

/// How long a snapshot may take before it is reported as stuck, and how long one that could
/// not start is tried again.
const STUCK_AFTER_HOURS: i64 = 24;

/// Plans one run.
pub fn plan_backup(inputs: &BackupInputs<'_>, policy: &BackupPolicy) -> BackupPlan {
    let mut plan = BackupPlan::default();
    for name in inputs.missing {
        plan.problems.push(BackupProblem {
            database: name.clone(),
            message: format!("database `{name}` does not exist: nothing was backed up"),
            state: "missing".into(),
        });
    }
    follow_up(inputs, &mut plan);
    let (mut prunes, mut snapshots) = (Vec::new(), Vec::new());
    for db in inputs.databases {
        let name = &db.info.name;
        let id = snapshot_id(name, inputs.run_at);
        let exists = db.snapshots.iter().any(|s| s.id == id);
        let pending_now = inputs.pending.iter().any(|p| &p.database == name);
        if inputs.take_snapshots && exists {
            plan.notes.push(format!(
                "{name}: snapshot {id} exists already (this schedule ran before)"
            ));
        }
        let snapshot_now = inputs.take_snapshots && !exists;
        // A snapshot an earlier run could not start is taken late under its own id, unless
        // this run takes a newer one or a day has gone by.
        let late = inputs
            .deferred
            .iter()
            .filter(|d| &d.database == name && !snapshot_now)
            .find(|d| !db.snapshots.iter().any(|s| s.id == d.id));
        if snapshot_now {
            snapshots.push(BackupStep::Snapshot {
                database: name.clone(),
                id: id.clone(),
                cluster: db.info.kind == DatabaseKind::Cluster,
            });
        } else if let Some(d) = late {
            if inputs.now - d.since > Duration::hours(STUCK_AFTER_HOURS) {
                plan.problems.push(BackupProblem {
                    database: name.clone(),
                    message: format!(
                        "snapshot {} of {name} could not start for a day (snapshot quota?): given up",
                        d.id
                    ),
                    state: format!("given-up:{}", d.id),
                });
            } else {
                plan.notes
                    .push(format!("{name}: snapshot {} is tried again", d.id));
                snapshots.push(BackupStep::Snapshot {
                    database: name.clone(),
                    id: d.id.clone(),
                    cluster: db.info.kind == DatabaseKind::Cluster,
                });
            }
        } else if !pending_now && !exists {
            missed(db, inputs.now, policy.max_age_hours, &mut plan);
        }
        prune(inputs, policy, db, &mut plan, &mut prunes);
    }
    let copies = plan_copies(inputs, policy, &mut plan);
    plan.steps = prunes.into_iter().chain(snapshots).chain(copies).collect();
    plan
}

/// Retention of one database's snapshots in both regions; the source of a copy still queued or
/// running is kept until it is copied.
fn prune(
    inputs: &BackupInputs<'_>,
    policy: &BackupPolicy,
    db: &Observed,
    plan: &mut BackupPlan,
    prunes: &mut Vec<BackupStep>,
) {
    let name = &db.info.name;
    // Sources of queued or running copies stay until copied.
    let copying: Vec<&str> = inputs
        .queue
        .iter()
        .filter(|q| &q.database == name)
        .map(|q| q.id.as_str())
        .chain(
            db.copies
                .iter()
                .flatten()
                .filter(|c| c.status == SnapshotStatus::Creating)
                .map(|c| c.id.as_str()),
        )
        .collect();
    for v in retention(&db.snapshots, &policy.retention, inputs.now) {
        match v {
            Verdict::Prune { id } if copying.contains(&id.as_str()) => plan
                .notes
                .push(format!("{name}: {id} is old but waits to be copied: kept")),
            Verdict::Prune { id } => prunes.push(BackupStep::Prune {
                database: name.clone(),
                id,
                dr: false,
            }),
            Verdict::Keep { .. } => {}
        }
    }
    if let (Some(copies), Some((dr_retention, _))) = (&db.copies, policy.dr) {
        for v in retention(copies, &dr_retention, inputs.now) {
            if let Verdict::Prune { id } = v {
                prunes.push(BackupStep::Prune {
                    database: name.clone(),
                    id,
                    dr: true,
                });
            }
        }
    }
}

/// Follows up the snapshots earlier runs started.
fn follow_up(inputs: &BackupInputs<'_>, plan: &mut BackupPlan) {
    for p in inputs.pending {
        let found = inputs
            .databases
            .iter()
            .find(|d| d.info.name == p.database)
            .and_then(|d| d.snapshots.iter().find(|s| s.id == p.id));
        match found.map(|s| s.status) {
            Some(SnapshotStatus::Available) => plan.made.push((p.database.clone(), p.id.clone())),
            Some(SnapshotStatus::Failed) => plan.problems.push(BackupProblem {
                database: p.database.clone(),
                message: format!("snapshot {} of {} failed", p.id, p.database),
                state: format!("failed:{}", p.id),
            }),
            Some(SnapshotStatus::Creating) => {
                if inputs.now - p.since > Duration::hours(STUCK_AFTER_HOURS) {
                    plan.problems.push(BackupProblem {
                        database: p.database.clone(),
                        message: format!(
                            "snapshot {} of {} has been in progress since {}",
                            p.id,
                            p.database,
                            p.since.to_rfc3339()
                        ),
                        state: format!("stuck:{}", p.id),
                    });
                }
                plan.pending.push(p.clone());
            }
            None if inputs.databases.iter().any(|d| d.info.name == p.database) => {
                plan.problems.push(BackupProblem {
                    database: p.database.clone(),
                    message: format!(
                        "snapshot {} of {} disappeared before it was available",
                        p.id, p.database
                    ),
                    state: format!("vanished:{}", p.id),
                })
            }
            // The database left the set (or was deleted): its missing entry says so.
            None => {}
        }
    }
}

/// The newest snapshot twincloud made that is restorable, with its creation time.
pub fn newest_good(snapshots: &[Snapshot]) -> Option<(DateTime<Utc>, &Snapshot)> {
    snapshots
        .iter()
        .filter(|s| s.managed && s.status == SnapshotStatus::Available)
        .filter_map(|s| {
            DateTime::parse_from_rfc3339(&s.created)
                .ok()
                .map(|t| (t.with_timezone(&Utc), s))
        })
        .max_by_key(|(t, _)| *t)
}

/// Reports a database whose newest good snapshot is too old.
fn missed(db: &Observed, now: DateTime<Utc>, max_age_hours: u32, plan: &mut BackupPlan) {
    if let Some((t, s)) = newest_good(&db.snapshots)
        && now - t > crate::planner::span_secs(u64::from(max_age_hours) * 3_600)
    {
        plan.problems.push(BackupProblem {
            database: db.info.name.clone(),
            message: format!(
                "the newest good backup of {} is {} ({} hours old, more than {max_age_hours}): scheduled runs were missed",
                db.info.name,
                s.id,
                (now - t).num_hours()
            ),
            state: format!("missed:{}", s.id),
        });
    }
}

/// Which copies start now and which wait.
fn plan_copies(
    inputs: &BackupInputs<'_>,
    policy: &BackupPolicy,
    plan: &mut BackupPlan,
) -> Vec<BackupStep> {
    let Some((_, max_in_flight)) = policy.dr else {
        return vec![];
    };
    // The newest good snapshot of each database, unless the DR region has it or a newer one
    // (ids sort by time): older snapshots are never copied late, DR retention let them go.
    let mut wanted: Vec<(&Observed, &Snapshot)> = inputs
        .databases
        .iter()
        .filter_map(|db| {
            let copies = db.copies.as_ref()?;
            let newest = db
                .snapshots
                .iter()
                .filter(|s| s.managed && s.status == SnapshotStatus::Available)
                .max_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)))?;
            let covered = copies
                .iter()
                .any(|c| c.managed && c.id.as_str() >= newest.id.as_str());
            (!covered).then_some((db, newest))
        })
        .collect();
    // Those already waiting go first, in the order they were queued.
    let position = |db: &str, id: &str| {
        inputs
            .queue
            .iter()
            .position(|q| q.database == db && q.id == id)
            .unwrap_or(usize::MAX)
    };
    wanted.sort_by(|a, b| {
        position(&a.0.info.name, &a.1.id)
            .cmp(&position(&b.0.info.name, &b.1.id))
            .then_with(|| a.1.created.cmp(&b.1.created))
            .then_with(|| a.1.id.cmp(&b.1.id))
    });
    let free = max_in_flight.saturating_sub(inputs.copies_in_flight) as usize;
    let mut steps = Vec::new();
    for (i, (db, s)) in wanted.into_iter().enumerate() {
        if i < free {
            steps.push(BackupStep::Copy {
                database: db.info.name.clone(),
                snapshot: s.clone(),
            });
        } else {
            let since = inputs
                .queue
                .iter()
                .find(|q| q.database == db.info.name && q.id == s.id)
                .map(|q| q.since)
                .unwrap_or(inputs.now);
            plan.queue.push(QueuedCopy {
                database: db.info.name.clone(),
                id: s.id.clone(),
                since,
            });
        }
    }
    if !plan.queue.is_empty() {
        plan.notes.push(format!(
            "{} cop{} in flight of {max_in_flight} allowed: {} queued for a later run",
            inputs.copies_in_flight + steps.len() as u32,
            if inputs.copies_in_flight + steps.len() as u32 == 1 {
                "y"
            } else {
                "ies"
            },
            plan.queue.len()
        ));
    }
    steps
}

#[cfg(test)]
mod tests;
