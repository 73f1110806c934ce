//! `[scaling]`: one policy per service, on either cloud.
//!
//! ```toml
//! [[scaling.services]]
//! name = "backend-aws"
//! compute = "ecs"                  # ecs | cloudrun | local, with that compute's keys
//! cluster = "aion"
//! service = "aion-backend"
//! endpoint = "AWS Fargate"         # the failover endpoint it is: scaled as active or standby
//! min = 2
//! max = 10
//! targets = { cpu = 70, memory = 80 }
//! cooldown_out_secs = 60
//! cooldown_in_secs = 300
//! stabilization_secs = 300
//! max_step = 4
//! warm_fraction = 0.25             # as standby: this share of the active side's capacity
//! steps = [{ alarm = "aion-cpu-high", add = 2 }]
//! schedules = [{ cron = "0 8 * * MON-FRI", hours = 10, timezone = "Europe/Berlin", min = 4 }]
//! ```

use std::str::FromStr;

use serde::Deserialize;

use super::compute::{COMPUTE_KINDS, ComputeTarget, compute};
use super::table::{self, bounded, limits};
pub use crate::ports::Metric;

/// A validated `[scaling]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalingConfig {
    /// The services, in file order.
    pub services: Vec<ScalingService>,
}

/// "+N on ALARM": an alarm (or incident policy) that adds instances while it is in alarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRule {
    /// CloudWatch alarm name or Cloud Monitoring policy name.
    pub alarm: String,
    /// Instances added on ALARM (back to the target on OK).
    pub add: u32,
}

/// A capacity window: from each time `cron` fires (in `timezone`) for `hours`, at least `min`.
#[derive(Debug, Clone, PartialEq)]
pub struct CapacityWindow {
    /// Five-field cron expression.
    pub cron: String,
    /// Parsed.
    pub schedule: croner::Cron,
    /// How long each window lasts.
    pub hours: u32,
    /// IANA time zone of the cron expression.
    pub timezone: chrono_tz::Tz,
    /// The floor while the window is open.
    pub min: u32,
}

impl CapacityWindow {
    /// Whether the window is open at `now`: the cron fired within the last `hours`.
    pub fn is_open(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        let start = now - chrono::Duration::hours(i64::from(self.hours));
        let local = start.with_timezone(&self.timezone);
        self.schedule
            .find_next_occurrence(&local, false)
            .is_ok_and(|t| t.with_timezone(&chrono::Utc) <= now)
    }
}

/// One scaled service.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalingService {
    /// Unique name.
    pub name: String,
    /// The service and its cloud.
    pub compute: ComputeTarget,
    /// The failover endpoint this service is, if any (active or standby by the failover state).
    pub endpoint: Option<String>,
    /// Never fewer instances.
    pub min: u32,
    /// Never more instances.
    pub max: u32,
    /// Whether the active side may go to zero (only when `min = 0`).
    pub scale_to_zero: bool,
    /// Target values per metric.
    pub targets: Vec<(Metric, f64)>,
    /// Alarms that step the service out.
    pub steps: Vec<StepRule>,
    /// Capacity windows.
    pub schedules: Vec<CapacityWindow>,
    /// No scale-out within this long of the last one.
    pub cooldown_out_secs: u64,
    /// No scale-in within this long of the last change.
    pub cooldown_in_secs: u64,
    /// A scale-in takes the highest recommendation over this window.
    pub stabilization_secs: u64,
    /// The most instances one decision adds or removes.
    pub max_step: u32,
    /// As standby: this share of the active side's capacity.
    pub warm_fraction: f64,
    /// ECS: the ALB target group whose `RequestCountPerTarget` is the requests per instance
    /// (`targetgroup/NAME/ID`).
    pub target_group: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScaling {
    #[serde(default)]
    services: Vec<toml::Spanned<toml::Table>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    name: String,
    #[serde(default)]
    endpoint: Option<String>,
    min: u32,
    max: u32,
    #[serde(default)]
    scale_to_zero: bool,
    #[serde(default)]
    targets: RawTargets,
    #[serde(default)]
    steps: Vec<RawStep>,
    #[serde(default)]
    schedules: Vec<RawWindow>,
    #[serde(default)]
    cooldown_out_secs: Option<u64>,
    #[serde(default)]
    cooldown_in_secs: Option<u64>,
    #[serde(default)]
    stabilization_secs: Option<u64>,
    #[serde(default)]
    max_step: Option<u32>,
    #[serde(default)]
    warm_fraction: Option<f64>,
    #[serde(default)]
    target_group: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTargets {
    #[serde(default)]
    cpu: Option<f64>,
    #[serde(default)]
    memory: Option<f64>,
    #[serde(default)]
    requests_per_instance: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    alarm: String,
    add: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    cron: String,
    hours: u32,
    #[serde(default)]
    timezone: Option<String>,
    min: u32,
}

/// Keys every service takes, whatever its compute.
const SERVICE_KEYS: &[&str] = &[
    "name",
    "compute",
    "endpoint",
    "min",
    "max",
    "scale_to_zero",
    "targets",
    "steps",
    "schedules",
    "cooldown_out_secs",
    "cooldown_in_secs",
    "stabilization_secs",
    "max_step",
    "warm_fraction",
    "target_group",
];

/// Checks `[scaling]`, reporting every problem at its service's line; `endpoints` are the
/// failover endpoints a service may name.
pub(super) fn validate(
    raw: RawScaling,
    endpoints: &[String],
    problem: &dyn Fn(std::ops::Range<usize>, String),
) -> ScalingConfig {
    let services = table::entries(raw.services, problem, |t, earlier, at| {
        service(t, earlier, endpoints, at)
    });
    ScalingConfig { services }
}

fn service(
    table: toml::Table,
    earlier: &[ScalingService],
    endpoints: &[String],
    at: &dyn Fn(String),
) -> Option<ScalingService> {
    let name = table::name(&table);
    let what = format!("scaling service `{name}`");
    let here = |m: String| at(format!("{what}: {m}"));
    let kind = table::kind(&table, "compute", &what, COMPUTE_KINDS)
        .map(str::to_owned)
        .map_err(at)
        .ok();
    let (mut common, own) = table::split(table, SERVICE_KEYS);
    // Read above: the kind picks the keys of `own`.
    common.remove("compute");
    let r: RawService = table::read(common, &what, "a scaling service")
        .map_err(at)
        .ok()?;
    let (compute, _) = compute(&kind?, own, &what).map_err(at).ok()?;
    if r.name.trim().is_empty() {
        here("`name` must not be empty".into());
    }
    if earlier.iter().any(|s| s.name == r.name) {
        here("defined twice".into());
    }
    if let Some(e) = &r.endpoint
        && !endpoints.contains(e)
    {
        here(format!(
            "`endpoint` = `{e}` is not a failover endpoint ({})",
            if endpoints.is_empty() {
                "there is no [failover] section".to_owned()
            } else {
                endpoints.join(", ")
            }
        ));
    }
    let max = bounded(Some(r.max), 1, 1..=limits::MAX_INSTANCES, "max", &here);
    let min = bounded(Some(r.min), 0, 0..=limits::MAX_INSTANCES, "min", &here);
    if min > max {
        here(format!("`min` = {min} is above `max` = {max}"));
    }
    if min == 0 && !r.scale_to_zero {
        here("`min` = 0 needs `scale_to_zero = true` (the active side would go to zero)".into());
    }
    let mut targets = Vec::new();
    for (metric, value, range) in [
        (Metric::Cpu, r.targets.cpu, 1.0..=100.0),
        (Metric::Memory, r.targets.memory, 1.0..=100.0),
        (
            Metric::RequestsPerInstance,
            r.targets.requests_per_instance,
            1.0..=1_000_000.0,
        ),
    ] {
        if let Some(v) = value {
            if range.contains(&v) {
                targets.push((metric, v));
            } else {
                here(format!(
                    "target `{}` = {v} is out of range ({} to {})",
                    metric.name(),
                    range.start(),
                    range.end()
                ));
            }
        }
    }
    let steps = r
        .steps
        .into_iter()
        .filter_map(|s| {
            if s.alarm.trim().is_empty() || s.add == 0 || s.add > limits::MAX_INSTANCES {
                here(format!(
                    "step on `{}`: `alarm` must be named and `add` between 1 and {}",
                    s.alarm,
                    limits::MAX_INSTANCES
                ));
                return None;
            }
            Some(StepRule {
                alarm: s.alarm,
                add: s.add,
            })
        })
        .collect();
    let schedules = r
        .schedules
        .into_iter()
        .filter_map(|w| {
            let schedule = croner::Cron::from_str(&w.cron)
                .map_err(|e| here(format!("schedule `{}`: {e}", w.cron)))
                .ok()?;
            let tz = w.timezone.as_deref().unwrap_or("UTC");
            let timezone = chrono_tz::Tz::from_str(tz)
                .map_err(|_| {
                    here(format!(
                        "schedule `{}`: `timezone` = `{tz}` is not an IANA time zone (e.g. Europe/Berlin)",
                        w.cron
                    ))
                })
                .ok()?;
            if !(1..=24 * 7).contains(&w.hours) {
                here(format!("schedule `{}`: `hours` must be 1 to 168", w.cron));
                return None;
            }
            if w.min > max {
                here(format!(
                    "schedule `{}`: `min` = {} is above the service's `max` = {max}",
                    w.cron, w.min
                ));
            }
            Some(CapacityWindow {
                cron: w.cron,
                schedule,
                hours: w.hours,
                timezone,
                min: w.min.min(max),
            })
        })
        .collect();
    let warm_fraction = r.warm_fraction.unwrap_or(0.25);
    if !(0.0..=1.0).contains(&warm_fraction) {
        here(format!(
            "`warm_fraction` = {warm_fraction} is not within 0–1"
        ));
    }
    if let ComputeTarget::Kubernetes { cluster, .. } = &compute {
        let gke = matches!(cluster, super::KubeCluster::Gke { .. });
        for (m, _) in &targets {
            if *m == Metric::RequestsPerInstance || !gke {
                here(format!(
                    "target `{}` is not measured on this Kubernetes cluster ({}): load targets need GKE's Cloud Monitoring (cpu, memory); elsewhere the Deployment's own HPA scales on load and twincloud keeps its bounds",
                    m.name(),
                    cluster.describe()
                ));
            }
        }
    }
    let is_ecs = matches!(compute, ComputeTarget::Ecs { .. });
    if let Some(tg) = &r.target_group
        && (!is_ecs || !tg.starts_with("targetgroup/"))
    {
        here(format!(
            "`target_group` = `{tg}`: an ECS service's ALB target group, `targetgroup/NAME/ID`"
        ));
    }
    if is_ecs
        && r.target_group.is_none()
        && targets
            .iter()
            .any(|(m, _)| *m == Metric::RequestsPerInstance)
    {
        here("target `requests_per_instance` on ECS needs `target_group` (the ALB target group whose RequestCountPerTarget it reads)".into());
    }
    let window = |v, default, key| bounded(v, default, 0..=limits::MAX_WINDOW_SECS, key, &here);
    Some(ScalingService {
        name: r.name,
        compute,
        endpoint: r.endpoint,
        min,
        max,
        scale_to_zero: r.scale_to_zero,
        targets,
        steps,
        schedules,
        cooldown_out_secs: window(r.cooldown_out_secs, 60, "cooldown_out_secs"),
        cooldown_in_secs: window(r.cooldown_in_secs, 300, "cooldown_in_secs"),
        stabilization_secs: window(r.stabilization_secs, 300, "stabilization_secs"),
        max_step: bounded(r.max_step, 10, 1..=limits::MAX_INSTANCES, "max_step", &here),
        warm_fraction: warm_fraction.clamp(0.0, 1.0),
        target_group: r.target_group,
    })
}
