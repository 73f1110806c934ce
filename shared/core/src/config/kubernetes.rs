//! `compute = "kubernetes"`: a Deployment on a GKE cluster (found through the Container API)
//! or on any cluster of a kubeconfig, shared by failover endpoints, scaling services and deploy
//! sides.
//!
//! ```toml
//! compute = "kubernetes"
//! deployment = "chatbot"
//! namespace = "prod"              # default "default"
//! project = "aion-prod"           # GKE: project, location and cluster together,
//! location = "us-central1"
//! cluster = "aion-gke"
//! # kubeconfig = "/etc/kube/config"   # or a kubeconfig (default $KUBECONFIG, ~/.kube/config)
//! # context = "staging"               # and one of its contexts (default its current one)
//! max_size = 20                   # never scale above this (an HPA's maxReplicas also bounds)
//! ```

use serde::Deserialize;

/// Where a Kubernetes API server is and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KubeCluster {
    /// A GKE cluster: endpoint and CA from `projects.locations.clusters.get`, a Google access
    /// token for the API server.
    Gke {
        /// GCP project.
        project: String,
        /// Region or zone.
        location: String,
        /// Cluster name.
        cluster: String,
    },
    /// A context of a kubeconfig file.
    Kubeconfig {
        /// The file (default `$KUBECONFIG`, else `~/.kube/config`).
        path: Option<String>,
        /// The context (default the file's current one).
        context: Option<String>,
    },
}

impl KubeCluster {
    /// For messages: `gke:PROJECT/LOCATION/CLUSTER` or `kubeconfig:CONTEXT`.
    pub fn describe(&self) -> String {
        match self {
            KubeCluster::Gke {
                project,
                location,
                cluster,
            } => format!("gke:{project}/{location}/{cluster}"),
            KubeCluster::Kubeconfig { path, context } => format!(
                "kubeconfig:{}{}",
                path.as_deref().unwrap_or("default"),
                context
                    .as_deref()
                    .map(|c| format!("#{c}"))
                    .unwrap_or_default()
            ),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKubernetes {
    deployment: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    cluster: Option<String>,
    #[serde(default)]
    kubeconfig: Option<String>,
    #[serde(default)]
    context: Option<String>,
    #[serde(default)]
    pub(super) max_size: Option<u32>,
}

/// Whether `name` is a Kubernetes object name (RFC 1123 label: at most 63 lower-case letters,
/// digits and `-`, starting and ending alphanumeric).
pub fn kube_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

impl RawKubernetes {
    /// The cluster, namespace and Deployment, or what is wrong.
    pub(super) fn validate(self, scope: &str) -> Result<(KubeCluster, String, String), String> {
        let namespace = self.namespace.unwrap_or_else(|| "default".into());
        for (key, v) in [("deployment", &self.deployment), ("namespace", &namespace)] {
            if !kube_name_ok(v) {
                return Err(format!(
                    "{scope}: `{key}` = `{v}` is not a Kubernetes name (lower-case letters, digits and `-`, at most 63)"
                ));
            }
        }
        let gke = [&self.project, &self.location, &self.cluster];
        let kubeconfig = self.kubeconfig.is_some() || self.context.is_some();
        let cluster = match (gke.map(Option::is_some), kubeconfig) {
            ([true, true, true], false) => KubeCluster::Gke {
                project: self.project.unwrap_or_default(),
                location: self.location.unwrap_or_default(),
                cluster: self.cluster.unwrap_or_default(),
            },
            ([false, false, false], _) => KubeCluster::Kubeconfig {
                path: self.kubeconfig,
                context: self.context,
            },
            (_, true) => {
                return Err(format!(
                    "{scope}: give either a GKE cluster (`project`, `location`, `cluster`) or a kubeconfig (`kubeconfig`, `context`), not both"
                ));
            }
            _ => {
                return Err(format!(
                    "{scope}: a GKE cluster needs `project`, `location` and `cluster` together"
                ));
            }
        };
        Ok((cluster, namespace, self.deployment))
    }
}
