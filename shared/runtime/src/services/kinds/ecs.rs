//! ECS services on AWS: Application Auto Scaling for capacity, CloudWatch for load and alarms,
//! task definition revisions for deploys.

use std::sync::Arc;

use twincloud_core::ports::{AlarmStates, Compute, Deployer, Metrics};

use super::Reach;

pub(super) async fn compute(
    reach: Reach<'_>,
    cluster: &str,
    max_size: Option<u32>,
) -> Arc<dyn Compute> {
    Arc::new(twincloud_aws::EcsCompute::new(
        reach.clouds.aws().await,
        cluster,
        max_size,
    ))
}

pub(super) async fn metrics(
    reach: Reach<'_>,
    cluster: &str,
    target_group: Option<&str>,
) -> Arc<dyn Metrics> {
    Arc::new(
        twincloud_aws::CloudWatchEcsMetrics::new(reach.clouds.aws().await, cluster)
            .with_target_group(target_group),
    )
}

pub(super) async fn alarms(reach: Reach<'_>) -> Arc<dyn AlarmStates> {
    Arc::new(twincloud_aws::CloudWatchAlarms::new(
        reach.clouds.aws().await,
    ))
}

pub(super) async fn deployer(reach: Reach<'_>, cluster: &str) -> Arc<dyn Deployer> {
    Arc::new(twincloud_aws::EcsDeployer::new(
        reach.clouds.aws().await,
        cluster,
    ))
}
