//! AWS adapters over the official SDK: the S3 state store, SNS and SES v2 channels, Secrets
//! Manager references and S3 objects for configuration. Endpoints follow the SDK conventions
//! (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`), so everything runs against moto unchanged.

mod context;
mod ecs;
mod error;
mod notify;
mod rds;
mod route53;
mod s3_objects;
mod s3_state;
mod s3_upload;
mod secrets;

pub use context::AwsContext;
pub use ecs::EcsCompute;
pub use error::classify;
pub use notify::{SesNotifier, SnsNotifier};
pub use rds::{MANAGED_TAG, RdsDatabase};
pub use route53::Route53Traffic;
pub use s3_objects::S3ObjectStore;
pub use s3_state::S3StateStore;
pub use secrets::resolve_secret;

/// Reads a whole S3 object as text (configuration files).
pub async fn get_object_text(
    ctx: &AwsContext,
    bucket: &str,
    key: &str,
) -> Result<String, twincloud_core::ports::PortError> {
    let out = ctx
        .s3()
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| classify(&format!("s3://{bucket}/{key}"), e))?;
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| twincloud_core::ports::PortError {
            message: format!("s3://{bucket}/{key}: reading body: {e}"),
            retry: twincloud_core::Retry::Transient,
        })?
        .into_bytes();
    String::from_utf8(bytes.to_vec()).map_err(|_| twincloud_core::ports::PortError {
        message: format!("s3://{bucket}/{key} is not UTF-8 text"),
        retry: twincloud_core::Retry::Permanent,
    })
}
