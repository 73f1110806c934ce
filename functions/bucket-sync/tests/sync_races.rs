//! A reconcile and object events on the same keys at the same time, in both directions (S3 to
//! GCS on moto and fake-gcs-server, and back). The reconcile's requests to the destination go
//! through the fault proxy, which holds one of them exactly while the test plays the source
//! changes and their events; whatever the interleaving, the replica ends with the source's
//! current version of every key, and never loses an object the source still has.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use twincloud_bucket_sync::engine::{Outcome, SyncOptions, delete_copy_of_gone, sync, sync_key};
use twincloud_core::planner::sync::DeletePolicy;
use twincloud_core::ports::{ObjectStore, Precondition};
use twincloud_testkit::{Fault, FaultProxy, Gate, emulators, unique};

/// One direction: the source, the destination as events reach it, and the destination as the
/// (slowed) reconcile reaches it.
struct Direction {
    source: Arc<dyn ObjectStore>,
    destination: Arc<dyn ObjectStore>,
    slowed: Arc<dyn ObjectStore>,
    proxy: FaultProxy,
    /// What the destination's object writes and listings look like at the proxy.
    write: String,
    list: String,
}

async fn s3(endpoint: &str, bucket: &str) -> Arc<dyn ObjectStore> {
    let aws = twincloud_aws::AwsContext::for_endpoint(endpoint, "us-east-1").await;
    Arc::new(twincloud_aws::S3ObjectStore::new(&aws, bucket, "data"))
}

fn gcs(endpoint: &str, bucket: &str) -> Arc<dyn ObjectStore> {
    let gcp = twincloud_gcp::GcpContext::for_emulator(endpoint).unwrap();
    Arc::new(twincloud_gcp::GcsObjectStore::new(&gcp, bucket, "data"))
}

async fn new_s3_bucket() -> String {
    let bucket = unique("race");
    twincloud_aws::AwsContext::for_endpoint(&emulators::moto_url(), "us-east-1")
        .await
        .s3()
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    bucket
}

async fn s3_to_gcs() -> Direction {
    let (sb, gb) = (
        new_s3_bucket().await,
        emulators::new_gcs_bucket("race").await,
    );
    let proxy = FaultProxy::start(&emulators::gcs_url()).await;
    Direction {
        source: s3(&emulators::moto_url(), &sb).await,
        destination: gcs(&emulators::gcs_url(), &gb),
        slowed: gcs(&proxy.url(), &gb),
        write: format!("POST /upload/storage/v1/b/{gb}/o"),
        list: format!("GET /storage/v1/b/{gb}/o?"),
        proxy,
    }
}

async fn gcs_to_s3() -> Direction {
    let (gb, sb) = (
        emulators::new_gcs_bucket("race").await,
        new_s3_bucket().await,
    );
    let proxy = FaultProxy::start(&emulators::moto_url()).await;
    Direction {
        source: gcs(&emulators::gcs_url(), &gb),
        destination: s3(&emulators::moto_url(), &sb).await,
        slowed: s3(&proxy.url(), &sb).await,
        write: format!("PUT /{sb}/data/"),
        list: "list-type=2".into(),
        proxy,
    }
}

fn reconcile_options() -> SyncOptions {
    SyncOptions {
        deletes: DeletePolicy {
            enabled: true,
            max_count: 1000,
            max_fraction: 1.0,
        },
        ..SyncOptions::default()
    }
}

/// A reconcile running, and the gate its held request waits at.
type Held = (
    Gate,
    tokio::task::JoinHandle<twincloud_bucket_sync::engine::SyncSummary>,
);

/// Starts a reconcile whose request matching `needle` is held at the returned gate.
async fn held_reconcile(d: &Direction, needle: &str) -> Held {
    held_reconcile_with(d, needle, reconcile_options()).await
}

async fn held_reconcile_with(d: &Direction, needle: &str, opts: SyncOptions) -> Held {
    let gate = Gate::new();
    d.proxy.inject(needle, 1, Fault::Hold(gate.clone()));
    let (source, slowed) = (d.source.clone(), d.slowed.clone());
    let run = tokio::spawn(async move { sync(source, slowed, opts).await.unwrap() });
    tokio::time::timeout(std::time::Duration::from_secs(20), gate.arrived())
        .await
        .unwrap_or_else(|_| panic!("no request matching `{needle}` reached the proxy"));
    (gate, run)
}

async fn content(store: &Arc<dyn ObjectStore>, key: &str) -> Option<Vec<u8>> {
    store.get(key).await.unwrap()
}

/// The source goes A → B → A while the reconcile copies B: the event sees A on both sides
/// and writes nothing; the reconcile's write of B must not be the last word.
async fn written_back_during_a_copy(d: Direction) {
    let key = "ledger.json";
    d.source.put_bytes(key, b"A").await.unwrap();
    sync_key(d.source.clone(), d.destination.clone(), key)
        .await
        .unwrap();
    d.source.put_bytes(key, b"B").await.unwrap();
    let (gate, run) = held_reconcile(&d, &d.write).await;
    d.source.put_bytes(key, b"A").await.unwrap();
    let event = sync_key(d.source.clone(), d.destination.clone(), key)
        .await
        .unwrap();
    assert!(matches!(event, Outcome::Same(_)), "{event:?}");
    gate.open();
    let summary = run.await.unwrap();
    assert_eq!(summary.repaired, 1, "{summary:?}");
    assert_eq!(
        content(&d.destination, key).await.as_deref(),
        Some(&b"A"[..])
    );
}

/// Created, then deleted while the reconcile copies it: the event finds nothing to do; the
/// reconcile's copy must not bring the object back.
async fn deleted_during_a_copy(d: Direction) {
    let key = "tmp/upload.part";
    d.source.put_bytes(key, b"partial").await.unwrap();
    let (gate, run) = held_reconcile(&d, &d.write).await;
    d.source.delete(key, &Precondition::None).await.unwrap();
    let event = delete_copy_of_gone(d.source.clone(), d.destination.clone(), key)
        .await
        .unwrap();
    assert_eq!(event, Outcome::SourceGone);
    gate.open();
    let summary = run.await.unwrap();
    assert_eq!(summary.repaired, 1, "{summary:?}");
    assert_eq!(content(&d.destination, key).await, None);
}

/// The same, in a first copy of many objects: the re-check re-lists the range instead of a HEAD
/// per key, and still finds the one that went.
async fn deleted_during_a_first_copy_of_many(d: Direction) {
    let key = "a/upload.part";
    d.source.put_bytes(key, b"partial").await.unwrap();
    for n in 0..40 {
        d.source
            .put_bytes(&format!("b/file-{n:02}.csv"), b"x")
            .await
            .unwrap();
    }
    // One copy at a time, in key order: the held write is the first key's.
    let opts = SyncOptions {
        concurrency: 1,
        adaptive: false,
        ..reconcile_options()
    };
    let (gate, run) = held_reconcile_with(&d, &d.write, opts).await;
    d.source.delete(key, &Precondition::None).await.unwrap();
    gate.open();
    let summary = run.await.unwrap();
    assert_eq!((summary.copied, summary.repaired), (41, 1), "{summary:?}");
    assert_eq!(content(&d.destination, key).await, None);
    assert_eq!(
        content(&d.destination, "b/file-39.csv").await.as_deref(),
        Some(&b"x"[..])
    );
}

/// Created (and copied by its event) between the reconcile's two listings: the merge sees it in
/// the destination only; it must not be deleted as an extra.
async fn created_between_the_listings(d: Direction) {
    d.source.put_bytes("old.csv", b"1").await.unwrap();
    let (gate, run) = held_reconcile(&d, &d.list).await;
    // The source's listing is one page from a local emulator: well done by now.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    d.source.put_bytes("new.csv", b"2").await.unwrap();
    sync_key(d.source.clone(), d.destination.clone(), "new.csv")
        .await
        .unwrap();
    gate.open();
    run.await.unwrap();
    assert_eq!(
        content(&d.destination, "new.csv").await.as_deref(),
        Some(&b"2"[..])
    );
    assert_eq!(
        content(&d.destination, "old.csv").await.as_deref(),
        Some(&b"1"[..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_to_gcs_written_back_during_a_copy() {
    written_back_during_a_copy(s3_to_gcs().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcs_to_s3_written_back_during_a_copy() {
    written_back_during_a_copy(gcs_to_s3().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_to_gcs_deleted_during_a_copy() {
    deleted_during_a_copy(s3_to_gcs().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcs_to_s3_deleted_during_a_copy() {
    deleted_during_a_copy(gcs_to_s3().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_to_gcs_created_between_the_listings() {
    created_between_the_listings(s3_to_gcs().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcs_to_s3_created_between_the_listings() {
    created_between_the_listings(gcs_to_s3().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_to_gcs_deleted_during_a_first_copy_of_many() {
    deleted_during_a_first_copy_of_many(s3_to_gcs().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcs_to_s3_deleted_during_a_first_copy_of_many() {
    deleted_during_a_first_copy_of_many(gcs_to_s3().await).await;
}
