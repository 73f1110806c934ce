//! Counts requests and bytes between a tool and the emulators, for the sync benchmark:
//!
//!   counting_proxy MOTO_URL GCS_URL MOTO_PORT GCS_PORT CONTROL_PORT
//!
//! listens on MOTO_PORT (to moto) and GCS_PORT (to fake-gcs-server); on CONTROL_PORT,
//! `GET /stats` answers `s3_requests s3_bytes_up gcs_requests gcs_bytes_up` and `POST /reset`
//! starts the counts again.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use axum::routing::{get, post};
use twincloud_testkit::FaultProxy;
use twincloud_testkit::fault::ProxyStats;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 {
        eprintln!("usage: counting_proxy MOTO_URL GCS_URL MOTO_PORT GCS_PORT CONTROL_PORT");
        std::process::exit(2);
    }
    let port = |i: usize| args[i].parse::<u16>().unwrap();
    let s3 = FaultProxy::start_on(&args[1], port(3)).await;
    let gcs = FaultProxy::start_on(&args[2], port(4)).await;
    let base: Arc<Mutex<(ProxyStats, ProxyStats)>> = Arc::default();
    let (s3b, gcsb, b2) = (s3.clone(), gcs.clone(), base.clone());
    let app = axum::Router::new()
        .route(
            "/stats",
            get(move || {
                let (s3, gcs, base) = (s3b.clone(), gcsb.clone(), b2.clone());
                async move {
                    let b = base.lock().unwrap().clone();
                    let (x, y) = (s3.stats(), gcs.stats());
                    format!(
                        "{} {} {} {}\n",
                        x.requests - b.0.requests,
                        x.bytes_up - b.0.bytes_up,
                        y.requests - b.1.requests,
                        y.bytes_up - b.1.bytes_up
                    )
                }
            }),
        )
        .route(
            "/reset",
            post(move || {
                let (s3, gcs, base) = (s3.clone(), gcs.clone(), base.clone());
                async move {
                    *base.lock().unwrap() = (s3.stats(), gcs.stats());
                    "ok\n"
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port(5)))
        .await
        .unwrap();
    axum::serve(listener, app).await.unwrap();
}
