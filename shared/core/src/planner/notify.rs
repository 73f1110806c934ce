//! The notification planner: routing, de-duplication by state change, rate limiting.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{Channel, Config};
use crate::ids::key_segment;
use crate::message::Message;
use crate::plan::{Action, Guard, Operation, Plan};
use crate::ports::{Precondition, Version};
use crate::signal::Signal;

/// The record of the last message sent about a subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastNotified {
    /// Signal subject.
    pub subject: String,
    /// State reported.
    pub state: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The event that claimed it (a retry of the same event proceeds).
    pub event_id: String,
}

/// A channel's rate-limit window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateWindow {
    /// Minute since the epoch the counts are for.
    pub minute: i64,
    /// Messages sent in that minute.
    pub sent: u32,
    /// Messages held back since the last one sent.
    pub suppressed: u32,
}

/// What the planner needs to know from the state store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NotifyObserved {
    /// The last notification about the signal's subject, with its record version.
    pub last: Option<(LastNotified, Version)>,
    /// Rate windows per channel name.
    pub rates: BTreeMap<String, RateWindow>,
}

/// State key of the last-notified record for a subject.
pub fn last_key(subject: &str) -> String {
    format!("notify/last/{}", key_segment(subject))
}

/// State key of a channel's rate window.
pub fn rate_key(channel: &str) -> String {
    format!("notify/rate/{}", key_segment(channel))
}

/// Name of the notifier function in plans and records.
pub const FUNCTION: &str = "notifier";

/// Plans the messages for one signal.
pub fn plan(
    signal: &Signal,
    config: &Config,
    observed: &NotifyObserved,
    now: DateTime<Utc>,
) -> Plan {
    let mut plan = Plan::new(FUNCTION, &signal.id);
    if !claim(&mut plan, signal, config, observed, now) {
        return plan;
    }
    let base = Message::for_signal(&config.project.name, signal);
    for ch in &config.notify.channels {
        route(&mut plan, signal, config, observed, ch, &base, now);
    }
    if config.notify.channels.is_empty() {
        plan.notes
            .push("no channel is configured ([[notify.channels]])".into());
    }
    plan
}

/// Claims the report of the signal's subject in its state (once per state change within the
/// de-duplication window); false when it was reported already and nothing is to be sent.
fn claim(
    plan: &mut Plan,
    signal: &Signal,
    config: &Config,
    observed: &NotifyObserved,
    now: DateTime<Utc>,
) -> bool {
    let subject = signal.subject();
    let state = signal.state_label();
    let window = crate::planner::span_secs(config.notify.dedupe_window_secs);
    match &observed.last {
        Some((last, _)) if last.event_id == signal.id => {
            plan.notes.push(
                "a retry of an event already claimed: completing its remaining actions".into(),
            );
        }
        Some((last, _)) if last.state == state && now.signed_duration_since(last.at) < window => {
            plan.notes.push(format!(
                "suppressed: `{subject}` was already reported as `{state}` at {} by event {} (one message per state change)",
                last.at.to_rfc3339(),
                last.event_id
            ));
            return false;
        }
        last => {
            plan.guard = Some(Guard::claim(
                last_key(&subject),
                match last {
                    Some((_, v)) => Precondition::Matches(v.clone()),
                    None => Precondition::Absent,
                },
                serde_json::to_value(LastNotified {
                    subject: subject.clone(),
                    state: state.clone(),
                    at: now,
                    event_id: signal.id.clone(),
                })
                .unwrap_or_default(),
                format!("claim the report of `{subject}` → `{state}`"),
            ));
        }
    }
    true
}

/// The message on one channel: not routed there, held back by its rate limit (and counted),
/// or sent with the count of what was held back before.
fn route(
    plan: &mut Plan,
    signal: &Signal,
    config: &Config,
    observed: &NotifyObserved,
    ch: &Channel,
    base: &Message,
    now: DateTime<Utc>,
) {
    let severity = signal.severity();
    let minute = now.timestamp().div_euclid(60);
    if !ch.accepts(&signal.kind, severity) {
        plan.notes.push(format!(
            "channel `{}` not used: it takes {} and above{} (this is {} {severity})",
            ch.name,
            ch.min_severity,
            if ch.kinds.is_empty() {
                String::new()
            } else {
                format!(" of kinds {}", ch.kinds.join(", "))
            },
            signal.kind.name(),
        ));
        return;
    }
    let w = observed.rates.get(&ch.name).copied().unwrap_or_default();
    let w = if w.minute == minute {
        w
    } else {
        RateWindow {
            minute,
            sent: 0,
            suppressed: w.suppressed,
        }
    };
    if w.sent >= config.notify.rate_limit_per_minute {
        held_back(plan, ch, config.notify.rate_limit_per_minute, w);
        return;
    }
    let mut message = base.clone();
    if w.suppressed > 0 {
        message.fields.push((
            "Held back by rate limit".into(),
            format!("{} earlier message(s)", w.suppressed),
        ));
    }
    let notify_id = format!("notify-{}", ch.name);
    plan.actions.push(Action {
        id: notify_id.clone(),
        reason: format!(
            "{} {severity} routed to {} channel `{}`",
            signal.kind.name(),
            ch.target.type_name(),
            ch.name
        ),
        depends_on: None,
        op: Operation::Notify {
            channel: ch.name.clone(),
            message,
        },
    });
    plan.actions.push(Action {
        id: format!("rate-{}", ch.name),
        reason: "count the message in the channel's rate window".into(),
        depends_on: Some(notify_id),
        op: Operation::PutState {
            key: rate_key(&ch.name),
            value: serde_json::to_value(RateWindow {
                minute,
                sent: w.sent + 1,
                suppressed: 0,
            })
            .unwrap_or_default(),
        },
    });
}

/// A message over the channel's rate limit: held back, and counted for the next one to say.
fn held_back(plan: &mut Plan, ch: &Channel, limit: u32, w: RateWindow) {
    plan.notes.push(format!(
        "channel `{}` rate-limited ({} per minute): message held back and counted",
        ch.name, limit
    ));
    plan.actions.push(Action {
        id: format!("rate-{}", ch.name),
        reason: "count the held-back message".into(),
        depends_on: None,
        op: Operation::PutState {
            key: rate_key(&ch.name),
            value: serde_json::to_value(RateWindow {
                suppressed: w.suppressed + 1,
                ..w
            })
            .unwrap_or_default(),
        },
    });
}

#[cfg(test)]
mod tests;
