//! The operations page over a busy state store: gathering and rendering time for 10,000 and
//! 100,000 records on the local backend (the records the page does not need are listed, never
//! read). Run: `cargo run --release -p twincloud-runtime --example status_page_bench`.
#![allow(clippy::unwrap_used)]

#[path = "../../../tests/support/busy_store.rs"]
mod busy_store;

use std::time::{Duration, Instant};

use twincloud_core::Config;
use twincloud_local::LocalStateStore;
use twincloud_runtime::overview::{gather, render_html, render_text};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    println!("| records | gather (median of 20) | render HTML | render text | page size |");
    println!("|---:|---:|---:|---:|---:|");
    for total in [10_000usize, 100_000] {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStateStore::new(dir.path());
        busy_store::seed(&store, chrono::Utc::now(), total, total / 10).await;
        let cfg = Config::parse(
            "bench.toml",
            &format!(
                "[project]\nname = \"aion\"\nstate = \"{}\"\n\n{}",
                dir.path().display(),
                busy_store::FAILOVER
            ),
        )
        .unwrap();
        let (mut g, mut h, mut t) = (vec![], vec![], vec![]);
        let mut size = 0;
        for _ in 0..20 {
            let started = Instant::now();
            let o = gather(&cfg, &store, chrono::Utc::now()).await;
            g.push(started.elapsed());
            let started = Instant::now();
            size = render_html(&o).len();
            h.push(started.elapsed());
            let started = Instant::now();
            let _ = render_text(&o);
            t.push(started.elapsed());
        }
        println!(
            "| {total} | {:.1} ms | {:.2} ms | {:.2} ms | {} KiB |",
            ms(&mut g),
            ms(&mut h),
            ms(&mut t),
            size / 1024
        );
    }
}

fn ms(v: &mut [Duration]) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1000.0
}
