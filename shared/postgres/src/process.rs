//! The long-running tools: a session holding a snapshot open, `pg_dump` streaming a dump out
//! of it, `pg_restore` reading one in. Each keeps the last part of what its tool prints on
//! stderr, for the error, and is killed if dropped.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::task::JoinHandle;

use crate::conn::PgConn;
use crate::error::{PgError, PgErrorKind};

/// The most of a tool's stderr kept for its error.
const STDERR_TAIL: usize = 8 * 1024;

fn capture_stderr(child: &mut Child) -> JoinHandle<String> {
    let stderr = child.stderr.take();
    tokio::spawn(async move {
        let Some(mut stderr) = stderr else {
            return String::new();
        };
        let mut tail: Vec<u8> = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf).await {
            if n == 0 {
                break;
            }
            tail.extend_from_slice(&buf[..n]);
            if tail.len() > STDERR_TAIL {
                tail.drain(..tail.len() - STDERR_TAIL);
            }
        }
        String::from_utf8_lossy(&tail).into_owned()
    })
}

async fn ended(
    conn: &PgConn,
    what: &str,
    mut child: Child,
    stderr: JoinHandle<String>,
) -> Result<(), PgError> {
    let status = child
        .wait()
        .await
        .map_err(|e| PgError::new(PgErrorKind::Failed, format!("{what}: waiting for it: {e}")))?;
    let text = conn.redact(&stderr.await.unwrap_or_default());
    if status.success() {
        Ok(())
    } else {
        Err(PgError::from_stderr(
            &format!("{what} ({}, {status})", conn.describe()),
            &text,
        ))
    }
}

/// A session whose repeatable-read transaction exported its snapshot: a dump and the row
/// counts read in it see the same data. The snapshot lives until [`SnapshotHold::release`].
pub struct SnapshotHold {
    child: Child,
    stdin: Option<ChildStdin>,
    stderr: JoinHandle<String>,
    /// The exported snapshot's id, for `pg_dump --snapshot` and `SET TRANSACTION SNAPSHOT`.
    pub id: String,
}

impl PgConn {
    /// Opens a session and exports its snapshot.
    pub async fn export_snapshot(&self) -> Result<SnapshotHold, PgError> {
        let mut c = self.command("psql");
        c.args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"])
            .stdin(Stdio::piped());
        let mut child = c.spawn().map_err(|e| self.spawn_error("psql", &e))?;
        let stderr = capture_stderr(&mut child);
        let mut stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let opened = async {
            let input = stdin.as_mut()?;
            input
                .write_all(b"BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;\nSELECT 'snapshot:' || pg_export_snapshot();\n")
                .await
                .ok()?;
            input.flush().await.ok()?;
            let mut lines = BufReader::new(stdout?).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(id) = line.strip_prefix("snapshot:") {
                    return Some(id.trim().to_owned());
                }
            }
            None
        };
        let wait = Duration::from_secs(60);
        match tokio::time::timeout(wait, opened).await {
            Ok(Some(id)) => Ok(SnapshotHold {
                child,
                stdin,
                stderr,
                id,
            }),
            Ok(None) => {
                drop(stdin);
                match ended(self, "exporting a snapshot", child, stderr).await {
                    Err(e) => Err(e),
                    Ok(()) => Err(PgError::new(
                        PgErrorKind::Failed,
                        format!("{}: psql exported no snapshot", self.describe()),
                    )),
                }
            }
            Err(_) => Err(PgError::new(
                PgErrorKind::Unreachable,
                format!(
                    "{}: no snapshot exported within {} s",
                    self.describe(),
                    wait.as_secs()
                ),
            )),
        }
    }

    /// Starts `pg_dump` of this database in `snapshot`: custom format, compressed at
    /// `compress`, written to its stdout.
    pub fn dump(&self, snapshot: &str, compress: u8) -> Result<DumpProcess, PgError> {
        let mut c = self.command("pg_dump");
        c.arg("--format=custom")
            .arg(format!("--compress={compress}"))
            .arg(format!("--snapshot={snapshot}"))
            .arg("--no-sync");
        let mut child = c.spawn().map_err(|e| self.spawn_error("pg_dump", &e))?;
        let stderr = capture_stderr(&mut child);
        let stdout = child.stdout.take().ok_or_else(|| {
            PgError::new(PgErrorKind::Tooling, "pg_dump started without a stdout")
        })?;
        Ok(DumpProcess {
            conn: self.clone(),
            child,
            stdout,
            stderr,
        })
    }

    /// Starts `pg_restore` into this database, reading a custom-format dump from its stdin;
    /// objects are owned by the connecting user and no grants are replayed (the target's roles
    /// need not exist); the first error stops it.
    pub fn restore(&self) -> Result<RestoreProcess, PgError> {
        let mut c = self.command("pg_restore");
        c.args(["--no-owner", "--no-privileges", "--exit-on-error"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null());
        let mut child = c.spawn().map_err(|e| self.spawn_error("pg_restore", &e))?;
        let stderr = capture_stderr(&mut child);
        let stdin = child.stdin.take();
        Ok(RestoreProcess {
            conn: self.clone(),
            child,
            stdin,
            stderr,
        })
    }
}

impl SnapshotHold {
    /// Ends the transaction and the session.
    pub async fn release(mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"COMMIT;\n").await;
            drop(stdin);
        }
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
        self.stderr.abort();
    }
}

/// A running `pg_dump`.
pub struct DumpProcess {
    conn: PgConn,
    child: Child,
    stdout: ChildStdout,
    stderr: JoinHandle<String>,
}

impl DumpProcess {
    /// The dump as it is written.
    pub fn output(&mut self) -> &mut ChildStdout {
        &mut self.stdout
    }

    /// Waits for the end: an error (with what `pg_dump` said) unless it exited well.
    pub async fn wait(self) -> Result<(), PgError> {
        drop(self.stdout);
        ended(&self.conn, "pg_dump", self.child, self.stderr).await
    }

    /// Stops it.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
        self.stderr.abort();
    }
}

/// A running `pg_restore`.
pub struct RestoreProcess {
    conn: PgConn,
    child: Child,
    stdin: Option<ChildStdin>,
    stderr: JoinHandle<String>,
}

impl RestoreProcess {
    /// Feeds the next bytes of the dump. A `pg_restore` that stopped (an error in the dump)
    /// makes this fail with what it said.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), PgError> {
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(PgError::new(PgErrorKind::Failed, "pg_restore input closed"));
        };
        if stdin.write_all(bytes).await.is_ok() {
            return Ok(());
        }
        self.stdin = None;
        let status = self.child.wait().await.ok();
        let text = std::mem::replace(&mut self.stderr, tokio::spawn(async { String::new() }))
            .await
            .unwrap_or_default();
        Err(PgError::from_stderr(
            &format!(
                "pg_restore ({}, {})",
                self.conn.describe(),
                status.map_or_else(|| "ended".to_owned(), |s| s.to_string())
            ),
            &self.conn.redact(&text),
        ))
    }

    /// Ends the input and waits: an error unless `pg_restore` exited well.
    pub async fn finish(mut self) -> Result<(), PgError> {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.shutdown().await;
        }
        ended(&self.conn, "pg_restore", self.child, self.stderr).await
    }

    /// Stops it.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
        self.stderr.abort();
    }
}
