//! `[readiness]`: the bounds the readiness audit holds the standby to. Every key has a default,
//! so the section may be left out.
//!
//! ```toml
//! [readiness]
//! max_ttl_secs = 300              # the failover record's TTL at most
//! max_digest_lag_secs = 3600      # sides may differ this long while a rollout is in flight
//! heartbeat_max_age_secs = 300    # each vantage's failover function probed within this
//! sync_max_age_hours = 24         # each sync pair's last complete pass within this
//! vantages = ["aws", "gcp"]       # default: the failover endpoints' clouds
//! ```

use serde::Deserialize;
use toml::Spanned;

use super::table::{bounded, limits};

/// `[readiness]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadinessConfig {
    /// The failover record's TTL at most, in seconds.
    pub max_ttl_secs: u32,
    /// How long the sides of a deploy target may serve different digests while a rollout is in
    /// flight.
    pub max_digest_lag_secs: u64,
    /// How recently each vantage's failover function must have probed.
    pub heartbeat_max_age_secs: u64,
    /// How recent each sync pair's last complete pass must be, in hours.
    pub sync_max_age_hours: u32,
    /// The vantages whose failover functions must tick (empty: the endpoints' clouds).
    pub vantages: Vec<String>,
}

impl Default for ReadinessConfig {
    fn default() -> Self {
        ReadinessConfig {
            max_ttl_secs: 300,
            max_digest_lag_secs: 3600,
            heartbeat_max_age_secs: 300,
            sync_max_age_hours: 24,
            vantages: vec![],
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReadiness {
    #[serde(default)]
    max_ttl_secs: Option<u32>,
    #[serde(default)]
    max_digest_lag_secs: Option<u64>,
    #[serde(default)]
    heartbeat_max_age_secs: Option<u64>,
    #[serde(default)]
    sync_max_age_hours: Option<u32>,
    #[serde(default)]
    vantages: Vec<String>,
}

/// Checks `[readiness]` (absent: the defaults).
pub(super) fn validate(
    raw: Option<Spanned<RawReadiness>>,
    problem: &dyn Fn(std::ops::Range<usize>, String),
) -> ReadinessConfig {
    let d = ReadinessConfig::default();
    let Some(raw) = raw else { return d };
    let span = raw.span();
    let r = raw.into_inner();
    let at = |m: String| problem(span.clone(), format!("readiness: {m}"));
    let vantages = r.vantages;
    if vantages
        .iter()
        .any(|v| v.trim().is_empty() || v.contains('/'))
    {
        at("`vantages` are names (TWINCLOUD_VANTAGE values), without `/`".into());
    }
    ReadinessConfig {
        max_ttl_secs: bounded(
            r.max_ttl_secs,
            d.max_ttl_secs,
            limits::TTL,
            "max_ttl_secs",
            &at,
        ),
        max_digest_lag_secs: bounded(
            r.max_digest_lag_secs,
            d.max_digest_lag_secs,
            0..=limits::MAX_WINDOW_SECS,
            "max_digest_lag_secs",
            &at,
        ),
        heartbeat_max_age_secs: bounded(
            r.heartbeat_max_age_secs,
            d.heartbeat_max_age_secs,
            60..=limits::DAY,
            "heartbeat_max_age_secs",
            &at,
        ),
        sync_max_age_hours: bounded(
            r.sync_max_age_hours,
            d.sync_max_age_hours,
            1..=24 * 90,
            "sync_max_age_hours",
            &at,
        ),
        vantages,
    }
}
