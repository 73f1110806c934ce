//! The compute kinds' adapters, one file per kind: what a kind gives for a side's or a
//! service's compute, its load metrics, its alarm states and its deployer. Every place that
//! builds an adapter for a `ComputeTarget` asks here; adding a kind is a file here, its
//! variant in `twincloud_core::config::ComputeKind` and its keys in `config/compute.rs`.

mod cloudrun;
mod ecs;
mod kubernetes;
mod local;

use std::path::Path;
use std::sync::Arc;

use twincloud_core::config::{ComputeTarget, DeploySide, ScalingService};
use twincloud_core::ports::{AlarmStates, Compute, Deployer, Metrics, RevisionMetrics};

use super::Clouds;
use crate::error::RunError;

/// What adapters are built from, whatever the kind.
#[derive(Clone, Copy)]
pub(super) struct Reach<'a> {
    pub(super) clouds: &'a Clouds,
    pub(super) local_dir: &'a Path,
}

/// The compute adapter of a side or service.
pub(super) async fn compute(
    target: &ComputeTarget,
    reach: Reach<'_>,
) -> Result<Arc<dyn Compute>, RunError> {
    match target {
        ComputeTarget::Local { .. } => Ok(local::compute(reach)),
        ComputeTarget::Ecs {
            cluster, max_size, ..
        } => Ok(ecs::compute(reach, cluster, *max_size).await),
        ComputeTarget::CloudRun {
            project, region, ..
        } => cloudrun::compute(reach, project, region).await,
        ComputeTarget::Kubernetes {
            cluster,
            namespace,
            max_size,
            ..
        } => kubernetes::compute(reach, cluster, namespace, *max_size).await,
    }
}

/// Where a scaling service's load is read.
pub(super) async fn metrics(
    svc: &ScalingService,
    reach: Reach<'_>,
) -> Result<Arc<dyn Metrics>, RunError> {
    match &svc.compute {
        ComputeTarget::Local { .. } => Ok(local::metrics(reach)),
        ComputeTarget::Ecs { cluster, .. } => {
            Ok(ecs::metrics(reach, cluster, svc.target_group.as_deref()).await)
        }
        ComputeTarget::CloudRun {
            project, region, ..
        } => cloudrun::metrics(reach, project, region).await,
        ComputeTarget::Kubernetes {
            cluster, namespace, ..
        } => kubernetes::metrics(reach, cluster, namespace).await,
    }
}

/// Where the alarms named for a scaling service are confirmed; `None` where the kind's alarms
/// cannot be read back (a Cloud Monitoring incident), so they step nothing.
pub(super) async fn scaling_alarms(
    target: &ComputeTarget,
    reach: Reach<'_>,
) -> Option<Arc<dyn AlarmStates>> {
    match target {
        ComputeTarget::Local { .. } => Some(local::alarms(reach)),
        ComputeTarget::Ecs { .. } => Some(ecs::alarms(reach).await),
        ComputeTarget::CloudRun { .. } | ComputeTarget::Kubernetes { .. } => None,
    }
}

/// Where the alarms a deploy side names are confirmed: CloudWatch for every cloud kind (a
/// side's alarms are CloudWatch alarm names), simulated ones on the local backend.
pub(super) async fn deploy_alarms(
    target: &ComputeTarget,
    reach: Reach<'_>,
) -> Arc<dyn AlarmStates> {
    match target {
        ComputeTarget::Local { .. } => local::alarms(reach),
        ComputeTarget::Ecs { .. }
        | ComputeTarget::CloudRun { .. }
        | ComputeTarget::Kubernetes { .. } => ecs::alarms(reach).await,
    }
}

/// A deploy side's deployer, and where its new revisions' request metrics are read, if the
/// kind reports them.
pub(super) async fn deployer(
    side: &DeploySide,
    reach: Reach<'_>,
) -> Result<(Arc<dyn Deployer>, Option<Arc<dyn RevisionMetrics>>), RunError> {
    match &side.compute {
        ComputeTarget::Local { .. } => Ok((local::deployer(reach), None)),
        ComputeTarget::Ecs { cluster, .. } => Ok((ecs::deployer(reach, cluster).await, None)),
        ComputeTarget::CloudRun {
            project, region, ..
        } => cloudrun::deployer(reach, project, region).await,
        ComputeTarget::Kubernetes {
            cluster, namespace, ..
        } => kubernetes::deployer(reach, cluster, namespace, side.lb_backend.as_deref()).await,
    }
}
