//! The budget guard: a budget alert (AWS Budgets through SNS, a GCP budget notification
//! through Pub/Sub) is matched to a guard, read back from the provider, and the steps of the
//! guard's ladder it crosses are taken once per budget period; every change records what it
//! replaced, and when the period moves on (the daily schedule notices) or on
//! `twincloud budget restore GUARD` they are undone, last first, unless someone changed the
//! same thing meanwhile (a conflict, reported, not clobbered).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use twincloud_core::Signal;
use twincloud_core::config::{BudgetConfig, BudgetGuard, StepMode};
use twincloud_core::plan::Plan;
use twincloud_core::planner::budget::{
    self, BudgetRef, FUNCTION, GuardRecord, Reading, Taken, record_key,
};
use twincloud_core::planner::failover::{FailoverState, STATE_KEY};
use twincloud_core::ports::{Precondition, Retry, StateError, Version, get_json};
use twincloud_core::signal::{BudgetAlert, Report, Severity, SignalKind};
use twincloud_core::text::clip;

use twincloud_runtime::effects::Effects;
use twincloud_runtime::error::RunError;
use twincloud_runtime::executor::{Execution, Outcome};
use twincloud_runtime::function::{Function, Invocation};
use twincloud_runtime::lease::state_error;
use twincloud_runtime::report::send_report;
use twincloud_runtime::services::Services;

mod steps;

/// The budget guard.
#[derive(Debug, Clone, Copy, Default)]
pub struct BudgetGuardFn;

fn budget_config(services: &Services) -> Result<&BudgetConfig, RunError> {
    services
        .config
        .budget
        .as_ref()
        .filter(|b| !b.guards.is_empty())
        .ok_or_else(|| {
            RunError::Config(format!(
                "{}: no [[budget.guards]] configured",
                services.config.origin
            ))
        })
}

/// One guard's evaluation: what it read, did and says.
pub(crate) struct Round<'a> {
    pub services: &'a Services,
    pub guard: &'a BudgetGuard,
    pub signal: &'a Signal,
    pub inv: Invocation,
    pub exec: Execution,
    /// Every change the round makes goes through here (journaled, audited, reported).
    pub fx: Effects,
    /// The events whose attempts at the step being taken left it unfinished.
    pub earlier: Vec<String>,
    pub lines: Vec<String>,
}

/// How many earlier events' journals an unfinished step keeps the names of.
const MAX_ATTEMPTS_KEPT: usize = 5;

impl<'a> Round<'a> {
    fn new(
        services: &'a Services,
        guard: &'a BudgetGuard,
        signal: &'a Signal,
        inv: Invocation,
    ) -> Self {
        Round {
            services,
            guard,
            signal,
            inv,
            exec: Execution::nothing(FUNCTION, &signal.id),
            fx: Effects::new(services, FUNCTION, &signal.id, inv),
            earlier: vec![],
            lines: vec![],
        }
    }

    /// The round's execution: its notes and what each effect did.
    fn execution(&mut self) -> Execution {
        let mut e = std::mem::replace(
            &mut self.exec,
            Execution::nothing(FUNCTION, &self.signal.id),
        );
        e.actions.extend(self.fx.take_reports());
        e
    }

    /// Records a failure that no effect reported (a read that failed, a service that is not
    /// configured), so that the report, the exit code and the platform's retry see it.
    fn failed(&mut self, id: &str, what: &str, e: &RunError) {
        let reported = self
            .fx
            .reports()
            .last()
            .is_some_and(|r| matches!(r.outcome, Outcome::Failed { .. }));
        if !reported {
            let retry = if e.is_transient() {
                Retry::Transient
            } else {
                Retry::Permanent
            };
            let error = e.to_string();
            self.fx.report(
                id,
                what,
                &format!("budget guard `{}`", self.guard.name),
                Outcome::Failed { error, retry },
            );
        }
    }

    pub(crate) fn note(&mut self, text: impl std::fmt::Display) {
        self.exec
            .plan
            .notes
            .push(format!("{}: {text}", self.guard.name));
    }
}

/// The budget a guard reads on a schedule: AWS where it has one (AWS reports spend), else GCP.
fn default_ref(g: &BudgetGuard) -> Option<BudgetRef> {
    g.aws
        .as_ref()
        .map(|(account, name)| BudgetRef::Aws {
            account: account.clone(),
            name: name.clone(),
        })
        .or_else(|| {
            g.gcp.as_ref().map(|(b, id)| BudgetRef::Gcp {
                billing_account: b.clone(),
                budget_id: id.clone(),
            })
        })
}

async fn load(
    services: &Services,
    g: &BudgetGuard,
) -> Result<(GuardRecord, Option<Version>), RunError> {
    Ok(
        match get_json::<GuardRecord>(services.state.as_ref(), &record_key(&g.name))
            .await
            .map_err(state_error)?
        {
            Some((r, v)) => (r, Some(v)),
            None => (GuardRecord::default(), None),
        },
    )
}

/// Writes the record if it is still the version read; false when another invocation wrote
/// first (it acted; this one stops).
async fn save(
    services: &Services,
    g: &BudgetGuard,
    record: &GuardRecord,
    version: &mut Option<Version>,
) -> Result<bool, RunError> {
    let body = serde_json::to_vec(record).map_err(|e| RunError::Permanent(e.to_string()))?;
    let expect = version
        .clone()
        .map_or(Precondition::Absent, Precondition::Matches);
    match services
        .state
        .put(&record_key(&g.name), &body, &expect)
        .await
    {
        Ok(v) => {
            *version = Some(v);
            Ok(true)
        }
        Err(StateError::ConditionFailed(_)) => Ok(false),
        Err(e) => Err(state_error(e)),
    }
}

async fn switching(services: &Services) -> Result<bool, RunError> {
    Ok(
        get_json::<FailoverState>(services.state.as_ref(), STATE_KEY)
            .await
            .map_err(state_error)?
            .is_some_and(|(s, _)| s.in_flight.is_some()),
    )
}

async fn read(services: &Services, r: &BudgetRef) -> Result<Option<Reading>, RunError> {
    let source = match r {
        BudgetRef::Aws { .. } => services.budgets.get(&twincloud_core::signal::Cloud::Aws),
        BudgetRef::Gcp { .. } => services.budgets.get(&twincloud_core::signal::Cloud::Gcp),
    }
    .ok_or_else(|| RunError::Config("no budget source for this provider".into()))?;
    Ok(source.read(r).await?)
}

/// A guard's record as read, and the version to write it back over.
struct Stored {
    record: GuardRecord,
    version: Option<Version>,
}

impl Stored {
    /// Writes the record; false when another invocation wrote first.
    async fn save(&mut self, services: &Services, g: &BudgetGuard) -> Result<bool, RunError> {
        save(services, g, &self.record, &mut self.version).await
    }
}

/// Reads the budget, undoes last period's changes when the period moved on, and takes the steps
/// the confirmed spend crosses.
async fn evaluate(
    services: &Services,
    g: &BudgetGuard,
    bref: &BudgetRef,
    alert: Option<&BudgetAlert>,
    signal: &Signal,
    inv: Invocation,
) -> Result<Vec<Execution>, RunError> {
    let mut round = Round::new(services, g, signal, inv);
    let (record, version) = load(services, g).await?;
    let mut st = Stored { record, version };
    let unfinished = st.record.taken.iter().any(|t| t.unfinished.is_some());
    // A message seen before is done with, unless a step it started is unfinished: then the
    // redelivery is how the step gets finished.
    if alert.is_some() && !st.record.see(&signal.id) && !unfinished {
        round.note("this message was handled before: nothing more");
        return Ok(vec![round.execution()]);
    }
    let Some(reading) = read(services, bref).await? else {
        round.note("the provider has no such budget: nothing done (a forged or stale message?)");
        st.record.forget(&signal.id);
        st.save(services, g).await?;
        return Ok(vec![round.execution()]);
    };
    let mut out = vec![];
    // Undos of an earlier period that failed are tried again before anything else.
    if !st.record.undo_pending.is_empty() {
        let pending = std::mem::take(&mut st.record.undo_pending);
        st.record.undo_pending =
            steps::restore(&mut round, pending, "an earlier undo failed").await;
        st.save(services, g).await?;
    }
    if budget::period_rolled(&st.record, &reading) {
        out.extend(roll_over(&mut round, &mut st, &reading).await?);
    }
    if budget::period_moved_on(&st.record, &reading) {
        st.record.period = Some(reading.period_start.clone());
        st.record.taken.clear();
    }
    let due = match confirmed_due(&mut round, &mut st, bref, &reading, alert).await? {
        Some(due) => due,
        None => return Ok(std::iter::once(round.execution()).chain(out).collect()),
    };
    let Some(failed) = climb(&mut round, &mut st, due).await? else {
        round.note("another invocation is acting on this guard: this one stops");
        return Ok(std::iter::once(round.execution()).chain(out).collect());
    };
    let spend = st.record.spend.as_ref();
    let pct = spend.and_then(|s| s.actual.or(s.forecast)).unwrap_or(0.0) / reading.limit * 100.0;
    out.extend(
        report(
            &mut round,
            &format!(
                "{pct:.0} % of {:.2}{}",
                reading.limit,
                if failed { ", a step FAILED" } else { "" }
            ),
            if pct >= 100.0 || failed {
                Severity::Critical
            } else {
                Severity::Warning
            },
            &format!(
                "steps-{}{}",
                st.record.taken.len(),
                if failed { "-failed" } else { "" }
            ),
        )
        .await,
    );
    Ok(std::iter::once(round.execution()).chain(out).collect())
}

/// A new period: last period's changes undone (what fails waits for the next run), its steps
/// forgotten, and the restore said.
async fn roll_over(
    round: &mut Round<'_>,
    st: &mut Stored,
    reading: &Reading,
) -> Result<Option<Execution>, RunError> {
    let (services, g) = (round.services, round.guard);
    let why = format!("the budget period moved on to {}", reading.period_start);
    let changes = budget::undo_order(&st.record);
    let left = steps::restore(round, changes, &why).await;
    st.record.undo_pending.extend(left);
    st.record.taken.clear();
    st.record.period = Some(reading.period_start.clone());
    st.save(services, g).await?;
    let headline = if st.record.undo_pending.is_empty() {
        format!("restored: {why}")
    } else {
        format!(
            "restore incomplete: {} change(s) not undone yet, tried again on the next run ({why})",
            st.record.undo_pending.len()
        )
    };
    Ok(report(round, &headline, Severity::Notice, "restore").await)
}

/// The steps the spend the provider confirms makes due; `None` (the message forgotten, so a
/// redelivery is judged again once the provider's spend caught up) when it confirms none.
async fn confirmed_due(
    round: &mut Round<'_>,
    st: &mut Stored,
    bref: &BudgetRef,
    reading: &Reading,
    alert: Option<&BudgetAlert>,
) -> Result<Option<Vec<usize>>, RunError> {
    let (services, g) = (round.services, round.guard);
    let event = round.signal.id.clone();
    let (actual, forecast) = match budget::confirmed_spend(bref, reading, alert) {
        Ok(s) => s,
        Err(why) => {
            round.note(&why);
            st.record.forget(&event);
            st.save(services, g).await?;
            return Ok(None);
        }
    };
    let due = budget::due(g, &st.record, reading.limit, actual, forecast);
    st.record.spend = Some(budget::Spend {
        limit: reading.limit,
        actual,
        forecast,
        at: round.inv.now,
    });
    let spent = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2}"));
    round.note(format!(
        "{} of {:.2} spent, {} forecast (as the provider confirms); {} step(s) due",
        spent(actual),
        reading.limit,
        spent(forecast),
        due.len()
    ));
    if due.is_empty() {
        st.record.forget(&event);
        st.save(services, g).await?;
        return Ok(None);
    }
    Ok(Some(due))
}

/// Takes the due steps in order, each claimed before it acts; the ladder stops at a step that
/// fails. `Some(failed)`, or `None` when another invocation claimed the guard first.
async fn climb(
    round: &mut Round<'_>,
    st: &mut Stored,
    due: Vec<usize>,
) -> Result<Option<bool>, RunError> {
    let (services, g) = (round.services, round.guard);
    let hold = switching(services).await?;
    for i in due {
        let step = &g.steps[i];
        if hold && step.action.name() != "notify" {
            round.note(format!(
                "{}: a failover switch is in flight: held until it is over",
                step.action.name()
            ));
            continue;
        }
        let enforced = step.mode == StepMode::Enforce;
        let mut taken = claimable(st, i, step.action.name(), enforced, round.inv.now);
        // The journals of earlier attempts hold what their changes replaced.
        round.earlier.clone_from(&taken.attempts);
        // Claimed before acting (a compare-and-swap): two deliveries never both act.
        st.record.taken.push(taken.clone());
        if !st.save(services, g).await? {
            return Ok(None);
        }
        let result = steps::take(round, i, step, enforced, &mut taken).await;
        if let Err(e) = &result {
            unfinished_step(round, i, step.action.name(), e, &mut taken);
        } else {
            taken.attempts.clear();
        }
        if let Some(last) = st.record.taken.last_mut() {
            *last = taken;
        }
        st.save(services, g).await?;
        if result.is_err() {
            // The ladder stops here: a higher step waits until this one is done.
            return Ok(Some(true));
        }
    }
    Ok(Some(false))
}

/// Step `i` as taken now: a step left unfinished keeps what it changed (for the undo) and is
/// taken again.
fn claimable(st: &mut Stored, i: usize, action: &str, enforced: bool, now: DateTime<Utc>) -> Taken {
    let mut taken = match st.record.taken.iter().position(|t| t.step == i) {
        Some(p) => st.record.taken.remove(p),
        None => Taken {
            step: i,
            action: action.to_owned(),
            at: now,
            rehearsed: !enforced,
            changes: vec![],
            unfinished: None,
            attempts: vec![],
        },
    };
    taken.at = now;
    taken.rehearsed = !enforced;
    taken.unfinished = None;
    taken
}

/// A step that failed: said, kept unfinished with the changes it made, and remembered for the
/// event that takes it up next.
fn unfinished_step(round: &mut Round<'_>, i: usize, action: &str, e: &RunError, taken: &mut Taken) {
    let g = round.guard;
    round.failed(
        &format!("{}-step{i}", g.name),
        &format!("take step {} ({action})", i + 1),
        e,
    );
    round.lines.push(format!(
        "step {} ({action}) is unfinished: {e}; {} change(s) made are kept for the undo, and the step is taken again by the next delivery or run",
        i + 1,
        taken.changes.len()
    ));
    taken.unfinished = Some(e.to_string());
    // Remembered (the last few) for whichever event takes the step up next.
    if !taken.attempts.contains(&round.signal.id) {
        taken.attempts.push(round.signal.id.clone());
        let extra = taken.attempts.len().saturating_sub(MAX_ATTEMPTS_KEPT);
        taken.attempts.drain(..extra);
    }
}

/// The guard's message: what was done (or would be) and what came back.
async fn report(
    round: &mut Round<'_>,
    headline: &str,
    severity: Severity,
    state: &str,
) -> Option<Execution> {
    if round.lines.is_empty() {
        return None;
    }
    for l in round.lines.clone() {
        round.note(l);
    }
    let r = Report {
        function: FUNCTION.into(),
        title: format!("Budget {}: {headline}", round.guard.name),
        summary: std::mem::take(&mut round.lines).join("\n"),
        severity,
        fields: vec![("Guard".into(), round.guard.name.clone())],
        subject: format!("budget:{}", round.guard.name),
        state: format!("{state}:{}", round.signal.id),
    };
    let tag = format!("{}-{state}", round.guard.name);
    match send_report(round.services, r, &round.signal.id, &tag, round.inv).await {
        Ok(e) => Some(e),
        Err(e) => {
            tracing::warn!("budget report not sent: {e}");
            None
        }
    }
}

/// `twincloud budget restore GUARD`: every change of the period undone now.
async fn restore_now(
    services: &Services,
    g: &BudgetGuard,
    caller: &str,
    signal: &Signal,
    inv: Invocation,
) -> Result<Vec<Execution>, RunError> {
    let mut round = Round::new(services, g, signal, inv);
    let (mut record, mut version) = load(services, g).await?;
    if record.taken.iter().all(|t| t.changes.is_empty()) && record.undo_pending.is_empty() {
        round.note("nothing was changed this period: nothing to restore");
        return Ok(vec![round.execution()]);
    }
    let why = format!("on command of {caller}");
    let mut changes = std::mem::take(&mut record.undo_pending);
    changes.extend(budget::undo_order(&record));
    let left = steps::restore(&mut round, changes, &why).await;
    // The steps stay taken for the period: restoring does not re-arm them. What could not be
    // undone is kept and tried again by the next run.
    for t in &mut record.taken {
        t.changes.clear();
    }
    let incomplete = !left.is_empty();
    record.undo_pending = left;
    save(services, g, &record, &mut version).await?;
    let headline = if incomplete {
        format!(
            "restore incomplete {why}: {} change(s) not undone yet, tried again on the next run",
            record.undo_pending.len()
        )
    } else {
        format!("restored {why}")
    };
    let rep = report(&mut round, &headline, Severity::Notice, "restore").await;
    Ok(std::iter::once(round.execution()).chain(rep).collect())
}

#[async_trait]
impl Function for BudgetGuardFn {
    fn name(&self) -> &'static str {
        FUNCTION
    }

    async fn plan(
        &self,
        signal: &Signal,
        services: &Services,
        _now: DateTime<Utc>,
    ) -> Result<Plan, RunError> {
        let cfg = budget_config(services)?;
        let mut plan = Plan::new(FUNCTION, &signal.id);
        match &signal.kind {
            SignalKind::Budget(a) => match budget::guard_for(cfg, a) {
                Ok((g, _)) => plan
                    .notes
                    .push(format!("would evaluate guard `{}`", g.name)),
                Err(why) => plan.notes.push(why),
            },
            SignalKind::ScheduleTick(_) => plan
                .notes
                .push("would look for a new budget period on every guard".into()),
            other => plan
                .notes
                .push(format!("{} events do not concern budgets", other.name())),
        }
        Ok(plan)
    }

    async fn run(
        &self,
        signal: &Signal,
        services: &Services,
        inv: Invocation,
    ) -> Result<Vec<Execution>, RunError> {
        let cfg = budget_config(services)?;
        match &signal.kind {
            SignalKind::Budget(a) => match budget::guard_for(cfg, a) {
                Ok((g, bref)) => evaluate(services, g, &bref, Some(a), signal, inv).await,
                Err(why) => Ok(vec![Execution::noted(FUNCTION, &signal.id, why)]),
            },
            SignalKind::ScheduleTick(_) => {
                let mut out = vec![];
                for g in &cfg.guards {
                    if let Some(r) = default_ref(g) {
                        out.extend(evaluate(services, g, &r, None, signal, inv).await?);
                    }
                }
                Ok(out)
            }
            SignalKind::Command(c) if c.command == "budget-restore" => {
                let Some(caller) = signal.origin.caller() else {
                    return Ok(vec![Execution::noted(
                        FUNCTION,
                        &signal.id,
                        "a command that is not an authenticated direct call",
                    )]);
                };
                let name = c.args.get("guard").and_then(|v| v.as_str()).unwrap_or("");
                match cfg.guards.iter().find(|g| g.name == name) {
                    Some(g) => restore_now(services, g, caller, signal, inv).await,
                    None => Ok(vec![Execution::noted(
                        FUNCTION,
                        &signal.id,
                        format!("`{}` is no budget guard", clip(name, 64)),
                    )]),
                }
            }
            other => Ok(vec![Execution::noted(
                FUNCTION,
                &signal.id,
                format!("{} events do not concern budgets", other.name()),
            )]),
        }
    }
}

/// The budget guard.
pub const SPEC: twincloud_runtime::FunctionSpec = twincloud_runtime::FunctionSpec {
    name: twincloud_core::planner::budget::FUNCTION,
    summary: "budget alerts confirmed with the provider, answered by a ladder of reversible steps",
    config_section: Some("budget.guards"),
    triggers: &[
        twincloud_runtime::Trigger::SnsTopic,
        twincloud_runtime::Trigger::PubSubTopic,
        twincloud_runtime::Trigger::Schedule,
        twincloud_runtime::Trigger::Command("budget-restore"),
    ],
    access: &[
        twincloud_runtime::access::READ_BUDGETS,
        twincloud_runtime::access::READ_CAPACITY,
        twincloud_runtime::access::SET_CAPACITY,
        twincloud_runtime::access::LINK_BILLING,
    ],
    state: twincloud_runtime::access::StateScope {
        writes: &["budget/", "holds/"],
        reads: &["failover/"],
    },
    wiring: twincloud_runtime::Wiring::ENDPOINTS
        .and(twincloud_runtime::Wiring::SCALING)
        .and(twincloud_runtime::Wiring::BUDGETS),
    make: || Box::new(BudgetGuardFn),
};
