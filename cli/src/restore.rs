//! `twincloud restore`: restores are never automatic. Each says what it will do, checks that
//! its source exists, and acts only with `--yes`; a restore always makes a new database (RDS,
//! local) or imports into one named database (Cloud SQL), never overwrites the source.

use crate::restore_output::{fail, say};
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use twincloud_core::ports::{
    Database, DatabaseExport, DatabaseRestore, OperationState, PortError, RestoreSource,
    SnapshotStatus,
};

/// `twincloud restore`.
#[derive(Args)]
pub struct RestoreArgs {
    #[command(subcommand)]
    target: Target,
}

#[derive(Subcommand)]
enum Target {
    /// RDS: a new instance (or cluster) from a snapshot, or from a point in time of a running one.
    Rds {
        /// Snapshot id (or ARN) to restore from.
        #[arg(long, conflicts_with = "pitr", required_unless_present = "pitr")]
        snapshot: Option<String>,
        /// Point-in-time restore of this instance or cluster.
        #[arg(long)]
        pitr: Option<String>,
        /// The moment to restore, RFC 3339 (default: the latest restorable time).
        #[arg(long, requires = "pitr")]
        time: Option<String>,
        /// Name of the new instance or cluster.
        #[arg(long)]
        to: String,
        /// Region (default: the environment's).
        #[arg(long)]
        region: Option<String>,
        /// Do it; without this, only say what would be done.
        #[arg(long)]
        yes: bool,
    },
    /// Cloud SQL: import a SQL dump from Cloud Storage into a database of an instance.
    Cloudsql {
        /// GCP project.
        #[arg(long)]
        project: String,
        /// Instance to import into.
        #[arg(long)]
        instance: String,
        /// The dump, gs://BUCKET/OBJECT (an export twincloud made, for instance).
        #[arg(long)]
        from: String,
        /// Database inside the instance.
        #[arg(long)]
        database: String,
        /// Give up waiting for the import after this many seconds (it goes on in Cloud SQL).
        #[arg(long, default_value_t = 3600)]
        wait_secs: u64,
        /// Do it; without this, only say what would be done.
        #[arg(long)]
        yes: bool,
    },
    /// A logical dump twincloud made (engine `postgres`) into a new or empty database of any
    /// PostgreSQL server.
    Postgres {
        /// The dump: s3://BUCKET/PREFIX/SET/DB/STAMP.dump, gs://…, or a path.
        #[arg(long)]
        from: String,
        /// The target database's URL, as a secret reference (env:NAME, aws-sm:…, gcp-sm:…).
        #[arg(long)]
        to_url: String,
        /// Transport security required: require, verify-full or disable.
        #[arg(long, default_value = "require")]
        tls: String,
        /// Directory of pg_restore and psql (default: TWINCLOUD_PG_BIN, then PATH).
        #[arg(long)]
        bin_dir: Option<String>,
        /// Do it; without this, only check the dump and say what would be done.
        #[arg(long)]
        yes: bool,
    },
    /// The local backend: a new simulated database from a snapshot.
    Local {
        /// Snapshot id.
        #[arg(long)]
        snapshot: String,
        /// Name of the new database.
        #[arg(long)]
        to: String,
        /// State directory.
        #[arg(long, default_value = ".twincloud")]
        dir: std::path::PathBuf,
        /// Do it; without this, only say what would be done.
        #[arg(long)]
        yes: bool,
    },
}

/// Runs `twincloud restore`; returns the exit code.
pub async fn run(args: RestoreArgs, json: bool) -> i32 {
    match args.target {
        Target::Postgres {
            from,
            to_url,
            tls,
            bin_dir,
            yes,
        } => {
            let args = crate::restore_postgres::PostgresRestore {
                from,
                to_url,
                tls,
                bin_dir,
                yes,
            };
            crate::restore_postgres::run(args, json).await
        }
        Target::Rds {
            snapshot,
            pitr,
            time,
            to,
            region,
            yes,
        } => {
            let time = match time.as_deref().map(DateTime::parse_from_rfc3339) {
                None => None,
                Some(Ok(t)) => Some(t.with_timezone(&Utc)),
                Some(Err(e)) => {
                    return fail(json, &format!("--time: {e} (e.g. 2026-11-22T02:30:00Z)"));
                }
            };
            let ctx = twincloud_aws::AwsContext::load().await;
            let ctx = match &region {
                Some(r) => ctx.in_region(r),
                None => ctx,
            };
            let rds = twincloud_aws::RdsDatabase::new(&ctx);
            let source = match (snapshot, pitr) {
                (Some(id), _) => match rds.find_snapshot(&id).await {
                    Ok(Some(s)) if s.status == SnapshotStatus::Available => {
                        RestoreSource::Snapshot { id }
                    }
                    Ok(Some(s)) => {
                        return fail(
                            json,
                            &format!("snapshot {id} is {:?}, not available", s.status),
                        );
                    }
                    Ok(None) => return fail(json, &format!("snapshot {id} not found")),
                    Err(e) => return fail(json, &e.message),
                },
                (None, Some(db)) => {
                    if let Err(e) = rds.list_snapshots(&db).await {
                        return fail(json, &e.message);
                    }
                    RestoreSource::PointInTime { database: db, time }
                }
                (None, None) => return fail(json, "give --snapshot ID or --pitr DATABASE"),
            };
            let plan = match &source {
                RestoreSource::Snapshot { id } => format!(
                    "Restore snapshot {id} into a new database `{to}`{}. The source is not touched.",
                    region.map(|r| format!(" in {r}")).unwrap_or_default()
                ),
                RestoreSource::PointInTime { database, time } => format!(
                    "Restore `{database}` as of {} into a new database `{to}`. `{database}` is not touched.",
                    time.map(|t| t.to_rfc3339())
                        .unwrap_or_else(|| "its latest restorable time".into())
                ),
            };
            match act(json, &plan, yes, rds.restore(&source, &to)).await {
                Ok(Some(_)) => {
                    say(
                        json,
                        &plan,
                        true,
                        &format!(
                            "Started: `{to}` is being created. Point the application at it once it is available (aws rds describe-db-instances --db-instance-identifier {to})."
                        ),
                    );
                    0
                }
                Ok(None) => 0,
                Err(e) => fail(json, &e.message),
            }
        }
        Target::Cloudsql {
            project,
            instance,
            from,
            database,
            wait_secs,
            yes,
        } => {
            if !from.starts_with("gs://") {
                return fail(json, "--from must be gs://BUCKET/OBJECT");
            }
            let gcp = match twincloud_gcp::GcpContext::from_env() {
                Ok(g) => g,
                Err(e) => return fail(json, &e.to_string()),
            };
            let sql = twincloud_gcp::CloudSqlDatabase::new(&gcp, &project);
            match sql.list_databases().await {
                Ok(all) if all.iter().any(|d| d.name == instance) => {}
                Ok(_) => return fail(json, &format!("instance {instance} not found in {project}")),
                Err(e) => return fail(json, &e.message),
            }
            let plan = format!(
                "Import {from} into database `{database}` of Cloud SQL instance {instance} ({project}). Statements in the dump run against that database as they are."
            );
            let started = match act(
                json,
                &plan,
                yes,
                sql.start_import(&instance, &from, &database),
            )
            .await
            {
                Ok(Some(op)) => op,
                Ok(None) => return 0,
                Err(e) => return fail(json, &e.message),
            };
            let give_up = std::time::Instant::now() + Duration::from_secs(wait_secs);
            let mut op = started;
            let mut pause = Duration::from_secs(1);
            loop {
                match &op.state {
                    OperationState::Done => {
                        say(json, &plan, true, "Import done.");
                        return 0;
                    }
                    OperationState::Failed(why) => {
                        return fail(json, &format!("import failed: {why}"));
                    }
                    OperationState::Running if std::time::Instant::now() >= give_up => {
                        say(
                            json,
                            &plan,
                            false,
                            &format!(
                                "Still running (operation {}); it goes on in Cloud SQL.",
                                op.id
                            ),
                        );
                        return 0;
                    }
                    OperationState::Running => {}
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(15));
                op = match sql.operation(&op.id).await {
                    Ok(o) => o,
                    Err(e) => return fail(json, &e.message),
                };
            }
        }
        Target::Local {
            snapshot,
            to,
            dir,
            yes,
        } => {
            let db = twincloud_local::LocalDatabase::new(&dir);
            let plan = format!(
                "Restore snapshot {snapshot} into a new local database `{to}` (in {}). The source is not touched.",
                dir.display()
            );
            let source = RestoreSource::Snapshot { id: snapshot };
            match act(json, &plan, yes, db.restore(&source, &to)).await {
                Ok(Some(_)) => {
                    say(json, &plan, true, &format!("Restored: `{to}` exists."));
                    0
                }
                Ok(None) => 0,
                Err(e) => fail(json, &e.message),
            }
        }
    }
}

/// Without `--yes`, says what would be done and does nothing (`Ok(None)`).
async fn act<T>(
    json: bool,
    plan: &str,
    yes: bool,
    f: impl std::future::Future<Output = Result<T, PortError>>,
) -> Result<Option<T>, PortError> {
    if !yes {
        say(
            json,
            plan,
            false,
            "Nothing done: run again with --yes to do it.",
        );
        return Ok(None);
    }
    f.await.map(Some)
}
