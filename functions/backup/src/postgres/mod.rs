//! A run of a backup set of engine `postgres`: per database, one `pg_dump` streamed to every
//! destination (unless this schedule's dump is already complete everywhere), retention in each
//! destination, and, on the verification schedule (input `"verify": true`), a restore of the
//! newest dump into a scratch database compared with its manifest. The set's record keeps the
//! last verification; a lease keeps two invocations of one set apart.

mod dump;
mod verify;

use std::time::Duration;

use chrono::{DateTime, Utc};
use twincloud_core::Signal;
use twincloud_core::config::{BackupSet, PostgresBackup};
use twincloud_core::planner::backup::BackupProblem;
use twincloud_core::planner::dumps::{self, DumpPart, ListedDump, Verification};
use twincloud_core::ports::{PortError, Precondition};
use twincloud_core::signal::SignalKind;
use twincloud_postgres::{PgConn, PgTools};

pub(crate) use dump::Destination;
pub use verify::{Restored, check_digest, read_manifest, restore_into};

use super::run::{close_record, open_record};
use super::set_run::SetRun;
use super::{Backup, DumpRecord};
use twincloud_runtime::error::RunError;
use twincloud_runtime::function::Invocation;
use twincloud_runtime::services::{Services, resolve};
use twincloud_runtime::stores::object_store;

/// Whether the signal asks for the verification run (`{"verify": true}`).
pub(super) fn asks_verify(signal: &Signal) -> bool {
    let input = match &signal.kind {
        SignalKind::ScheduleTick(t) => t.input.as_ref(),
        SignalKind::Command(c) => Some(&c.args),
        _ => None,
    };
    input
        .and_then(|i| i.get("verify"))
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false)
}

/// What a PostgreSQL set's run works with.
struct PgSet<'a> {
    set: &'a BackupSet,
    pg: &'a PostgresBackup,
    destinations: Vec<Destination>,
    tools: PgTools,
    timeout: Duration,
}

impl<'a> PgSet<'a> {
    async fn open(
        set: &'a BackupSet,
        pg: &'a PostgresBackup,
        services: &Services,
    ) -> Result<Self, RunError> {
        let mut destinations = vec![];
        for to in &pg.to {
            destinations.push(Destination {
                name: to.to_string(),
                store: object_store(to, &services.clouds).await?,
            });
        }
        Ok(PgSet {
            set,
            pg,
            destinations,
            tools: PgTools::locate(pg.bin_dir.as_deref()),
            timeout: Duration::from_secs(u64::from(pg.connect_timeout_secs)),
        })
    }

    /// The server, or a problem said when it cannot be reached.
    async fn connect(&self, services: &Services, run: &mut SetRun) -> Option<PgConn> {
        let url = resolve(&services.clouds, &self.pg.url).await;
        match url.and_then(|url| {
            PgConn::new(self.tools.clone(), &url, self.pg.tls, self.timeout)
                .map_err(|e| RunError::Config(e.message))
        }) {
            Ok(s) => Some(s),
            Err(e) => {
                run.problem(BackupProblem {
                    database: "*".into(),
                    message: format!("{}: {e}", self.set.name),
                    state: "error:connection".into(),
                });
                None
            }
        }
    }
}

/// Runs `set` once.
#[allow(clippy::too_many_arguments)]
pub(super) async fn run_set(
    f: &Backup,
    set: &BackupSet,
    pg: &PostgresBackup,
    signal: &Signal,
    services: &Services,
    inv: Invocation,
    run_at: DateTime<Utc>,
    follow_up: bool,
) -> Result<SetRun, RunError> {
    let mut run = SetRun::new(services, signal, &set.name, inv);
    let Some((mut record, version)) =
        open_record(f, &set.name, signal, services, inv, &mut run).await?
    else {
        return Ok(run);
    };
    let verifying = asks_verify(signal);
    let ctx = PgSet::open(set, pg, services).await?;
    let server = ctx.connect(services, &mut run).await;
    for db in &set.databases {
        let mut db_record = record.dumps.get(db).cloned().unwrap_or_default();
        let listed = match list(&ctx.destinations, &set.name, db).await {
            Ok(l) => l,
            Err(e) => {
                run.port_failure(db, "listing dumps", &e);
                continue;
            }
        };
        // 1. This schedule's dump, to the destinations that lack it.
        if let Some(conn) = server.as_ref().filter(|_| !follow_up && !verifying) {
            dump_where_missing(&ctx, conn, db, run_at, &listed, &mut db_record, &mut run).await;
        }
        // Listed again: what the dump added counts for retention and freshness.
        let listed = list(&ctx.destinations, &set.name, db)
            .await
            .unwrap_or(listed);
        // 2. Retention, destination by destination.
        prune(&ctx, db, &listed, &mut run).await;
        // 3. Verification, on its own schedule.
        if verifying {
            verify_newest(&ctx, db, &listed, &mut db_record, &mut run, services, inv).await;
        }
        // 4. What is wrong, and the newest good dump in each place.
        judge(&ctx, db, &listed, &db_record, &mut run);
        record.dumps.insert(db.clone(), db_record);
        record
            .newest
            .insert(db.clone(), newest_places(&ctx, &listed));
    }
    close_record(services, &set.name, record, version, &mut run).await?;
    Ok(run)
}

/// This schedule's dump of `db`, made once and uploaded to the destinations that lack it.
async fn dump_where_missing(
    ctx: &PgSet<'_>,
    conn: &PgConn,
    db: &str,
    run_at: DateTime<Utc>,
    listed: &[Vec<ListedDump>],
    db_record: &mut DumpRecord,
    run: &mut SetRun,
) {
    let set = &ctx.set.name;
    let stem = dumps::stem(set, db, run_at);
    let lacking: Vec<Destination> = ctx
        .destinations
        .iter()
        .zip(listed)
        .filter(|(_, l)| !l.iter().any(|d| d.stem == stem && d.good()))
        .map(|(d, _)| d.clone())
        .collect();
    if lacking.is_empty() {
        run.note(set, format!("{db}: {stem} is already complete everywhere"));
        return;
    }
    let names: Vec<&str> = lacking.iter().map(|d| d.name.as_str()).collect();
    let what = format!("dump to {}", names.join(", "));
    let conn = conn.database(db);
    let done = run
        .effect(
            db,
            format!("pg_dump-{db}"),
            what,
            dump::dump_to(&conn, set, db, run_at, ctx.pg.compress, &lacking),
        )
        .await;
    match done {
        None => {}
        Some(Err(e)) => run.port_failure(db, "dump", &e),
        Some(Ok(d)) => {
            run.summary.made += 1;
            run.note(
                set,
                format!(
                    "{db}: {stem}.dump complete, {} bytes, {} tables, {} rows, in {} of {} destinations",
                    d.manifest.size,
                    d.manifest.tables.len(),
                    d.manifest.rows(),
                    lacking.len() - d.failed.len(),
                    lacking.len()
                ),
            );
            for (name, e) in &d.failed {
                run.port_failure(db, &format!("upload to {name}"), e);
            }
            db_record.last_dump = Some(stem.clone());
        }
    }
}

/// Retention of `db`'s dumps, destination by destination.
async fn prune(ctx: &PgSet<'_>, db: &str, listed: &[Vec<ListedDump>], run: &mut SetRun) {
    for (d, l) in ctx.destinations.iter().zip(listed) {
        for key in dumps::prune(l, &ctx.set.retention, Utc::now()) {
            if !l
                .iter()
                .any(|x| key.starts_with(&x.stem) && exists(x, &key))
            {
                continue;
            }
            let store = d.store.clone();
            let k = key.clone();
            let done = run
                .effect(
                    db,
                    format!("delete-dump-{}-{key}", d.name),
                    format!("delete {}/{key} (retention)", d.name.trim_end_matches('/')),
                    async move {
                        store
                            .delete(&k, &Precondition::None)
                            .await
                            .map_err(|e| PortError::transient(e.to_string()))
                    },
                )
                .await;
            match done {
                Some(Ok(())) if key.ends_with(".dump") => run.summary.pruned += 1,
                Some(Err(e)) => run.port_failure(db, "retention", &e),
                _ => {}
            }
        }
    }
}

/// What is wrong with `db`'s dumps: stale, missing somewhere, unverified for too long, or its
/// last verification failed.
fn judge(
    ctx: &PgSet<'_>,
    db: &str,
    listed: &[Vec<ListedDump>],
    db_record: &DumpRecord,
    run: &mut SetRun,
) {
    let newest_good: Vec<(String, Option<DateTime<Utc>>)> = ctx
        .destinations
        .iter()
        .zip(listed)
        .map(|(d, l)| {
            (
                d.name.clone(),
                l.iter()
                    .filter(|x| x.good())
                    .filter_map(|x| x.taken_at)
                    .max(),
            )
        })
        .collect();
    let oldest_good = listed
        .iter()
        .flatten()
        .filter(|x| x.good())
        .filter_map(|x| x.taken_at)
        .min();
    let last_verified = db_record.last_verified.or_else(|| {
        // A verification written by an earlier record (or another set's run) still counts.
        listed
            .iter()
            .flatten()
            .filter(|x| x.good() && x.verified)
            .filter_map(|x| x.taken_at)
            .max()
    });
    for p in dumps::problems(
        db,
        &newest_good,
        oldest_good,
        last_verified,
        ctx.set.max_age_hours,
        ctx.pg
            .verify_url
            .as_ref()
            .map(|_| ctx.pg.max_unverified_days),
        Utc::now(),
    ) {
        run.problem(p);
    }
    if let Some(why) = &db_record.verify_failure {
        run.problem(BackupProblem {
            database: db.to_owned(),
            message: format!("{db}: the last verification failed: {why}"),
            state: format!(
                "verify-failed:{db}:{}",
                twincloud_core::ids::stable_digest(why.as_bytes())
            ),
        });
    }
}

/// The newest good dump of a database in each destination (what the operations page shows).
fn newest_places(ctx: &PgSet<'_>, listed: &[Vec<ListedDump>]) -> Vec<super::GoodBackup> {
    ctx.destinations
        .iter()
        .zip(listed)
        .filter_map(|(d, l)| {
            let newest = l
                .iter()
                .filter(|x| x.good())
                .filter_map(|x| x.taken_at.map(|t| (t, x)))
                .max_by_key(|(t, _)| *t)?;
            Some(super::GoodBackup {
                place: d.name.clone(),
                id: newest.1.stem.clone(),
                at: newest.0,
            })
        })
        .collect()
}

fn exists(d: &ListedDump, key: &str) -> bool {
    if key.ends_with(".manifest.json") {
        d.manifest
    } else if key.ends_with(".verified.json") {
        d.verified
    } else {
        d.dump
    }
}

/// The dumps of `db` in each destination, in destination order.
async fn list(
    destinations: &[Destination],
    set: &str,
    db: &str,
) -> Result<Vec<Vec<ListedDump>>, PortError> {
    use futures_util::TryStreamExt;
    let folder = dumps::folder(set, db);
    let mut out = vec![];
    for d in destinations {
        let keys: Vec<String> = d
            .store
            .list(&folder, None)
            .map_ok(|o| o.key)
            .try_collect()
            .await
            .map_err(|e| PortError::transient(format!("{}: {e}", d.name)))?;
        out.push(dumps::group(&folder, keys));
    }
    Ok(out)
}

/// Restores the newest complete dump into a scratch database of `verify_url`, compares it with
/// its manifest, and marks it verified in every destination that holds it.
#[allow(clippy::too_many_arguments)]
async fn verify_newest(
    ctx: &PgSet<'_>,
    db: &str,
    listed: &[Vec<ListedDump>],
    db_record: &mut DumpRecord,
    run: &mut SetRun,
    services: &Services,
    inv: Invocation,
) {
    let (pg, set) = (ctx.pg, ctx.set);
    let Some(verify_url) = &pg.verify_url else {
        run.note(
            &set.name,
            format!("{db}: verification is off (verify = false)"),
        );
        return;
    };
    let newest = listed
        .iter()
        .flatten()
        .filter(|d| d.good())
        .max_by_key(|d| d.taken_at);
    if !dumps::verification_due(newest, None, pg.verify_every_days, true, inv.now) {
        match newest {
            Some(n) => run.note(&set.name, format!("{db}: {} is already verified", n.stem)),
            None => run.note(&set.name, format!("{db}: no complete dump to verify")),
        }
        return;
    }
    let Some(newest) = newest else { return };
    let Some((from, _)) = ctx
        .destinations
        .iter()
        .zip(listed)
        .find(|(_, l)| l.iter().any(|d| d.stem == newest.stem && d.good()))
    else {
        return;
    };
    let stem = newest.stem.clone();
    let scratch = format!(
        "twincloud_verify_{}",
        &twincloud_core::ids::stable_digest(stem.as_bytes())[..12]
    );
    let result = run
        .effect(
            db,
            format!("verify-dump-{db}-{stem}"),
            format!(
                "restore {stem} from {} into scratch database {scratch} and compare",
                from.name
            ),
            restore_scratch(ctx, services, verify_url, from, &stem, &scratch),
        )
        .await;
    match result {
        None => {}
        Some(Err(e)) => {
            db_record.verify_failure = Some(e.message.clone());
            run.port_failure(db, "verification", &e);
        }
        Some(Ok(r)) if !r.differences.is_empty() => {
            let why = format!(
                "the restore of {stem} differs from its manifest: {}",
                r.differences.join("; ")
            );
            db_record.verify_failure = Some(why);
        }
        Some(Ok(r)) => verified(ctx, db, stem, listed, &r, db_record, run).await,
    }
}

/// Restores dump `stem` from `from` into a scratch database (dropped before and after) and
/// compares it with its manifest.
async fn restore_scratch(
    ctx: &PgSet<'_>,
    services: &Services,
    verify_url: &twincloud_core::SecretRef,
    from: &Destination,
    stem: &str,
    scratch: &str,
) -> Result<Restored, PortError> {
    let (pg, tools, timeout) = (ctx.pg, &ctx.tools, ctx.timeout);
    let url = resolve(&services.clouds, verify_url)
        .await
        .map_err(|e| PortError::permanent(e.to_string()))?;
    let server = PgConn::new(tools.clone(), &url, pg.tls, timeout).map_err(PortError::from)?;
    server.wake().await.map_err(PortError::from)?;
    let manifest = read_manifest(from.store.as_ref(), stem).await?;
    // A scratch database left by a killed verification goes first.
    server
        .drop_database(scratch)
        .await
        .map_err(PortError::from)?;
    server
        .create_database(scratch)
        .await
        .map_err(PortError::from)?;
    let restored = restore_into(
        from.store.as_ref(),
        stem,
        &manifest,
        &server.database(scratch),
    )
    .await;
    let dropped = server.drop_database(scratch).await;
    if let Err(e) = dropped {
        tracing::warn!(scratch, "dropping the scratch database: {e}");
    }
    restored
}

/// A verification that matched: marked in every destination holding the dump, said, and kept
/// in the record.
async fn verified(
    ctx: &PgSet<'_>,
    db: &str,
    stem: String,
    listed: &[Vec<ListedDump>],
    r: &Restored,
    db_record: &mut DumpRecord,
    run: &mut SetRun,
) {
    let (set, destinations) = (ctx.set, &ctx.destinations);
    let v = Verification {
        stem: stem.clone(),
        verified_at: Utc::now(),
        tables: r.tables,
        rows: r.rows,
        restore_secs: r.restore_secs,
    };
    let body = serde_json::to_vec_pretty(&v).unwrap_or_default();
    let key = dumps::key(&stem, DumpPart::Verified);
    for (d, l) in destinations.iter().zip(listed) {
        if !l.iter().any(|x| x.stem == stem && x.good()) {
            continue;
        }
        if let Err(e) = d.store.put_bytes(&key, &body).await {
            run.port_failure(
                db,
                &format!("marking {stem} verified in {}", d.name),
                &PortError::transient(e.to_string()),
            );
        }
    }
    run.summary.verified += 1;
    run.note(
        &set.name,
        format!(
            "{db}: {stem} verified: restored in {:.1} s, {} tables and {} rows match the manifest",
            r.restore_secs, r.tables, r.rows
        ),
    );
    db_record.last_verified = Some(v.verified_at);
    db_record.verified_stem = Some(stem);
    db_record.verify_failure = None;
}
