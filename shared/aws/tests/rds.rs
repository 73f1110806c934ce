//! RDS adapters against moto's database instance (`TWINCLOUD_TEST_MOTO_DB_URL`): snapshots of
//! instances and clusters, batch listing, cross-region copies with a KMS key, restores.
#![allow(clippy::unwrap_used)]

use twincloud_aws::{AwsContext, RdsDatabase};
use twincloud_core::ports::{
    Database, DatabaseKind, DatabaseRestore, RestoreSource, Retry, SnapshotStatus,
};
use twincloud_testkit::{emulators, unique};

async fn ctx() -> AwsContext {
    AwsContext::for_endpoint(&emulators::moto_db_url(), "us-east-1").await
}

async fn instance(ctx: &AwsContext, name: &str, tag: Option<(&str, &str)>) {
    let mut req = ctx
        .rds()
        .create_db_instance()
        .db_instance_identifier(name)
        .engine("postgres")
        .db_instance_class("db.t3.micro")
        .allocated_storage(20)
        .master_username("aion")
        .master_user_password("not-a-real-password");
    if let Some((k, v)) = tag {
        req = req.tags(aws_sdk_rds::types::Tag::builder().key(k).value(v).build());
    }
    req.send().await.unwrap();
}

/// A KMS key in `region` of moto, made with the KMS JSON protocol (no SDK needed for one call).
async fn kms_key(region: &str) -> String {
    let reply: serde_json::Value = reqwest::Client::new()
        .post(emulators::moto_db_url())
        .header("X-Amz-Target", "TrentService.CreateKey")
        .header("Content-Type", "application/x-amz-json-1.1")
        .header(
            "Authorization",
            format!("AWS4-HMAC-SHA256 Credential=test/20261122/{region}/kms/aws4_request, SignedHeaders=host, Signature=0"),
        )
        .body("{}")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    reply["KeyMetadata"]["Arn"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn rds_database_conforms() {
    let ctx = ctx().await;
    let rds = ctx.rds();
    let db = unique("aion-db");
    instance(&ctx, &db, None).await;
    // RDS's own automated snapshot of the new instance (no twincloud tag): listed, never
    // deleted.
    let listed = rds
        .describe_db_snapshots()
        .db_instance_identifier(&db)
        .send()
        .await
        .unwrap();
    let foreign = listed.db_snapshots()[0]
        .db_snapshot_identifier()
        .unwrap()
        .to_owned();
    let store = twincloud_aws::RdsDatabase::new(&ctx);
    twincloud_testkit::conformance::database(&store, &db, &foreign, &unique("missing-db")).await;
}

#[tokio::test]
async fn instances_and_clusters_are_listed_snapshotted_copied_and_restored() {
    let ctx = ctx().await;
    let (db, cluster) = (unique("aion-db"), unique("aion-aurora"));
    instance(&ctx, &db, Some(("backup", "daily"))).await;
    ctx.rds()
        .create_db_cluster()
        .db_cluster_identifier(&cluster)
        .engine("aurora-postgresql")
        .master_username("aion")
        .master_user_password("not-a-real-password")
        .tags(
            aws_sdk_rds::types::Tag::builder()
                .key("backup")
                .value("daily")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let rds = RdsDatabase::new(&ctx);
    let all = rds.list_databases().await.unwrap();
    let mine: Vec<_> = all
        .iter()
        .filter(|d| d.name == db || d.name == cluster)
        .cloned()
        .collect();
    assert_eq!(mine.len(), 2);
    let kind_of = |n: &str| mine.iter().find(|d| d.name == n).unwrap().kind;
    assert_eq!(kind_of(&db), DatabaseKind::Instance);
    assert_eq!(kind_of(&cluster), DatabaseKind::Cluster);
    assert!(
        mine.iter()
            .all(|d| d.tags.get("backup").map(String::as_str) == Some("daily"))
    );

    let s1 = rds
        .create_snapshot(&db, &format!("{db}-20261122-030000"))
        .await
        .unwrap();
    let s2 = rds
        .create_snapshot(&cluster, &format!("{cluster}-20261122-030000"))
        .await
        .unwrap();
    assert!(s2.cluster && !s1.cluster && s1.managed && s2.managed);
    let by_db = rds.snapshots_of(&mine).await.unwrap();
    let of = |n: &str| by_db.get(n).unwrap().clone();
    assert_eq!(of(&db).len(), 1, "manual snapshots only: {:?}", of(&db));
    assert_eq!(of(&db)[0].id, s1.id);
    assert!(
        of(&db)[0]
            .arn
            .as_deref()
            .unwrap()
            .starts_with("arn:aws:rds:us-east-1:")
    );
    assert_eq!(of(&cluster)[0].id, s2.id);
    assert_eq!(of(&cluster)[0].status, SnapshotStatus::Available);

    // Copies to the disaster-recovery region, the instance's encrypted with a key there.
    let key = kms_key("us-west-2").await;
    let dr = RdsDatabase::new(&ctx.in_region("us-west-2"));
    let c1 = dr.copy_snapshot(&of(&db)[0], Some(&key)).await.unwrap();
    let c2 = dr.copy_snapshot(&of(&cluster)[0], None).await.unwrap();
    assert_eq!(
        (c1.id.as_str(), c1.database.as_str()),
        (s1.id.as_str(), db.as_str())
    );
    assert!(c2.cluster);
    let copies = dr.snapshots_of(&mine).await.unwrap();
    assert_eq!(copies.get(&db).unwrap()[0].id, s1.id);
    assert!(
        copies.get(&db).unwrap()[0].managed,
        "copies are tagged as ours"
    );
    assert_eq!(copies.get(&cluster).unwrap()[0].id, s2.id);
    let again = dr.copy_snapshot(&of(&db)[0], Some(&key)).await.unwrap_err();
    assert_eq!(again.retry, Retry::Permanent, "{}", again.message);

    // Restores make new databases and leave the source alone.
    let restored = unique("aion-restored");
    rds.restore(&RestoreSource::Snapshot { id: s1.id.clone() }, &restored)
        .await
        .unwrap();
    let pitr = unique("aion-pitr");
    rds.restore(
        &RestoreSource::PointInTime {
            database: db.clone(),
            time: None,
        },
        &pitr,
    )
    .await
    .unwrap();
    let names: Vec<String> = rds
        .list_databases()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert!(names.contains(&restored) && names.contains(&pitr) && names.contains(&db));
    // And the suite every restore adapter passes.
    twincloud_testkit::conformance::database_restore(&rds, &db, &s1.id, &unique("aion-suite"))
        .await;

    // Deletes, in both regions, of ours only.
    dr.delete_snapshot(&db, &s1.id).await.unwrap();
    dr.delete_snapshot(&cluster, &s2.id).await.unwrap();
    assert!(
        dr.snapshots_of(&mine)
            .await
            .unwrap()
            .values()
            .all(Vec::is_empty)
    );
    rds.delete_snapshot(&cluster, &s2.id).await.unwrap();
    assert!(
        rds.list_snapshots(&cluster)
            .await
            .unwrap()
            .iter()
            .all(|s| !s.managed)
    );
    let e = rds.delete_snapshot(&cluster, &s1.id).await.unwrap_err();
    assert!(
        e.message.contains("not made by twincloud for"),
        "{}",
        e.message
    );
}
