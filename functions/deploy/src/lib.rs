//! The deploy function: an image pushed to ECR or Artifact Registry (or named by an
//! authenticated `deploy` command) is confirmed with its registry, mirrored by digest to the
//! other cloud's registry, and rolled out side by side with checks at every step; a failed
//! check puts the previous revision back. The rollout lives in `deploy/<target>/rollout`, so the
//! schedule carries on what one invocation could not finish.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use twincloud_core::Signal;
use twincloud_core::config::{DeployConfig, DeployTarget};
use twincloud_core::plan::Plan;
use twincloud_core::planner::deploy::{self, PushMatch};
use twincloud_core::ports::{Precondition, StateError, get_json};
use twincloud_core::signal::SignalKind;
use twincloud_core::text::clip;

use twincloud_runtime::error::RunError;
use twincloud_runtime::executor::Execution;
use twincloud_runtime::function::{Function, Invocation};
use twincloud_runtime::lease::state_error;
use twincloud_runtime::services::Services;

mod checks;
mod drive;

pub use deploy::FUNCTION;

/// The deploy function.
#[derive(Debug, Clone, Copy, Default)]
pub struct Deploy;

pub use twincloud_core::records::deploy::{DeployState, Queued, queue_key};

fn deploy_config(services: &Services) -> Result<&DeployConfig, RunError> {
    services
        .config
        .deploy
        .as_ref()
        .filter(|d| !d.targets.is_empty())
        .ok_or_else(|| {
            RunError::Config(format!(
                "{}: no [[deploy.targets]] configured",
                services.config.origin
            ))
        })
}

/// What a signal asks of which targets.
enum Ask {
    Requests(Vec<(String, Queued)>),
    Tick,
    Ignore(String),
    /// A command whose argument at `path` names nothing deployable: bad input (exit 2, HTTP
    /// 400), said to the person who typed it, never a quiet note.
    Refuse(&'static str, String),
}

fn ask(cfg: &DeployConfig, signal: &Signal) -> Ask {
    match &signal.kind {
        SignalKind::Image(ev) => match deploy::match_push(cfg, ev) {
            Ok(ms) => Ask::Requests(
                ms.into_iter()
                    .map(|m: PushMatch| {
                        (
                            m.target.clone(),
                            Queued::Deploy {
                                digest: m.digest,
                                tag: m.tag,
                                source_side: m.source_side,
                                requested_by: format!("push ({})", signal.shape),
                                forced: false,
                                only: None,
                                event: signal.id.clone(),
                            },
                        )
                    })
                    .collect(),
            ),
            Err(why) => Ask::Ignore(why),
        },
        SignalKind::ScheduleTick(_) => Ask::Tick,
        SignalKind::Command(c) => {
            let Some(caller) = signal.origin.caller() else {
                // The invoker refuses these before; a function never trusts that alone.
                return Ask::Ignore("a command that is not an authenticated direct call".into());
            };
            match c.command.as_str() {
                "deploy" => command_deploy(cfg, &c.args, caller),
                "rollback" => {
                    let target = c.args.get("target").and_then(|v| v.as_str()).unwrap_or("");
                    if cfg.targets.iter().any(|t| t.name == target) {
                        Ask::Requests(vec![(
                            target.to_owned(),
                            Queued::Rollback {
                                requested_by: caller.to_owned(),
                            },
                        )])
                    } else {
                        Ask::Refuse(
                            "args.target",
                            format!(
                                "`{}` is no deploy target ({})",
                                clip(target, 64),
                                cfg.targets
                                    .iter()
                                    .map(|t| t.name.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        )
                    }
                }
                other => Ask::Ignore(format!(
                    "command `{}` is not a deploy command (deploy, rollback)",
                    clip(other, 64)
                )),
            }
        }
        other => Ask::Ignore(format!("{} events do not concern deploys", other.name())),
    }
}

/// A command refused for its arguments: a bad event (exit 2), in a rehearsal too.
fn refused(path: &'static str, problem: String) -> RunError {
    RunError::BadEvent(twincloud_core::DecodeError::Field {
        shape: "twincloud.command",
        path: path.into(),
        problem,
    })
}

/// `twincloud deploy --image REPO@sha256:... [--to aws|gcp|both]`.
fn command_deploy(cfg: &DeployConfig, args: &serde_json::Value, caller: &str) -> Ask {
    let image = args.get("image").and_then(|v| v.as_str()).unwrap_or("");
    let (repo, digest) = match deploy::image_reference(image) {
        Ok(parts) => parts,
        Err(why) => {
            return Ask::Refuse(
                "args.image",
                format!("`--image {}`: {why}", clip(image, 120)),
            );
        }
    };
    let to = args.get("to").and_then(|v| v.as_str()).unwrap_or("both");
    if !["aws", "gcp", "local", "both"].contains(&to) {
        return Ask::Refuse(
            "args.to",
            format!("`--to {}`: aws, gcp or both", clip(to, 20)),
        );
    }
    let mut out = Vec::new();
    for t in &cfg.targets {
        let Some(source) = t.sides.iter().position(|s| s.image == repo) else {
            continue;
        };
        let only: Vec<usize> = (0..t.sides.len())
            .filter(|i| to == "both" || t.sides[*i].compute.cloud() == to)
            .collect();
        if only.is_empty() {
            continue;
        }
        out.push((
            t.name.clone(),
            Queued::Deploy {
                digest: digest.to_owned(),
                tag: "command".into(),
                source_side: source,
                requested_by: caller.to_owned(),
                forced: true,
                only: Some(only),
                event: String::new(),
            },
        ));
    }
    if out.is_empty() {
        Ask::Refuse(
            "args.image",
            format!(
                "{} is no deploy target's image repository on {to}",
                clip(repo, 120)
            ),
        )
    } else {
        Ask::Requests(out)
    }
}

/// Writes `q` as the target's next request: the newest request wins, except that a push never
/// replaces a command waiting there (a person's `rollback` or `deploy`). False when `q` was not
/// queued for that reason.
pub(crate) async fn enqueue(
    services: &Services,
    target: &str,
    q: &Queued,
) -> Result<bool, RunError> {
    let key = queue_key(target);
    let body = serde_json::to_vec(q).map_err(|e| RunError::Permanent(e.to_string()))?;
    for _ in 0..5 {
        let waiting = get_json::<Queued>(services.state.as_ref(), &key)
            .await
            .map_err(state_error)?;
        let expect = match waiting {
            Some((w, _)) if w.from_command() && !q.from_command() => return Ok(false),
            Some((_, v)) => Precondition::Matches(v),
            None => Precondition::Absent,
        };
        match services.state.put(&key, &body, &expect).await {
            Ok(_) => return Ok(true),
            Err(StateError::ConditionFailed(_)) => continue,
            Err(e) => return Err(state_error(e)),
        }
    }
    Err(RunError::Transient(format!(
        "{target}: its queue kept changing under concurrent requests"
    )))
}

/// Takes the target's queued request, if any (a compare-and-swap delete, so two drivers never
/// both take it).
pub(crate) async fn dequeue(services: &Services, target: &str) -> Result<Option<Queued>, RunError> {
    let key = queue_key(target);
    let Some((q, v)) = get_json::<Queued>(services.state.as_ref(), &key)
        .await
        .map_err(state_error)?
    else {
        return Ok(None);
    };
    match services.state.delete(&key, &Precondition::Matches(v)).await {
        Ok(()) => Ok(Some(q)),
        Err(StateError::ConditionFailed(_)) => Ok(None),
        Err(e) => Err(state_error(e)),
    }
}

fn target<'a>(cfg: &'a DeployConfig, name: &str) -> Option<&'a DeployTarget> {
    cfg.targets.iter().find(|t| t.name == name)
}

#[async_trait]
impl Function for Deploy {
    fn name(&self) -> &'static str {
        FUNCTION
    }

    async fn plan(
        &self,
        signal: &Signal,
        services: &Services,
        _now: DateTime<Utc>,
    ) -> Result<Plan, RunError> {
        let cfg = deploy_config(services)?;
        let mut plan = Plan::new(FUNCTION, &signal.id);
        match ask(cfg, signal) {
            Ask::Requests(r) => plan.notes.push(format!(
                "would take {} request(s): {}",
                r.len(),
                r.iter()
                    .map(|(t, _)| t.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Ask::Tick => plan
                .notes
                .push("would carry on the rollouts in flight".into()),
            Ask::Ignore(why) => plan.notes.push(why),
            Ask::Refuse(path, problem) => return Err(refused(path, problem)),
        }
        Ok(plan)
    }

    async fn run(
        &self,
        signal: &Signal,
        services: &Services,
        inv: Invocation,
    ) -> Result<Vec<Execution>, RunError> {
        let cfg = deploy_config(services)?;
        let mut out = Vec::new();
        match ask(cfg, signal) {
            Ask::Ignore(why) => {
                out.push(Execution::noted(FUNCTION, &signal.id, why));
            }
            Ask::Refuse(path, problem) => return Err(refused(path, problem)),
            Ask::Requests(list) => {
                for (name, mut q) in list {
                    if let Queued::Deploy { event, .. } = &mut q {
                        event.clone_from(&signal.id);
                    }
                    let Some(t) = target(cfg, &name) else {
                        continue;
                    };
                    // A push is confirmed with its registry before it is queued: a forged or
                    // stale message never takes a place in the queue.
                    if !q.from_command()
                        && let Err(why) = drive::confirmed(services, t, &q).await?
                    {
                        out.push(Execution::noted(FUNCTION, &signal.id, why));
                        continue;
                    }
                    if !enqueue(services, &name, &q).await? {
                        out.push(Execution::noted(
                            FUNCTION,
                            &signal.id,
                            format!(
                                "{name}: a command waits in the queue; a push does not replace it (push again, or deploy it by command, once it ran)"
                            ),
                        ));
                    }
                    out.extend(drive::drive(services, t, signal, inv).await?);
                }
            }
            Ask::Tick => {
                for t in &cfg.targets {
                    out.extend(drive::drive(services, t, signal, inv).await?);
                }
            }
        }
        Ok(out)
    }
}

/// Deploy on push.
pub const SPEC: twincloud_runtime::FunctionSpec = twincloud_runtime::FunctionSpec {
    name: FUNCTION,
    summary: "a pushed image mirrored by digest to both clouds and rolled out with checks, rolled back on failure",
    config_section: Some("deploy.targets"),
    triggers: &[
        twincloud_runtime::Trigger::EcrPush,
        twincloud_runtime::Trigger::PubSubTopic,
        twincloud_runtime::Trigger::Schedule,
        twincloud_runtime::Trigger::Command("deploy"),
        twincloud_runtime::Trigger::Command("rollback"),
    ],
    access: &[
        twincloud_runtime::access::ROLL_OUT,
        twincloud_runtime::access::MIRROR_IMAGES,
        twincloud_runtime::access::READ_ALARMS,
        twincloud_runtime::access::READ_REVISION_METRICS,
    ],
    state: twincloud_runtime::access::StateScope {
        writes: &["deploy/"],
        reads: &["failover/", "holds/"],
    },
    wiring: twincloud_runtime::Wiring::DEPLOY,
    make: || Box::new(Deploy),
};
