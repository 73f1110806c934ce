//! The bucket-sync function end to end: S3 notifications copy and delete single objects into
//! GCS (moto and fake-gcs-server); schedules reconcile partitions under leases and resume from
//! a cursor (temp directories, local state).
#![allow(clippy::unwrap_used)]

use twincloud_bucket_sync::BucketSync;
use twincloud_core::Config;
use twincloud_core::ids::key_segment;
use twincloud_core::ports::{ObjectStore, PutRequest};
use twincloud_runtime::{Clouds, Invoker, Services};
use twincloud_testkit::{emulators, unique, workspace_root};

fn fixture_for_bucket(rel: &str, bucket: &str) -> Vec<u8> {
    std::fs::read_to_string(workspace_root().join("events").join(rel))
        .unwrap()
        .replace("aion-uploads", bucket)
        .into_bytes()
}

/// An S3 bucket (moto) paired with a GCS bucket (fake-gcs-server) under `tenants` → `mirror`,
/// with `pair_options` added to the pair.
struct S3ToGcs {
    inv: Invoker,
    bucket: String,
    source: twincloud_aws::S3ObjectStore,
    replica: twincloud_gcp::GcsObjectStore,
    state: tempfile::TempDir,
}

async fn s3_to_gcs(pair_options: &str) -> S3ToGcs {
    let aws = twincloud_aws::AwsContext::for_endpoint(&emulators::moto_url(), "us-east-1").await;
    let bucket = unique("uploads");
    aws.s3()
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let gcs = emulators::gcs_url();
    let gbucket = emulators::new_gcs_bucket("replica").await;
    let state = tempfile::tempdir().unwrap();
    let text = format!(
        r#"[project]
name = "aion"
state = "{}"

[[notify.channels]]
name = "outbox"
type = "outbox"

[[sync.pairs]]
name = "uploads"
source = "s3://{bucket}/tenants"
destination = "gs://{gbucket}/mirror"
{pair_options}
"#,
        state.path().display()
    );
    let config = Config::parse("test.toml", &text).unwrap();
    let gcp = twincloud_gcp::GcpContext::for_emulator(&gcs).unwrap();
    let services = Services::build_for(
        twincloud_bucket_sync::SPEC.wiring,
        config,
        &Clouds::with_aws(aws.clone()).and_gcp(gcp.clone()),
    )
    .await
    .unwrap();
    S3ToGcs {
        inv: Invoker::new(Box::new(BucketSync), services, false),
        source: twincloud_aws::S3ObjectStore::new(&aws, &bucket, "tenants"),
        replica: twincloud_gcp::GcsObjectStore::new(&gcp, &gbucket, "mirror"),
        bucket,
        state,
    }
}

/// An S3 notification of `event` (`ObjectCreated:Put`, `ObjectRemoved:Delete`) for `key`
/// under `tenants/` of `bucket`.
fn s3_event(bucket: &str, event: &str, key: &str, sequencer: u32) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(&fixture_for_bucket(
        "aws/s3-notification-delete.json",
        bucket,
    ))
    .unwrap();
    v["Records"][0]["eventName"] = event.into();
    v["Records"][0]["s3"]["object"]["key"] = format!("tenants/{key}").into();
    v["Records"][0]["s3"]["object"]["sequencer"] = format!("{sequencer:016X}").into();
    v.to_string().into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_events_copy_and_delete_single_objects_into_gcs() {
    let S3ToGcs {
        inv,
        bucket,
        source,
        replica,
        state,
    } = s3_to_gcs("delete = true\ndelete_on_event = true").await;
    let key = "acme/Quarterly Report (2026) \u{20ac}.pdf";
    let pdf = b"%PDF-1.7 quarterly".to_vec();
    let mut req = PutRequest::new(key, pdf.len() as u64);
    req.meta.content_type = Some("application/pdf".into());
    req.md5 = Some(twincloud_core::digest::ContentDigest::of(&pdf).0);
    source.put(&req, pdf.clone()).await.unwrap();

    let put = fixture_for_bucket("aws/s3-notification-put.json", &bucket);
    let r = inv.handle_json(&put).await.unwrap();
    assert!(r.notes_text().contains("copied"), "{}", r.notes_text());
    let head = replica.head(key).await.unwrap().unwrap();
    assert_eq!(head.meta.content_type.as_deref(), Some("application/pdf"));
    assert_eq!(replica.get(key).await.unwrap().unwrap(), pdf);

    let audited = || async {
        let store = twincloud_local::LocalStateStore::new(state.path());
        twincloud_core::ports::StateStore::list(&store, "audit/")
            .await
            .unwrap()
            .into_iter()
            .filter(|k| k.contains("/bucket-sync/"))
            .count()
    };
    assert_eq!(audited().await, 1, "the copy is in the audit trail");

    // The same event again (S3 delivers at least once): nothing is copied, nothing recorded.
    let r = inv.handle_json(&put).await.unwrap();
    assert!(
        r.notes_text().contains("already the same"),
        "{}",
        r.notes_text()
    );
    assert_eq!(audited().await, 1);

    // A delete event removes the copy only once the source has no such object.
    source.put_bytes("acme/old.csv", b"a,b").await.unwrap();
    inv.handle_json(&s3_event(&bucket, "ObjectCreated:Put", "acme/old.csv", 1))
        .await
        .unwrap();
    let del = fixture_for_bucket("aws/s3-notification-delete.json", &bucket);
    let r = inv.handle_json(&del).await.unwrap();
    assert!(
        r.notes_text().contains("already the same"),
        "{}",
        r.notes_text()
    );
    assert!(replica.head("acme/old.csv").await.unwrap().is_some());
    source
        .delete("acme/old.csv", &twincloud_core::ports::Precondition::None)
        .await
        .unwrap();
    let r = inv.handle_json(&del).await.unwrap();
    assert!(
        r.notes_text().contains("deleted from the destination"),
        "{}",
        r.notes_text()
    );
    assert!(replica.head("acme/old.csv").await.unwrap().is_none());

    // An object twincloud did not write is never deleted by an event.
    replica
        .put_bytes("acme/old.csv", b"kept by hand")
        .await
        .unwrap();
    let r = inv.handle_json(&del).await.unwrap();
    assert!(
        r.notes_text().contains("not written by twincloud"),
        "{}",
        r.notes_text()
    );
    assert!(replica.head("acme/old.csv").await.unwrap().is_some());

    // An event for a bucket no pair names is noted, not an error.
    let other = fixture_for_bucket("aws/s3-notification-put.json", "someone-else");
    let r = inv.handle_json(&other).await.unwrap();
    assert!(
        r.notes_text().contains("in no sync pair"),
        "{}",
        r.notes_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mass_delete_in_the_source_reaches_the_replica_only_within_its_budget() {
    let w =
        s3_to_gcs("delete = true\ndelete_on_event = true\nmax_event_deletes_per_hour = 2").await;
    let keys: Vec<String> = (0..5).map(|n| format!("acme/report-{n}.csv")).collect();
    for (n, k) in keys.iter().enumerate() {
        w.source.put_bytes(k, b"a,b,c").await.unwrap();
        let seq = u32::try_from(n).unwrap();
        w.inv
            .handle_json(&s3_event(&w.bucket, "ObjectCreated:Put", k, seq))
            .await
            .unwrap();
    }
    for (n, k) in keys.iter().enumerate() {
        w.source
            .delete(k, &twincloud_core::ports::Precondition::None)
            .await
            .unwrap();
        let seq = 100 + u32::try_from(n).unwrap();
        w.inv
            .handle_json(&s3_event(&w.bucket, "ObjectRemoved:Delete", k, seq))
            .await
            .unwrap();
    }
    let mut kept = 0;
    for k in &keys {
        if w.replica.head(k).await.unwrap().is_some() {
            kept += 1;
        }
    }
    assert_eq!(
        kept, 3,
        "2 deletes this hour, the other 3 wait for the reconcile's gate"
    );
    let warnings: Vec<_> = twincloud_testkit::fs::outbox(w.state.path())
        .into_iter()
        .filter(|m| {
            m["title"]
                .as_str()
                .unwrap()
                .contains("deletes wait for the reconcile")
        })
        .collect();
    assert_eq!(warnings.len(), 1, "one warning an hour, not one per delete");
}

#[tokio::test]
async fn event_deletes_are_off_unless_the_pair_turns_them_on() {
    let w = s3_to_gcs("delete = true").await;
    w.source.put_bytes("acme/a.csv", b"1").await.unwrap();
    w.inv
        .handle_json(&s3_event(&w.bucket, "ObjectCreated:Put", "acme/a.csv", 1))
        .await
        .unwrap();
    w.source
        .delete("acme/a.csv", &twincloud_core::ports::Precondition::None)
        .await
        .unwrap();
    let r = w
        .inv
        .handle_json(&s3_event(
            &w.bucket,
            "ObjectRemoved:Delete",
            "acme/a.csv",
            2,
        ))
        .await
        .unwrap();
    assert!(
        r.notes_text().contains("delete_on_event is off"),
        "{}",
        r.notes_text()
    );
    assert!(w.replica.head("acme/a.csv").await.unwrap().is_some());
}

async fn local_invoker(
    state: &std::path::Path,
    src: &std::path::Path,
    dst: &std::path::Path,
    dry_run: bool,
) -> Invoker {
    let text = format!(
        r#"[project]
name = "aion"
state = "{}"

[[notify.channels]]
name = "outbox"
type = "outbox"

[[sync.pairs]]
name = "site"
source = "{}"
destination = "{}"
partitions = ["a/", "b/"]
"#,
        state.display(),
        src.display(),
        dst.display()
    );
    let services = Services::build_for(
        twincloud_bucket_sync::SPEC.wiring,
        Config::parse("t.toml", &text).unwrap(),
        &Clouds::default(),
    )
    .await
    .unwrap();
    Invoker::new(Box::new(BucketSync), services, dry_run)
}

#[tokio::test]
async fn schedules_reconcile_partitions_under_leases_and_resume_from_cursors() {
    let (state, src, dst) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    for p in ["a", "b"] {
        std::fs::create_dir_all(src.path().join(p)).unwrap();
        for i in 0..5 {
            std::fs::write(
                src.path().join(format!("{p}/{i:02}.txt")),
                format!("{p}{i}"),
            )
            .unwrap();
        }
    }
    std::fs::write(src.path().join("outside.txt"), b"in no partition").unwrap();
    let tick = std::fs::read(workspace_root().join("events/aws/eventbridge-scheduled-event.json"))
        .unwrap();
    // A dry run says what it would copy and writes nothing: no object, no lease, no cursor.
    let dry = local_invoker(state.path(), src.path(), dst.path(), true).await;
    let n = dry.handle_json(&tick).await.unwrap().notes_text();
    assert!(n.contains("site [b/]: copied 5"), "{n}");
    assert!(!dst.path().join("b").exists());
    assert!(
        !state.path().join("state").exists(),
        "a dry run wrote state"
    );
    let inv = local_invoker(state.path(), src.path(), dst.path(), false).await;

    // Another invocation holds partition a/: this one takes b/ only.
    let held = serde_json::json!({
        "cursor": null,
        "lease_holder": "another-invocation",
        "lease_until": (chrono::Utc::now() + chrono::Duration::minutes(5)).to_rfc3339(),
        "finished": null,
        "last": null
    });
    let store = twincloud_local::LocalStateStore::new(state.path());
    use twincloud_core::ports::StateStore;
    let a_key = format!("sync/{}/{}", key_segment("site"), key_segment("a/"));
    store
        .put(
            &a_key,
            held.to_string().as_bytes(),
            &twincloud_core::ports::Precondition::None,
        )
        .await
        .unwrap();
    let r = inv.handle_json(&tick).await.unwrap();
    let n = r.notes_text();
    assert!(n.contains("site [a/]: another invocation holds it"), "{n}");
    assert!(n.contains("site [b/]: copied 5"), "{n}");
    assert!(!dst.path().join("a").exists());
    assert!(
        !dst.path().join("outside.txt").exists(),
        "only the partitions"
    );
    let b_key = format!("sync/{}/{}", key_segment("site"), key_segment("b/"));
    assert!(
        store.get(&b_key).await.unwrap().is_some(),
        "a real run keeps its cursor record"
    );
    // What the operations page says of the pair: b/ done, a/ held by the other invocation.
    let page = || async {
        let s = inv.services();
        let o =
            twincloud_runtime::overview::gather(&s.config, s.state.as_ref(), chrono::Utc::now())
                .await;
        twincloud_runtime::overview::render_text(&o)
    };
    let text = page().await;
    assert!(
        text.contains(
            "sync site/b/: last complete pass 0 min ago; copied 5, same 0, deleted 0, waiting 0"
        ),
        "{text}"
    );
    let a = text
        .lines()
        .find(|l| l.starts_with("sync site/a/"))
        .unwrap();
    assert!(
        a.starts_with("sync site/a/: last complete pass never") && a.ends_with(", running now"),
        "{text}"
    );

    // The holder stopped after a/01.txt and released the lease: the next run resumes there.
    let resumed = serde_json::json!({
        "cursor": "a/01.txt",
        "lease_holder": null,
        "lease_until": null,
        "finished": null,
        "last": null
    });
    store
        .put(
            &a_key,
            resumed.to_string().as_bytes(),
            &twincloud_core::ports::Precondition::None,
        )
        .await
        .unwrap();
    let r = inv.handle_json(&tick).await.unwrap();
    let n = r.notes_text();
    assert!(
        n.contains("site [a/] from after `a/01.txt`: copied 3"),
        "{n}"
    );
    assert!(n.contains("site [b/]: copied 0"), "{n}");
    assert!(!dst.path().join("a/00.txt").exists() && dst.path().join("a/04.txt").exists());
    // The pass finished: the record has no cursor, no lease, and the summary.
    let rec: serde_json::Value =
        serde_json::from_slice(&store.get(&a_key).await.unwrap().unwrap().value).unwrap();
    assert!(
        rec["cursor"].is_null() && rec["lease_holder"].is_null(),
        "{rec}"
    );
    assert_eq!(rec["last"]["copied"], 3);
    let text = page().await;
    assert!(
        text.contains("sync site/a/: last complete pass 0 min ago; copied 3"),
        "{text}"
    );
}

#[tokio::test]
async fn a_gcs_finalized_cloudevent_copies_the_object() {
    let gcs = emulators::gcs_url();
    let gbucket = emulators::new_gcs_bucket("uploads-gcp").await;
    let (state, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let text = format!(
        r#"[project]
name = "aion"
state = "{}"

[[sync.pairs]]
name = "gcs-to-disk"
source = "gs://{gbucket}/tenants"
destination = "{}"
"#,
        state.path().display(),
        out.path().display()
    );
    let gcp = twincloud_gcp::GcpContext::for_emulator(&gcs).unwrap();
    let services = Services::build_for(
        twincloud_bucket_sync::SPEC.wiring,
        Config::parse("t.toml", &text).unwrap(),
        &Clouds::default().and_gcp(gcp.clone()),
    )
    .await
    .unwrap();
    let inv = Invoker::new(Box::new(BucketSync), services, false);
    let source = twincloud_gcp::GcsObjectStore::new(&gcp, &gbucket, "tenants");
    source
        .put_bytes(
            "acme/Quarterly Report (2026) \u{20ac}.pdf",
            b"%PDF from GCS",
        )
        .await
        .unwrap();
    // The Eventarc delivery in binary mode, as Cloud Run receives it.
    let ev = std::fs::read_to_string(
        workspace_root().join("events/gcp/storage-object-finalized.binary.json"),
    )
    .unwrap()
    .replace("aion-uploads-gcp", &gbucket);
    let r = inv.handle_json(ev.as_bytes()).await.unwrap();
    assert!(r.notes_text().contains("copied"), "{}", r.notes_text());
    assert_eq!(
        std::fs::read(out.path().join("acme/Quarterly Report (2026) \u{20ac}.pdf")).unwrap(),
        b"%PDF from GCS"
    );
}

/// A reconcile that could not copy an object says so in its exit code and on stderr, not only
/// in a count: here the destination holds a file where the source has a folder.
#[tokio::test]
async fn a_reconcile_with_a_failed_copy_does_not_exit_0() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(src.path().join("a")).unwrap();
    std::fs::write(src.path().join("a/b.txt"), b"payload").unwrap();
    std::fs::write(src.path().join("ok.txt"), b"fine").unwrap();
    std::fs::write(dst.path().join("a"), b"a file in the way").unwrap();
    let text = format!(
        r#"[project]
name = "aion"
state = "{}"

[[sync.pairs]]
name = "docs"
source = "{}"
destination = "{}"
"#,
        state.path().display(),
        src.path().display(),
        dst.path().display()
    );
    let config = Config::parse("test.toml", &text).unwrap();
    let services = Services::build_for(
        twincloud_bucket_sync::SPEC.wiring,
        config,
        &Clouds::default(),
    )
    .await
    .unwrap();
    let inv = Invoker::new(Box::new(BucketSync), services, false);
    let ev = serde_json::json!({"twincloud": "schedule", "name": "bucket-sync", "id": "tick-1"});
    let r = inv.handle_json(ev.to_string().as_bytes()).await.unwrap();
    assert!(r.notes_text().contains("1 failed"), "{}", r.notes_text());
    assert_ne!(r.exit_code(), 0, "{}", r.to_text());
    assert!(
        r.failures()
            .iter()
            .any(|f| f.contains("1 object(s) failed")),
        "{:?}",
        r.failures()
    );
    // What could be copied was.
    assert_eq!(std::fs::read(dst.path().join("ok.txt")).unwrap(), b"fine");
}
