//! The failover part of the demo: two local stand-in apps for GCP Cloud Run (primary) and
//! AWS Fargate (standby), a simulated DNS record and services; kill the primary, watch the
//! failover, restart it, fail back on command.

use std::path::Path;

use twincloud_core::Config;
use twincloud_core::ports::{Compute, Traffic};
use twincloud_functions::failover::Failover;
use twincloud_local::{LocalCompute, LocalTraffic, StandInApp};
use twincloud_runtime::{Clouds, Invoker, Report, Services};

const RECORD: &str = "api.aion.example.";
const GCP_TARGET: &str = "aion-xyz-uc.a.run.app.";
const AWS_TARGET: &str = "aion-alb-123.us-east-1.elb.amazonaws.com.";

/// The demo's configuration text for this part.
pub(super) fn text(dir: &Path, gcp: &str, aws: &str) -> String {
    // One probe round per invocation so the demo runs in a second; deployed, a minute's
    // schedule probes every 5 s (see twincloud.example.toml).
    format!(
        r#"[project]
name = "aion (demo)"
state = "{dir}"

[[notify.channels]]
name = "outbox"
type = "outbox"

[failover]
record = "{RECORD}"
threshold = 3
probe_interval_secs = 1
probe_window_secs = 1
probe_timeout_ms = 500
recovery_threshold = 1
hold_down_secs = 0
cooldown_secs = 0
failback = "manual"

[[failover.endpoints]]
name = "GCP Cloud Run"
cloud = "gcp"
primary = true
url = "{gcp}"
health = ["/health", "/health/ready"]
dns_target = "{GCP_TARGET}"
compute = "local"
service = "aion-backend-gcp"
active_size = 2

[[failover.endpoints]]
name = "AWS Fargate"
cloud = "aws"
url = "{aws}"
dns_target = "{AWS_TARGET}"
compute = "local"
service = "aion-backend-aws"
active_size = 2
"#,
        dir = dir.display()
    )
}

pub(super) fn config(dir: &Path, gcp: &str, aws: &str) -> Result<Config, String> {
    Config::parse("(demo failover config)", &text(dir, gcp, aws)).map_err(|e| e.to_string())
}

async fn invoke(cfg: &Config, event: serde_json::Value) -> Result<Report, String> {
    let services = Services::build(cfg.clone(), &Clouds::default())
        .await
        .map_err(|e| e.to_string())?;
    Invoker::new(Box::new(Failover), services, false)
        .handle_json(event.to_string().as_bytes())
        .await
        .map_err(|e| e.to_string())
}

fn tick(n: u32) -> serde_json::Value {
    serde_json::json!({"twincloud": "schedule", "name": "failover-probe", "id": format!("demo-tick-{n}")})
}

/// Runs the failover scenario; appends each step's report to `reports`.
pub async fn run(
    dir: &Path,
    json: bool,
    reports: &mut Vec<(String, Report)>,
) -> Result<(), String> {
    let mut gcp = StandInApp::start().await.map_err(|e| e.to_string())?;
    let aws = StandInApp::start().await.map_err(|e| e.to_string())?;
    let cfg = config(dir, &gcp.url(), &aws.url())?;
    let compute = LocalCompute::new(dir);
    compute
        .create_service("aion-backend-gcp", 2, Some(10))
        .await
        .map_err(|e| e.message)?;
    compute
        .create_service("aion-backend-aws", 0, Some(10))
        .await
        .map_err(|e| e.message)?;
    let dns = LocalTraffic::new(dir);
    dns.switch(RECORD, GCP_TARGET)
        .await
        .map_err(|e| e.message)?;

    let say = |text: String, r: Report, reports: &mut Vec<(String, Report)>| {
        if !json {
            twincloud_runtime::outln!("\n{text}\n{}", super::indent(&r.to_text()));
        }
        reports.push((text, r));
    };
    let r = invoke(&cfg, tick(1)).await?;
    say(
        format!(
            "8. Failover: stand-ins for GCP Cloud Run ({}) and AWS Fargate ({}) both answer: traffic stays on the primary.",
            gcp.url(),
            aws.url()
        ),
        r,
        reports,
    );

    gcp.kill().await;
    for n in 2..=3 {
        let r = invoke(&cfg, tick(n)).await?;
        say(
            format!(
                "9.{}. The primary is killed: failed round {} of 3, no switch yet.",
                n - 1,
                n - 1
            ),
            r,
            reports,
        );
    }
    let r = invoke(&cfg, tick(4)).await?;
    let target = dns
        .current_target(RECORD)
        .await
        .map_err(|e| e.message)?
        .unwrap_or_default();
    let standby = compute
        .scale("aion-backend-aws")
        .await
        .map_err(|e| e.message)?;
    say(
        format!(
            "10. Third failed round: the standby is scaled to {} ready instances first, then {RECORD} is pointed at {target}.",
            standby.ready
        ),
        r,
        reports,
    );

    gcp.restart().await.map_err(|e| e.to_string())?;
    let r = invoke(&cfg, tick(5)).await?;
    say("11. The primary is back; failback is manual, so traffic stays on AWS until someone decides.".into(), r, reports);
    let r = invoke(
        &cfg,
        serde_json::json!({"twincloud": "command", "command": "failback", "id": "demo-failback"}),
    )
    .await?;
    let target = dns
        .current_target(RECORD)
        .await
        .map_err(|e| e.message)?
        .unwrap_or_default();
    say(
        format!(
            "12. `twincloud failback`: traffic returns to {target} and AWS goes back to its standby size."
        ),
        r,
        reports,
    );
    Ok(())
}
