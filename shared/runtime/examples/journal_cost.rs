//! What the effect journal costs per effect, beside what acting cost before it, on each state
//! store: requests to the store and milliseconds per effect (the provider call itself is a
//! no-op here, so only the bookkeeping is measured).
//!
//! ```sh
//! cargo run --release -p twincloud-runtime --example journal_cost            # local only
//! scripts/test.sh starts moto and fake-gcs-server; with TWINCLOUD_TEST_MOTO_URL and
//! TWINCLOUD_TEST_GCS_URL set, S3 and GCS are measured too.
//! ```
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use chrono::Utc;
use twincloud_core::ports::{
    PortError, Precondition, StateError, StateStore, Version, Versioned, get_json,
};
use twincloud_runtime::Outcome;
use twincloud_runtime::audit::AuditRecord;
use twincloud_runtime::effects::{Effect, Effects};

/// Counts the requests a store receives.
struct Counting {
    inner: Arc<dyn StateStore>,
    requests: AtomicUsize,
}

#[async_trait]
impl StateStore for Counting {
    async fn get(&self, key: &str) -> Result<Option<Versioned>, StateError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.inner.get(key).await
    }
    async fn put(
        &self,
        key: &str,
        value: &[u8],
        expect: &Precondition,
    ) -> Result<Version, StateError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.inner.put(key, value, expect).await
    }
    async fn delete(&self, key: &str, expect: &Precondition) -> Result<(), StateError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.inner.delete(key, expect).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StateError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.inner.list(prefix).await
    }
}

const N: usize = 100;

/// Before the journal, deploy and the budget guard wrote one audit record per call.
async fn audit_only(state: &dyn StateStore, i: usize) {
    let _ = async { Ok::<(), PortError>(()) }.await;
    let r = AuditRecord::new(
        "bench",
        "ev",
        format!("e{i}"),
        "set",
        "bench",
        Outcome::Done { detail: None },
    );
    twincloud_runtime::audit::write(state, &r).await;
}

/// Before the journal, the executor read a claim, wrote it, wrote "done" and an audit record.
async fn claims(state: &dyn StateStore, i: usize) {
    let key = format!("actions/bench/ev/e{i}");
    let _ = get_json::<serde_json::Value>(state, &key).await.unwrap();
    let v = state
        .put(&key, br#"{"status":"claimed"}"#, &Precondition::Absent)
        .await
        .unwrap();
    let _ = async { Ok::<(), PortError>(()) }.await;
    state
        .put(&key, br#"{"status":"done"}"#, &Precondition::Matches(v))
        .await
        .unwrap();
    let r = AuditRecord::new(
        "bench",
        "ev",
        format!("e{i}"),
        "set",
        "bench",
        Outcome::Done { detail: None },
    );
    twincloud_runtime::audit::write(state, &r).await;
}

async fn measure(name: &str, store: Arc<dyn StateStore>) {
    let mut rows = vec![];
    for path in [
        "audit only (before: deploy, budget guard)",
        "claim + done + audit (before: executor)",
        "journal: intent + outcome + audit (now)",
        "journal, redelivered (done: skipped)",
    ] {
        let counting = Arc::new(Counting {
            inner: store.clone(),
            requests: AtomicUsize::new(0),
        });
        let state: Arc<dyn StateStore> = counting.clone();
        let run = format!("{}", Utc::now().timestamp_nanos_opt().unwrap_or_default());
        if path.starts_with("journal, redelivered") {
            let mut fx = Effects::on(state.clone(), "bench", &run, false, Utc::now());
            for i in 0..N {
                fx.act(Effect::new(format!("e{i}"), "set", "bench"), async {
                    Ok::<(), PortError>(())
                })
                .await;
            }
            counting.requests.store(0, Ordering::Relaxed);
        }
        let started = Instant::now();
        let mut fx = Effects::on(state.clone(), "bench", &run, false, Utc::now());
        for i in 0..N {
            match path {
                p if p.starts_with("audit only") => audit_only(state.as_ref(), i).await,
                p if p.starts_with("claim") => claims(state.as_ref(), i).await,
                _ => {
                    let acted = fx
                        .act(Effect::new(format!("e{i}"), "set", "bench"), async {
                            Ok::<(), PortError>(())
                        })
                        .await;
                    assert!(acted.succeeded());
                }
            }
        }
        let ms = started.elapsed().as_secs_f64() * 1000.0 / N as f64;
        let req = counting.requests.load(Ordering::Relaxed) as f64 / N as f64;
        rows.push((path, req, ms));
    }
    for (path, req, ms) in rows {
        println!("| {name} | {path} | {req:.1} | {ms:.2} |");
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    println!("| store | path | requests per effect | ms per effect |");
    println!("|---|---|---:|---:|");
    let dir = tempfile::tempdir().unwrap();
    measure(
        "local",
        Arc::new(twincloud_local::LocalStateStore::new(dir.path())),
    )
    .await;
    if let Ok(url) = std::env::var("TWINCLOUD_TEST_MOTO_URL") {
        let aws = twincloud_aws::AwsContext::for_endpoint(&url, "us-east-1").await;
        let bucket = twincloud_testkit::unique("journal-bench");
        aws.s3()
            .create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
        measure(
            "S3 (moto)",
            Arc::new(twincloud_aws::S3StateStore::new(&aws, &bucket, "state")),
        )
        .await;
    }
    if let Ok(url) = std::env::var("TWINCLOUD_TEST_GCS_URL") {
        let gcp = twincloud_gcp::GcpContext::for_emulator(&url).unwrap();
        let bucket = twincloud_testkit::emulators::new_gcs_bucket("journal-bench").await;
        measure(
            "GCS (fake-gcs-server)",
            Arc::new(twincloud_gcp::GcsStateStore::new(&gcp, &bucket, "state")),
        )
        .await;
    }
}
