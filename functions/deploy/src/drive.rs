//! Driving one target's rollout: take the lease on its record, take up a queued request,
//! then step the sides (mirror, create, traffic, bake, roll back) until the rollout ends or
//! waits longer than this invocation can, saving the record after every step.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use twincloud_core::Signal;
use twincloud_core::config::{DeploySide, DeployTarget};
use twincloud_core::planner::deploy::{
    self, Begin, Outcome as RolloutOutcome, Phase, PushMatch, Rollout, SideRollout, SideStep, short,
};
use twincloud_core::planner::failover::{FailoverState, STATE_KEY};
use twincloud_core::ports::{Deployer, PortError, Retry, Version, get_json};
use twincloud_core::signal::{Report, Severity};

use super::{DeployState, FUNCTION, Queued, checks, dequeue, enqueue};
use twincloud_runtime::effects::{Effect, Effects};
use twincloud_runtime::error::RunError;
use twincloud_runtime::executor::Execution;
use twincloud_runtime::function::Invocation;
use twincloud_runtime::lease::{self, state_error};
use twincloud_runtime::report::send_report;
use twincloud_runtime::services::{Services, SideRef};

/// The longest wait an invocation sits through; longer ones are the schedule's.
const MAX_INLINE_WAIT: Duration = Duration::from_secs(20);
/// Time kept before the platform's deadline to save the record.
const WIND_DOWN: Duration = Duration::from_secs(15);
/// Transient failures one invocation sits through before it leaves the rollout to the schedule
/// (a command from the CLI returns instead of retrying for ever).
const MAX_TRANSIENT_WAITS: u32 = 3;
/// How long a lease lasts without a platform deadline (the CLI).
const LEASE_WITHOUT_DEADLINE: Duration = Duration::from_secs(15 * 60);

/// The tag under which a new revision answers on its own (`tc-` and 12 digits of the digest).
pub(super) fn revision_tag(digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    format!("tc-{}", &hex[..hex.len().min(12)])
}

struct Driver<'a> {
    services: &'a Services,
    t: &'a DeployTarget,
    signal: &'a Signal,
    inv: Invocation,
    started: Instant,
    state: DeployState,
    version: Version,
    exec: Execution,
    fx: Effects,
    out: Vec<Execution>,
    lost: bool,
    /// Transient failures sat through in this invocation.
    transient_waits: u32,
}

/// What came of a provider call of a step.
enum Called<T> {
    /// Made (now or by an earlier attempt of this event): its result.
    Made(T),
    /// Only rehearsed (a dry run): nothing that depends on it can be looked at.
    Rehearsed,
}

enum Next {
    Continue,
    Wait(Duration),
    Stop,
}

impl<'a> Driver<'a> {
    fn now(&self) -> DateTime<Utc> {
        self.inv.now + chrono::Duration::from_std(self.started.elapsed()).unwrap_or_default()
    }

    fn note(&mut self, text: impl std::fmt::Display) {
        self.exec
            .plan
            .notes
            .push(format!("{}: {text}", self.t.name));
    }

    fn deployer(&self, side: usize) -> Result<&'a dyn Deployer, RunError> {
        self.services
            .deployers
            .get(&SideRef::new(&self.t.name, side))
            .map(|d| d.as_ref())
            .ok_or_else(|| RunError::Config(format!("no deployer for target `{}`", self.t.name)))
    }

    /// Runs one provider call through the effects handle (journaled, audited, reported). `id`
    /// names the change within the event (a side, a digest, a share), so that a redelivery
    /// finds it done and gets its recorded result back instead of making it again.
    async fn effect<T: serde::Serialize + serde::de::DeserializeOwned>(
        &mut self,
        id: String,
        what: String,
        call: impl std::future::Future<Output = Result<T, PortError>>,
    ) -> Result<Called<T>, PortError> {
        let effect = Effect::new(
            format!("{}-{id}", self.t.name),
            what,
            format!("deploy target `{}`", self.t.name),
        );
        Ok(match self.fx.act_replayed(effect, call).await? {
            Some(v) => Called::Made(v),
            None => Called::Rehearsed,
        })
    }

    /// A change was only rehearsed: the rollout stops here, and says what follows it.
    async fn rehearsed(&mut self, r: &Rollout, side: usize) -> Next {
        self.note("a dry run stops at the first change the next steps depend on");
        let lines = preview(self.services, self.t, r, side).await;
        for l in lines {
            self.note(l);
        }
        Next::Stop
    }

    /// Saves the record; false (and nothing more is done) when another invocation took it.
    async fn save(&mut self) -> Result<bool, RunError> {
        let ok = lease::save(
            self.services.state.as_ref(),
            &deploy::record_key(&self.t.name),
            &self.state,
            &mut self.version,
        )
        .await?;
        if !ok {
            self.lost = true;
            self.note("another invocation took this rollout over; this one stops");
        }
        Ok(ok)
    }

    async fn report(&mut self, title: String, summary: String, severity: Severity, step: &str) {
        let Some(r) = &self.state.record.rollout else {
            return;
        };
        let mut fields = vec![
            ("Target".to_owned(), self.t.name.clone()),
            ("Digest".to_owned(), r.digest.clone()),
            ("Tag".to_owned(), r.tag.clone()),
            ("Asked by".to_owned(), r.requested_by.clone()),
        ];
        for s in &r.sides {
            // At the end, which image each side serves: both the new one or both the old one.
            let serving = match (&r.outcome, &s.phase) {
                (None, _) => String::new(),
                (Some(_), Phase::Done { .. }) => format!("; serves {}", short(&r.digest)),
                (Some(_), _) => format!(
                    "; serves {}",
                    s.previous_image
                        .as_deref()
                        .unwrap_or("what it served before")
                ),
            };
            fields.push((s.label.clone(), format!("{}{serving}", s.phase.describe())));
        }
        let report = Report {
            function: FUNCTION.into(),
            title,
            summary,
            severity,
            fields,
            subject: format!("deploy:{}", self.t.name),
            state: format!("{}:{step}", r.digest),
        };
        let tag = format!("{}-{}", self.t.name, step);
        match send_report(
            self.services,
            report,
            &self.signal.id,
            &tag,
            self.inv.at(self.now()),
        )
        .await
        {
            Ok(e) => self.out.push(e),
            Err(e) => tracing::warn!("deploy report not sent: {e}"),
        }
    }

    /// The failover side serving now, for standby-first ordering.
    async fn active(&self) -> Result<Option<String>, RunError> {
        let Some(f) = &self.services.config.failover else {
            return Ok(None);
        };
        Ok(Some(
            get_json::<FailoverState>(self.services.state.as_ref(), STATE_KEY)
                .await
                .map_err(state_error)?
                .map(|(s, _)| s)
                .unwrap_or_else(|| FailoverState::initial(f))
                .active,
        ))
    }

    /// Whether a failover switch is in flight: no rollout starts during one.
    async fn switching(&self) -> Result<bool, RunError> {
        Ok(
            get_json::<FailoverState>(self.services.state.as_ref(), STATE_KEY)
                .await
                .map_err(state_error)?
                .is_some_and(|(s, _)| s.in_flight.is_some()),
        )
    }

    /// A message is a hint: the tag must point at the digest in the registry now (a forged,
    /// stale or reordered push does not), and a commanded digest must exist.
    async fn confirm(&mut self, q: &Queued) -> Result<bool, RunError> {
        match confirmed(self.services, self.t, q).await? {
            Ok(()) => Ok(true),
            Err(why) => {
                self.note(why);
                Ok(false)
            }
        }
    }

    /// Takes up a queued request.
    async fn take(&mut self, q: Queued) -> Result<(), RunError> {
        match q {
            Queued::Rollback { requested_by } => self.rollback_all(&requested_by).await,
            Queued::Deploy {
                ref digest,
                ref tag,
                source_side,
                ref requested_by,
                forced,
                ref only,
                ref event,
            } => {
                if let Some(why) = deploy::taken_before(&self.state.record, event) {
                    self.note(why);
                    return Ok(());
                }
                if self.switching().await? {
                    // Put it back: the schedule starts it once the switch is over (unless a
                    // command was queued meanwhile: a push never replaces one).
                    if enqueue(self.services, &self.t.name, &q).await? {
                        self.note("a failover switch is in flight: the rollout waits for it");
                    } else {
                        self.note("a failover switch is in flight, and a command waits in the queue: this push is not deployed (push again once the command ran)");
                    }
                    return Ok(());
                }
                match self.confirm(&q).await {
                    Ok(true) => {}
                    Ok(false) => return Ok(()),
                    Err(e) => {
                        // Back in the queue for the retry (a command queued meanwhile keeps
                        // its place: the retry then confirms nothing more to do).
                        if !enqueue(self.services, &self.t.name, &q).await? {
                            self.note("a command waits in the queue: this push is not deployed (push again once the command ran)");
                        }
                        return Err(e);
                    }
                }
                let active = self.active().await?;
                let order: Vec<usize> = deploy::side_order(self.t, active.as_deref())
                    .into_iter()
                    .filter(|i| only.as_ref().is_none_or(|o| o.contains(i)))
                    .collect();
                let m = PushMatch {
                    target: self.t.name.clone(),
                    source_side,
                    digest: digest.clone(),
                    tag: tag.clone(),
                };
                let now = self.now();
                match deploy::begin(
                    self.t,
                    &self.state.record,
                    &order,
                    &m,
                    requested_by,
                    forced,
                    now,
                ) {
                    Begin::Skip(why) => {
                        self.note(why);
                        Ok(())
                    }
                    Begin::Start {
                        rollout,
                        superseded,
                    } => self.start(rollout, superseded, digest, tag, event).await,
                }
            }
        }
    }

    /// Starts a rollout `begin` allowed: the one it supersedes stops where it is, the digest is
    /// remembered, the record claimed, and the start said.
    async fn start(
        &mut self,
        mut rollout: Rollout,
        superseded: Option<String>,
        digest: &str,
        tag: &str,
        event: &str,
    ) -> Result<(), RunError> {
        if let (Some(old), Some(r)) = (&superseded, &mut self.state.record.rollout) {
            for s in r.sides.iter_mut().filter(|s| !s.phase.is_final()) {
                s.phase = Phase::Superseded {
                    by: digest.to_owned(),
                };
            }
            r.outcome = Some(RolloutOutcome::Superseded {
                by: digest.to_owned(),
            });
            self.note(format!(
                "{} superseded by {}: it stops where it is, the new one starts from the services' current state",
                short(old),
                short(digest)
            ));
        }
        deploy::remember(&mut self.state.record, digest);
        event.clone_into(&mut rollout.request);
        self.state.record.rollout = Some(rollout);
        if !self.save().await? {
            return Ok(());
        }
        let sides = self
            .state
            .record
            .rollout
            .as_ref()
            .map(|r| {
                r.sides
                    .iter()
                    .map(|s| s.label.clone())
                    .collect::<Vec<_>>()
                    .join(", then ")
            })
            .unwrap_or_default();
        let held = self.holds_on_sides().await?;
        self.report(
            format!("Deploy {}: rolling out {}", self.t.name, short(digest)),
            format!(
                "{tag} ({}) on {sides}{}{}",
                short(digest),
                superseded
                    .map(|o| format!("; supersedes {}", short(&o)))
                    .unwrap_or_default(),
                held.iter().map(|h| format!("\n{h}")).collect::<String>()
            ),
            Severity::Notice,
            "start",
        )
        .await;
        Ok(())
    }

    /// The budget guard's holds on this target's sides, in words: the standby-to-zero hold on a
    /// side that is standby now, and a cap or stop on a scaling service that runs a side. A
    /// rollout does not lift them: a side held at 0 has no instances to check until then.
    async fn holds_on_sides(&self) -> Result<Vec<String>, RunError> {
        use twincloud_core::records::holds::{Hold, STANDBY_HOLD_KEY, service_hold_key};
        let state = self.services.state.as_ref();
        let read = |key: String| async move {
            get_json::<Hold>(state, &key)
                .await
                .map_err(state_error)
                .map(|h| h.map(|(h, _)| h))
        };
        let active = self.active().await?;
        let standby = read(STANDBY_HOLD_KEY.to_owned()).await?;
        let mut out = vec![];
        for side in &self.t.sides {
            let label = side.compute.label();
            if let (Some(h), Some(e), Some(a)) = (&standby, &side.endpoint, &active)
                && e != a
            {
                out.push(format!("{label} (standby): {}", h.describe()));
            }
            let runs = self
                .services
                .config
                .scaling
                .iter()
                .flat_map(|c| c.services.iter())
                .filter(|s| s.compute == side.compute);
            for s in runs {
                if let Some(h) = read(service_hold_key(&s.name)).await? {
                    out.push(format!("{label} ({}): {}", s.name, h.describe()));
                }
            }
        }
        Ok(out)
    }

    /// Puts every side that changed back on its previous revision (the rollback command).
    async fn rollback_all(&mut self, by: &str) -> Result<(), RunError> {
        let Some(r) = self.state.record.rollout.clone() else {
            self.note("nothing was rolled out here: nothing to roll back");
            return Ok(());
        };
        if matches!(r.outcome, Some(RolloutOutcome::RolledBack { .. })) {
            self.note(format!("{} is rolled back already", short(&r.digest)));
            return Ok(());
        }
        let reason = format!("rolled back on command of {by}");
        let undo: Vec<usize> = (0..r.sides.len()).collect();
        self.undo(&undo, &reason).await;
        self.conclude_rollback(reason, "rollback-command").await
    }

    /// Puts sides `idx` of the rollout back on their previous revision, with `reason`. A side
    /// whose rollback fails is left `RollbackPending` (it still runs the new revision), to be
    /// tried again at every look; returns whether every side asked is back.
    async fn undo(&mut self, idx: &[usize], reason: &str) -> bool {
        let now = self.now();
        let mut all_back = true;
        for &i in idx {
            let Some(sr) = self
                .state
                .record
                .rollout
                .as_ref()
                .and_then(|r| r.sides.get(i))
                .cloned()
            else {
                continue;
            };
            let phase = match (&sr.revision, &sr.previous, &sr.phase) {
                (_, _, Phase::RolledBack { .. } | Phase::RollbackFailed { .. }) => continue,
                (Some(_), Some(prev), _) => {
                    let service = self.t.sides[sr.side].compute.service().to_owned();
                    let done = match self.deployer(sr.side) {
                        Ok(d) => {
                            self.effect(
                                format!(
                                    "rollback-{}-{}",
                                    sr.side,
                                    sr.revision.as_deref().unwrap_or_default()
                                ),
                                format!("{}: back to {prev}", sr.label),
                                d.roll_back(&service, prev),
                            )
                            .await
                        }
                        Err(e) => Err(PortError::permanent(e.to_string())),
                    };
                    match done {
                        // (Rehearsed: a dry run's record is dropped with it.)
                        Ok(Called::Made(()) | Called::Rehearsed) => Phase::RolledBack {
                            reason: reason.to_owned(),
                            at: now,
                        },
                        Err(e) => {
                            all_back = false;
                            let since = match &sr.phase {
                                Phase::RollbackPending { since, .. } => *since,
                                _ => now,
                            };
                            Phase::RollbackPending {
                                reason: reason.to_owned(),
                                error: e.message,
                                since,
                            }
                        }
                    }
                }
                _ => Phase::RolledBack {
                    reason: format!("not started: {reason}"),
                    at: now,
                },
            };
            if let Some(s) = self
                .state
                .record
                .rollout
                .as_mut()
                .and_then(|r| r.sides.get_mut(i))
            {
                s.phase = phase;
            }
        }
        all_back
    }

    /// After undos for `why`: the rollout ends rolled back when every side is back, and says
    /// so; while a side's rollback is pending it stays in flight and says that instead. Either
    /// way the run reports a failure (exit 1): the rollout did not deploy (a rollback a person
    /// asked for, once done, is no failure).
    async fn conclude_rollback(&mut self, why: String, state: &str) -> Result<(), RunError> {
        let Some(r) = self.state.record.rollout.clone() else {
            return Ok(());
        };
        let pending: Vec<(String, String)> = r
            .sides
            .iter()
            .filter_map(|s| match &s.phase {
                Phase::RollbackPending { error, .. } => Some((s.label.clone(), error.clone())),
                _ => None,
            })
            .collect();
        let (title, summary, outcome) = if pending.is_empty() {
            if let Some(ro) = &mut self.state.record.rollout {
                ro.outcome = Some(RolloutOutcome::RolledBack {
                    reason: why.clone(),
                });
            }
            (
                format!("Deploy {}: rolled back {}", self.t.name, short(&r.digest)),
                why.clone(),
                "rolled back",
            )
        } else {
            let until = r
                .sides
                .iter()
                .filter_map(|s| match &s.phase {
                    Phase::RollbackPending { since, .. } => Some(*since),
                    _ => None,
                })
                .min()
                .map(|t| t + chrono::Duration::seconds(deploy::ROLLBACK_GIVE_UP_SECS))
                .unwrap_or_else(|| self.now());
            (
                format!(
                    "Deploy {}: rollback of {} FAILED",
                    self.t.name,
                    short(&r.digest)
                ),
                format!(
                    "{why}; going back failed on {}: still running the new revision, tried again at every look until {}",
                    pending
                        .iter()
                        .map(|(l, e)| format!("{l} ({e})"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    until.format("%H:%M UTC")
                ),
                "rollback pending",
            )
        };
        // A rollback a person asked for, done, is what was asked; any other ended rollout did
        // not deploy, and a pending rollback is not done.
        let asked = state == "rollback-command";
        let id = format!("{}-rollout-{}", self.t.name, short(&r.digest));
        let what = format!("roll {} out to {}", short(&r.digest), self.t.name);
        if !(asked && pending.is_empty()) {
            self.fx.report(
                &id,
                &what,
                &why,
                twincloud_runtime::Outcome::Failed {
                    error: format!("{outcome}: {summary}"),
                    retry: Retry::Permanent,
                },
            );
        }
        // A change of outcome (pending → rolled back) is its own message, never a repeat.
        let state = if pending.is_empty() {
            state.to_owned()
        } else {
            format!("{state}-pending")
        };
        if self.save().await? {
            self.report(title, summary, Severity::Critical, &state)
                .await;
        }
        Ok(())
    }

    /// A side whose rollback failed before: tried again, or given up after
    /// [`deploy::ROLLBACK_GIVE_UP_SECS`] (the side still runs the new revision: a person's job).
    async fn retry_rollback(&mut self, i: usize, reason: String) -> Result<Next, RunError> {
        let now = self.now();
        let Some(Phase::RollbackPending { error, since, .. }) = self
            .state
            .record
            .rollout
            .as_ref()
            .and_then(|r| r.sides.get(i))
            .map(|s| s.phase.clone())
        else {
            return Ok(Next::Continue);
        };
        if (now - since).num_seconds() >= deploy::ROLLBACK_GIVE_UP_SECS {
            let mut left = vec![];
            if let Some(ro) = &mut self.state.record.rollout {
                if let Some(s) = ro.sides.get_mut(i) {
                    left.push(s.label.clone());
                    s.phase = Phase::RollbackFailed {
                        reason: reason.clone(),
                        error: error.clone(),
                        at: now,
                    };
                }
                if ro.next_side().is_none() {
                    ro.outcome = Some(RolloutOutcome::RollbackFailed {
                        reason: reason.clone(),
                    });
                }
            }
            let summary = format!(
                "{reason}; going back failed for an hour on {} ({error}): it still runs the new revision. Put it back by hand",
                left.join(", ")
            );
            self.fx.report(
                &format!("{}-rollback-{i}", self.t.name),
                "roll back",
                &reason,
                twincloud_runtime::Outcome::Failed {
                    error: summary.clone(),
                    retry: Retry::Permanent,
                },
            );
            if self.save().await? {
                self.report(
                    format!("Deploy {}: rollback given up", self.t.name),
                    summary,
                    Severity::Critical,
                    &format!("rollback-failed-{i}"),
                )
                .await;
            }
            return Ok(Next::Continue);
        }
        if self.undo(&[i], &reason).await {
            self.conclude_rollback(reason, "rolled-back").await?;
            return Ok(Next::Continue);
        }
        // Still failing: saved, and left for the next look of the schedule (never retried in a
        // loop inside one invocation).
        self.save().await?;
        self.note(format!(
            "rollback of side {} failed again: tried again at the next look",
            i + 1
        ));
        Ok(Next::Stop)
    }

    /// One step of the rollout in flight.
    async fn step(&mut self) -> Result<Next, RunError> {
        let Some(r) = self.state.record.rollout.clone().filter(Rollout::in_flight) else {
            return Ok(Next::Stop);
        };
        let Some(i) = r.next_side() else {
            if let Some(r) = &mut self.state.record.rollout {
                r.outcome = Some(RolloutOutcome::Deployed);
            }
            if self.save().await? {
                self.report(
                    format!("Deploy {}: {} deployed", self.t.name, short(&r.digest)),
                    format!("{} serves {} on every side", self.t.name, r.digest),
                    Severity::Notice,
                    "deployed",
                )
                .await;
            }
            return Ok(Next::Stop);
        };
        if let Phase::RollbackPending { reason, .. } = &r.sides[i].phase {
            return self.retry_rollback(i, reason.clone()).await;
        }
        let mut sr = r.sides[i].clone();
        let side: &DeploySide = &self.t.sides[sr.side];
        let obs = match self.observe(side, &mut sr).await {
            Ok(obs) => obs,
            Err(next) => return Ok(next),
        };
        let now = self.now();
        let (next, phase) = deploy::advance(self.t, side, &sr.phase, obs.as_ref(), now);
        let phase_changed = phase != sr.phase;
        sr.phase = phase;
        let service = side.compute.service().to_owned();
        match next {
            SideStep::Create => return self.create(&r, i, sr).await,
            SideStep::WaitUntil(at) => {
                self.put_side(i, sr);
                if phase_changed && !self.save().await? {
                    return Ok(Next::Stop);
                }
                let wait = (at - now).to_std().unwrap_or_default();
                return Ok(Next::Wait(wait));
            }
            SideStep::Traffic(p) => {
                if let Some(stop) = self.shift(&r, i, sr, &service, p).await? {
                    return Ok(stop);
                }
            }
            SideStep::Finish => {
                let label = sr.label.clone();
                self.put_side(i, sr);
                if self.save().await? {
                    self.report(
                        format!("Deploy {}: verified on {label}", self.t.name),
                        format!("{label} serves {} and passed its checks", r.digest),
                        Severity::Info,
                        &format!("done-{i}"),
                    )
                    .await;
                }
            }
            SideStep::RollBack(reason) => {
                if let Next::Stop = self.roll_back_side(i, sr, reason).await? {
                    return Ok(Next::Stop);
                }
            }
        }
        Ok(if self.lost {
            Next::Stop
        } else {
            Next::Continue
        })
    }

    /// What the side shows now (nothing while it waits its turn); `Err` with what to do when
    /// the provider could not be read for now (look again later, or stop after too many).
    async fn observe(
        &mut self,
        side: &DeploySide,
        sr: &mut SideRollout,
    ) -> Result<Option<deploy::Observation>, Next> {
        if sr.phase == Phase::Waiting {
            return Ok(None);
        }
        match checks::observe(self.services, self.t, side, sr).await {
            Ok(o) => Ok(Some(o)),
            Err(e) if e.retry == Retry::Transient => {
                self.note(format!("{}: {} (looked again later)", sr.label, e.message));
                self.transient_waits += 1;
                if self.transient_waits >= MAX_TRANSIENT_WAITS {
                    return Err(Next::Stop);
                }
                Err(Next::Wait(Duration::from_secs(
                    deploy::POLL_SECS.unsigned_abs(),
                )))
            }
            Err(e) => Ok(Some(deploy::Observation {
                progress: deploy::Progress::Failed(e.message),
                breach: None,
            })),
        }
    }

    /// A traffic step: `p` % of the side's traffic on its new revision, then said. `Some` when
    /// the rollout goes no further now (a rehearsal, a failed split).
    async fn shift(
        &mut self,
        r: &Rollout,
        i: usize,
        sr: SideRollout,
        service: &str,
        p: u8,
    ) -> Result<Option<Next>, RunError> {
        let (Some(rev), Some(prev)) = (sr.revision.clone(), sr.previous.clone()) else {
            return Err(RunError::Permanent(format!(
                "{}: a traffic step without a revision",
                sr.label
            )));
        };
        let d = self.deployer(sr.side)?;
        let label = sr.label.clone();
        match self
            .effect(
                format!("traffic-{}-{p}-{rev}", sr.side),
                format!("{label}: {p} % of traffic on {rev}"),
                d.split(service, &rev, &prev, p),
            )
            .await
        {
            Ok(Called::Made(_)) => {}
            Ok(Called::Rehearsed) => return Ok(Some(self.rehearsed(r, i).await)),
            Err(e) => return self.failed_effect(i, sr, e).await.map(Some),
        }
        self.put_side(i, sr);
        if self.save().await? {
            self.report(
                format!("Deploy {}: {p} % on {}", self.t.name, short(&r.digest)),
                format!("{label}: {p} % of traffic on the new revision {rev}"),
                Severity::Info,
                &format!("traffic-{i}-{p}"),
            )
            .await;
        }
        Ok(None)
    }

    fn put_side(&mut self, i: usize, sr: deploy::SideRollout) {
        if let Some(s) = self
            .state
            .record
            .rollout
            .as_mut()
            .and_then(|r| r.sides.get_mut(i))
        {
            *s = sr;
        }
    }

    /// A provider call of a step failed: transient ones are retried at the next look, a
    /// permanent one rolls the side back.
    async fn failed_effect(
        &mut self,
        i: usize,
        sr: deploy::SideRollout,
        e: PortError,
    ) -> Result<Next, RunError> {
        if e.retry == Retry::Transient {
            // Bounded: a side that could not even be made (an image that cannot be mirrored,
            // a registry down) gives up once the rollout is older than its rollout timeout.
            let started = self.state.record.rollout.as_ref().map(|r| r.started);
            let timeout = self.t.rollout_timeout_secs;
            if sr.revision.is_none()
                && started.is_some_and(|t| {
                    (self.now() - t).num_seconds() >= i64::try_from(timeout).unwrap_or(i64::MAX)
                })
            {
                let reason = format!("gave up after {timeout} s: {}", e.message);
                return self.roll_back_side(i, sr, reason).await;
            }
            self.transient_waits += 1;
            if self.transient_waits >= MAX_TRANSIENT_WAITS {
                self.note(format!(
                    "{}: {} ({} failures in this run: left for the next look of the schedule)",
                    sr.label, e.message, self.transient_waits
                ));
                return Ok(Next::Stop);
            }
            self.note(format!(
                "{}: {} (tried again at the next look)",
                sr.label, e.message
            ));
            return Ok(Next::Wait(Duration::from_secs(
                deploy::POLL_SECS.unsigned_abs(),
            )));
        }
        self.roll_back_side(i, sr, e.message).await
    }

    /// Side `i` failed for `reason`: it goes back to its previous revision, the sides already
    /// done go back too (all or nothing), the ones not started never start; reported.
    async fn roll_back_side(
        &mut self,
        i: usize,
        mut sr: deploy::SideRollout,
        reason: String,
    ) -> Result<Next, RunError> {
        // A phase the undo acts on (the planner already named it rolled back).
        sr.phase = Phase::Deploying { since: self.now() };
        let why = format!("{}: {reason}", sr.label);
        self.put_side(i, sr);
        self.undo(&[i], &reason).await;
        if let Some(ro) = self.state.record.rollout.clone() {
            let (others, never) = deploy::after_rollback(self.t, &ro);
            self.undo(&others, &format!("{why}, so every side goes back"))
                .await;
            self.undo(&never, &why).await;
        }
        self.conclude_rollback(why, "rolled-back").await?;
        // A rollback that failed is tried again at the next look of the schedule, not in a
        // loop inside this invocation.
        let pending = self.state.record.rollout.as_ref().is_some_and(|r| {
            r.sides
                .iter()
                .any(|s| matches!(s.phase, Phase::RollbackPending { .. }))
        });
        Ok(if pending { Next::Stop } else { Next::Continue })
    }

    /// Mirrors the image to this side's registry, then makes the new revision.
    async fn create(
        &mut self,
        r: &Rollout,
        i: usize,
        mut sr: deploy::SideRollout,
    ) -> Result<Next, RunError> {
        let side = &self.t.sides[sr.side];
        let source = &self.t.sides[r.source_side];
        let image = format!("{}@{}", side.image, r.digest);
        if sr.side != r.source_side && side.image != source.image {
            let reg = self
                .services
                .registries
                .clone()
                .ok_or_else(|| RunError::Config("no image registries configured".into()))?;
            let tag = (r.tag != "command").then_some(r.tag.as_str());
            let mirrored = self
                .effect(
                    format!("mirror-{}-{}", sr.side, short(&r.digest)),
                    format!(
                        "mirror {} from {} to {}",
                        short(&r.digest),
                        source.image,
                        side.image
                    ),
                    reg.mirror(&source.image, &side.image, &r.digest, tag),
                )
                .await;
            match mirrored {
                Ok(Called::Rehearsed) => {}
                Ok(Called::Made(m)) => self.note(format!(
                    "{}: mirrored to {}: {} manifest(s), {} blob(s) copied ({} bytes), {} present",
                    sr.label,
                    side.image,
                    m.manifests,
                    m.blobs_copied,
                    m.bytes_sent,
                    m.blobs_present
                )),
                Err(e) => return self.failed_effect(i, sr, e).await,
            }
        }
        let d = self.deployer(sr.side)?;
        let service = side.compute.service().to_owned();
        let container = side.container.clone();
        if sr.previous.is_none() {
            match d.current(&service, container.as_deref()).await {
                Ok(now) => {
                    sr.previous = Some(now.revision);
                    sr.previous_image = Some(now.image);
                }
                Err(e) => return self.failed_effect(i, sr, e).await,
            }
        }
        let previous = sr.previous.clone().unwrap_or_default();
        let tag = revision_tag(&r.digest);
        let label = sr.label.clone();
        let created = self
            .effect(
                format!("create-{}-{}", sr.side, short(&r.digest)),
                format!(
                    "{label}: new revision from {previous}, image {} -> {image}",
                    sr.previous_image.as_deref().unwrap_or("?")
                ),
                d.create(&service, container.as_deref(), &previous, &image, &tag),
            )
            .await;
        match created {
            Ok(Called::Made(rev)) => sr.revision = Some(rev),
            Ok(Called::Rehearsed) => return Ok(self.rehearsed(r, i).await),
            Err(e) => return self.failed_effect(i, sr, e).await,
        }
        self.put_side(i, sr);
        self.save().await?;
        Ok(if self.lost {
            Next::Stop
        } else {
            Next::Continue
        })
    }
}

/// Drives `t`: takes its lease, its queued request, and steps its rollout while this
/// invocation has time.
pub(super) async fn drive(
    services: &Services,
    t: &DeployTarget,
    signal: &Signal,
    inv: Invocation,
) -> Result<Vec<Execution>, RunError> {
    let key = deploy::record_key(&t.name);
    let mut exec = Execution::nothing(FUNCTION, &signal.id);
    let lease_for = inv
        .deadline
        .map(|d| d.saturating_duration_since(Instant::now()))
        .unwrap_or(LEASE_WITHOUT_DEADLINE)
        + Duration::from_secs(60);
    let until = inv.now + chrono::Duration::from_std(lease_for).unwrap_or_default();
    let Some((state, version)) =
        lease::take::<DeployState>(services.state.as_ref(), &key, &signal.id, until, inv.now)
            .await?
    else {
        exec.plan.notes.push(format!(
            "{}: another invocation drives this target; a request waits in its queue",
            t.name
        ));
        return Ok(vec![exec]);
    };
    let mut d = Driver {
        services,
        t,
        signal,
        inv,
        started: Instant::now(),
        state,
        version,
        exec,
        fx: Effects::new(services, FUNCTION, &signal.id, inv),
        out: vec![],
        lost: false,
        transient_waits: 0,
    };
    let result = run_loop(&mut d).await;
    if !d.lost {
        let released = lease::release(
            services.state.as_ref(),
            &key,
            d.state.clone(),
            d.version.clone(),
        )
        .await;
        if let Err(e) = released {
            tracing::warn!("deploy lease of {} not released: {e}", t.name);
        }
    }
    d.exec.actions.extend(d.fx.take_reports());
    let mut out = vec![d.exec];
    out.extend(d.out);
    result.map(|()| out)
}

async fn run_loop(d: &mut Driver<'_>) -> Result<(), RunError> {
    loop {
        if d.lost {
            return Ok(());
        }
        if let Some(q) = dequeue(d.services, &d.t.name).await? {
            d.take(q).await?;
            continue;
        }
        match d.step().await? {
            Next::Continue => {}
            Next::Stop => return Ok(()),
            Next::Wait(w) => {
                if w <= MAX_INLINE_WAIT && d.inv.may_wait(w + WIND_DOWN) {
                    tokio::time::sleep(w.max(Duration::from_millis(200))).await;
                } else {
                    let at = d.now() + chrono::Duration::from_std(w).unwrap_or_default();
                    d.note(format!(
                        "continues at {} on the schedule",
                        at.format("%H:%M:%S")
                    ));
                    return Ok(());
                }
            }
        }
    }
}

/// What the rest of a rehearsed rollout would do, read-only: each side not begun yet but the
/// one whose change was rehearsed (its mirror and the revision it would be made from), and
/// every side's traffic steps and checks.
async fn preview(
    services: &Services,
    t: &DeployTarget,
    r: &Rollout,
    rehearsed: usize,
) -> Vec<String> {
    let mut notes = vec![];
    let digest = &r.digest;
    let source = &t.sides[r.source_side];
    for (i, sr) in r.sides.iter().enumerate() {
        let side = &t.sides[sr.side];
        if sr.phase == Phase::Waiting && i != rehearsed {
            if side.image != source.image {
                notes.push(format!(
                    "then would mirror {} from {} to {}",
                    short(digest),
                    source.image,
                    side.image
                ));
            }
            match services.deployers.get(&SideRef::new(&t.name, sr.side)) {
                Some(d) => match d
                    .current(side.compute.service(), side.container.as_deref())
                    .await
                {
                    Ok(now) => notes.push(format!(
                        "{}: then would make a revision from {} with image {} -> {}@{digest}",
                        side.label(),
                        now.revision,
                        now.image,
                        side.image
                    )),
                    Err(e) => notes.push(format!("{}: {}", side.label(), e.message)),
                },
                None => notes.push(format!("{}: no deployer", side.label())),
            }
        }
        if !side.steps.is_empty() {
            notes.push(format!(
                "{}: traffic {} %, {} s between steps",
                side.label(),
                side.steps
                    .iter()
                    .map(u8::to_string)
                    .collect::<Vec<_>>()
                    .join("/"),
                side.step_pause_secs
            ));
        }
        notes.push(format!(
            "{}: checks {} {}; bake {} s",
            side.label(),
            if side.health.is_empty() {
                "-".to_owned()
            } else {
                side.health.join(", ")
            },
            if side.alarms.is_empty() {
                String::new()
            } else {
                format!("alarms {}", side.alarms.join(", "))
            },
            t.bake_secs
        ));
    }
    notes
}

/// Whether the registry confirms a request: a push's tag (a command's digest) names the digest
/// it carries, now. `Err` says why not (a newer push, a forged message, an image not there).
pub(crate) async fn confirmed(
    services: &Services,
    t: &DeployTarget,
    q: &Queued,
) -> Result<Result<(), String>, RunError> {
    let Queued::Deploy {
        digest,
        tag,
        source_side,
        forced,
        ..
    } = q
    else {
        return Ok(Ok(()));
    };
    let Some(side) = t.sides.get(*source_side) else {
        return Ok(Err(format!("{}: no side {source_side}", t.name)));
    };
    let Some(reg) = services.registries.clone() else {
        return Err(RunError::Config("no image registries configured".into()));
    };
    let reference = if *forced {
        digest.as_str()
    } else {
        tag.as_str()
    };
    Ok(match reg.resolve(&side.image, reference).await? {
        Some(d) if d == *digest => Ok(()),
        Some(d) => Err(format!(
            "{}:{tag} points at {} now, not {}: a newer push or a forged message; not deployed",
            side.image,
            short(&d),
            short(digest)
        )),
        None => Err(format!(
            "{}:{reference} does not exist in its registry: not deployed",
            side.image
        )),
    })
}
