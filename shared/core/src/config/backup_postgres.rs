//! `engine = "postgres"`: logical dumps of any PostgreSQL server (Neon, self-hosted, RDS,
//! Cloud SQL) into buckets of both clouds, verified by restoring them.
//!
//! ```toml
//! [[backup.sets]]
//! name = "neon-nightly"
//! engine = "postgres"
//! url = "aws-sm:prod/neon#url"       # a secret reference, never the URL itself
//! databases = ["app"]
//! to = ["s3://aion-backups/pg/", "gs://aion-backups-gcp/pg/"]
//! verify_url = "env:SCRATCH_URL"     # a server where the verification may create databases
//! ```

use serde::Deserialize;

use super::table::{bounded, limits};
use crate::location::Location;
use crate::secret::SecretRef;

/// How the connection to the server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgTls {
    /// Encrypted, server certificate not checked (libpq `require`): the default, as Neon,
    /// RDS and Cloud SQL all offer TLS.
    Require,
    /// Encrypted and the certificate checked against the system's roots and the host name.
    VerifyFull,
    /// Plain text: only for a server on the same host or a private network.
    Disable,
}

impl PgTls {
    /// libpq's `sslmode` for it.
    pub fn sslmode(self) -> &'static str {
        match self {
            PgTls::Require => "require",
            PgTls::VerifyFull => "verify-full",
            PgTls::Disable => "disable",
        }
    }

    /// How strong an `sslmode` is, weakest first; `None` for an unknown mode.
    pub fn strength(sslmode: &str) -> Option<u8> {
        match sslmode {
            "disable" | "allow" | "prefer" => Some(0),
            "require" => Some(1),
            "verify-ca" => Some(2),
            "verify-full" => Some(3),
            _ => None,
        }
    }
}

/// A set's PostgreSQL server and where its dumps go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresBackup {
    /// The server (`postgres://user:password@host/db`), as a secret reference.
    pub url: SecretRef,
    /// Destinations, each given every dump (1 to 4).
    pub to: Vec<Location>,
    /// Transport security required of the connection.
    pub tls: PgTls,
    /// A server where verification creates, restores into and drops a scratch database;
    /// `None` only with `verify = false`.
    pub verify_url: Option<SecretRef>,
    /// The newest dump is verified when the last verification is older than this.
    pub verify_every_days: u32,
    /// Past this age without a verified dump, the set reports a problem.
    pub max_unverified_days: u32,
    /// How long a connection may take to be accepted (a suspended Neon compute wakes on the
    /// first connection).
    pub connect_timeout_secs: u32,
    /// `pg_dump -Z` level (0 to 9).
    pub compress: u8,
    /// Directory of `pg_dump`, `pg_restore` and `psql` (else `TWINCLOUD_PG_BIN`, the Lambda
    /// layer's `/opt/pgsql/bin`, then `PATH`).
    pub bin_dir: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPostgres {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    to: Vec<String>,
    #[serde(default)]
    tls: Option<String>,
    #[serde(default)]
    verify: Option<bool>,
    #[serde(default)]
    verify_url: Option<String>,
    #[serde(default)]
    verify_every_days: Option<u32>,
    #[serde(default)]
    max_unverified_days: Option<u32>,
    #[serde(default)]
    connect_timeout_secs: Option<u32>,
    #[serde(default)]
    compress: Option<u8>,
    #[serde(default)]
    bin_dir: Option<String>,
}

/// Most destinations one dump is streamed to at once (each holds one part in memory).
pub const MAX_DESTINATIONS: usize = 4;

/// Whether `name` may be a dumped database's name: it becomes a segment of object keys.
pub fn database_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name != "."
        && name != ".."
}

pub(super) fn postgres(
    r: RawPostgres,
    databases: &[String],
    selectors: bool,
    at: &dyn Fn(String),
) -> Option<PostgresBackup> {
    if selectors {
        at("engine `postgres` dumps the databases named in `databases`; `patterns` and `tags` do not apply".into());
    }
    if databases.is_empty() {
        at("engine `postgres` needs `databases`, the names of the databases to dump".into());
    }
    for d in databases.iter().filter(|d| !database_name_ok(d)) {
        at(format!(
            "database `{d}`: a dumped database's name must be letters, digits, `-`, `_` or `.` (it names the dump's objects)"
        ));
    }
    let secret = |key: &str, v: &str| match v.parse::<SecretRef>() {
        Ok(r) => Some(r),
        Err(e) => {
            at(format!("`{key}`: {e}"));
            None
        }
    };
    let url = match &r.url {
        Some(u) => secret("url", u),
        None => {
            at("engine `postgres` needs `url`, a secret reference to the connection URL (`env:DATABASE_URL`, `aws-sm:…`, `gcp-sm:…`)".into());
            None
        }
    };
    if r.to.is_empty() {
        at("engine `postgres` needs `to`, one or more destinations (`s3://…`, `gs://…`, a directory)".into());
    }
    if r.to.len() > MAX_DESTINATIONS {
        at(format!(
            "`to` lists {} destinations; at most {MAX_DESTINATIONS}",
            r.to.len()
        ));
    }
    let mut to: Vec<Location> = vec![];
    for t in &r.to {
        match t.parse::<Location>() {
            Ok(l) if to.contains(&l) => at(format!("`to` lists `{t}` twice")),
            Ok(l) => to.push(l),
            Err(e) => at(format!("`to`: {e}")),
        }
    }
    let tls = match r.tls.as_deref() {
        None | Some("require") => PgTls::Require,
        Some("verify-full") => PgTls::VerifyFull,
        Some("disable") => PgTls::Disable,
        Some(t) => {
            at(format!(
                "`tls` = `{t}`: expected `require`, `verify-full` or `disable`"
            ));
            PgTls::Require
        }
    };
    let verify_url = match (r.verify, &r.verify_url) {
        (Some(false), Some(_)) => {
            at("`verify = false` and `verify_url` contradict each other".into());
            None
        }
        (Some(false), None) => None,
        (_, Some(v)) => secret("verify_url", v),
        (_, None) => {
            at("engine `postgres` needs `verify_url` (a server where restores are tried), or `verify = false` to keep unverified dumps".into());
            None
        }
    };
    let days = 1..=limits::MAX_RETAIN_DAYS;
    let verify_every_days = bounded(
        r.verify_every_days,
        7,
        days.clone(),
        "verify_every_days",
        at,
    );
    let max_unverified_days = bounded(
        r.max_unverified_days,
        verify_every_days * 2,
        days,
        "max_unverified_days",
        at,
    );
    if max_unverified_days < verify_every_days {
        at("`max_unverified_days` is shorter than `verify_every_days`".into());
    }
    Some(PostgresBackup {
        url: url?,
        to,
        tls,
        verify_url,
        verify_every_days,
        max_unverified_days,
        connect_timeout_secs: bounded(
            r.connect_timeout_secs,
            120,
            1..=900,
            "connect_timeout_secs",
            at,
        ),
        compress: bounded(r.compress, 6, 0..=9, "compress", at),
        bin_dir: r.bin_dir,
    })
}
