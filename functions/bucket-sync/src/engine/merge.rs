//! The two listings of a run, read ahead in their own tasks (bounded), merged key by key into
//! the planner's decisions.

use futures_util::StreamExt;
use tokio::sync::mpsc;
use twincloud_core::planner::sync::{Diff, Entry, extra, pair};
use twincloud_core::ports::{ObjectError, ObjectListing};

/// Entries read ahead of the merge, per side: bounds memory whatever the bucket's size.
const READ_AHEAD: usize = 4096;

/// Which listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Source,
    Destination,
}

/// A listing read ahead by a task of its own, so that fetching the next page overlaps the
/// copies of the previous one.
struct ReadAhead {
    rx: mpsc::Receiver<Result<Entry, ObjectError>>,
    peeked: Option<Entry>,
    done: bool,
    count: u64,
    last: Option<String>,
}

impl ReadAhead {
    fn spawn(mut listing: ObjectListing) -> Self {
        let (tx, rx) = mpsc::channel(READ_AHEAD);
        tokio::spawn(async move {
            while let Some(item) = listing.next().await {
                let stop = item.is_err();
                if tx.send(item).await.is_err() || stop {
                    return;
                }
            }
        });
        ReadAhead {
            rx,
            peeked: None,
            done: false,
            count: 0,
            last: None,
        }
    }

    async fn peek(&mut self) -> Result<Option<&Entry>, ObjectError> {
        if self.peeked.is_none() && !self.done {
            match self.rx.recv().await {
                // The merge is only right on sorted listings; a store that breaks order must
                // not lead to a delete of something the source has.
                Some(Ok(e)) if self.last.as_ref().is_some_and(|l| *l >= e.key) => {
                    self.done = true;
                    return Err(ObjectError::Backend(twincloud_core::ports::PortError::new(
                        format!("the listing is out of key order at `{}`", e.key),
                        twincloud_core::ports::Retry::Permanent,
                    )));
                }
                Some(Ok(e)) => {
                    self.last = Some(e.key.clone());
                    self.peeked = Some(e);
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                None => self.done = true,
            }
        }
        Ok(self.peeked.as_ref())
    }

    fn take(&mut self) -> Option<Entry> {
        let e = self.peeked.take();
        if e.is_some() {
            self.count += 1;
        }
        e
    }
}

/// Both listings, merged.
pub(crate) struct Merge {
    source: ReadAhead,
    destination: ReadAhead,
}

impl Merge {
    pub(crate) fn new(source: ObjectListing, destination: ObjectListing) -> Self {
        Merge {
            source: ReadAhead::spawn(source),
            destination: ReadAhead::spawn(destination),
        }
    }

    /// Objects listed so far: (source, destination).
    pub(crate) fn counts(&self) -> (u64, u64) {
        (self.source.count, self.destination.count)
    }

    /// The next decision; `Ok(None)` when both listings are exhausted; an error names the
    /// listing that failed (nothing after it can be trusted).
    pub(crate) async fn next(&mut self) -> Result<Option<Diff>, (Side, ObjectError)> {
        let s = self
            .source
            .peek()
            .await
            .map_err(|e| (Side::Source, e))?
            .map(|e| e.key.clone());
        let d = self
            .destination
            .peek()
            .await
            .map_err(|e| (Side::Destination, e))?
            .map(|e| e.key.clone());
        let order = match (&s, &d) {
            (None, None) => return Ok(None),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(a), Some(b)) => a.cmp(b),
        };
        Ok(match order {
            std::cmp::Ordering::Less => self.source.take().map(Diff::New),
            std::cmp::Ordering::Greater => self.destination.take().map(extra),
            std::cmp::Ordering::Equal => match (self.source.take(), self.destination.take()) {
                (Some(a), Some(b)) => Some(pair(a, b)),
                _ => None,
            },
        })
    }
}
