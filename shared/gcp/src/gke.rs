//! A GKE cluster's API server, from the Container API (`projects.locations.clusters.get`): its
//! endpoint and CA, with a Google access token as the bearer token (GKE maps the caller's
//! Google identity to Kubernetes RBAC).

use async_trait::async_trait;
use base64::Engine;
use reqwest::Method;
use serde::Deserialize;
use twincloud_core::Secret;
use twincloud_core::ports::{ApiServer, ApiServerSource, PortError};

use crate::GcpContext;

/// One GKE cluster.
#[derive(Debug, Clone)]
pub struct GkeCluster {
    ctx: GcpContext,
    project: String,
    location: String,
    cluster: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Cluster {
    #[serde(default)]
    endpoint: String,
    #[serde(default)]
    master_auth: Option<MasterAuth>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MasterAuth {
    #[serde(default)]
    cluster_ca_certificate: Option<String>,
}

impl GkeCluster {
    /// The cluster `cluster` of `project` in `location` (a region or a zone).
    pub fn new(ctx: &GcpContext, project: &str, location: &str, cluster: &str) -> Self {
        GkeCluster {
            ctx: ctx.clone(),
            project: project.into(),
            location: location.into(),
            cluster: cluster.into(),
        }
    }
}

#[async_trait]
impl ApiServerSource for GkeCluster {
    async fn api_server(&self) -> Result<ApiServer, PortError> {
        let what = format!(
            "GKE cluster {}/{}/{}",
            self.project, self.location, self.cluster
        );
        let url = format!(
            "{}/v1/projects/{}/locations/{}/clusters/{}",
            self.ctx.container_base(),
            self.project,
            self.location,
            self.cluster
        );
        let token = self.ctx.token().await?;
        let (resp, _) = self
            .ctx
            .retry()
            .send(|| self.ctx.call(Method::GET, &url, token.as_deref()))
            .await
            .map_err(|f| match f.status {
                Some(404) => PortError::permanent(format!("{what}: not found")),
                Some(403) => PortError::permanent(format!(
                    "{what}: access refused (the runtime account needs container.clusters.get)"
                )),
                _ => PortError::new(format!("{what}: {}", f.message), f.retry),
            })?;
        let c: Cluster = resp
            .json()
            .await
            .map_err(|e| PortError::transient(format!("{what}: unreadable answer: {e}")))?;
        if c.endpoint.is_empty() {
            return Err(PortError::transient(format!(
                "{what} has no endpoint yet (is it still being created?)"
            )));
        }
        let ca_pem = match c.master_auth.and_then(|m| m.cluster_ca_certificate) {
            Some(b64) => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        PortError::permanent(format!("{what}: the cluster CA is not base64 PEM"))
                    })?,
            ),
            None => None,
        };
        // GKE answers with an address; a stand-in of the API server in tests answers with a
        // full http:// URL, taken as it is.
        let url = if c.endpoint.starts_with("http://") || c.endpoint.starts_with("https://") {
            c.endpoint
        } else {
            format!("https://{}", c.endpoint)
        };
        Ok(ApiServer {
            url,
            ca_pem,
            token: token.map(Secret::new),
        })
    }
}
