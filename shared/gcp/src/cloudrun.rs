//! [`Compute`] on Cloud Run services through the Admin API v2: the service-level minimum
//! instance count is the desired size, the revision template's maximum bounds it, and the
//! service's terminal condition says when it is ready.

use async_trait::async_trait;
use serde::Deserialize;
use twincloud_core::ports::{Compute, PortError, ServiceScale};

use crate::context::GcpContext;

/// Services of one project and region.
#[derive(Debug, Clone)]
pub struct CloudRunCompute {
    ctx: GcpContext,
    project: String,
    region: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Scaling {
    #[serde(default)]
    min_instance_count: Option<u32>,
    #[serde(default)]
    max_instance_count: Option<u32>,
}

#[derive(Deserialize, Default)]
struct Template {
    #[serde(default)]
    scaling: Scaling,
}

#[derive(Deserialize)]
struct Condition {
    #[serde(default)]
    state: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Service {
    #[serde(default)]
    scaling: Option<Scaling>,
    #[serde(default)]
    template: Template,
    #[serde(default)]
    reconciling: bool,
    #[serde(default)]
    terminal_condition: Option<Condition>,
    #[serde(default)]
    latest_ready_revision: Option<String>,
    #[serde(default)]
    latest_created_revision: Option<String>,
}

impl CloudRunCompute {
    /// Services in `project` / `region`.
    pub fn new(ctx: &GcpContext, project: &str, region: &str) -> Self {
        CloudRunCompute {
            ctx: ctx.clone(),
            project: project.into(),
            region: region.into(),
        }
    }

    fn url(&self, service: &str) -> String {
        format!(
            "{}/v2/projects/{}/locations/{}/services/{service}",
            self.ctx.run_base(),
            self.project,
            self.region
        )
    }

    /// Sets one service-level `scaling` field, and only that one (the update mask).
    async fn patch_scaling(&self, service: &str, field: &str, value: u32) -> Result<(), PortError> {
        let token = self.ctx.token().await?;
        let url = format!("{}?updateMask=scaling.{field}", self.url(service));
        let body = serde_json::json!({ "scaling": { field: value } });
        self.ctx
            .retry()
            .send(|| {
                self.ctx
                    .authorized(
                        self.ctx.request(reqwest::Method::PATCH, &url),
                        token.as_deref(),
                    )
                    .json(&body)
            })
            .await
            .map_err(|f| {
                PortError::new(
                    format!("Cloud Run update of `{service}`: {}", f.message),
                    f.retry,
                )
            })?;
        Ok(())
    }

    async fn get(&self, service: &str) -> Result<Service, PortError> {
        let token = self.ctx.token().await?;
        let url = self.url(service);
        let (resp, _) = self
            .ctx
            .retry()
            .send(|| {
                self.ctx.authorized(
                    self.ctx.request(reqwest::Method::GET, &url),
                    token.as_deref(),
                )
            })
            .await
            .map_err(|f| {
                PortError::new(
                    if f.status == Some(404) {
                        format!(
                            "Cloud Run service `{service}` not found in {}/{}",
                            self.project, self.region
                        )
                    } else {
                        format!("Cloud Run service `{service}`: {}", f.message)
                    },
                    f.retry,
                )
            })?;
        resp.json().await.map_err(|e| {
            PortError::transient(format!(
                "Cloud Run service `{service}`: unreadable response: {e}"
            ))
        })
    }
}

#[async_trait]
impl Compute for CloudRunCompute {
    async fn scale(&self, service: &str) -> Result<ServiceScale, PortError> {
        let s = self.get(service).await?;
        let desired = s
            .scaling
            .as_ref()
            .and_then(|x| x.min_instance_count)
            .or(s.template.scaling.min_instance_count)
            .unwrap_or(0);
        // Ready: not reconciling, the service's terminal condition succeeded, and the newest revision
        // is the one serving (a revision still starting is not ready).
        let ready = !s.reconciling
            && s.terminal_condition
                .as_ref()
                .is_some_and(|c| c.state == "CONDITION_SUCCEEDED")
            && s.latest_ready_revision == s.latest_created_revision;
        Ok(ServiceScale {
            desired,
            ready: if ready { desired } else { 0 },
            max: s
                .scaling
                .as_ref()
                .and_then(|x| x.max_instance_count)
                .or(s.template.scaling.max_instance_count),
        })
    }

    async fn set_desired(&self, service: &str, desired: u32) -> Result<(), PortError> {
        let current = self.get(service).await?;
        if let Some(max) = current
            .template
            .scaling
            .max_instance_count
            .filter(|m| desired > *m)
        {
            return Err(PortError::permanent(format!(
                "Cloud Run service `{service}`: desired {desired} is above its maximum of {max}"
            )));
        }
        self.patch_scaling(service, "minInstanceCount", desired)
            .await
    }

    async fn set_max(&self, service: &str, max: u32) -> Result<bool, PortError> {
        self.patch_scaling(service, "maxInstanceCount", max).await?;
        Ok(true)
    }
}
