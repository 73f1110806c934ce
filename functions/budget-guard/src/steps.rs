//! The steps of a guard's ladder and their undoing. Each change reads what is there first and
//! records it; undoing one checks the thing is still as the step left it, and reports a
//! conflict instead of overwriting a change someone made meanwhile.

use twincloud_core::config::{BudgetAction, BudgetStep, ComputeTarget, ScalingService};
use twincloud_core::planner::budget::{Change, Taken};
use twincloud_core::planner::failover::{FailoverState, STATE_KEY};
use twincloud_core::ports::{Compute, PortError, Precondition, Retry, get_json};
use twincloud_core::records::holds::{Hold, HoldKind, STANDBY_HOLD_KEY, service_hold_key};

use super::Round;
use twincloud_core::plan::ComputeRef;
use twincloud_runtime::effects::{Acted, Effect};
use twincloud_runtime::error::RunError;
use twincloud_runtime::lease::state_error;

impl<'a> Round<'a> {
    /// Makes one change through the effects handle: done now, done by an earlier attempt of
    /// this event, or only rehearsed (a dry run); `Err` failed (journaled and reported).
    async fn effect<T>(
        &mut self,
        id: String,
        what: String,
        before: impl serde::Serialize,
        call: impl std::future::Future<Output = Result<T, PortError>>,
    ) -> Result<Acted<T>, PortError> {
        let effect = Effect::new(
            format!("{}-{id}", self.guard.name),
            what,
            format!("budget guard `{}`", self.guard.name),
        )
        .replacing(before);
        match self.fx.act(effect, call).await {
            Acted::Failed(e) => Err(e),
            acted => Ok(acted),
        }
    }

    /// The before-state an unfinished attempt of effect `id` of this event recorded: the
    /// change may be in effect already (its answer was lost), so it is made again and undone
    /// to this, not to what the attempt left.
    async fn attempted<T: serde::de::DeserializeOwned>(&self, id: &str) -> Option<T> {
        let id = format!("{}-{id}", self.guard.name);
        let mut v = self.fx.attempted(&id).await;
        // Taken up from an earlier event's unfinished attempt: its journal, newest first.
        for event in self.earlier.iter().rev() {
            if v.is_some() {
                break;
            }
            v = self.fx.attempted_in(event, &id).await;
        }
        serde_json::from_value(v?).ok()
    }

    /// The compute a recorded change was made on.
    fn compute(&self, key: &ComputeRef) -> Result<std::sync::Arc<dyn Compute>, RunError> {
        self.services
            .compute
            .get(key)
            .cloned()
            .ok_or_else(|| RunError::Config(format!("no compute `{key}`")))
    }

    fn scaling(
        &self,
        name: &str,
    ) -> Result<(&'a ScalingService, std::sync::Arc<dyn Compute>), RunError> {
        let services: &'a twincloud_runtime::services::Services = self.services;
        let svc = services
            .config
            .scaling
            .iter()
            .flat_map(|s| s.services.iter())
            .find(|s| s.name == name)
            .ok_or_else(|| RunError::Config(format!("no scaling service `{name}`")))?;
        let compute = self
            .services
            .compute
            .get(&ComputeRef::Scaling(name.to_owned()))
            .cloned()
            .ok_or_else(|| RunError::Config(format!("no compute for `{name}`")))?;
        Ok((svc, compute))
    }

    async fn failover_state(&self) -> Result<Option<FailoverState>, RunError> {
        let Some(f) = &self.services.config.failover else {
            return Ok(None);
        };
        Ok(Some(
            get_json::<FailoverState>(self.services.state.as_ref(), STATE_KEY)
                .await
                .map_err(state_error)?
                .map(|(s, _)| s)
                .unwrap_or_else(|| FailoverState::initial(f)),
        ))
    }

    /// Whether a scaling service carries traffic: tied to the active side, or to no side.
    async fn serving(&self, svc: &ScalingService) -> Result<bool, RunError> {
        Ok(match (&svc.endpoint, self.failover_state().await?) {
            (Some(e), Some(state)) => state.active == *e,
            _ => true,
        })
    }

    async fn current_hold(&self, key: &str) -> Result<Option<Hold>, RunError> {
        Ok(get_json::<Hold>(self.services.state.as_ref(), key)
            .await
            .map_err(state_error)?
            .map(|(h, _)| h))
    }

    async fn current_cap(&self, service: &str) -> Result<Option<u32>, RunError> {
        Ok(self
            .current_hold(&service_hold_key(service))
            .await?
            .map(|h| h.max))
    }

    /// A hold as this guard sets it now: who, since when, what lifts it.
    fn hold(&self, max: u32, kind: HoldKind, while_standby: bool) -> Hold {
        Hold {
            max,
            kind,
            set_by: format!("budget guard `{}`", self.guard.name),
            since: Some(self.inv.now),
            until: format!(
                "the budget period moves on, or `twincloud budget restore {}`",
                self.guard.name
            ),
            while_standby,
        }
    }

    /// Writes (`Some`) or lifts (`None`) the hold under `key`, through the effects handle.
    async fn set_hold(
        &mut self,
        id: String,
        key: String,
        what: String,
        before: impl serde::Serialize,
        hold: Option<Hold>,
    ) -> Result<Acted<()>, PortError> {
        let state = self.services.state.clone();
        self.effect(id, what, before, async move {
            let r = match &hold {
                Some(h) => {
                    let body = serde_json::to_vec(h)
                        .map_err(|e| PortError::new(e.to_string(), Retry::Permanent))?;
                    state
                        .put(&key, &body, &Precondition::None)
                        .await
                        .map(|_| ())
                }
                None => state.delete(&key, &Precondition::None).await,
            };
            r.map_err(|e| PortError::new(e.to_string(), e.retry()))
        })
        .await
    }

    async fn set_cap(
        &mut self,
        id: String,
        service: &str,
        before: Option<u32>,
        hold: Option<Hold>,
    ) -> Result<Acted<()>, PortError> {
        let what = match &hold {
            Some(h) if h.kind == HoldKind::Stop => format!("stop {service} (hold at 0)"),
            Some(h) => format!("cap {service} at {}", h.max),
            None => format!("remove the hold on {service}"),
        };
        self.set_hold(id, service_hold_key(service), what, before, hold)
            .await
    }

    /// Caps a scaling service at `max` (or stops it, `kind` Stop with `max` 0): the hold for
    /// scaling, failover and deploy, and the service lowered now (never below its floor while
    /// it serves); records each change in `taken` as soon as it is done, or in a dry run says
    /// what would change.
    async fn cap(
        &mut self,
        step: usize,
        name: &str,
        (max, kind): (u32, HoldKind),
        enforced: bool,
        taken: &mut Taken,
    ) -> Result<(), RunError> {
        let (svc, compute) = self.scaling(name)?;
        let service = svc.compute.service().to_owned();
        let serving = self.serving(svc).await?;
        let floor = if serving { svc.min } else { 0 };
        let lowered = if max < floor {
            self.lines.push(format!(
                "{name} serves traffic: capped at its floor {floor}, not {max}"
            ));
            floor
        } else {
            max
        };
        let is_cloud_run = matches!(svc.compute, ComputeTarget::CloudRun { .. });
        let cap_id = format!("s{step}-cap-{name}");
        let before = match self.attempted::<Option<u32>>(&cap_id).await {
            Some(b) => b,
            None => self.current_cap(name).await?,
        };
        let scale = compute.scale(&service).await?;
        if !enforced {
            self.lines.push(format!(
                "would {} (now {} instances{}); set mode = \"enforce\" on this step to act",
                held_words(name, kind, lowered),
                scale.desired,
                if scale.desired > lowered {
                    ", lowered"
                } else {
                    ""
                }
            ));
            return Ok(());
        }
        // A hold set on a standby lapses when that side serves (an outage outranks a budget).
        let hold = self.hold(max, kind, svc.endpoint.is_some() && !serving);
        let capped = self.set_cap(cap_id, name, before, Some(hold)).await?;
        if capped.succeeded() {
            taken.record(Change::Cap {
                service: name.to_owned(),
                before,
                after: max,
            });
        }
        self.lower(
            step,
            name,
            &*compute,
            &service,
            scale.desired,
            lowered,
            taken,
        )
        .await?;
        if is_cloud_run {
            self.lower_max(step, name, &*compute, &service, scale.max, lowered, taken)
                .await?;
        }
        let done = match kind {
            HoldKind::Stop => format!("stopped {name} (held at 0)"),
            _ if lowered == 0 => format!("stopped {name} (capped at 0)"),
            _ => format!("capped {name} at {lowered}"),
        };
        let line = said(
            &capped,
            done,
            format!("would {}", held_words(name, kind, lowered)),
        );
        self.lines.push(line);
        Ok(())
    }

    /// A capped service running more than the cap: lowered to it (undone with the cap).
    #[allow(clippy::too_many_arguments)]
    async fn lower(
        &mut self,
        step: usize,
        name: &str,
        compute: &dyn Compute,
        service: &str,
        desired: u32,
        max: u32,
        taken: &mut Taken,
    ) -> Result<(), RunError> {
        let desired_id = format!("s{step}-desired-{name}");
        let tried = self.attempted::<u32>(&desired_id).await;
        if desired > max || tried.is_some() {
            let before = tried.unwrap_or(desired);
            let set = self
                .effect(
                    desired_id,
                    format!("{name}: {before} -> {max} instances"),
                    before,
                    compute.set_desired(service, max),
                )
                .await?;
            if set.succeeded() {
                taken.record(Change::Desired {
                    compute: ComputeRef::Scaling(name.to_owned()),
                    service: service.to_owned(),
                    before,
                    after: max,
                });
            }
        }
        Ok(())
    }

    /// A capped Cloud Run service's own maximum, lowered to the cap (its autoscaler then never
    /// goes above it).
    #[allow(clippy::too_many_arguments)]
    async fn lower_max(
        &mut self,
        step: usize,
        name: &str,
        compute: &dyn Compute,
        service: &str,
        current_max: Option<u32>,
        max: u32,
        taken: &mut Taken,
    ) -> Result<(), RunError> {
        let max_id = format!("s{step}-max-{name}");
        let tried = self.attempted::<Option<u32>>(&max_id).await;
        if current_max.is_none_or(|m| m > max) || tried.is_some() {
            let before = tried.unwrap_or(current_max);
            let set = self
                .effect(
                    max_id,
                    format!("{name}: maximum -> {max}"),
                    before,
                    compute.set_max(service, max),
                )
                .await?;
            // Done by an earlier attempt of this event: it was set then.
            let made = match set {
                Acted::Done(changed) => changed,
                Acted::AlreadyDone { .. } => true,
                Acted::Would | Acted::Failed(_) => false,
            };
            if made {
                taken.record(Change::Max {
                    compute: ComputeRef::Scaling(name.to_owned()),
                    service: service.to_owned(),
                    before,
                    after: max,
                });
            }
        }
        Ok(())
    }
}

/// Takes step `i`, recording in `taken` each change as it is done (nothing in a dry run or
/// for a notice). An error leaves in `taken` what was done before it.
pub(super) async fn take(
    round: &mut Round<'_>,
    i: usize,
    step: &BudgetStep,
    enforced: bool,
    taken: &mut Taken,
) -> Result<(), RunError> {
    let at = format!("{:.0} %", step.at * 100.0);
    match &step.action {
        BudgetAction::Notify => round.lines.push(format!("{at} crossed")),
        BudgetAction::Cap { service, max } => {
            round
                .cap(i, service, (*max, HoldKind::Cap), enforced, taken)
                .await?;
        }
        BudgetAction::Stop { services } => {
            // The configuration allows only services with `min = 0` that no failover side
            // depends on; this holds for a record written before that check.
            for name in services {
                let (svc, _) = round.scaling(name)?;
                if svc.min > 0 || svc.endpoint.is_some() {
                    round.lines.push(format!(
                        "{name} has min {} or a failover side: not stopped (only min = 0 services are)",
                        svc.min
                    ));
                    continue;
                }
                round
                    .cap(i, name, (0, HoldKind::Stop), enforced, taken)
                    .await?;
            }
        }
        BudgetAction::StandbyToZero => standby_to_zero(round, i, enforced, taken).await?,
        BudgetAction::DetachBilling { project } => {
            detach_billing(round, i, project, enforced, taken).await?;
        }
    }
    Ok(())
}

/// Scales every standby side to zero, unless a switch is in flight.
async fn standby_to_zero(
    round: &mut Round<'_>,
    i: usize,
    enforced: bool,
    taken: &mut Taken,
) -> Result<(), RunError> {
    let Some(state) = round.failover_state().await? else {
        return Ok(());
    };
    if state.in_flight.is_some() {
        round
            .lines
            .push("a switch is in flight: the standby stays".into());
        return Ok(());
    }
    hold_standbys(round, i, enforced, taken).await?;
    let standbys: Vec<(ComputeRef, String)> = round
        .services
        .config
        .failover
        .iter()
        .flat_map(|f| f.endpoints.iter())
        .filter(|e| e.name != state.active)
        .map(|e| {
            (
                ComputeRef::Endpoint(e.name.clone()),
                e.compute.service().to_owned(),
            )
        })
        .collect();
    for (endpoint, service) in standbys {
        let Some(compute) = round.services.compute.get(&endpoint).cloned() else {
            continue;
        };
        let now = compute.scale(&service).await?;
        let id = format!("s{i}-standby-{endpoint}");
        let tried = round.attempted::<u32>(&id).await;
        if now.desired == 0 && tried.is_none() {
            continue;
        }
        let before = tried.unwrap_or(now.desired);
        if !enforced {
            round.lines.push(format!(
                "would scale the standby {endpoint} from {before} to 0"
            ));
            continue;
        }
        let set = round
            .effect(
                id,
                format!("standby {endpoint}: {before} -> 0 instances"),
                before,
                compute.set_desired(&service, 0),
            )
            .await?;
        if set.succeeded() {
            taken.record(Change::Desired {
                compute: endpoint.clone(),
                service,
                before,
                after: 0,
            });
        }
        round.lines.push(said(
            &set,
            format!("scaled the standby {endpoint} from {before} to 0"),
            format!("would scale the standby {endpoint} from {before} to 0"),
        ));
    }
    Ok(())
}

/// The standby-to-zero hold: scaling keeps every standby at 0 while it stands (and failover
/// takes over with it anyway).
async fn hold_standbys(
    round: &mut Round<'_>,
    i: usize,
    enforced: bool,
    taken: &mut Taken,
) -> Result<(), RunError> {
    let id = format!("s{i}-standby-hold");
    let before = match round.attempted::<bool>(&id).await {
        Some(b) => b,
        None => round.current_hold(STANDBY_HOLD_KEY).await?.is_some(),
    };
    if !enforced {
        round.lines.push(
            "would hold every standby at 0; set mode = \"enforce\" on this step to act".into(),
        );
        return Ok(());
    }
    let hold = round.hold(0, HoldKind::StandbyToZero, true);
    let set = round
        .set_hold(
            id,
            STANDBY_HOLD_KEY.into(),
            "hold every standby at 0".into(),
            before,
            Some(hold),
        )
        .await?;
    if set.succeeded() {
        taken.record(Change::StandbyHold { before });
    }
    Ok(())
}

/// Detaches a project from its billing account (everything in it stops).
async fn detach_billing(
    round: &mut Round<'_>,
    i: usize,
    project: &String,
    enforced: bool,
    taken: &mut Taken,
) -> Result<(), RunError> {
    let billing = round
        .services
        .billing
        .clone()
        .ok_or_else(|| RunError::Config("no billing API configured".into()))?;
    let id = format!("s{i}-detach-billing-{project}");
    let tried = round.attempted::<String>(&id).await;
    let Some(account) = tried.or(billing.account(project).await?) else {
        round
            .lines
            .push(format!("{project} has no billing account already"));
        return Ok(());
    };
    if !enforced {
        round.lines.push(format!(
            "would detach billing ({account}) from {project}: everything in it stops"
        ));
        return Ok(());
    }
    let detached = round
        .effect(
            id,
            format!("detach {account} from {project}"),
            &account,
            billing.set_account(project, None),
        )
        .await?;
    round.lines.push(said(
        &detached,
        format!("detached billing from {project}: everything in it stops"),
        format!("would detach billing ({account}) from {project}: everything in it stops"),
    ));
    if detached.succeeded() {
        taken.record(Change::Billing {
            project: project.clone(),
            before: account,
        });
    }
    Ok(())
}

/// Undoes `changes` in the order given (last made first); a thing changed since is a
/// conflict, left as it is and reported. One failed undo does not stop the others: the
/// changes not undone are returned, to be tried again by the next run.
pub(super) async fn restore(round: &mut Round<'_>, changes: Vec<Change>, why: &str) -> Vec<Change> {
    let mut left = vec![];
    for change in changes {
        match undo(round, &change).await {
            Ok(line) => round.lines.push(line),
            Err(e) => {
                round.failed(
                    &format!("{}-undo", round.guard.name),
                    &format!("undo {}", change.describe()),
                    &e,
                );
                round.lines.push(format!(
                    "FAILED to undo {}: {e}; tried again on the next run",
                    change.describe()
                ));
                left.push(change);
            }
        }
    }
    round.note(if left.is_empty() {
        format!("restored ({why})")
    } else {
        format!("{} change(s) not undone yet ({why})", left.len())
    });
    left
}

/// A hold in words, for `would ...` and the report.
fn held_words(name: &str, kind: HoldKind, max: u32) -> String {
    match kind {
        HoldKind::Stop => format!("stop {name} (hold at 0)"),
        _ if max == 0 => format!("stop {name} (cap at 0)"),
        _ => format!("cap {name} at {max}"),
    }
}

/// What a change came to, in words: `would` when it was only rehearsed (a dry run), else
/// `done` (a failure is an error).
fn said<T>(acted: &Acted<T>, done: String, would: String) -> String {
    if matches!(acted, Acted::Would) {
        would
    } else {
        done
    }
}

/// Undoes one change; the line that says what happened.
async fn undo(round: &mut Round<'_>, change: &Change) -> Result<String, RunError> {
    Ok(match change {
        Change::Cap {
            service,
            before,
            after,
        } => {
            let now = round.current_cap(service).await?;
            if now != Some(*after) {
                format!(
                    "conflict: the cap of {service} is {} now, not {after}: left as it is",
                    shown(now, "none")
                )
            } else {
                let restored = before.map(|b| round.hold(b, HoldKind::Cap, false));
                let acted = round
                    .set_cap(format!("undo-cap-{service}"), service, now, restored)
                    .await?;
                said(
                    &acted,
                    format!("cap of {service} back to {}", shown(*before, "none")),
                    format!(
                        "would put the cap of {service} back to {}",
                        shown(*before, "none")
                    ),
                )
            }
        }
        Change::Desired {
            compute,
            service,
            before,
            after,
        } => {
            let c = round.compute(compute)?;
            let now = c.scale(service).await?.desired;
            if now != *after {
                format!("conflict: {service} runs {now} instances now, not {after}: left as it is")
            } else {
                let acted = round
                    .effect(
                        format!("undo-desired-{compute}-{service}"),
                        format!("{service}: {after} -> {before} instances"),
                        now,
                        c.set_desired(service, *before),
                    )
                    .await?;
                said(
                    &acted,
                    format!("{service} back to {before} instances"),
                    format!("would put {service} back to {before} instances"),
                )
            }
        }
        Change::Max {
            compute,
            service,
            before,
            after,
        } => undo_max(round, compute, service, *before, *after).await?,
        Change::Billing { project, before } => undo_billing(round, project, before).await?,
        Change::StandbyHold { before } => undo_standby_hold(round, *before).await?,
    })
}

/// A Cloud Run maximum back to what it was, unless someone changed it since (or it had none).
async fn undo_max(
    round: &mut Round<'_>,
    compute: &ComputeRef,
    service: &str,
    before: Option<u32>,
    after: u32,
) -> Result<String, RunError> {
    let (before, after) = (&before, &after);
    Ok({
        let c = round.compute(compute)?;
        let now = c.scale(service).await?.max;
        match before {
            _ if now != Some(*after) => format!(
                "conflict: the maximum of {service} is {} now, not {after}: left as it is",
                shown(now, "unset")
            ),
            None => format!("{service} had no maximum: {after} stays (set it by hand)"),
            Some(b) => {
                let acted = round
                    .effect(
                        format!("undo-max-{compute}-{service}"),
                        format!("{service}: maximum {after} -> {b}"),
                        now,
                        c.set_max(service, *b),
                    )
                    .await?;
                said(
                    &acted,
                    format!("maximum of {service} back to {b}"),
                    format!("would put the maximum of {service} back to {b}"),
                )
            }
        }
    })
}

/// The standby-to-zero hold lifted (scaling then warms the standby again), unless it stood
/// before this guard set it or someone changed it since.
async fn undo_standby_hold(round: &mut Round<'_>, before: bool) -> Result<String, RunError> {
    let mine = format!("budget guard `{}`", round.guard.name);
    Ok(match round.current_hold(STANDBY_HOLD_KEY).await? {
        _ if before => "the standby hold stood before this guard: it stays".to_owned(),
        None => "the standby hold is lifted already".to_owned(),
        Some(h) if h.kind != HoldKind::StandbyToZero || h.set_by != mine => format!(
            "conflict: the standby hold is now {}: left as it is",
            h.describe()
        ),
        Some(h) => {
            let acted = round
                .set_hold(
                    "undo-standby-hold".into(),
                    STANDBY_HOLD_KEY.into(),
                    "lift the standby hold".into(),
                    Some(h),
                    None,
                )
                .await?;
            said(
                &acted,
                "standby hold lifted: scaling warms the standby again".into(),
                "would lift the standby hold".into(),
            )
        }
    })
}

/// A project linked back to its billing account, unless it is linked to another since.
async fn undo_billing(
    round: &mut Round<'_>,
    project: &String,
    before: &String,
) -> Result<String, RunError> {
    Ok({
        let billing = round
            .services
            .billing
            .clone()
            .ok_or_else(|| RunError::Config("no billing API configured".into()))?;
        match billing.account(project).await? {
            Some(a) if a == *before => format!("{project} is billed to {a} already"),
            Some(a) => format!("conflict: {project} is billed to {a} now: left as it is"),
            None => {
                let acted = round
                    .effect(
                        format!("undo-billing-{project}"),
                        format!("link {project} to {before}"),
                        Option::<String>::None,
                        billing.set_account(project, Some(before)),
                    )
                    .await?;
                said(
                    &acted,
                    format!("{project} billed to {before} again"),
                    format!("would link {project} to {before} again"),
                )
            }
        }
    })
}

/// A count that may be absent, in words (`Some(2)` is `2`, `None` is `none`).
fn shown(v: Option<u32>, absent: &str) -> String {
    v.map_or(absent.to_owned(), |v| v.to_string())
}
