//! Test kit shared by every crate's tests, by role: where the emulators are (`emulators`), unique
//! names, inputs (`fixtures`: a sample message, event files, schedule events), what was left on
//! disk (`fs`: walks, trees, outboxes), the `twincloud` binary on the emulators (`cli`), a local
//! HTTP server that records what it receives (`capture`), a fault-injecting proxy (`fault`),
//! fakes that validate requests against Google's discovery documents (`discovery`), and the
//! conformance suites every adapter of a port must pass (`conformance`, `object_conformance`).
#![allow(clippy::unwrap_used)]

pub mod browser;
pub mod capture;
pub mod cli;
pub mod conformance;
pub mod discovery;
pub mod emulators;
pub mod fault;
pub mod fixtures;
pub mod fs;
pub mod kube_api;
pub mod object_conformance;
pub mod postgres;
pub mod registry;
pub mod source;
pub mod stores;

pub use capture::{CaptureServer, Captured, Reply};
pub use discovery::{ApiCall, Discovery, DiscoveryFake};
pub use fault::{Fault, FaultProxy, Gate};

/// A name unique to this process and call, valid as a bucket name and state key segment.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{n}-{nanos:x}", std::process::id())
}

/// Serves `app` on a free loopback port for the rest of the test's runtime.
pub async fn serve(app: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// The workspace root, for fixtures under `events/`.
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
