//! Copying one object: pinned to the source version that was compared, verified against the
//! source's digest, written with its headers and the digests for the next comparison, and
//! conditional on the destination still being what was compared, so that of two copies racing
//! for one key the one that read the newer source wins.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use twincloud_core::digest::ContentDigest;
use twincloud_core::planner::sync::{Comparison, Entry, judge};
use twincloud_core::ports::{
    ObjectError, ObjectHead, ObjectStore, Precondition, PutRequest, Retry, Version,
};

/// Both ends of a copy and what bounds it.
#[derive(Clone)]
pub(crate) struct Ends {
    pub(crate) source: Arc<dyn ObjectStore>,
    pub(crate) destination: Arc<dyn ObjectStore>,
    /// Bytes held in memory at once, in KiB permits.
    pub(crate) memory: Arc<Semaphore>,
    /// The whole budget, in KiB.
    pub(crate) budget_kib: u32,
}

/// What became of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Copied; the bytes.
    Copied(u64),
    /// Already the same, and how that was seen.
    Same(Comparison),
    /// Not in the source (any more): nothing to copy.
    SourceGone,
    /// Not in the source, and deleted from the destination.
    Deleted,
    /// The destination object is under retention or a hold: left alone.
    Retained,
    /// The destination object was not written by twincloud (it records no source version):
    /// an event does not delete it.
    Foreign,
    /// A dry run: nothing was read or written.
    Rehearsed,
}

fn precondition(dst: Option<&Entry>) -> Precondition {
    match dst.and_then(|d| d.version.clone()) {
        Some(v) => Precondition::Matches(Version(v)),
        None if dst.is_some() => Precondition::None,
        None => Precondition::Absent,
    }
}

impl Ends {
    /// The two ends of a single-key sync (an object event), with a 64 MiB memory budget.
    pub(crate) fn for_one_key(
        source: Arc<dyn ObjectStore>,
        destination: Arc<dyn ObjectStore>,
    ) -> Ends {
        Ends {
            source,
            destination,
            memory: Arc::new(Semaphore::new(64 * 1024)),
            budget_kib: 64 * 1024,
        }
    }

    /// Waits until `bytes` more may be held in memory (a part larger than the whole budget
    /// waits for all of it).
    async fn hold(&self, bytes: u64) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let kib = u32::try_from(bytes.div_ceil(1024).max(1)).unwrap_or(u32::MAX);
        // The semaphore is never closed, so this only ends in a permit.
        self.memory
            .clone()
            .acquire_many_owned(kib.min(self.budget_kib))
            .await
            .ok()
    }

    /// Copies `src` over `dst` (absent when `None`), as listed. [`ObjectError::Changed`] means
    /// either side moved since the listing: the caller re-evaluates.
    pub(crate) async fn copy(&self, src: &Entry, dst: Option<&Entry>) -> Result<u64, ObjectError> {
        let when = precondition(dst);
        if src.size <= self.destination.part_size() {
            self.copy_small(src, when).await
        } else {
            self.copy_large(src, when).await
        }
    }

    async fn copy_small(&self, src: &Entry, when: Precondition) -> Result<u64, ObjectError> {
        let _permit = self.hold(src.size).await;
        let (head, body) = match &src.meta {
            // The listing brought the headers: one read.
            Some(meta) => {
                let body = self
                    .source
                    .read(&src.key, 0..src.size, src.version.as_deref())
                    .await?;
                let head = ObjectHead {
                    info: Entry {
                        meta: None,
                        ..src.clone()
                    },
                    meta: (**meta).clone(),
                };
                (head, body)
            }
            None => self.source.fetch(&src.key, src.version.as_deref()).await?,
        };
        let (md5, crc32c) = ContentDigest::of(&body);
        check_digest(&src.key, &head, src, &md5)?;
        let req = PutRequest {
            key: src.key.clone(),
            size: Some(body.len() as u64),
            meta: head.meta,
            md5: Some(md5),
            crc32c: Some(crc32c),
            source_version: head.info.version.or_else(|| src.version.clone()),
            when,
        };
        let n = body.len() as u64;
        self.destination.put(&req, body).await?;
        Ok(n)
    }

    async fn copy_large(&self, src: &Entry, when: Precondition) -> Result<u64, ObjectError> {
        // `stat`: a directory source is hashed below as it is read, not once more up front.
        let head = self
            .source
            .stat(&src.key)
            .await?
            .ok_or_else(|| ObjectError::NotFound(src.key.clone()))?;
        let version = src.version.clone().or(head.info.version.clone());
        if src.version.is_some() && head.info.version != src.version {
            return Err(ObjectError::Changed(src.key.clone()));
        }
        let part = self.destination.part_size();
        let expected = match head.info.md5.clone().or(src.md5.clone()) {
            Some(m) => Some(m),
            // No stored digest (a multipart S3 source, a directory) and a destination that
            // keeps the MD5 from the start (S3): compute it first, so that it is stored and
            // later comparisons cost nothing. GCS and directories take it at the end, so the
            // source is read once.
            None if self.destination.needs_md5_up_front() => {
                Some(self.digest_of(src, version.as_deref(), part).await?.0)
            }
            None => None,
        };
        let req = PutRequest {
            key: src.key.clone(),
            size: Some(src.size),
            meta: head.meta.clone(),
            md5: expected.clone(),
            crc32c: head.info.crc32c.clone(),
            source_version: version.clone(),
            when,
        };
        let mut upload = self.destination.begin_upload(&req).await?;
        let mut digest = ContentDigest::new();
        let mut offset = 0;
        while offset < src.size {
            let end = (offset + part).min(src.size);
            let permit = self.hold(end - offset).await;
            let chunk = match self
                .source
                .read(&src.key, offset..end, version.as_deref())
                .await
            {
                Ok(c) => c,
                Err(e) => {
                    upload.abort().await;
                    return Err(e);
                }
            };
            digest.update(&chunk);
            if let Err(e) = upload.write(chunk).await {
                upload.abort().await;
                return Err(e);
            }
            drop(permit);
            offset = end;
        }
        let (md5, _) = digest.finish();
        if let Some(expected) = &expected
            && !md5.eq_ignore_ascii_case(expected)
        {
            upload.abort().await;
            return Err(ObjectError::Corrupt {
                key: src.key.clone(),
                detail: format!("read MD5 {md5}, source says {expected}"),
            });
        }
        upload.finish(&md5).await?;
        Ok(src.size)
    }

    /// Reads a source object through to compute its digests, part by part.
    async fn digest_of(
        &self,
        src: &Entry,
        version: Option<&str>,
        part: u64,
    ) -> Result<(String, String), ObjectError> {
        let mut digest = ContentDigest::new();
        let mut offset = 0;
        while offset < src.size {
            let end = (offset + part).min(src.size);
            let _permit = self.hold(end - offset).await;
            digest.update(&self.source.read(&src.key, offset..end, version).await?);
            offset = end;
        }
        Ok(digest.finish())
    }

    /// Copies the current source object under `key` if the destination differs, re-evaluating
    /// whenever either side moves meanwhile: the result reflects the newest source version.
    pub(crate) async fn copy_current(&self, key: &str) -> Result<Outcome, ObjectError> {
        let mut lost_races = 0;
        loop {
            let Some(src) = self.source.head(key).await? else {
                return Ok(Outcome::SourceGone);
            };
            let dst = self.destination.head(key).await?;
            if let Some(d) = &dst {
                if let Some((true, by)) = judge(&src.info, &d.info) {
                    return Ok(Outcome::Same(by));
                }
                if d.info.retained {
                    return Ok(Outcome::Retained);
                }
            }
            match self.copy(&src.info, dst.as_ref().map(|d| &d.info)).await {
                Ok(n) => return Ok(Outcome::Copied(n)),
                Err(ObjectError::Changed(_)) | Err(ObjectError::NotFound(_)) if lost_races < 8 => {
                    lost_races += 1;
                    tokio::time::sleep(Duration::from_millis(20 * lost_races)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

fn check_digest(
    key: &str,
    head: &ObjectHead,
    listed: &Entry,
    md5: &str,
) -> Result<(), ObjectError> {
    let want = head.info.md5.as_deref().or(listed.md5.as_deref());
    match want {
        Some(w) if !w.eq_ignore_ascii_case(md5) => Err(ObjectError::Corrupt {
            key: key.into(),
            detail: format!("read MD5 {md5}, source says {w}"),
        }),
        _ => Ok(()),
    }
}

/// Runs `attempt` until it succeeds or fails for good: transient failures (throttling, 5xx,
/// dropped connections, a corrupted transfer) are retried with backoff.
pub(crate) async fn with_retries<T, F, Fut>(mut attempt: F) -> Result<T, ObjectError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ObjectError>>,
{
    let mut tries = 0u32;
    loop {
        match attempt().await {
            Err(e) if e.retry() == Retry::Transient && tries < 4 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(100 << tries.min(5))).await;
            }
            other => return other,
        }
    }
}
