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
            let seen: Vec<EndpointHealth> = views.iter().map(|v| v.health(&e.name)).collect();
            let failures = seen
                .iter()
                .map(|h| h.consecutive_failures)
                .max()
                .unwrap_or(0);
            let healthy = seen
                .iter()
                .all(|h| h.is_up(cfg.threshold) && h.last_probe.is_some());
            let last_change = seen.iter().filter_map(|h| h.last_change).max();
            let last_probe = seen.iter().filter_map(|h| h.last_probe).max();
            let last_error = seen.iter().find_map(|h| h.last_error.clone());
            serde_json::json!({
                "name": e.name,
                "url": e.url,
                "cloud": e.cloud,
                "isPrimary": e.primary,
                "isHealthy": healthy,
                "consecutiveFailures": failures,
                "lastChange": last_change,
                "lastProbe": last_probe,
                "lastError": last_error,
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

/// State key of the status document.
pub const STATUS_KEY: &str = "failover/status";
