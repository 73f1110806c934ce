//! The adapters one process uses, built once from configuration and environment.

mod channels;
mod groups;
mod kinds;

pub use groups::Wiring;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use twincloud_core::Location;
use twincloud_core::config::Config;
use twincloud_core::plan::ComputeRef;
use twincloud_core::ports::{
    AlarmStates, BillingLink, Budgets, Compute, Deployer, ImageRegistries, Metrics, Notifier,
    Prober, RevisionMetrics, StateStore, Traffic,
};
use twincloud_core::signal::Cloud;

pub use crate::clouds::{Clouds, resolve};
use crate::error::RunError;

/// Everything a function needs to observe and act: configuration, state, channels.
#[derive(Clone)]
pub struct Services {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// Where records live.
    pub state: Arc<dyn StateStore>,
    /// Channels by name.
    pub notifiers: BTreeMap<String, Arc<dyn Notifier>>,
    /// Compute of each failover endpoint and each scaling service.
    pub compute: BTreeMap<ComputeRef, Arc<dyn Compute>>,
    /// The failover record's DNS, when failover is configured.
    pub traffic: Option<Arc<dyn Traffic>>,
    /// Where each scaling service's load is read (keyed [`ComputeRef::Scaling`]).
    pub metrics: BTreeMap<ComputeRef, Arc<dyn Metrics>>,
    /// Where the alarms a scaling service's steps name are confirmed (keyed
    /// [`ComputeRef::Scaling`]; none for Cloud Run: a Cloud Monitoring incident cannot be read
    /// back, so it steps nothing).
    pub alarms: BTreeMap<ComputeRef, Arc<dyn AlarmStates>>,
    /// Health probes.
    pub prober: Arc<dyn Prober>,
    /// The services of each deploy target's sides.
    pub deployers: BTreeMap<SideRef, Arc<dyn Deployer>>,
    /// Where the alarms a deploy side names are confirmed.
    pub side_alarms: BTreeMap<SideRef, Arc<dyn AlarmStates>>,
    /// The image registries of the deploy targets, when any is configured.
    pub registries: Option<Arc<dyn ImageRegistries>>,
    /// Where budgets are read back, by provider.
    pub budgets: BTreeMap<Cloud, Arc<dyn Budgets>>,
    /// GCP projects' billing links (the budget guard's detach step).
    pub billing: Option<Arc<dyn BillingLink>>,
    /// Request metrics of new revisions (Cloud Run sides, GKE sides with a load balancer).
    pub revision_metrics: BTreeMap<SideRef, Arc<dyn RevisionMetrics>>,
    /// This deployment's name as a vantage point (`TWINCLOUD_VANTAGE`, default `local`).
    pub vantage: String,
    /// The local state directory (outbox and audit files live under it on the local backend).
    pub local_dir: PathBuf,
    /// The cloud contexts, for adapters built on demand (the stores of a sync pair).
    pub clouds: Clouds,
    /// Faults injected into effects, and a log of the calls made: set by the fault matrix
    /// and other tests only (`None` in every deployed function).
    pub effect_faults: Option<Arc<crate::effects::EffectFaults>>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("project", &self.config.project.name)
            .field("state", &self.config.project.state.to_string())
            .field("channels", &self.notifiers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Services {
    /// Builds the adapters the configuration names, for any function; resolves every secret
    /// once.
    pub async fn build(config: Config, clouds: &Clouds) -> Result<Services, RunError> {
        Self::build_wired::<{ Wiring::ALL.bits() }>(config, clouds).await
    }

    /// Builds what a binary of `wiring` builds, choosing the groups while running (tests
    /// and the CLI run functions this way, so a group missing from a function's registry entry
    /// fails there, not in production; a function's own binary chooses at compile time with
    /// [`Services::build_wired`]).
    pub async fn build_for(
        wiring: Wiring,
        config: Config,
        clouds: &Clouds,
    ) -> Result<Services, RunError> {
        Self::build_groups(groups::selected(wiring.bits()), config, clouds).await
    }

    /// Builds the adapters of the groups in `WIRING` (the bits of a [`Wiring`]) that the
    /// configuration names; resolves every secret once. The groups are tested in `const`
    /// blocks, so a binary built for one wiring holds no code of the others.
    pub async fn build_wired<const WIRING: u8>(
        config: Config,
        clouds: &Clouds,
    ) -> Result<Services, RunError> {
        Self::build_groups(const { groups::selected(WIRING) }, config, clouds).await
    }

    async fn build_groups(
        selected: [groups::Group; groups::COUNT],
        config: Config,
        clouds: &Clouds,
    ) -> Result<Services, RunError> {
        let local_dir = match &config.project.state {
            Location::Local { path } => path.clone(),
            // Remote state: the outbox (if configured) still writes locally, e.g. /tmp on Lambda.
            _ => std::env::var_os("TWINCLOUD_LOCAL_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| std::env::temp_dir().join("twincloud")),
        };
        let state = crate::stores::state_store(&config.project.state, clouds).await?;
        let http = groups::Http::default();
        let mut notifiers: BTreeMap<String, Arc<dyn Notifier>> = BTreeMap::new();
        for ch in &config.notify.channels {
            let n = channels::notifier(ch, clouds, &local_dir, &http).await?;
            notifiers.insert(ch.name.clone(), n);
        }
        let mut parts = groups::Parts::default();
        for build in selected {
            let inputs = groups::Inputs {
                config: &config,
                clouds,
                local_dir: &local_dir,
                http: &http,
            };
            build(inputs, &mut parts).await?;
        }
        let vantage = std::env::var("TWINCLOUD_VANTAGE")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "local".into());
        Ok(Services {
            config: Arc::new(config),
            state,
            notifiers,
            compute: parts.compute,
            traffic: parts.traffic,
            metrics: parts.metrics,
            alarms: parts.alarms,
            side_alarms: parts.side_alarms,
            prober: Arc::new(twincloud_http::HttpProber::new()),
            deployers: parts.deployers,
            registries: parts.registries,
            revision_metrics: parts.revision_metrics,
            budgets: parts.budgets,
            billing: parts.billing,
            vantage,
            local_dir,
            clouds: clouds.clone(),
            effect_faults: None,
        })
    }
}

/// One side of a deploy target: the target's name and the side's place in its `sides`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SideRef {
    /// The deploy target.
    pub target: String,
    /// The side's index in the target's sides.
    pub side: usize,
}

impl SideRef {
    /// Side `side` of target `target`.
    pub fn new(target: &str, side: usize) -> Self {
        SideRef {
            target: target.to_owned(),
            side,
        }
    }
}

/// Loads the configuration named by `TWINCLOUD_CONFIG` (a path, `s3://bucket/key` or
/// `gs://bucket/object`), or `explicit` when given; without either, the built-in local default.
pub async fn load_config(explicit: Option<&str>, clouds: &Clouds) -> Result<Config, RunError> {
    let from_env = std::env::var("TWINCLOUD_CONFIG")
        .ok()
        .filter(|s| !s.is_empty());
    let Some(origin) = explicit.map(str::to_owned).or(from_env) else {
        return Ok(Config::local_default());
    };
    let text = crate::stores::read_text(&origin, clouds).await?;
    Ok(Config::parse(&origin, &text)?)
}
