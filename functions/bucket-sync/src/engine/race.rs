//! A reconcile and object events run at the same time on the same keys, and a reconcile's two
//! listings are taken at different moments. Whatever the interleaving, once both have finished
//! the destination holds the source's current version of every key they touched and keeps
//! every object the source still has: the reconcile re-checks the source for what it copied
//! (in batches, after the copies landed) and before each delete.
//!
//! The re-check of a batch costs either one HEAD per copied key (side by side) or a re-listing
//! of the key range the batch spans, whichever costs less (a page counts as a dozen HEADs): a
//! first copy of a bucket re-lists (a page per thousand keys), a sparse change HEADs its few
//! keys.

use std::collections::HashMap;

use futures_util::StreamExt;
use twincloud_core::planner::sync::Entry;
use twincloud_core::ports::{ObjectError, Precondition, Version};

use super::SyncSummary;
use super::copy::{Ends, Outcome, with_retries};

/// Copies a batch holds before it is re-checked.
pub(super) const BATCH: usize = 1000;

/// Keys a listing page holds (S3 and GCS both answer 1000).
const PAGE: u64 = 1000;

/// What a listing page costs, in HEADs.
const LIST_PAGE_COST: u64 = 12;

/// HEADs of a re-check in flight at once.
const HEADS_IN_FLIGHT: usize = 32;

/// One copy the reconcile made, as it was made.
#[derive(Debug, Clone)]
pub(super) struct Copied {
    /// The key.
    pub key: String,
    /// The source version copied.
    pub version: Option<String>,
    /// The destination had nothing under the key before.
    pub created: bool,
    /// Source keys listed before this one (its place in the listing).
    pub position: u64,
    /// The key listed just before it (where a re-listing starts after).
    pub previous: Option<String>,
}

/// A copied key's source, now.
enum Now {
    /// There, at this version.
    Present(Option<String>),
    /// Gone.
    Gone,
}

/// What the re-check of a batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Recheck {
    /// Keys whose source moved during the copy: copied again at their current version.
    pub recopied: u64,
    /// Copies of objects deleted during the copy, taken back.
    pub taken_back: u64,
    /// Keys that could not be re-checked or repaired (the next reconcile looks again).
    pub failed: u64,
}

/// Re-checks the source for every copy of `batch`, and repairs what moved.
pub(super) async fn recheck(ends: &Ends, prefix: &str, mut batch: Vec<Copied>) -> Recheck {
    let mut out = Recheck::default();
    if batch.is_empty() {
        return out;
    }
    batch.sort_by(|a, b| a.key.cmp(&b.key));
    let span = batch[batch.len() - 1]
        .position
        .saturating_sub(batch[0].position);
    // A listing page costs about what a dozen HEADs do, in money (S3 prices a LIST like 12.5
    // GETs) and in time (a page of a thousand keys against HEADs that run side by side).
    let relist = (span / PAGE + 1) * LIST_PAGE_COST < batch.len() as u64;
    let current: HashMap<String, Now> = if relist {
        match current_versions(ends, prefix, &batch).await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("re-listing the source to re-check copies: {e}");
                out.failed += batch.len() as u64;
                return out;
            }
        }
    } else {
        let heads: Vec<(String, Result<Now, ObjectError>)> =
            futures_util::stream::iter(batch.iter().map(|c| c.key.clone()).collect::<Vec<_>>())
                .map(|key| {
                    let source = ends.source.clone();
                    async move {
                        let h = with_retries(|| source.head(&key)).await;
                        let now = h.map(|h| h.map_or(Now::Gone, |h| Now::Present(h.info.version)));
                        (key, now)
                    }
                })
                .buffer_unordered(HEADS_IN_FLIGHT)
                .collect()
                .await;
        let mut m = HashMap::with_capacity(batch.len());
        for (key, h) in heads {
            match h {
                Ok(now) => {
                    m.insert(key, now);
                }
                Err(e) => {
                    tracing::warn!(key = %key, "re-checking the source: {e}");
                    out.failed += 1;
                }
            }
        }
        m
    };
    for c in &batch {
        match current.get(&c.key) {
            // Not re-checked (the failure is counted): the next reconcile looks again.
            None => {}
            // Present with the version copied (or a store without versions): nothing moved.
            Some(Now::Present(v)) if c.version.is_none() || v == &c.version => {}
            Some(Now::Present(_)) => match with_retries(|| ends.copy_current(&c.key)).await {
                Ok(Outcome::Copied(_)) => out.recopied += 1,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(key = %c.key, "copying the current version again: {e}");
                    out.failed += 1;
                }
            },
            Some(Now::Gone) => settle_gone(ends, c, &mut out).await,
        }
    }
    out
}

/// The copy's source is gone: a copy that created the key is taken back (or a deleted object
/// would come back); one over an existing object is the delete gate's call.
async fn settle_gone(ends: &Ends, c: &Copied, out: &mut Recheck) {
    if !c.created {
        return;
    }
    match take_back(ends, c).await {
        Ok(true) => out.taken_back += 1,
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(key = %c.key, "taking back a copy of a deleted object: {e}");
            out.failed += 1;
        }
    }
}

/// The source's current version of each key of `batch` (sorted), from one re-listing of the
/// range the batch spans.
async fn current_versions(
    ends: &Ends,
    prefix: &str,
    batch: &[Copied],
) -> Result<HashMap<String, Now>, ObjectError> {
    let last = &batch[batch.len() - 1].key;
    let wanted: std::collections::HashSet<&str> = batch.iter().map(|c| c.key.as_str()).collect();
    let mut listing = ends.source.list(prefix, batch[0].previous.as_deref());
    let mut out: HashMap<String, Now> = batch.iter().map(|c| (c.key.clone(), Now::Gone)).collect();
    while let Some(entry) = listing.next().await {
        let entry: Entry = entry?;
        if entry.key > *last {
            break;
        }
        if wanted.contains(entry.key.as_str()) {
            out.insert(entry.key, Now::Present(entry.version));
        }
    }
    Ok(out)
}

/// Deletes the destination object if it is still the copy of `c` this reconcile wrote;
/// whether it did.
async fn take_back(ends: &Ends, c: &Copied) -> Result<bool, ObjectError> {
    with_retries(|| async {
        // The source may have come back meanwhile: then the copy stands.
        if ends.source.head(&c.key).await?.is_some() {
            return Ok(false);
        }
        let Some(d) = ends.destination.head(&c.key).await? else {
            return Ok(false);
        };
        if d.info.source_version.is_none() || d.info.source_version != c.version {
            return Ok(false);
        }
        let when = d
            .info
            .version
            .map_or(Precondition::None, |v| Precondition::Matches(Version(v)));
        match ends.destination.delete(&c.key, &when).await {
            Err(ObjectError::Changed(_)) => Ok(false),
            other => other.map(|()| true),
        }
    })
    .await
}

/// Whether the source has `key` now: a destination object that the listings call an extra may
/// have been created (and copied by its event) between the two listings.
pub(super) async fn source_has(ends: &Ends, key: &str) -> Result<bool, ObjectError> {
    with_retries(|| ends.source.head(key))
        .await
        .map(|h| h.is_some())
}
impl Recheck {
    /// Adds what re-checking the copies found to `summary`.
    pub(super) fn into_summary(self, summary: &mut SyncSummary) {
        summary.repaired += self.recopied + self.taken_back;
        if self.failed > 0 {
            summary.failed += self.failed;
            summary.note(format!(
                "{} copied object(s) could not be re-checked against the source; the next reconcile looks again",
                self.failed
            ));
        }
    }
}
