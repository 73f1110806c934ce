//! The groups of adapters beyond state, channels and probes, and the [`Wiring`] that picks
//! them. Each group is built by its own function, chosen through a function pointer fixed at
//! compile time: an `if` on a const inside the async builder would leave the other groups'
//! code reachable from its state machine, and linked into every binary.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use twincloud_core::Location;
use twincloud_core::config::{Config, DeployConfig, DnsProvider, RegistryAuth};
use twincloud_core::plan::ComputeRef;
use twincloud_core::ports::{
    AlarmStates, BillingLink, Budgets, Compute, Deployer, ImageRegistries, Metrics,
    RevisionMetrics, Traffic,
};
use twincloud_core::signal::Cloud;
use twincloud_http::HttpRetry;

use super::kinds::{self, Reach};
use super::{Clouds, SideRef, resolve};
use crate::error::RunError;

/// The groups of adapters a process builds beyond state, channels and probes (which every
/// function uses). A function binary builds only its own groups, chosen at compile time
/// ([`super::Services::build_wired`]), so the adapters of the others (ECS, Route 53, Kubernetes,
/// budgets...) are not linked into it: that is what keeps each Lambda zip small.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wiring(u8);

impl Wiring {
    /// State, channels and probes only.
    pub const NONE: Wiring = Wiring(0);
    /// The compute of the failover endpoints (failover, scaling's view of the active side,
    /// the budget guard's caps).
    pub const ENDPOINTS: Wiring = Wiring(1);
    /// The failover record's DNS.
    pub const TRAFFIC: Wiring = Wiring(1 << 1);
    /// The scaling services' compute, load metrics and alarms.
    pub const SCALING: Wiring = Wiring(1 << 2);
    /// The deploy targets' services, registries, alarms and revision metrics.
    pub const DEPLOY: Wiring = Wiring(1 << 3);
    /// Budgets and billing links.
    pub const BUDGETS: Wiring = Wiring(1 << 4);
    /// The deploy targets' services only (what each side serves), without the registries'
    /// logins (whose secrets a reader has no grant to), alarms or revision metrics: the
    /// readiness audit.
    pub const RELEASES: Wiring = Wiring(1 << 5);
    /// Everything (the CLI, which runs any function).
    pub const ALL: Wiring = Wiring((1 << 6) - 1);

    /// Both sets.
    pub const fn and(self, other: Wiring) -> Wiring {
        Wiring(self.0 | other.0)
    }

    /// The set as bits, the const parameter of [`Services::build_wired`].
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether every group of `other` is in this set.
    pub const fn has(self, other: Wiring) -> bool {
        self.0 & other.0 == other.0
    }
}

/// What the groups build, before it becomes [`super::Services`].
#[derive(Default)]
pub(super) struct Parts {
    pub(super) compute: BTreeMap<ComputeRef, Arc<dyn Compute>>,
    pub(super) traffic: Option<Arc<dyn Traffic>>,
    pub(super) metrics: BTreeMap<ComputeRef, Arc<dyn Metrics>>,
    pub(super) alarms: BTreeMap<ComputeRef, Arc<dyn AlarmStates>>,
    pub(super) side_alarms: BTreeMap<SideRef, Arc<dyn AlarmStates>>,
    pub(super) deployers: BTreeMap<SideRef, Arc<dyn Deployer>>,
    pub(super) registries: Option<Arc<dyn ImageRegistries>>,
    pub(super) revision_metrics: BTreeMap<SideRef, Arc<dyn RevisionMetrics>>,
    pub(super) budgets: BTreeMap<Cloud, Arc<dyn Budgets>>,
    pub(super) billing: Option<Arc<dyn BillingLink>>,
}

/// The HTTP client, made on first use (loading TLS roots costs a cold start milliseconds).
/// The shared API client, built when a channel or an adapter first needs it (loading the TLS
/// roots costs a cold start milliseconds).
#[derive(Default)]
pub(super) struct Http(std::sync::OnceLock<Result<reqwest::Client, twincloud_http::TlsSetupError>>);

impl Http {
    /// The client, or why HTTPS cannot be set up here.
    pub(super) fn client(&self) -> Result<reqwest::Client, RunError> {
        self.0
            .get_or_init(twincloud_http::client)
            .clone()
            .map_err(RunError::from)
    }
}

type Building<'a> = Pin<Box<dyn Future<Output = Result<(), RunError>> + Send + 'a>>;

/// What every group is built from.
#[derive(Clone, Copy)]
pub(super) struct Inputs<'a> {
    pub(super) config: &'a Config,
    pub(super) clouds: &'a Clouds,
    pub(super) local_dir: &'a Path,
    pub(super) http: &'a Http,
}

/// Builds one group into the parts.
pub(super) type Group = for<'a> fn(Inputs<'a>, &'a mut Parts) -> Building<'a>;

/// How many groups there are.
pub(super) const COUNT: usize = 6;

/// The builders of every group, in order.
const GROUPS: [(Wiring, Group); COUNT] = [
    (Wiring::ENDPOINTS, endpoints),
    (Wiring::TRAFFIC, traffic),
    (Wiring::SCALING, scaling),
    (Wiring::DEPLOY, deploy),
    (Wiring::BUDGETS, budgets),
    (Wiring::RELEASES, releases),
];

/// Selects groups by wiring bits; evaluated in a `const` block by a function's binary.
pub(super) const fn selected(bits: u8) -> [Group; COUNT] {
    let mut out: [Group; COUNT] = [skip; COUNT];
    let mut i = 0;
    while i < GROUPS.len() {
        if Wiring(bits).has(GROUPS[i].0) {
            out[i] = GROUPS[i].1;
        }
        i += 1;
    }
    out
}

/// A group this binary does not build.
fn skip<'a>(_: Inputs<'a>, _: &'a mut Parts) -> Building<'a> {
    Box::pin(std::future::ready(Ok(())))
}

/// The compute of the failover endpoints, keyed by endpoint name.
fn endpoints<'a>(inputs: Inputs<'a>, parts: &'a mut Parts) -> Building<'a> {
    let Inputs {
        config,
        clouds,
        local_dir,
        ..
    } = inputs;
    Box::pin(async move {
        let Some(f) = &config.failover else {
            return Ok(());
        };
        let reach = Reach { clouds, local_dir };
        for e in &f.endpoints {
            parts.compute.insert(
                ComputeRef::Endpoint(e.name.clone()),
                kinds::compute(&e.compute, reach).await?,
            );
        }
        Ok(())
    })
}

/// The failover record's DNS.
fn traffic<'a>(inputs: Inputs<'a>, parts: &'a mut Parts) -> Building<'a> {
    let Inputs {
        config,
        clouds,
        local_dir,
        http,
        ..
    } = inputs;
    Box::pin(async move {
        let Some(f) = &config.failover else {
            return Ok(());
        };
        parts.traffic = Some(match &f.dns {
            DnsProvider::Local => Arc::new(twincloud_local::LocalTraffic::new(local_dir)),
            DnsProvider::Cloudflare {
                zone_id,
                api_token,
                ttl,
            } => {
                let base = std::env::var("TWINCLOUD_CLOUDFLARE_URL")
                    .unwrap_or_else(|_| "https://api.cloudflare.com/client/v4".into());
                Arc::new(twincloud_http::CloudflareTraffic::new(
                    http.client()?,
                    &base,
                    zone_id,
                    resolve(clouds, api_token).await?,
                    *ttl,
                    HttpRetry::default(),
                ))
            }
            DnsProvider::CloudDns { project, zone, ttl } => Arc::new(
                twincloud_gcp::CloudDnsTraffic::new(clouds.gcp().await?, project, zone, *ttl),
            ),
            DnsProvider::Route53 { zone_id, ttl } => Arc::new(twincloud_aws::Route53Traffic::new(
                clouds.aws().await,
                zone_id,
                i64::from(*ttl),
            )),
        });
        Ok(())
    })
}

/// The scaling services' compute (keyed by [`scaling_compute_key`]), load and alarms.
fn scaling<'a>(inputs: Inputs<'a>, parts: &'a mut Parts) -> Building<'a> {
    let Inputs {
        config,
        clouds,
        local_dir,
        ..
    } = inputs;
    Box::pin(async move {
        let Some(sc) = &config.scaling else {
            return Ok(());
        };
        let reach = Reach { clouds, local_dir };
        for svc in &sc.services {
            let key = ComputeRef::Scaling(svc.name.clone());
            parts
                .compute
                .insert(key.clone(), kinds::compute(&svc.compute, reach).await?);
            parts
                .metrics
                .insert(key.clone(), kinds::metrics(svc, reach).await?);
            if !svc.steps.is_empty()
                && let Some(alarms) = kinds::scaling_alarms(&svc.compute, reach).await
            {
                parts.alarms.insert(key, alarms);
            }
        }
        Ok(())
    })
}

/// The deploy targets' services, registries, alarms and revision metrics.
fn deploy<'a>(inputs: Inputs<'a>, parts: &'a mut Parts) -> Building<'a> {
    let Inputs {
        config,
        clouds,
        local_dir,
        ..
    } = inputs;
    Box::pin(async move {
        let Some(d) = &config.deploy else {
            return Ok(());
        };
        let a = deploy_adapters(d, Reach { clouds, local_dir }).await?;
        parts.side_alarms = a.alarms;
        parts.deployers = a.deployers;
        parts.registries = Some(a.registries);
        parts.revision_metrics = a.revision_metrics;
        Ok(())
    })
}

/// The deploy targets' services only; nothing when the deploy group built them already.
fn releases<'a>(inputs: Inputs<'a>, parts: &'a mut Parts) -> Building<'a> {
    let Inputs {
        config,
        clouds,
        local_dir,
        ..
    } = inputs;
    Box::pin(async move {
        let Some(d) = config
            .deploy
            .as_ref()
            .filter(|_| parts.deployers.is_empty())
        else {
            return Ok(());
        };
        let reach = Reach { clouds, local_dir };
        for t in &d.targets {
            for (i, side) in t.sides.iter().enumerate() {
                let (deployer, _) = kinds::deployer(side, reach).await?;
                parts.deployers.insert(SideRef::new(&t.name, i), deployer);
            }
        }
        Ok(())
    })
}

/// Budgets and billing links.
fn budgets<'a>(inputs: Inputs<'a>, parts: &'a mut Parts) -> Building<'a> {
    let Inputs {
        config,
        clouds,
        local_dir,
        ..
    } = inputs;
    Box::pin(async move {
        (parts.budgets, parts.billing) = budget_adapters(config, clouds, local_dir).await?;
        Ok(())
    })
}

/// Where the budget guard reads budgets and links billing: simulated under `sim/` when the
/// state is a local directory (the local backend), the providers' APIs otherwise.
async fn budget_adapters(
    config: &Config,
    clouds: &Clouds,
    local_dir: &Path,
) -> Result<
    (
        BTreeMap<Cloud, Arc<dyn Budgets>>,
        Option<Arc<dyn BillingLink>>,
    ),
    RunError,
> {
    let mut budgets: BTreeMap<Cloud, Arc<dyn Budgets>> = BTreeMap::new();
    let Some(b) = &config.budget else {
        return Ok((budgets, None));
    };
    if matches!(config.project.state, Location::Local { .. }) {
        let local = Arc::new(twincloud_local::LocalBilling::new(local_dir));
        budgets.insert(Cloud::Aws, local.clone());
        budgets.insert(Cloud::Gcp, local.clone());
        return Ok((budgets, Some(local)));
    }
    if b.guards.iter().any(|g| g.aws.is_some()) {
        budgets.insert(
            Cloud::Aws,
            Arc::new(twincloud_aws::AwsBudgets::new(clouds.aws().await)),
        );
    }
    let detach = b.guards.iter().flat_map(|g| g.steps.iter()).any(|s| {
        matches!(
            s.action,
            twincloud_core::config::BudgetAction::DetachBilling { .. }
        )
    });
    let mut billing: Option<Arc<dyn BillingLink>> = None;
    if b.guards.iter().any(|g| g.gcp.is_some()) || detach {
        let gcp = Arc::new(twincloud_gcp::GcpBilling::new(clouds.gcp().await?));
        budgets.insert(Cloud::Gcp, gcp.clone());
        if detach {
            billing = Some(gcp);
        }
    }
    Ok((budgets, billing))
}

/// What the deploy function's sides are reached through.
struct DeployAdapters {
    deployers: BTreeMap<SideRef, Arc<dyn Deployer>>,
    registries: Arc<dyn ImageRegistries>,
    alarms: BTreeMap<SideRef, Arc<dyn AlarmStates>>,
    revision_metrics: BTreeMap<SideRef, Arc<dyn RevisionMetrics>>,
}

/// The deployers, registries (with their logins) and alarm sources of the deploy targets.
async fn deploy_adapters(cfg: &DeployConfig, reach: Reach<'_>) -> Result<DeployAdapters, RunError> {
    let clouds = reach.clouds;
    let mut deployers = BTreeMap::new();
    let mut alarms = BTreeMap::new();
    let mut revision_metrics = BTreeMap::new();
    let mut registries = twincloud_http::OciRegistries::new()?;
    for t in &cfg.targets {
        for (i, side) in t.sides.iter().enumerate() {
            let key = SideRef::new(&t.name, i);
            let (deployer, metrics) = kinds::deployer(side, reach).await?;
            deployers.insert(key.clone(), deployer);
            if let Some(m) = metrics {
                revision_metrics.insert(key.clone(), m);
            }
            if !side.alarms.is_empty() {
                alarms.insert(key, kinds::deploy_alarms(&side.compute, reach).await);
            }
            let login: Option<Arc<dyn twincloud_core::ports::RegistryLogin>> = match &side
                .registry_auth
            {
                RegistryAuth::Ecr => {
                    Some(Arc::new(twincloud_aws::EcrLogin::new(clouds.aws().await)))
                }
                RegistryAuth::Google => Some(Arc::new(twincloud_gcp::GoogleLogin::new(
                    clouds.gcp().await?,
                ))),
                RegistryAuth::Basic(r) => Some(Arc::new(
                    twincloud_http::StaticLogin::from_pair(&resolve(clouds, r).await?)
                        .map_err(|e| RunError::Config(format!("secret `{r}`: {}", e.message)))?,
                )),
                RegistryAuth::Anonymous => None,
            };
            if let Some(l) = login {
                registries = registries.with_login(side.registry(), l);
            }
        }
    }
    Ok(DeployAdapters {
        deployers,
        registries: Arc::new(registries),
        alarms,
        revision_metrics,
    })
}
