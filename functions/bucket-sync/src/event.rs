//! One object event: copy just that object, or, when the pair allows it and within its hourly
//! budget, delete the copy twincloud made of an object the source no longer has.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use twincloud_core::Signal;
use twincloud_core::config::{SyncConfig, SyncPair};
use twincloud_core::ids::key_segment;
use twincloud_core::ports::{Precondition, Retry, StateError, get_json};
use twincloud_core::signal::{ObjectChange, ObjectStoreKind, Report, Severity};

use super::{FUNCTION, stores};
use crate::engine::{Outcome, delete_copy_of_gone, sync_key, unless_rehearsed};
use twincloud_runtime::effects::{Effect, Effects};
use twincloud_runtime::error::RunError;
use twincloud_runtime::executor::{Execution, Outcome as ExecOutcome};
use twincloud_runtime::function::Invocation;
use twincloud_runtime::report::send_report;
use twincloud_runtime::services::Services;

/// Deletes made on events in one hour, per pair.
#[derive(Debug, Default, Serialize, Deserialize)]
struct DeleteBudget {
    used: u64,
}

fn budget_key(pair: &SyncPair, now: DateTime<Utc>) -> String {
    format!(
        "sync/{}/event-deletes/{}",
        key_segment(&pair.name),
        now.format("%Y-%m-%dT%H")
    )
}

/// Takes one delete from the pair's budget for this hour; `false` once it is spent. Concurrent
/// events count exactly: a compare-and-swap, retried on a conflict.
async fn take_delete(
    services: &Services,
    pair: &SyncPair,
    now: DateTime<Utc>,
) -> Result<bool, RunError> {
    let key = budget_key(pair, now);
    for _ in 0..16 {
        let (budget, expect) = match get_json::<DeleteBudget>(services.state.as_ref(), &key).await?
        {
            Some((b, v)) => (b, Precondition::Matches(v)),
            None => (DeleteBudget::default(), Precondition::Absent),
        };
        if budget.used >= pair.max_event_deletes_per_hour {
            return Ok(false);
        }
        let next = serde_json::to_vec(&DeleteBudget {
            used: budget.used + 1,
        })
        .map_err(|e| RunError::Permanent(e.to_string()))?;
        match services.state.put(&key, &next, &expect).await {
            Ok(_) => return Ok(true),
            Err(StateError::ConditionFailed(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(RunError::Transient(format!(
        "{}: the event delete budget kept changing under concurrent events",
        pair.name
    )))
}

/// What one pair did with the event's key.
enum Step {
    Synced(Result<Outcome, twincloud_core::ports::ObjectError>),
    /// The budget is spent: the delete waits for the reconcile's gate.
    Deferred,
}

pub(super) async fn on_object(
    cfg: &SyncConfig,
    signal: &Signal,
    o: &ObjectChange,
    services: &Services,
    inv: Invocation,
) -> Result<Vec<Execution>, RunError> {
    let mut exec = Execution::nothing(FUNCTION, &signal.id);
    // Each copy or delete is said through the effects handle (audited, and counted in the
    // exit code); the sync engine's comparison makes it idempotent.
    let mut fx = Effects::new(services, FUNCTION, &signal.id, inv);
    let pairs = cfg.pairs_for(o.store == ObjectStoreKind::S3, &o.bucket, &o.key);
    if pairs.is_empty() {
        exec.plan.notes.push(format!(
            "{}/{} is in no sync pair's source",
            o.bucket, o.key
        ));
        return Ok(vec![exec]);
    }
    let mut out = vec![];
    for (pair, key) in pairs {
        if key.ends_with('/') {
            exec.plan.notes.push(format!(
                "{}: `{key}` is a folder placeholder, not an object: nothing to copy",
                pair.name
            ));
            continue;
        }
        let started = std::time::Instant::now();
        let result = match step(services, &fx, o, pair, &key, inv).await? {
            Step::Synced(r) => r,
            Step::Deferred => {
                exec.plan.notes.push(format!(
                    "{}: `{key}`: deleted in the source; the pair's {} event deletes this hour are spent, so the copy stays until the next reconcile's delete gate",
                    pair.name, pair.max_event_deletes_per_hour
                ));
                out.push(delete_budget_spent(services, signal, pair, &key, inv).await?);
                continue;
            }
        };
        if let Some((what, outcome)) = changed(&result, pair, &key) {
            let reason = format!(
                "object event for {}/{} (pair {})",
                o.bucket, o.key, pair.name
            );
            fx.record_batch(
                Effect::new(format!("{}-{key}", pair.name), what, reason),
                outcome,
                None,
                started,
            )
            .await;
        }
        match result {
            Ok(outcome) => exec.plan.notes.push(format!(
                "{}: `{key}`: {}",
                pair.name,
                said(&outcome, o, pair)
            )),
            Err(e) if e.retry() == Retry::Transient => {
                return Err(RunError::Transient(format!("{}: `{key}`: {e}", pair.name)));
            }
            Err(e) => {
                out.push(not_copied(services, signal, pair, &key, &e, inv).await?);
                exec.plan
                    .notes
                    .push(format!("{}: `{key}`: failed: {e}", pair.name));
            }
        }
    }
    exec.actions.extend(fx.take_reports());
    out.insert(0, exec);
    Ok(out)
}

/// What the event's key comes to in one pair: the current source object copied (whatever the
/// event says: a stale or repeated event finds the destination already the same), or the
/// copy of an object gone from the source deleted, within the pair's hourly budget.
async fn step(
    services: &Services,
    fx: &Effects,
    o: &ObjectChange,
    pair: &SyncPair,
    key: &str,
    inv: Invocation,
) -> Result<Step, RunError> {
    let (source, destination) = stores(services, pair).await?;
    let synced = unless_rehearsed(fx, sync_key(source.clone(), destination.clone(), key)).await;
    if !(matches!(synced, Ok(Outcome::SourceGone)) && !o.created && pair.delete_on_event) {
        return Ok(Step::Synced(synced));
    }
    Ok(if take_delete(services, pair, inv.now).await? {
        Step::Synced(unless_rehearsed(fx, delete_copy_of_gone(source, destination, key)).await)
    } else {
        Step::Deferred
    })
}

/// The effect a result is, when it changed (or failed to change) the destination.
fn changed(
    result: &Result<Outcome, twincloud_core::ports::ObjectError>,
    pair: &SyncPair,
    key: &str,
) -> Option<(String, ExecOutcome)> {
    match result {
        Ok(Outcome::Copied(n)) => Some((
            format!("copy `{key}` to {}", pair.destination),
            ExecOutcome::Done {
                detail: Some(format!("{n} bytes")),
            },
        )),
        Ok(Outcome::Deleted) => Some((
            format!("delete `{key}` from {}", pair.destination),
            ExecOutcome::Done { detail: None },
        )),
        Ok(_) => None,
        Err(e) => Some((
            format!("copy `{key}` to {}", pair.destination),
            ExecOutcome::Failed {
                error: e.to_string(),
                retry: e.retry(),
            },
        )),
    }
}

/// What became of the key, in words.
fn said(outcome: &Outcome, o: &ObjectChange, pair: &SyncPair) -> String {
    match outcome {
        Outcome::Copied(n) => format!("copied ({n} bytes)"),
        Outcome::Same(by) => format!("already the same ({by:?})"),
        Outcome::SourceGone if !o.created && !pair.delete_on_event => {
            "deleted in the source; kept in the destination (delete_on_event is off)".into()
        }
        Outcome::SourceGone => "not in the source; nothing to do".into(),
        Outcome::Deleted => "deleted from the destination".into(),
        Outcome::Retained => "the destination copy is under retention or a hold: left alone".into(),
        Outcome::Foreign => {
            "the destination object was not written by twincloud: left alone".into()
        }
        Outcome::Rehearsed => "would sync (a dry run reads and copies nothing)".into(),
    }
}

/// Says that the pair's event deletes for this hour are spent (once an hour).
async fn delete_budget_spent(
    services: &Services,
    signal: &Signal,
    pair: &SyncPair,
    key: &str,
    inv: Invocation,
) -> Result<Execution, RunError> {
    let r = Report {
        function: FUNCTION.into(),
        title: format!(
            "Bucket sync {}: more than {} deletes in an hour; deletes wait for the reconcile",
            pair.name, pair.max_event_deletes_per_hour
        ),
        summary: format!(
            "The source {} is deleting objects faster than the pair's budget (max_event_deletes_per_hour). Copies in {} are kept; the next reconcile deletes them only within its own limits (max_delete, max_delete_percent). If this is a mass delete, stop it at the source.",
            pair.source, pair.destination
        ),
        severity: Severity::Warning,
        fields: vec![("Last key".into(), key.to_owned())],
        subject: format!("sync:{}:event-delete-budget", pair.name),
        state: inv.now.format("%Y-%m-%dT%H").to_string(),
    };
    send_report(services, r, &signal.id, "delete-budget", inv).await
}

/// Says that a key could not be copied, for a reason no retry fixes.
async fn not_copied(
    services: &Services,
    signal: &Signal,
    pair: &SyncPair,
    key: &str,
    e: &twincloud_core::ports::ObjectError,
    inv: Invocation,
) -> Result<Execution, RunError> {
    let r = Report {
        function: FUNCTION.into(),
        title: format!("Bucket sync {}: `{key}` not copied", pair.name),
        summary: e.to_string(),
        severity: Severity::Warning,
        fields: vec![
            ("Source".into(), pair.source.to_string()),
            ("Destination".into(), pair.destination.to_string()),
        ],
        subject: format!("sync:{}:{key}", pair.name),
        state: "failed".into(),
    };
    send_report(services, r, &signal.id, "failed", inv).await
}
