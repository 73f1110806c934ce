//! The compute kinds: where a side's or a service's containers run (`compute = "..."` in an
//! endpoint, a scaling service or a deploy side), each kind's keys and its names. The adapters
//! of each kind are built in one place too (`twincloud_runtime::services::kinds`).

use serde::Deserialize;

use super::KubeCluster;
use super::table;

/// Where a side's containers run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComputeTarget {
    /// A simulated service of the local backend.
    Local {
        /// Service name.
        service: String,
    },
    /// A Cloud Run service (its minimum instance count).
    CloudRun {
        /// GCP project.
        project: String,
        /// Region.
        region: String,
        /// Service name.
        service: String,
    },
    /// A Kubernetes Deployment (GKE or any cluster of a kubeconfig): its replicas, or its
    /// HorizontalPodAutoscaler's `minReplicas` where one targets it.
    Kubernetes {
        /// The cluster.
        cluster: KubeCluster,
        /// Namespace.
        namespace: String,
        /// Deployment name.
        deployment: String,
        /// Never scale above this.
        max_size: Option<u32>,
    },
    /// An ECS service (Fargate or EC2).
    Ecs {
        /// Cluster name or ARN.
        cluster: String,
        /// Service name.
        service: String,
        /// Never scale above this (ECS has no maximum of its own).
        max_size: Option<u32>,
    },
}

impl ComputeTarget {
    /// Its kind.
    pub fn kind(&self) -> ComputeKind {
        match self {
            ComputeTarget::Local { .. } => ComputeKind::Local,
            ComputeTarget::Ecs { .. } => ComputeKind::Ecs,
            ComputeTarget::CloudRun { .. } => ComputeKind::CloudRun,
            ComputeTarget::Kubernetes { .. } => ComputeKind::Kubernetes,
        }
    }

    /// Where it runs, as `--to` and the operations page name it: `aws` (ECS), `gcp` (Cloud Run,
    /// GKE), `kubernetes` (a kubeconfig cluster) or `local`.
    pub fn cloud(&self) -> &'static str {
        match self {
            ComputeTarget::Ecs { .. } => "aws",
            ComputeTarget::CloudRun { .. }
            | ComputeTarget::Kubernetes {
                cluster: KubeCluster::Gke { .. },
                ..
            } => "gcp",
            ComputeTarget::Kubernetes { .. } => "kubernetes",
            ComputeTarget::Local { .. } => "local",
        }
    }

    /// A short name for messages: `ecs aion-backend`.
    pub fn label(&self) -> String {
        format!("{} {}", self.kind().name(), self.service())
    }

    /// The service name.
    pub fn service(&self) -> &str {
        match self {
            ComputeTarget::Local { service }
            | ComputeTarget::Ecs { service, .. }
            | ComputeTarget::CloudRun { service, .. } => service,
            ComputeTarget::Kubernetes { deployment, .. } => deployment,
        }
    }
}

/// A kind of compute: where a side's or a service's containers run. Every list of kind names
/// (the configuration's `compute = "..."` values, messages) is derived from [`ComputeKind::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ComputeKind {
    /// The local backend's simulated services.
    Local,
    /// ECS services (AWS).
    Ecs,
    /// Cloud Run services (GCP).
    CloudRun,
    /// Kubernetes Deployments (GKE or any kubeconfig cluster).
    Kubernetes,
}

impl ComputeKind {
    /// Every kind, in the order messages list them.
    pub const ALL: [ComputeKind; 4] = [
        ComputeKind::Local,
        ComputeKind::Ecs,
        ComputeKind::CloudRun,
        ComputeKind::Kubernetes,
    ];

    /// The name in configuration (`compute = "ecs"`) and in messages.
    pub const fn name(self) -> &'static str {
        match self {
            ComputeKind::Local => "local",
            ComputeKind::Ecs => "ecs",
            ComputeKind::CloudRun => "cloudrun",
            ComputeKind::Kubernetes => "kubernetes",
        }
    }
}

/// The configuration names of every kind, derived from [`ComputeKind::ALL`].
pub(super) const COMPUTE_KINDS: &[&str] = &{
    let mut names = [""; ComputeKind::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = ComputeKind::ALL[i].name();
        i += 1;
    }
    names
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLocalCompute {
    service: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEcs {
    cluster: String,
    service: String,
    #[serde(default)]
    max_size: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCloudRun {
    project: String,
    region: String,
    service: String,
}

/// `value`, unless it is empty.
pub(super) fn required(value: String, key: &str, what: &str) -> Result<String, String> {
    if value.trim().is_empty() {
        Err(format!("{what} needs a non-empty `{key}`"))
    } else {
        Ok(value)
    }
}

/// Reads the kind-specific keys of a `compute = "KIND"` table (the kind already checked against
/// [`COMPUTE_KINDS`]): the target and its own maximum, where it has one.
pub(super) fn compute(
    kind: &str,
    own: toml::Table,
    what: &str,
) -> Result<(ComputeTarget, Option<u32>), String> {
    let scope = format!("compute `{kind}`");
    let kind = COMPUTE_KINDS
        .iter()
        .position(|k| *k == kind)
        .map_or(ComputeKind::Local, |i| ComputeKind::ALL[i]);
    Ok(match kind {
        ComputeKind::Ecs => {
            let r: RawEcs = table::read(own, what, &scope)?;
            let service = required(r.service, "service", &scope)?;
            (
                ComputeTarget::Ecs {
                    cluster: required(r.cluster, "cluster", &scope)?,
                    service,
                    max_size: r.max_size,
                },
                r.max_size,
            )
        }
        ComputeKind::CloudRun => {
            let r: RawCloudRun = table::read(own, what, &scope)?;
            (
                ComputeTarget::CloudRun {
                    project: required(r.project, "project", &scope)?,
                    region: required(r.region, "region", &scope)?,
                    service: required(r.service, "service", &scope)?,
                },
                None,
            )
        }
        ComputeKind::Kubernetes => {
            let r: super::kubernetes::RawKubernetes = table::read(own, what, &scope)?;
            let max_size = r.max_size;
            let (cluster, namespace, deployment) = r.validate(&scope)?;
            (
                ComputeTarget::Kubernetes {
                    cluster,
                    namespace,
                    deployment,
                    max_size,
                },
                max_size,
            )
        }
        ComputeKind::Local => {
            let r: RawLocalCompute = table::read(own, what, &scope)?;
            (
                ComputeTarget::Local {
                    service: required(r.service, "service", &scope)?,
                },
                None,
            )
        }
    })
}
