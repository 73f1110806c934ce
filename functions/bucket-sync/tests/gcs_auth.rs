//! Every request to GCS carries the bearer token when auth is on: configuration loaded from
//! `gs://`, state records, leases and a bucket-sync reconcile, through a proxy in front of
//! fake-gcs-server that refuses (401) any request without `Authorization: Bearer <token>`.
#![allow(clippy::unwrap_used)]

use twincloud_core::Secret;
use twincloud_core::ports::ObjectStore;
use twincloud_gcp::{GcpContext, GcsObjectStore};
use twincloud_runtime::{Clouds, Invoker, Services, load_config};
use twincloud_testkit::{FaultProxy, emulators, workspace_root};

const TOKEN: &str = "ya29.test-token";

async fn upload(bucket: &str, name: &str, body: &[u8]) {
    let r = reqwest::Client::new()
        .post(format!(
            "{}/upload/storage/v1/b/{bucket}/o?uploadType=media&name={name}",
            emulators::gcs_url()
        ))
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "upload {name}: {}", r.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_gcs_request_carries_the_token() {
    let bucket = emulators::new_gcs_bucket("authed").await;
    let config = format!(
        r#"[project]
name = "aion"
state = "gs://{bucket}/state"

[[notify.channels]]
name = "outbox"
type = "outbox"

[[sync.pairs]]
name = "uploads"
source = "gs://{bucket}/in"
destination = "gs://{bucket}/out"
"#
    );
    upload(&bucket, "twincloud.toml", config.as_bytes()).await;
    for i in 0..3 {
        upload(
            &bucket,
            &format!("in/file-{i}.txt"),
            format!("body {i}").as_bytes(),
        )
        .await;
    }
    let proxy = FaultProxy::start(&emulators::gcs_url()).await;
    proxy.require_header("authorization", &format!("Bearer {TOKEN}"));
    let origin = format!("gs://{bucket}/twincloud.toml");

    // Without a token the configuration cannot be read: the gate is real.
    let anonymous = Clouds::default().and_gcp(GcpContext::for_emulator(&proxy.url()).unwrap());
    let e = load_config(Some(&origin), &anonymous).await.unwrap_err();
    assert!(e.to_string().contains("401"), "{e}");
    assert_eq!(proxy.stats().denied.len(), 1);

    let gcp = GcpContext::for_emulator(&proxy.url())
        .unwrap()
        .with_access_token(Secret::new(TOKEN));
    let clouds = Clouds::default().and_gcp(gcp.clone());
    let before = proxy.stats().requests;
    let cfg = load_config(Some(&origin), &clouds).await.unwrap();
    let services = Services::build_for(twincloud_bucket_sync::SPEC.wiring, cfg, &clouds)
        .await
        .unwrap();
    let inv = Invoker::new(twincloud_bucket_sync::SPEC.build(), services, false);
    let tick = std::fs::read(workspace_root().join("events/aws/eventbridge-scheduled-event.json"))
        .unwrap();
    let report = inv.handle_json(&tick).await.unwrap();
    assert!(!report.has_failures(), "{}", report.to_text());
    let out = GcsObjectStore::new(&gcp, &bucket, "out");
    assert_eq!(out.get("file-1.txt").await.unwrap().unwrap(), b"body 1");

    let stats = proxy.stats();
    assert!(
        stats.requests - before > 6,
        "config, state, listings and copies all went through the proxy ({} requests)",
        stats.requests - before
    );
    assert_eq!(
        stats.denied.len(),
        1,
        "refused after the token was set: {:?}",
        stats.denied
    );
}
