//! The local backend's simulated services (files under `sim/`).

use std::sync::Arc;

use twincloud_core::ports::{AlarmStates, Compute, Deployer, Metrics};

use super::Reach;

pub(super) fn compute(reach: Reach<'_>) -> Arc<dyn Compute> {
    Arc::new(twincloud_local::LocalCompute::new(reach.local_dir))
}

pub(super) fn metrics(reach: Reach<'_>) -> Arc<dyn Metrics> {
    Arc::new(twincloud_local::LocalMetrics::new(reach.local_dir))
}

pub(super) fn alarms(reach: Reach<'_>) -> Arc<dyn AlarmStates> {
    Arc::new(twincloud_local::LocalAlarms::new(reach.local_dir))
}

pub(super) fn deployer(reach: Reach<'_>) -> Arc<dyn Deployer> {
    Arc::new(twincloud_local::LocalDeployer::new(reach.local_dir))
}
