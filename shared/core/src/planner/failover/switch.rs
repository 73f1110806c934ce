//! The plan of a switch: standby up, ready, traffic moved, lock released, old side down.

use chrono::{DateTime, Utc};

use super::{
    FUNCTION, FailoverState, STATE_KEY, SWITCH_LEASE_SECS, SwitchInFlight, SwitchKind, kind_name,
};
use crate::config::FailoverConfig;
use crate::plan::ComputeRef;

/// The plan that makes (or resumes) `switch`, guarded by a compare-and-swap of the shared
/// record seen at `version` (`None`: no record yet): two invocations never both switch.
pub fn plan_switch(
    cfg: &FailoverConfig,
    state: &FailoverState,
    version: Option<&crate::ports::Version>,
    switch: &SwitchInFlight,
    reason: &str,
    now: DateTime<Utc>,
) -> crate::plan::Plan {
    use crate::plan::{Guard, Plan};
    use crate::ports::Precondition;
    let mut plan = Plan::new(FUNCTION, &switch.id);
    let (Some(to), Some(from)) = (cfg.endpoint(&switch.to), cfg.endpoint(&switch.from)) else {
        plan.notes.push(format!(
            "endpoint `{}` or `{}` is no longer configured: nothing done",
            switch.from, switch.to
        ));
        return plan;
    };
    let mut claimed = state.clone();
    claimed.in_flight = Some(SwitchInFlight {
        started: now,
        ..switch.clone()
    });
    // The lock is this invocation's for the lease: traffic moves, and the final record is
    // written (compare-and-swap on the lock's version), only while it still holds it.
    plan.guard = Some(Guard {
        key: STATE_KEY.into(),
        expect: version.map_or(Precondition::Absent, |v| Precondition::Matches(v.clone())),
        value: serde_json::to_value(&claimed).unwrap_or_default(),
        reason: format!("take the failover lock for {} → {}", switch.from, switch.to),
        lease_secs: Some(SWITCH_LEASE_SECS.unsigned_abs()),
        fences: vec!["scale-up".into(), "switch-traffic".into(), "record".into()],
    });
    plan.actions = steps(cfg, state, switch, to, from, reason, now);
    plan
}

/// A switch's steps: the target scaled to its active size and ready, the record pointed at
/// it, the switch recorded; after a failback, the former side back to its standby size.
fn steps(
    cfg: &FailoverConfig,
    state: &FailoverState,
    switch: &SwitchInFlight,
    to: &crate::config::Endpoint,
    from: &crate::config::Endpoint,
    reason: &str,
    now: DateTime<Utc>,
) -> Vec<crate::plan::Action> {
    use crate::plan::{Action, Operation};
    let mut actions = Vec::with_capacity(5);
    let verb = kind_name(switch.kind);
    actions.push(Action {
        id: "scale-up".into(),
        reason: format!(
            "{verb}: scale {} to its active size before traffic moves ({reason})",
            to.name
        ),
        depends_on: None,
        op: Operation::SetDesired {
            endpoint: ComputeRef::Endpoint(to.name.clone()),
            service: to.compute.service().into(),
            desired: to.active_size,
        },
    });
    actions.push(Action {
        id: "wait-ready".into(),
        reason: "traffic moves only to instances that are ready".into(),
        depends_on: Some("scale-up".into()),
        op: Operation::WaitReady {
            endpoint: ComputeRef::Endpoint(to.name.clone()),
            service: to.compute.service().into(),
            desired: to.active_size,
            timeout_secs: 30,
        },
    });
    actions.push(Action {
        id: "switch-traffic".into(),
        reason: format!("point {} at {}", cfg.record, to.name),
        depends_on: Some("wait-ready".into()),
        op: Operation::SwitchTraffic {
            record: cfg.record.clone(),
            target: to.dns_target.clone(),
        },
    });
    actions.push(Action {
        id: "record".into(),
        reason: format!("{} is active; release the lock", to.name),
        depends_on: Some("switch-traffic".into()),
        op: Operation::PutState {
            key: STATE_KEY.into(),
            value: serde_json::to_value(state.finished(switch, now)).unwrap_or_default(),
        },
    });
    if switch.kind == SwitchKind::Failback {
        actions.push(Action {
            id: "scale-down".into(),
            reason: format!("return {} to its standby size", from.name),
            depends_on: Some("record".into()),
            op: Operation::SetDesired {
                endpoint: ComputeRef::Endpoint(from.name.clone()),
                service: from.compute.service().into(),
                desired: from.standby_size,
            },
        });
    }
    actions
}

/// A switch under the budget guard's standby-to-zero hold: the target still takes over (an
/// outage outranks a budget), and the plan says so; after a failback the former side goes
/// back to what the hold allows (`max`; `held` says the hold), not to its standby size.
pub fn under_standby_hold(plan: &mut crate::plan::Plan, max: u32, held: &str) {
    use crate::plan::Operation;
    if plan.actions.is_empty() {
        return;
    }
    plan.notes.push(format!(
        "the standby was {held}: it takes over anyway (an outage outranks a budget)"
    ));
    for a in plan.actions.iter_mut().filter(|a| a.id == "scale-down") {
        if let Operation::SetDesired { desired, .. } = &mut a.op
            && *desired > max
        {
            *desired = max;
            a.reason = format!("{}: {max} while the standby is {held}", a.reason);
        }
    }
}

/// The plan that releases the lock of an abandoned switch (compare-and-swap on the record seen
/// at `version`, so a concurrent invocation's change is never overwritten).
pub fn plan_abandon(
    state: &FailoverState,
    version: Option<&crate::ports::Version>,
    switch: &SwitchInFlight,
    reason: &str,
) -> crate::plan::Plan {
    use crate::plan::{Guard, Plan};
    use crate::ports::Precondition;
    let mut plan = Plan::new(FUNCTION, &format!("{}-abandoned", switch.id));
    let mut released = state.clone();
    released.in_flight = None;
    plan.guard = Some(Guard::claim(
        STATE_KEY,
        version.map_or(Precondition::Absent, |v| Precondition::Matches(v.clone())),
        serde_json::to_value(&released).unwrap_or_default(),
        format!("release the failover lock: {reason}"),
    ));
    plan.notes.push(reason.to_owned());
    plan
}
