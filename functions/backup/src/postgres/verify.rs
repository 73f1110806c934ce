//! Restores of a dump: streamed from a store into `pg_restore`, the SHA-256 checked against the
//! manifest on the way, then every table's rows and checksum compared with what the dump's
//! snapshot held. The verification of the backup function and `twincloud restore postgres`
//! both go through here.

use std::time::Instant;

use sha2::Digest;
use twincloud_core::planner::dumps::{self, DumpManifest, DumpPart, MANIFEST_FORMAT};
use twincloud_core::ports::{ObjectError, ObjectStore, PortError};
use twincloud_postgres::{PgConn, RestoreProcess};

use super::dump::hex;

fn object(key: &str, e: ObjectError) -> PortError {
    match e {
        ObjectError::Backend(p) => p,
        ObjectError::NotFound(_) => PortError::permanent(format!("`{key}` does not exist")),
        other => {
            let retry = other.retry();
            PortError::new(other.to_string(), retry)
        }
    }
}

/// The largest manifest read (a database of many thousand tables stays far below).
const MAX_MANIFEST: u64 = 64 << 20;

/// Reads and checks the manifest of the dump `stem`.
pub async fn read_manifest(store: &dyn ObjectStore, stem: &str) -> Result<DumpManifest, PortError> {
    let key = dumps::key(stem, DumpPart::Manifest);
    let head = store
        .head(&key)
        .await
        .map_err(|e| object(&key, e))?
        .ok_or_else(|| {
            PortError::permanent(format!(
                "{}: `{key}` does not exist: the dump is incomplete or not twincloud's",
                store.describe()
            ))
        })?;
    if head.info.size > MAX_MANIFEST {
        return Err(PortError::permanent(format!(
            "`{key}` is {} bytes, more than a manifest can be",
            head.info.size
        )));
    }
    let body = store
        .read(&key, 0..head.info.size, head.info.version.as_deref())
        .await
        .map_err(|e| object(&key, e))?;
    let m: DumpManifest = serde_json::from_slice(&body)
        .map_err(|e| PortError::permanent(format!("`{key}` is not a dump manifest: {e}")))?;
    if m.format != MANIFEST_FORMAT {
        return Err(PortError::permanent(format!(
            "`{key}` has manifest format {}, this version reads {MANIFEST_FORMAT}",
            m.format
        )));
    }
    Ok(m)
}

/// Reads the whole dump once and checks its size and SHA-256 against the manifest.
pub async fn check_digest(
    store: &dyn ObjectStore,
    stem: &str,
    manifest: &DumpManifest,
) -> Result<(), PortError> {
    stream(store, stem, manifest, None).await
}

/// What a restore showed.
#[derive(Debug, Clone)]
pub struct Restored {
    /// Seconds from the first byte to `pg_restore`'s end.
    pub restore_secs: f64,
    /// Differences with the manifest; empty when the restore matches.
    pub differences: Vec<String>,
    /// Tables compared.
    pub tables: usize,
    /// Rows compared.
    pub rows: u64,
}

/// Restores the dump `stem` from `store` into `target` (an empty database) and compares it with
/// `manifest`.
pub async fn restore_into(
    store: &dyn ObjectStore,
    stem: &str,
    manifest: &DumpManifest,
    target: &PgConn,
) -> Result<Restored, PortError> {
    let started = Instant::now();
    let mut process = target.restore().map_err(PortError::from)?;
    match stream(store, stem, manifest, Some(&mut process)).await {
        Ok(()) => process.finish().await.map_err(PortError::from)?,
        Err(e) => {
            process.kill().await;
            return Err(e);
        }
    }
    let restore_secs = started.elapsed().as_secs_f64();
    let stats = target.table_stats(None).await.map_err(PortError::from)?;
    Ok(Restored {
        restore_secs,
        differences: dumps::compare(&manifest.tables, &stats),
        tables: manifest.tables.len(),
        rows: manifest.rows(),
    })
}

/// Reads the dump part by part, pinned to one version, reading the next part while `into`
/// takes the previous one, and checks size and SHA-256 at the end (a mismatch is an error
/// after the last part: `pg_restore` must then be stopped before it commits anything more).
async fn stream(
    store: &dyn ObjectStore,
    stem: &str,
    manifest: &DumpManifest,
    mut into: Option<&mut RestoreProcess>,
) -> Result<(), PortError> {
    let key = dumps::key(stem, DumpPart::Dump);
    let head = store
        .head(&key)
        .await
        .map_err(|e| object(&key, e))?
        .ok_or_else(|| {
            PortError::permanent(format!("{}: `{key}` does not exist", store.describe()))
        })?;
    let size = head.info.size;
    if size != manifest.size {
        return Err(PortError::permanent(format!(
            "{}: `{key}` is {size} bytes, its manifest says {}",
            store.describe(),
            manifest.size
        )));
    }
    let part = store.part_size().max(1);
    let version = head.info.version.as_deref();
    let mut sha = sha2::Sha256::new();
    let mut offset = 0;
    let mut taken: Option<Vec<u8>> = None;
    loop {
        let range = (offset < size).then(|| offset..(offset + part).min(size));
        let read = async {
            match range {
                Some(r) => store
                    .read(&key, r, version)
                    .await
                    .map(Some)
                    .map_err(|e| object(&key, e)),
                None => Ok(None),
            }
        };
        let hand = async {
            match (taken.take(), into.as_deref_mut()) {
                (Some(chunk), Some(r)) => r.write(&chunk).await.map_err(PortError::from),
                _ => Ok(()),
            }
        };
        let (next, ()) = futures_util::future::try_join(read, hand).await?;
        match next {
            Some(chunk) => {
                offset += chunk.len() as u64;
                sha.update(&chunk);
                taken = Some(chunk);
            }
            None => break,
        }
    }
    let got = hex(&sha.finalize());
    if got != manifest.sha256 {
        return Err(PortError::permanent(format!(
            "{}: `{key}` has SHA-256 {got}, its manifest says {}: the dump is corrupt",
            store.describe(),
            manifest.sha256
        )));
    }
    Ok(())
}
