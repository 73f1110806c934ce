//! `twincloud restore` as a user runs it: without `--yes` nothing happens; with it, RDS
//! restores from a snapshot and to a point in time (moto), Cloud SQL imports (a fake validated
//! against `sqladmin.v1.json`), and local restores.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

use serde_json::json;
use twincloud_core::ports::Database;
use twincloud_testkit::{DiscoveryFake, emulators, unique};

fn twincloud(args: &[&str]) -> Command {
    twincloud_testkit::cli::command_on(
        env!("CARGO_BIN_EXE_twincloud"),
        args,
        &emulators::moto_db_url(),
    )
}

async fn run(mut c: Command) -> (Output, String) {
    let c = std::mem::replace(&mut c, Command::new("true"));
    let out = tokio::process::Command::from(c).output().await.unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rds_restores_say_first_and_act_only_with_yes() {
    let aws = twincloud_aws::AwsContext::for_endpoint(&emulators::moto_db_url(), "us-east-1").await;
    let db = unique("aion-db");
    aws.rds()
        .create_db_instance()
        .db_instance_identifier(&db)
        .engine("postgres")
        .db_instance_class("db.t3.micro")
        .allocated_storage(20)
        .master_username("aion")
        .master_user_password("not-a-real-password")
        .send()
        .await
        .unwrap();
    let rds = twincloud_aws::RdsDatabase::new(&aws);
    let snap = format!("{db}-20261122-030000");
    rds.create_snapshot(&db, &snap).await.unwrap();
    let exists = |name: String| {
        let rds = twincloud_aws::RdsDatabase::new(&aws);
        async move {
            rds.list_databases()
                .await
                .unwrap()
                .iter()
                .any(|d| d.name == name)
        }
    };

    let target = unique("aion-restored");
    let (out, text) = run(twincloud(&[
        "restore",
        "rds",
        "--snapshot",
        &snap,
        "--to",
        &target,
    ]))
    .await;
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!(
            "Restore snapshot {snap} into a new database `{target}`"
        )),
        "{text}"
    );
    assert!(text.contains("Nothing done"), "{text}");
    assert!(!exists(target.clone()).await);

    let (out, text) = run(twincloud(&[
        "restore",
        "rds",
        "--snapshot",
        &snap,
        "--to",
        &target,
        "--yes",
    ]))
    .await;
    assert!(out.status.success(), "{text}");
    assert!(text.contains("is being created"), "{text}");
    assert!(exists(target).await);

    let pitr = unique("aion-pitr");
    let (out, text) = run(twincloud(&[
        "restore",
        "rds",
        "--pitr",
        &db,
        "--time",
        "2026-11-22T02:30:00Z",
        "--to",
        &pitr,
        "--yes",
        "--output",
        "json",
    ]))
    .await;
    assert!(out.status.success(), "{text}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["done"], true);
    assert!(
        v["plan"]
            .as_str()
            .unwrap()
            .contains("as of 2026-11-22T02:30:00+00:00")
    );
    assert!(exists(pitr).await);

    let (out, text) = run(twincloud(&[
        "restore",
        "rds",
        "--snapshot",
        "no-such-snapshot",
        "--to",
        "x",
        "--yes",
    ]))
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text.contains("snapshot no-such-snapshot not found"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_sql_import_is_started_and_followed_to_done() {
    let fake = DiscoveryFake::start("sqladmin.v1", |call| match call.method.as_str() {
        "sql.instances.list" => (200, json!({"items": [{"name": "ai-chatbot-db"}]})),
        "sql.instances.import" => (200, json!({"name": "op-import", "status": "PENDING"})),
        "sql.operations.get" => (200, json!({"name": "op-import", "status": "DONE"})),
        other => (500, json!({"error": {"message": other}})),
    })
    .await;
    let args = [
        "restore",
        "cloudsql",
        "--project",
        "aion-prod",
        "--instance",
        "ai-chatbot-db",
        "--from",
        "gs://aion-backups/sql/ai-chatbot-db/ai-chatbot-db-20261122-030000.sql.gz",
        "--database",
        "ai_agent",
    ];
    let mut c = twincloud(&args);
    c.env("TWINCLOUD_GCP_SQLADMIN_URL", fake.url());
    let (out, text) = run(c).await;
    assert!(
        out.status.success() && text.contains("Nothing done"),
        "{text}"
    );
    assert!(
        !fake
            .calls()
            .iter()
            .any(|c| c.method == "sql.instances.import")
    );

    let mut c = twincloud(&args);
    c.arg("--yes").env("TWINCLOUD_GCP_SQLADMIN_URL", fake.url());
    let (out, text) = run(c).await;
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Import done."), "{text}");
    assert!(fake.rejected().is_empty(), "{:?}", fake.rejected());
    let import = fake
        .calls()
        .into_iter()
        .find(|c| c.method == "sql.instances.import")
        .unwrap();
    assert_eq!(import.body["importContext"]["database"], "ai_agent");
    assert_eq!(import.body["importContext"]["fileType"], "SQL");
}

#[tokio::test]
async fn a_local_restore_makes_a_new_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = twincloud_local::LocalDatabase::new(dir.path());
    db.create_database("aion-db", &[]).await.unwrap();
    db.create_snapshot("aion-db", "aion-db-20261122-030000")
        .await
        .unwrap();
    let d = dir.path().display().to_string();
    let args = [
        "restore",
        "local",
        "--snapshot",
        "aion-db-20261122-030000",
        "--to",
        "aion-db-restored",
        "--dir",
        &d,
    ];
    let (out, text) = run(twincloud(&args)).await;
    assert!(
        out.status.success() && text.contains("Nothing done"),
        "{text}"
    );
    let mut c = twincloud(&args);
    c.arg("--yes");
    let (out, text) = run(c).await;
    assert!(out.status.success(), "{text}");
    let names: Vec<String> = db
        .list_databases()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(names, ["aion-db", "aion-db-restored"]);
}

/// A dump made by the backup function (to moto S3 and a directory), restored by the CLI: the
/// manifest and digest are checked and the plan said without `--yes`; with it, a new database
/// holds every row; a database that is not empty and a corrupted dump are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_dumps_restore_into_a_new_database_only_with_yes() {
    use twincloud_runtime::{Clouds, Invoker, Services};
    use twincloud_testkit::postgres::Postgres;

    let pg = Postgres::start().await;
    pg.create_database("app").await;
    pg.seed_sample("app", 10_000).await;
    let aws = twincloud_aws::AwsContext::for_endpoint(&emulators::moto_url(), "us-east-1").await;
    let bucket = unique("pgcli");
    aws.s3()
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let secret = unique("pg-url");
    aws.secrets()
        .create_secret()
        .name(&secret)
        .secret_string(pg.url("app"))
        .send()
        .await
        .unwrap();
    let state = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"[project]
name = "aion"
state = "{}"

[[backup.sets]]
name = "neon"
engine = "postgres"
url = "aws-sm:{secret}"
verify = false
tls = "disable"
databases = ["app"]
to = ["s3://{bucket}/pg/", "{}"]
"#,
        state.path().display(),
        dir.path().display()
    );
    let services = Services::build(
        twincloud_core::Config::parse("t.toml", &text).unwrap(),
        &Clouds::with_aws(aws.clone()),
    )
    .await
    .unwrap();
    let inv = Invoker::new(
        Box::new(twincloud_functions::backup::Backup::default()),
        services,
        false,
    );
    inv.handle_json(&twincloud_testkit::fixtures::schedule(
        "run-1",
        "neon",
        "2026-12-03T03:00:00Z",
        json!({}),
    ))
    .await
    .unwrap();
    let from = format!("s3://{bucket}/pg/neon/app/20261203T030000Z.dump");
    let restore = |from: &str, target: &str, yes: bool| {
        let bin = pg.bin().display().to_string();
        let mut args = vec![
            "restore",
            "postgres",
            "--from",
            from,
            "--to-url",
            "env:TARGET_URL",
            "--tls",
            "disable",
            "--bin-dir",
            &bin,
        ];
        if yes {
            args.push("--yes");
        }
        let mut c = twincloud_testkit::cli::command_on(
            env!("CARGO_BIN_EXE_twincloud"),
            &args,
            &emulators::moto_url(),
        );
        c.env("TARGET_URL", pg.url(target));
        c
    };
    let databases = "SELECT count(*) FROM pg_database WHERE datname = 'copy'";

    let (out, text) = run(restore(&from, "copy", false)).await;
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("SHA-256 checked") && text.contains("into a new database `copy`"),
        "{text}"
    );
    assert!(text.contains("Nothing done"), "{text}");
    assert!(!text.contains(&pg.url("app")[..25]), "a URL leaked: {text}");
    assert_eq!(pg.psql("postgres", databases).await, "0");

    let (out, text) = run(restore(&from, "copy", true)).await;
    assert!(out.status.success(), "{text}");
    assert!(text.contains("match the manifest"), "{text}");
    let rows = "SELECT count(*) FROM public.events";
    assert_eq!(pg.psql("copy", rows).await, "10000");
    let orders = "SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM shop.orders t";
    assert_eq!(pg.psql("copy", orders).await, pg.psql("app", orders).await);

    // Again into the same, now full, database: refused.
    let (out, text) = run(restore(&from, "copy", true)).await;
    assert!(!out.status.success());
    assert!(text.contains("is not empty"), "{text}");

    // A corrupted copy in the directory: refused before anything is said or done.
    let local = dir.path().join("neon/app/20261203T030000Z.dump");
    let mut bytes = std::fs::read(&local).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&local, bytes).unwrap();
    let (out, text) = run(restore(&local.display().to_string(), "copy2", true)).await;
    assert!(!out.status.success());
    assert!(
        text.contains("SHA-256") && text.contains("corrupt"),
        "{text}"
    );
    assert_eq!(
        pg.psql(
            "postgres",
            "SELECT count(*) FROM pg_database WHERE datname = 'copy2'"
        )
        .await,
        "0"
    );
}
