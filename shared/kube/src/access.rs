//! A client of one cluster's API server, built from where the cluster is (GKE's Container API
//! through a [`ApiServerSource`], or a kubeconfig context) and rebuilt before its bearer token
//! can expire.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use twincloud_core::ports::{ApiServer, ApiServerSource, PortError};

/// A Google access token lives an hour: a client older than this is built again.
const CLIENT_LIFETIME: Duration = Duration::from_secs(20 * 60);

/// Where a cluster's API server is.
#[derive(Clone)]
pub enum ClusterAccess {
    /// An address, its CA and a bearer token from a source (GKE: the Container API).
    Source(Arc<dyn ApiServerSource>),
    /// A context of a kubeconfig (default `$KUBECONFIG`, then `~/.kube/config`).
    Kubeconfig {
        /// The file.
        path: Option<String>,
        /// The context (default the file's current one).
        context: Option<String>,
    },
}

/// One cluster's client, made on first use and again when it is old.
pub struct KubeAccess {
    access: ClusterAccess,
    cached: tokio::sync::Mutex<Option<(Instant, kube::Client)>>,
}

impl KubeAccess {
    /// Access to the cluster `access` names.
    pub fn new(access: ClusterAccess) -> Arc<Self> {
        Arc::new(KubeAccess {
            access,
            cached: tokio::sync::Mutex::new(None),
        })
    }

    /// A client of the cluster.
    pub async fn client(&self) -> Result<kube::Client, PortError> {
        let mut cached = self.cached.lock().await;
        if let Some((made, c)) = cached.as_ref()
            && made.elapsed() < CLIENT_LIFETIME
        {
            return Ok(c.clone());
        }
        let config = match &self.access {
            ClusterAccess::Source(source) => config_of(source.api_server().await?)?,
            ClusterAccess::Kubeconfig { path, context } => {
                let file = match path {
                    Some(p) => kube::config::Kubeconfig::read_from(p),
                    None => kube::config::Kubeconfig::read(),
                }
                .map_err(|e| PortError::permanent(format!("kubeconfig: {e}")))?;
                let options = kube::config::KubeConfigOptions {
                    context: context.clone(),
                    ..Default::default()
                };
                kube::Config::from_custom_kubeconfig(file, &options)
                    .await
                    .map_err(|e| PortError::permanent(format!("kubeconfig: {e}")))?
            }
        };
        let client = kube::Client::try_from(config)
            .map_err(|e| PortError::permanent(format!("Kubernetes client: {e}")))?;
        *cached = Some((Instant::now(), client.clone()));
        Ok(client)
    }
}

fn config_of(server: ApiServer) -> Result<kube::Config, PortError> {
    let uri = server
        .url
        .parse()
        .map_err(|e| PortError::permanent(format!("API server address `{}`: {e}", server.url)))?;
    let mut config = kube::Config::new(uri);
    if let Some(pem) = &server.ca_pem {
        config.root_cert = Some(pem_certificates(pem)?);
    }
    config.auth_info.token = server
        .token
        .map(|t| secrecy::SecretString::from(t.expose().to_owned()));
    Ok(config)
}

/// The DER certificates of a PEM bundle.
fn pem_certificates(pem: &str) -> Result<Vec<Vec<u8>>, PortError> {
    let mut out = vec![];
    let mut body: Option<String> = None;
    for line in pem.lines().map(str::trim) {
        match (line, body.as_mut()) {
            ("-----BEGIN CERTIFICATE-----", _) => body = Some(String::new()),
            ("-----END CERTIFICATE-----", Some(b)) => {
                let der = base64::engine::general_purpose::STANDARD
                    .decode(b.as_bytes())
                    .map_err(|e| PortError::permanent(format!("cluster CA certificate: {e}")))?;
                out.push(der);
                body = None;
            }
            (l, Some(b)) => b.push_str(l),
            _ => {}
        }
    }
    if out.is_empty() {
        return Err(PortError::permanent(
            "the cluster CA holds no PEM certificate",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn pem_bundles_are_read() {
        let pem = "-----BEGIN CERTIFICATE-----\nAAEC\nAw==\n-----END CERTIFICATE-----\n";
        assert_eq!(
            super::pem_certificates(pem).unwrap_or_default(),
            vec![vec![0, 1, 2, 3]]
        );
        assert!(super::pem_certificates("nothing").is_err());
    }
}
