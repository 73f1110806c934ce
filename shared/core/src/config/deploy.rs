//! `[deploy]`: which pushed images roll out where, and how.
//!
//! ```toml
//! [[deploy.targets]]
//! name = "aion-backend"
//! tags = ["v*", "main-*"]          # only these tags deploy; every other push is noted
//! order = "standby-first"          # standby-first | primary-first | listed
//! bake_secs = 300                  # watched this long after the last step before "done"
//! max_error_rate = 0.05            # Cloud Run, GKE with lb_backend: 5xx share of the new version
//! max_p95_ms = 2000                # Cloud Run: p95 latency of the new revision
//! all_or_nothing = true            # a rollback on one cloud rolls back the other
//!
//! [[deploy.targets.sides]]
//! image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/aion-backend"
//! endpoint = "AWS Fargate"         # the failover endpoint it serves (for standby-first)
//! compute = "ecs"                  # ecs | cloudrun | local, with that compute's keys
//! cluster = "aion"
//! service = "aion-backend"
//! container = "app"
//! health = ["https://aws.aion.example/health"]
//! alarms = ["aion-backend-5xx"]
//!
//! [[deploy.targets.sides]]
//! image = "us-central1-docker.pkg.dev/aion-prod/images/aion-backend"
//! endpoint = "GCP Cloud Run"
//! compute = "cloudrun"
//! project = "aion-prod"
//! region = "us-central1"
//! service = "aion-backend"
//! container = "app"
//! health = ["/health"]             # on Cloud Run: paths on the new revision's tagged URL
//! steps = [20, 40, 60, 80, 100]    # traffic to the new revision, one step per pause
//! step_pause_secs = 120
//! ```

use serde::Deserialize;

use super::KubeCluster;
use super::compute::{COMPUTE_KINDS, ComputeTarget, compute};
use super::table::{self, bounded, limits};

/// A validated `[deploy]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployConfig {
    /// The targets, in file order.
    pub targets: Vec<DeployTarget>,
}

/// In which order the sides of a target roll out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SideOrder {
    /// The side not serving traffic first, as a canary; then the active side.
    StandbyFirst,
    /// The active side first.
    PrimaryFirst,
    /// In the order the sides are listed.
    Listed,
}

/// How the registry of a side is authenticated.
#[derive(Debug, Clone, PartialEq)]
pub enum RegistryAuth {
    /// ECR: a token from `GetAuthorizationToken` (basic auth `AWS:<token>`).
    Ecr,
    /// Artifact Registry: a Google access token (basic auth `oauth2accesstoken:<token>`).
    Google,
    /// A user and password (`user:password`) held as a secret.
    Basic(crate::secret::SecretRef),
    /// No credentials.
    Anonymous,
}

/// One cloud's service of a target.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploySide {
    /// The image repository on this side: `HOST/PATH` (no tag, no digest).
    pub image: String,
    /// How its registry is authenticated.
    pub registry_auth: RegistryAuth,
    /// The failover endpoint this side is, if any.
    pub endpoint: Option<String>,
    /// The service.
    pub compute: ComputeTarget,
    /// The container whose image changes (the only one when unset).
    pub container: Option<String>,
    /// Health checks: URLs, or on Cloud Run paths on the new revision's tagged URL.
    pub health: Vec<String>,
    /// Status a healthy answer has.
    pub expect_status: u16,
    /// Alarms (CloudWatch on ECS) that must not be in ALARM during the rollout.
    pub alarms: Vec<String>,
    /// Traffic steps in percent, ending at 100 (Cloud Run); empty where traffic cannot be split.
    pub steps: Vec<u8>,
    /// Pause between two traffic steps.
    pub step_pause_secs: u64,
    /// GKE: the load balancer's backend service in front of the Deployment, whose 5xx share and
    /// p95 latency (Cloud Monitoring) the rollout must keep under the target's limits.
    pub lb_backend: Option<String>,
}

impl DeploySide {
    /// The registry host (`HOST[:PORT]`).
    pub fn registry(&self) -> &str {
        self.image.split_once('/').map_or("", |(h, _)| h)
    }

    /// The repository path within the registry.
    pub fn repository(&self) -> &str {
        self.image.split_once('/').map_or("", |(_, p)| p)
    }

    /// A short name for messages: `ecs aion-backend`.
    pub fn label(&self) -> String {
        self.compute.label()
    }
}

/// One deploy target: a set of services that run the same image.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployTarget {
    /// Unique name (`twincloud rollback NAME`).
    pub name: String,
    /// Tag patterns that deploy (`*` matches any run of characters).
    pub tags: Vec<String>,
    /// Order across sides.
    pub order: SideOrder,
    /// Time watched after the last step.
    pub bake_secs: u64,
    /// Highest share of 5xx answers of the new revision (Cloud Run; GKE with `lb_backend`).
    pub max_error_rate: f64,
    /// Highest p95 latency of the new revision in milliseconds (Cloud Run; GKE with `lb_backend`).
    pub max_p95_ms: f64,
    /// A failure on one side rolls back the sides already done.
    pub all_or_nothing: bool,
    /// Longest a side's rollout may take before it counts as failed.
    pub rollout_timeout_secs: u64,
    /// The sides.
    pub sides: Vec<DeploySide>,
}

impl DeployTarget {
    /// Whether `tag` is one that deploys.
    pub fn deploys_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|p| glob(p, tag))
    }
}

/// `*` matches any run of characters, everything else itself.
pub fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for p in middle {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDeploy {
    #[serde(default)]
    targets: Vec<toml::Spanned<toml::Table>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    name: String,
    tags: Vec<String>,
    #[serde(default)]
    order: Option<SideOrder>,
    #[serde(default)]
    bake_secs: Option<u64>,
    #[serde(default)]
    max_error_rate: Option<f64>,
    #[serde(default)]
    max_p95_ms: Option<f64>,
    #[serde(default)]
    all_or_nothing: Option<bool>,
    #[serde(default)]
    rollout_timeout_secs: Option<u64>,
    #[serde(default)]
    sides: Vec<toml::Table>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSide {
    image: String,
    #[serde(default)]
    registry_auth: Option<String>,
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(default)]
    container: Option<String>,
    #[serde(default)]
    health: Vec<String>,
    #[serde(default)]
    expect_status: Option<u16>,
    #[serde(default)]
    alarms: Vec<String>,
    #[serde(default)]
    steps: Option<Vec<u8>>,
    #[serde(default)]
    step_pause_secs: Option<u64>,
    #[serde(default)]
    lb_backend: Option<String>,
}

const SIDE_KEYS: &[&str] = &[
    "image",
    "registry_auth",
    "endpoint",
    "compute",
    "container",
    "health",
    "expect_status",
    "alarms",
    "steps",
    "step_pause_secs",
    "lb_backend",
];

/// Checks `[deploy]`; `endpoints` are the failover endpoints a side may name.
pub(super) fn validate(
    raw: RawDeploy,
    endpoints: &[String],
    problem: &dyn Fn(std::ops::Range<usize>, String),
) -> DeployConfig {
    let targets = table::entries(raw.targets, problem, |t, earlier, at| {
        target(t, earlier, endpoints, at)
    });
    DeployConfig { targets }
}

fn target(
    table: toml::Table,
    earlier: &[DeployTarget],
    endpoints: &[String],
    at: &dyn Fn(String),
) -> Option<DeployTarget> {
    let what = format!("deploy target `{}`", table::name(&table));
    let here = |m: String| at(format!("{what}: {m}"));
    let r: RawTarget = table::read(table, &what, "a deploy target")
        .map_err(at)
        .ok()?;
    if r.name.trim().is_empty() || r.name.contains('/') {
        here("`name` must be set, without `/`".into());
    }
    if earlier.iter().any(|t| t.name == r.name) {
        here("defined twice".into());
    }
    if r.tags.is_empty() || r.tags.iter().any(|t| t.trim().is_empty()) {
        here("`tags` must list the tag patterns that deploy (e.g. [\"v*\"])".into());
    }
    if r.tags.iter().any(|t| t == "*") {
        here("`tags` = [\"*\"] would deploy every push (`latest`, branches, experiments): name the patterns".into());
    }
    let sides: Vec<DeploySide> = r
        .sides
        .into_iter()
        .enumerate()
        .filter_map(|(i, t)| side(t, &format!("{what} side {}", i + 1), endpoints, at))
        .collect();
    if sides.is_empty() {
        here("needs at least one `[[deploy.targets.sides]]`".into());
    }
    for (i, s) in sides.iter().enumerate() {
        if sides[..i].iter().any(|o| o.compute == s.compute) {
            here(format!("{} is listed twice", s.label()));
        }
    }
    let order = r.order.unwrap_or(SideOrder::StandbyFirst);
    if order != SideOrder::Listed && sides.len() > 1 && sides.iter().any(|s| s.endpoint.is_none()) {
        here("`order` standby-first and primary-first need every side's `endpoint` (or order = \"listed\")".into());
    }
    let rate = r.max_error_rate.unwrap_or(0.05);
    if !(0.0..=1.0).contains(&rate) {
        here(format!("`max_error_rate` = {rate} is not within 0–1"));
    }
    let p95 = r.max_p95_ms.unwrap_or(2000.0);
    if !(1.0..=600_000.0).contains(&p95) {
        here(format!(
            "`max_p95_ms` = {p95} is out of range (1 to 600000)"
        ));
    }
    Some(DeployTarget {
        name: r.name,
        tags: r.tags,
        order,
        bake_secs: bounded(
            r.bake_secs,
            300,
            0..=limits::MAX_WINDOW_SECS,
            "bake_secs",
            &here,
        ),
        max_error_rate: rate.clamp(0.0, 1.0),
        max_p95_ms: p95,
        all_or_nothing: r.all_or_nothing.unwrap_or(true),
        rollout_timeout_secs: bounded(
            r.rollout_timeout_secs,
            1800,
            60..=limits::DAY,
            "rollout_timeout_secs",
            &here,
        ),
        sides,
    })
}

fn side(
    table: toml::Table,
    what: &str,
    endpoints: &[String],
    at: &dyn Fn(String),
) -> Option<DeploySide> {
    let here = |m: String| at(format!("{what}: {m}"));
    let kind = table::kind(&table, "compute", what, COMPUTE_KINDS)
        .map(str::to_owned)
        .map_err(at)
        .ok();
    let (mut common, own) = table::split(table, SIDE_KEYS);
    common.remove("compute");
    let r: RawSide = table::read(common, what, "a deploy side")
        .map_err(at)
        .ok()?;
    let (compute, _) = compute(&kind?, own, what).map_err(at).ok()?;
    let image = r.image.trim().trim_end_matches('/').to_owned();
    let valid_image = image.split_once('/').is_some_and(|(host, path)| {
        !host.is_empty()
            && !path.is_empty()
            && !image.contains('@')
            && !path.contains(':')
            && path
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/".contains(c))
    });
    if !valid_image {
        here(format!(
            "`image` = `{image}`: a repository `HOST/PATH` in lower case, without tag or digest"
        ));
    }
    let registry_auth = match r.registry_auth.as_deref() {
        None if image.contains(".dkr.ecr.") => RegistryAuth::Ecr,
        None if image.contains("-docker.pkg.dev/") || image.starts_with("gcr.io/") => {
            RegistryAuth::Google
        }
        None | Some("none") => RegistryAuth::Anonymous,
        Some("ecr") => RegistryAuth::Ecr,
        Some("google") => RegistryAuth::Google,
        Some(other) => match other.strip_prefix("basic:").map(str::parse) {
            Some(Ok(secret)) => RegistryAuth::Basic(secret),
            _ => {
                here(format!(
                    "`registry_auth` = `{other}`: one of ecr, google, none, basic:SECRET-REF"
                ));
                RegistryAuth::Anonymous
            }
        },
    };
    if let Some(e) = &r.endpoint
        && !endpoints.contains(e)
    {
        here(format!("`endpoint` = `{e}` is not a failover endpoint"));
    }
    let cloud_run = matches!(compute, ComputeTarget::CloudRun { .. });
    let steps = match r.steps {
        Some(s) if !cloud_run && !matches!(compute, ComputeTarget::Local { .. }) => {
            here(format!(
                "`steps` = {s:?}: traffic steps need a platform that splits traffic (cloudrun)"
            ));
            vec![]
        }
        Some(s) => s,
        None if cloud_run => vec![20, 40, 60, 80, 100],
        // The simulation splits traffic like Cloud Run; unless told, it moves all at once.
        None if matches!(compute, ComputeTarget::Local { .. }) => vec![100],
        None => vec![],
    };
    if !steps.is_empty()
        && (steps.last() != Some(&100) || steps.windows(2).any(|w| w[0] >= w[1]) || steps[0] == 0)
    {
        here(format!(
            "`steps` = {steps:?}: rising percentages above 0, ending at 100"
        ));
    }
    for h in &r.health {
        let url = h.starts_with("http://") || h.starts_with("https://");
        if !(url || (cloud_run && h.starts_with('/'))) {
            here(format!(
                "`health` entry `{h}`: a URL{}",
                if cloud_run {
                    ", or a path on the new revision's tagged URL"
                } else {
                    ""
                }
            ));
        }
    }
    let gke = matches!(
        compute,
        ComputeTarget::Kubernetes {
            cluster: KubeCluster::Gke { .. },
            ..
        }
    );
    if let Some(b) = &r.lb_backend {
        if !gke {
            here("`lb_backend` needs a GKE cluster (compute = \"kubernetes\" with `project`, `location`, `cluster`)".into());
        }
        let valid = b.len() <= 63
            && b.starts_with(|c: char| c.is_ascii_lowercase())
            && !b.ends_with('-')
            && b.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid {
            here(format!(
                "`lb_backend` = `{b}` is not a backend service name (lower case letters, digits and `-`, at most 63)"
            ));
        }
    }
    if r.health.is_empty() && r.alarms.is_empty() && r.lb_backend.is_none() && !cloud_run {
        here("give `health` URLs or `alarms`: a rollout nothing watches cannot be verified".into());
    }
    Some(DeploySide {
        image,
        registry_auth,
        endpoint: r.endpoint,
        compute,
        container: r.container,
        health: r.health,
        expect_status: r.expect_status.unwrap_or(200),
        alarms: r.alarms,
        steps,
        step_pause_secs: bounded(
            r.step_pause_secs,
            120,
            0..=limits::DAY,
            "step_pause_secs",
            &here,
        ),
        lb_backend: r.lb_backend,
    })
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn tag_patterns() {
        assert!(glob("v*", "v1.2.3"));
        assert!(!glob("v*", "latest"));
        assert!(glob("main-*", "main-abc123"));
        assert!(!glob("main-*", "main"));
        assert!(glob("release", "release"));
        assert!(!glob("release", "release-1"));
        assert!(glob("v*-rc*", "v1-rc2"));
        assert!(!glob("v*-rc*", "v1"));
        assert!(glob("*-prod", "x-prod"));
        assert!(!glob("a*a", "a"));
    }
}
