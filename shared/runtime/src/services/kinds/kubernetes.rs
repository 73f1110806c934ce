//! Kubernetes Deployments (GKE through the Container API, or a kubeconfig context): replicas or
//! the HPA's bounds, the image by digest, GKE's container and load balancer metrics.

use std::sync::Arc;

use twincloud_core::config::KubeCluster;
use twincloud_core::ports::{Compute, Deployer, Metrics, PortError, RevisionMetrics};

use super::Reach;
use crate::error::RunError;

pub(super) async fn compute(
    reach: Reach<'_>,
    cluster: &KubeCluster,
    namespace: &str,
    max_size: Option<u32>,
) -> Result<Arc<dyn Compute>, RunError> {
    Ok(Arc::new(twincloud_kube::KubernetesCompute::new(
        access(cluster, reach).await?,
        namespace,
        max_size,
    )))
}

pub(super) async fn metrics(
    reach: Reach<'_>,
    cluster: &KubeCluster,
    namespace: &str,
) -> Result<Arc<dyn Metrics>, RunError> {
    Ok(match cluster {
        KubeCluster::Gke {
            project,
            location,
            cluster,
        } => Arc::new(twincloud_gcp::CloudMonitoringRunMetrics::gke(
            reach.clouds.gcp().await?,
            project,
            location,
            cluster,
            namespace,
        )),
        // Another cluster's load is read by its own HPA; twincloud's policy acts on alarms
        // and windows there (the configuration refuses load targets).
        KubeCluster::Kubeconfig { .. } => Arc::new(NoLoadReadings),
    })
}

pub(super) async fn deployer(
    reach: Reach<'_>,
    cluster: &KubeCluster,
    namespace: &str,
    lb_backend: Option<&str>,
) -> Result<(Arc<dyn Deployer>, Option<Arc<dyn RevisionMetrics>>), RunError> {
    let revision_metrics: Option<Arc<dyn RevisionMetrics>> = match (cluster, lb_backend) {
        (KubeCluster::Gke { project, .. }, Some(backend)) => Some(Arc::new(
            twincloud_gcp::CloudMonitoringRunMetrics::load_balancer(
                reach.clouds.gcp().await?,
                project,
                backend,
            ),
        )),
        _ => None,
    };
    let deployer = Arc::new(twincloud_kube::KubernetesDeployer::new(
        access(cluster, reach).await?,
        namespace,
    ));
    Ok((deployer, revision_metrics))
}

/// Access to a cluster: GKE through the Container API and a Google token, or a kubeconfig
/// context.
async fn access(
    cluster: &KubeCluster,
    reach: Reach<'_>,
) -> Result<Arc<twincloud_kube::KubeAccess>, RunError> {
    use twincloud_kube::{ClusterAccess, KubeAccess};
    Ok(KubeAccess::new(match cluster {
        KubeCluster::Gke {
            project,
            location,
            cluster,
        } => ClusterAccess::Source(Arc::new(twincloud_gcp::GkeCluster::new(
            reach.clouds.gcp().await?,
            project,
            location,
            cluster,
        ))),
        KubeCluster::Kubeconfig { path, context } => ClusterAccess::Kubeconfig {
            path: path.clone(),
            context: context.clone(),
        },
    }))
}

/// Load readings where none are to be had (a cluster outside GKE): every metric without data.
struct NoLoadReadings;

#[async_trait::async_trait]
impl Metrics for NoLoadReadings {
    async fn readings(
        &self,
        _service: &str,
        _metrics: &[twincloud_core::config::Metric],
    ) -> Result<Vec<(twincloud_core::config::Metric, f64)>, PortError> {
        Ok(Vec::new())
    }
}
