//! [`Database`] on RDS DB instances: manual snapshots tagged as twincloud's, listed with their
//! tags so that only those are ever deleted.

use async_trait::async_trait;
use aws_sdk_rds::types::{DbSnapshot, Tag};
use twincloud_core::ports::{Database, PortError, Retry, Snapshot, SnapshotStatus};

use crate::context::AwsContext;
use crate::error::classify;

/// The tag that marks a snapshot as made by twincloud.
pub const MANAGED_TAG: &str = "twincloud:managed";

/// Snapshots of the DB instances of one account and region.
#[derive(Debug, Clone)]
pub struct RdsDatabase {
    client: aws_sdk_rds::Client,
}

impl RdsDatabase {
    /// RDS through `ctx`.
    pub fn new(ctx: &AwsContext) -> Self {
        RdsDatabase { client: ctx.rds() }
    }
}

fn status(s: Option<&str>) -> SnapshotStatus {
    match s {
        Some("available") => SnapshotStatus::Available,
        Some("creating" | "copying" | "pending") | None => SnapshotStatus::Creating,
        Some(_) => SnapshotStatus::Failed,
    }
}

fn snapshot(s: &DbSnapshot) -> Snapshot {
    Snapshot {
        id: s.db_snapshot_identifier().unwrap_or_default().to_owned(),
        database: s.db_instance_identifier().unwrap_or_default().to_owned(),
        created: s
            .snapshot_create_time()
            .and_then(|t| {
                t.fmt(aws_sdk_rds::primitives::DateTimeFormat::DateTime)
                    .ok()
            })
            .unwrap_or_default(),
        status: status(s.status()),
        managed: s
            .tag_list()
            .iter()
            .any(|t| t.key() == Some(MANAGED_TAG) && t.value() == Some("true")),
    }
}

/// RDS says "not found" with these codes; retrying cannot help.
fn not_found(p: &PortError) -> bool {
    ["DBInstanceNotFound", "DBSnapshotNotFound"]
        .iter()
        .any(|c| p.message.contains(c))
}

fn permanent_if_missing(p: PortError) -> PortError {
    if not_found(&p) {
        PortError {
            retry: Retry::Permanent,
            ..p
        }
    } else {
        p
    }
}

#[async_trait]
impl Database for RdsDatabase {
    async fn create_snapshot(&self, database: &str, id: &str) -> Result<Snapshot, PortError> {
        let out = self
            .client
            .create_db_snapshot()
            .db_instance_identifier(database)
            .db_snapshot_identifier(id)
            .tags(Tag::builder().key(MANAGED_TAG).value("true").build())
            .send()
            .await
            .map_err(|e| {
                permanent_if_missing(classify(&format!("snapshot {id} of {database}"), e))
            })?;
        let s = out.db_snapshot().ok_or_else(|| PortError {
            message: format!("snapshot {id} of {database}: RDS returned no snapshot"),
            retry: Retry::Transient,
        })?;
        // The tag was set with the request; the answer may not repeat it.
        Ok(Snapshot {
            managed: true,
            ..snapshot(s)
        })
    }

    async fn list_snapshots(&self, database: &str) -> Result<Vec<Snapshot>, PortError> {
        // The instance must exist: an empty list for a mistyped name would hide the mistake.
        self.client
            .describe_db_instances()
            .db_instance_identifier(database)
            .send()
            .await
            .map_err(|e| permanent_if_missing(classify(&format!("DB instance {database}"), e)))?;
        let mut out = Vec::new();
        let mut pages = self
            .client
            .describe_db_snapshots()
            .db_instance_identifier(database)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| classify(&format!("listing snapshots of {database}"), e))?;
            out.extend(page.db_snapshots().iter().map(snapshot));
        }
        out.sort_by(|a, b| a.created.cmp(&b.created));
        Ok(out)
    }

    async fn delete_snapshot(&self, database: &str, id: &str) -> Result<(), PortError> {
        let mine = self
            .list_snapshots(database)
            .await?
            .into_iter()
            .find(|s| s.id == id);
        match mine {
            Some(s) if s.managed => {}
            Some(_) => {
                return Err(PortError {
                    message: format!(
                        "snapshot {id} of {database} was not made by twincloud (no {MANAGED_TAG} tag): not deleted"
                    ),
                    retry: Retry::Permanent,
                });
            }
            None => return Ok(()),
        }
        self.client
            .delete_db_snapshot()
            .db_snapshot_identifier(id)
            .send()
            .await
            .map_err(|e| permanent_if_missing(classify(&format!("deleting snapshot {id}"), e)))?;
        Ok(())
    }
}
