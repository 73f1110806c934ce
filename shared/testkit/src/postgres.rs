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

fn spawn_server(bin: &Path, dir: &Path, port: u16, root: bool) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))
        .expect("log");
    command(&bin.join("postgres"), root)
        .arg("-D")
        .arg(dir.join("data"))
        .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
        .arg("-k")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start postgres")
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
        // setpriv execs the program (runuser would stay as its parent), so that killing the
        // child kills the server itself.
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--",
        ])
        .arg(program);
        c
    } else {
        Command::new(program)
    }
}

impl Postgres {
    /// Initialises a cluster and starts it; returns once it accepts connections.
    pub async fn start() -> Postgres {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        Postgres::start_on(port).await
    }

    /// Like [`Postgres::start`] on `port` (a server that comes up where a client already waits).
    pub async fn start_on(port: u16) -> Postgres {
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
        let child = spawn_server(&bin, &dir, port, root);
        let pg = Postgres {
            port,
            user,
            password,
            bin,
            dir,
            child,
        };
        pg.wait_ready().await;
        pg
    }

    async fn wait_ready(&self) {
        for _ in 0..200 {
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ready {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        panic!("postgres did not start: {log}");
    }

    /// Starts the server again after [`Postgres::kill`], same port and data.
    pub async fn restart(&mut self) {
        self.kill();
        // Backends of the killed server linger until they notice it is gone, holding its
        // shared memory: a new server refuses to start until then, so start until one stays.
        for _ in 0..100 {
            self.child = spawn_server(&self.bin, &self.dir, self.port, is_root());
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            if matches!(self.child.try_wait(), Ok(None)) {
                break;
            }
        }
        self.wait_ready().await;
    }

    /// Fills `database` with what a backup must carry: several tables in two schemas, unicode,
    /// NULLs, a sequence, a view, a table of `big_rows` rows and two large objects of 3 MB.
    pub async fn seed_sample(&self, database: &str, big_rows: u64) {
        self.psql(
            database,
            &format!(
                "CREATE SCHEMA shop; \
                 CREATE TABLE shop.customers (id serial PRIMARY KEY, name text NOT NULL, city text, joined date); \
                 INSERT INTO shop.customers (name, city, joined) VALUES ('Zoë Ångström', 'Zürich', '2024-02-29'), ('李小龍', NULL, '2025-01-01'), ('O''Brien \"quoted\"', 'Cork', NULL); \
                 CREATE TABLE shop.orders (id bigserial PRIMARY KEY, customer int REFERENCES shop.customers, total numeric(12,2), placed timestamptz, tags text[], doc jsonb); \
                 INSERT INTO shop.orders (customer, total, placed, tags, doc) SELECT 1 + g % 3, g * 1.25, '2026-01-01'::timestamptz + g * interval '1 minute', ARRAY['a', 'é'], jsonb_build_object('n', g, 'emoji', '🚀') FROM generate_series(1, 5000) g; \
                 CREATE VIEW shop.big_orders AS SELECT * FROM shop.orders WHERE total > 100; \
                 CREATE TABLE public.events (id bigint PRIMARY KEY, kind smallint, at timestamptz, payload text); \
                 INSERT INTO public.events SELECT g, (g % 7)::smallint, '2026-06-01'::timestamptz + g * interval '1 second', md5(g::text) FROM generate_series(1, {big_rows}) g; \
                 CREATE TABLE public.\"Mixed Case\" (k text PRIMARY KEY, v double precision); \
                 INSERT INTO public.\"Mixed Case\" VALUES ('pi', pi()), ('tiny', 1e-300), ('neg', -0.1); \
                 CREATE TABLE public.empty_one (x int); \
                 SELECT lo_from_bytea(0, convert_to((SELECT string_agg(md5(g::text), '') FROM generate_series(1, 100000) g), 'UTF8')); \
                 SELECT lo_from_bytea(0, decode((SELECT string_agg(md5((g * 7)::text), '') FROM generate_series(1, 100000) g), 'hex'));"
            ),
        )
        .await;
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
