//! A reconcile and object events run at the same time on the same keys, and a reconcile's two
//! listings are taken at different moments. Whatever the interleaving, once both have finished
//! the destination holds the source's current version of every key they touched and keeps
//! every object the source still has: the reconcile re-checks the source after each copy and
//! before each delete.

use twincloud_core::planner::sync::Entry;
use twincloud_core::ports::{ObjectError, Precondition, Version};

use super::Done;
use super::copy::{Ends, Outcome, with_retries};

/// After copying `src` (listed version) over `before` (the destination as listed, `None` when
/// it had nothing): if the source moved during the copy, the copy may have landed an older
/// version than the one an event already judged "the same", so the current source is copied
/// again; if the source object is gone, a copy that created the key is taken back, or a
/// deleted object would come back.
pub(super) async fn settle_after_copy(
    ends: &Ends,
    src: &Entry,
    before: Option<&Entry>,
    copied: u64,
) -> Done {
    let now = match with_retries(|| ends.source.head(&src.key)).await {
        Ok(h) => h,
        Err(e) => return Done::Failed(format!("{}: re-checking the source: {e}", src.key)),
    };
    match now {
        Some(h) if src.version.is_none() || h.info.version == src.version => Done::Copied(copied),
        Some(_) => match with_retries(|| ends.copy_current(&src.key)).await {
            Ok(Outcome::Copied(n)) => Done::Copied(n),
            Ok(Outcome::Same(_)) => Done::Copied(copied),
            Ok(Outcome::Retained) => Done::Retained,
            Ok(Outcome::SourceGone | Outcome::Deleted | Outcome::Foreign) => Done::Vanished,
            Err(e) => Done::Failed(format!("{}: {e}", src.key)),
        },
        None if before.is_none() => match take_back(ends, src).await {
            Ok(()) => Done::Vanished,
            Err(e) => Done::Failed(format!(
                "{}: taking back a copy of a deleted object: {e}",
                src.key
            )),
        },
        // The key was already in the destination: whether it goes now is the delete gate's call.
        None => Done::Copied(copied),
    }
}

/// Deletes the destination object if it is still the copy of `src` this reconcile wrote.
async fn take_back(ends: &Ends, src: &Entry) -> Result<(), ObjectError> {
    with_retries(|| async {
        let Some(d) = ends.destination.head(&src.key).await? else {
            return Ok(());
        };
        if d.info.source_version.is_none() || d.info.source_version != src.version {
            return Ok(());
        }
        let when = d
            .info
            .version
            .map_or(Precondition::None, |v| Precondition::Matches(Version(v)));
        match ends.destination.delete(&src.key, &when).await {
            Err(ObjectError::Changed(_)) => Ok(()),
            other => other,
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
