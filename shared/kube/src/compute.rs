//! A Deployment as compute: replicas through the `scale` subresource, or, where a
//! HorizontalPodAutoscaler targets the Deployment, the autoscaler's bounds (setting replicas
//! under an HPA would be undone by it within seconds). Ready means available replicas of the
//! current generation.

use std::sync::Arc;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use serde_json::json;
use twincloud_core::ports::{Compute, PortError, ServiceScale};

use crate::access::KubeAccess;
use crate::error::{port_error, read_retrying};

/// The Deployments of one namespace of one cluster.
pub struct KubernetesCompute {
    access: Arc<KubeAccess>,
    namespace: String,
    max_size: Option<u32>,
}

fn u32_of(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

fn i32_of(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl KubernetesCompute {
    /// Deployments of `namespace`; `max_size` bounds those no HPA bounds.
    pub fn new(access: Arc<KubeAccess>, namespace: &str, max_size: Option<u32>) -> Self {
        KubernetesCompute {
            access,
            namespace: namespace.into(),
            max_size,
        }
    }

    async fn apis(&self) -> Result<(Api<Deployment>, Api<HorizontalPodAutoscaler>), PortError> {
        let c = self.access.client().await?;
        Ok((
            Api::namespaced(c.clone(), &self.namespace),
            Api::namespaced(c, &self.namespace),
        ))
    }

    /// The autoscaler targeting Deployment `name`, if any.
    async fn hpa_of(
        &self,
        hpas: &Api<HorizontalPodAutoscaler>,
        name: &str,
    ) -> Result<Option<HorizontalPodAutoscaler>, PortError> {
        let params = ListParams::default();
        let list = read_retrying(&format!("autoscalers of {}", self.namespace), || {
            hpas.list(&params)
        })
        .await?;
        Ok(list.items.into_iter().find(|h| {
            h.spec.as_ref().is_some_and(|s| {
                s.scale_target_ref.kind == "Deployment" && s.scale_target_ref.name == name
            })
        }))
    }

    fn what(&self, name: &str) -> String {
        format!("Deployment {}/{name}", self.namespace)
    }
}

/// Replicas available in the Deployment's current generation (0 while the controller has not
/// yet seen its latest change).
fn ready_of(d: &Deployment) -> u32 {
    let generation = d.metadata.generation.unwrap_or(0);
    let Some(status) = &d.status else { return 0 };
    if status.observed_generation.unwrap_or(0) < generation {
        return 0;
    }
    u32_of(status.available_replicas.unwrap_or(0))
}

#[async_trait]
impl Compute for KubernetesCompute {
    async fn scale(&self, service: &str) -> Result<ServiceScale, PortError> {
        let (deployments, hpas) = self.apis().await?;
        let d = read_retrying(&self.what(service), || deployments.get(service)).await?;
        let ready = ready_of(&d);
        let replicas = u32_of(d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1));
        Ok(match self.hpa_of(&hpas, service).await? {
            Some(h) => {
                let spec = h.spec.unwrap_or_default();
                ServiceScale {
                    desired: u32_of(spec.min_replicas.unwrap_or(1)),
                    ready,
                    max: Some(u32_of(spec.max_replicas)),
                }
            }
            None => ServiceScale {
                desired: replicas,
                ready,
                max: self.max_size,
            },
        })
    }

    async fn set_desired(&self, service: &str, desired: u32) -> Result<(), PortError> {
        self.set_desired_explained(service, desired).await.map(drop)
    }

    async fn set_desired_explained(
        &self,
        service: &str,
        desired: u32,
    ) -> Result<Option<String>, PortError> {
        let (deployments, hpas) = self.apis().await?;
        let merge = PatchParams::default();
        match self.hpa_of(&hpas, service).await? {
            Some(h) => {
                let name = h.metadata.name.clone().unwrap_or_default();
                let spec = h.spec.unwrap_or_default();
                let max = u32_of(spec.max_replicas);
                // An autoscaler's floor is at least 1 (scale to zero is an alpha feature).
                let min = desired.max(1);
                // The count was decided within the policy's `max` (or is the failover side's
                // active size): an HPA maximum below it is raised with the floor, and said.
                let (patch, raised) = if min > max {
                    (
                        json!({"spec": {"minReplicas": i32_of(min), "maxReplicas": i32_of(min)}}),
                        format!(
                            " and its maxReplicas from {max} to {min} (the decided count was above it)"
                        ),
                    )
                } else {
                    (json!({"spec": {"minReplicas": i32_of(min)}}), String::new())
                };
                hpas.patch(&name, &merge, &Patch::Merge(patch))
                    .await
                    .map_err(|e| port_error(&format!("autoscaler {}/{name}", self.namespace), e))?;
                Ok(Some(format!(
                    "set the HorizontalPodAutoscaler {name}'s minReplicas to {min}{raised} instead of setting replicas it would undo"
                )))
            }
            None => {
                if let Some(max) = self.max_size
                    && desired > max
                {
                    return Err(PortError::permanent(format!(
                        "{}: {desired} replicas is above max_size {max}",
                        self.what(service)
                    )));
                }
                deployments
                    .patch_scale(
                        service,
                        &merge,
                        &Patch::Merge(json!({"spec": {"replicas": i32_of(desired)}})),
                    )
                    .await
                    .map_err(|e| port_error(&self.what(service), e))?;
                Ok(None)
            }
        }
    }

    async fn set_max(&self, service: &str, max: u32) -> Result<bool, PortError> {
        let (_, hpas) = self.apis().await?;
        let Some(h) = self.hpa_of(&hpas, service).await? else {
            return Ok(false);
        };
        let name = h.metadata.name.clone().unwrap_or_default();
        let min = u32_of(h.spec.and_then(|s| s.min_replicas).unwrap_or(1));
        let max = max.max(1);
        hpas.patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"maxReplicas": i32_of(max), "minReplicas": i32_of(min.min(max))}}),
            ),
        )
        .await
        .map_err(|e| port_error(&format!("autoscaler {}/{name}", self.namespace), e))?;
        Ok(true)
    }
}
