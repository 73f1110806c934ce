//! A connection to one server: its URL without the password, which travels in `PGPASSWORD`;
//! one-shot statements through `psql`; the wait for a server that wakes on connection.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use twincloud_core::config::PgTls;
use twincloud_core::secret::Secret;

use crate::error::{PgError, PgErrorKind};
use crate::tools::PgTools;

/// Field and record separators of `psql`'s unaligned output: control characters no identifier
/// or number contains.
pub(crate) const FIELD: char = '\u{1f}';
pub(crate) const RECORD: char = '\u{1e}';

/// What the server says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// `server_version`, e.g. `16.4`.
    pub version: String,
    /// Its major version.
    pub major: u32,
}

/// A server and a database on it.
#[derive(Clone)]
pub struct PgConn {
    tools: PgTools,
    url: url::Url,
    password: Option<Secret>,
    connect_timeout: Duration,
}

impl std::fmt::Debug for PgConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConn")
            .field("server", &self.describe())
            .finish_non_exhaustive()
    }
}

fn refused(m: String) -> PgError {
    PgError::new(PgErrorKind::Refused, m)
}

impl PgConn {
    /// Reads `url` (`postgres://user:password@host[:port]/db[?…]`), which must ask for at least
    /// the transport security `tls` requires; when it names none, `tls`'s is added.
    pub fn new(
        tools: PgTools,
        url: &Secret,
        tls: PgTls,
        connect_timeout: Duration,
    ) -> Result<PgConn, PgError> {
        // The URL holds the password: no error may quote it.
        let mut parsed = url::Url::parse(url.expose()).map_err(|e| {
            refused(format!(
                "the connection URL does not parse ({e}); expected postgres://USER:PASSWORD@HOST[:PORT]/DATABASE (its value is not shown)"
            ))
        })?;
        if !matches!(parsed.scheme(), "postgres" | "postgresql") || parsed.host_str().is_none() {
            return Err(refused(
                "the connection URL must be postgres://USER:PASSWORD@HOST[:PORT]/DATABASE (its value is not shown)".into(),
            ));
        }
        let mut password = parsed.password().map(|p| {
            Secret::new(
                percent_encoding::percent_decode_str(p)
                    .decode_utf8_lossy()
                    .into_owned(),
            )
        });
        let _ = parsed.set_password(None);
        // libpq also takes `?password=`: out of the URL too (the URL is a `-d` argument, which
        // anyone on the machine can read in the process list), into PGPASSWORD.
        if parsed.query_pairs().any(|(k, _)| k == "password") {
            let rest: Vec<(String, String)> = parsed
                .query_pairs()
                .filter(|(k, v)| {
                    if k == "password" && password.is_none() {
                        password = Some(Secret::new(v.clone().into_owned()));
                    }
                    k != "password"
                })
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            parsed.set_query(None);
            if !rest.is_empty() {
                parsed.query_pairs_mut().extend_pairs(rest);
            }
        }
        let given = parsed
            .query_pairs()
            .find(|(k, _)| k == "sslmode")
            .map(|(_, v)| v.into_owned());
        match given {
            Some(mode) => {
                let strength = PgTls::strength(&mode).ok_or_else(|| {
                    refused(format!(
                        "the connection URL's sslmode `{mode}` is not one libpq knows"
                    ))
                })?;
                let wanted = PgTls::strength(tls.sslmode()).unwrap_or(0);
                if strength < wanted {
                    return Err(refused(format!(
                        "the connection URL asks for sslmode={mode}, weaker than tls = \"{}\" in the configuration; remove sslmode from the URL or lower `tls` deliberately",
                        tls.sslmode()
                    )));
                }
            }
            None => {
                parsed
                    .query_pairs_mut()
                    .append_pair("sslmode", tls.sslmode());
            }
        }
        let has_root = parsed.query_pairs().any(|(k, _)| k == "sslrootcert");
        let system_roots = "/etc/ssl/certs/ca-certificates.crt";
        if tls == PgTls::VerifyFull && !has_root && std::path::Path::new(system_roots).exists() {
            parsed
                .query_pairs_mut()
                .append_pair("sslrootcert", system_roots);
        }
        Ok(PgConn {
            tools,
            url: parsed,
            password,
            connect_timeout,
        })
    }

    /// The same server, database `db`.
    pub fn database(&self, db: &str) -> PgConn {
        let mut c = self.clone();
        let encoded = percent_encoding::utf8_percent_encode(db, percent_encoding::NON_ALPHANUMERIC);
        c.url.set_path(&format!("/{encoded}"));
        c
    }

    /// The database this connects to (`postgres` when the URL names none).
    pub fn database_name(&self) -> String {
        let path = self.url.path().trim_start_matches('/');
        if path.is_empty() {
            "postgres".into()
        } else {
            percent_encoding::percent_decode_str(path)
                .decode_utf8_lossy()
                .into_owned()
        }
    }

    /// `host:port/db`, for messages.
    pub fn describe(&self) -> String {
        format!(
            "{}:{}/{}",
            self.url.host_str().unwrap_or("?"),
            self.url.port().unwrap_or(5432),
            self.database_name()
        )
    }

    /// The tools this runs.
    pub fn tools(&self) -> &PgTools {
        &self.tools
    }

    /// A command of `program` against this database: the URL as `-d`, the password in the
    /// environment, never a prompt.
    pub(crate) fn command(&self, program: &str) -> Command {
        let mut c = self.tools.command(program);
        c.arg("-d").arg(self.url.as_str()).arg("-w");
        if let Some(p) = &self.password {
            c.env("PGPASSWORD", p.expose());
        }
        let per_attempt = self.connect_timeout.as_secs().clamp(2, 15);
        c.env("PGCONNECT_TIMEOUT", per_attempt.to_string())
            .env("PGAPPNAME", "twincloud")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        c
    }

    /// Removes the password from a tool's message, should a tool ever print it. A short one
    /// (under 4 characters) is removed where it stands alone (between characters that are not
    /// letters or digits), so that it does not mangle every word it is part of.
    pub(crate) fn redact(&self, text: &str) -> String {
        match &self.password {
            Some(p) if p.expose().len() >= 4 => text.replace(p.expose(), "<redacted>"),
            Some(p) if !p.expose().is_empty() => redact_standing_alone(text, p.expose()),
            _ => text.to_owned(),
        }
    }

    /// Runs `sql` (one or more statements) in one session; the rows of the last result.
    pub async fn query(&self, sql: &str) -> Result<Vec<Vec<String>>, PgError> {
        let mut c = self.command("psql");
        c.args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"])
            .arg("-F")
            .arg(FIELD.to_string())
            .arg("-R")
            .arg(RECORD.to_string())
            .args(["-f", "-"])
            .stdin(Stdio::piped());
        let mut child = c.spawn().map_err(|e| self.spawn_error("psql", &e))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A server that closed early makes this fail; its message is on stderr.
            let _ = stdin.write_all(sql.as_bytes()).await;
        }
        let out = child
            .wait_with_output()
            .await
            .map_err(|e| self.spawn_error("psql", &e))?;
        if !out.status.success() {
            let stderr = self.redact(&String::from_utf8_lossy(&out.stderr));
            return Err(PgError::from_stderr(&self.describe(), &stderr));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(text
            .trim_end_matches('\n')
            .split(RECORD)
            .map(|r| r.trim_matches('\n'))
            .filter(|r| !r.is_empty())
            .map(|r| r.split(FIELD).map(str::to_owned).collect())
            .collect())
    }

    pub(crate) fn spawn_error(&self, program: &str, e: &std::io::Error) -> PgError {
        PgError::new(
            PgErrorKind::Tooling,
            format!(
                "{} cannot be run ({e}): install PostgreSQL's client programs, attach the Lambda layer, or set `bin_dir`",
                self.tools.program(program).display()
            ),
        )
    }

    /// Connects until the server answers, retrying while it is unreachable (a suspended Neon
    /// compute wakes on the first connection) for up to the connect timeout; refused
    /// credentials fail at once.
    pub async fn wake(&self) -> Result<ServerInfo, PgError> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(500);
        loop {
            match self
                .query("SELECT current_setting('server_version'), current_setting('server_version_num')")
                .await
            {
                Ok(rows) => {
                    let row = rows.first().cloned().unwrap_or_default();
                    let version = row.first().cloned().unwrap_or_default();
                    let num: u32 = row.get(1).and_then(|n| n.parse().ok()).unwrap_or(0);
                    return Ok(ServerInfo {
                        version,
                        major: num / 10_000,
                    });
                }
                Err(e) if e.kind == PgErrorKind::Unreachable => {
                    if started.elapsed() + pause > self.connect_timeout {
                        return Err(PgError::new(
                            PgErrorKind::Timeout,
                            format!(
                                "{}: no connection accepted within {} s ({}); a suspended Neon compute wakes on the first connection, raise `connect_timeout_secs` if it needs longer",
                                self.describe(),
                                self.connect_timeout.as_secs(),
                                e.message
                            ),
                        ));
                    }
                    tracing::info!(server = %self.describe(), "waiting for the server: {}", e.message);
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(8));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Creates database `name` (as the connection's user, who must be allowed to).
    pub async fn create_database(&self, name: &str) -> Result<(), PgError> {
        self.query(&format!("CREATE DATABASE {}", quote_ident(name)))
            .await
            .map(drop)
    }

    /// Drops database `name` if it exists, ending its sessions.
    pub async fn drop_database(&self, name: &str) -> Result<(), PgError> {
        let q = quote_ident(name);
        match self
            .query(&format!("DROP DATABASE IF EXISTS {q} WITH (FORCE)"))
            .await
        {
            // Before PostgreSQL 13 there is no FORCE.
            Err(e) if e.message.contains("syntax error") => self
                .query(&format!("DROP DATABASE IF EXISTS {q}"))
                .await
                .map(drop),
            r => r.map(drop),
        }
    }

    /// Whether the database holds no table, sequence, view or large object of its users: a
    /// restore may go there without overwriting anything.
    pub async fn is_empty(&self) -> Result<bool, PgError> {
        let rows = self
            .query(
                "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r','p','v','m','S','f') AND n.nspname NOT IN ('pg_catalog','information_schema') \
                 AND n.nspname !~ '^pg_(toast|temp)') + (SELECT count(*) FROM pg_largeobject_metadata)",
            )
            .await?;
        Ok(rows
            .first()
            .and_then(|r| r.first())
            .is_some_and(|n| n == "0"))
    }
}

/// `name` as a quoted identifier.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `text` with each occurrence of `word` that no letter or digit touches replaced.
fn redact_standing_alone(text: &str, word: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut before: Option<char> = None;
    while let Some(i) = rest.find(word) {
        let prev = rest[..i].chars().last().or(before);
        let next = rest[i + word.len()..].chars().next();
        let alone = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
        out.push_str(&rest[..i]);
        if alone(prev) && alone(next) {
            out.push_str("<redacted>");
        } else {
            out.push_str(word);
        }
        before = word.chars().last();
        rest = &rest[i + word.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(url: &str, tls: PgTls) -> Result<PgConn, PgError> {
        PgConn::new(
            PgTools::in_dir("/nowhere"),
            &Secret::new(url),
            tls,
            Duration::from_secs(5),
        )
    }

    #[test]
    fn the_password_leaves_the_url_and_tls_is_enforced() {
        let c = conn(
            "postgres://app:s%40cret@db.example:6543/app",
            PgTls::Require,
        )
        .expect("ok");
        assert!(!c.url.as_str().contains("cret"));
        assert_eq!(c.password.as_ref().map(Secret::expose), Some("s@cret"));
        assert!(c.url.as_str().contains("sslmode=require"));
        assert_eq!(c.describe(), "db.example:6543/app");
        assert!(!format!("{c:?}").contains("cret"));
        assert_eq!(c.database("other db").database_name(), "other db");

        let weak = conn("postgres://app:pw@db/app?sslmode=disable", PgTls::Require)
            .expect_err("weaker than configured");
        assert!(weak.message.contains("sslmode=disable"));
        assert!(!weak.message.contains("pw@"));
        let plain = conn("postgres://app:pw@localhost/app", PgTls::Disable).expect("ok");
        assert!(plain.url.as_str().contains("sslmode=disable"));
        let bad = conn("mysql://app:topsecret@db/app", PgTls::Require).expect_err("scheme");
        assert!(!bad.message.contains("topsecret"));
        let garbage = conn("not a url topsecret", PgTls::Require).expect_err("parse");
        assert!(!garbage.message.contains("topsecret"));

        // The password as a query parameter leaves the URL too.
        let q = conn(
            "postgres://app@db/app?application_name=tc&password=hunter2",
            PgTls::Require,
        )
        .expect("ok");
        assert!(!q.url.as_str().contains("hunter2"), "{}", q.url);
        assert!(q.url.as_str().contains("application_name=tc"));
        assert_eq!(q.password.as_ref().map(Secret::expose), Some("hunter2"));
    }

    #[test]
    fn a_short_password_is_redacted_where_it_stands_alone() {
        let c = conn("postgres://app:pw@localhost/app", PgTls::Disable).expect("ok");
        assert_eq!(
            c.redact("password pw for pwd in \"pw\": (pw)"),
            "password <redacted> for pwd in \"<redacted>\": (<redacted>)"
        );
        let long = conn("postgres://app:s3cret@localhost/app", PgTls::Disable).expect("ok");
        assert_eq!(long.redact("xs3cretx"), "x<redacted>x");
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
