//! Reports: what a function did becomes messages on the channels, through the notifier's
//! routing, de-duplication and rate limits, journaled as effects of the event that made them.
//! Every function reports through here; the notifier function is this plan on any event.

use chrono::{DateTime, Utc};
use twincloud_core::Signal;
use twincloud_core::plan::Plan;
use twincloud_core::planner::notify::{self, LastNotified, NotifyObserved, RateWindow};
use twincloud_core::ports::get_json;
use twincloud_core::signal::{Cloud, Report, SignalKind};

use crate::error::RunError;
use crate::executor::{Execution, execute};
use crate::invocation::Invocation;
use crate::services::Services;

/// The notifier's plan for `signal`: one message per channel routed to it, unless it said the
/// same thing last time or the channel's rate limit is reached.
pub async fn notify_plan(
    signal: &Signal,
    services: &Services,
    now: DateTime<Utc>,
) -> Result<Plan, RunError> {
    let state = services.state.as_ref();
    let last = get_json::<LastNotified>(state, &notify::last_key(&signal.subject())).await?;
    let mut observed = NotifyObserved {
        last,
        ..Default::default()
    };
    for ch in &services.config.notify.channels {
        if let Some((w, _)) = get_json::<RateWindow>(state, &notify::rate_key(&ch.name)).await? {
            observed.rates.insert(ch.name.clone(), w);
        }
    }
    Ok(notify::plan(signal, &services.config, &observed, now))
}

/// Sends a report through the notifier's routing, de-duplication and rate limits.
pub async fn send_report(
    services: &Services,
    report: Report,
    event_id: &str,
    tag: &str,
    inv: Invocation,
) -> Result<Execution, RunError> {
    let now = inv.now;
    let signal = Signal {
        id: format!("{event_id}-{tag}"),
        cloud: Cloud::Local,
        shape: "twincloud.report".into(),
        time: Some(now),
        kind: SignalKind::Report(report),
        origin: twincloud_core::signal::Origin::Relayed,
    };
    let function = match &signal.kind {
        SignalKind::Report(r) => r.function.clone(),
        _ => twincloud_core::planner::notify::FUNCTION.to_owned(),
    };
    let mut plan = notify_plan(&signal, services, now).await?;
    // The report's messages are effects of the event that made it, journaled with it: a
    // redelivery of that event sends again what was not sent.
    plan.function = function;
    plan.event_id = event_id.to_owned();
    // The report's state is part of the effect's identity: a retry of the same message is the
    // same effect, a different outcome (ok after a problem) is a new one.
    let state = match &signal.kind {
        SignalKind::Report(r) => twincloud_core::ids::stable_digest(r.state.as_bytes()),
        _ => String::new(),
    };
    let state = &state[..state.len().min(8)];
    for a in &mut plan.actions {
        a.id = format!("report-{tag}-{state}-{}", a.id);
        if let Some(d) = &mut a.depends_on {
            *d = format!("report-{tag}-{state}-{d}");
        }
    }
    execute(services, plan, inv).await
}
