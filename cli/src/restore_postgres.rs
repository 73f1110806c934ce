//! `twincloud restore postgres`: a logical dump twincloud made, from any destination, into a
//! new or empty database of any PostgreSQL server. The manifest and the dump's SHA-256 are
//! checked before anything is said or done; the restore then runs only with `--yes`, and every
//! table's rows and checksum are compared with the manifest afterwards.

use std::time::Duration;

use twincloud_core::config::PgTls;
use twincloud_core::secret::SecretRef;
use twincloud_functions::backup::{check_digest, read_manifest, restore_into};
use twincloud_postgres::{PgConn, PgErrorKind, PgTools};
use twincloud_runtime::Clouds;

use crate::restore_output::{fail, say};

/// What `twincloud restore postgres` was given.
pub struct PostgresRestore {
    pub from: String,
    pub to_url: String,
    pub tls: String,
    pub bin_dir: Option<String>,
    pub yes: bool,
}

/// Runs it; returns the exit code.
pub async fn run(args: PostgresRestore, json: bool) -> i32 {
    let Some(dump_name) = args
        .from
        .rsplit('/')
        .next()
        .filter(|n| n.ends_with(".dump"))
    else {
        return fail(
            json,
            "--from must name a dump: s3://BUCKET/PREFIX/SET/DB/STAMP.dump, gs://…, or a path",
        );
    };
    let stem = dump_name.trim_end_matches(".dump").to_owned();
    let folder = &args.from[..args.from.len() - dump_name.len()];
    let folder = if folder.is_empty() { "." } else { folder };
    let location = match folder.parse() {
        Ok(l) => l,
        Err(e) => return fail(json, &format!("--from: {e}")),
    };
    let tls = match args.tls.as_str() {
        "require" => PgTls::Require,
        "verify-full" => PgTls::VerifyFull,
        "disable" => PgTls::Disable,
        t => {
            return fail(
                json,
                &format!("--tls {t}: expected require, verify-full or disable"),
            );
        }
    };
    let target_ref: SecretRef = match args.to_url.parse() {
        Ok(r) => r,
        Err(e) => return fail(json, &format!("--to-url: {e}")),
    };
    let clouds = Clouds::default();
    let store = match twincloud_runtime::stores::object_store(&location, &clouds).await {
        Ok(s) => s,
        Err(e) => return fail(json, &e.to_string()),
    };
    let manifest = match read_manifest(store.as_ref(), &stem).await {
        Ok(m) => m,
        Err(e) => return fail(json, &e.message),
    };
    if let Err(e) = check_digest(store.as_ref(), &stem, &manifest).await {
        return fail(json, &e.message);
    }
    let url = match twincloud_runtime::services::resolve(&clouds, &target_ref).await {
        Ok(u) => u,
        Err(e) => return fail(json, &e.to_string()),
    };
    let tools = PgTools::locate(args.bin_dir.as_deref());
    let target = match PgConn::new(tools, &url, tls, Duration::from_secs(120)) {
        Ok(c) => c,
        Err(e) => return fail(json, &e.message),
    };
    let name = target.database_name();
    let exists = match target.wake().await {
        Ok(_) => true,
        Err(e) if e.kind == PgErrorKind::Refused && e.message.contains("does not exist") => false,
        Err(e) => return fail(json, &e.message),
    };
    if exists {
        match target.is_empty().await {
            Ok(true) => {}
            Ok(false) => {
                return fail(
                    json,
                    &format!(
                        "database `{name}` on {} is not empty: a restore goes only into a new or empty database (name a new one in the URL)",
                        target.describe()
                    ),
                );
            }
            Err(e) => return fail(json, &e.message),
        }
    }
    let plan = format!(
        "Restore {} ({} of set `{}`, taken {}, PostgreSQL {}, {} bytes, SHA-256 checked) into {} database `{name}` on {}: {} tables, {} rows; then compare every table with the manifest.",
        args.from,
        manifest.database,
        manifest.set,
        manifest.taken_at.to_rfc3339(),
        manifest.server_version,
        manifest.size,
        if exists { "the empty" } else { "a new" },
        target.describe(),
        manifest.tables.len(),
        manifest.rows(),
    );
    if !args.yes {
        say(
            json,
            &plan,
            false,
            "Nothing done: run again with --yes to do it.",
        );
        return 0;
    }
    if !exists && let Err(e) = target.database("postgres").create_database(&name).await {
        return fail(json, &format!("creating database `{name}`: {}", e.message));
    }
    match restore_into(store.as_ref(), &stem, &manifest, &target).await {
        Err(e) => fail(json, &e.message),
        Ok(r) if !r.differences.is_empty() => fail(
            json,
            &format!(
                "restored, but it differs from the manifest: {}",
                r.differences.join("; ")
            ),
        ),
        Ok(r) => {
            say(
                json,
                &plan,
                true,
                &format!(
                    "Restored in {:.1} s: {} tables and {} rows match the manifest.",
                    r.restore_secs, r.tables, r.rows
                ),
            );
            0
        }
    }
}
