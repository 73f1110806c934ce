//! [`Database`] on RDS: DB instances and Aurora clusters, manual snapshots tagged as
//! twincloud's (only those are ever deleted), copies from another region, and restores into new
//! databases.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_rds::primitives::{DateTime as AwsTime, DateTimeFormat};
use aws_sdk_rds::types::{DbClusterSnapshot, DbSnapshot, Tag};
use twincloud_core::ports::{
    Database, DatabaseInfo, DatabaseKind, DatabaseRestore, ErrorKind, PortError, RestoreSource,
    Retry, Snapshot, SnapshotStatus,
};

use crate::context::AwsContext;
use crate::error::classify;

/// The tag that marks a snapshot as made by twincloud.
pub const MANAGED_TAG: &str = "twincloud:managed";

/// Databases of one account and region.
#[derive(Debug)]
pub struct RdsDatabase {
    client: aws_sdk_rds::Client,
    /// Kinds seen by `list_databases`, so that per-database calls need no lookup.
    kinds: Mutex<HashMap<String, DatabaseKind>>,
}

impl RdsDatabase {
    /// RDS through `ctx`.
    pub fn new(ctx: &AwsContext) -> Self {
        RdsDatabase {
            client: ctx.rds(),
            kinds: Mutex::default(),
        }
    }

    fn remembered(&self, database: &str) -> Option<DatabaseKind> {
        self.kinds.lock().ok()?.get(database).copied()
    }

    fn remember(&self, database: &str, kind: DatabaseKind) {
        if let Ok(mut k) = self.kinds.lock() {
            k.insert(database.to_owned(), kind);
        }
    }

    /// Whether `database` is an instance or a cluster; a permanent error when it is neither.
    async fn kind(&self, database: &str) -> Result<DatabaseKind, PortError> {
        if let Some(k) = self.remembered(database) {
            return Ok(k);
        }
        let instance = self
            .client
            .describe_db_instances()
            .db_instance_identifier(database)
            .send()
            .await;
        let kind = match instance {
            Ok(_) => DatabaseKind::Instance,
            Err(e) => {
                let e = classify(&format!("DB instance {database}"), e);
                if !e.is(ErrorKind::NotFound) {
                    return Err(e);
                }
                self.client
                    .describe_db_clusters()
                    .db_cluster_identifier(database)
                    .send()
                    .await
                    .map_err(|e| {
                        permanent_if_missing(classify(
                            &format!("{database} is neither a DB instance nor a DB cluster"),
                            e,
                        ))
                    })?;
                DatabaseKind::Cluster
            }
        };
        self.remember(database, kind);
        Ok(kind)
    }

    /// A snapshot by id, of either kind (instance or cluster); `None` when there is none.
    pub async fn find_snapshot(&self, id: &str) -> Result<Option<Snapshot>, PortError> {
        match self
            .client
            .describe_db_snapshots()
            .db_snapshot_identifier(id)
            .send()
            .await
        {
            Ok(out) => return Ok(out.db_snapshots().first().map(instance_snapshot)),
            Err(e) => {
                let e = classify(&format!("snapshot {id}"), e);
                if !e.is(ErrorKind::NotFound) {
                    return Err(e);
                }
            }
        }
        match self
            .client
            .describe_db_cluster_snapshots()
            .db_cluster_snapshot_identifier(id)
            .send()
            .await
        {
            Ok(out) => Ok(out.db_cluster_snapshots().first().map(cluster_snapshot)),
            Err(e) => {
                let e = classify(&format!("cluster snapshot {id}"), e);
                if e.is(ErrorKind::NotFound) {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }

    async fn instance_snapshots(
        &self,
        database: Option<&str>,
        manual_only: bool,
    ) -> Result<Vec<Snapshot>, PortError> {
        let mut req = self.client.describe_db_snapshots();
        if let Some(db) = database {
            req = req.db_instance_identifier(db);
        }
        if manual_only {
            req = req.snapshot_type("manual");
        }
        let mut pages = req.into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("listing DB snapshots", e))?;
            out.extend(page.db_snapshots().iter().map(instance_snapshot));
        }
        Ok(out)
    }

    async fn cluster_snapshots(
        &self,
        database: Option<&str>,
        manual_only: bool,
    ) -> Result<Vec<Snapshot>, PortError> {
        let mut req = self.client.describe_db_cluster_snapshots();
        if let Some(db) = database {
            req = req.db_cluster_identifier(db);
        }
        if manual_only {
            req = req.snapshot_type("manual");
        }
        let mut pages = req.into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("listing DB cluster snapshots", e))?;
            out.extend(page.db_cluster_snapshots().iter().map(cluster_snapshot));
        }
        Ok(out)
    }
}

fn status(s: Option<&str>) -> SnapshotStatus {
    match s {
        Some("available") => SnapshotStatus::Available,
        Some("creating" | "copying" | "pending") | None => SnapshotStatus::Creating,
        Some(_) => SnapshotStatus::Failed,
    }
}

fn time(t: Option<&AwsTime>) -> String {
    t.and_then(|t| t.fmt(DateTimeFormat::DateTime).ok())
        .unwrap_or_default()
}

fn managed(tags: &[Tag]) -> bool {
    tags.iter()
        .any(|t| t.key() == Some(MANAGED_TAG) && t.value() == Some("true"))
}

fn tags(list: &[Tag]) -> BTreeMap<String, String> {
    list.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

fn instance_snapshot(s: &DbSnapshot) -> Snapshot {
    Snapshot {
        id: s.db_snapshot_identifier().unwrap_or_default().to_owned(),
        database: s.db_instance_identifier().unwrap_or_default().to_owned(),
        created: time(s.snapshot_create_time()),
        status: status(s.status()),
        managed: managed(s.tag_list()),
        arn: s.db_snapshot_arn().map(str::to_owned),
        cluster: false,
    }
}

fn cluster_snapshot(s: &DbClusterSnapshot) -> Snapshot {
    Snapshot {
        id: s
            .db_cluster_snapshot_identifier()
            .unwrap_or_default()
            .to_owned(),
        database: s.db_cluster_identifier().unwrap_or_default().to_owned(),
        created: time(s.snapshot_create_time()),
        status: status(s.status()),
        managed: managed(s.tag_list()),
        arn: s.db_cluster_snapshot_arn().map(str::to_owned),
        cluster: true,
    }
}

fn managed_tag() -> Tag {
    Tag::builder().key(MANAGED_TAG).value("true").build()
}

fn permanent_if_missing(p: PortError) -> PortError {
    if p.is(ErrorKind::NotFound) {
        PortError {
            retry: Retry::Permanent,
            ..p
        }
    } else {
        p
    }
}

fn no_answer(what: String) -> PortError {
    PortError::transient(format!("{what}: RDS returned no snapshot"))
}

#[async_trait]
impl Database for RdsDatabase {
    async fn list_databases(&self) -> Result<Vec<DatabaseInfo>, PortError> {
        let mut out = Vec::new();
        let mut pages = self.client.describe_db_instances().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("listing DB instances", e))?;
            for i in page.db_instances() {
                // Members of a cluster are backed up through their cluster.
                if i.db_cluster_identifier().is_some() {
                    continue;
                }
                out.push(DatabaseInfo {
                    name: i.db_instance_identifier().unwrap_or_default().to_owned(),
                    kind: DatabaseKind::Instance,
                    tags: tags(i.tag_list()),
                });
            }
        }
        let mut pages = self.client.describe_db_clusters().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("listing DB clusters", e))?;
            for c in page.db_clusters() {
                out.push(DatabaseInfo {
                    name: c.db_cluster_identifier().unwrap_or_default().to_owned(),
                    kind: DatabaseKind::Cluster,
                    tags: tags(c.tag_list()),
                });
            }
        }
        for d in &out {
            self.remember(&d.name, d.kind);
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn create_snapshot(&self, database: &str, id: &str) -> Result<Snapshot, PortError> {
        let what = || format!("snapshot {id} of {database}");
        let s = match self.kind(database).await? {
            DatabaseKind::Instance => {
                let out = self
                    .client
                    .create_db_snapshot()
                    .db_instance_identifier(database)
                    .db_snapshot_identifier(id)
                    .tags(managed_tag())
                    .send()
                    .await
                    .map_err(|e| permanent_if_missing(classify(&what(), e)))?;
                instance_snapshot(out.db_snapshot().ok_or_else(|| no_answer(what()))?)
            }
            DatabaseKind::Cluster => {
                let out = self
                    .client
                    .create_db_cluster_snapshot()
                    .db_cluster_identifier(database)
                    .db_cluster_snapshot_identifier(id)
                    .tags(managed_tag())
                    .send()
                    .await
                    .map_err(|e| permanent_if_missing(classify(&what(), e)))?;
                cluster_snapshot(out.db_cluster_snapshot().ok_or_else(|| no_answer(what()))?)
            }
        };
        // The tag was set with the request; the answer may not repeat it.
        Ok(Snapshot { managed: true, ..s })
    }

    async fn list_snapshots(&self, database: &str) -> Result<Vec<Snapshot>, PortError> {
        // The database must exist: an empty list for a mistyped name would hide the mistake.
        let mut out = match self.kind(database).await? {
            DatabaseKind::Instance => self.instance_snapshots(Some(database), false).await?,
            DatabaseKind::Cluster => self.cluster_snapshots(Some(database), false).await?,
        };
        out.sort_by(|a, b| a.created.cmp(&b.created));
        Ok(out)
    }

    async fn delete_snapshot(&self, database: &str, id: &str) -> Result<(), PortError> {
        let Some(s) = self.find_snapshot(id).await? else {
            return Ok(());
        };
        if !s.managed || s.database != database {
            return Err(PortError::permanent(format!(
                "snapshot {id} of {} was not made by twincloud for {database} (no {MANAGED_TAG} tag): not deleted",
                s.database
            )));
        }
        let what = format!("deleting snapshot {id}");
        let done = if s.cluster {
            self.client
                .delete_db_cluster_snapshot()
                .db_cluster_snapshot_identifier(id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify(&what, e))
        } else {
            self.client
                .delete_db_snapshot()
                .db_snapshot_identifier(id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify(&what, e))
        };
        match done {
            Err(e) if e.is(ErrorKind::NotFound) => Ok(()),
            other => other,
        }
    }

    async fn copy_snapshot(
        &self,
        source: &Snapshot,
        kms_key: Option<&str>,
    ) -> Result<Snapshot, PortError> {
        let arn = source.arn.as_deref().ok_or_else(|| {
            PortError::permanent(format!(
                "snapshot {} has no ARN: it cannot be copied across regions",
                source.id
            ))
        })?;
        let what = || format!("copying snapshot {} from {arn}", source.id);
        let copy = if source.cluster {
            let out = self
                .client
                .copy_db_cluster_snapshot()
                .source_db_cluster_snapshot_identifier(arn)
                .target_db_cluster_snapshot_identifier(&source.id)
                .set_kms_key_id(kms_key.map(str::to_owned))
                .tags(managed_tag())
                .send()
                .await
                .map_err(|e| permanent_if_missing(classify(&what(), e)))?;
            cluster_snapshot(out.db_cluster_snapshot().ok_or_else(|| no_answer(what()))?)
        } else {
            let out = self
                .client
                .copy_db_snapshot()
                .source_db_snapshot_identifier(arn)
                .target_db_snapshot_identifier(&source.id)
                .set_kms_key_id(kms_key.map(str::to_owned))
                .tags(managed_tag())
                .send()
                .await
                .map_err(|e| permanent_if_missing(classify(&what(), e)))?;
            instance_snapshot(out.db_snapshot().ok_or_else(|| no_answer(what()))?)
        };
        Ok(Snapshot {
            managed: true,
            database: source.database.clone(),
            ..copy
        })
    }

    async fn snapshots_of(
        &self,
        databases: &[DatabaseInfo],
    ) -> Result<BTreeMap<String, Vec<Snapshot>>, PortError> {
        // One paged listing per kind for the whole region, not one call per database.
        let mut out: BTreeMap<String, Vec<Snapshot>> = databases
            .iter()
            .map(|d| (d.name.clone(), Vec::new()))
            .collect();
        let kinds = |k| databases.iter().any(|d| d.kind == k);
        let mut all = Vec::new();
        if kinds(DatabaseKind::Instance) {
            all.extend(self.instance_snapshots(None, true).await?);
        }
        if kinds(DatabaseKind::Cluster) {
            all.extend(self.cluster_snapshots(None, true).await?);
        }
        for s in all {
            let wanted = databases
                .iter()
                .any(|d| d.name == s.database && (d.kind == DatabaseKind::Cluster) == s.cluster);
            if wanted && let Some(v) = out.get_mut(&s.database) {
                v.push(s);
            }
        }
        for v in out.values_mut() {
            v.sort_by(|a, b| a.created.cmp(&b.created));
        }
        Ok(out)
    }
}

fn aws_time(t: chrono::DateTime<chrono::Utc>) -> AwsTime {
    AwsTime::from_secs(t.timestamp())
}

#[async_trait]
impl DatabaseRestore for RdsDatabase {
    async fn restore(&self, source: &RestoreSource, target: &str) -> Result<String, PortError> {
        let what = format!("restoring into {target}");
        match source {
            RestoreSource::Snapshot { id } => {
                let s = self.find_snapshot(id).await?.ok_or_else(|| {
                    PortError::permanent(format!("snapshot {id} not found in this region"))
                })?;
                if s.cluster {
                    let engine = self
                        .client
                        .describe_db_cluster_snapshots()
                        .db_cluster_snapshot_identifier(id)
                        .send()
                        .await
                        .map_err(|e| classify(&what, e))?
                        .db_cluster_snapshots()
                        .first()
                        .and_then(|c| c.engine().map(str::to_owned))
                        .unwrap_or_else(|| "aurora-postgresql".into());
                    self.client
                        .restore_db_cluster_from_snapshot()
                        .snapshot_identifier(id)
                        .db_cluster_identifier(target)
                        .engine(engine)
                        .send()
                        .await
                        .map_err(|e| classify(&what, e))?;
                } else {
                    self.client
                        .restore_db_instance_from_db_snapshot()
                        .db_snapshot_identifier(id)
                        .db_instance_identifier(target)
                        .send()
                        .await
                        .map_err(|e| classify(&what, e))?;
                }
            }
            RestoreSource::PointInTime { database, time } => match self.kind(database).await? {
                DatabaseKind::Instance => {
                    self.client
                        .restore_db_instance_to_point_in_time()
                        .source_db_instance_identifier(database)
                        .target_db_instance_identifier(target)
                        .set_restore_time(time.map(aws_time))
                        .set_use_latest_restorable_time(time.is_none().then_some(true))
                        .send()
                        .await
                        .map_err(|e| classify(&what, e))?;
                }
                DatabaseKind::Cluster => {
                    self.client
                        .restore_db_cluster_to_point_in_time()
                        .source_db_cluster_identifier(database)
                        .db_cluster_identifier(target)
                        .set_restore_to_time(time.map(aws_time))
                        .set_use_latest_restorable_time(time.is_none().then_some(true))
                        .send()
                        .await
                        .map_err(|e| classify(&what, e))?;
                }
            },
        }
        Ok(target.to_owned())
    }
}
