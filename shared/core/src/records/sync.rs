//! What bucket sync keeps per partition of a pair, and what one pass did.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::SyncPair;
use crate::ids::key_segment;
use crate::records::lease::{Lease, Leased};

/// At most this many error messages are kept in a summary; the count is exact.
pub const KEPT_ERRORS: usize = 100;

/// What a sync run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncSummary {
    /// Objects copied (or that would be, in a dry run).
    pub copied: u64,
    /// Copies redone at the source's current version, or taken back, because the source
    /// moved (an event's write, a delete) while they were made.
    #[serde(default)]
    pub repaired: u64,
    /// Bytes copied.
    pub bytes: u64,
    /// Objects already the same.
    pub skipped: u64,
    /// Of the compared objects, how many could only be compared by size.
    pub size_only: u64,
    /// Objects deleted from the destination (or that would be).
    pub deleted: u64,
    /// Destination objects under retention or a hold, left alone.
    pub retained: u64,
    /// Objects that could not be copied or deleted.
    pub failed: u64,
    /// Why, for the first failures.
    pub errors: Vec<String>,
    /// Why deletes were not made, when there were candidates and they were not.
    pub deletes_refused: Option<String>,
    /// Objects listed: source, destination.
    pub listed: (u64, u64),
    /// Requests made to both stores.
    pub requests: u64,
    /// Whether the whole range was covered; if not, resume after [`SyncSummary::cursor`].
    pub complete: bool,
    /// The last key covered, when the run stopped at its deadline.
    pub cursor: Option<String>,
    /// Whether anything was changed.
    pub dry_run: bool,
    /// A store that could not be listed for a reason no retry fixes (a bucket or directory
    /// that does not exist, access refused), named: the pass did nothing, and it is a matter
    /// of configuration, not of objects failing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable: Option<String>,
}

impl SyncSummary {
    /// Counts one failed object and keeps why (the first [`KEPT_ERRORS`] reasons).
    pub fn fail(&mut self, what: String) {
        self.failed += 1;
        self.note(what);
    }

    /// Keeps a reason, while fewer than [`KEPT_ERRORS`] are kept.
    pub fn note(&mut self, what: String) {
        if self.errors.len() < KEPT_ERRORS {
            self.errors.push(what);
        }
    }
}

/// What one partition's record keeps between invocations (`sync/<pair>/<partition>`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UnitRecord {
    /// Resume after this key; `None` when the last pass finished.
    pub cursor: Option<String>,
    /// Who holds the partition, until when.
    #[serde(flatten)]
    pub lease: Lease,
    /// When the last complete pass finished.
    pub finished: Option<DateTime<Utc>>,
    /// What the last invocation on it did.
    pub last: Option<SyncSummary>,
}

impl Leased for UnitRecord {
    fn lease(&mut self) -> &mut Lease {
        &mut self.lease
    }
}

/// Where the record of `pair`'s partition `partition` (empty: the whole pair) is kept.
pub fn unit_key(pair: &SyncPair, partition: &str) -> String {
    let part = if partition.is_empty() {
        "all".to_owned()
    } else {
        key_segment(partition)
    };
    format!("sync/{}/{part}", key_segment(&pair.name))
}
