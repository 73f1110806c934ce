//! The sync engine's first version: lists both sides, diffs them with the pure planner, copies
//! new and changed objects concurrently, then deletes extras only if the delete gate allows.
//! Objects move whole (memory is bounded by the largest object, not by the bucket); streaming,
//! multipart and resumable cursors are the next steps of the bucket-sync capability.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::StreamExt;
use serde::Serialize;
use twincloud_core::Location;
use twincloud_core::planner::sync::{
    Comparison, DeleteGate, DeletePolicy, Diff, Entry, ListingEnd, delete_gate, diff,
};
use twincloud_core::ports::{ObjectInfo, ObjectStore};

use crate::error::RunError;
use crate::services::Clouds;

/// Builds the object store of a location.
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

/// Options of one sync run.
#[derive(Debug, Clone, Copy)]
pub struct SyncOptions {
    /// Copies in flight at once.
    pub concurrency: usize,
    /// Delete policy (off by default).
    pub deletes: DeletePolicy,
    /// List what would change; change nothing.
    pub dry_run: bool,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            concurrency: 32,
            deletes: DeletePolicy {
                enabled: false,
                max_count: 1000,
                max_fraction: 0.1,
            },
            dry_run: false,
        }
    }
}

/// What a sync run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncSummary {
    /// Objects copied (or that would be, in a dry run).
    pub copied: u64,
    /// Bytes copied.
    pub bytes: u64,
    /// Objects already the same.
    pub skipped: u64,
    /// Of the compared objects, how many could only be compared by size.
    pub size_only: u64,
    /// Objects deleted from the destination.
    pub deleted: u64,
    /// Copies or deletes that failed, with why.
    pub failed: Vec<String>,
    /// Why deletes were not made, when they were not.
    pub deletes_refused: Option<String>,
    /// Whether anything was changed.
    pub dry_run: bool,
}

fn entry(i: ObjectInfo) -> Entry {
    Entry {
        key: i.key,
        size: i.size,
        md5: i.md5,
        crc32c: None,
    }
}

/// Syncs `source` to `destination`.
pub async fn sync(
    source: Arc<dyn ObjectStore>,
    destination: Arc<dyn ObjectStore>,
    opts: SyncOptions,
) -> Result<SyncSummary, RunError> {
    // A failed source listing stops the run before anything changes.
    let src = source.list("").await?;
    let dst = destination.list("").await?;
    let (src_count, dst_count) = (src.len() as u64, dst.len() as u64);
    let mut summary = SyncSummary {
        dry_run: opts.dry_run,
        ..Default::default()
    };
    let mut copies = Vec::new();
    let mut extras = Vec::new();
    for d in diff(src.into_iter().map(entry), dst.into_iter().map(entry)) {
        match d {
            Diff::New(e) => copies.push(e),
            Diff::Changed { source, by } => {
                if by == Comparison::SizeOnly {
                    summary.size_only += 1;
                }
                copies.push(source);
            }
            Diff::Same { by, .. } => {
                summary.skipped += 1;
                if by == Comparison::SizeOnly {
                    summary.size_only += 1;
                }
            }
            Diff::Extra(e) => extras.push(e.key),
        }
    }
    let bytes = Arc::new(AtomicU64::new(0));
    let failures: Vec<String> = if opts.dry_run {
        summary.copied = copies.len() as u64;
        summary.bytes = copies.iter().map(|c| c.size).sum();
        vec![]
    } else {
        let results: Vec<Result<(), String>> = futures_util::stream::iter(copies.iter().cloned())
            .map(|e| {
                let (source, destination, bytes) =
                    (source.clone(), destination.clone(), bytes.clone());
                async move {
                    let body = source
                        .get(&e.key)
                        .await
                        .map_err(|x| format!("{}: {}", e.key, x.message))?;
                    let Some(body) = body else {
                        return Err(format!(
                            "{}: vanished from the source during the run",
                            e.key
                        ));
                    };
                    destination
                        .put(&e.key, &body)
                        .await
                        .map_err(|x| format!("{}: {}", e.key, x.message))?;
                    bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                    Ok(())
                }
            })
            .buffer_unordered(opts.concurrency.max(1))
            .collect()
            .await;
        summary.copied = results.iter().filter(|r| r.is_ok()).count() as u64;
        summary.bytes = bytes.load(Ordering::Relaxed);
        results.into_iter().filter_map(Result::err).collect()
    };
    summary.failed = failures;
    match delete_gate(
        &opts.deletes,
        &ListingEnd::Complete,
        src_count,
        &ListingEnd::Complete,
        dst_count,
        summary.failed.len() as u64,
        extras.len() as u64,
    ) {
        DeleteGate::Refuse(why) => summary.deletes_refused = Some(why),
        DeleteGate::Allow if opts.dry_run => summary.deleted = extras.len() as u64,
        DeleteGate::Allow => {
            for key in extras {
                match destination.delete(&key).await {
                    Ok(()) => summary.deleted += 1,
                    Err(e) => summary.failed.push(format!("delete {key}: {}", e.message)),
                }
            }
        }
    }
    Ok(summary)
}
