//! The sync engine between directories, S3 (moto) and GCS (fake-gcs-server).
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;

use twincloud_bucket_sync::engine::{SyncOptions, sync};
use twincloud_core::planner::sync::DeletePolicy;
use twincloud_core::ports::ObjectStore;
use twincloud_local::LocalObjectStore;
use twincloud_testkit::fs::tree;
use twincloud_testkit::{Fault, FaultProxy, emulators, unique};

fn seed(dir: &Path) {
    for (k, v) in [
        ("index.html", &b"<h1>aion</h1>"[..]),
        (
            "tenants/acme/Quarterly Report (2026) \u{20ac}.pdf",
            b"%PDF-1.7 pretend",
        ),
        ("tenants/acme/a+b c.txt", b"plus and space"),
        ("tenants/globex/empty", b""),
    ] {
        let p = dir.join(k);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, v).unwrap();
    }
}

fn opts() -> SyncOptions {
    SyncOptions {
        concurrency: 8,
        ..SyncOptions::default()
    }
}

#[tokio::test]
async fn directories_sync_incrementally_and_delete_only_when_safe() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    seed(a.path());
    let (src, dst): (Arc<dyn ObjectStore>, Arc<dyn ObjectStore>) = (
        Arc::new(LocalObjectStore::new(a.path())),
        Arc::new(LocalObjectStore::new(b.path())),
    );
    let s = sync(
        src.clone(),
        dst.clone(),
        SyncOptions {
            dry_run: true,
            ..opts()
        },
    )
    .await
    .unwrap();
    assert_eq!((s.copied, s.dry_run), (4, true));
    assert!(tree(b.path()).is_empty(), "a dry run writes nothing");
    let s = sync(src.clone(), dst.clone(), opts()).await.unwrap();
    assert_eq!((s.copied, s.failed), (4, 0));
    assert_eq!(tree(a.path()), tree(b.path()));
    let again = sync(src.clone(), dst.clone(), opts()).await.unwrap();
    assert_eq!(
        (again.copied, again.bytes, again.skipped),
        (0, 0, 4),
        "nothing re-sent"
    );
    assert_eq!(
        again.size_only, 0,
        "directories keep no checksum, so both sides were hashed: nothing compared by size"
    );

    std::fs::write(a.path().join("index.html"), b"<h1>aion v2</h1>").unwrap();
    std::fs::write(b.path().join("stale.txt"), b"old").unwrap();
    let s = sync(src.clone(), dst.clone(), opts()).await.unwrap();
    assert_eq!(s.copied, 1);
    assert!(
        s.deletes_refused
            .as_deref()
            .unwrap()
            .contains("deletes are off")
    );
    assert!(b.path().join("stale.txt").exists());
    let on = SyncOptions {
        deletes: DeletePolicy {
            enabled: true,
            max_count: 10,
            max_fraction: 0.5,
        },
        ..opts()
    };
    let s = sync(src.clone(), dst.clone(), on.clone()).await.unwrap();
    assert_eq!(s.deleted, 1);
    assert_eq!(tree(a.path()), tree(b.path()));

    // An empty source never empties the destination.
    let empty = tempfile::tempdir().unwrap();
    let s = sync(
        Arc::new(LocalObjectStore::new(empty.path())),
        dst.clone(),
        on,
    )
    .await
    .unwrap();
    assert_eq!(s.deleted, 0);
    assert!(
        s.deletes_refused
            .unwrap()
            .contains("source listing is empty")
    );
    assert_eq!(tree(a.path()), tree(b.path()));
}

#[tokio::test]
async fn local_to_s3_to_gcs_and_back_is_byte_identical() {
    let a = tempfile::tempdir().unwrap();
    seed(a.path());
    let aws = twincloud_aws::AwsContext::for_endpoint(&emulators::moto_url(), "us-east-1").await;
    let bucket = unique("sync");
    aws.s3()
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let gcs_base = emulators::gcs_url();
    let gbucket = unique("sync");
    reqwest::Client::new()
        .post(format!("{gcs_base}/storage/v1/b?project=test"))
        .json(&serde_json::json!({"name": gbucket}))
        .send()
        .await
        .unwrap();
    let s3: Arc<dyn ObjectStore> =
        Arc::new(twincloud_aws::S3ObjectStore::new(&aws, &bucket, "uploads"));
    let gcs: Arc<dyn ObjectStore> = Arc::new(twincloud_gcp::GcsObjectStore::new(
        &twincloud_gcp::GcpContext::for_emulator(&gcs_base).unwrap(),
        &gbucket,
        "mirror",
    ));
    let back = tempfile::tempdir().unwrap();
    let local: Arc<dyn ObjectStore> = Arc::new(LocalObjectStore::new(a.path()));
    let out: Arc<dyn ObjectStore> = Arc::new(LocalObjectStore::new(back.path()));
    assert_eq!(
        sync(local.clone(), s3.clone(), opts())
            .await
            .unwrap()
            .copied,
        4
    );
    let s = sync(s3.clone(), gcs.clone(), opts()).await.unwrap();
    assert_eq!(s.copied, 4);
    let again = sync(s3.clone(), gcs.clone(), opts()).await.unwrap();
    assert_eq!(
        (again.copied, again.bytes, again.size_only),
        (0, 0, 0),
        "S3 and GCS compare by MD5"
    );
    sync(gcs.clone(), out.clone(), opts()).await.unwrap();
    assert_eq!(tree(a.path()), tree(back.path()));
}

#[tokio::test]
async fn a_failed_copy_is_reported_and_blocks_deletes() {
    let a = tempfile::tempdir().unwrap();
    seed(a.path());
    let bucket = unique("sync");
    let direct = twincloud_aws::AwsContext::for_endpoint(&emulators::moto_url(), "us-east-1").await;
    direct
        .s3()
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    direct
        .s3()
        .put_object()
        .bucket(&bucket)
        .key("extra.txt")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    let proxy = FaultProxy::start(&emulators::moto_url()).await;
    proxy.inject("index.html", 100, Fault::unavailable());
    let via = twincloud_aws::AwsContext::for_endpoint(&proxy.url(), "us-east-1").await;
    let s3: Arc<dyn ObjectStore> = Arc::new(twincloud_aws::S3ObjectStore::new(&via, &bucket, ""));
    let on = SyncOptions {
        deletes: DeletePolicy {
            enabled: true,
            max_count: 10,
            max_fraction: 1.0,
        },
        ..opts()
    };
    let s = sync(
        Arc::new(LocalObjectStore::new(a.path())),
        s3.clone(),
        on.clone(),
    )
    .await
    .unwrap();
    assert_eq!(s.copied, 3);
    assert_eq!(s.failed, 1);
    assert!(s.errors[0].starts_with("index.html"), "{:?}", s.errors);
    assert!(s.deletes_refused.unwrap().contains("copy(ies) failed"));
    assert!(
        s3.get("extra.txt").await.unwrap().is_some(),
        "nothing deleted after a failed copy"
    );
    // Once the fault clears, a rerun converges.
    proxy.clear();
    let s = sync(
        Arc::new(LocalObjectStore::new(a.path())),
        s3.clone(),
        on.clone(),
    )
    .await
    .unwrap();
    assert_eq!((s.copied, s.deleted, s.failed), (1, 1, 0));
}

#[tokio::test]
async fn console_folder_placeholders_are_not_objects() {
    let aws = twincloud_aws::AwsContext::for_endpoint(&emulators::moto_url(), "us-east-1").await;
    let bucket = unique("folders");
    let s3 = aws.s3();
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    // What "Create folder" in the S3 console makes, then a file in it.
    for (key, body) in [("photos/", &b""[..]), ("photos/a.jpg", b"jpeg")] {
        s3.put_object()
            .bucket(&bucket)
            .key(key)
            .body(body.to_vec().into())
            .send()
            .await
            .unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let s = sync(
        Arc::new(twincloud_aws::S3ObjectStore::new(&aws, &bucket, "")),
        Arc::new(LocalObjectStore::new(out.path())),
        opts(),
    )
    .await
    .unwrap();
    assert_eq!((s.copied, s.failed, s.listed.0), (1, 0, 1), "{s:?}");
    assert_eq!(
        tree(out.path()),
        [("photos/a.jpg".to_owned(), b"jpeg".to_vec())].into()
    );
}
