//! The adapters one process uses, built once from configuration and environment.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::OnceCell;
use twincloud_aws::AwsContext;
use twincloud_core::config::{ChannelTarget, Config};
use twincloud_core::config::{ComputeTarget, DnsProvider, KubeCluster};
use twincloud_core::config::{DeployConfig, RegistryAuth};
use twincloud_core::ports::{
    AlarmStates, BillingLink, Budgets, Compute, Deployer, ImageRegistries, Metrics, Notifier,
    Prober, RevisionMetrics, StateStore, Traffic,
};
use twincloud_core::{Location, Secret, SecretRef};
use twincloud_gcp::GcpContext;
use twincloud_http::HttpRetry;

use crate::error::RunError;

/// Everything a function needs to observe and act: configuration, state, channels.
pub struct Services {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// Where records live.
    pub state: Arc<dyn StateStore>,
    /// Channels by name.
    pub notifiers: BTreeMap<String, Arc<dyn Notifier>>,
    /// Compute of each failover endpoint, by endpoint name.
    pub compute: BTreeMap<String, Arc<dyn Compute>>,
    /// The failover record's DNS, when failover is configured.
    pub traffic: Option<Arc<dyn Traffic>>,
    /// Where each scaling service's load is read, by scaling service name.
    pub metrics: BTreeMap<String, Arc<dyn Metrics>>,
    /// Where the alarms a scaling service's steps name are confirmed, by scaling service name
    /// (none for Cloud Run: a Cloud Monitoring incident cannot be read back, so it steps nothing).
    pub alarms: BTreeMap<String, Arc<dyn AlarmStates>>,
    /// Health probes.
    pub prober: Arc<dyn Prober>,
    /// The services of each deploy target's sides, by [`deploy_side_key`].
    pub deployers: BTreeMap<String, Arc<dyn Deployer>>,
    /// The image registries of the deploy targets, when any is configured.
    pub registries: Option<Arc<dyn ImageRegistries>>,
    /// Where budgets are read back, by provider (`aws`, `gcp`).
    pub budgets: BTreeMap<&'static str, Arc<dyn Budgets>>,
    /// GCP projects' billing links (the budget guard's detach step).
    pub billing: Option<Arc<dyn BillingLink>>,
    /// Request metrics of new revisions (Cloud Run sides), by [`deploy_side_key`].
    pub revision_metrics: BTreeMap<String, Arc<dyn RevisionMetrics>>,
    /// This deployment's name as a vantage point (`TWINCLOUD_VANTAGE`, default `local`).
    pub vantage: String,
    /// The local state directory (outbox and audit files live under it on the local backend).
    pub local_dir: PathBuf,
    /// The cloud contexts, for adapters built on demand (the stores of a sync pair).
    pub clouds: Clouds,
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

/// Lazily built cloud contexts: a local run never loads AWS or GCP credentials.
#[derive(Default, Clone)]
pub struct Clouds {
    aws: Arc<OnceCell<AwsContext>>,
    gcp: Arc<OnceCell<GcpContext>>,
}

impl Clouds {
    /// Clouds with a ready AWS context (an emulator's, or one the embedding program built).
    pub fn with_aws(aws: AwsContext) -> Self {
        Clouds {
            aws: Arc::new(OnceCell::from(aws)),
            gcp: Arc::default(),
        }
    }

    /// These clouds with a ready GCP context (an emulator's).
    pub fn and_gcp(self, gcp: GcpContext) -> Self {
        Clouds {
            aws: self.aws,
            gcp: Arc::new(OnceCell::from(gcp)),
        }
    }

    /// The AWS context, loaded on first use.
    pub async fn aws(&self) -> &AwsContext {
        self.aws.get_or_init(AwsContext::load).await
    }

    /// The GCP context, read from the environment on first use.
    pub async fn gcp(&self) -> &GcpContext {
        self.gcp
            .get_or_init(|| async { GcpContext::from_env() })
            .await
    }
}

/// Resolves a secret reference. Errors name the reference, never a value.
pub async fn resolve(clouds: &Clouds, r: &SecretRef) -> Result<Secret, RunError> {
    match r {
        SecretRef::Env(name) => std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty())
            .map(Secret::new)
            .ok_or_else(|| {
                RunError::Config(format!(
                    "secret `{r}`: environment variable {name} is not set"
                ))
            }),
        SecretRef::AwsSecretsManager { id, key } => {
            twincloud_aws::resolve_secret(clouds.aws().await, id, key.as_deref())
                .await
                .map_err(|e| RunError::Config(format!("secret `{r}`: {}", e.message)))
        }
        SecretRef::GcpSecretManager { name, key } => {
            twincloud_gcp::resolve_secret(clouds.gcp().await, name, key.as_deref())
                .await
                .map_err(|e| RunError::Config(format!("secret `{r}`: {}", e.message)))
        }
    }
}

impl Services {
    /// Builds the adapters the configuration names; resolves every secret once.
    pub async fn build(config: Config, clouds: &Clouds) -> Result<Services, RunError> {
        let local_dir = match &config.project.state {
            Location::Local { path } => path.clone(),
            // Remote state: the outbox (if configured) still writes locally, e.g. /tmp on Lambda.
            _ => std::env::var_os("TWINCLOUD_LOCAL_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| std::env::temp_dir().join("twincloud")),
        };
        let state = crate::stores::state_store(&config.project.state, clouds).await;
        // Built only when a channel needs it: loading TLS roots costs a cold start milliseconds.
        let http = std::sync::LazyLock::new(twincloud_http::client);
        let mut notifiers: BTreeMap<String, Arc<dyn Notifier>> = BTreeMap::new();
        for ch in &config.notify.channels {
            let n: Arc<dyn Notifier> =
                match &ch.target {
                    ChannelTarget::Slack { webhook_url } => {
                        Arc::new(twincloud_http::SlackNotifier::new(
                            &ch.name,
                            resolve(clouds, webhook_url).await?,
                            (*http).clone(),
                            HttpRetry::default(),
                        ))
                    }
                    ChannelTarget::Webhook { url, authorization } => {
                        let auth = match authorization {
                            Some(r) => Some(resolve(clouds, r).await?),
                            None => None,
                        };
                        Arc::new(twincloud_http::WebhookNotifier::new(
                            &ch.name,
                            url,
                            auth,
                            (*http).clone(),
                            HttpRetry::default(),
                        ))
                    }
                    ChannelTarget::Ses { from, to } => Arc::new(twincloud_aws::SesNotifier::new(
                        clouds.aws().await,
                        &ch.name,
                        from,
                        to,
                    )),
                    ChannelTarget::Sns { topic_arn } => Arc::new(twincloud_aws::SnsNotifier::new(
                        clouds.aws().await,
                        &ch.name,
                        topic_arn,
                    )),
                    ChannelTarget::PubSub { topic } => Arc::new(
                        twincloud_gcp::PubSubNotifier::new(clouds.gcp().await, &ch.name, topic),
                    ),
                    ChannelTarget::Outbox => {
                        Arc::new(twincloud_local::OutboxNotifier::new(&local_dir, &ch.name))
                    }
                };
            notifiers.insert(ch.name.clone(), n);
        }
        let mut compute: BTreeMap<String, Arc<dyn Compute>> = BTreeMap::new();
        let mut traffic: Option<Arc<dyn Traffic>> = None;
        if let Some(f) = &config.failover {
            for e in &f.endpoints {
                compute.insert(
                    e.name.clone(),
                    compute_for(&e.compute, clouds, &local_dir).await,
                );
            }
            traffic = Some(match &f.dns {
                DnsProvider::Local => Arc::new(twincloud_local::LocalTraffic::new(&local_dir)),
                DnsProvider::Cloudflare {
                    zone_id,
                    api_token,
                    ttl,
                } => {
                    let base = std::env::var("TWINCLOUD_CLOUDFLARE_URL")
                        .unwrap_or_else(|_| "https://api.cloudflare.com/client/v4".into());
                    Arc::new(twincloud_http::CloudflareTraffic::new(
                        (*http).clone(),
                        &base,
                        zone_id,
                        resolve(clouds, api_token).await?,
                        *ttl,
                        HttpRetry::default(),
                    ))
                }
                DnsProvider::CloudDns { project, zone, ttl } => Arc::new(
                    twincloud_gcp::CloudDnsTraffic::new(clouds.gcp().await, project, zone, *ttl),
                ),
                DnsProvider::Route53 { zone_id, ttl } => {
                    Arc::new(twincloud_aws::Route53Traffic::new(
                        clouds.aws().await,
                        zone_id,
                        i64::from(*ttl),
                    ))
                }
            });
        }
        let mut metrics: BTreeMap<String, Arc<dyn Metrics>> = BTreeMap::new();
        let mut alarms: BTreeMap<String, Arc<dyn AlarmStates>> = BTreeMap::new();
        if let Some(sc) = &config.scaling {
            for svc in &sc.services {
                compute.insert(
                    scaling_compute_key(&svc.name),
                    compute_for(&svc.compute, clouds, &local_dir).await,
                );
                let m: Arc<dyn Metrics> = match &svc.compute {
                    ComputeTarget::Local { .. } => {
                        Arc::new(twincloud_local::LocalMetrics::new(&local_dir))
                    }
                    ComputeTarget::Ecs { cluster, .. } => Arc::new(
                        twincloud_aws::CloudWatchEcsMetrics::new(clouds.aws().await, cluster)
                            .with_target_group(svc.target_group.as_deref()),
                    ),
                    ComputeTarget::CloudRun {
                        project, region, ..
                    } => Arc::new(twincloud_gcp::CloudMonitoringRunMetrics::new(
                        clouds.gcp().await,
                        project,
                        region,
                    )),
                    ComputeTarget::Kubernetes {
                        cluster:
                            KubeCluster::Gke {
                                project,
                                location,
                                cluster,
                            },
                        namespace,
                        ..
                    } => Arc::new(twincloud_gcp::CloudMonitoringRunMetrics::gke(
                        clouds.gcp().await,
                        project,
                        location,
                        cluster,
                        namespace,
                    )),
                    // Another cluster's load is read by its own HPA; twincloud's policy acts
                    // on alarms and windows there (the configuration refuses load targets).
                    ComputeTarget::Kubernetes { .. } => Arc::new(NoLoadReadings),
                };
                metrics.insert(svc.name.clone(), m);
                if !svc.steps.is_empty() {
                    match &svc.compute {
                        ComputeTarget::Local { .. } => {
                            alarms.insert(
                                svc.name.clone(),
                                Arc::new(twincloud_local::LocalAlarms::new(&local_dir)),
                            );
                        }
                        ComputeTarget::Ecs { .. } => {
                            alarms.insert(
                                svc.name.clone(),
                                Arc::new(twincloud_aws::CloudWatchAlarms::new(clouds.aws().await)),
                            );
                        }
                        ComputeTarget::CloudRun { .. } | ComputeTarget::Kubernetes { .. } => {}
                    }
                }
            }
        }
        let (deployers, registries, revision_metrics) = match &config.deploy {
            Some(d) => {
                let a = deploy_adapters(d, clouds, &local_dir).await?;
                alarms.extend(a.alarms);
                (a.deployers, Some(a.registries), a.revision_metrics)
            }
            None => (BTreeMap::new(), None, BTreeMap::new()),
        };
        let (budgets, billing) = budget_adapters(&config, clouds, &local_dir).await;
        let vantage = std::env::var("TWINCLOUD_VANTAGE")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "local".into());
        Ok(Services {
            config: Arc::new(config),
            state,
            notifiers,
            compute,
            traffic,
            metrics,
            alarms,
            prober: Arc::new(twincloud_http::HttpProber::new()),
            deployers,
            registries,
            revision_metrics,
            budgets,
            billing,
            vantage,
            local_dir,
            clouds: clouds.clone(),
        })
    }
}

/// The key of a scaling service's compute in [`Services::compute`] (failover endpoints are
/// keyed by their own names).
pub fn scaling_compute_key(service: &str) -> String {
    format!("scaling/{service}")
}

/// Where the budget guard reads budgets and links billing: simulated under `sim/` when the
/// state is a local directory (the local backend), the providers' APIs otherwise.
async fn budget_adapters(
    config: &Config,
    clouds: &Clouds,
    local_dir: &std::path::Path,
) -> (
    BTreeMap<&'static str, Arc<dyn Budgets>>,
    Option<Arc<dyn BillingLink>>,
) {
    let mut budgets: BTreeMap<&'static str, Arc<dyn Budgets>> = BTreeMap::new();
    let Some(b) = &config.budget else {
        return (budgets, None);
    };
    if matches!(config.project.state, Location::Local { .. }) {
        let local = Arc::new(twincloud_local::LocalBilling::new(local_dir));
        budgets.insert("aws", local.clone());
        budgets.insert("gcp", local.clone());
        return (budgets, Some(local));
    }
    if b.guards.iter().any(|g| g.aws.is_some()) {
        budgets.insert(
            "aws",
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
        let gcp = Arc::new(twincloud_gcp::GcpBilling::new(clouds.gcp().await));
        budgets.insert("gcp", gcp.clone());
        if detach {
            billing = Some(gcp);
        }
    }
    (budgets, billing)
}

/// The key of a deploy target's side in [`Services::deployers`] and [`Services::alarms`].
pub fn deploy_side_key(target: &str, side: usize) -> String {
    format!("deploy/{target}/{side}")
}

/// What the deploy function's sides are reached through.
struct DeployAdapters {
    deployers: BTreeMap<String, Arc<dyn Deployer>>,
    registries: Arc<dyn ImageRegistries>,
    alarms: BTreeMap<String, Arc<dyn AlarmStates>>,
    revision_metrics: BTreeMap<String, Arc<dyn RevisionMetrics>>,
}

/// The deployers, registries (with their logins) and alarm sources of the deploy targets.
async fn deploy_adapters(
    cfg: &DeployConfig,
    clouds: &Clouds,
    local_dir: &std::path::Path,
) -> Result<DeployAdapters, RunError> {
    let mut deployers: BTreeMap<String, Arc<dyn Deployer>> = BTreeMap::new();
    let mut alarms: BTreeMap<String, Arc<dyn AlarmStates>> = BTreeMap::new();
    let mut revision_metrics: BTreeMap<String, Arc<dyn RevisionMetrics>> = BTreeMap::new();
    let mut registries = twincloud_http::OciRegistries::new();
    for t in &cfg.targets {
        for (i, side) in t.sides.iter().enumerate() {
            let key = deploy_side_key(&t.name, i);
            let d: Arc<dyn Deployer> = match &side.compute {
                ComputeTarget::Local { .. } => {
                    Arc::new(twincloud_local::LocalDeployer::new(local_dir))
                }
                ComputeTarget::Ecs { cluster, .. } => {
                    Arc::new(twincloud_aws::EcsDeployer::new(clouds.aws().await, cluster))
                }
                ComputeTarget::CloudRun {
                    project, region, ..
                } => {
                    revision_metrics.insert(
                        key.clone(),
                        Arc::new(twincloud_gcp::CloudMonitoringRunMetrics::new(
                            clouds.gcp().await,
                            project,
                            region,
                        )),
                    );
                    Arc::new(twincloud_gcp::CloudRunDeployer::new(
                        clouds.gcp().await,
                        project,
                        region,
                    ))
                }
                ComputeTarget::Kubernetes {
                    cluster, namespace, ..
                } => {
                    if let (KubeCluster::Gke { project, .. }, Some(backend)) =
                        (cluster, &side.lb_backend)
                    {
                        revision_metrics.insert(
                            key.clone(),
                            Arc::new(twincloud_gcp::CloudMonitoringRunMetrics::load_balancer(
                                clouds.gcp().await,
                                project,
                                backend,
                            )),
                        );
                    }
                    Arc::new(twincloud_kube::KubernetesDeployer::new(
                        kube_access(cluster, clouds).await,
                        namespace,
                    ))
                }
            };
            deployers.insert(key.clone(), d);
            if !side.alarms.is_empty() {
                let a: Arc<dyn AlarmStates> = match &side.compute {
                    ComputeTarget::Local { .. } => {
                        Arc::new(twincloud_local::LocalAlarms::new(local_dir))
                    }
                    _ => Arc::new(twincloud_aws::CloudWatchAlarms::new(clouds.aws().await)),
                };
                alarms.insert(key, a);
            }
            let login: Option<Arc<dyn twincloud_core::ports::RegistryLogin>> = match &side
                .registry_auth
            {
                RegistryAuth::Ecr => {
                    Some(Arc::new(twincloud_aws::EcrLogin::new(clouds.aws().await)))
                }
                RegistryAuth::Google => Some(Arc::new(twincloud_gcp::GoogleLogin::new(
                    clouds.gcp().await,
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

/// The compute adapter of a service on either cloud or the local backend.
async fn compute_for(
    target: &ComputeTarget,
    clouds: &Clouds,
    local_dir: &std::path::Path,
) -> Arc<dyn Compute> {
    match target {
        ComputeTarget::Local { .. } => Arc::new(twincloud_local::LocalCompute::new(local_dir)),
        ComputeTarget::Ecs {
            cluster, max_size, ..
        } => Arc::new(twincloud_aws::EcsCompute::new(
            clouds.aws().await,
            cluster,
            *max_size,
        )),
        ComputeTarget::CloudRun {
            project, region, ..
        } => Arc::new(twincloud_gcp::CloudRunCompute::new(
            clouds.gcp().await,
            project,
            region,
        )),
        ComputeTarget::Kubernetes {
            cluster,
            namespace,
            max_size,
            ..
        } => Arc::new(twincloud_kube::KubernetesCompute::new(
            kube_access(cluster, clouds).await,
            namespace,
            *max_size,
        )),
    }
}

/// Access to a Kubernetes cluster: GKE through the Container API and a Google token, or a
/// kubeconfig context.
async fn kube_access(cluster: &KubeCluster, clouds: &Clouds) -> Arc<twincloud_kube::KubeAccess> {
    use twincloud_kube::{ClusterAccess, KubeAccess};
    KubeAccess::new(match cluster {
        KubeCluster::Gke {
            project,
            location,
            cluster,
        } => ClusterAccess::Source(Arc::new(twincloud_gcp::GkeCluster::new(
            clouds.gcp().await,
            project,
            location,
            cluster,
        ))),
        KubeCluster::Kubeconfig { path, context } => ClusterAccess::Kubeconfig {
            path: path.clone(),
            context: context.clone(),
        },
    })
}

/// Load readings where none are to be had (a cluster outside GKE): every metric without data.
struct NoLoadReadings;

#[async_trait::async_trait]
impl Metrics for NoLoadReadings {
    async fn readings(
        &self,
        _service: &str,
        _metrics: &[twincloud_core::config::Metric],
    ) -> Result<Vec<(twincloud_core::config::Metric, f64)>, twincloud_core::ports::PortError> {
        Ok(Vec::new())
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
