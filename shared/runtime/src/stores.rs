//! The one place where a [`Location`] becomes a store: object stores (sync pairs, exports,
//! configuration files) and the state store, each built on the cloud's one authenticated
//! context, so every request to a bucket carries the same credentials.

use std::sync::Arc;

use twincloud_core::Location;
use twincloud_core::ports::{ObjectStore, StateStore};

use crate::error::RunError;
use crate::services::Clouds;

/// The object store of a location.
pub async fn object_store(location: &Location, clouds: &Clouds) -> Arc<dyn ObjectStore> {
    match location {
        Location::Local { path } => Arc::new(twincloud_local::LocalObjectStore::new(path)),
        Location::S3 { bucket, prefix } => Arc::new(twincloud_aws::S3ObjectStore::new(
            clouds.aws().await,
            bucket,
            prefix,
        )),
        Location::Gcs { bucket, prefix } => Arc::new(twincloud_gcp::GcsObjectStore::new(
            clouds.gcp().await,
            bucket,
            prefix,
        )),
    }
}

/// The state store (records, claims, leases, audit) of a location.
pub async fn state_store(location: &Location, clouds: &Clouds) -> Arc<dyn StateStore> {
    match location {
        Location::Local { path } => Arc::new(twincloud_local::LocalStateStore::new(path)),
        Location::S3 { bucket, prefix } => Arc::new(twincloud_aws::S3StateStore::new(
            clouds.aws().await,
            bucket,
            prefix,
        )),
        Location::Gcs { bucket, prefix } => Arc::new(twincloud_gcp::GcsStateStore::new(
            clouds.gcp().await,
            bucket,
            prefix,
        )),
    }
}

/// Reads a whole file as text: a path, `s3://BUCKET/KEY` or `gs://BUCKET/OBJECT`, the latter
/// two through the same object stores (and credentials) as everything else.
pub async fn read_text(origin: &str, clouds: &Clouds) -> Result<String, RunError> {
    let location: Location = origin
        .parse()
        .map_err(|e| RunError::Config(format!("{origin}: {e}")))?;
    let (store_at, key) = match location {
        Location::Local { .. } => {
            return std::fs::read_to_string(origin)
                .map_err(|e| RunError::Config(format!("{origin}: {e}")));
        }
        Location::S3 { bucket, prefix } => (
            Location::S3 {
                bucket,
                prefix: String::new(),
            },
            prefix,
        ),
        Location::Gcs { bucket, prefix } => (
            Location::Gcs {
                bucket,
                prefix: String::new(),
            },
            prefix,
        ),
    };
    if key.is_empty() || key.ends_with('/') {
        return Err(RunError::Config(format!(
            "{origin}: names a bucket or folder, not a file (s3://BUCKET/KEY, gs://BUCKET/OBJECT)"
        )));
    }
    let store = object_store(&store_at, clouds).await;
    match store.get(&key).await {
        Ok(Some(bytes)) => String::from_utf8(bytes)
            .map_err(|_| RunError::Config(format!("{origin}: is not UTF-8 text"))),
        Ok(None) => Err(RunError::Config(format!("{origin}: no such object"))),
        Err(e) if e.retry() == twincloud_core::ports::Retry::Transient => {
            Err(RunError::Transient(format!("{origin}: {e}")))
        }
        Err(e) => Err(RunError::Config(format!("{origin}: {e}"))),
    }
}
