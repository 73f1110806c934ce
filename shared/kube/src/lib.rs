//! Kubernetes Deployments (GKE or any cluster of a kubeconfig) as one more compute kind,
//! through the Rust ecosystem's client (`kube`, `k8s-openapi`): `KubernetesCompute` scales a
//! Deployment (its `scale` subresource) or, where a HorizontalPodAutoscaler targets it, that
//! autoscaler's `minReplicas` and `maxReplicas` instead of fighting it; `KubernetesDeployer`
//! sets a container's image by digest, follows the rollout through the Deployment's conditions
//! and goes back to the previous ReplicaSet's pod template as `kubectl rollout undo` does.

mod access;
mod compute;
mod deploy;
mod error;

pub use access::{ClusterAccess, KubeAccess};
pub use compute::KubernetesCompute;
pub use deploy::KubernetesDeployer;
