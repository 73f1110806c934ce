//! Runs plans: a guard first, then each action through the effects handle (journaled intent
//! and outcome, done once per event, one audit record per call), channel failures isolated
//! from each other.

use twincloud_core::plan::{Guard, Operation, Plan};
use twincloud_core::ports::{PortError, Precondition, Retry, StateError, Version};

use crate::effects::{Effect, Effects, INTENT_LEASE_SECS};
use crate::error::RunError;
use crate::invocation::Invocation;
use crate::services::Services;

pub use crate::outcome::{ActionReport, Execution, Outcome};

/// Runs `plan` against `services`. In a dry run nothing is sent or changed: the effects handle
/// reports what would run.
pub async fn execute(
    services: &Services,
    plan: Plan,
    inv: Invocation,
) -> Result<Execution, RunError> {
    // An intent never outlives the lock it works under: the invocation that resumes a switch
    // after the lock's lease must be able to redo its steps.
    let intent_lease = plan
        .guard
        .as_ref()
        .and_then(|g| g.lease_secs)
        .and_then(|l| i64::try_from(l).ok())
        .map_or(INTENT_LEASE_SECS, |l| l.min(INTENT_LEASE_SECS));
    let mut fx =
        Effects::new(services, &plan.function, &plan.event_id, inv).with_intent_lease(intent_lease);
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
    for a in &plan.actions {
        let fenced = plan.guard.as_ref().filter(|g| g.fences.contains(&a.id));
        if let Some(why) = blocked(services, &fx, a, fenced, held.as_ref()).await {
            fx.report(&a.id, &a.op.describe(), &a.reason, why);
            continue;
        }
        let fence = fenced.zip(held.as_mut());
        let mut effect = Effect::new(a.id.clone(), a.op.describe(), a.reason.clone());
        if matches!(a.op, Operation::Notify { .. }) {
            effect.op = serde_json::to_value(&a.op).ok();
        }
        fx.act_verified(
            effect,
            run_op(services, &a.op, fence),
            Clone::clone,
            in_effect(services, &a.op),
        )
        .await;
        if let (Some(g), Some(h)) = (fenced, held.as_mut()) {
            keep_lock_version(services, &fx, a, g, h).await;
        }
    }
    Ok(Execution {
        plan,
        superseded: false,
        actions: fx.take_reports(),
        guard_version: held.map(|h| h.version),
    })
}

/// Why an action does not run: its dependency did not, or the lock its fence needs is no
/// longer this invocation's.
async fn blocked(
    services: &Services,
    fx: &Effects,
    a: &twincloud_core::plan::Action,
    fenced: Option<&Guard>,
    held: Option<&Held>,
) -> Option<Outcome> {
    let dep = a
        .depends_on
        .as_deref()
        .and_then(|d| fx.reports().iter().find(|r| r.id == d));
    if let Some(dep) = dep
        && !(dep.outcome.succeeded() || dep.outcome == Outcome::WouldRun)
    {
        let why = format!("depends on `{}`, which did not run", dep.id);
        return Some(Outcome::Skipped { why });
    }
    if let (Some(g), Some(h)) = (fenced, held)
        && let Err(lost) = h.still_ours(services, g).await
    {
        let error = format!("`{}` not done: {lost}", a.id);
        tracing::warn!(action = %a.id, "{error}");
        return Some(Outcome::Failed {
            error,
            retry: Retry::Permanent,
        });
    }
    None
}

/// A fenced write found landed by reading it back moved the record's version: the lock is
/// still this invocation's, at the version now stored.
async fn keep_lock_version(
    services: &Services,
    fx: &Effects,
    a: &twincloud_core::plan::Action,
    g: &Guard,
    h: &mut Held,
) {
    let read_back = fx.reports().last().is_some_and(|r| {
        matches!(&r.outcome, Outcome::Done { detail: Some(d) } if d == crate::effects::READ_BACK)
    });
    if read_back
        && let Operation::PutState { key, value } = &a.op
        && g.key == *key
        && let Ok(Some(stored)) = services.state.get(key).await
        && serde_json::from_slice::<serde_json::Value>(&stored.value)
            .ok()
            .as_ref()
            == Some(value)
    {
        h.version = stored.version;
    }
}

/// Sends again the messages of `function`'s event `event_id` that the journal holds as not
/// sent (a channel failed, or the answer was lost): a redelivery finishes them even when the
/// function, finding its decision done, has nothing more to say. `None` when none is pending.
pub async fn resume_messages(
    services: &Services,
    function: &str,
    event_id: &str,
    inv: Invocation,
) -> Result<Option<Execution>, RunError> {
    if inv.dry_run() {
        return Ok(None);
    }
    let entries = crate::effects::entries(services.state.as_ref(), function, event_id).await?;
    let mut plan = Plan::new(function, event_id);
    for e in entries {
        if matches!(e.state, crate::effects::EffectState::Done { .. }) {
            continue;
        }
        let Some(op) =
            e.op.and_then(|v| serde_json::from_value::<Operation>(v).ok())
                .filter(|op| matches!(op, Operation::Notify { .. }))
        else {
            continue;
        };
        plan.actions.push(twincloud_core::plan::Action {
            id: e.effect,
            reason: e.reason,
            depends_on: None,
            op,
        });
    }
    if plan.actions.is_empty() {
        return Ok(None);
    }
    plan.notes.push(format!(
        "{} message(s) of an earlier attempt not sent yet: sent now",
        plan.actions.len()
    ));
    Ok(Some(execute(services, plan, inv).await?))
}

/// Whether the provider shows `op`'s change in effect (read back after a transient failure,
/// whose answer may have been lost after the change was applied): `Some` when it does.
async fn in_effect(services: &Services, op: &Operation) -> Option<Option<String>> {
    let shown = match op {
        Operation::PutState { key, value } => services
            .state
            .get(key)
            .await
            .ok()
            .flatten()
            .and_then(|v| serde_json::from_slice::<serde_json::Value>(&v.value).ok())
            .is_some_and(|stored| stored == *value),
        Operation::SwitchTraffic { record, target } => match &services.traffic {
            Some(t) => t
                .current_target(record)
                .await
                .ok()
                .flatten()
                .is_some_and(|now| now == *target),
            None => false,
        },
        Operation::SetDesired {
            endpoint,
            service,
            desired,
        } => match services.compute.get(endpoint) {
            Some(c) => c.scale(service).await.is_ok_and(|s| s.desired == *desired),
            None => false,
        },
        _ => false,
    };
    shown.then_some(None)
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

/// The provider call of one operation; the effects handle journals it.
async fn run_op(
    services: &Services,
    op: &Operation,
    fence: Option<(&Guard, &mut Held)>,
) -> Result<Option<String>, PortError> {
    let result: Result<Option<String>, (String, Retry)> = match op {
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
        Operation::PutState { key, value } => put_state(services, key, value, fence).await,
    };
    result.map_err(|(message, retry)| PortError::new(message, retry))
}

/// A state write; under a fence, the guard's own record is replaced only if it is still the
/// one this invocation wrote.
async fn put_state(
    services: &Services,
    key: &str,
    value: &serde_json::Value,
    fence: Option<(&Guard, &mut Held)>,
) -> Result<Option<String>, (String, Retry)> {
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
        Err(StateError::ConditionFailed(_)) => {
            match (fenced, holds(services, key, value).await) {
                // A write whose answer was lost, retried, meets itself: the record holds
                // exactly this value, and it is still ours.
                (Some((_, h)), Some(v)) => {
                    h.version = v;
                    Ok(Some(
                        "written by an earlier attempt whose answer was lost".into(),
                    ))
                }
                _ => Err((
                    format!(
                        "`{key}` changed since this invocation wrote it: another invocation took over; not overwritten"
                    ),
                    Retry::Permanent,
                )),
            }
        }
        Err(e) => Err((e.to_string(), e.retry())),
    }
}

/// The version of `key` when it holds exactly `value`.
async fn holds(services: &Services, key: &str, value: &serde_json::Value) -> Option<Version> {
    match services.state.get(key).await {
        Ok(Some(stored)) => serde_json::from_slice::<serde_json::Value>(&stored.value)
            .ok()
            .filter(|v| v == value)
            .map(|_| stored.version),
        _ => None,
    }
}
