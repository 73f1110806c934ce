//! What a backup set keeps between runs (`backup/<set>`): what it started and follows, what
//! waits, its logical dumps and the newest good backup of each database in each place.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::planner::backup::{PendingSnapshot, QueuedCopy};
use crate::records::lease::{Lease, Leased};

/// The state key of backup set `set`'s record.
pub fn record_key(set: &str) -> String {
    format!("backup/{set}")
}

/// What a set's record keeps between invocations.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BackupRecord {
    /// The run working on the set, until when.
    #[serde(flatten)]
    pub lease: Lease,
    /// Snapshots started and not yet seen finish.
    #[serde(default)]
    pub pending: Vec<PendingSnapshot>,
    /// Copies waiting for a free slot.
    #[serde(default)]
    pub queue: Vec<QueuedCopy>,
    /// Snapshots that could not start (the manual-snapshot quota was full), tried again by the
    /// next run for a day.
    #[serde(default)]
    pub deferred: Vec<PendingSnapshot>,
    /// The problems the last run told people about (by state), so that a follow-up run finding
    /// the same ones stays quiet.
    #[serde(default)]
    pub told: Vec<String>,
    /// Exports started and not yet seen finish.
    #[serde(default)]
    pub exports: Vec<PendingExport>,
    /// What the last run did.
    #[serde(default)]
    pub last: Option<RunSummary>,
    /// Logical dumps (engine `postgres`), by database.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dumps: BTreeMap<String, DumpRecord>,
    /// The newest good backup of each database in each place, as the last run saw them: what
    /// the operations page shows.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub newest: BTreeMap<String, Vec<GoodBackup>>,
}

/// The newest good backup of one database in one place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoodBackup {
    /// `primary` (the database's region), the disaster-recovery region, or a dump destination.
    pub place: String,
    /// Snapshot id or dump stem.
    pub id: String,
    /// When it was taken.
    pub at: DateTime<Utc>,
}

/// What a set's record keeps of one database's logical dumps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DumpRecord {
    /// The newest complete dump's stem.
    #[serde(default)]
    pub last_dump: Option<String>,
    /// When a restore last matched its manifest.
    #[serde(default)]
    pub last_verified: Option<DateTime<Utc>>,
    /// The dump it verified.
    #[serde(default)]
    pub verified_stem: Option<String>,
    /// Why the last verification failed, until one succeeds.
    #[serde(default)]
    pub verify_failure: Option<String>,
}

impl Leased for BackupRecord {
    fn lease(&mut self) -> &mut Lease {
        &mut self.lease
    }
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Snapshots started.
    pub started: u32,
    /// Snapshots (and exports) that finished well.
    pub made: u32,
    /// Copies started to the disaster-recovery region.
    pub copied: u32,
    /// Snapshots and exports deleted by retention.
    pub pruned: u32,
    /// Copies waiting for a later run.
    pub queued: u32,
    /// Problems (failed, missed, refused).
    pub failed: u32,
    /// Dumps verified by a restore.
    #[serde(default)]
    pub verified: u32,
}

/// An export a run wants or has started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingExport {
    /// Instance.
    pub database: String,
    /// Object key under the export location.
    pub key: String,
    /// The provider's operation, once started.
    pub operation: Option<String>,
    /// When it was asked for.
    pub since: DateTime<Utc>,
}
