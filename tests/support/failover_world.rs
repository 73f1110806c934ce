//! The failover test world: two stand-in apps, local compute and DNS, and the configuration
//! that ties them together (shared by the failover test files).
#![allow(dead_code, clippy::unwrap_used)]

use super::common::{config, invoker};
use twincloud_core::ports::{Compute, Traffic};
use twincloud_local::{LocalCompute, LocalTraffic, StandInApp};
use twincloud_runtime::Invoker;

pub const RECORD: &str = "api.aion.example.";

pub fn failover_toml(gcp: &str, aws: &str, failback: &str, hold_down: u64) -> String {
    format!(
        r#"[[notify.channels]]
name = "outbox"
type = "outbox"

[failover]
record = "{RECORD}"
threshold = 3
recovery_threshold = 2
hold_down_secs = {hold_down}
cooldown_secs = 0
probe_interval_secs = 1
probe_window_secs = 1
probe_timeout_ms = 500
failback = "{failback}"

[[failover.endpoints]]
name = "GCP Cloud Run"
cloud = "gcp"
primary = true
url = "{gcp}"
health = ["/health", "/health/ready"]
body_contains = "healthy"
dns_target = "aion-xyz-uc.a.run.app."
compute = "local"
service = "aion-backend-gcp"
active_size = 2
standby_size = 0
alarms = ["aion-primary-down"]

[[failover.endpoints]]
name = "AWS Fargate"
cloud = "aws"
url = "{aws}"
dns_target = "aion-alb-123.us-east-1.elb.amazonaws.com."
compute = "local"
service = "aion-backend-aws"
active_size = 2
standby_size = 0
alarms = ["aion-backup-health"]
"#
    )
}

pub struct World {
    pub dir: tempfile::TempDir,
    pub gcp: StandInApp,
    pub aws: StandInApp,
}

impl World {
    pub async fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let c = LocalCompute::new(dir.path());
        c.create_service("aion-backend-gcp", 2, Some(10))
            .await
            .unwrap();
        c.create_service("aion-backend-aws", 0, Some(10))
            .await
            .unwrap();
        LocalTraffic::new(dir.path())
            .switch(RECORD, "aion-xyz-uc.a.run.app.")
            .await
            .unwrap();
        World {
            dir,
            gcp: StandInApp::start().await.unwrap(),
            aws: StandInApp::start().await.unwrap(),
        }
    }

    pub async fn failover(&self, failback: &str, hold_down: u64) -> Invoker {
        let cfg = config(
            self.dir.path(),
            &failover_toml(&self.gcp.url(), &self.aws.url(), failback, hold_down),
        );
        invoker(&twincloud_failover::SPEC, cfg, false).await
    }

    pub async fn dns(&self) -> String {
        LocalTraffic::new(self.dir.path())
            .current_target(RECORD)
            .await
            .unwrap()
            .unwrap()
    }

    pub async fn desired(&self, service: &str) -> u32 {
        LocalCompute::new(self.dir.path())
            .scale(service)
            .await
            .unwrap()
            .desired
    }

    pub fn outbox(&self) -> Vec<serde_json::Value> {
        twincloud_testkit::fs::outbox(self.dir.path())
    }

    /// Messages whose title starts with `prefix`.
    pub fn titled(&self, prefix: &str) -> Vec<serde_json::Value> {
        self.outbox()
            .into_iter()
            .filter(|m| m["title"].as_str().unwrap().starts_with(prefix))
            .collect()
    }
}

pub async fn tick(inv: &Invoker, n: u32) -> twincloud_runtime::Report {
    let ev = serde_json::json!({"twincloud": "schedule", "name": "failover-probe", "id": format!("tick-{n}")});
    inv.handle_json(ev.to_string().as_bytes()).await.unwrap()
}
