//! The one place where a [`Location`] becomes a store: object stores (sync pairs, exports,
//! configuration files) and the state store, each built on the cloud's one authenticated
//! context, so every request to a bucket carries the same credentials.

use std::sync::Arc;

use twincloud_core::Location;
use twincloud_core::ports::{ObjectStore, StateStore};

use crate::clouds::Clouds;
use crate::error::RunError;

/// The object store of a location.
pub async fn object_store(
    location: &Location,
    clouds: &Clouds,
) -> Result<Arc<dyn ObjectStore>, RunError> {
    Ok(match location {
        Location::Local { path } => Arc::new(twincloud_local::LocalObjectStore::new(path)),
        Location::S3 { bucket, prefix } => Arc::new(twincloud_aws::S3ObjectStore::new(
            clouds.aws().await,
            bucket,
            prefix,
        )),
        Location::Gcs { bucket, prefix } => Arc::new(twincloud_gcp::GcsObjectStore::new(
            clouds.gcp().await?,
            bucket,
            prefix,
        )),
    })
}

/// The state store (records, claims, leases, audit) of a location.
pub async fn state_store(
    location: &Location,
    clouds: &Clouds,
) -> Result<Arc<dyn StateStore>, RunError> {
    Ok(match location {
        Location::Local { path } => Arc::new(twincloud_local::LocalStateStore::new(path)),
        Location::S3 { bucket, prefix } => Arc::new(twincloud_aws::S3StateStore::new(
            clouds.aws().await,
            bucket,
            prefix,
        )),
        Location::Gcs { bucket, prefix } => Arc::new(twincloud_gcp::GcsStateStore::new(
            clouds.gcp().await?,
            bucket,
            prefix,
        )),
    })
}

/// The largest configuration file read.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Reads a whole file as text: a path, `s3://BUCKET/KEY` or `gs://BUCKET/OBJECT`, the latter
/// two through the same object stores (and credentials) as everything else.
pub async fn read_text(origin: &str, clouds: &Clouds) -> Result<String, RunError> {
    let location: Location = origin
        .parse()
        .map_err(|e| RunError::Config(format!("{origin}: {e}")))?;
    let (store_at, key) = match location {
        Location::Local { .. } => {
            let size = std::fs::metadata(origin)
                .map_err(|e| RunError::Config(format!("{origin}: {e}")))?
                .len();
            if size > MAX_CONFIG_BYTES {
                return Err(too_large(origin, size));
            }
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
    let store = object_store(&store_at, clouds).await?;
    let failed = |e: twincloud_core::ports::ObjectError| {
        if e.retry() == twincloud_core::ports::Retry::Transient {
            RunError::Transient(format!("{origin}: {e}"))
        } else {
            RunError::Config(format!("{origin}: {e}"))
        }
    };
    // A configuration is a few KiB: anything past this bound is the wrong object, and is
    // refused before it is read into memory.
    match store.head(&key).await.map_err(failed)? {
        None => return Err(RunError::Config(format!("{origin}: no such object"))),
        Some(h) if h.info.size > MAX_CONFIG_BYTES => return Err(too_large(origin, h.info.size)),
        Some(_) => {}
    }
    match store.get(&key).await.map_err(failed)? {
        Some(bytes) => String::from_utf8(bytes)
            .map_err(|_| RunError::Config(format!("{origin}: is not UTF-8 text"))),
        None => Err(RunError::Config(format!("{origin}: no such object"))),
    }
}

fn too_large(origin: &str, size: u64) -> RunError {
    RunError::Config(format!(
        "{origin}: {size} bytes is not a configuration file (at most {MAX_CONFIG_BYTES})"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_huge_configuration_is_refused_before_it_is_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("twincloud.toml");
        std::fs::write(&path, vec![b'#'; (MAX_CONFIG_BYTES + 1) as usize]).expect("write");
        let e = read_text(&path.display().to_string(), &Clouds::default())
            .await
            .expect_err("too large");
        assert!(e.to_string().contains("is not a configuration file"), "{e}");
        std::fs::write(&path, "[project]\nname = \"x\"\n").expect("write");
        let text = read_text(&path.display().to_string(), &Clouds::default())
            .await
            .expect("read");
        assert!(text.contains("[project]"));
    }
}
