//! [`Compute`] on ECS services (Fargate or EC2): desired count and running count.

use async_trait::async_trait;
use twincloud_core::ports::{Compute, ErrorKind, PortError, ServiceScale};

use crate::context::AwsContext;
use crate::error::classify;

/// The services of one ECS cluster. ECS has no maximum of its own; `max` (from configuration)
/// bounds what twincloud will ask for.
#[derive(Debug, Clone)]
pub struct EcsCompute {
    client: aws_sdk_ecs::Client,
    autoscaling: aws_sdk_applicationautoscaling::Client,
    cluster: String,
    max: Option<u32>,
}

impl EcsCompute {
    /// Services of `cluster`, never scaled above `max`.
    pub fn new(ctx: &AwsContext, cluster: &str, max: Option<u32>) -> Self {
        EcsCompute {
            client: ctx.ecs(),
            autoscaling: aws_sdk_applicationautoscaling::Client::new(ctx.sdk()),
            cluster: cluster.into(),
            max,
        }
    }

    /// The service's Application Auto Scaling resource id.
    fn resource_id(&self, service: &str) -> String {
        let cluster = self.cluster.rsplit('/').next().unwrap_or(&self.cluster);
        format!("service/{cluster}/{service}")
    }

    fn permanent(&self, message: String) -> PortError {
        PortError::permanent(message)
    }
}

fn count(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

#[async_trait]
impl Compute for EcsCompute {
    async fn scale(&self, service: &str) -> Result<ServiceScale, PortError> {
        let out = self
            .client
            .describe_services()
            .cluster(&self.cluster)
            .services(service)
            .send()
            .await
            .map_err(|e| {
                classify(
                    &format!("ECS describe service `{service}` in `{}`", self.cluster),
                    e,
                )
            })?;
        let s = out
            .services()
            .iter()
            .find(|s| s.service_name() == Some(service) && s.status() != Some("INACTIVE"))
            .ok_or_else(|| {
                self.permanent(format!(
                    "ECS service `{service}` not found in cluster `{}`",
                    self.cluster
                ))
            })?;
        Ok(ServiceScale {
            desired: count(s.desired_count()),
            ready: count(s.running_count()),
            max: self.max,
        })
    }

    async fn set_desired(&self, service: &str, desired: u32) -> Result<(), PortError> {
        if let Some(max) = self.max.filter(|m| desired > *m) {
            return Err(self.permanent(format!(
                "ECS service `{service}`: desired {desired} is above its maximum of {max}"
            )));
        }
        let n = i32::try_from(desired)
            .map_err(|_| self.permanent(format!("desired count {desired} is out of range")))?;
        self.client
            .update_service()
            .cluster(&self.cluster)
            .service(service)
            .desired_count(n)
            .send()
            .await
            .map_err(|e| {
                let pe = classify(
                    &format!("ECS update service `{service}` in `{}`", self.cluster),
                    e,
                );
                if pe.is(ErrorKind::NotFound) {
                    self.permanent(format!(
                        "ECS service `{service}` not found in cluster `{}`",
                        self.cluster
                    ))
                } else {
                    pe
                }
            })?;
        Ok(())
    }

    /// Where the service has an Application Auto Scaling target, twincloud does not fight it:
    /// the target's minimum becomes the desired count (its maximum rises to it if need be), so
    /// the autoscaler works above the floor twincloud sets, and the count is set now as well.
    async fn set_desired_explained(
        &self,
        service: &str,
        desired: u32,
    ) -> Result<Option<String>, PortError> {
        use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};
        let id = self.resource_id(service);
        let what = |op: &str| format!("Application Auto Scaling {op} `{id}`");
        let targets = self
            .autoscaling
            .describe_scalable_targets()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_ids(&id)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .send()
            .await
            .map_err(|e| classify(&what("describe"), e))?;
        let Some(t) = targets.scalable_targets().first() else {
            return self.set_desired(service, desired).await.map(|()| None);
        };
        let n = i32::try_from(desired)
            .map_err(|_| self.permanent(format!("desired count {desired} is out of range")))?;
        let max = t.max_capacity().max(n);
        self.autoscaling
            .register_scalable_target()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(&id)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .min_capacity(n)
            .max_capacity(max)
            .send()
            .await
            .map_err(|e| classify(&what("register"), e))?;
        self.set_desired(service, desired).await?;
        Ok(Some(format!(
            "the service has an Application Auto Scaling target: its minimum is now {desired} (maximum {max}), adjusted rather than fought"
        )))
    }
}
