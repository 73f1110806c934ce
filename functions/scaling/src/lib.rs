//! The scaling function: each minute (and on a mapped alarm or incident) it reads each
//! service's capacity and load, where the failover state puts it (active, standby, switching),
//! its capacity windows and any cap, and lets the pure planner decide; a change is claimed with
//! a compare-and-swap of the service's record, made, audited and reported.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use twincloud_core::Signal;
use twincloud_core::config::{ScalingConfig, ScalingService};
use twincloud_core::plan::{Action, Guard, Operation, Plan};
use twincloud_core::planner::failover::{FailoverState, STATE_KEY};
use twincloud_core::planner::scaling::{
    self, FUNCTION, Role, ScalingInputs, ScalingRecord, record_key,
};
use twincloud_core::ports::{Precondition, get_json};
use twincloud_core::records::holds::{self, Hold, STANDBY_HOLD_KEY, service_hold_key};
use twincloud_core::signal::{AlarmState, Report, Severity, SignalKind};

use twincloud_core::plan::ComputeRef;
use twincloud_runtime::error::RunError;
use twincloud_runtime::executor::{Execution, execute};
use twincloud_runtime::function::{Function, Invocation};
use twincloud_runtime::report::send_report;
use twincloud_runtime::services::Services;

/// The scaling function.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scaling;

fn scaling_config(services: &Services) -> Result<&ScalingConfig, RunError> {
    services
        .config
        .scaling
        .as_ref()
        .filter(|s| !s.services.is_empty())
        .ok_or_else(|| {
            RunError::Config(format!(
                "{}: no [[scaling.services]] configured",
                services.config.origin
            ))
        })
}

/// The services a signal concerns, with the instances their alarm steps add.
fn targets<'a>(
    cfg: &'a ScalingConfig,
    signal: &Signal,
) -> Result<Vec<(&'a ScalingService, u32)>, String> {
    let stepped = |name: &str, firing: bool| -> Vec<(&'a ScalingService, u32)> {
        cfg.services
            .iter()
            .filter_map(|s| {
                let add: u32 = s
                    .steps
                    .iter()
                    .filter(|r| r.alarm == name)
                    .map(|r| r.add)
                    .sum();
                let named = s.steps.iter().any(|r| r.alarm == name);
                named.then_some((s, if firing { add } else { 0 }))
            })
            .collect()
    };
    match &signal.kind {
        SignalKind::ScheduleTick(_) => Ok(cfg.services.iter().map(|s| (s, 0)).collect()),
        SignalKind::Alarm(a) => match a.state {
            AlarmState::InsufficientData => Err(format!(
                "alarm {} has insufficient data: no step either way",
                a.name
            )),
            state => {
                let hit = stepped(&a.name, state == AlarmState::Alarm);
                if hit.is_empty() {
                    Err(format!("alarm {} is no step of a scaling service", a.name))
                } else {
                    Ok(hit)
                }
            }
        },
        SignalKind::Incident(i) => {
            let hit = stepped(&i.policy, i.open);
            if hit.is_empty() {
                Err(format!(
                    "incident policy {} is no step of a scaling service",
                    i.policy
                ))
            } else {
                Ok(hit)
            }
        }
        other => Err(format!("{} events do not concern scaling", other.name())),
    }
}

/// Active, standby or alone; whether a switch is in flight; what the other side carried when
/// this one just took over.
async fn role_of(
    services: &Services,
    svc: &ScalingService,
    now: DateTime<Utc>,
) -> Result<(Role, bool, Option<u32>), RunError> {
    let (Some(endpoint), Some(f)) = (&svc.endpoint, &services.config.failover) else {
        return Ok((Role::Alone, false, None));
    };
    let state = get_json::<FailoverState>(services.state.as_ref(), STATE_KEY)
        .await?
        .map(|(s, _)| s)
        .unwrap_or_else(|| FailoverState::initial(f));
    let switching = state.in_flight.is_some();
    if state.active == *endpoint {
        // Just took over: start from what the other side's service carried.
        let recent = state.last_switch.is_some_and(|t| {
            now.signed_duration_since(t).num_seconds()
                < i64::try_from(svc.stabilization_secs.max(600)).unwrap_or(i64::MAX)
        });
        let mut carried = None;
        if recent && let Some(last) = state.history.last() {
            let other = services
                .config
                .scaling
                .iter()
                .flat_map(|c| c.services.iter())
                .find(|s| s.endpoint.as_deref() == Some(last.switch.from.as_str()));
            if let Some(o) = other {
                carried = get_json::<ScalingRecord>(services.state.as_ref(), &record_key(&o.name))
                    .await?
                    .and_then(|(r, _)| r.active_capacity);
            }
        }
        return Ok((Role::Active, switching, carried));
    }
    let active = f.endpoint(&state.active).ok_or_else(|| {
        RunError::Config(format!(
            "failover active side `{}` is not configured",
            state.active
        ))
    })?;
    let active_capacity = match services
        .compute
        .get(&ComputeRef::Endpoint(active.name.clone()))
    {
        Some(c) => c.scale(active.compute.service()).await?.desired,
        None => 0,
    };
    Ok((Role::Standby { active_capacity }, switching, None))
}

/// A message saying an alarm fired is a hint: its step counts only once the provider says the
/// alarm is in ALARM now. A Cloud Monitoring incident cannot be read back, so it steps nothing
/// (the metrics still decide).
async fn confirmed_step(
    services: &Services,
    svc: &ScalingService,
    signal: &Signal,
    step_add: u32,
    notes: &mut Vec<String>,
) -> Result<u32, RunError> {
    if step_add == 0 {
        return Ok(0);
    }
    let SignalKind::Alarm(a) = &signal.kind else {
        notes.push(format!(
            "{}: an incident cannot be confirmed with its provider: no step, the metrics decide",
            svc.name
        ));
        return Ok(0);
    };
    let Some(alarms) = services.alarms.get(&ComputeRef::Scaling(svc.name.clone())) else {
        notes.push(format!(
            "{}: alarm {} cannot be confirmed where this service runs: no step, the metrics decide",
            svc.name, a.name
        ));
        return Ok(0);
    };
    match alarms.state(&a.name).await? {
        Some(AlarmState::Alarm) => Ok(step_add),
        other => {
            notes.push(format!(
                "{}: the message says alarm {} fired, but its provider says {}: no step",
                svc.name,
                a.name,
                other.map_or("there is no such alarm".to_owned(), |s| format!(
                    "it is {s}"
                ))
            ));
            Ok(0)
        }
    }
}

/// What one look at a scaling service found, before the planner decides.
struct Look {
    key: ComputeRef,
    scale: twincloud_core::ports::ServiceScale,
    readings: Vec<(twincloud_core::config::Metric, f64)>,
    step_add: u32,
    notes: Vec<String>,
    /// The budget guard's hold on this service (a cap or a stop).
    hold: Option<Hold>,
    /// The budget guard's standby-to-zero hold (binds it while it is a failover standby).
    standby_hold: Option<Hold>,
    record: ScalingRecord,
    version: Option<twincloud_core::ports::Version>,
    /// Whether this event decided a change before and its scale is not done yet.
    unfinished: bool,
}

/// Reads what the planner needs: the service's scale, its load, a confirmed step, its cap,
/// its record and whether this event's earlier change is unfinished.
async fn look(
    services: &Services,
    svc: &ScalingService,
    step_add: u32,
    signal: &Signal,
) -> Result<Look, RunError> {
    let key = ComputeRef::Scaling(svc.name.clone());
    let compute = services.compute.get(&key).ok_or_else(|| {
        RunError::Config(format!("no compute for scaling service `{}`", svc.name))
    })?;
    let service = svc.compute.service();
    let scale = compute.scale(service).await?;
    let mut notes = Vec::new();
    let step_add = confirmed_step(services, svc, signal, step_add, &mut notes).await?;
    let wanted: Vec<_> = svc.targets.iter().map(|(m, _)| *m).collect();
    let readings = match services.metrics.get(&key) {
        Some(m) if !wanted.is_empty() => match m.readings(service, &wanted).await {
            Ok(r) => r,
            Err(e) if e.retry == twincloud_core::ports::Retry::Transient => return Err(e.into()),
            Err(e) => {
                notes.push(format!("{}: {}", svc.name, e.message));
                vec![]
            }
        },
        _ => vec![],
    };
    let hold = get_json::<Hold>(services.state.as_ref(), &service_hold_key(&svc.name))
        .await?
        .map(|(h, _)| h);
    let standby_hold = match &svc.endpoint {
        Some(_) => get_json::<Hold>(services.state.as_ref(), STANDBY_HOLD_KEY)
            .await?
            .map(|(h, _)| h),
        None => None,
    };
    let (record, version) =
        match get_json::<ScalingRecord>(services.state.as_ref(), &record_key(&svc.name)).await? {
            Some((r, v)) => (r, Some(v)),
            None => (ScalingRecord::default(), None),
        };
    // The record says which events decided; the journal says whether their change was made.
    let unfinished = record.applied.contains(&signal.id)
        && twincloud_runtime::effects::state_of(
            services.state.as_ref(),
            FUNCTION,
            &signal.id,
            &scaled_id(svc),
        )
        .await?
        .is_some_and(|s| !matches!(s, twincloud_runtime::effects::EffectState::Done { .. }));
    Ok(Look {
        key,
        scale,
        readings,
        step_add,
        notes,
        hold,
        standby_hold,
        record,
        version,
        unfinished,
    })
}

/// The bound the budget guard's holds put on a service in its role now, each hold that binds
/// it said in the notes (who set it and until when), and a hold that lapsed too.
fn held(svc: &ScalingService, look: &mut Look, role: &Role) -> Option<u32> {
    let serving = !matches!(role, Role::Standby { .. });
    let (cap, applied) = holds::bound(
        look.hold.as_ref(),
        look.standby_hold.as_ref(),
        serving,
        svc.min,
    );
    for h in &applied {
        look.notes.push(format!("{}: {}", svc.name, h.describe()));
    }
    if let Some(h) = look
        .hold
        .as_ref()
        .filter(|h| h.bound(serving, svc.min).is_none())
    {
        look.notes.push(format!(
            "{}: {} was set while it was a standby: it lapses while this side serves",
            svc.name,
            h.describe()
        ));
    }
    cap
}

/// The id of a service's scale action.
fn scaled_id(svc: &ScalingService) -> String {
    format!("scale-{}", svc.name)
}

async fn evaluate(
    services: &Services,
    svc: &ScalingService,
    step_add: u32,
    signal: &Signal,
    inv: Invocation,
) -> Result<Vec<Execution>, RunError> {
    let now = inv.now;
    let mut look = look(services, svc, step_add, signal).await?;
    let (role, switching, carried) = role_of(services, svc, now).await?;
    let cap = held(svc, &mut look, &role);
    let d = scaling::decide(&ScalingInputs {
        policy: svc,
        now,
        event_id: &signal.id,
        current: look.scale.desired,
        metrics: &look.readings,
        step_add: look.step_add,
        role,
        switching,
        carried,
        cap,
        record: &look.record,
        unfinished: look.unfinished,
    });
    let plan = plan_of(svc, signal, &look, cap, &d);
    let exec = execute(services, plan, inv.at(now)).await?;
    let scaled = scaled_id(svc);
    let changed = d.set.filter(|_| {
        !exec.superseded
            && exec.actions.iter().any(|a| {
                a.id == scaled && matches!(a.outcome, twincloud_runtime::Outcome::Done { .. })
            })
    });
    if d.set.is_some() && !exec.superseded {
        mark_made(services, svc, signal, &d, &exec).await?;
    }
    let mut out = vec![exec];
    // Finishing an earlier attempt's decision: the report says the change it decided.
    let from = if look.unfinished {
        look.record
            .changes
            .iter()
            .rev()
            .find(|c| c.event.as_deref() == Some(signal.id.as_str()))
            .map_or(look.scale.desired, |c| c.from)
    } else {
        look.scale.desired
    };
    if let Some(n) = changed {
        out.push(report_change(services, svc, signal, from, n, d.reason, inv.at(now)).await?);
    }
    Ok(out)
}

/// The plan for a decision: the record claimed with a compare-and-swap (one decision per
/// service at a time), Cloud Run's own maximum kept at the policy's, and the change.
fn plan_of(
    svc: &ScalingService,
    signal: &Signal,
    look: &Look,
    cap: Option<u32>,
    d: &scaling::ScalingDecision,
) -> Plan {
    let service = svc.compute.service();
    let mut plan = Plan::new(FUNCTION, &signal.id);
    plan.notes.extend(look.notes.iter().cloned());
    plan.notes.push(format!("{}: {}", svc.name, d.reason));
    plan.guard = Some(Guard::claim(
        record_key(&svc.name),
        look.version
            .clone()
            .map_or(Precondition::Absent, Precondition::Matches),
        serde_json::to_value(&d.record).unwrap_or_default(),
        format!("claim the scaling decision of `{}`", svc.name),
    ));
    // Cloud Run has a maximum of its own: it follows the policy's (and the cap), so that the
    // platform's autoscaler never goes beyond what twincloud allows.
    let bound = svc.max.min(cap.unwrap_or(u32::MAX)).max(svc.min);
    if matches!(
        svc.compute,
        twincloud_core::config::ComputeTarget::CloudRun { .. }
    ) && look.scale.max != Some(bound)
    {
        plan.actions.push(Action {
            id: format!("max-{}-{bound}", svc.name),
            reason: format!(
                "the service's own maximum follows the policy ({bound}, was {})",
                look.scale.max.map_or("unset".to_owned(), |m| m.to_string())
            ),
            depends_on: None,
            op: Operation::SetMax {
                endpoint: look.key.clone(),
                service: service.to_owned(),
                max: bound,
            },
        });
    }
    if let Some(n) = d.set {
        plan.actions.push(Action {
            id: scaled_id(svc),
            reason: d.reason.clone(),
            depends_on: None,
            op: Operation::SetDesired {
                endpoint: look.key.clone(),
                service: service.to_owned(),
                desired: n,
            },
        });
    }
    plan
}

/// The record says what the provider shows: a decided change whose scale failed is marked so
/// (the page shows it as not made), and unmarked once a retry makes it.
async fn mark_made(
    services: &Services,
    svc: &ScalingService,
    signal: &Signal,
    d: &scaling::ScalingDecision,
    exec: &Execution,
) -> Result<(), RunError> {
    let scaled = scaled_id(svc);
    let outcome = exec
        .actions
        .iter()
        .find(|a| a.id == scaled)
        .map(|a| &a.outcome);
    let failed = match outcome {
        Some(twincloud_runtime::Outcome::Failed { error, .. }) => Some(Some(error.clone())),
        Some(o) if o.succeeded() => Some(None),
        _ => None,
    };
    let mut rec = d.record.clone();
    if let (Some(failed), Some(version)) = (failed, exec.guard_version.clone())
        && let Some(c) = rec
            .changes
            .iter_mut()
            .rev()
            .find(|c| c.event.as_deref() == Some(signal.id.as_str()))
        && c.failed != failed
    {
        c.failed = failed;
        let body = serde_json::to_vec(&rec).map_err(|e| RunError::Permanent(e.to_string()))?;
        // Another invocation that moved the record on has the newer word.
        let _ = services
            .state
            .put(
                &record_key(&svc.name),
                &body,
                &Precondition::Matches(version),
            )
            .await;
    }
    Ok(())
}

/// Says a change made: from `from` to `to` instances, and why.
async fn report_change(
    services: &Services,
    svc: &ScalingService,
    signal: &Signal,
    from: u32,
    to: u32,
    why: String,
    inv: Invocation,
) -> Result<Execution, RunError> {
    let r = Report {
        function: FUNCTION.into(),
        title: format!(
            "Scaling {}: {} from {from} to {to}",
            svc.name,
            if to > from { "out" } else { "in" }
        ),
        summary: why,
        severity: Severity::Notice,
        fields: vec![("Service".into(), svc.compute.service().to_owned())],
        subject: format!("scaling:{}", svc.name),
        state: to.to_string(),
    };
    send_report(
        services,
        r,
        &signal.id,
        &format!("{}-report", svc.name),
        inv,
    )
    .await
}

#[async_trait]
impl Function for Scaling {
    fn name(&self) -> &'static str {
        FUNCTION
    }

    async fn plan(
        &self,
        signal: &Signal,
        services: &Services,
        _now: DateTime<Utc>,
    ) -> Result<Plan, RunError> {
        let cfg = scaling_config(services)?;
        let mut plan = Plan::new(FUNCTION, &signal.id);
        match targets(cfg, signal) {
            Ok(t) => plan
                .notes
                .push(format!("would evaluate {} service(s)", t.len())),
            Err(why) => plan.notes.push(why),
        }
        Ok(plan)
    }

    async fn run(
        &self,
        signal: &Signal,
        services: &Services,
        inv: Invocation,
    ) -> Result<Vec<Execution>, RunError> {
        let cfg = scaling_config(services)?;
        let mut out = Vec::new();
        match targets(cfg, signal) {
            Err(why) => {
                let mut e = Execution::nothing(FUNCTION, &signal.id);
                e.plan.notes.push(why);
                out.push(e);
            }
            Ok(list) => {
                for (svc, add) in list {
                    out.extend(evaluate(services, svc, add, signal, inv).await?);
                }
            }
        }
        Ok(out)
    }
}

/// Scaling.
pub const SPEC: twincloud_runtime::FunctionSpec = twincloud_runtime::FunctionSpec {
    name: twincloud_core::planner::scaling::FUNCTION,
    summary: "one scaling policy per service on either cloud, aware of failover and caps",
    config_section: Some("scaling.services"),
    triggers: &[
        twincloud_runtime::Trigger::Schedule,
        twincloud_runtime::Trigger::CloudWatchAlarm,
        twincloud_runtime::Trigger::PubSubTopic,
    ],
    access: &[
        twincloud_runtime::access::READ_CAPACITY,
        twincloud_runtime::access::SET_CAPACITY,
        twincloud_runtime::access::READ_LOAD,
        twincloud_runtime::access::READ_ALARMS,
    ],
    state: twincloud_runtime::access::StateScope {
        writes: &["scaling/"],
        reads: &["failover/", "holds/"],
    },
    wiring: twincloud_runtime::Wiring::ENDPOINTS.and(twincloud_runtime::Wiring::SCALING),
    make: || Box::new(Scaling),
};
