//! `[failover]`: the two sides, how they are probed, and when traffic moves.

use serde::Deserialize;
use toml::Spanned;

use super::compute::{COMPUTE_KINDS, ComputeTarget, compute, required};
use super::table::{self, bounded, limits};
use crate::signal::Cloud;

/// A validated `[failover]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct FailoverConfig {
    /// The DNS name clients use; it points at the active side's `dns_target`.
    pub record: String,
    /// Where the record lives.
    pub dns: DnsProvider,
    /// The sides, the primary first.
    pub endpoints: Vec<Endpoint>,
    /// Consecutive failed probe rounds of the active side before a failover.
    pub threshold: u32,
    /// Consecutive successful rounds of the primary before a failback.
    pub recovery_threshold: u32,
    /// The primary must have been healthy this long before a failback.
    pub hold_down_secs: u64,
    /// No switch within this long of the last one.
    pub cooldown_secs: u64,
    /// Seconds between probe rounds within one invocation.
    pub probe_interval_secs: u64,
    /// How long one scheduled invocation keeps probing (schedules fire at most once a minute).
    pub probe_window_secs: u64,
    /// Timeout of one probe.
    pub probe_timeout_ms: u64,
    /// Whether traffic returns to the primary by itself.
    pub failback: Failback,
    /// Vantage points (deployments probing) that must see the active side failing.
    pub quorum: u32,
    /// A vantage's view older than this does not count towards the quorum.
    pub view_max_age_secs: u64,
}

/// Failback policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Failback {
    /// After sustained recovery (recovery threshold and hold-down).
    Auto,
    /// Only on command (`twincloud failback`).
    Manual,
}

/// Where the failover record lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsProvider {
    /// The local backend's simulated DNS (`<state dir>/sim/dns/`).
    Local,
    /// A Cloud DNS managed zone (CNAME record).
    CloudDns {
        /// GCP project.
        project: String,
        /// Managed zone name.
        zone: String,
        /// Record TTL in seconds.
        ttl: u32,
    },
    /// A Cloudflare zone (CNAME record, not proxied).
    Cloudflare {
        /// Zone id.
        zone_id: String,
        /// API token with DNS edit permission on the zone.
        api_token: crate::secret::SecretRef,
        /// Record TTL in seconds.
        ttl: u32,
    },
    /// A Route 53 hosted zone (CNAME record).
    Route53 {
        /// Hosted zone id (`Z0123...`).
        zone_id: String,
        /// Record TTL in seconds: clients follow a switch within it.
        ttl: u32,
    },
}

/// One side of the deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// Display name (`GCP Cloud Run`).
    pub name: String,
    /// Cloud it runs on.
    pub cloud: Cloud,
    /// Whether it is the primary.
    pub primary: bool,
    /// Base URL probes go to.
    pub url: String,
    /// Paths probed each round; all must pass.
    pub health: Vec<String>,
    /// Status every probe must answer.
    pub expect_status: u16,
    /// Text the body must contain, if set.
    pub body_contains: Option<String>,
    /// What the record points at while this side is active.
    pub dns_target: String,
    /// Its service.
    pub compute: ComputeTarget,
    /// Instances when active.
    pub active_size: u32,
    /// Instances when standby.
    pub standby_size: u32,
    /// Alarm names and incident policies that mean this side is down.
    pub alarms: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFailover {
    record: String,
    #[serde(default)]
    dns: Option<toml::Table>,
    endpoints: Vec<Spanned<toml::Table>>,
    #[serde(default)]
    threshold: Option<u32>,
    #[serde(default)]
    recovery_threshold: Option<u32>,
    #[serde(default)]
    hold_down_secs: Option<u64>,
    #[serde(default)]
    cooldown_secs: Option<u64>,
    #[serde(default)]
    probe_interval_secs: Option<u64>,
    #[serde(default)]
    probe_window_secs: Option<u64>,
    #[serde(default)]
    probe_timeout_ms: Option<u64>,
    #[serde(default)]
    failback: Option<Failback>,
    #[serde(default)]
    quorum: Option<u32>,
    #[serde(default)]
    view_max_age_secs: Option<u64>,
}

const DNS_PROVIDERS: &[&str] = &["local", "route53", "clouddns", "cloudflare"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLocalDns {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute53 {
    zone_id: String,
    #[serde(default)]
    ttl: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCloudDns {
    project: String,
    zone: String,
    #[serde(default)]
    ttl: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCloudflare {
    zone_id: String,
    api_token: String,
    #[serde(default)]
    ttl: Option<u32>,
}

/// The keys every endpoint takes; the rest belong to its `compute`.
const ENDPOINT_KEYS: &[&str] = &[
    "name",
    "cloud",
    "primary",
    "url",
    "health",
    "expect_status",
    "body_contains",
    "dns_target",
    "compute",
    "active_size",
    "standby_size",
    "alarms",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEndpoint {
    name: String,
    cloud: Cloud,
    #[serde(default)]
    primary: bool,
    url: String,
    #[serde(default)]
    health: Vec<String>,
    #[serde(default)]
    expect_status: Option<u16>,
    #[serde(default)]
    body_contains: Option<String>,
    dns_target: String,
    #[allow(dead_code)] // read by `table::kind`
    compute: String,
    #[serde(default)]
    active_size: Option<u32>,
    #[serde(default)]
    standby_size: Option<u32>,
    #[serde(default)]
    alarms: Vec<String>,
}

/// The default TTL of the failover record: clients follow a switch within a minute.
const DEFAULT_TTL: u32 = 60;

fn dns(table: Option<toml::Table>) -> Result<DnsProvider, String> {
    let Some(table) = table else {
        return Ok(DnsProvider::Local);
    };
    let provider = table::kind(&table, "provider", "dns", DNS_PROVIDERS)?.to_owned();
    let (_, own) = table::split(table, &["provider"]);
    let what = format!("dns provider `{provider}`");
    let ttl = |t: Option<u32>| -> Result<u32, String> {
        let t = t.unwrap_or(DEFAULT_TTL);
        if limits::TTL.contains(&t) {
            Ok(t)
        } else {
            Err(format!(
                "{what}: `ttl` = {t} is out of range ({} to {})",
                limits::TTL.start(),
                limits::TTL.end()
            ))
        }
    };
    Ok(match provider.as_str() {
        "route53" => {
            let r: RawRoute53 = table::read(own, "dns", &what)?;
            DnsProvider::Route53 {
                zone_id: required(r.zone_id, "zone_id", &what)?,
                ttl: ttl(r.ttl)?,
            }
        }
        "clouddns" => {
            let r: RawCloudDns = table::read(own, "dns", &what)?;
            DnsProvider::CloudDns {
                project: required(r.project, "project", &what)?,
                zone: required(r.zone, "zone", &what)?,
                ttl: ttl(r.ttl)?,
            }
        }
        "cloudflare" => {
            let r: RawCloudflare = table::read(own, "dns", &what)?;
            DnsProvider::Cloudflare {
                zone_id: required(r.zone_id, "zone_id", &what)?,
                api_token: r
                    .api_token
                    .parse::<crate::secret::SecretRef>()
                    .map_err(|e| format!("{what}: `api_token`: {e}"))?,
                ttl: ttl(r.ttl)?,
            }
        }
        _ => {
            let RawLocalDns {} = table::read(own, "dns", &what)?;
            DnsProvider::Local
        }
    })
}

fn endpoint(table: toml::Table, others: &[Endpoint], at: &dyn Fn(String)) -> Option<Endpoint> {
    let name = table::name(&table);
    let what = format!("failover endpoint `{name}`");
    let here = |m: String| at(format!("{what}: {m}"));
    // An unknown compute kind is reported, and the other keys are still checked.
    let kind = table::kind(&table, "compute", &what, COMPUTE_KINDS)
        .map(str::to_owned)
        .map_err(at)
        .ok();
    let (common, own) = table::split(table, ENDPOINT_KEYS);
    let e: RawEndpoint = table::read(common, &what, "an endpoint").map_err(at).ok()?;
    let compute = kind.and_then(|k| compute(&k, own, &what).map_err(at).ok());
    if !(e.url.starts_with("http://") || e.url.starts_with("https://")) {
        here("`url` must start with http:// or https://".into());
    }
    if e.dns_target.trim().is_empty() {
        here("`dns_target` is required".into());
    }
    let health = if e.health.is_empty() {
        vec!["/health".to_owned()]
    } else {
        e.health.clone()
    };
    if let Some(p) = health.iter().find(|p| !p.starts_with('/')) {
        here(format!("health path `{p}` must start with `/`"));
    }
    let active_size = bounded(
        e.active_size,
        1,
        1..=limits::MAX_INSTANCES,
        "active_size",
        &here,
    );
    let standby_size = bounded(
        e.standby_size,
        0,
        0..=limits::MAX_INSTANCES,
        "standby_size",
        &here,
    );
    let expect_status = bounded(e.expect_status, 200, 100..=599, "expect_status", &here);
    if standby_size > active_size {
        here(format!(
            "`standby_size` ({standby_size}) is above `active_size` ({active_size})"
        ));
    }
    if others.iter().any(|o| o.name == e.name) {
        here("the name is used by another endpoint".into());
    }
    let (compute, max_size) = compute?;
    if let Some(max) = max_size.filter(|m| *m < active_size) {
        here(format!("`max_size` ({max}) is below `active_size`"));
    }
    Some(Endpoint {
        name: e.name,
        cloud: e.cloud,
        primary: e.primary,
        url: e.url.trim_end_matches('/').to_owned(),
        health,
        expect_status,
        body_contains: e.body_contains,
        dns_target: e.dns_target,
        compute,
        active_size,
        standby_size,
        alarms: e.alarms,
    })
}

/// Validates the section; `problem(span, message)` records what is wrong.
pub(super) fn validate(
    raw: Spanned<RawFailover>,
    problem: &dyn Fn(std::ops::Range<usize>, String),
) -> Option<FailoverConfig> {
    let span = raw.span();
    let r = raw.into_inner();
    let at = |m: String| problem(span.clone(), format!("failover: {m}"));
    if r.record.trim().is_empty() {
        at("`record` must name the DNS record clients use".into());
    }
    let dns = dns(r.dns).unwrap_or_else(|e| {
        at(e);
        DnsProvider::Local
    });
    let mut endpoints = table::entries(r.endpoints, problem, endpoint);
    if endpoints.len() < 2 {
        at(format!(
            "needs at least two endpoints, has {}",
            endpoints.len()
        ));
    }
    match endpoints.iter().filter(|e| e.primary).count() {
        1 => {}
        n => at(format!(
            "exactly one endpoint must be `primary = true`, {n} are"
        )),
    }
    endpoints.sort_by_key(|e| !e.primary);
    let threshold = bounded(r.threshold, 3, 1..=100, "threshold", &at);
    let interval = bounded(r.probe_interval_secs, 5, 1..=60, "probe_interval_secs", &at);
    // A scheduled invocation probes for at most 14 minutes: Lambda stops at 15.
    let window = bounded(r.probe_window_secs, 55, 1..=840, "probe_window_secs", &at);
    if window < interval {
        at(format!(
            "`probe_window_secs` ({window}) must be at least `probe_interval_secs` ({interval})"
        ));
    }
    let quorum = bounded(r.quorum, 1, 1..=16, "quorum", &at);
    let max = limits::MAX_WINDOW_SECS;
    Some(FailoverConfig {
        record: r.record,
        dns,
        endpoints,
        threshold,
        recovery_threshold: bounded(
            r.recovery_threshold,
            5,
            1..=1_000,
            "recovery_threshold",
            &at,
        ),
        hold_down_secs: bounded(r.hold_down_secs, 300, 0..=max, "hold_down_secs", &at),
        cooldown_secs: bounded(r.cooldown_secs, 600, 0..=max, "cooldown_secs", &at),
        probe_interval_secs: interval,
        probe_window_secs: window,
        probe_timeout_ms: bounded(
            r.probe_timeout_ms,
            2000,
            50..=60_000,
            "probe_timeout_ms",
            &at,
        ),
        failback: r.failback.unwrap_or(Failback::Manual),
        quorum,
        view_max_age_secs: bounded(
            r.view_max_age_secs,
            120,
            1..=limits::DAY,
            "view_max_age_secs",
            &at,
        ),
    })
}

impl FailoverConfig {
    /// The endpoint with this name.
    pub fn endpoint(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.name == name)
    }

    /// The primary endpoint.
    pub fn primary(&self) -> &Endpoint {
        &self.endpoints[0]
    }
}
