//! The multi-cloud status document.

use chrono::{DateTime, Utc};

use super::{EndpointHealth, FailoverState, VantageView};
use crate::config::FailoverConfig;

/// The multi-cloud status document: the seed's `/health/multi-cloud` shape, with timestamps,
/// the switch in flight and the last switch.
pub fn status_document(
    cfg: &FailoverConfig,
    state: &FailoverState,
    views: &[VantageView],
    now: DateTime<Utc>,
) -> serde_json::Value {
    let endpoints: Vec<serde_json::Value> = cfg
        .endpoints
        .iter()
        .map(|e| {
            let s = EndpointSummary::of(cfg, &e.name, views, now);
            serde_json::json!({
                "name": e.name,
                "url": e.url,
                "cloud": e.cloud,
                "isPrimary": e.primary,
                "isHealthy": s.healthy,
                "consecutiveFailures": s.failures,
                "lastChange": s.last_change,
                "lastProbe": s.last_probe,
                "lastError": s.last_error,
            })
        })
        .collect();
    serde_json::json!({
        "endpoints": endpoints,
        "activeEndpoint": state.active,
        "updatedAt": now,
        "vantagePoints": views.iter().map(|v| serde_json::json!({"name": v.vantage, "at": v.at})).collect::<Vec<_>>(),
        "inFlight": state.in_flight,
        "lastSwitch": state.last_switch,
        "history": state.history,
    })
}

/// One endpoint's health as all vantages together see it: healthy only when every vantage
/// probed it and none counts it down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSummary {
    /// Up for every vantage that probed it, and probed at least once.
    pub healthy: bool,
    /// The most consecutive failures any vantage counts.
    pub failures: u32,
    /// The latest verdict change.
    pub last_change: Option<DateTime<Utc>>,
    /// The latest round.
    pub last_probe: Option<DateTime<Utc>>,
    /// Why a failing round failed, from the first vantage that has one.
    pub last_error: Option<String>,
    /// Rounds per quarter hour over the day ending `now`, all vantages added up.
    pub strip: Vec<super::HealthSlot>,
}

impl EndpointSummary {
    /// The summary of endpoint `name` from `views`.
    pub fn of(
        cfg: &FailoverConfig,
        name: &str,
        views: &[VantageView],
        now: DateTime<Utc>,
    ) -> EndpointSummary {
        let seen: Vec<EndpointHealth> = views.iter().map(|v| v.health(name)).collect();
        let last_probe = seen.iter().filter_map(|h| h.last_probe).max();
        EndpointSummary {
            healthy: !seen.is_empty()
                && seen
                    .iter()
                    .all(|h| h.is_up(cfg.threshold) && h.last_probe.is_some()),
            failures: seen
                .iter()
                .map(|h| h.consecutive_failures)
                .max()
                .unwrap_or(0),
            last_change: seen.iter().filter_map(|h| h.last_change).max(),
            last_probe,
            last_error: seen.iter().find_map(|h| h.last_error.clone()),
            strip: super::merged_strip(seen.iter().map(|h| h.recent.as_slice()), now),
        }
    }
}

/// State key of the status document.
pub const STATUS_KEY: &str = "failover/status";
