//! A real PostgreSQL server (Debian's `postgresql` package) in a temporary directory on a free
//! loopback port, with password authentication, for the tests of logical backups. As root the
//! server runs as the `postgres` user (PostgreSQL refuses root); otherwise as the caller.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A running server; stopped and its files removed on drop.
pub struct Postgres {
    /// The port on 127.0.0.1.
    pub port: u16,
    /// The superuser's name.
    pub user: String,
    password: String,
    bin: PathBuf,
    dir: PathBuf,
    child: Child,
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The newest installed server's binaries.
fn bin_dir() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                .filter(|p| p.join("initdb").exists())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!(
            "PostgreSQL is not installed: scripts/test.sh installs it (apt-get install postgresql)"
        )
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `program args...`, as the `postgres` user when running as root.
fn command(program: &Path, as_postgres: bool) -> Command {
    if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

impl Postgres {
    /// Initialises a cluster and starts it; returns once it accepts connections.
    pub async fn start() -> Postgres {
        let bin = bin_dir();
        let root = is_root();
        let dir = std::env::temp_dir().join(crate::unique("pg"));
        std::fs::create_dir_all(&dir).expect("pg dir");
        let user = "twincloud".to_owned();
        let password = crate::unique("pw");
        std::fs::write(dir.join("pwfile"), &password).expect("pwfile");
        if root {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(ok, "chown of {} to postgres failed", dir.display());
        }
        let out = command(&bin.join("initdb"), root)
            .arg("-D")
            .arg(dir.join("data"))
            .args([
                "-U",
                &user,
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--auth=scram-sha-256",
            ])
            .arg(format!("--pwfile={}", dir.join("pwfile").display()))
            .output()
            .expect("initdb");
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let log = std::fs::File::create(dir.join("server.log")).expect("log");
        let child = command(&bin.join("postgres"), root)
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .arg("-k")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start postgres");
        let pg = Postgres {
            port,
            user,
            password,
            bin,
            dir,
            child,
        };
        for _ in 0..200 {
            let ready = Command::new(pg.bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q"])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ready {
                return pg;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let log = std::fs::read_to_string(pg.dir.join("server.log")).unwrap_or_default();
        panic!("postgres did not start: {log}");
    }

    /// The connection URL of `database` (TLS off: loopback only).
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{}:{}@127.0.0.1:{}/{database}?sslmode=disable",
            self.user, self.password, self.port
        )
    }

    /// The server's binaries (`pg_dump`, `pg_restore` of the same major version).
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// Runs `sql` in `database` with psql; its unaligned output.
    pub async fn psql(&self, database: &str, sql: &str) -> String {
        let out = tokio::process::Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-v",
                "ON_ERROR_STOP=1",
                "-At",
                "-d",
                &self.url(database),
                "-c",
                sql,
            ])
            .output()
            .await
            .expect("psql");
        assert!(
            out.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Creates `database`.
    pub async fn create_database(&self, database: &str) {
        self.psql("postgres", &format!("CREATE DATABASE \"{database}\""))
            .await;
    }

    /// Stops the server at once (`immediate`: connections cut mid-work).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
