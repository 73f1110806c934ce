//! Runs plans: a guard first, then each action once per event (claimed with a lease, marked
//! done), one audit record per action, and channel failures isolated from each other.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use twincloud_core::ids::key_segment;
use twincloud_core::plan::{Action, Guard, Operation, Plan};
use twincloud_core::ports::{Precondition, Retry, StateError, Version, get_json};

use crate::audit::AuditRecord;
use crate::error::RunError;
use crate::services::Services;

/// How long a claimed action is reserved for the invocation that claimed it. A claim older than
/// this belongs to an invocation that died; the action may be retried.
pub const CLAIM_LEASE_SECS: i64 = 300;

/// What happened to one action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// `--dry-run`: not executed.
    WouldRun,
    /// Done now.
    Done {
        /// Provider detail (message id, ...).
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// Done by an earlier delivery of the same event: not run again.
    AlreadyDone {
        /// When it was done.
        at: DateTime<Utc>,
    },
    /// Not run, and that is fine.
    Skipped {
        /// Why.
        why: String,
    },
    /// Failed.
    Failed {
        /// What went wrong.
        error: String,
        /// Whether a retry may help.
        retry: Retry,
    },
}

impl Outcome {
    /// Whether the action's effect is in place: done now or by an earlier delivery.
    pub fn succeeded(&self) -> bool {
        matches!(self, Outcome::Done { .. } | Outcome::AlreadyDone { .. })
    }
}

/// One action and its outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionReport {
    /// Action id.
    pub id: String,
    /// One line.
    pub what: String,
    /// Why it was planned.
    pub reason: String,
    /// What happened.
    pub outcome: Outcome,
    /// How long it took.
    #[serde(default)]
    pub elapsed_ms: u64,
}

/// The result of running one plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    /// The plan.
    pub plan: Plan,
    /// True when another invocation had already claimed this decision (the guard lost).
    pub superseded: bool,
    /// Per action.
    pub actions: Vec<ActionReport>,
    /// The version of the guard's record this invocation wrote last, while it still holds it
    /// (a caller releases a lock with a compare-and-swap on it).
    #[serde(skip)]
    pub guard_version: Option<Version>,
}

impl Execution {
    /// An execution of an empty plan.
    pub fn nothing(function: &str, event_id: &str) -> Execution {
        Execution {
            plan: Plan::new(function, event_id),
            superseded: false,
            actions: vec![],
            guard_version: None,
        }
    }

    /// An execution of an empty plan that says why nothing was done.
    pub fn noted(function: &str, event_id: &str, note: impl Into<String>) -> Execution {
        let mut e = Execution::nothing(function, event_id);
        e.plan.notes.push(note.into());
        e
    }

    /// The first transient failure, if any (the platform should retry the event).
    pub fn transient_failure(&self) -> Option<&str> {
        self.actions.iter().find_map(|a| match &a.outcome {
            Outcome::Failed {
                error,
                retry: Retry::Transient,
            } => Some(error.as_str()),
            _ => None,
        })
    }

    /// Permanent failures, reported but not retried.
    pub fn permanent_failures(&self) -> Vec<&str> {
        self.actions
            .iter()
            .filter_map(|a| match &a.outcome {
                Outcome::Failed {
                    error,
                    retry: Retry::Permanent,
                } => Some(error.as_str()),
                _ => None,
            })
            .collect()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum ActionRecord {
    Claimed {
        at: DateTime<Utc>,
    },
    Done {
        at: DateTime<Utc>,
        detail: Option<String>,
    },
}

fn action_key(plan: &Plan, a: &Action) -> String {
    format!(
        "actions/{}/{}/{}",
        key_segment(&plan.function),
        key_segment(&plan.event_id),
        key_segment(&a.id)
    )
}

/// Runs `plan` against `services`. With `dry_run`, nothing is written or sent.
pub async fn execute(
    services: &Services,
    plan: Plan,
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<Execution, RunError> {
    if dry_run {
        let actions = plan
            .actions
            .iter()
            .map(|a| ActionReport {
                id: a.id.clone(),
                what: a.op.describe(),
                reason: a.reason.clone(),
                outcome: Outcome::WouldRun,
                elapsed_ms: 0,
            })
            .collect();
        return Ok(Execution {
            plan,
            superseded: false,
            actions,
            guard_version: None,
        });
    }
    let mut held = match &plan.guard {
        Some(g) => match take_guard(services, g).await? {
            Some(version) => Some(Held {
                version,
                since: std::time::Instant::now(),
            }),
            None => {
                tracing::info!(key = %g.key, "another invocation already claimed this decision");
                return Ok(Execution {
                    plan,
                    superseded: true,
                    actions: vec![],
                    guard_version: None,
                });
            }
        },
        None => None,
    };
    let mut reports: Vec<ActionReport> = Vec::with_capacity(plan.actions.len());
    for a in &plan.actions {
        let started = std::time::Instant::now();
        let fenced = plan.guard.as_ref().filter(|g| g.fences.contains(&a.id));
        let outcome = match a
            .depends_on
            .as_deref()
            .and_then(|d| reports.iter().find(|r| r.id == d))
        {
            Some(dep) if !dep.outcome.succeeded() => Outcome::Skipped {
                why: format!("depends on `{}`, which did not run", dep.id),
            },
            _ => match (fenced, &mut held) {
                (Some(g), Some(h)) => match h.still_ours(services, g).await {
                    Err(lost) => Outcome::Failed {
                        error: format!("`{}` not done: {lost}", a.id),
                        retry: Retry::Permanent,
                    },
                    Ok(()) => run_once(services, &plan, a, now, Some((g, h))).await,
                },
                _ => run_once(services, &plan, a, now, None).await,
            },
        };
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match &outcome {
            Outcome::Failed { error, retry } => {
                tracing::warn!(action = %a.id, retry = ?retry, "{error}")
            }
            other => tracing::info!(action = %a.id, outcome = ?other, "{}", a.op.describe()),
        }
        if !matches!(outcome, Outcome::AlreadyDone { .. }) {
            // A redelivery's action keeps the original attempt's audit record.
            crate::audit::write(
                services.state.as_ref(),
                &AuditRecord {
                    elapsed_ms,
                    at: now,
                    ..AuditRecord::new(
                        &plan.function,
                        &plan.event_id,
                        &a.id,
                        a.op.describe(),
                        &a.reason,
                        outcome.clone(),
                    )
                },
            )
            .await;
        }
        reports.push(ActionReport {
            id: a.id.clone(),
            what: a.op.describe(),
            reason: a.reason.clone(),
            outcome,
            elapsed_ms,
        });
    }
    Ok(Execution {
        plan,
        superseded: false,
        actions: reports,
        guard_version: held.map(|h| h.version),
    })
}

/// A guard record this invocation wrote, and since when.
struct Held {
    version: Version,
    since: std::time::Instant,
}

impl Held {
    /// Whether the guard is still this invocation's: its lease runs and the record is the one
    /// it wrote (no other invocation took over).
    async fn still_ours(&self, services: &Services, g: &Guard) -> Result<(), String> {
        if let Some(lease) = g.lease_secs
            && self.since.elapsed() >= std::time::Duration::from_secs(lease)
        {
            return Err(format!(
                "the lease on `{}` ran out ({lease}s); another invocation may have taken over",
                g.key
            ));
        }
        match services.state.get(&g.key).await {
            Ok(Some(v)) if v.version == self.version => Ok(()),
            Ok(_) => Err(format!(
                "`{}` changed since this invocation wrote it: another invocation took over",
                g.key
            )),
            Err(e) => Err(format!("`{}` could not be re-read: {e}", g.key)),
        }
    }
}

/// Writes the guard's record; `Some(version)` when this invocation holds it, `None` when
/// another invocation got there first. A failed conditional write is re-read before concluding
/// the race was lost: a write that landed but whose answer was lost (and whose retry then met
/// its own record) is a win.
async fn take_guard(services: &Services, g: &Guard) -> Result<Option<Version>, RunError> {
    let bytes = serde_json::to_vec(&g.value)
        .map_err(|e| RunError::Permanent(format!("guard record: {e}")))?;
    let failure = match services.state.put(&g.key, &bytes, &g.expect).await {
        Ok(v) => return Ok(Some(v)),
        Err(e) => e,
    };
    let landed = match services.state.get(&g.key).await {
        Ok(Some(stored)) => serde_json::from_slice::<serde_json::Value>(&stored.value)
            .ok()
            .filter(|v| *v == g.value)
            .map(|_| stored.version),
        _ => None,
    };
    match (landed, failure) {
        (Some(version), _) => {
            tracing::info!(key = %g.key, "the guard write landed although its answer said otherwise");
            Ok(Some(version))
        }
        (None, StateError::ConditionFailed(_)) => Ok(None),
        (None, e) => Err(e.into()),
    }
}

/// Polls until `desired` instances are ready; the detail says how long it took.
async fn wait_ready(
    c: &dyn twincloud_core::ports::Compute,
    service: &str,
    desired: u32,
    timeout_secs: u64,
) -> Result<Option<String>, (String, Retry)> {
    let start = std::time::Instant::now();
    let limit = std::time::Duration::from_secs(timeout_secs);
    loop {
        let s = c.scale(service).await.map_err(|e| (e.message, e.retry))?;
        if s.ready >= desired {
            return Ok(Some(format!(
                "{} ready after {} ms",
                s.ready,
                start.elapsed().as_millis()
            )));
        }
        if start.elapsed() >= limit {
            return Err((
                format!(
                    "`{service}`: {} of {desired} instances ready after {timeout_secs}s",
                    s.ready
                ),
                Retry::Transient,
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

async fn run_once(
    services: &Services,
    plan: &Plan,
    a: &Action,
    now: DateTime<Utc>,
    fence: Option<(&Guard, &mut Held)>,
) -> Outcome {
    let key = action_key(plan, a);
    // A claim never outlives the lock it works under: the invocation that resumes a switch
    // after the lock's lease must be able to redo its steps.
    let claim_lease = plan
        .guard
        .as_ref()
        .and_then(|g| g.lease_secs)
        .and_then(|l| i64::try_from(l).ok())
        .map_or(CLAIM_LEASE_SECS, |l| l.min(CLAIM_LEASE_SECS));
    let fail = |e: StateError| Outcome::Failed {
        error: e.to_string(),
        retry: e.retry(),
    };
    let existing: Option<(ActionRecord, Version)> =
        match get_json(services.state.as_ref(), &key).await {
            Ok(r) => r,
            Err(e) => return fail(e),
        };
    let claim_expect = match existing {
        Some((ActionRecord::Done { at, .. }, _)) => return Outcome::AlreadyDone { at },
        Some((ActionRecord::Claimed { at }, _))
            if now.signed_duration_since(at).num_seconds() < claim_lease =>
        {
            return Outcome::Failed {
                error: format!(
                    "`{}` is being done by another invocation (claimed at {})",
                    a.id,
                    at.to_rfc3339()
                ),
                retry: Retry::Transient,
            };
        }
        Some((ActionRecord::Claimed { .. }, v)) => Precondition::Matches(v),
        None => Precondition::Absent,
    };
    let claim = serde_json::to_vec(&ActionRecord::Claimed { at: now }).unwrap_or_default();
    let claim_version = match services.state.put(&key, &claim, &claim_expect).await {
        Ok(v) => v,
        Err(StateError::ConditionFailed(_)) => {
            return Outcome::Failed {
                error: format!("`{}` was claimed by another invocation just now", a.id),
                retry: Retry::Transient,
            };
        }
        Err(e) => return fail(e),
    };
    let result: Result<Option<String>, (String, Retry)> = match &a.op {
        Operation::Notify { channel, message } => match services.notifiers.get(channel) {
            Some(n) => n
                .send(message)
                .await
                .map(|d| d.provider_id)
                .map_err(|e| (e.to_string(), e.retry)),
            None => Err((
                format!("channel `{channel}` is not configured"),
                Retry::Permanent,
            )),
        },
        Operation::SetDesired {
            endpoint,
            service,
            desired,
        } => match services.compute.get(endpoint) {
            Some(c) => c
                .set_desired_explained(service, *desired)
                .await
                .map_err(|e| (e.message, e.retry)),
            None => Err((
                format!("no compute configured for endpoint `{endpoint}`"),
                Retry::Permanent,
            )),
        },
        Operation::SetMax {
            endpoint,
            service,
            max,
        } => match services.compute.get(endpoint) {
            Some(c) => c
                .set_max(service, *max)
                .await
                .map(|set| (!set).then(|| "the platform has no maximum of its own".to_owned()))
                .map_err(|e| (e.message, e.retry)),
            None => Err((
                format!("no compute configured for `{endpoint}`"),
                Retry::Permanent,
            )),
        },
        Operation::WaitReady {
            endpoint,
            service,
            desired,
            timeout_secs,
        } => match services.compute.get(endpoint) {
            Some(c) => wait_ready(c.as_ref(), service, *desired, *timeout_secs).await,
            None => Err((
                format!("no compute configured for endpoint `{endpoint}`"),
                Retry::Permanent,
            )),
        },
        Operation::SwitchTraffic { record, target } => match &services.traffic {
            Some(t) => t
                .switch(record, target)
                .await
                .map(|()| None)
                .map_err(|e| (e.message, e.retry)),
            None => Err((
                "no DNS provider configured ([failover.dns])".into(),
                Retry::Permanent,
            )),
        },
        Operation::PutState { key, value } => {
            // Under a fence, the guard's own record is replaced only if it is still the one
            // this invocation wrote.
            let fenced = fence.filter(|(g, _)| g.key == *key);
            let expect = fenced.as_ref().map_or(Precondition::None, |(_, h)| {
                Precondition::Matches(h.version.clone())
            });
            match services
                .state
                .put(key, value.to_string().as_bytes(), &expect)
                .await
            {
                Ok(v) => {
                    if let Some((_, h)) = fenced {
                        h.version = v;
                    }
                    Ok(None)
                }
                Err(StateError::ConditionFailed(_)) => Err((
                    format!(
                        "`{key}` changed since this invocation wrote it: another invocation took over; not overwritten"
                    ),
                    Retry::Permanent,
                )),
                Err(e) => Err((e.to_string(), e.retry())),
            }
        }
    };
    match result {
        Ok(detail) => {
            let done = serde_json::to_vec(&ActionRecord::Done {
                at: now,
                detail: detail.clone(),
            })
            .unwrap_or_default();
            if let Err(e) = services
                .state
                .put(&key, &done, &Precondition::Matches(claim_version))
                .await
            {
                tracing::warn!(action = %a.id, "done record not written ({e}); a retry may repeat this action");
            }
            Outcome::Done { detail }
        }
        Err((error, retry)) => {
            // Release the claim so that the platform's retry can try again at once.
            let _ = services
                .state
                .delete(&key, &Precondition::Matches(claim_version))
                .await;
            Outcome::Failed { error, retry }
        }
    }
}
