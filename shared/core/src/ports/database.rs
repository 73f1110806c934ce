//! Ports for managed databases: snapshots (RDS instance and cluster snapshots, Cloud SQL backup
//! runs, local files), their cross-region copies, exports to a bucket, and restores.
//!
//! Snapshot ids are twincloud's names (`<db>-<yyyymmdd-hhmmss>`) on every provider: RDS uses
//! them as identifiers, Cloud SQL keeps them in the backup run's description.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::PortError;

/// Lifecycle of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SnapshotStatus {
    /// Being taken (or copied).
    Creating,
    /// Done and restorable.
    Available,
    /// The provider gave up.
    Failed,
}

/// A database snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// twincloud's name for it (RDS snapshot identifier, Cloud SQL backup description, local
    /// file entry), or the provider's id for snapshots someone else made.
    pub id: String,
    /// The database it is of.
    pub database: String,
    /// Creation time, RFC 3339.
    pub created: String,
    /// Lifecycle state.
    pub status: SnapshotStatus,
    /// Whether twincloud made it (only those are ever pruned).
    pub managed: bool,
    /// Provider resource name, where a copy or restore needs it (an RDS snapshot ARN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// Whether it is a snapshot of a cluster (Aurora) rather than of an instance.
    #[serde(default)]
    pub cluster: bool,
}

/// Whether a database is one instance or a cluster of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseKind {
    /// An RDS DB instance, a Cloud SQL instance, a local database.
    Instance,
    /// An Aurora DB cluster.
    Cluster,
}

/// A database a backup can select.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseInfo {
    /// Identifier (RDS instance or cluster id, Cloud SQL instance name).
    pub name: String,
    /// Instance or cluster.
    pub kind: DatabaseKind,
    /// Tags (RDS) or user labels (Cloud SQL).
    pub tags: BTreeMap<String, String>,
}

/// Managed databases: their snapshots, and copies of them from another region.
#[async_trait]
pub trait Database: Send + Sync {
    /// Every database of the account and region (instances and clusters).
    async fn list_databases(&self) -> Result<Vec<DatabaseInfo>, PortError>;
    /// Starts a snapshot of `database` with id `id`, marked as made by twincloud. A second
    /// call with the same id fails: ids are unique.
    async fn create_snapshot(&self, database: &str, id: &str) -> Result<Snapshot, PortError>;
    /// Every snapshot of `database`, oldest first. A permanent error when it does not exist.
    async fn list_snapshots(&self, database: &str) -> Result<Vec<Snapshot>, PortError>;
    /// Deletes a snapshot. Refuses one twincloud did not make; an absent one is no error.
    async fn delete_snapshot(&self, database: &str, id: &str) -> Result<(), PortError>;
    /// Manual snapshots (twincloud's and people's) of several databases, by name, each list
    /// oldest first. A provider may list a whole region in one call; by default, one
    /// [`Database::list_snapshots`] per database.
    async fn snapshots_of(
        &self,
        databases: &[DatabaseInfo],
    ) -> Result<BTreeMap<String, Vec<Snapshot>>, PortError> {
        let mut out = BTreeMap::new();
        for d in databases {
            out.insert(d.name.clone(), self.list_snapshots(&d.name).await?);
        }
        Ok(out)
    }
    /// Starts a copy of `source` (a snapshot of another region) into this store's region,
    /// under the same id, marked as twincloud's, encrypted with `kms_key` when given.
    async fn copy_snapshot(
        &self,
        source: &Snapshot,
        kms_key: Option<&str>,
    ) -> Result<Snapshot, PortError> {
        let _ = kms_key;
        Err(PortError::permanent(format!(
            "copying snapshot {} between regions is not supported by this backend",
            source.id
        )))
    }
}

/// Where a restore puts its result and from what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum RestoreSource {
    /// A snapshot, by id.
    Snapshot {
        /// Snapshot id (or ARN).
        id: String,
    },
    /// A point in time of a running database (the latest restorable time without `time`).
    PointInTime {
        /// The database whose history is used.
        database: String,
        /// The moment to restore; `None` for the latest restorable time.
        time: Option<DateTime<Utc>>,
    },
}

/// Restores into a new database; never touches the source.
#[async_trait]
pub trait DatabaseRestore: Send + Sync {
    /// Starts creating `target` from `source`; returns the new database's identifier.
    async fn restore(&self, source: &RestoreSource, target: &str) -> Result<String, PortError>;
}

/// The format of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "format", rename_all = "lowercase")]
pub enum ExportFormat {
    /// A SQL dump.
    Sql,
    /// The result of a query as CSV.
    Csv {
        /// The `SELECT` whose result is exported.
        query: String,
    },
}

impl ExportFormat {
    /// File name extension of an export in this format.
    pub fn extension(&self) -> &'static str {
        match self {
            ExportFormat::Sql => "sql.gz",
            ExportFormat::Csv { .. } => "csv.gz",
        }
    }
}

/// A long-running provider operation (a Cloud SQL operation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    /// Provider id, to poll it.
    pub id: String,
    /// Where it is.
    pub state: OperationState,
}

/// Where an operation is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", content = "error", rename_all = "lowercase")]
pub enum OperationState {
    /// Queued or running.
    Running,
    /// Finished well.
    Done,
    /// Finished with this error.
    Failed(String),
}

/// Exports of a database to a bucket and imports from one.
#[async_trait]
pub trait DatabaseExport: Send + Sync {
    /// Starts exporting `databases` of `instance` (all when empty) to `uri` (`gs://...`).
    async fn start_export(
        &self,
        instance: &str,
        uri: &str,
        databases: &[String],
        format: &ExportFormat,
    ) -> Result<Operation, PortError>;
    /// Starts importing the SQL dump at `uri` into `database` of `instance`.
    async fn start_import(
        &self,
        instance: &str,
        uri: &str,
        database: &str,
    ) -> Result<Operation, PortError>;
    /// Where an operation is now.
    async fn operation(&self, id: &str) -> Result<Operation, PortError>;
}
