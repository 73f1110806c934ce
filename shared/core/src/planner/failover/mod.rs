//! The failover planner: probe results in, a decision and its plan out. Pure: the clock, the
//! probes and the stored records are inputs.
//!
//! Two records live in the state store:
//! - `failover/vantage/<name>`: what one vantage point (a deployment that probes) last saw,
//!   written only by that vantage;
//! - `failover/state`: which side is active, the switch in flight (the lock), the last switch
//!   and the history; written only by compare-and-swap, so two invocations never both switch.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{Failback, FailoverConfig};
use crate::ids::key_segment;

/// State key of the shared decision record.
pub const STATE_KEY: &str = "failover/state";

/// State key of one vantage point's view.
pub fn vantage_key(vantage: &str) -> String {
    format!("failover/vantage/{}", key_segment(vantage))
}

/// Name of the failover function in plans and records.
pub const FUNCTION: &str = "failover";

/// How long a switch in flight is reserved for the invocation that started it. Past this, the
/// invocation is presumed dead and the next one resumes or abandons the switch.
pub const SWITCH_LEASE_SECS: i64 = 120;

/// Health of one endpoint as one vantage sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointHealth {
    /// Consecutive failed rounds.
    pub consecutive_failures: u32,
    /// Consecutive successful rounds.
    pub consecutive_successes: u32,
    /// Start of the current run of successes.
    pub healthy_since: Option<DateTime<Utc>>,
    /// When the healthy/unhealthy verdict last changed.
    pub last_change: Option<DateTime<Utc>>,
    /// Last round.
    pub last_probe: Option<DateTime<Utc>>,
    /// Why the last failed round failed.
    pub last_error: Option<String>,
    /// Rounds per quarter hour over the last day, oldest first: the operations page's strip.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent: Vec<HealthSlot>,
}

/// Probe rounds of one endpoint in one quarter hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthSlot {
    /// Start of the quarter hour.
    pub start: DateTime<Utc>,
    /// Rounds that passed.
    pub ok: u32,
    /// Rounds that failed.
    pub failed: u32,
}

/// Width of one slot of the health strip.
pub const SLOT_MINUTES: i64 = 15;
/// Slots kept: a day.
pub const SLOTS: usize = 96;

/// Start of the slot `at` falls in.
pub fn slot_start(at: DateTime<Utc>) -> DateTime<Utc> {
    let secs = SLOT_MINUTES * 60;
    DateTime::from_timestamp(at.timestamp().div_euclid(secs) * secs, 0).unwrap_or(at)
}

/// Adds one round to a strip, keeping it sorted and a day long. A round older than the strip
/// (a late writer) is dropped rather than reordering anything.
pub fn add_to_strip(strip: &mut Vec<HealthSlot>, ok: bool, at: DateTime<Utc>) {
    let start = slot_start(at);
    let slot = match strip.binary_search_by(|s| s.start.cmp(&start)) {
        Ok(i) => &mut strip[i],
        Err(i) => {
            strip.insert(
                i,
                HealthSlot {
                    start,
                    ok: 0,
                    failed: 0,
                },
            );
            &mut strip[i]
        }
    };
    if ok {
        slot.ok = slot.ok.saturating_add(1);
    } else {
        slot.failed = slot.failed.saturating_add(1);
    }
    let newest = strip.last().map_or(start, |s| s.start);
    let oldest = newest - chrono::Duration::minutes(SLOT_MINUTES * (SLOTS as i64 - 1));
    strip.retain(|s| s.start >= oldest);
}

/// The strips of several vantages added up, for the day ending at `now`: [`SLOTS`] entries, an
/// empty slot where nobody probed.
pub fn merged_strip<'a>(
    strips: impl IntoIterator<Item = &'a [HealthSlot]>,
    now: DateTime<Utc>,
) -> Vec<HealthSlot> {
    let last = slot_start(now);
    let first = last - chrono::Duration::minutes(SLOT_MINUTES * (SLOTS as i64 - 1));
    let mut out: Vec<HealthSlot> = (0..SLOTS as i64)
        .map(|i| HealthSlot {
            start: first + chrono::Duration::minutes(SLOT_MINUTES * i),
            ok: 0,
            failed: 0,
        })
        .collect();
    for strip in strips {
        for s in strip {
            if s.start < first || s.start > last {
                continue;
            }
            let i = usize::try_from((s.start - first).num_minutes() / SLOT_MINUTES).unwrap_or(0);
            if let Some(slot) = out.get_mut(i) {
                slot.ok = slot.ok.saturating_add(s.ok);
                slot.failed = slot.failed.saturating_add(s.failed);
            }
        }
    }
    out
}

impl EndpointHealth {
    /// Records one probe round (all of the endpoint's health paths).
    pub fn observe(&mut self, ok: bool, error: Option<String>, now: DateTime<Utc>, threshold: u32) {
        let was_up = self.is_up(threshold);
        if ok {
            if self.consecutive_successes == 0 {
                self.healthy_since = Some(now);
            }
            self.consecutive_successes = self.consecutive_successes.saturating_add(1);
            self.consecutive_failures = 0;
            self.last_error = None;
        } else {
            self.consecutive_failures = self.consecutive_failures.saturating_add(1);
            self.consecutive_successes = 0;
            self.healthy_since = None;
            self.last_error = error;
        }
        self.last_probe = Some(now);
        add_to_strip(&mut self.recent, ok, now);
        if was_up != self.is_up(threshold) || self.last_change.is_none() {
            self.last_change = Some(now);
        }
    }

    /// Down after `threshold` consecutive failures; up otherwise.
    pub fn is_up(&self, threshold: u32) -> bool {
        self.consecutive_failures < threshold
    }

    /// Ready to take traffic now: its last round passed.
    pub fn can_take_traffic(&self) -> bool {
        self.consecutive_successes >= 1
    }
}

/// What one vantage point saw.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VantageView {
    /// The vantage's name (`aws`, `gcp`, `local`).
    pub vantage: String,
    /// When it wrote this view.
    pub at: Option<DateTime<Utc>>,
    /// Per endpoint name.
    pub endpoints: BTreeMap<String, EndpointHealth>,
}

impl VantageView {
    /// The health of one endpoint (default: never probed).
    pub fn health(&self, endpoint: &str) -> EndpointHealth {
        self.endpoints.get(endpoint).cloned().unwrap_or_default()
    }
}

/// Failover or failback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SwitchKind {
    /// Away from a failing active side.
    Failover,
    /// Back to the recovered primary.
    Failback,
}

/// A switch started and not yet recorded as finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwitchInFlight {
    /// Idempotency key of the switch's actions.
    pub id: String,
    /// Failover or failback.
    pub kind: SwitchKind,
    /// From endpoint.
    pub from: String,
    /// To endpoint.
    pub to: String,
    /// When the failure (or recovery) was detected.
    pub detected: DateTime<Utc>,
    /// When the switch started.
    pub started: DateTime<Utc>,
    /// Written by the attempt holding the switch when it ends with a step failed after the
    /// traffic step began (the DNS change is ambiguous, or its record failed): nobody acts on
    /// it any more, so the next look may resume it at once instead of when its lease ends.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub settled: bool,
}

/// A finished switch, for the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwitchRecord {
    /// The switch.
    pub switch: SwitchInFlight,
    /// When traffic was moved.
    pub finished: DateTime<Utc>,
}

/// The shared decision record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailoverState {
    /// The endpoint traffic goes to.
    pub active: String,
    /// The lock: a switch in progress.
    pub in_flight: Option<SwitchInFlight>,
    /// The last finished switch.
    pub last_switch: Option<DateTime<Utc>>,
    /// Recent switches, newest last (at most 20).
    pub history: Vec<SwitchRecord>,
}

impl FailoverState {
    /// The initial record: the primary is active.
    pub fn initial(cfg: &FailoverConfig) -> FailoverState {
        FailoverState {
            active: cfg.primary().name.clone(),
            in_flight: None,
            last_switch: None,
            history: vec![],
        }
    }

    /// The record once `switch` has moved traffic.
    pub fn finished(&self, switch: &SwitchInFlight, now: DateTime<Utc>) -> FailoverState {
        let mut history = self.history.clone();
        history.push(SwitchRecord {
            switch: switch.clone(),
            finished: now,
        });
        let drop = history.len().saturating_sub(20);
        history.drain(..drop);
        FailoverState {
            active: switch.to.clone(),
            in_flight: None,
            last_switch: Some(now),
            history,
        }
    }
}

/// What to do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing.
    Hold {
        /// Why.
        reason: String,
    },
    /// Move traffic.
    Switch {
        /// The switch to make (or resume).
        switch: SwitchInFlight,
        /// Why.
        reason: String,
    },
    /// A switch left unfinished by a dead invocation is no longer wanted: release the lock
    /// (traffic never moved: the DNS step comes last and the record was not written).
    Abandon {
        /// The switch.
        switch: SwitchInFlight,
        /// Why.
        reason: String,
    },
    /// The active side is failing and traffic cannot move: tell people, loudly.
    Stuck {
        /// Why traffic stays where it is.
        reason: String,
    },
}

/// A person's command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManualCommand {
    /// Return traffic to the primary now (if it is healthy), after the cooldown unless forced.
    Failback {
        /// Skip the cooldown (`twincloud failback --force`).
        force: bool,
    },
}

/// Counts the fresh views (this vantage's included) that see `endpoint` down.
fn votes_down(
    views: &[VantageView],
    endpoint: &str,
    cfg: &FailoverConfig,
    now: DateTime<Utc>,
) -> u32 {
    let fresh = |v: &&VantageView| {
        v.at.is_some_and(|t| {
            now.signed_duration_since(t).num_seconds()
                <= i64::try_from(cfg.view_max_age_secs).unwrap_or(i64::MAX)
        })
    };
    let n = views
        .iter()
        .filter(fresh)
        .filter(|v| !v.health(endpoint).is_up(cfg.threshold))
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn in_cooldown(
    state: &FailoverState,
    cfg: &FailoverConfig,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let until = crate::planner::later(
        state.last_switch?,
        crate::planner::span_secs(cfg.cooldown_secs),
    );
    (now < until).then_some(until)
}

/// Decides from the shared record, every vantage's view (`mine` is this vantage's, fresh),
/// and an optional command.
pub fn decide(
    cfg: &FailoverConfig,
    state: &FailoverState,
    mine: &VantageView,
    others: &[VantageView],
    now: DateTime<Utc>,
    command: Option<ManualCommand>,
) -> Decision {
    let mut views: Vec<VantageView> = others
        .iter()
        .filter(|v| v.vantage != mine.vantage)
        .cloned()
        .collect();
    views.push(mine.clone());
    if let Some(f) = &state.in_flight {
        return unfinished(cfg, f, mine, &views, now);
    }
    let active = state.active.as_str();
    let primary = cfg.primary().name.as_str();
    let down = votes_down(&views, active, cfg, now);
    if down >= cfg.quorum {
        return active_failing(cfg, state, mine, views.len(), down, now);
    }
    if active != primary {
        return away_from_primary(cfg, state, mine, now, command);
    }
    if matches!(command, Some(ManualCommand::Failback { .. })) {
        return Decision::Hold {
            reason: format!("traffic is already on the primary {primary}"),
        };
    }
    let failures = mine.health(active).consecutive_failures;
    let reason = if failures == 0 {
        format!("{active} is healthy")
    } else {
        format!(
            "{active} failed {failures} of {} rounds in a row; no switch yet",
            cfg.threshold
        )
    };
    Decision::Hold { reason }
}

/// A switch an invocation started: held while its lease runs, resumed or abandoned after.
fn unfinished(
    cfg: &FailoverConfig,
    f: &SwitchInFlight,
    mine: &VantageView,
    views: &[VantageView],
    now: DateTime<Utc>,
) -> Decision {
    let age = now.signed_duration_since(f.started).num_seconds();
    if age < SWITCH_LEASE_SECS && !f.settled {
        return Decision::Hold {
            reason: format!(
                "{} {} → {} in progress since {} (another invocation)",
                kind_name(f.kind),
                f.from,
                f.to,
                f.started.to_rfc3339()
            ),
        };
    }
    // The lease is over, or the attempt that started the switch ended with an effect
    // failed (a redelivery of its event, the next tick): nobody acts on it. Finish it only
    // while its reason still holds and its target can take traffic; otherwise abandon it.
    let still_needed = match f.kind {
        SwitchKind::Failover => votes_down(views, &f.from, cfg, now) >= cfg.quorum,
        // A failback was decided on recovery or by a person; it stays wanted.
        SwitchKind::Failback => true,
    };
    if still_needed && mine.health(&f.to).can_take_traffic() {
        // The resuming attempt holds it now: it is not left to others until it ends.
        let mut switch = f.clone();
        switch.settled = false;
        return Decision::Switch {
            switch,
            reason: format!(
                "resuming the {} to {} that an earlier invocation left unfinished",
                kind_name(f.kind),
                f.to
            ),
        };
    }
    Decision::Abandon {
        switch: f.clone(),
        reason: if still_needed {
            format!(
                "the unfinished {} to {} is abandoned: {} cannot take traffic now",
                kind_name(f.kind),
                f.to,
                f.to
            )
        } else {
            format!(
                "the unfinished {} to {} is abandoned: {} has recovered",
                kind_name(f.kind),
                f.to,
                f.from
            )
        },
    }
}

/// The active side is down by quorum: fail over to a side that can take traffic, unless none
/// can or the last switch was too recent.
fn active_failing(
    cfg: &FailoverConfig,
    state: &FailoverState,
    mine: &VantageView,
    vantages: usize,
    down: u32,
    now: DateTime<Utc>,
) -> Decision {
    let active = state.active.as_str();
    let mine_active = mine.health(active);
    let target = cfg
        .endpoints
        .iter()
        .map(|e| e.name.as_str())
        .find(|n| *n != active && mine.health(n).can_take_traffic());
    let Some(to) = target else {
        return Decision::Stuck {
            reason: format!(
                "{active} failed {} consecutive rounds ({}), and no other side is healthy: traffic stays",
                mine_active.consecutive_failures,
                mine_active.last_error.as_deref().unwrap_or("no detail")
            ),
        };
    };
    if let Some(until) = in_cooldown(state, cfg, now) {
        return Decision::Stuck {
            reason: format!(
                "{active} is failing but the last switch was recent: cooldown until {}",
                until.to_rfc3339()
            ),
        };
    }
    let detected = mine_active.last_change.unwrap_or(now);
    Decision::Switch {
        switch: SwitchInFlight {
            id: switch_id(SwitchKind::Failover, active, to, now),
            kind: SwitchKind::Failover,
            from: active.into(),
            to: to.into(),
            detected,
            started: now,
            settled: false,
        },
        reason: format!(
            "{active} failed {} consecutive rounds (threshold {}; {down} of {} vantage point(s) agree, quorum {}): {}",
            mine_active.consecutive_failures,
            cfg.threshold,
            vantages,
            cfg.quorum,
            mine_active.last_error.as_deref().unwrap_or("no detail")
        ),
    }
}

/// Traffic is away from the primary: fail back on command or after a sustained recovery (and
/// the cooldown), or hold.
fn away_from_primary(
    cfg: &FailoverConfig,
    state: &FailoverState,
    mine: &VantageView,
    now: DateTime<Utc>,
    command: Option<ManualCommand>,
) -> Decision {
    let active = state.active.as_str();
    let primary = cfg.primary().name.as_str();
    let p = mine.health(primary);
    let held = p
        .healthy_since
        .map_or(0, |t| now.signed_duration_since(t).num_seconds());
    let recovered = p.consecutive_successes >= cfg.recovery_threshold
        && held >= i64::try_from(cfg.hold_down_secs).unwrap_or(i64::MAX);
    let failback = |reason: String| Decision::Switch {
        switch: SwitchInFlight {
            id: switch_id(SwitchKind::Failback, active, primary, now),
            kind: SwitchKind::Failback,
            from: active.into(),
            to: primary.into(),
            detected: p.healthy_since.unwrap_or(now),
            started: now,
            settled: false,
        },
        reason,
    };
    if let Some(ManualCommand::Failback { force }) = command {
        return failback_on_command(cfg, state, &p, primary, held, now, force, failback);
    }
    if recovered {
        if cfg.failback == Failback::Manual {
            return Decision::Hold {
                reason: format!(
                    "{primary} has recovered ({} rounds, {held}s); failback is manual: `twincloud failback`",
                    p.consecutive_successes
                ),
            };
        }
        if let Some(until) = in_cooldown(state, cfg, now) {
            return Decision::Hold {
                reason: format!(
                    "{primary} has recovered; failback waits for the cooldown until {}",
                    until.to_rfc3339()
                ),
            };
        }
        return failback(format!(
            "{primary} healthy for {} consecutive rounds over {held}s (hold-down {}s)",
            p.consecutive_successes, cfg.hold_down_secs
        ));
    }
    Decision::Hold {
        reason: format!(
            "{active} serves; {primary} not yet recovered ({} of {} rounds, {held}s of {}s)",
            p.consecutive_successes, cfg.recovery_threshold, cfg.hold_down_secs
        ),
    }
}

/// `twincloud failback`: refused while the primary is unhealthy, or inside the cooldown
/// unless forced.
#[allow(clippy::too_many_arguments)]
fn failback_on_command(
    cfg: &FailoverConfig,
    state: &FailoverState,
    p: &EndpointHealth,
    primary: &str,
    held: i64,
    now: DateTime<Utc>,
    force: bool,
    failback: impl Fn(String) -> Decision,
) -> Decision {
    if !p.can_take_traffic() {
        return Decision::Stuck {
            reason: format!(
                "failback refused: the primary {primary} is not healthy ({})",
                p.last_error.as_deref().unwrap_or("never probed")
            ),
        };
    }
    let cooldown = in_cooldown(state, cfg, now);
    match (cooldown, force) {
        (Some(until), false) => Decision::Hold {
            reason: format!(
                "failback refused: the last switch was recent (cooldown until {}); `twincloud failback --force` overrides the cooldown",
                until.to_rfc3339()
            ),
        },
        (Some(until), true) => failback(format!(
            "failback on command, forced through the cooldown (until {}); {primary} healthy for {held}s",
            until.to_rfc3339()
        )),
        (None, _) => failback(format!(
            "failback on command; {primary} healthy for {held}s"
        )),
    }
}

pub(crate) fn kind_name(k: SwitchKind) -> &'static str {
    match k {
        SwitchKind::Failover => "failover",
        SwitchKind::Failback => "failback",
    }
}

fn switch_id(kind: SwitchKind, from: &str, to: &str, now: DateTime<Utc>) -> String {
    let slug = |n: &str| -> String {
        let s: String = n
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        s.split('-')
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join("-")
    };
    format!(
        "{}-{}-{}-to-{}",
        kind_name(kind),
        now.format("%Y%m%dT%H%M%S"),
        slug(from),
        slug(to)
    )
}

mod status;
mod switch;

pub use status::{EndpointSummary, STATUS_KEY, status_document};
pub use switch::{plan_abandon, plan_switch, under_standby_hold};

#[cfg(test)]
mod tests;
