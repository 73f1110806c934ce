//! Logical dumps of PostgreSQL databases (`engine = "postgres"`): how they are named, what a
//! manifest says, which ones retention lets go, when the newest is verified by a restore and
//! what a verification compares. Pure: the backup function lists, dumps and restores.
//!
//! Every destination holds, per set and database, `SET/DB/STAMP.dump` (the `pg_dump` custom
//! format), `STAMP.manifest.json` written after the dump is complete (a dump without one is not
//! a backup), and `STAMP.verified.json` once a restore of it matched the manifest. `STAMP` is
//! the schedule's time (`20261203T030000Z`), so a redelivered schedule makes no second dump.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use super::backup::BackupProblem;
use super::retention::{RetentionPolicy, Verdict, retention};
use crate::ports::{Snapshot, SnapshotStatus};

/// The manifest format this version writes and reads.
pub const MANIFEST_FORMAT: u32 = 1;
/// The pseudo-table under which large objects are counted.
pub const LARGE_OBJECTS: &str = "(large objects)";
/// A dump without a manifest this much older than now is a leftover of a run that died
/// between the two writes, and goes.
pub const ORPHAN_HOURS: i64 = 24;

/// Rows of one table (or of the large objects) and an order-independent checksum of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableStat {
    /// `schema.table`, quoted as PostgreSQL quotes identifiers.
    pub table: String,
    /// Rows.
    pub rows: u64,
    /// Sum of a 64-bit hash of every row's text (decimal).
    pub checksum: String,
}

/// What is known of one dump, written beside it when it is complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DumpManifest {
    /// [`MANIFEST_FORMAT`].
    pub format: u32,
    /// Backup set.
    pub set: String,
    /// Database dumped.
    pub database: String,
    /// The schedule's time, which names the dump.
    pub taken_at: DateTime<Utc>,
    /// When the dump was complete.
    pub finished_at: DateTime<Utc>,
    /// The server's `server_version`.
    pub server_version: String,
    /// `pg_dump --version`.
    pub pg_dump_version: String,
    /// Bytes of the dump.
    pub size: u64,
    /// Hex SHA-256 of the dump.
    pub sha256: String,
    /// Hex MD5 of the dump (what the stores verified on upload).
    pub md5: String,
    /// Every table's rows and checksum in the dump's snapshot, plus [`LARGE_OBJECTS`].
    pub tables: Vec<TableStat>,
}

impl DumpManifest {
    /// Rows in all tables.
    pub fn rows(&self) -> u64 {
        self.tables
            .iter()
            .filter(|t| t.table != LARGE_OBJECTS)
            .map(|t| t.rows)
            .sum()
    }
}

/// A successful verification, written beside the dump.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    /// The dump's stem.
    pub stem: String,
    /// When the restore matched.
    pub verified_at: DateTime<Utc>,
    /// Tables compared.
    pub tables: usize,
    /// Rows compared.
    pub rows: u64,
    /// Seconds the restore took.
    pub restore_secs: f64,
}

/// What an object key of a set's database is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpPart {
    /// The dump itself.
    Dump,
    /// Its manifest.
    Manifest,
    /// Its verification.
    Verified,
}

impl DumpPart {
    fn suffix(self) -> &'static str {
        match self {
            DumpPart::Dump => ".dump",
            DumpPart::Manifest => ".manifest.json",
            DumpPart::Verified => ".verified.json",
        }
    }
}

const STAMP: &str = "%Y%m%dT%H%M%SZ";

/// The folder of a set's database: `SET/DB/`.
pub fn folder(set: &str, database: &str) -> String {
    format!("{set}/{database}/")
}

/// The stem of a dump taken at `taken_at`: `SET/DB/STAMP`.
pub fn stem(set: &str, database: &str, taken_at: DateTime<Utc>) -> String {
    format!("{}{}", folder(set, database), taken_at.format(STAMP))
}

/// The key of one part of the dump `stem`.
pub fn key(stem: &str, part: DumpPart) -> String {
    format!("{stem}{}", part.suffix())
}

/// Reads a key of `folder`: its stem, time and part; `None` for anything twincloud did not
/// name (left alone).
pub fn parse_key(folder: &str, key: &str) -> Option<(String, DateTime<Utc>, DumpPart)> {
    let rest = key.strip_prefix(folder)?;
    [DumpPart::Manifest, DumpPart::Verified, DumpPart::Dump]
        .into_iter()
        .find_map(|part| {
            let stamp = rest.strip_suffix(part.suffix())?;
            let t = NaiveDateTime::parse_from_str(stamp, STAMP).ok()?.and_utc();
            Some((format!("{folder}{stamp}"), t, part))
        })
}

/// What one destination holds of one dump.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListedDump {
    /// `SET/DB/STAMP`.
    pub stem: String,
    /// From the stamp.
    pub taken_at: Option<DateTime<Utc>>,
    /// The dump object is there.
    pub dump: bool,
    /// Its manifest is there: the dump is complete.
    pub manifest: bool,
    /// Its verification is there.
    pub verified: bool,
}

impl ListedDump {
    /// A complete dump.
    pub fn good(&self) -> bool {
        self.dump && self.manifest
    }
}

/// Groups the keys of one folder into dumps, oldest first.
pub fn group(folder: &str, keys: impl IntoIterator<Item = String>) -> Vec<ListedDump> {
    let mut by_stem: BTreeMap<String, ListedDump> = BTreeMap::new();
    for k in keys {
        let Some((stem, t, part)) = parse_key(folder, &k) else {
            continue;
        };
        let d = by_stem.entry(stem.clone()).or_insert_with(|| ListedDump {
            stem,
            taken_at: Some(t),
            ..ListedDump::default()
        });
        match part {
            DumpPart::Dump => d.dump = true,
            DumpPart::Manifest => d.manifest = true,
            DumpPart::Verified => d.verified = true,
        }
    }
    by_stem.into_values().collect()
}

/// The keys retention deletes from one destination: complete dumps past `policy` (never the
/// newest, never fewer than `keep_min`), with their manifests and verifications; dumps left
/// without a manifest for a day; manifests and verifications whose dump is gone.
pub fn prune(dumps: &[ListedDump], policy: &RetentionPolicy, now: DateTime<Utc>) -> Vec<String> {
    let as_snapshots: Vec<Snapshot> = dumps
        .iter()
        .filter(|d| d.good())
        .filter_map(|d| {
            Some(Snapshot {
                id: d.stem.clone(),
                database: String::new(),
                created: d.taken_at?.to_rfc3339(),
                status: SnapshotStatus::Available,
                managed: true,
                arn: None,
                cluster: false,
            })
        })
        .collect();
    let mut keys = vec![];
    let all =
        |stem: &str| [DumpPart::Dump, DumpPart::Manifest, DumpPart::Verified].map(|p| key(stem, p));
    for v in retention(&as_snapshots, policy, now) {
        if let Verdict::Prune { id } = v {
            keys.extend(all(&id));
        }
    }
    let orphan_before = now - chrono::Duration::hours(ORPHAN_HOURS);
    for d in dumps.iter().filter(|d| !d.good()) {
        if d.taken_at.is_some_and(|t| t < orphan_before) {
            keys.extend(all(&d.stem));
        }
    }
    keys
}

/// Whether the newest complete dump should be restored now: it is not verified yet and no
/// dump was verified within `every_days` (or the run was asked to).
pub fn verification_due(
    newest: Option<&ListedDump>,
    last_verified: Option<DateTime<Utc>>,
    every_days: u32,
    asked: bool,
    now: DateTime<Utc>,
) -> bool {
    let Some(newest) = newest.filter(|d| d.good()) else {
        return false;
    };
    if newest.verified {
        return false;
    }
    asked || last_verified.is_none_or(|t| now - t >= chrono::Duration::days(i64::from(every_days)))
}

/// Differences between what the dump's snapshot held and what its restore holds: missing,
/// extra, different row counts, different checksums. Empty when the restore matches.
pub fn compare(expected: &[TableStat], restored: &[TableStat]) -> Vec<String> {
    let got: BTreeMap<&str, &TableStat> = restored.iter().map(|t| (t.table.as_str(), t)).collect();
    let want: BTreeMap<&str, &TableStat> = expected.iter().map(|t| (t.table.as_str(), t)).collect();
    let mut out = vec![];
    for (name, w) in &want {
        match got.get(name) {
            None if w.rows == 0 && *name == LARGE_OBJECTS => {}
            None => out.push(format!("{name}: missing from the restore")),
            Some(g) if g.rows != w.rows => out.push(format!(
                "{name}: {} rows restored, {} in the dump's snapshot",
                g.rows, w.rows
            )),
            Some(g) if g.checksum != w.checksum => out.push(format!(
                "{name}: same {} rows but different content (checksum {} against {})",
                w.rows, g.checksum, w.checksum
            )),
            Some(_) => {}
        }
    }
    for (name, g) in &got {
        let empty_large_objects = g.rows == 0 && *name == LARGE_OBJECTS;
        if !want.contains_key(name) && !empty_large_objects {
            out.push(format!(
                "{name}: in the restore but not in the dump's snapshot"
            ));
        }
    }
    out
}

/// The problems of one database after a run: no complete dump within `max_age_hours` in some
/// destination; with verification on, none verified within `max_unverified_days` of the last
/// verification or, never verified, of the oldest complete dump.
pub fn problems(
    database: &str,
    newest_good: &[(String, Option<DateTime<Utc>>)],
    oldest_good: Option<DateTime<Utc>>,
    last_verified: Option<DateTime<Utc>>,
    max_age_hours: u32,
    max_unverified_days: Option<u32>,
    now: DateTime<Utc>,
) -> Vec<BackupProblem> {
    let mut out = vec![];
    let max_age = chrono::Duration::hours(i64::from(max_age_hours));
    for (destination, newest) in newest_good {
        if newest.is_none_or(|t| now - t > max_age) {
            out.push(BackupProblem {
                database: database.into(),
                message: match newest {
                    Some(t) => format!(
                        "{database}: the newest complete dump in {destination} is from {} (more than {max_age_hours} h ago)",
                        t.to_rfc3339()
                    ),
                    None => format!("{database}: no complete dump in {destination}"),
                },
                state: format!(
                    "stale:{database}:{destination}:{}",
                    newest.map(|t| t.timestamp()).unwrap_or(0)
                ),
            });
        }
    }
    if let (Some(days), Some(since)) = (max_unverified_days, last_verified.or(oldest_good))
        && now - since > chrono::Duration::days(i64::from(days))
    {
        out.push(BackupProblem {
            database: database.into(),
            message: match last_verified {
                Some(t) => format!(
                    "{database}: no dump verified by a restore for more than {days} days (last on {})",
                    t.to_rfc3339()
                ),
                None => format!(
                    "{database}: no dump has ever been verified by a restore, and dumps go back to {}",
                    since.to_rfc3339()
                ),
            },
            state: format!("unverified:{database}:{}", since.timestamp()),
        });
    }
    out
}

#[cfg(test)]
mod tests;
