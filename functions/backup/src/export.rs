//! Cloud SQL exports of a backup set: one per database per run, started once the instance's
//! backup run is done (an instance runs one operation at a time), followed until the operation
//! is `DONE` and the object is in the bucket with a non-zero size; old exports pruned by the
//! same retention rules as snapshots.

use chrono::{DateTime, NaiveDateTime, Utc};
use futures_util::StreamExt;
use twincloud_core::Location;
use twincloud_core::config::ExportPolicy;

use twincloud_core::planner::backup::{BackupProblem, Observed, snapshot_id};
use twincloud_core::planner::retention::{RetentionPolicy, Verdict, retention};
use twincloud_core::ports::{
    DatabaseExport, ObjectStore, OperationState, PortError, Precondition, Retry, Snapshot,
    SnapshotStatus,
};

use super::set_run::SetRun;
use super::targets::Exports;
use super::{BackupRecord, PendingExport};

fn uri(to: &Location, key: &str) -> String {
    let base = to.to_string();
    if base.ends_with('/') {
        format!("{base}{key}")
    } else {
        format!("{base}/{key}")
    }
}

/// Asks for this run's exports, starts those whose instance is free, follows the started ones
/// and, once one is done, prunes the old ones of its database.
pub(super) async fn run_exports(
    (exporter, store, policy): &Exports,
    observed: &[Observed],
    run_at: DateTime<Utc>,
    new_run: bool,
    record: &mut BackupRecord,
    run: &mut SetRun,
    set: &str,
) {
    if new_run {
        ask_exports(store.as_ref(), policy, observed, run_at, record, run, set).await;
    }
    let mut still = Vec::new();
    let mut finished = Vec::new();
    for e in std::mem::take(&mut record.exports) {
        let busy = record.pending.iter().any(|p| p.database == e.database);
        match e.operation.clone() {
            None if busy => still.push(e),
            None => {
                if let Some(e) = start(exporter.as_ref(), policy, e, run, set).await {
                    still.push(e);
                }
            }
            Some(op) => match exporter.operation(&op).await {
                Ok(o) => match o.state {
                    OperationState::Running => still.push(e),
                    OperationState::Failed(why) => run.problem(BackupProblem {
                        database: e.database.clone(),
                        message: format!("export {} of {} failed: {why}", e.key, e.database),
                        state: format!("failed:{}", e.key),
                    }),
                    OperationState::Done => {
                        if verify(store.as_ref(), &e, run, set).await {
                            finished.push(e.database.clone());
                        }
                    }
                },
                Err(err) if err.retry == Retry::Transient => still.push(e),
                Err(err) => run.port_failure(&e.database, "export operation", &err),
            },
        }
    }
    record.exports = still;
    // Old exports go once a new one is there (retention never lets the newest go).
    for db in finished {
        prune(store.as_ref(), &db, policy, run, set).await;
    }
}

/// This run's exports, one per database, asked for unless already in the bucket or asked.
async fn ask_exports(
    store: &dyn ObjectStore,
    policy: &ExportPolicy,
    observed: &[Observed],
    run_at: DateTime<Utc>,
    record: &mut BackupRecord,
    run: &mut SetRun,
    set: &str,
) {
    for db in observed {
        let name = &db.info.name;
        let key = format!(
            "{name}/{}.{}",
            snapshot_id(name, run_at),
            policy.format.extension()
        );
        let known = record.exports.iter().any(|e| e.key == key);
        match store.head(&key).await {
            Ok(Some(_)) => run.note(set, format!("{name}: export {key} exists already")),
            Ok(None) if !known => record.exports.push(PendingExport {
                database: name.clone(),
                key,
                operation: None,
                since: Utc::now(),
            }),
            Ok(None) => {}
            Err(e) => run.problem(BackupProblem {
                database: name.clone(),
                message: format!("{name}: export bucket unreadable: {e}"),
                state: "error:export-bucket".into(),
            }),
        }
    }
}

/// Starts an export; the export back while it is still to follow (started, or waiting).
async fn start(
    exporter: &dyn DatabaseExport,
    policy: &ExportPolicy,
    mut e: PendingExport,
    run: &mut SetRun,
    set: &str,
) -> Option<PendingExport> {
    let to = uri(&policy.to, &e.key);
    let Some(result) = run
        .effect(
            &e.database,
            format!("export-{}", e.key),
            format!("export to {to}"),
            exporter.start_export(&e.database, &to, &policy.databases, &policy.format),
        )
        .await
    else {
        return Some(e);
    };
    match result {
        Ok(op) => {
            run.note(set, format!("{}: export to {} started", e.database, e.key));
            e.operation = Some(op.id);
            Some(e)
        }
        Err(err) if err.retry == Retry::Transient => {
            run.note(
                set,
                format!("{}: export waits: {}", e.database, err.message),
            );
            Some(e)
        }
        Err(err) => {
            run.port_failure(&e.database, "export", &err);
            None
        }
    }
}

/// An export counts only when its object is there and not empty.
async fn verify(store: &dyn ObjectStore, e: &PendingExport, run: &mut SetRun, set: &str) -> bool {
    match store.head(&e.key).await {
        Ok(Some(h)) if h.info.size > 0 => {
            run.summary.made += 1;
            run.note(
                set,
                format!(
                    "{}: export {} done ({} bytes)",
                    e.database, e.key, h.info.size
                ),
            );
            return true;
        }
        Ok(_) => run.problem(BackupProblem {
            database: e.database.clone(),
            message: format!(
                "export {} of {} finished but the object is missing or empty",
                e.key, e.database
            ),
            state: format!("empty:{}", e.key),
        }),
        Err(err) => run.problem(BackupProblem {
            database: e.database.clone(),
            message: format!(
                "export {} of {} cannot be checked: {err}",
                e.key, e.database
            ),
            state: format!("unchecked:{}", e.key),
        }),
    }
    false
}

/// The time in an export's name (`<db>-<yyyymmdd-hhmmss>.<ext>`), if it is one of ours.
fn export_time(database: &str, key: &str) -> Option<DateTime<Utc>> {
    let file = key.strip_prefix(&format!("{database}/{database}-"))?;
    let stamp = file.get(..15)?;
    NaiveDateTime::parse_from_str(stamp, "%Y%m%d-%H%M%S")
        .ok()
        .map(|t| t.and_utc())
}

/// Deletes exports of `database` older than the export retention (the newest always stays).
async fn prune(
    store: &dyn ObjectStore,
    database: &str,
    policy: &ExportPolicy,
    run: &mut SetRun,
    set: &str,
) {
    let mut listing = store.list(&format!("{database}/"), None);
    let mut exports = Vec::new();
    while let Some(item) = listing.next().await {
        match item {
            Ok(o) => {
                if let Some(t) = export_time(database, &o.key) {
                    exports.push(Snapshot {
                        id: o.key,
                        database: database.into(),
                        created: t.to_rfc3339(),
                        status: if o.size > 0 {
                            SnapshotStatus::Available
                        } else {
                            SnapshotStatus::Failed
                        },
                        managed: true,
                        arn: None,
                        cluster: false,
                    });
                }
            }
            Err(e) => {
                run.note(
                    set,
                    format!("{database}: exports not listed, none pruned: {e}"),
                );
                return;
            }
        }
    }
    let rules = RetentionPolicy {
        retain_days: policy.retain_days,
        keep_min: 1,
    };
    for v in retention(&exports, &rules, Utc::now()) {
        if let Verdict::Prune { id } = v {
            let delete = async {
                store
                    .delete(&id, &Precondition::None)
                    .await
                    .map_err(|e| PortError::new(e.to_string(), e.retry()))
            };
            let Some(result) = run
                .effect(
                    database,
                    format!("prune-export-{id}"),
                    format!("prune export {id}"),
                    delete,
                )
                .await
            else {
                continue;
            };
            match result {
                Ok(()) => {
                    run.summary.pruned += 1;
                    run.note(set, format!("{database}: pruned export {id}"));
                }
                Err(e) => run.problem(BackupProblem {
                    database: database.into(),
                    message: format!("{database}: pruning export {id} failed: {e}"),
                    state: format!("error:prune:{id}"),
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_export_names_carry_a_time() {
        assert_eq!(
            export_time("db", "db/db-20261122-030000.sql.gz").map(|t| t.to_rfc3339()),
            Some("2026-11-22T03:00:00+00:00".into())
        );
        assert!(export_time("db", "db/manual-dump.sql").is_none());
        assert!(export_time("db", "db/db-2026.sql").is_none());
        assert!(export_time("db", "other/db-20261122-030000.sql.gz").is_none());
    }
}
