//! `[failover]`: the two sides, how they are probed, and when traffic moves.

use serde::Deserialize;
use toml::Spanned;

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

/// Where a side's containers run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComputeTarget {
    /// A simulated service of the local backend.
    Local {
        /// Service name.
        service: String,
    },
    /// A Cloud Run service (its minimum instance count).
    CloudRun {
        /// GCP project.
        project: String,
        /// Region.
        region: String,
        /// Service name.
        service: String,
    },
    /// An ECS service (Fargate or EC2).
    Ecs {
        /// Cluster name or ARN.
        cluster: String,
        /// Service name.
        service: String,
        /// Never scale above this (ECS has no maximum of its own).
        max_size: Option<u32>,
    },
}

impl ComputeTarget {
    /// The service name.
    pub fn service(&self) -> &str {
        match self {
            ComputeTarget::Local { service }
            | ComputeTarget::Ecs { service, .. }
            | ComputeTarget::CloudRun { service, .. } => service,
        }
    }
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
    dns: Option<RawDns>,
    endpoints: Vec<Spanned<RawEndpoint>>,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDns {
    provider: String,
    #[serde(default)]
    zone_id: Option<String>,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    zone: Option<String>,
    #[serde(default)]
    api_token: Option<String>,
    #[serde(default)]
    ttl: Option<u32>,
}

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
    compute: String,
    service: String,
    #[serde(default)]
    cluster: Option<String>,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    max_size: Option<u32>,
    #[serde(default)]
    active_size: Option<u32>,
    #[serde(default)]
    standby_size: Option<u32>,
    #[serde(default)]
    alarms: Vec<String>,
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
    let dns = match r.dns.as_ref() {
        None => DnsProvider::Local,
        Some(d) => match d.provider.as_str() {
            "local" => DnsProvider::Local,
            "route53" => match d.zone_id.as_deref().filter(|z| !z.is_empty()) {
                Some(z) => DnsProvider::Route53 {
                    zone_id: z.to_owned(),
                    ttl: d.ttl.unwrap_or(60),
                },
                None => {
                    at("dns provider `route53` needs `zone_id` (the hosted zone id)".into());
                    DnsProvider::Local
                }
            },
            "cloudflare" => match (
                d.zone_id.as_deref().filter(|z| !z.is_empty()),
                d.api_token
                    .as_deref()
                    .map(str::parse::<crate::secret::SecretRef>),
            ) {
                (Some(zone_id), Some(Ok(api_token))) => DnsProvider::Cloudflare {
                    zone_id: zone_id.to_owned(),
                    api_token,
                    ttl: d.ttl.unwrap_or(60),
                },
                (_, Some(Err(e))) => {
                    at(format!("dns `api_token`: {e}"));
                    DnsProvider::Local
                }
                _ => {
                    at("dns provider `cloudflare` needs `zone_id` and `api_token` (a secret reference)".into());
                    DnsProvider::Local
                }
            },
            "clouddns" => match (
                d.project.as_deref().filter(|p| !p.is_empty()),
                d.zone.as_deref().filter(|z| !z.is_empty()),
            ) {
                (Some(project), Some(zone)) => DnsProvider::CloudDns {
                    project: project.to_owned(),
                    zone: zone.to_owned(),
                    ttl: d.ttl.unwrap_or(60),
                },
                _ => {
                    at("dns provider `clouddns` needs `project` and `zone` (the managed zone name)".into());
                    DnsProvider::Local
                }
            },
            other => {
                at(format!(
                    "dns provider `{other}` is not supported in this version (local, route53, clouddns, cloudflare)"
                ));
                DnsProvider::Local
            }
        },
    };
    let mut endpoints = Vec::new();
    for e in r.endpoints {
        let espan = e.span();
        let e = e.into_inner();
        let here = |m: String| {
            problem(
                espan.clone(),
                format!("failover endpoint `{}`: {m}", e.name),
            )
        };
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
        let compute = match e.compute.as_str() {
            "local" => ComputeTarget::Local {
                service: e.service.clone(),
            },
            "ecs" => match e.cluster.as_deref().filter(|c| !c.is_empty()) {
                Some(cluster) => ComputeTarget::Ecs {
                    cluster: cluster.to_owned(),
                    service: e.service.clone(),
                    max_size: e.max_size,
                },
                None => {
                    here("compute `ecs` needs `cluster`".into());
                    ComputeTarget::Local {
                        service: e.service.clone(),
                    }
                }
            },
            "cloudrun" => match (
                e.project.as_deref().filter(|p| !p.is_empty()),
                e.region.as_deref().filter(|r| !r.is_empty()),
            ) {
                (Some(project), Some(region)) => ComputeTarget::CloudRun {
                    project: project.to_owned(),
                    region: region.to_owned(),
                    service: e.service.clone(),
                },
                _ => {
                    here("compute `cloudrun` needs `project` and `region`".into());
                    ComputeTarget::Local {
                        service: e.service.clone(),
                    }
                }
            },
            other => {
                here(format!(
                    "compute `{other}` is not supported in this version (local, ecs, cloudrun)"
                ));
                ComputeTarget::Local {
                    service: e.service.clone(),
                }
            }
        };
        if let Some(max) = e.max_size.filter(|m| *m < e.active_size.unwrap_or(1)) {
            here(format!("`max_size` ({max}) is below `active_size`"));
        }
        let (active_size, standby_size) = (e.active_size.unwrap_or(1), e.standby_size.unwrap_or(0));
        if active_size == 0 {
            here(
                "`active_size` must be at least 1: an active side with no instance serves nothing"
                    .into(),
            );
        }
        if standby_size > active_size {
            here(format!(
                "`standby_size` ({standby_size}) is above `active_size` ({active_size})"
            ));
        }
        if endpoints.iter().any(|o: &Endpoint| o.name == e.name) {
            here("the name is used by another endpoint".into());
        }
        endpoints.push(Endpoint {
            name: e.name,
            cloud: e.cloud,
            primary: e.primary,
            url: e.url.trim_end_matches('/').to_owned(),
            health,
            expect_status: e.expect_status.unwrap_or(200),
            body_contains: e.body_contains,
            dns_target: e.dns_target,
            compute,
            active_size,
            standby_size,
            alarms: e.alarms,
        });
    }
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
    let threshold = r.threshold.unwrap_or(3);
    let interval = r.probe_interval_secs.unwrap_or(5);
    let window = r.probe_window_secs.unwrap_or(55);
    let quorum = r.quorum.unwrap_or(1);
    if threshold == 0 {
        at("`threshold` must be at least 1".into());
    }
    if interval == 0 || window < interval {
        at(format!(
            "`probe_window_secs` ({window}) must be at least `probe_interval_secs` ({interval}), which must be at least 1"
        ));
    }
    if quorum == 0 {
        at("`quorum` must be at least 1".into());
    }
    Some(FailoverConfig {
        record: r.record,
        dns,
        endpoints,
        threshold,
        recovery_threshold: r.recovery_threshold.unwrap_or(5).max(1),
        hold_down_secs: r.hold_down_secs.unwrap_or(300),
        cooldown_secs: r.cooldown_secs.unwrap_or(600),
        probe_interval_secs: interval,
        probe_window_secs: window,
        probe_timeout_ms: r.probe_timeout_ms.unwrap_or(2000),
        failback: r.failback.unwrap_or(Failback::Manual),
        quorum,
        view_max_age_secs: r.view_max_age_secs.unwrap_or(120),
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
