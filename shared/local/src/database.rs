//! Simulated databases as JSON files under `<dir>/sim/databases/<db>.json`, each with its tags
//! and snapshots. A database can be told to take time over its snapshots (they stay `creating`
//! for `snapshot_secs`) or to fail them, so that following up and failure reports run locally.

use std::collections::BTreeMap;
use std::path::PathBuf;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use twincloud_core::ids::key_segment;
use twincloud_core::ports::{
    Database, DatabaseInfo, DatabaseKind, DatabaseRestore, ErrorKind, PortError, RestoreSource,
    Snapshot, SnapshotStatus,
};

use crate::sim::{existing, locked, permanent, read, write};

/// How a simulated database behaves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimulatedDatabase {
    /// Its tags, for selection by tag.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Seconds a snapshot stays `creating`.
    #[serde(default)]
    pub snapshot_secs: u64,
    /// Whether its snapshots fail.
    #[serde(default)]
    pub failing: bool,
    /// At most this many snapshots of twincloud's (RDS's manual-snapshot quota); more are
    /// refused with `SnapshotQuotaExceeded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct DatabaseFile {
    #[serde(default)]
    name: String,
    #[serde(default, flatten)]
    sim: SimulatedDatabase,
    snapshots: Vec<Snapshot>,
}

impl DatabaseFile {
    /// Snapshots as they are now: a slow one is still being taken.
    fn observed(&self, now: DateTime<Utc>) -> Vec<Snapshot> {
        let mut out: Vec<Snapshot> = self
            .snapshots
            .iter()
            .map(|s| {
                let started = DateTime::parse_from_rfc3339(&s.created)
                    .map(|t| t.with_timezone(&Utc))
                    .unwrap_or(now);
                let busy = s.managed
                    && s.status == SnapshotStatus::Available
                    && (now - started).num_seconds() < self.sim.snapshot_secs as i64;
                Snapshot {
                    status: if busy {
                        SnapshotStatus::Creating
                    } else {
                        s.status
                    },
                    ..s.clone()
                }
            })
            .collect();
        out.sort_by(|a, b| a.created.cmp(&b.created));
        out
    }
}

/// The simulated databases of a state directory.
#[derive(Debug, Clone)]
pub struct LocalDatabase {
    root: PathBuf,
}

impl LocalDatabase {
    /// Simulated databases of the state directory `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalDatabase { root: root.into() }
    }

    fn dir(&self) -> PathBuf {
        self.root.join("sim/databases")
    }

    fn path(&self, database: &str) -> PathBuf {
        self.dir().join(format!("{}.json", key_segment(database)))
    }

    /// Creates a database, optionally with snapshots someone else made (never pruned).
    pub async fn create_database(
        &self,
        database: &str,
        foreign_snapshots: &[(&str, &str)],
    ) -> Result<(), PortError> {
        self.create_simulated(database, SimulatedDatabase::default(), foreign_snapshots)
            .await
    }

    /// Creates a database that behaves as `sim` says.
    pub async fn create_simulated(
        &self,
        database: &str,
        sim: SimulatedDatabase,
        foreign_snapshots: &[(&str, &str)],
    ) -> Result<(), PortError> {
        let path = self.path(database);
        let snapshots = foreign_snapshots
            .iter()
            .map(|(id, created)| Snapshot {
                id: (*id).into(),
                database: database.into(),
                created: (*created).into(),
                status: SnapshotStatus::Available,
                managed: false,
                arn: None,
                cluster: false,
            })
            .collect();
        let file = DatabaseFile {
            name: database.into(),
            sim,
            snapshots,
        };
        locked(&self.root, move || write(&path, &file)).await
    }

    /// Makes the snapshots taken from now on fail (or succeed again): a database whose backups
    /// break after it had good ones.
    pub async fn set_failing(&self, database: &str, failing: bool) -> Result<(), PortError> {
        let path = self.path(database);
        let db = database.to_owned();
        locked(&self.root, move || {
            let mut d: DatabaseFile = existing(&path, &format!("database `{db}`"))?;
            d.sim.failing = failing;
            write(&path, &d)
        })
        .await
    }

    /// Adds a snapshot as twincloud would have made it at `created` (to seed old backups).
    pub async fn add_managed_snapshot(
        &self,
        database: &str,
        id: &str,
        created: DateTime<Utc>,
    ) -> Result<(), PortError> {
        self.insert(database, id, created, SnapshotStatus::Available)
            .await
            .map(|_| ())
    }

    async fn insert(
        &self,
        database: &str,
        id: &str,
        created: DateTime<Utc>,
        status: SnapshotStatus,
    ) -> Result<Snapshot, PortError> {
        let path = self.path(database);
        let (db, id) = (database.to_owned(), id.to_owned());
        locked(&self.root, move || {
            let mut d: DatabaseFile = existing(&path, &format!("database `{db}`"))?;
            if d.snapshots.iter().any(|s| s.id == id) {
                return Err(permanent(format!("snapshot `{id}` already exists"))
                    .of_kind(ErrorKind::AlreadyExists));
            }
            let ours = d.snapshots.iter().filter(|s| s.managed).count();
            if d.sim.quota.is_some_and(|q| ours >= q) {
                return Err(permanent(format!(
                    "SnapshotQuotaExceeded: `{db}` has {ours} snapshots, the most allowed (local simulation)"
                ))
                .of_kind(ErrorKind::QuotaExceeded));
            }
            let snap = Snapshot {
                id,
                database: db,
                created: created.to_rfc3339(),
                status: if d.sim.failing {
                    SnapshotStatus::Failed
                } else {
                    status
                },
                managed: true,
                arn: None,
                cluster: false,
            };
            d.snapshots.push(snap.clone());
            write(&path, &d)?;
            Ok(d.observed(Utc::now())
                .into_iter()
                .find(|s| s.id == snap.id)
                .unwrap_or(snap))
        })
        .await
    }
}

#[async_trait]
impl Database for LocalDatabase {
    async fn list_databases(&self) -> Result<Vec<DatabaseInfo>, PortError> {
        let dir = self.dir();
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(permanent(format!("{}: {e}", dir.display()))),
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|x| x != "json") {
                continue;
            }
            if let Some(d) = read::<DatabaseFile>(&path)? {
                let name = if d.name.is_empty() {
                    path.file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default()
                } else {
                    d.name
                };
                out.push(DatabaseInfo {
                    name,
                    kind: DatabaseKind::Instance,
                    tags: d.sim.tags,
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn create_snapshot(&self, database: &str, id: &str) -> Result<Snapshot, PortError> {
        self.insert(database, id, Utc::now(), SnapshotStatus::Available)
            .await
    }

    async fn list_snapshots(&self, database: &str) -> Result<Vec<Snapshot>, PortError> {
        let d: DatabaseFile = existing(&self.path(database), &format!("database `{database}`"))?;
        Ok(d.observed(Utc::now()))
    }

    async fn delete_snapshot(&self, database: &str, id: &str) -> Result<(), PortError> {
        let path = self.path(database);
        let (db, id) = (database.to_owned(), id.to_owned());
        locked(&self.root, move || {
            let mut d: DatabaseFile = existing(&path, &format!("database `{db}`"))?;
            let Some(pos) = d.snapshots.iter().position(|s| s.id == id) else {
                return Ok(());
            };
            if !d.snapshots[pos].managed {
                return Err(permanent(format!(
                    "snapshot `{id}` was not made by twincloud; it is never deleted"
                )));
            }
            d.snapshots.remove(pos);
            write(&path, &d)
        })
        .await
    }
}

#[async_trait]
impl DatabaseRestore for LocalDatabase {
    async fn restore(&self, source: &RestoreSource, target: &str) -> Result<String, PortError> {
        if read::<DatabaseFile>(&self.path(target))?.is_some() {
            return Err(permanent(format!(
                "database `{target}` exists already: restore into a new name"
            )));
        }
        let from = match source {
            RestoreSource::Snapshot { id } => {
                let all = self.list_databases().await?;
                let mut found = None;
                for db in all {
                    if self
                        .list_snapshots(&db.name)
                        .await?
                        .iter()
                        .any(|s| &s.id == id && s.status == SnapshotStatus::Available)
                    {
                        found = Some(db);
                        break;
                    }
                }
                found.ok_or_else(|| {
                    permanent(format!("no available snapshot `{id}` (local simulation)"))
                })?
            }
            RestoreSource::PointInTime { database, .. } => {
                // The simulation keeps no history; the source must exist.
                self.list_snapshots(database).await?;
                DatabaseInfo {
                    name: database.clone(),
                    kind: DatabaseKind::Instance,
                    tags: BTreeMap::new(),
                }
            }
        };
        let sim = SimulatedDatabase {
            tags: from.tags,
            ..SimulatedDatabase::default()
        };
        self.create_simulated(target, sim, &[]).await?;
        Ok(target.to_owned())
    }
}
