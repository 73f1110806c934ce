//! Logical backups of a real PostgreSQL (Debian's, started by the test kit) end to end: one
//! dump streamed to moto S3, fake-gcs-server and a directory at once, with throttling on both
//! stores; restored into a new database with every table's rows equal; the same schedule twice
//! makes one dump; the verification schedule restores into a scratch database and marks the
//! dump verified; a server killed mid-dump leaves no object and the next run succeeds; a wrong
//! password is one clear, permanent failure. The connection URLs are secrets in moto's Secrets
//! Manager.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use twincloud_backup::{Backup, read_manifest, restore_into};
use twincloud_core::Config;
use twincloud_core::config::PgTls;
use twincloud_core::planner::dumps::{self, DumpPart};
use twincloud_core::ports::ObjectStore;
use twincloud_core::secret::Secret;
use twincloud_postgres::{PgConn, PgTools};
use twincloud_runtime::{Clouds, Invoker, Services};
use twincloud_testkit::fs::outbox;
use twincloud_testkit::postgres::Postgres;
use twincloud_testkit::{Fault, FaultProxy, Gate, emulators, unique};

fn schedule(id: &str, time: &str, args: serde_json::Value) -> Vec<u8> {
    twincloud_testkit::fixtures::schedule(id, "neon", time, args)
}

/// A schedule's time `hours` after the last full hour before now: dumps are judged fresh or
/// stale against the clock, so the tests' schedules follow it.
fn hour(hours: i64) -> chrono::DateTime<chrono::Utc> {
    use chrono::Timelike;
    let now = chrono::Utc::now();
    now.with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap()
        - chrono::Duration::hours(1)
        + chrono::Duration::hours(hours)
}

fn rfc(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The stores and clouds of one test: S3 and GCS behind fault proxies, and a directory.
struct World {
    state: tempfile::TempDir,
    dir: tempfile::TempDir,
    s3: FaultProxy,
    gcs: FaultProxy,
    aws: twincloud_aws::AwsContext,
    clouds: Clouds,
    bucket: String,
    gbucket: String,
}

impl World {
    async fn new() -> World {
        let s3 = FaultProxy::start(&emulators::moto_url()).await;
        let gcs = FaultProxy::start(&emulators::gcs_url()).await;
        let aws = twincloud_aws::AwsContext::for_endpoint(&s3.url(), "us-east-1").await;
        let bucket = unique("pgdumps");
        aws.s3()
            .create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
        let gbucket = emulators::new_gcs_bucket("pgdumps").await;
        let gcp = twincloud_gcp::GcpContext::for_emulator(&gcs.url()).unwrap();
        World {
            state: tempfile::tempdir().unwrap(),
            dir: tempfile::tempdir().unwrap(),
            clouds: Clouds::with_aws(aws.clone()).and_gcp(gcp),
            s3,
            gcs,
            aws,
            bucket,
            gbucket,
        }
    }

    async fn secret(&self, value: &str) -> String {
        let name = unique("pg-url");
        self.aws
            .secrets()
            .create_secret()
            .name(&name)
            .secret_string(value)
            .send()
            .await
            .unwrap();
        format!("aws-sm:{name}")
    }

    fn destinations(&self) -> [String; 3] {
        [
            format!("s3://{}/pg/", self.bucket),
            format!("gs://{}/pg/", self.gbucket),
            self.dir.path().display().to_string(),
        ]
    }

    async fn invoker(&self, url: &str, verify_url: &str) -> Invoker {
        let [s3, gs, dir] = self.destinations();
        let text = format!(
            r#"[project]
name = "aion"
state = "{}"

[[notify.channels]]
name = "outbox"
type = "outbox"

[[backup.sets]]
name = "neon"
engine = "postgres"
url = "{url}"
verify_url = "{verify_url}"
tls = "disable"
databases = ["app"]
to = ["{s3}", "{gs}", "{dir}"]
connect_timeout_secs = 5
"#,
            self.state.path().display()
        );
        let services = Services::build(Config::parse("t.toml", &text).unwrap(), &self.clouds)
            .await
            .unwrap();
        Invoker::new(Box::new(Backup::default()), services, false)
    }

    async fn stores(&self) -> Vec<std::sync::Arc<dyn ObjectStore>> {
        let mut out = vec![];
        for d in self.destinations() {
            out.push(
                twincloud_runtime::stores::object_store(&d.parse().unwrap(), &self.clouds)
                    .await
                    .unwrap(),
            );
        }
        out
    }

    async fn keys(&self) -> Vec<Vec<String>> {
        use futures_util::TryStreamExt;
        let mut out = vec![];
        for s in self.stores().await {
            let keys: Vec<String> = s
                .list("", None)
                .map_ok(|o| o.key)
                .try_collect()
                .await
                .unwrap();
            out.push(keys);
        }
        out
    }
}

fn conn(pg: &Postgres, db: &str) -> PgConn {
    PgConn::new(
        PgTools::in_dir(pg.bin()),
        &Secret::new(pg.url(db)),
        PgTls::Disable,
        Duration::from_secs(5),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_dump_reaches_both_clouds_restores_equal_and_is_verified() {
    let pg = Postgres::start().await;
    pg.create_database("app").await;
    pg.seed_sample("app", 1_000_000).await;
    let w = World::new().await;
    let url = w.secret(&pg.url("app")).await;
    let verify_url = w.secret(&pg.url("postgres")).await;
    let inv = w.invoker(&url, &verify_url).await;
    // Throttling on both stores while the parts go up.
    w.s3.inject("partNumber=2", 2, Fault::unavailable());
    w.gcs.inject("upload_id", 2, Fault::too_many_requests(0));

    let t0 = hour(0);
    let t = &rfc(t0);
    let stem = &format!("neon/app/{}", t0.format("%Y%m%dT%H%M%SZ"));
    let r = inv
        .handle_json(&schedule("run-1", t, serde_json::json!({})))
        .await
        .unwrap();
    let n = r.notes_text();
    assert!(
        n.contains(&format!("app: {stem}.dump complete")) && n.contains("in 3 of 3 destinations"),
        "{n}\n{r:?}\n{:?}",
        outbox(w.state.path())
    );
    for keys in w.keys().await {
        let ours: Vec<&String> = keys.iter().filter(|k| k.starts_with("neon/")).collect();
        assert_eq!(
            ours,
            vec![
                &dumps::key(stem, DumpPart::Dump),
                &dumps::key(stem, DumpPart::Manifest)
            ]
        );
    }
    assert!(w.s3.stats().faulted >= 2 && w.gcs.stats().faulted >= 2);
    let stores = w.stores().await;
    let manifests = [
        read_manifest(stores[0].as_ref(), stem).await.unwrap(),
        read_manifest(stores[1].as_ref(), stem).await.unwrap(),
        read_manifest(stores[2].as_ref(), stem).await.unwrap(),
    ];
    assert_eq!(manifests[0], manifests[1]);
    assert_eq!(manifests[0], manifests[2]);
    let m = &manifests[0];
    assert_eq!(
        m.tables
            .iter()
            .find(|t| t.table == "public.events")
            .unwrap()
            .rows,
        1_000_000
    );
    assert!(m.size > 8 << 20, "the dump spans several parts: {}", m.size);
    let reports = outbox(w.state.path());
    assert_eq!(reports.len(), 1);
    assert!(
        reports[0]["title"]
            .as_str()
            .unwrap()
            .contains("Backup neon: ok"),
        "{}",
        reports[0]
    );

    // Restored from GCS into a new database: every table holds the same rows.
    conn(&pg, "postgres").create_database("copy").await.unwrap();
    let restored = restore_into(stores[1].as_ref(), stem, m, &conn(&pg, "copy"))
        .await
        .unwrap();
    assert!(
        restored.differences.is_empty(),
        "{:?}",
        restored.differences
    );
    for table in [
        "shop.customers",
        "shop.orders",
        "public.events",
        "public.\"Mixed Case\"",
    ] {
        let rows = format!("SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {table} t");
        assert_eq!(
            pg.psql("app", &rows).await,
            pg.psql("copy", &rows).await,
            "{table}"
        );
    }
    let lo = "SELECT string_agg(md5(lo_get(oid)), ',' ORDER BY oid) FROM pg_largeobject_metadata";
    assert_eq!(pg.psql("app", lo).await, pg.psql("copy", lo).await);

    // The same schedule delivered again makes no second dump.
    let before = w.keys().await;
    let r = inv
        .handle_json(&schedule("run-1-again", t, serde_json::json!({})))
        .await
        .unwrap();
    assert!(
        r.notes_text().contains("already complete everywhere"),
        "{}",
        r.notes_text()
    );
    assert_eq!(w.keys().await, before);

    // The verification schedule restores into a scratch database and marks the dump.
    let r = inv
        .handle_json(&schedule(
            "verify-1",
            &rfc(hour(3 * 24 + 2)),
            serde_json::json!({"verify": true}),
        ))
        .await
        .unwrap();
    let n = r.notes_text();
    assert!(n.contains(&format!("app: {stem} verified")), "{n}");
    for keys in w.keys().await {
        assert!(
            keys.contains(&dumps::key(stem, DumpPart::Verified)),
            "{keys:?}"
        );
    }
    assert_eq!(
        pg.psql(
            "postgres",
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'twincloud_verify_%'"
        )
        .await,
        "0",
        "the scratch database is dropped"
    );
    // Verified already: the next verification run has nothing to do.
    let r = inv
        .handle_json(&schedule(
            "verify-2",
            &rfc(hour(10 * 24 + 2)),
            serde_json::json!({"verify": true}),
        ))
        .await
        .unwrap();
    assert!(
        r.notes_text().contains("is already verified"),
        "{}",
        r.notes_text()
    );
    // What the operations page shows: the dump in each of the three destinations, verified.
    let s = inv.services();
    let o =
        twincloud_runtime::overview::gather(&s.config, s.state.as_ref(), chrono::Utc::now()).await;
    let db = &o.backups[0].databases[0];
    assert_eq!(db.name, "app");
    assert_eq!(db.places.len(), 3, "{db:?}");
    assert!(
        db.places.iter().all(|p| &p.id == stem && p.at == t0),
        "{db:?}"
    );
    assert!(db.verified.is_some(), "{db:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_gone_mid_dump_leaves_nothing_and_the_next_run_succeeds() {
    let mut pg = Postgres::start().await;
    pg.create_database("app").await;
    pg.seed_sample("app", 400_000).await;
    let w = World::new().await;
    let url = w.secret(&pg.url("app")).await;
    let verify_url = w.secret(&pg.url("postgres")).await;
    let inv = std::sync::Arc::new(w.invoker(&url, &verify_url).await);
    // The first part's upload is held while the server goes away.
    let gate = Gate::new();
    w.s3.inject("partNumber=1", 1, Fault::Hold(gate.clone()));
    let run = {
        let inv = inv.clone();
        tokio::spawn(async move {
            inv.handle_json(&schedule("run-1", &rfc(hour(0)), serde_json::json!({})))
                .await
        })
    };
    gate.arrived().await;
    pg.kill();
    gate.open();
    let r = run.await.unwrap().unwrap();
    // The run fails loudly: a transient failure for the platform to retry (exit 75), named on
    // standard error, and the report.
    assert_eq!(
        r.exit_code(),
        75,
        "a dump of a dead server succeeded: {}",
        r.to_text()
    );
    assert!(r.platform_result().is_err());
    assert!(
        r.failures().iter().any(|f| f.contains("transient")),
        "{:?}",
        r.failures()
    );
    let reports = outbox(w.state.path());
    let last = reports.last().unwrap();
    assert!(
        last["title"].as_str().unwrap().contains("problem"),
        "{last}"
    );
    assert!(
        last["summary"].as_str().unwrap().contains("dump failed"),
        "{last}"
    );
    for keys in w.keys().await {
        assert!(
            !keys.iter().any(|k| k.starts_with("neon/")),
            "a cut dump left {keys:?}"
        );
    }
    let uploads = w
        .aws
        .s3()
        .list_multipart_uploads()
        .bucket(&w.bucket)
        .send()
        .await
        .unwrap();
    assert!(
        uploads.uploads().is_empty(),
        "the multipart upload is aborted"
    );

    pg.restart().await;
    let r = inv
        .handle_json(&schedule("run-2", &rfc(hour(1)), serde_json::json!({})))
        .await
        .unwrap();
    assert!(
        r.notes_text().contains("in 3 of 3 destinations"),
        "{}",
        r.notes_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_one_clear_permanent_failure() {
    let pg = Postgres::start().await;
    pg.create_database("app").await;
    let w = World::new().await;
    let url = w.secret(&pg.url("app").replacen('@', "-wrong@", 1)).await;
    let verify_url = w.secret(&pg.url("postgres")).await;
    let inv = w.invoker(&url, &verify_url).await;
    let started = Instant::now();
    let r = inv
        .handle_json(&schedule("run-1", &rfc(hour(0)), serde_json::json!({})))
        .await;
    assert!(r.is_ok(), "a refusal is not retried by the platform: {r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "retried a refusal"
    );
    // Said whatever channels exist: the run exits 1 and names the failure on standard error.
    let report = r.unwrap();
    assert_eq!(report.exit_code(), 1, "{}", report.to_text());
    let failures = report.failures();
    assert!(
        failures
            .iter()
            .any(|f| f.contains("password authentication failed")),
        "{failures:?}"
    );
    assert!(
        !failures.iter().any(|f| f.contains(&pg.url("app")[..20])),
        "the URL leaked: {failures:?}"
    );
    let reports = outbox(w.state.path());
    let summary = reports.last().unwrap()["summary"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        summary.contains("password authentication failed"),
        "{summary}"
    );
    assert!(
        !summary.contains(&pg.url("app")[..20]),
        "the URL leaked: {summary}"
    );
    for keys in w.keys().await {
        assert!(!keys.iter().any(|k| k.starts_with("neon/")));
    }
}
