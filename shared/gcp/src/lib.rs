//! GCP adapters over the REST APIs with hand-written serde types for only the fields used:
//! the GCS state store, Pub/Sub publish, Secret Manager references and GCS objects for
//! configuration. Tokens come from `google-cloud-auth` (Application Default Credentials, the
//! metadata server on Cloud Run); emulators need none.

mod clouddns;
mod cloudrun;
mod cloudsql;
mod context;
mod gcs_listing;
mod gcs_objects;
mod gcs_state;
mod gcs_upload;
mod pubsub;
mod secrets;

pub use clouddns::CloudDnsTraffic;
pub use cloudrun::CloudRunCompute;
pub use cloudsql::{CloudSqlDatabase, MANAGED_PREFIX as CLOUDSQL_MANAGED_PREFIX};
pub use context::{GcpAuth, GcpContext};
pub use gcs_objects::GcsObjectStore;
pub use gcs_state::GcsStateStore;
pub use pubsub::PubSubNotifier;
pub use secrets::resolve_secret;

use twincloud_core::ports::{PortError, Retry};

/// Reads a whole GCS object as text (configuration files).
pub async fn get_object_text(
    ctx: &GcpContext,
    bucket: &str,
    object: &str,
) -> Result<String, PortError> {
    let url = format!(
        "{}/storage/v1/b/{bucket}/o/{}?alt=media",
        ctx.storage_base(),
        gcs_state::encode(object)
    );
    let resp = ctx
        .retry()
        .send(|| ctx.request(reqwest::Method::GET, &url))
        .await
        .map_err(|f| PortError {
            message: format!("gs://{bucket}/{object}: {}", f.message),
            retry: f.retry,
        })?;
    resp.0.text().await.map_err(|e| PortError {
        message: format!("gs://{bucket}/{object}: reading body: {e}"),
        retry: Retry::Transient,
    })
}
