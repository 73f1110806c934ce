//! Failover timing on the local backend: two stand-in apps, the failover function probing as
//! deployed (every `interval` seconds), the primary killed at a random point of a probe
//! interval. Measures the time from the kill to the decision and from the decision to the
//! switch completed (standby scaled and ready, DNS switched), median of the runs.
//!
//!     cargo run --release -p twincloud-runtime --example failover_timing -- [RUNS] [INTERVAL_SECS] [MOTO_URL]
//!
//! With a moto URL, the standby is an ECS service and the record lives in Route 53 (on moto);
//! without, the local backend's simulated services and DNS.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use twincloud_core::Config;
use twincloud_core::ports::Traffic;
use twincloud_failover::Failover;
use twincloud_local::{LocalCompute, LocalTraffic, StandInApp};
use twincloud_runtime::{Clouds, Invoker, Services};

const RECORD: &str = "api.aion.example.";

/// Where the services and the record live.
enum Backend {
    Local,
    Moto { cluster: String, zone: String },
}

fn config(dir: &std::path::Path, gcp: &str, aws: &str, interval: u64, backend: &Backend) -> Config {
    let mut text = format!(
        r#"[project]
name = "timing"
state = "{}"

[failover]
record = "{RECORD}"
threshold = 3
probe_interval_secs = {interval}
probe_window_secs = 55
probe_timeout_ms = 2000
cooldown_secs = 0

[[failover.endpoints]]
name = "gcp"
cloud = "gcp"
primary = true
url = "{gcp}"
dns_target = "gcp."
compute = "local"
service = "gcp"
active_size = 2

[[failover.endpoints]]
name = "aws"
cloud = "aws"
url = "{aws}"
dns_target = "aws."
compute = "local"
service = "aws"
active_size = 2
"#,
        dir.display()
    );
    if let Backend::Moto { cluster, zone } = backend {
        text = text
            .replace("[[failover.endpoints]]\nname = \"gcp\"", &format!("[failover.dns]\nprovider = \"route53\"\nzone_id = \"{zone}\"\n\n[[failover.endpoints]]\nname = \"gcp\""))
            .replace("compute = \"local\"\nservice = \"gcp\"", &format!("compute = \"ecs\"\ncluster = \"{cluster}\"\nservice = \"gcp\""))
            .replace("compute = \"local\"\nservice = \"aws\"", &format!("compute = \"ecs\"\ncluster = \"{cluster}\"\nservice = \"aws\""));
    }
    Config::parse("timing", &text).unwrap()
}

/// Creates the two ECS services and the hosted zone on moto; returns the backend and context.
async fn moto(url: &str, run: usize) -> (Backend, twincloud_aws::AwsContext) {
    let ctx = twincloud_aws::AwsContext::for_endpoint(url, "us-east-1").await;
    let ecs = ctx.ecs();
    let cluster = format!("timing-{}-{run}", std::process::id());
    ecs.create_cluster()
        .cluster_name(&cluster)
        .send()
        .await
        .unwrap();
    ecs.register_task_definition()
        .family("timing")
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("app")
                .image("app:1")
                .memory(256)
                .build(),
        )
        .send()
        .await
        .unwrap();
    for (name, n) in [("gcp", 2), ("aws", 0)] {
        ecs.create_service()
            .cluster(&cluster)
            .service_name(name)
            .task_definition("timing")
            .desired_count(n)
            .launch_type(aws_sdk_ecs::types::LaunchType::Ec2)
            .send()
            .await
            .unwrap();
    }
    let zone = ctx
        .route53()
        .create_hosted_zone()
        .name("aion.example.")
        .caller_reference(format!("{cluster}-zone"))
        .send()
        .await
        .unwrap();
    let zone = zone
        .hosted_zone()
        .unwrap()
        .id()
        .trim_start_matches("/hostedzone/")
        .to_owned();
    twincloud_aws::Route53Traffic::new(&ctx, &zone, 60)
        .switch(RECORD, "gcp.")
        .await
        .unwrap();
    (Backend::Moto { cluster, zone }, ctx)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    let interval: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(5);
    let moto_url = args.get(3).cloned();
    let (mut detect, mut switch) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let dir = tempfile::tempdir().unwrap();
        let mut gcp = StandInApp::start().await.unwrap();
        let aws = StandInApp::start().await.unwrap();
        let (backend, clouds, traffic): (Backend, Clouds, Box<dyn Traffic>) = match &moto_url {
            Some(url) => {
                let (b, ctx) = moto(url, run).await;
                let Backend::Moto { zone, .. } = &b else {
                    unreachable!()
                };
                let t = Box::new(twincloud_aws::Route53Traffic::new(&ctx, zone, 60));
                (b, Clouds::with_aws(ctx), t)
            }
            None => {
                let c = LocalCompute::new(dir.path());
                c.create_service("gcp", 2, Some(10)).await.unwrap();
                c.create_service("aws", 0, Some(10)).await.unwrap();
                LocalTraffic::new(dir.path())
                    .switch(RECORD, "gcp.")
                    .await
                    .unwrap();
                (
                    Backend::Local,
                    Clouds::default(),
                    Box::new(LocalTraffic::new(dir.path())),
                )
            }
        };
        let services = Services::build(
            config(dir.path(), &gcp.url(), &aws.url(), interval, &backend),
            &clouds,
        )
        .await
        .unwrap();
        let inv = Invoker::new(Box::new(Failover), services, false);
        let tick = serde_json::json!({"twincloud": "schedule", "name": "probe", "id": format!("run-{run}")}).to_string();
        let task = tokio::spawn(async move { inv.handle_json(tick.as_bytes()).await });
        // Kill at a different point of the probe interval each run.
        let offset = Duration::from_millis(
            interval * 1000 + (run as u64 * 1000 * interval / runs as u64) + 300,
        );
        tokio::time::sleep(offset).await;
        let killed_at: DateTime<Utc> = Utc::now();
        let killed = Instant::now();
        gcp.kill().await;
        let report = task.await.unwrap().unwrap();
        let total = killed.elapsed().as_secs_f64();
        let ex = report.results[0]
            .followups
            .first()
            .expect("a switch happened");
        let decided: DateTime<Utc> = ex.plan.guard.as_ref().unwrap().value["in_flight"]["started"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let to_switch: u64 = ex
            .actions
            .iter()
            .filter(|a| ["scale-up", "wait-ready", "switch-traffic"].contains(&a.id.as_str()))
            .map(|a| a.elapsed_ms)
            .sum();
        assert_eq!(
            traffic.current_target(RECORD).await.unwrap().as_deref(),
            Some("aws.")
        );
        let d = decided.signed_duration_since(killed_at).num_milliseconds() as f64 / 1000.0;
        eprintln!(
            "run {}: detected {d:.2} s after the kill, switched {to_switch} ms after the decision ({total:.2} s in all)",
            run + 1
        );
        detect.push(d);
        switch.push(to_switch as f64 / 1000.0);
    }
    let on = if moto_url.is_some() {
        "ECS and Route 53 on moto"
    } else {
        "the local backend"
    };
    println!("Failover on {on}, threshold 3 x interval {interval} s, median of {runs} runs\n");
    println!("| | seed (000) | twincloud | target |");
    println!("|---|---:|---:|---:|");
    println!(
        "| kill → decision | 90 s | {:.2} s | ≤ {} s |",
        median(detect),
        3 * interval
    );
    println!(
        "| decision → switch completed | not automated | {:.3} s | ≤ 5 s |",
        median(switch)
    );
}
