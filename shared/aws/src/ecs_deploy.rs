//! [`Deployer`] on ECS services: a new task definition revision copied from the service's
//! current one with only the container's image changed, `UpdateService` onto it, the
//! deployment followed (rollout state, circuit breaker), and back to the previous revision on
//! failure. Revisions are never deregistered. [`EcrLogin`]: registry credentials from ECR's
//! `GetAuthorizationToken`.

use async_trait::async_trait;
use aws_sdk_ecs::types::{ContainerDefinition, TaskDefinition};
use base64::Engine;
use twincloud_core::planner::deploy::Progress;
use twincloud_core::ports::{Deployed, Deployer, PortError, RegistryLogin};
use twincloud_core::secret::Secret;

use crate::context::AwsContext;
use crate::error::classify;

/// The services of one ECS cluster, as deploy targets.
#[derive(Debug, Clone)]
pub struct EcsDeployer {
    client: aws_sdk_ecs::Client,
    cluster: String,
}

impl EcsDeployer {
    /// Services of `cluster`.
    pub fn new(ctx: &AwsContext, cluster: &str) -> Self {
        EcsDeployer {
            client: ctx.ecs(),
            cluster: cluster.into(),
        }
    }

    async fn service(&self, service: &str) -> Result<aws_sdk_ecs::types::Service, PortError> {
        let out = self
            .client
            .describe_services()
            .cluster(&self.cluster)
            .services(service)
            .send()
            .await
            .map_err(|e| classify(&format!("ECS describe service `{service}`"), e))?;
        out.services()
            .iter()
            .find(|s| s.service_name() == Some(service) && s.status() != Some("INACTIVE"))
            .cloned()
            .ok_or_else(|| {
                PortError::permanent(format!(
                    "ECS service `{service}` not found in cluster `{}`",
                    self.cluster
                ))
            })
    }

    async fn task_definition(&self, arn: &str) -> Result<TaskDefinition, PortError> {
        self.client
            .describe_task_definition()
            .task_definition(arn)
            .send()
            .await
            .map_err(|e| classify(&format!("ECS describe task definition `{arn}`"), e))?
            .task_definition
            .ok_or_else(|| PortError::permanent(format!("task definition `{arn}` not found")))
    }

    async fn update(&self, service: &str, task_definition: &str) -> Result<(), PortError> {
        self.client
            .update_service()
            .cluster(&self.cluster)
            .service(service)
            .task_definition(task_definition)
            .send()
            .await
            .map_err(|e| classify(&format!("ECS update service `{service}`"), e))?;
        Ok(())
    }
}

/// The container `name` (or the only one) of a task definition.
fn container<'a>(
    td: &'a TaskDefinition,
    name: Option<&str>,
) -> Result<&'a ContainerDefinition, PortError> {
    let defs = td.container_definitions();
    let arn = td.task_definition_arn().unwrap_or("?");
    match name {
        Some(n) => defs.iter().find(|c| c.name() == Some(n)).ok_or_else(|| {
            PortError::permanent(format!("task definition `{arn}` has no container `{n}`"))
        }),
        None if defs.len() == 1 => Ok(&defs[0]),
        None => Err(PortError::permanent(format!(
            "task definition `{arn}` has {} containers: name the one to deploy (`container`)",
            defs.len()
        ))),
    }
}

#[async_trait]
impl Deployer for EcsDeployer {
    async fn current(&self, service: &str, name: Option<&str>) -> Result<Deployed, PortError> {
        let s = self.service(service).await?;
        let arn = s.task_definition().ok_or_else(|| {
            PortError::permanent(format!("ECS service `{service}` has no task definition"))
        })?;
        let td = self.task_definition(arn).await?;
        let c = container(&td, name)?;
        let mut env: Vec<String> = c
            .environment()
            .iter()
            .filter_map(|e| e.name().map(str::to_owned))
            .chain(c.secrets().iter().map(|s| s.name().to_owned()))
            .collect();
        env.sort();
        Ok(Deployed {
            revision: td.task_definition_arn().unwrap_or(arn).to_owned(),
            image: c.image().unwrap_or("").to_owned(),
            env: Some(env),
        })
    }

    async fn create(
        &self,
        service: &str,
        name: Option<&str>,
        from: &str,
        image: &str,
        _tag: &str,
    ) -> Result<String, PortError> {
        let now = self.current(service, name).await?;
        if now.image == image {
            // Made by an earlier attempt that did not get to record it.
            return Ok(now.revision);
        }
        let td = self.task_definition(from).await?;
        let target = container(&td, name)?.name().unwrap_or("").to_owned();
        let defs: Vec<ContainerDefinition> = td
            .container_definitions()
            .iter()
            .map(|c| {
                if c.name() == Some(target.as_str()) {
                    let mut c = c.clone();
                    c.image = Some(image.to_owned());
                    c
                } else {
                    c.clone()
                }
            })
            .collect();
        let family = td.family().ok_or_else(|| {
            PortError::permanent(format!("task definition `{from}` has no family"))
        })?;
        // Everything but the image as it was: roles, network mode, sizes, volumes, platform.
        let out = self
            .client
            .register_task_definition()
            .family(family)
            .set_task_role_arn(td.task_role_arn().map(str::to_owned))
            .set_execution_role_arn(td.execution_role_arn().map(str::to_owned))
            .set_network_mode(td.network_mode().cloned())
            .set_container_definitions(Some(defs))
            .set_volumes(Some(td.volumes().to_vec()))
            .set_placement_constraints(Some(td.placement_constraints().to_vec()))
            .set_requires_compatibilities(Some(td.requires_compatibilities().to_vec()))
            .set_cpu(td.cpu().map(str::to_owned))
            .set_memory(td.memory().map(str::to_owned))
            .set_pid_mode(td.pid_mode().cloned())
            .set_ipc_mode(td.ipc_mode().cloned())
            .set_proxy_configuration(td.proxy_configuration().cloned())
            .set_ephemeral_storage(td.ephemeral_storage().cloned())
            .set_runtime_platform(td.runtime_platform().cloned())
            .send()
            .await
            .map_err(|e| classify(&format!("ECS register a revision of `{family}`"), e))?;
        let arn = out
            .task_definition()
            .and_then(|t| t.task_definition_arn())
            .ok_or_else(|| PortError::transient("ECS registered a revision without an ARN"))?
            .to_owned();
        self.update(service, &arn).await?;
        Ok(arn)
    }

    async fn progress(
        &self,
        service: &str,
        revision: &str,
    ) -> Result<(Progress, Option<String>), PortError> {
        let s = self.service(service).await?;
        let deployments = s.deployments();
        // ECS adds a PRIMARY deployment per update; where the emulator keeps one deployment for
        // the service, the PRIMARY one is the service's current.
        let d = deployments
            .iter()
            .find(|d| d.task_definition() == Some(revision))
            .or_else(|| {
                (s.task_definition() == Some(revision))
                    .then(|| deployments.iter().find(|d| d.status() == Some("PRIMARY")))
                    .flatten()
            });
        let Some(d) = d else {
            return Ok((
                Progress::Failed(format!(
                    "the service runs {} now, not {revision}: someone else deployed",
                    s.task_definition().unwrap_or("nothing")
                )),
                None,
            ));
        };
        use aws_sdk_ecs::types::DeploymentRolloutState as R;
        let p = match d.rollout_state() {
            Some(R::Completed) => Progress::Ready,
            Some(R::Failed) => Progress::Failed(
                d.rollout_state_reason()
                    .unwrap_or("the deployment failed")
                    .to_owned(),
            ),
            Some(R::InProgress) => Progress::InProgress,
            // No rollout state (no circuit breaker): ready when all tasks run.
            _ if d.running_count() >= d.desired_count() && d.pending_count() == 0 => {
                Progress::Ready
            }
            _ => Progress::InProgress,
        };
        Ok((p, None))
    }

    async fn roll_back(&self, service: &str, previous: &str) -> Result<(), PortError> {
        self.update(service, previous).await
    }
}

/// Credentials for ECR from `GetAuthorizationToken` (`AWS` and a 12-hour token).
#[derive(Debug, Clone)]
pub struct EcrLogin {
    client: aws_sdk_ecr::Client,
}

impl EcrLogin {
    /// With the context's credentials and region.
    pub fn new(ctx: &AwsContext) -> Self {
        EcrLogin { client: ctx.ecr() }
    }
}

#[async_trait]
impl RegistryLogin for EcrLogin {
    async fn login(&self) -> Result<Option<(String, Secret)>, PortError> {
        let out = self
            .client
            .get_authorization_token()
            .send()
            .await
            .map_err(|e| classify("ECR GetAuthorizationToken", e))?;
        let token = out
            .authorization_data()
            .first()
            .and_then(|d| d.authorization_token())
            .ok_or_else(|| PortError::transient("ECR gave no authorization token"))?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(token)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| PortError::permanent("ECR's authorization token is not base64"))?;
        let (user, password) = decoded.split_once(':').ok_or_else(|| {
            PortError::permanent("ECR's authorization token is not USER:PASSWORD")
        })?;
        Ok(Some((user.to_owned(), Secret::new(password))))
    }
}
