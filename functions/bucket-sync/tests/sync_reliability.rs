//! The sync engine under trouble, on moto, fake-gcs-server and temp directories: faults on
//! either side, a listing that fails midway, concurrent event copies of one key, a run cut
//! short by its deadline and resumed, large objects in parts with their metadata.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use futures_util::StreamExt;
use twincloud_aws::{AwsContext, S3ObjectStore};
use twincloud_bucket_sync::engine::{Outcome, SyncOptions, delete_copy_of_gone, sync, sync_key};
use twincloud_core::digest::ContentDigest;
use twincloud_core::planner::sync::DeletePolicy;
use twincloud_core::ports::{ObjectMeta, ObjectStore, PutRequest};
use twincloud_gcp::{GcpContext, GcsObjectStore};
use twincloud_local::LocalObjectStore;
use twincloud_testkit::{Fault, FaultProxy, emulators, unique};

async fn s3_bucket(ctx: &AwsContext) -> String {
    let b = unique("rel");
    ctx.s3().create_bucket().bucket(&b).send().await.unwrap();
    b
}

/// Every object of a store, key → bytes.
async fn contents(o: &dyn ObjectStore) -> Vec<(String, Vec<u8>)> {
    let keys: Vec<String> = o.list("", None).map(|r| r.unwrap().key).collect().await;
    let mut out = Vec::new();
    for k in keys {
        out.push((k.clone(), o.get(&k).await.unwrap().unwrap()));
    }
    out
}

fn body(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| ((i * 31 + j * 7) % 251) as u8).collect()
}

async fn seed(o: &dyn ObjectStore, n: usize) {
    for i in 0..n {
        o.put_bytes(
            &format!("t{:02}/obj {i:04}+x.bin", i % 7),
            &body(i, 100 + i * 13),
        )
        .await
        .unwrap();
    }
}

fn deletes_on() -> DeletePolicy {
    DeletePolicy {
        enabled: true,
        max_count: 1000,
        max_fraction: 1.0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faults_on_both_sides_converge() {
    let aws_direct = AwsContext::for_endpoint(&emulators::moto_url(), "us-east-1").await;
    let src_bucket = s3_bucket(&aws_direct).await;
    seed(&S3ObjectStore::new(&aws_direct, &src_bucket, "in"), 60).await;
    let gcs = emulators::gcs_url();
    let dst_bucket = emulators::new_gcs_bucket("rel").await;
    let s3_proxy = FaultProxy::start(&emulators::moto_url()).await;
    let gcs_proxy = FaultProxy::start(&gcs).await;
    // Throttling, 503s and dropped connections, on reads, listings and writes of both sides.
    s3_proxy.inject("GET ", 6, Fault::unavailable());
    s3_proxy.inject("t03", 4, Fault::Drop);
    s3_proxy.inject(
        "list-type",
        2,
        Fault::Status {
            status: 503,
            headers: vec![],
            body: "<Error><Code>SlowDown</Code><Message>Reduce your request rate</Message></Error>"
                .into(),
        },
    );
    gcs_proxy.inject("POST ", 6, Fault::too_many_requests(0));
    gcs_proxy.inject("t05", 4, Fault::Drop);
    gcs_proxy.inject("GET ", 3, Fault::unavailable());
    let source: Arc<dyn ObjectStore> = Arc::new(S3ObjectStore::new(
        &AwsContext::for_endpoint(&s3_proxy.url(), "us-east-1").await,
        &src_bucket,
        "in",
    ));
    let destination: Arc<dyn ObjectStore> = Arc::new(GcsObjectStore::new(
        &GcpContext::for_emulator(&gcs_proxy.url()).unwrap(),
        &dst_bucket,
        "out",
    ));
    let mut runs = 0;
    loop {
        runs += 1;
        let s = sync(source.clone(), destination.clone(), SyncOptions::default())
            .await
            .unwrap();
        if s.failed == 0 && s.copied == 0 {
            break;
        }
        assert!(runs < 4, "did not converge: {s:?}");
    }
    assert!(s3_proxy.stats().requests > 60 && gcs_proxy.stats().requests > 60);
    s3_proxy.clear();
    gcs_proxy.clear();
    assert_eq!(
        contents(source.as_ref()).await,
        contents(destination.as_ref()).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_source_listing_that_fails_midway_deletes_nothing() {
    let aws = AwsContext::for_endpoint(&emulators::moto_url(), "us-east-1").await;
    let bucket = s3_bucket(&aws).await;
    seed(&S3ObjectStore::new(&aws, &bucket, "src"), 30).await;
    let dst = tempfile::tempdir().unwrap();
    let destination: Arc<dyn ObjectStore> = Arc::new(LocalObjectStore::new(dst.path()));
    // Extras that a complete run with deletes on would remove.
    for k in ["zz-old-1", "zz-old-2", "a-old"] {
        destination.put_bytes(k, b"old").await.unwrap();
    }
    let proxy = FaultProxy::start(&emulators::moto_url()).await;
    // The second page of the listing fails, every time.
    proxy.inject("continuation-token", 1000, Fault::unavailable());
    let source: Arc<dyn ObjectStore> = Arc::new(
        S3ObjectStore::new(
            &AwsContext::for_endpoint(&proxy.url(), "us-east-1").await,
            &bucket,
            "src",
        )
        .with_page_size(10),
    );
    let s = sync(
        source.clone(),
        destination.clone(),
        SyncOptions {
            deletes: deletes_on(),
            ..SyncOptions::default()
        },
    )
    .await
    .unwrap();
    assert!(!s.complete);
    assert!(s.failed >= 1, "{s:?}");
    assert!(
        s.deletes_refused
            .as_deref()
            .unwrap()
            .contains("source listing failed"),
        "{s:?}"
    );
    assert_eq!(s.deleted, 0);
    for k in ["zz-old-1", "zz-old-2", "a-old"] {
        assert!(destination.head(k).await.unwrap().is_some(), "{k} deleted");
    }
    // The listing recovers: the next run completes and deletes the extras.
    proxy.clear();
    let s = sync(
        source.clone(),
        destination.clone(),
        SyncOptions {
            deletes: deletes_on(),
            ..SyncOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!((s.failed, s.deleted), (0, 3), "{s:?}");
    assert_eq!(
        contents(source.as_ref()).await,
        contents(destination.as_ref()).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_event_copies_of_one_key_leave_the_newest_version() {
    let aws = AwsContext::for_endpoint(&emulators::moto_url(), "us-east-1").await;
    let bucket = s3_bucket(&aws).await;
    let gcs = emulators::gcs_url();
    let gbucket = emulators::new_gcs_bucket("rel").await;
    let source: Arc<dyn ObjectStore> = Arc::new(S3ObjectStore::new(&aws, &bucket, ""));
    let destination: Arc<dyn ObjectStore> = Arc::new(GcsObjectStore::new(
        &GcpContext::for_emulator(&gcs).unwrap(),
        &gbucket,
        "",
    ));
    for round in 0..3 {
        let mut copies = Vec::new();
        let mut last = Vec::new();
        for v in 0..8 {
            last = format!("round {round} version {v} {}", "x".repeat(v * 100)).into_bytes();
            source.put_bytes("hot/key.json", &last).await.unwrap();
            // One event per version, each handled while later versions are being written.
            for _ in 0..2 {
                let (s, d) = (source.clone(), destination.clone());
                copies.push(tokio::spawn(
                    async move { sync_key(s, d, "hot/key.json").await },
                ));
            }
        }
        for c in copies {
            c.await.unwrap().unwrap();
        }
        assert_eq!(
            destination.get("hot/key.json").await.unwrap().unwrap(),
            last,
            "round {round}: an older version won"
        );
    }
    // A stale event, replayed: nothing is copied.
    assert!(matches!(
        sync_key(source.clone(), destination.clone(), "hot/key.json")
            .await
            .unwrap(),
        Outcome::Same(_)
    ));
    // A delete event deletes only once the source has no such object.
    source
        .delete("hot/key.json", &twincloud_core::ports::Precondition::None)
        .await
        .unwrap();
    assert_eq!(
        delete_copy_of_gone(source.clone(), destination.clone(), "hot/key.json")
            .await
            .unwrap(),
        Outcome::Deleted
    );
    assert!(destination.head("hot/key.json").await.unwrap().is_none());
}

#[tokio::test]
async fn a_run_stopped_at_its_deadline_resumes_from_its_cursor() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let source: Arc<dyn ObjectStore> = Arc::new(LocalObjectStore::new(a.path()));
    let destination: Arc<dyn ObjectStore> = Arc::new(LocalObjectStore::new(b.path()));
    seed(source.as_ref(), 12).await;
    let mut cursor = None;
    let mut runs = 0;
    loop {
        runs += 1;
        let s = sync(
            source.clone(),
            destination.clone(),
            SyncOptions {
                start_after: cursor.clone(),
                // Already past: each run takes one key and hands over.
                stop_at: Some(tokio::time::Instant::now()),
                ..SyncOptions::default()
            },
        )
        .await
        .unwrap();
        if s.complete {
            assert!(s.copied <= 1, "{s:?}");
            break;
        }
        assert_eq!(s.copied, 1, "run {runs} after {cursor:?}: {s:?}");
        assert!(s.cursor > cursor, "the cursor moves forward");
        cursor = s.cursor;
    }
    // Twelve keys; the last run also sees that the listings ended.
    assert!((12..=13).contains(&runs), "{runs} runs");
    assert_eq!(
        contents(source.as_ref()).await,
        contents(destination.as_ref()).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn large_objects_move_in_parts_with_their_metadata_between_clouds() {
    let aws = AwsContext::for_endpoint(&emulators::moto_url(), "us-east-1").await;
    let bucket = s3_bucket(&aws).await;
    let gcs = emulators::gcs_url();
    let gbucket = emulators::new_gcs_bucket("rel").await;
    let s3: Arc<dyn ObjectStore> = Arc::new(S3ObjectStore::new(&aws, &bucket, "big"));
    let g: Arc<dyn ObjectStore> = Arc::new(GcsObjectStore::new(
        &GcpContext::for_emulator(&gcs).unwrap(),
        &gbucket,
        "copy",
    ));
    // A multipart S3 object (its ETag is no MD5) with headers and user metadata.
    let data = body(3, 17 * 1024 * 1024 + 5);
    let mut req = PutRequest::new("video/talk 1.mp4", data.len() as u64);
    req.meta = ObjectMeta {
        content_type: Some("video/mp4".into()),
        cache_control: Some("public, max-age=3600".into()),
        user: [("uploaded-by".to_owned(), "acme".to_owned())].into(),
    };
    let mut up = s3.begin_upload(&req).await.unwrap();
    for chunk in data.chunks(8 * 1024 * 1024) {
        up.write(chunk.to_vec()).await.unwrap();
    }
    up.finish(&ContentDigest::of(&data).0).await.unwrap();
    s3.put_bytes("small.txt", b"small").await.unwrap();
    let limited = SyncOptions {
        memory_budget: 16 * 1024 * 1024,
        ..SyncOptions::default()
    };
    let s = sync(s3.clone(), g.clone(), limited.clone()).await.unwrap();
    assert_eq!((s.copied, s.failed), (2, 0), "{s:?}");
    let head = g.head("video/talk 1.mp4").await.unwrap().unwrap();
    assert_eq!(head.meta, req.meta, "headers and user metadata kept");
    assert_eq!(head.info.md5, Some(ContentDigest::of(&data).0));
    assert_eq!(g.get("video/talk 1.mp4").await.unwrap().unwrap(), data);
    // The next pass compares without reading: the stored digest and source version decide.
    let again = sync(s3.clone(), g.clone(), limited.clone()).await.unwrap();
    assert_eq!((again.copied, again.bytes, again.size_only), (0, 0, 0));
    // And back to S3 in parts, where the stored MD5 is found with one HEAD.
    let back: Arc<dyn ObjectStore> = Arc::new(S3ObjectStore::new(&aws, &bucket, "back"));
    assert_eq!(
        sync(g.clone(), back.clone(), limited.clone())
            .await
            .unwrap()
            .copied,
        2
    );
    let again = sync(g.clone(), back.clone(), limited).await.unwrap();
    assert_eq!((again.copied, again.size_only), (0, 0), "{again:?}");
    assert_eq!(back.get("video/talk 1.mp4").await.unwrap().unwrap(), data);
}
