//! Cloud Run services on GCP: min and max instances, Cloud Monitoring for load and for new
//! revisions' requests, revisions under a tag for deploys.

use std::sync::Arc;

use twincloud_core::ports::{Compute, Deployer, Metrics, RevisionMetrics};

use super::Reach;
use crate::error::RunError;

pub(super) async fn compute(
    reach: Reach<'_>,
    project: &str,
    region: &str,
) -> Result<Arc<dyn Compute>, RunError> {
    Ok(Arc::new(twincloud_gcp::CloudRunCompute::new(
        reach.clouds.gcp().await?,
        project,
        region,
    )))
}

pub(super) async fn metrics(
    reach: Reach<'_>,
    project: &str,
    region: &str,
) -> Result<Arc<dyn Metrics>, RunError> {
    Ok(Arc::new(twincloud_gcp::CloudMonitoringRunMetrics::new(
        reach.clouds.gcp().await?,
        project,
        region,
    )))
}

pub(super) async fn deployer(
    reach: Reach<'_>,
    project: &str,
    region: &str,
) -> Result<(Arc<dyn Deployer>, Option<Arc<dyn RevisionMetrics>>), RunError> {
    let gcp = reach.clouds.gcp().await?;
    Ok((
        Arc::new(twincloud_gcp::CloudRunDeployer::new(gcp, project, region)),
        Some(Arc::new(twincloud_gcp::CloudMonitoringRunMetrics::new(
            gcp, project, region,
        ))),
    ))
}
