//! Where a Kubernetes API server is, for the Kubernetes compute adapter: a GKE cluster's
//! endpoint and CA come from the Container API, its bearer token is a Google access token.

use async_trait::async_trait;

use super::PortError;
use crate::secret::Secret;

/// An API server's address, the CA that signs its certificate, and a bearer token.
#[derive(Debug, Clone)]
pub struct ApiServer {
    /// `https://HOST[:PORT]`.
    pub url: String,
    /// The cluster CA, PEM; the system's roots when `None`.
    pub ca_pem: Option<String>,
    /// A bearer token for the requests.
    pub token: Option<Secret>,
}

/// Finds a cluster's API server (and a fresh token) when a client is made.
#[async_trait]
pub trait ApiServerSource: Send + Sync {
    /// The API server now.
    async fn api_server(&self) -> Result<ApiServer, PortError>;
}
