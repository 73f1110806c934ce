//! Deploy on push, decided without I/O: which push deploys where, in which order the sides
//! roll out, and each side's next step from what the provider and the checks say.
//!
//! A rollout is a record in the state store (`deploy/<target>/rollout`); each invocation (the push, then
//! the follow-up schedule) reads it, observes each side, asks [`advance`] for the next step,
//! carries it out and writes the record back, so a rollout longer than an invocation goes on
//! where the last one stopped, and a killed invocation leaves a record the next one resumes.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{DeployConfig, DeploySide, DeployTarget, RegistryAuth, SideOrder};
pub use crate::ports::Progress;
use crate::signal::{ImageEvent, Registry};

/// The function's name.
pub const FUNCTION: &str = "deploy";

/// How many digests a target remembers having rolled out (a replayed push of one of them is
/// refused: it would roll the service back to an older image).
pub const HISTORY: usize = 50;

/// Where a target's rollout record is kept.
pub fn record_key(target: &str) -> String {
    format!("deploy/{}/rollout", crate::ids::key_segment(target))
}

/// Whether `s` is a `sha256:` digest of 64 lower-case hex digits.
pub fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// `REPOSITORY@sha256:DIGEST` split in two, or what is wrong with it, in words: the repository
/// as the OCI distribution spec names one (an optional `host[:port]/`, then lower-case path
/// components of letters and digits joined by `.`, `_`, `__` or `-`, separated by single `/`),
/// no scheme, and a full lower-case sha256 digest (a tag is never deployed by name).
pub fn image_reference(image: &str) -> Result<(&str, &str), String> {
    const FORM: &str = "give REPOSITORY@sha256:DIGEST (a tag is never deployed by name)";
    let Some((repo, digest)) = image.split_once('@') else {
        return Err(FORM.into());
    };
    if !is_digest(digest) {
        return Err(format!(
            "`{digest}` is no sha256 digest (sha256: and 64 lower-case hex digits); {FORM}"
        ));
    }
    if repo.is_empty() {
        return Err(format!("no repository before the digest; {FORM}"));
    }
    if repo.contains("://") {
        return Err("a repository has no scheme (drop `https://`)".into());
    }
    let (host, path) = match repo.split_once('/') {
        Some((h, p)) if h.contains('.') || h.contains(':') || h == "localhost" => (Some(h), p),
        _ => (None, repo),
    };
    if let Some(h) = host
        && (h.is_empty()
            || !h
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:".contains(&b)))
    {
        return Err(format!("`{h}` is no registry host"));
    }
    for part in path.split('/') {
        let ok = !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
            && part
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphanumeric())
            && part
                .bytes()
                .last()
                .is_some_and(|b| b.is_ascii_alphanumeric());
        if !ok {
            return Err(format!(
                "`{repo}` is no repository name: path components are lower-case letters and digits joined by `.`, `_` or `-`, separated by one `/`"
            ));
        }
    }
    Ok((repo, digest))
}

/// A push that deploys: to which target, from which side's registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushMatch {
    /// Target name.
    pub target: String,
    /// Index of the side whose registry received the push.
    pub source_side: usize,
    /// The pushed digest.
    pub digest: String,
    /// The tag it was pushed under.
    pub tag: String,
}

/// Why a request needs nothing more, when the last rollout was started by the same event
/// (`request`): a redelivered message or command does not roll out again what it rolled out,
/// or rolled back, before.
pub fn taken_before(record: &DeployRecord, request: &str) -> Option<String> {
    let r = record.rollout.as_ref()?;
    if request.is_empty() || r.request != request {
        return None;
    }
    Some(match &r.outcome {
        None => format!(
            "this request started the rollout of {} in flight: nothing more",
            short(&r.digest)
        ),
        Some(o) => format!(
            "this request was taken up before (the rollout of {} ended {}): a redelivery starts nothing",
            short(&r.digest),
            match o {
                Outcome::Deployed => "deployed",
                Outcome::RolledBack { .. } => "rolled back",
                Outcome::Superseded { .. } => "superseded",
                Outcome::RollbackFailed { .. } => "with its rollback failed",
            }
        ),
    })
}

/// The targets an image push deploys to; otherwise why none (to be noted, not an error).
pub fn match_push(cfg: &DeployConfig, ev: &ImageEvent) -> Result<Vec<PushMatch>, String> {
    if !ev.pushed {
        return Err(format!("{} was deleted: nothing deploys", ev.repository));
    }
    let Some(digest) = ev.digest.as_deref().filter(|d| is_digest(d)) else {
        return Err(format!(
            "push to {} carries no sha256 digest: a tag is never deployed by name",
            ev.repository
        ));
    };
    let Some(tag) = ev.tag.as_deref() else {
        return Err(format!(
            "push of {digest} to {} carries no tag: only tagged pushes deploy",
            ev.repository
        ));
    };
    let mut found = Vec::new();
    let mut repo_known = false;
    for t in &cfg.targets {
        let Some(i) = t.sides.iter().position(|s| match ev.registry {
            Registry::Ecr => {
                s.registry_auth == RegistryAuth::Ecr && s.repository() == ev.repository
            }
            Registry::ArtifactRegistry => s.image == ev.repository,
        }) else {
            continue;
        };
        repo_known = true;
        if t.deploys_tag(tag) {
            found.push(PushMatch {
                target: t.name.clone(),
                source_side: i,
                digest: digest.to_owned(),
                tag: tag.to_owned(),
            });
        }
    }
    if found.is_empty() {
        return Err(if repo_known {
            format!(
                "tag `{tag}` of {} matches no deploy target's tags: not deployed",
                ev.repository
            )
        } else {
            format!("{} is no deploy target's repository", ev.repository)
        });
    }
    Ok(found)
}

/// The order the sides roll out in, by index; `active` is the failover endpoint serving now.
pub fn side_order(target: &DeployTarget, active: Option<&str>) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..target.sides.len()).collect();
    let serving = |i: &usize| target.sides[*i].endpoint.as_deref() == active && active.is_some();
    match target.order {
        SideOrder::Listed => {}
        SideOrder::StandbyFirst => idx.sort_by_key(|i| serving(i)),
        SideOrder::PrimaryFirst => idx.sort_by_key(|i| !serving(i)),
    }
    idx
}

/// Where one side's rollout stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Not started.
    Waiting,
    /// The new revision exists and is rolling out (or starting, at no traffic).
    Deploying {
        /// When it was created.
        since: DateTime<Utc>,
    },
    /// Traffic at `steps[index]`.
    Step {
        /// Index into the side's steps.
        index: usize,
        /// When traffic got there.
        since: DateTime<Utc>,
    },
    /// All traffic on the new revision; watched for the bake time.
    Baking {
        /// Since when.
        since: DateTime<Utc>,
    },
    /// Verified.
    Done {
        /// When.
        at: DateTime<Utc>,
    },
    /// Back on the previous revision.
    RolledBack {
        /// Why.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Stopped for a newer push; nothing was undone.
    Superseded {
        /// The newer digest.
        by: String,
    },
    /// Going back failed (the side still runs the new revision): tried again at every look
    /// until [`ROLLBACK_GIVE_UP_SECS`] after `since`.
    RollbackPending {
        /// Why it goes back.
        reason: String,
        /// What the last attempt got.
        error: String,
        /// The first failed attempt.
        since: DateTime<Utc>,
    },
    /// Going back failed for good: the side still runs the new revision; a person puts it back.
    RollbackFailed {
        /// Why it was to go back.
        reason: String,
        /// What the last attempt got.
        error: String,
        /// When it was given up.
        at: DateTime<Utc>,
    },
}

/// How long a failing rollback is retried (at every look of the schedule) before it is given
/// up and left to a person: an hour.
pub const ROLLBACK_GIVE_UP_SECS: i64 = 3600;

impl Phase {
    /// Whether nothing more happens on this side.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Phase::Done { .. }
                | Phase::RolledBack { .. }
                | Phase::Superseded { .. }
                | Phase::RollbackFailed { .. }
        )
    }

    /// One word or two, for reports.
    pub fn describe(&self) -> String {
        match self {
            Phase::Waiting => "waiting".into(),
            Phase::Deploying { .. } => "deploying".into(),
            Phase::Step { index, .. } => format!("traffic step {}", index + 1),
            Phase::Baking { .. } => "baking".into(),
            Phase::Done { .. } => "deployed".into(),
            Phase::RolledBack { reason, .. } => format!("rolled back ({reason})"),
            Phase::Superseded { by } => format!("superseded by {}", short(by)),
            Phase::RollbackPending { error, .. } => {
                format!("rollback pending, retried ({error})")
            }
            Phase::RollbackFailed { error, .. } => {
                format!("rollback FAILED ({error}): put it back by hand")
            }
        }
    }
}

/// One side of a rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SideRollout {
    /// Index of the side in the target.
    pub side: usize,
    /// `ecs aion-backend`.
    pub label: String,
    /// What served before: a task definition ARN, a Cloud Run revision.
    pub previous: Option<String>,
    /// The image that served before.
    pub previous_image: Option<String>,
    /// The new revision, once created.
    pub revision: Option<String>,
    /// Where the new revision answers on its own (Cloud Run's tagged URL).
    pub url: Option<String>,
    /// Where it stands.
    pub phase: Phase,
}

/// How a rollout ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Every side serves the new digest.
    Deployed,
    /// A side failed its checks; the sides listed went back to their previous revision.
    RolledBack {
        /// Why.
        reason: String,
    },
    /// A newer push took over.
    Superseded {
        /// The newer digest.
        by: String,
    },
    /// A side failed its checks and going back failed too, for good: a side still runs the new
    /// revision.
    RollbackFailed {
        /// Why.
        reason: String,
    },
}

/// One rollout of one digest to one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollout {
    /// The digest.
    pub digest: String,
    /// The tag it was pushed under (or `command`).
    pub tag: String,
    /// Index of the side whose registry had it first.
    pub source_side: usize,
    /// Who or what asked.
    pub requested_by: String,
    /// When it started.
    pub started: DateTime<Utc>,
    /// The event that asked for it (a push message, a command): a redelivery of that event
    /// finds its rollout here and starts nothing.
    #[serde(default)]
    pub request: String,
    /// The sides, in rollout order.
    pub sides: Vec<SideRollout>,
    /// Set once it ended.
    pub outcome: Option<Outcome>,
}

impl Rollout {
    /// Whether it still has work to do.
    pub fn in_flight(&self) -> bool {
        self.outcome.is_none()
    }

    /// The first side not finished, when the rollout goes on.
    pub fn next_side(&self) -> Option<usize> {
        self.sides.iter().position(|s| !s.phase.is_final())
    }
}

/// A target's record: the rollout in flight or the last one, and the digests rolled out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeployRecord {
    /// The current or last rollout.
    pub rollout: Option<Rollout>,
    /// Digests that started a rollout here, newest last (at most [`HISTORY`]).
    pub history: Vec<String>,
}

/// What to do with a request to roll `digest` out.
#[derive(Debug, Clone, PartialEq)]
pub enum Begin {
    /// Start this rollout (superseding `superseded`, if any).
    Start {
        /// The new rollout.
        rollout: Rollout,
        /// The digest of the rollout it stops.
        superseded: Option<String>,
    },
    /// Nothing to do, and why.
    Skip(String),
}

/// Starts, deduplicates or supersedes. A push of a digest this target rolled out before is a
/// redelivery or a replay and is skipped; `forced` (an authenticated command) deploys it again.
pub fn begin(
    target: &DeployTarget,
    record: &DeployRecord,
    order: &[usize],
    m: &PushMatch,
    requested_by: &str,
    forced: bool,
    now: DateTime<Utc>,
) -> Begin {
    if let Some(r) = &record.rollout
        && r.digest == m.digest
        && r.in_flight()
    {
        return Begin::Skip(format!(
            "{} is already rolling out to {}",
            short(&m.digest),
            target.name
        ));
    }
    if !forced && record.history.contains(&m.digest) {
        return Begin::Skip(format!(
            "{} was rolled out to {} before: a repeated or replayed push deploys nothing (`twincloud deploy --image ...` does)",
            short(&m.digest),
            target.name
        ));
    }
    let in_flight = record.rollout.as_ref().filter(|r| r.in_flight());
    let sides = order
        .iter()
        .map(|&i| {
            let side = &target.sides[i];
            // A superseded rollout's previous revision is still the last one known good.
            let earlier = in_flight.and_then(|r| r.sides.iter().find(|s| s.side == i));
            SideRollout {
                side: i,
                label: side.label(),
                previous: earlier.and_then(|s| s.previous.clone()),
                previous_image: earlier.and_then(|s| s.previous_image.clone()),
                revision: None,
                url: None,
                phase: Phase::Waiting,
            }
        })
        .collect();
    Begin::Start {
        rollout: Rollout {
            digest: m.digest.clone(),
            tag: m.tag.clone(),
            source_side: m.source_side,
            requested_by: requested_by.to_owned(),
            started: now,
            request: String::new(),
            sides,
            outcome: None,
        },
        superseded: in_flight.map(|r| r.digest.clone()),
    }
}

/// Records `digest` in the history, keeping the newest [`HISTORY`].
pub fn remember(record: &mut DeployRecord, digest: &str) {
    record.history.retain(|d| d != digest);
    record.history.push(digest.to_owned());
    let excess = record.history.len().saturating_sub(HISTORY);
    record.history.drain(..excess);
}

/// What one look at a side saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// The platform's rollout.
    pub progress: Progress,
    /// The first failed check (probe, alarm, error rate, latency), if any.
    pub breach: Option<String>,
}

/// The next thing to do on a side.
#[derive(Debug, Clone, PartialEq)]
pub enum SideStep {
    /// Create the new revision (mirroring the image first).
    Create,
    /// Look again at this time.
    WaitUntil(DateTime<Utc>),
    /// Give the new revision this share of traffic.
    Traffic(u8),
    /// The side is verified.
    Finish,
    /// Go back to the previous revision.
    RollBack(String),
}

/// How often a rollout in progress is looked at, at most.
pub const POLL_SECS: i64 = 10;

/// The next step on `side` and the phase it leads to.
pub fn advance(
    target: &DeployTarget,
    side: &DeploySide,
    phase: &Phase,
    obs: Option<&Observation>,
    now: DateTime<Utc>,
) -> (SideStep, Phase) {
    let secs = super::span_secs;
    let rollback = |why: String| {
        (
            SideStep::RollBack(why.clone()),
            Phase::RolledBack {
                reason: why,
                at: now,
            },
        )
    };
    let after_ready = || match side.steps.first() {
        Some(&p) => (
            SideStep::Traffic(p),
            Phase::Step {
                index: 0,
                since: now,
            },
        ),
        None => (
            SideStep::WaitUntil(super::later(now, secs(target.bake_secs))),
            Phase::Baking { since: now },
        ),
    };
    if let (Some(o), false) = (obs, phase.is_final()) {
        if let Progress::Failed(why) = &o.progress {
            return rollback(format!("the platform failed the rollout: {why}"));
        }
        if let Some(b) = &o.breach {
            return rollback(b.clone());
        }
    }
    match phase {
        Phase::Waiting => (SideStep::Create, Phase::Deploying { since: now }),
        Phase::Deploying { since } => match obs.map(|o| &o.progress) {
            Some(Progress::Ready) => after_ready(),
            _ if now - *since >= secs(target.rollout_timeout_secs) => rollback(format!(
                "the new revision was not ready within {} s",
                target.rollout_timeout_secs
            )),
            _ => (
                SideStep::WaitUntil(now + Duration::seconds(POLL_SECS)),
                phase.clone(),
            ),
        },
        Phase::Step { index, since } => next_step(target, side, phase, *index, *since, now),
        Phase::Baking { since } => {
            let due = super::later(*since, secs(target.bake_secs));
            if now >= due {
                (SideStep::Finish, Phase::Done { at: now })
            } else {
                (SideStep::WaitUntil(due), phase.clone())
            }
        }
        // The rollback owed is tried again; the runtime records how it went.
        Phase::RollbackPending { reason, .. } => rollback(reason.clone()),
        Phase::Done { .. }
        | Phase::RolledBack { .. }
        | Phase::Superseded { .. }
        | Phase::RollbackFailed { .. } => (SideStep::WaitUntil(now), phase.clone()),
    }
}

/// After a traffic step's pause: the next step, or the bake once the last one is done.
fn next_step(
    target: &DeployTarget,
    side: &DeploySide,
    phase: &Phase,
    index: usize,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> (SideStep, Phase) {
    let secs = super::span_secs;
    let due = super::later(since, secs(side.step_pause_secs));
    if now < due {
        return (SideStep::WaitUntil(due), phase.clone());
    }
    match side.steps.get(index + 1) {
        Some(&p) => (
            SideStep::Traffic(p),
            Phase::Step {
                index: index + 1,
                since: now,
            },
        ),
        None => (
            SideStep::WaitUntil(super::later(now, secs(target.bake_secs))),
            Phase::Baking { since: now },
        ),
    }
}

/// After a side rolled back: the sides already deployed that go back too (all or nothing), and
/// the sides not started that will not start.
pub fn after_rollback(target: &DeployTarget, rollout: &Rollout) -> (Vec<usize>, Vec<usize>) {
    let undo = if target.all_or_nothing {
        rollout
            .sides
            .iter()
            .enumerate()
            .filter(|(_, s)| matches!(s.phase, Phase::Done { .. }))
            .map(|(i, _)| i)
            .collect()
    } else {
        vec![]
    };
    let never = rollout
        .sides
        .iter()
        .enumerate()
        .filter(|(_, s)| s.phase == Phase::Waiting)
        .map(|(i, _)| i)
        .collect();
    (undo, never)
}

/// What the checks of one look found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckResults {
    /// Health URLs that failed every attempt, with why.
    pub failed_probes: Vec<(String, String)>,
    /// Alarms in ALARM.
    pub alarms_firing: Vec<String>,
    /// Share of 5xx answers of the new revision, where measured.
    pub error_rate: Option<f64>,
    /// p95 latency of the new revision in milliseconds, where measured.
    pub p95_ms: Option<f64>,
}

/// The first breach of the target's thresholds, in words.
pub fn breach(target: &DeployTarget, c: &CheckResults) -> Option<String> {
    if let Some((url, why)) = c.failed_probes.first() {
        return Some(format!("health check {url} failed: {why}"));
    }
    if let Some(a) = c.alarms_firing.first() {
        return Some(format!("alarm {a} is in ALARM"));
    }
    if let Some(r) = c.error_rate.filter(|r| *r > target.max_error_rate) {
        return Some(format!(
            "error rate {:.1} % is above {:.1} %",
            r * 100.0,
            target.max_error_rate * 100.0
        ));
    }
    if let Some(p) = c.p95_ms.filter(|p| *p > target.max_p95_ms) {
        return Some(format!(
            "p95 latency {p:.0} ms is above {:.0} ms",
            target.max_p95_ms
        ));
    }
    None
}

/// `sha256:0123456789ab`, for messages.
pub fn short(digest: &str) -> &str {
    // Digests can come from a registry's header: never cut inside a character.
    let end = digest
        .char_indices()
        .nth(19)
        .map_or(digest.len(), |(i, _)| i);
    &digest[..end]
}

#[cfg(test)]
mod tests;
