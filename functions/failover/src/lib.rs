//! The failover function: probes both sides for most of a scheduled minute (or takes an alarm,
//! an incident or a person's command), and moves traffic when the pure planner says so:
//! standby scaled up first, then the DNS switch, then a report with the timeline.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use twincloud_core::Signal;
use twincloud_core::config::FailoverConfig;
use twincloud_core::plan::Plan;
use twincloud_core::planner::failover::{self, Decision, ManualCommand, VantageView};
use twincloud_core::signal::{AlarmState, Report, Severity, SignalKind};
use twincloud_core::text::clip;

use twincloud_runtime::error::RunError;
use twincloud_runtime::executor::{Execution, execute};
use twincloud_runtime::function::{Function, Invocation};
use twincloud_runtime::services::Services;

mod observe;
mod report;

use observe::{load_state, load_views, probe_round, record_round, save_status};
use report::{report, switch_report};

/// Time kept free after a probe round for a switch: standby readiness (30 s at most) and the
/// DNS provider's confirmation.
const SWITCH_BUDGET: Duration = Duration::from_secs(45);

/// The failover function.
#[derive(Debug, Clone, Copy, Default)]
pub struct Failover;

/// What a signal asks of the failover function.
enum Trigger {
    /// Probe for the configured window; `prompt` says what prompted it besides the schedule.
    Probe { prompt: Option<String> },
    /// A person's command.
    Command(ManualCommand),
    /// Not for this function.
    Ignore(String),
}

/// An alarm or an incident is a reason to probe now, never a verdict: anyone who can publish
/// to the topic can forge one, and only probes (from the quorum of vantage points) move traffic.
fn trigger(cfg: &FailoverConfig, signal: &Signal) -> Trigger {
    let mapped = |name: &str| {
        cfg.endpoints
            .iter()
            .find(|e| e.alarms.iter().any(|a| a == name))
            .map(|e| e.name.clone())
    };
    let prompted = |endpoint: String, what: String| Trigger::Probe {
        prompt: Some(format!(
            "{endpoint}: {what}; probing now (an alarm prompts probes, it does not decide)"
        )),
    };
    match &signal.kind {
        SignalKind::ScheduleTick(_) => Trigger::Probe { prompt: None },
        SignalKind::Alarm(a) => match (mapped(&a.name), a.state) {
            (Some(endpoint), AlarmState::Alarm) => prompted(
                endpoint,
                format!("alarm {} in ALARM: {}", a.name, clip(&a.reason, 200)),
            ),
            (Some(endpoint), AlarmState::Ok) => prompted(endpoint, format!("alarm {} OK", a.name)),
            (Some(_), AlarmState::InsufficientData) => Trigger::Ignore(format!(
                "alarm {} has insufficient data: not evidence either way",
                a.name
            )),
            (None, _) => Trigger::Ignore(format!(
                "alarm {} is not mapped to a failover endpoint (failover.endpoints.alarms)",
                a.name
            )),
        },
        SignalKind::Incident(i) => match mapped(&i.policy) {
            Some(endpoint) => prompted(
                endpoint,
                format!(
                    "incident {} {}: {}",
                    i.policy,
                    if i.open { "open" } else { "closed" },
                    clip(&i.summary, 200)
                ),
            ),
            None => Trigger::Ignore(format!(
                "incident policy {} is not mapped to a failover endpoint",
                i.policy
            )),
        },
        SignalKind::Command(c) => match c.command.as_str() {
            "failback" => Trigger::Command(ManualCommand::Failback {
                force: c.args.get("force").and_then(serde_json::Value::as_bool) == Some(true),
            }),
            "probe" => Trigger::Probe {
                prompt: Some("probe on command".into()),
            },
            other => Trigger::Ignore(format!(
                "command `{}` is not a failover command (failback, probe)",
                clip(other, 64)
            )),
        },
        other => Trigger::Ignore(format!("{} events do not concern failover", other.name())),
    }
}

fn failover_config(services: &Services) -> Result<&FailoverConfig, RunError> {
    services.config.failover.as_ref().ok_or_else(|| {
        RunError::Config(format!("{}: no [failover] section", services.config.origin))
    })
}

/// Probe rounds for the invocation's window, deciding after each; stops at a switch. When
/// prompted (an alarm, an incident), long enough for this invocation alone to confirm (or
/// refute) a failure: `threshold` rounds at least.
async fn probe_window(
    cfg: &FailoverConfig,
    services: &Services,
    mine: &mut VantageView,
    prompt: Option<String>,
    event: &str,
    inv: Invocation,
    summary: &mut Vec<String>,
) -> Result<Vec<Execution>, RunError> {
    let mut executions = Vec::new();
    let mut rounds = (cfg.probe_window_secs / cfg.probe_interval_secs).max(1);
    if prompt.is_some() {
        rounds = rounds.max(u64::from(cfg.threshold));
    }
    summary.extend(prompt);
    let start = tokio::time::Instant::now();
    for round in 0..rounds {
        // Keep room for a switch (standby readiness and the DNS wait) after a round.
        if round > 0 && !inv.has_time(Duration::from_secs(cfg.probe_interval_secs) + SWITCH_BUDGET)
        {
            summary.push(format!(
                "stopped after {round} round(s): the invocation's deadline is near"
            ));
            break;
        }
        if round > 0 {
            tokio::time::sleep_until(start + Duration::from_secs(round * cfg.probe_interval_secs))
                .await;
        }
        let at = Utc::now();
        let results = probe_round(cfg, services).await;
        record_round(services, cfg, mine, &results, at).await?;
        let mut notes = Vec::new();
        let (ex, stop) =
            decide_and_act(services, cfg, mine, None, event, inv.at(at), &mut notes).await?;
        executions.extend(ex);
        if round + 1 == rounds || stop {
            summary.extend(notes);
            summary.push(format!("probe round {} of {rounds}", round + 1));
        }
        if stop {
            break;
        }
    }
    Ok(executions)
}

/// One decision step: decide on the current records, act if needed. Returns the executions and
/// whether the window should stop (a switch happened or was attempted).
async fn decide_and_act(
    services: &Services,
    cfg: &FailoverConfig,
    mine: &VantageView,
    command: Option<ManualCommand>,
    event: &str,
    inv: Invocation,
    notes: &mut Vec<String>,
) -> Result<(Vec<Execution>, bool), RunError> {
    let now = inv.now;
    let (state, version) = load_state(services, cfg).await?;
    let views = load_views(services).await?;
    let mut all = views.clone();
    if !all.iter().any(|v| v.vantage == mine.vantage) {
        all.push(mine.clone());
    }
    save_status(services, cfg, &state, &all, now).await?;
    let looked = Looked {
        services,
        cfg,
        state: &state,
        mine,
        version: version.as_ref(),
        event,
        inv,
    };
    match failover::decide(cfg, &state, mine, &views, now, command) {
        Decision::Hold { reason } => {
            notes.push(reason);
            Ok((vec![], false))
        }
        Decision::Abandon { switch, reason } => looked.abandon(&switch, reason, notes).await,
        Decision::Stuck { reason } => {
            notes.push(reason.clone());
            let r = Report {
                function: failover::FUNCTION.into(),
                title: format!("Failover blocked: {} stays active", state.active),
                summary: reason,
                severity: Severity::Critical,
                fields: vec![("Record".into(), cfg.record.clone())],
                subject: format!("stuck:{}", state.active),
                state: "stuck".into(),
            };
            Ok((vec![report(services, r, event, "stuck", inv).await?], false))
        }
        Decision::Switch { switch, reason } => {
            Ok((looked.switch(&switch, &reason, notes).await?, true))
        }
    }
}

/// The records one decision was made on, for acting on it.
struct Looked<'a> {
    services: &'a Services,
    cfg: &'a FailoverConfig,
    state: &'a failover::FailoverState,
    mine: &'a VantageView,
    version: Option<&'a twincloud_core::ports::Version>,
    event: &'a str,
    inv: Invocation,
}

impl Looked<'_> {
    /// An unfinished switch nobody finishes: abandoned, and said. If the record already names
    /// the target, the switch did take effect and only its record is missing: it is finished
    /// instead (done steps are skipped).
    async fn abandon(
        &self,
        switch: &failover::SwitchInFlight,
        reason: String,
        notes: &mut Vec<String>,
    ) -> Result<(Vec<Execution>, bool), RunError> {
        let (services, cfg, inv) = (self.services, self.cfg, self.inv);
        let target = cfg.endpoint(&switch.to).map(|e| e.dns_target.clone());
        let current = match &services.traffic {
            Some(t) => t.current_target(&cfg.record).await.ok().flatten(),
            None => None,
        };
        if target.is_some() && current == target {
            let mut plan = failover::plan_switch(
                cfg,
                self.state,
                self.version,
                switch,
                "finishing a switch whose DNS change took effect",
                inv.now,
            );
            if let Some(hold) = standby_hold(services).await? {
                failover::under_standby_hold(&mut plan, hold.max, &hold.describe());
            }
            return Ok((vec![execute(services, plan, inv).await?], true));
        }
        notes.push(reason.clone());
        let exec = execute(
            services,
            failover::plan_abandon(self.state, self.version, switch, &reason),
            inv,
        )
        .await?;
        let r = Report {
            function: failover::FUNCTION.into(),
            title: format!(
                "Unfinished switch {} → {} abandoned; traffic stays on {}",
                switch.from, switch.to, self.state.active
            ),
            summary: reason,
            severity: Severity::Warning,
            fields: vec![("Started".into(), switch.started.to_rfc3339())],
            subject: switch.id.clone(),
            state: "abandoned".into(),
        };
        let tag = format!("{}-abandoned", switch.id);
        let sent = report(services, r, self.event, &tag, inv).await?;
        Ok((vec![exec, sent], false))
    }

    /// A switch, made under the record's lock, then its lock settled and its report sent.
    /// Only the switch's execution when nothing was switched (another invocation has it, or a
    /// dry run made nothing): its follow-ups are not this invocation's.
    async fn switch(
        &self,
        switch: &failover::SwitchInFlight,
        reason: &str,
        notes: &mut Vec<String>,
    ) -> Result<Vec<Execution>, RunError> {
        let (services, inv) = (self.services, self.inv);
        let mut plan =
            failover::plan_switch(self.cfg, self.state, self.version, switch, reason, inv.now);
        if let Some(hold) = standby_hold(services).await? {
            failover::under_standby_hold(&mut plan, hold.max, &hold.describe());
            notes.extend(plan.notes.last().cloned());
        }
        let exec = execute(services, plan, inv).await?;
        if exec.superseded || exec.rehearsed() {
            return Ok(vec![exec]);
        }
        let mut out = Vec::with_capacity(3);
        out.extend(self.settle(switch, &exec, notes).await?);
        let mut r = switch_report(switch, reason, &exec);
        if let Some(n) = exec
            .plan
            .notes
            .iter()
            .find(|n| n.starts_with("the standby was "))
        {
            r.fields.push(("Budget hold".into(), n.clone()));
        }
        let tag = format!("{}-report", switch.id);
        let sent = report(services, r, self.event, &tag, inv).await?;
        refresh_status(services, self.cfg, self.mine).await;
        out.insert(0, exec);
        out.push(sent);
        Ok(out)
    }

    /// The lock after a switch attempt. Traffic never moved (a step before the DNS change
    /// failed): released at once, so the next run can try again instead of waiting out the
    /// lease. A step failed after the traffic step began: the lock stays (the DNS change may
    /// have landed) and says that this attempt has ended, so the next look resumes the switch
    /// now, its done steps skipped.
    async fn settle(
        &self,
        switch: &failover::SwitchInFlight,
        exec: &Execution,
        notes: &mut Vec<String>,
    ) -> Result<Option<Execution>, RunError> {
        let traffic_untouched = exec.actions.iter().any(|a| {
            a.id == "switch-traffic"
                && matches!(a.outcome, twincloud_runtime::Outcome::Skipped { .. })
        });
        let Some(held) = &exec.guard_version else {
            return Ok(None);
        };
        if traffic_untouched {
            let why = "a step before the traffic switch failed: lock released, the next run may try again";
            let release = execute(
                self.services,
                failover::plan_abandon(self.state, Some(held), switch, why),
                self.inv,
            )
            .await?;
            notes.push(if release.superseded {
                "the lock changed hands before it could be released".to_owned()
            } else {
                why.to_owned()
            });
            return Ok(Some(release));
        }
        let failed = exec
            .actions
            .iter()
            .any(|a| matches!(a.outcome, twincloud_runtime::Outcome::Failed { .. }));
        if failed {
            notes.push(mark_ended(self.services, held).await);
        }
        Ok(None)
    }
}

/// The status document rewritten after a switch (a stale one is rewritten by the next round).
/// The budget guard's standby-to-zero hold, when it stands.
async fn standby_hold(
    services: &Services,
) -> Result<Option<twincloud_core::records::holds::Hold>, RunError> {
    Ok(twincloud_core::ports::get_json(
        services.state.as_ref(),
        twincloud_core::records::holds::STANDBY_HOLD_KEY,
    )
    .await
    .map_err(twincloud_runtime::lease::state_error)?
    .map(|(h, _)| h))
}

async fn refresh_status(services: &Services, cfg: &FailoverConfig, mine: &VantageView) {
    if let Ok((after, _)) = load_state(services, cfg).await {
        let mut all = load_views(services).await.unwrap_or_default();
        if !all.iter().any(|v| v.vantage == mine.vantage) {
            all.push(mine.clone());
        }
        if let Err(e) = save_status(services, cfg, &after, &all, Utc::now()).await {
            tracing::warn!("status document not updated after the switch: {e}");
        }
    }
}

/// Marks the switch in flight as left by its attempt (see
/// [`failover::SwitchInFlight::settled`]), if
/// the record is still the one this attempt wrote. Returns what to note.
async fn mark_ended(services: &Services, held: &twincloud_core::ports::Version) -> String {
    use twincloud_core::ports::{Precondition, get_json};
    let key = failover::STATE_KEY;
    let read = get_json::<failover::FailoverState>(services.state.as_ref(), key).await;
    let Ok(Some((mut state, version))) = read else {
        return "the switch's record could not be read: the next run resumes it after its lease"
            .into();
    };
    if version != *held {
        return "the lock changed hands: the switch is another invocation's now".into();
    }
    let Some(f) = &mut state.in_flight else {
        return "the switch is recorded as finished".into();
    };
    f.settled = true;
    let Ok(body) = serde_json::to_vec(&state) else {
        return "the switch's record could not be written".into();
    };
    match services
        .state
        .put(key, &body, &Precondition::Matches(version))
        .await
    {
        Ok(_) => "the switch is left for the next look to resume (done steps are skipped)".into(),
        Err(e) => format!("the switch stays locked until its lease ends ({e})"),
    }
}

#[async_trait]
impl Function for Failover {
    fn name(&self) -> &'static str {
        failover::FUNCTION
    }

    async fn plan(
        &self,
        signal: &Signal,
        services: &Services,
        _now: DateTime<Utc>,
    ) -> Result<Plan, RunError> {
        // Failover observes over time; `run` is its entry. A bare plan only says what it ignores.
        let cfg = failover_config(services)?;
        let mut plan = Plan::new(failover::FUNCTION, &signal.id);
        if let Trigger::Ignore(why) = trigger(cfg, signal) {
            plan.notes.push(why);
        }
        Ok(plan)
    }

    async fn run(
        &self,
        signal: &Signal,
        services: &Services,
        inv: Invocation,
    ) -> Result<Vec<Execution>, RunError> {
        let now = inv.now;
        let cfg = failover_config(services)?;
        let mut summary = Plan::new(failover::FUNCTION, &signal.id);
        let mut executions = Vec::new();
        let views = load_views(services).await?;
        let mut mine = views
            .into_iter()
            .find(|v| v.vantage == services.vantage)
            .unwrap_or_else(|| VantageView {
                vantage: services.vantage.clone(),
                ..Default::default()
            });
        match trigger(cfg, signal) {
            Trigger::Ignore(why) => summary.notes.push(why),
            Trigger::Command(cmd) => {
                // A person acts on what the latest round shows: probe once first.
                let results = probe_round(cfg, services).await;
                record_round(services, cfg, &mut mine, &results, now).await?;
                let (ex, _) = decide_and_act(
                    services,
                    cfg,
                    &mine,
                    Some(cmd),
                    &signal.id,
                    inv,
                    &mut summary.notes,
                )
                .await?;
                executions.extend(ex);
            }
            Trigger::Probe { prompt } => {
                let ex = probe_window(
                    cfg,
                    services,
                    &mut mine,
                    prompt,
                    &signal.id,
                    inv,
                    &mut summary.notes,
                )
                .await?;
                executions.extend(ex);
            }
        }
        let mut out = vec![Execution {
            plan: summary,
            ..Execution::nothing(failover::FUNCTION, &signal.id)
        }];
        out.extend(executions);
        Ok(out)
    }
}

/// Failover between the two sides.
pub const SPEC: twincloud_runtime::FunctionSpec = twincloud_runtime::FunctionSpec {
    name: twincloud_core::planner::failover::FUNCTION,
    summary: "probes both sides and moves traffic to the healthy one, standby scaled up first",
    config_section: Some("failover"),
    triggers: &[
        twincloud_runtime::Trigger::Schedule,
        twincloud_runtime::Trigger::CloudWatchAlarm,
        twincloud_runtime::Trigger::PubSubTopic,
        twincloud_runtime::Trigger::Command("failback"),
    ],
    access: &[
        twincloud_runtime::access::READ_CAPACITY,
        twincloud_runtime::access::SET_CAPACITY,
        twincloud_runtime::access::SWITCH_DNS,
    ],
    state: twincloud_runtime::access::StateScope {
        writes: &["failover/"],
        reads: &["holds/"],
    },
    wiring: twincloud_runtime::Wiring::ENDPOINTS.and(twincloud_runtime::Wiring::TRAFFIC),
    make: || Box::new(Failover),
};
