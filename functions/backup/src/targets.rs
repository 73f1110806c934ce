//! The adapters a backup set acts through, built from its engine.

use std::sync::Arc;

use twincloud_core::config::{BackupEngine, BackupSet, DrCopies, ExportPolicy};
use twincloud_core::ports::{Database, DatabaseExport, ObjectStore};

use twincloud_runtime::error::RunError;
use twincloud_runtime::services::Services;
use twincloud_runtime::stores::object_store;

/// Exports: who makes them, the bucket they land in, the settings.
pub(super) type Exports = (Arc<dyn DatabaseExport>, Arc<dyn ObjectStore>, ExportPolicy);

/// Where a set's databases, copies and exports are.
pub(super) struct Targets {
    /// The databases' own region.
    pub primary: Arc<dyn Database>,
    /// The disaster-recovery region, with its settings.
    pub dr: Option<(Arc<dyn Database>, DrCopies)>,
    /// Exports, their bucket, and their settings.
    pub export: Option<Exports>,
}

/// Builds the adapters of `set` (cloud contexts load on first use); `None` for the engines
/// that take no snapshots (postgres dumps run their own way).
pub(super) async fn targets(
    set: &BackupSet,
    services: &Services,
) -> Result<Option<Targets>, RunError> {
    Ok(Some(match &set.engine {
        BackupEngine::Postgres(_) => return Ok(None),
        BackupEngine::Local => Targets {
            primary: Arc::new(twincloud_local::LocalDatabase::new(&services.local_dir)),
            dr: None,
            export: None,
        },
        BackupEngine::Rds { region, dr } => {
            let aws = services.clouds.aws().await;
            let ctx = match region {
                Some(r) => aws.in_region(r),
                None => aws.clone(),
            };
            Targets {
                primary: Arc::new(twincloud_aws::RdsDatabase::new(&ctx)),
                dr: dr.as_ref().map(|d| {
                    let db: Arc<dyn Database> =
                        Arc::new(twincloud_aws::RdsDatabase::new(&ctx.in_region(&d.region)));
                    (db, d.clone())
                }),
                export: None,
            }
        }
        BackupEngine::CloudSql { project, export } => {
            let gcp = services.clouds.gcp().await?;
            let sql = Arc::new(twincloud_gcp::CloudSqlDatabase::new(gcp, project));
            let export = match export {
                Some(e) => Some((
                    sql.clone() as Arc<dyn DatabaseExport>,
                    object_store(&e.to, &services.clouds).await?,
                    e.clone(),
                )),
                None => None,
            };
            Targets {
                primary: sql,
                dr: None,
                export,
            }
        }
    }))
}
