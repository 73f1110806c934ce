//! The scaling planner: a service's policy, its current capacity, what its metrics, alarms,
//! capacity windows and the failover state say, and the record of its last decisions in; one
//! decision out. Pure: the clock, the readings and the records are inputs.
//!
//! Target tracking as ECS and HPA do it (`ceil(current × value / target)`, nothing within a
//! 10 % band around the target), steps on alarms, capacity windows as floors, and across the
//! clouds what no single-cloud autoscaler does: the standby follows a share of the active
//! side's capacity, nothing scales down while a switch is in flight, and a side that just took
//! over starts from the load the other carried.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{Metric, ScalingService};

/// Name of the scaling function in plans and records.
pub const FUNCTION: &str = "scaling";

/// Within this share of the target, a metric asks for no change (no flapping on noise).
pub const TOLERANCE: f64 = 0.10;

/// State key of one service's record.
pub fn record_key(service: &str) -> String {
    format!("scaling/{}", crate::ids::key_segment(service))
}

/// What the failover state makes of the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Not a failover endpoint: scaled by its own load.
    Alone,
    /// The side traffic goes to.
    Active,
    /// The other side: it follows a share of the active side's capacity.
    Standby {
        /// The active side's capacity now.
        active_capacity: u32,
    },
}

/// What the service's record keeps between decisions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScalingRecord {
    /// The last scale-out.
    pub last_out: Option<DateTime<Utc>>,
    /// The last scale-in.
    pub last_in: Option<DateTime<Utc>>,
    /// Recent recommendations, oldest first, within the stabilization window.
    pub recommendations: Vec<(DateTime<Utc>, u32)>,
    /// Events already acted on (newest last, at most 64): a redelivery changes nothing.
    pub applied: Vec<String>,
    /// The capacity this service had when it was last the active side.
    pub active_capacity: Option<u32>,
    /// The changes decided over the last day, oldest first (at most [`CHANGES_KEPT`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<ScalingChange>,
}

/// One change of desired count the planner decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScalingChange {
    /// When.
    pub at: DateTime<Utc>,
    /// The count before.
    pub from: u32,
    /// The count set.
    pub to: u32,
    /// Why, in one line.
    pub reason: String,
    /// The event that decided it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// Why the change was not made, while it is not (its scale failed; a redelivery or the
    /// next run finishes or replaces it). The page shows it as not made, never as a change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

/// Most changes a record keeps (a day of them, a change per cooldown at most).
pub const CHANGES_KEPT: usize = 200;

/// Everything one decision looks at.
#[derive(Debug, Clone)]
pub struct ScalingInputs<'a> {
    /// The policy.
    pub policy: &'a ScalingService,
    /// The decision's time.
    pub now: DateTime<Utc>,
    /// The event deciding (its id makes a redelivery a no-op).
    pub event_id: &'a str,
    /// Desired instances now, as the provider says.
    pub current: u32,
    /// Metric readings (averages over the last minutes), where the provider had them.
    pub metrics: &'a [(Metric, f64)],
    /// Instances the step rules of alarms now in ALARM add.
    pub step_add: u32,
    /// Active, standby or alone.
    pub role: Role,
    /// A failover or failback is in flight: nothing scales down.
    pub switching: bool,
    /// The capacity the other side carried, when this one just took over.
    pub carried: Option<u32>,
    /// A cap the budget guard set on `max`.
    pub cap: Option<u32>,
    /// The service's record.
    pub record: &'a ScalingRecord,
    /// The record says this event decided, but the effect journal says its change was not
    /// made (it failed, or its answer was lost): the decision is finished, not skipped.
    pub unfinished: bool,
}

/// The decision.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalingDecision {
    /// The desired count to set, when it changes.
    pub set: Option<u32>,
    /// Why (for the plan, the audit and the dry run).
    pub reason: String,
    /// The record to write with the change (or alone, to keep the recommendations).
    pub record: ScalingRecord,
}

fn secs_since(now: DateTime<Utc>, t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(|t| now.signed_duration_since(t).num_seconds())
}

fn within(now: DateTime<Utc>, t: Option<DateTime<Utc>>, window: u64) -> bool {
    secs_since(now, t).is_some_and(|s| s < i64::try_from(window).unwrap_or(i64::MAX))
}

/// `ceil(x)` of a non-negative finite float, as instances.
fn instances(x: f64) -> u32 {
    if !x.is_finite() || x <= 0.0 {
        return 0;
    }
    let c = x.ceil();
    if c >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        // In range and integral: the cast is exact.
        c as u32
    }
}

/// Decides. Never below the floor (`min`, an open capacity window), never above `max` or the
/// cap, one change per cooldown, at most `max_step` at once; a scale-in takes the highest
/// recommendation of the stabilization window.
pub fn decide(i: &ScalingInputs<'_>) -> ScalingDecision {
    let p = i.policy;
    let mut record = i.record.clone();
    let (lo, hi, capped) = bounds(i);
    let current = i.current;
    if record.applied.iter().any(|e| e == i.event_id) {
        return redelivered(i, record, lo, hi);
    }
    let (mut want, mut why) = wanted(i);
    if i.switching && want < current {
        want = current;
        why = "a switch is in flight: nothing scales down".into();
    }
    let clamped = want.clamp(lo, hi);
    if clamped != want {
        why = format!(
            "{why}; held within {lo}–{hi}{}",
            if capped {
                " (the cap is below the floor: the floor wins)"
            } else {
                ""
            }
        );
    }
    // The stabilization window: a scale-in takes the highest recent recommendation.
    let since = i.now - chrono::Duration::seconds(i64::try_from(p.stabilization_secs).unwrap_or(0));
    record.recommendations.retain(|(t, _)| *t > since);
    record.recommendations.push((i.now, clamped));
    let mut target = clamped;
    if clamped < current {
        let highest = record
            .recommendations
            .iter()
            .map(|(_, r)| *r)
            .max()
            .unwrap_or(clamped);
        if highest > clamped {
            target = highest.min(current);
            if target == current {
                return hold(
                    record,
                    format!(
                        "{why}; the stabilization window still recommends {highest} ({}s)",
                        p.stabilization_secs
                    ),
                );
            }
        }
    }
    // At most max_step at once.
    let target = if target > current {
        target.min(current.saturating_add(p.max_step))
    } else {
        target.max(current.saturating_sub(p.max_step))
    };
    // Never below the floor, whatever the step limit did.
    let target = target.clamp(lo, hi);
    if target == current {
        return hold(record, format!("{why}: {current} is right"));
    }
    if let Some(wait) = cooling_down(i, &record, target, lo, hi) {
        return hold(record, format!("{why}: {wait}"));
    }
    changed(i, record, &why, target)
}

/// The floor and the ceiling now: `min` or an open capacity window's minimum, `max` or the
/// cap; a cap below the floor gives way to the floor (availability) on a serving side, and
/// says so, and wins on a standby.
fn bounds(i: &ScalingInputs<'_>) -> (u32, u32, bool) {
    let p = i.policy;
    let hi = p.max.min(i.cap.unwrap_or(u32::MAX));
    let window_floor = p
        .schedules
        .iter()
        .filter(|w| w.is_open(i.now))
        .map(|w| w.min)
        .max()
        .unwrap_or(0);
    let lo = p.min.max(window_floor);
    // A standby carries no traffic: a hold on it (the budget guard's cap or standby-to-zero)
    // goes below its floor.
    if hi < lo && matches!(i.role, Role::Standby { .. }) {
        return (hi, hi, false);
    }
    if hi < lo {
        (lo, lo, true)
    } else {
        (lo, hi, false)
    }
}

/// An event decided before: a redelivery changes nothing twice. But a decision whose change
/// the journal says was not made is not done: it is made now, if it is still the newest.
fn redelivered(i: &ScalingInputs<'_>, record: ScalingRecord, lo: u32, hi: u32) -> ScalingDecision {
    let last = record
        .changes
        .last()
        .filter(|c| i.unfinished && c.event.as_deref() == Some(i.event_id));
    if let Some(c) = last {
        // Made again even when the count is there already (an answer lost): the change is
        // stated idempotently, and its journal entry and report are finished with it.
        let to = c.to.clamp(lo, hi);
        return ScalingDecision {
            set: Some(to),
            reason: format!(
                "finishing the decision of event {} (from {} to {to}): its change was not recorded as made ({})",
                i.event_id, c.from, c.reason
            ),
            record,
        };
    }
    ScalingDecision {
        set: None,
        reason: format!("event {} was already acted on", i.event_id),
        record,
    }
}

/// What the service's role asks for, before bounds, window and cooldowns, and why.
fn wanted(i: &ScalingInputs<'_>) -> (u32, String) {
    let p = i.policy;
    match i.role {
        // A switch is moving traffic here: take the active side's whole capacity before it lands.
        Role::Standby { active_capacity } if i.switching => (
            active_capacity,
            format!("a switch is in flight: the standby takes the active side's {active_capacity}"),
        ),
        Role::Standby { active_capacity } => {
            let warm = instances(p.warm_fraction * f64::from(active_capacity));
            (
                warm,
                format!(
                    "standby: {:.0} % of the active side's {active_capacity}",
                    p.warm_fraction * 100.0
                ),
            )
        }
        Role::Active | Role::Alone => by_load(i),
    }
}

/// A serving service's want: the highest of what each metric's target recommends, the alarm
/// steps, and what the other side carried when this one took over.
fn by_load(i: &ScalingInputs<'_>) -> (u32, String) {
    let current = i.current;
    let mut want = current;
    let mut why = "no metric asks for a change".to_owned();
    let mut best: Option<u32> = None;
    for (metric, target) in &i.policy.targets {
        let Some((_, value)) = i.metrics.iter().find(|(m, _)| m == metric) else {
            continue;
        };
        let ratio = value / target;
        if (ratio - 1.0).abs() <= TOLERANCE {
            continue;
        }
        let rec = instances(f64::from(current.max(1)) * ratio);
        if best.is_none_or(|b| rec > b) {
            best = Some(rec);
            why = format!(
                "{} at {value:.1} against a target of {target:.1}",
                metric.name()
            );
        }
    }
    if let Some(b) = best {
        want = b;
    }
    if i.step_add > 0 {
        let stepped = current.saturating_add(i.step_add);
        if stepped > want {
            want = stepped;
            why = format!("{} instance(s) added by alarm steps", i.step_add);
        }
    }
    if let Some(c) = i.carried
        && c > want
    {
        want = c;
        why = format!("took over from a side that carried {c} instance(s)");
    }
    (want, why)
}

/// Why a change to `target` waits for its cooldown, if it does (a service outside its bounds
/// is brought back at once).
fn cooling_down(
    i: &ScalingInputs<'_>,
    record: &ScalingRecord,
    target: u32,
    lo: u32,
    hi: u32,
) -> Option<String> {
    let p = i.policy;
    let current = i.current;
    if target > current {
        (within(i.now, record.last_out, p.cooldown_out_secs) && current >= lo).then(|| {
            format!(
                "would scale out to {target}, but the last scale-out was within {}s",
                p.cooldown_out_secs
            )
        })
    } else {
        let last_change = record.last_out.max(record.last_in);
        (within(i.now, last_change, p.cooldown_in_secs) && current <= hi).then(|| {
            format!(
                "would scale in to {target}, but the last change was within {}s",
                p.cooldown_in_secs
            )
        })
    }
}

/// The change to `target`, written into the record (its time, the event, a day of changes).
fn changed(
    i: &ScalingInputs<'_>,
    mut record: ScalingRecord,
    why: &str,
    target: u32,
) -> ScalingDecision {
    let current = i.current;
    if target > current {
        record.last_out = Some(i.now);
    } else {
        record.last_in = Some(i.now);
    }
    record.applied.push(i.event_id.to_owned());
    let drop = record.applied.len().saturating_sub(64);
    record.applied.drain(..drop);
    if matches!(i.role, Role::Active | Role::Alone) {
        record.active_capacity = Some(target);
    }
    let reason = format!(
        "{why}: {} from {current} to {target}",
        if target > current {
            "scale out"
        } else {
            "scale in"
        }
    );
    let day_ago = i.now - chrono::Duration::days(1);
    record.changes.retain(|c| c.at > day_ago);
    record.changes.push(ScalingChange {
        at: i.now,
        from: current,
        to: target,
        reason: reason.clone(),
        event: Some(i.event_id.to_owned()),
        failed: None,
    });
    let drop = record.changes.len().saturating_sub(CHANGES_KEPT);
    record.changes.drain(..drop);
    ScalingDecision {
        set: Some(target),
        reason,
        record,
    }
}

fn hold(record: ScalingRecord, reason: String) -> ScalingDecision {
    ScalingDecision {
        set: None,
        reason,
        record,
    }
}

#[cfg(test)]
mod tests;
