//! The client tools against a real PostgreSQL (Debian's, started by the test kit): a dump in
//! an exported snapshot restores to the same rows and checksums; a wrong password fails at
//! once; a server that never answers runs out the connect timeout with a clear message.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use twincloud_core::config::PgTls;
use twincloud_core::planner::dumps::{LARGE_OBJECTS, compare};
use twincloud_core::secret::Secret;
use twincloud_postgres::{PgConn, PgErrorKind, PgTools};
use twincloud_testkit::postgres::Postgres;

fn conn(pg: &Postgres, db: &str) -> PgConn {
    PgConn::new(
        PgTools::in_dir(pg.bin()),
        &Secret::new(pg.url(db)),
        PgTls::Disable,
        Duration::from_secs(3),
    )
    .unwrap()
}

#[tokio::test]
async fn a_dump_in_a_held_snapshot_restores_to_the_same_rows() {
    let pg = Postgres::start().await;
    pg.create_database("app").await;
    pg.seed_sample("app", 20_000).await;
    let app = conn(&pg, "app");
    let info = app.wake().await.unwrap();
    assert!(info.major >= 11, "{info:?}");

    let hold = app.export_snapshot().await.unwrap();
    // Written after the snapshot: neither the dump nor its counts may see it.
    pg.psql(
        "app",
        "INSERT INTO public.events VALUES (999999, 1, now(), 'late')",
    )
    .await;
    let stats = app.table_stats(Some(&hold.id)).await.unwrap();
    let mut dump = app.dump(&hold.id, 6).unwrap();
    let mut bytes = vec![];
    dump.output().read_to_end(&mut bytes).await.unwrap();
    dump.wait().await.unwrap();
    hold.release().await;
    let events = stats.iter().find(|t| t.table == "public.events").unwrap();
    assert_eq!(events.rows, 20_000);
    let lo = stats.iter().find(|t| t.table == LARGE_OBJECTS).unwrap();
    assert_eq!(lo.rows, 2);
    assert!(stats.iter().any(|t| t.table == "public.\"Mixed Case\""));
    assert!(
        stats
            .iter()
            .any(|t| t.table == "public.empty_one" && t.rows == 0)
    );

    let server = conn(&pg, "postgres");
    server.create_database("restored").await.unwrap();
    let target = conn(&pg, "restored");
    assert!(target.is_empty().await.unwrap());
    let mut restore = target.restore().unwrap();
    for chunk in bytes.chunks(64 * 1024) {
        restore.write(chunk).await.unwrap();
    }
    restore.finish().await.unwrap();
    assert!(!target.is_empty().await.unwrap());
    let restored = target.table_stats(None).await.unwrap();
    assert_eq!(compare(&stats, &restored), Vec::<String>::new());
    // A changed row shows as a different checksum.
    pg.psql(
        "restored",
        "UPDATE shop.customers SET city = 'Basel' WHERE city = 'Zürich'",
    )
    .await;
    let changed = compare(&stats, &target.table_stats(None).await.unwrap());
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert!(changed[0].contains("shop.customers"));
    server.drop_database("restored").await.unwrap();

    // A truncated dump is refused by pg_restore, with what it said.
    server.create_database("cut").await.unwrap();
    let mut restore = conn(&pg, "cut").restore().unwrap();
    let end = match restore.write(&bytes[..bytes.len() / 2]).await {
        Ok(()) => restore.finish().await,
        Err(e) => Err(e),
    };
    assert!(end.is_err(), "a truncated dump restored");
}

#[tokio::test]
async fn a_wrong_password_fails_at_once_and_an_absent_server_times_out() {
    let pg = Postgres::start().await;
    let wrong = PgConn::new(
        PgTools::in_dir(pg.bin()),
        &Secret::new(pg.url("postgres").replace("@127", "x@127")),
        PgTls::Disable,
        Duration::from_secs(30),
    )
    .unwrap();
    let started = Instant::now();
    let e = wrong.wake().await.unwrap_err();
    assert_eq!(e.kind, PgErrorKind::Refused, "{e}");
    assert!(e.message.contains("password authentication failed"), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "retried a refusal"
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let absent = PgConn::new(
        PgTools::in_dir(pg.bin()),
        &Secret::new(format!("postgres://u:p@127.0.0.1:{port}/db")),
        PgTls::Disable,
        Duration::from_secs(2),
    )
    .unwrap();
    let e = absent.wake().await.unwrap_err();
    assert_eq!(e.kind, PgErrorKind::Timeout, "{e}");
    assert!(e.message.contains("connect_timeout_secs"), "{e}");
}

/// A server that comes up only after the first attempts (a suspended Neon compute waking) is
/// waited for: connection retries with backoff until the connect timeout.
#[tokio::test]
async fn a_server_that_wakes_late_is_waited_for() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = |pw: &str| format!("postgres://twincloud:{pw}@127.0.0.1:{port}/postgres");
    let waking = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        Postgres::start_on(port).await
    });
    // The password is only known once the server exists: wait for it, then connect with it
    // while the first connection attempts of a second client already failed.
    let early = PgConn::new(
        PgTools::locate(None),
        &Secret::new(url("unknown")),
        PgTls::Disable,
        Duration::from_secs(30),
    )
    .unwrap();
    let started = Instant::now();
    let e = early.wake().await.unwrap_err();
    assert_eq!(e.kind, PgErrorKind::Refused, "{e}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "it waited for the server"
    );
    let pg = waking.await.unwrap();
    let info = conn(&pg, "postgres").wake().await.unwrap();
    assert!(info.major >= 11);
}

/// The Lambda layer, built by `infra/pg-layer/build.sh` from Debian's client package, dumps and
/// restores on its own: started through its bundled loader (no shell, no host library path),
/// within Lambda's layer size limit.
#[tokio::test]
async fn the_lambda_layer_dumps_and_restores_on_its_own() {
    let out = std::env::temp_dir().join(twincloud_testkit::unique("pg-layer"));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/pg-layer/build.sh");
    let built = std::process::Command::new("bash")
        .arg(script)
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let size: u64 = walk(&out);
    assert!(
        size < 250 << 20,
        "a layer is at most 250 MB unzipped: {size}"
    );
    let tools = PgTools::in_dir(out.join("pgsql/bin"));
    let (major, line) = tools.version("pg_dump").await.unwrap();
    assert!(major >= 15 && line.contains("pg_dump"), "{line}");

    let pg = Postgres::start().await;
    pg.create_database("app").await;
    pg.seed_sample("app", 1_000).await;
    let layer = |db: &str| {
        PgConn::new(
            tools.clone(),
            &Secret::new(pg.url(db)),
            PgTls::Disable,
            Duration::from_secs(3),
        )
        .unwrap()
    };
    let app = layer("app");
    let hold = app.export_snapshot().await.unwrap();
    let stats = app.table_stats(Some(&hold.id)).await.unwrap();
    let mut dump = app.dump(&hold.id, 6).unwrap();
    let mut bytes = vec![];
    dump.output().read_to_end(&mut bytes).await.unwrap();
    dump.wait().await.unwrap();
    hold.release().await;
    layer("postgres").create_database("again").await.unwrap();
    let mut restore = layer("again").restore().unwrap();
    restore.write(&bytes).await.unwrap();
    restore.finish().await.unwrap();
    let restored = layer("again").table_stats(None).await.unwrap();
    assert_eq!(compare(&stats, &restored), Vec::<String>::new());
    let _ = std::fs::remove_dir_all(&out);
}

fn walk(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => walk(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}
