//! Deploy on push, measured on this machine (docs/BENCHMARKS.md):
//!
//! 1. Mirroring between two of Docker's reference registries on loopback (htpasswd basic auth),
//!    twincloud's OCI client against `skopeo copy --all --preserve-digests`: wall time and
//!    bytes sent to the target (counted by a TCP relay in front of it), for a first copy of a
//!    two-platform index and for a new image that shares all but one layer.
//! 2. Push to serving on the local backend through the deploy function: mirror, new revision,
//!    traffic, per step (pauses and bake at zero, so only the work shows).
//!
//! `cargo run --release -p twincloud-runtime --example deploy_bench` (needs docker-registry,
//! htpasswd and skopeo, which scripts/test.sh installs).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use twincloud_core::ports::ImageRegistries;
use twincloud_core::secret::Secret;
use twincloud_http::{OciRegistries, StaticLogin};
use twincloud_testkit::registry::{Registry, noise};

const MIB: usize = 1 << 20;
const RUNS: usize = 3;

/// A TCP relay to `target` counting the bytes clients send through it.
async fn counting_relay(target: String) -> (String, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            let target = target.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                let Ok(mut server) = tokio::net::TcpStream::connect(&target).await else {
                    return;
                };
                if let Ok((up, _)) = tokio::io::copy_bidirectional(&mut client, &mut server).await {
                    counter.fetch_add(up, Ordering::Relaxed);
                }
            });
        }
    });
    (addr.to_string(), sent)
}

struct Copy {
    secs: f64,
    bytes: u64,
}

async fn twincloud_copy(src: &Registry, dst_host: &str, digest: &str) -> Copy {
    let regs = OciRegistries::new()
        .expect("HTTPS client")
        .with_login(
            &src.host,
            Arc::new(StaticLogin::from_pair(&Secret::new("bench:src")).unwrap()),
        )
        .with_login(
            dst_host,
            Arc::new(StaticLogin::from_pair(&Secret::new("bench:dst")).unwrap()),
        );
    let t = Instant::now();
    regs.mirror(
        &format!("{}/app", src.host),
        &format!("{dst_host}/app"),
        digest,
        None,
    )
    .await
    .unwrap();
    Copy {
        secs: t.elapsed().as_secs_f64(),
        bytes: 0,
    }
}

async fn skopeo_copy(src: &Registry, dst_host: &str, digest: &str) -> Copy {
    let t = Instant::now();
    let out = tokio::process::Command::new("skopeo")
        .args([
            "copy",
            "--all",
            "--preserve-digests",
            "--quiet",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            "--src-creds",
            "bench:src",
            "--dest-creds",
            "bench:dst",
        ])
        .arg(format!("docker://{}/app@{digest}", src.host))
        .arg(format!("docker://{dst_host}/app:copy"))
        .output()
        .await
        .expect("skopeo is installed by scripts/test.sh");
    assert!(
        out.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Copy {
        secs: t.elapsed().as_secs_f64(),
        bytes: 0,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let src = Registry::start("bench", "src").await;
    // Four shared 16 MiB layers; each platform adds a small layer of its own.
    let shared: Vec<Vec<u8>> = (0..4).map(|i| noise(16 * MIB, 100 + i)).collect();
    let first = src.push_index("app", "v1", &shared).await;
    let mut next_layers = shared.clone();
    next_layers.push(noise(8 * MIB, 999));
    let second = src.push_image("app", "v2", &next_layers, "amd64").await;
    let total: usize = shared.iter().map(Vec::len).sum::<usize>();

    println!("Mirroring between two docker-registry instances on loopback, median of {RUNS} runs");
    println!(
        "{:<34} {:>12} {:>16} {:>12} {:>16}",
        "copy", "twincloud s", "twincloud bytes", "skopeo s", "skopeo bytes"
    );
    for (name, digest, base) in [
        ("first copy, 2-platform index", first.as_str(), None::<&str>),
        (
            "new image, one new 8 MiB layer",
            second.as_str(),
            Some(first.as_str()),
        ),
    ] {
        let mut ours = (vec![], 0u64);
        let mut theirs = (vec![], 0u64);
        for _ in 0..RUNS {
            for tool in ["twincloud", "skopeo"] {
                let dst = Registry::start("bench", "dst").await;
                let (relay, sent) = counting_relay(dst.host.clone()).await;
                if let Some(b) = base {
                    // The target already holds the first image.
                    twincloud_copy(&src, &dst.host, b).await;
                }
                sent.store(0, Ordering::Relaxed);
                let mut c = if tool == "twincloud" {
                    twincloud_copy(&src, &relay, digest).await
                } else {
                    skopeo_copy(&src, &relay, digest).await
                };
                // Let the relay count the connections' last bytes.
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                c.bytes = sent.load(Ordering::Relaxed);
                let (times, bytes) = if tool == "twincloud" {
                    &mut ours
                } else {
                    &mut theirs
                };
                times.push(c.secs);
                *bytes = c.bytes;
            }
        }
        println!(
            "{:<34} {:>12.3} {:>16} {:>12.3} {:>16}",
            name,
            median(ours.0),
            ours.1,
            median(theirs.0),
            theirs.1
        );
    }
    println!(
        "(shared layers of the first image: {:.1} MiB; bytes include HTTP headers)",
        total as f64 / MIB as f64
    );
    push_to_serving(&src, &next_layers).await;
}

/// The deploy function on the local backend: a push to serving on two simulated services, the
/// image mirrored between the registries; per step from the audit of each action.
async fn push_to_serving(src: &Registry, layers: &[Vec<u8>]) {
    use twincloud_deploy::Deploy;
    use twincloud_runtime::{Clouds, Invoker, Services};
    let dst = Registry::start("bench", "dst").await;
    let dir = tempfile::tempdir().unwrap();
    let releases = twincloud_local::LocalDeployer::new(dir.path());
    for svc in ["app-a", "app-b"] {
        releases
            .create_service(svc, &format!("{svc}-00001"), "old@sha256:0")
            .await
            .unwrap();
    }
    let health = twincloud_testkit::CaptureServer::start().await;
    let config = format!(
        r#"[project]
name = "bench"
state = "{state}"

[[deploy.targets]]
name = "app"
tags = ["v*"]
order = "listed"
bake_secs = 0

[[deploy.targets.sides]]
image = "{a}/app"
registry_auth = "none"
compute = "local"
service = "app-a"
health = ["{h}/a"]
step_pause_secs = 0

[[deploy.targets.sides]]
image = "{b}/app"
registry_auth = "none"
compute = "local"
service = "app-b"
health = ["{h}/b"]
steps = [50, 100]
step_pause_secs = 0
"#,
        state = dir.path().display(),
        a = src.host,
        b = dst.host,
        h = health.url()
    );
    let cfg = twincloud_core::Config::parse("bench.toml", &config).unwrap();
    let mut services = Services::build(cfg, &Clouds::default()).await.unwrap();
    // The logins a secret would give (`basic:...`), without touching the environment.
    let login = |pair: &str| Arc::new(StaticLogin::from_pair(&Secret::new(pair)).unwrap());
    services.registries = Some(Arc::new(
        OciRegistries::new()
            .expect("HTTPS client")
            .with_login(&src.host, login("bench:src"))
            .with_login(&dst.host, login("bench:dst")),
    ));
    let inv = Invoker::new(Box::new(Deploy), services, false);
    let digest = src.push_image("app", "v3", layers, "amd64").await;
    let event = serde_json::json!({
        "twincloud": "command", "command": "deploy", "id": "bench",
        "args": {"image": format!("{}/app@{digest}", src.host)}
    });
    let t = Instant::now();
    let report = inv.handle_json(event.to_string().as_bytes()).await.unwrap();
    let total = t.elapsed();
    println!();
    println!(
        "Push to serving through the deploy function (local backend, {} MiB image, pauses and bake 0)",
        layers.iter().map(Vec::len).sum::<usize>() / MIB
    );
    println!("{:<60} {:>10}", "step", "ms");
    for a in report.executions().flat_map(|e| e.actions.iter()) {
        if a.id.starts_with("app-") {
            println!(
                "{:<60} {:>10}",
                twincloud_core::text::clip(&a.what, 60),
                a.elapsed_ms
            );
        }
    }
    println!(
        "{:<60} {:>10}",
        "total, checks and records included",
        total.as_millis()
    );
}
