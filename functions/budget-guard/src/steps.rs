//! The steps of a guard's ladder and their undoing. Each change reads what is there first and
//! records it; undoing one checks the thing is still as the step left it, and reports a
//! conflict instead of overwriting a change someone made meanwhile.

use twincloud_core::config::{BudgetAction, BudgetStep, ComputeTarget, ScalingService};
use twincloud_core::planner::budget::{Change, Taken};
use twincloud_core::planner::failover::{FailoverState, STATE_KEY};
use twincloud_core::ports::{Compute, PortError, Precondition, get_json};
use twincloud_core::records::holds::{Cap, cap_key};

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

    async fn current_cap(&self, service: &str) -> Result<Option<u32>, RunError> {
        Ok(
            get_json::<Cap>(self.services.state.as_ref(), &cap_key(service))
                .await
                .map_err(state_error)?
                .map(|(c, _)| c.max),
        )
    }

    async fn set_cap(
        &mut self,
        id: String,
        service: &str,
        before: Option<u32>,
        cap: Option<u32>,
    ) -> Result<Acted<()>, PortError> {
        let key = cap_key(service);
        let state = self.services.state.clone();
        let what = match cap {
            Some(c) => format!("cap {service} at {c}"),
            None => format!("remove the cap of {service}"),
        };
        self.effect(id, what, before, async move {
            let r = match cap {
                Some(c) => state
                    .put(
                        &key,
                        &serde_json::to_vec(&Cap { max: c }).unwrap_or_default(),
                        &Precondition::None,
                    )
                    .await
                    .map(|_| ()),
                None => state.delete(&key, &Precondition::None).await,
            };
            r.map_err(|e| PortError::new(e.to_string(), e.retry()))
        })
        .await
    }

    /// Caps a scaling service at `max` (its floor when it serves), now and for the scaling
    /// function; records each change in `taken` as soon as it is done, or in a dry run says
    /// what would change.
    async fn cap(
        &mut self,
        step: usize,
        name: &str,
        max: u32,
        enforced: bool,
        taken: &mut Taken,
    ) -> Result<(), RunError> {
        let (svc, compute) = self.scaling(name)?;
        let service = svc.compute.service().to_owned();
        let floor = if self.serving(svc).await? { svc.min } else { 0 };
        let max = if max < floor {
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
                "would cap {name} at {max} (now {} instances{})",
                scale.desired,
                if scale.desired > max { ", lowered" } else { "" }
            ));
            return Ok(());
        }
        let capped = self.set_cap(cap_id, name, before, Some(max)).await?;
        if capped.succeeded() {
            taken.record(Change::Cap {
                service: name.to_owned(),
                before,
                after: max,
            });
        }
        self.lower(step, name, &*compute, &service, scale.desired, max, taken)
            .await?;
        if is_cloud_run {
            self.lower_max(step, name, &*compute, &service, scale.max, max, taken)
                .await?;
        }
        let line = if max == 0 {
            said(
                &capped,
                format!("stopped {name} (capped at 0)"),
                format!("would stop {name} (cap at 0)"),
            )
        } else {
            said(
                &capped,
                format!("capped {name} at {max}"),
                format!("would cap {name} at {max}"),
            )
        };
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
        BudgetAction::Cap { service, max } => round.cap(i, service, *max, enforced, taken).await?,
        BudgetAction::Stop { services } => {
            for name in services {
                let (svc, _) = round.scaling(name)?;
                if round.serving(svc).await? && svc.endpoint.is_some() {
                    round
                        .lines
                        .push(format!("{name} serves traffic now: not stopped"));
                    continue;
                }
                round.cap(i, name, 0, enforced, taken).await?;
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
                let acted = round
                    .set_cap(format!("undo-cap-{service}"), service, now, *before)
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
