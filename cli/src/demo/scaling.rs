//! The scaling part of the demo: an alarm scales a service out by its step; once the load is
//! back under the target and the stabilization window has passed, a schedule tick scales it
//! back in.

use std::path::Path;

use twincloud_core::Config;
use twincloud_core::config::Metric;
use twincloud_core::signal::AlarmState;
use twincloud_functions::scaling::Scaling;
use twincloud_local::{LocalAlarms, LocalCompute, LocalMetrics};
use twincloud_runtime::{Clouds, Invoker, Report, Services};

const ALARM: &str = include_str!("../../../events/aws/eventbridge-alarm-state-change.json");

/// The demo's configuration text for this part.
pub(super) fn text(dir: &Path) -> String {
    // The seed's figures, with the windows shortened to seconds so the demo runs at once.
    format!(
        r#"[project]
name = "aion (demo)"
state = "{}"

[[notify.channels]]
name = "outbox"
type = "outbox"

[[scaling.services]]
name = "aion-api"
compute = "local"
service = "aion-api"
min = 2
max = 10
targets = {{ cpu = 70 }}
steps = [{{ alarm = "aion-api-cpu-high", add = 2 }}]
cooldown_out_secs = 0
cooldown_in_secs = 1
stabilization_secs = 1
"#,
        dir.display()
    )
}

pub(super) fn config(dir: &Path) -> Result<Config, String> {
    Config::parse("(demo scaling config)", &text(dir)).map_err(|e| e.to_string())
}

/// Runs the scaling scenario; appends each step's report to `reports`.
pub async fn run(
    dir: &Path,
    json: bool,
    reports: &mut Vec<(String, Report)>,
) -> Result<(), String> {
    let err = |e: twincloud_core::ports::PortError| e.message;
    LocalCompute::new(dir)
        .create_service("aion-api", 2, Some(10))
        .await
        .map_err(err)?;
    let metrics = LocalMetrics::new(dir);
    metrics
        .set("aion-api", &[(Metric::Cpu, 72.0)])
        .await
        .map_err(err)?;
    // The alarm really is in ALARM: the function asks before it steps.
    LocalAlarms::new(dir)
        .set("aion-api-cpu-high", AlarmState::Alarm)
        .await
        .map_err(err)?;
    let services = Services::build(config(dir)?, &Clouds::default())
        .await
        .map_err(|e| e.to_string())?;
    let invoker = Invoker::new(Box::new(Scaling), services, false);
    let mut alarm: serde_json::Value = serde_json::from_str(ALARM).map_err(|e| e.to_string())?;
    alarm["detail"]["alarmName"] = "aion-api-cpu-high".into();
    alarm["id"] = "demo-scaling-alarm".into();
    super::tick(
        &invoker,
        "18. CPU alarm on aion-api (its step adds 2), confirmed in ALARM with the provider: scaled out from 2 to 4, one notice.",
        &alarm,
        json,
        reports,
    )
    .await?;
    metrics
        .set("aion-api", &[(Metric::Cpu, 20.0)])
        .await
        .map_err(err)?;
    // The stabilization window (1 s in this demo, 5 minutes by default) must pass first.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let tick =
        serde_json::json!({"twincloud": "schedule", "name": "scaling", "id": "demo-scaling-tick"});
    super::tick(
        &invoker,
        "19. The load is back to 20 % and the stabilization window has passed: the minute's tick scales back in to 2.",
        &tick,
        json,
        reports,
    )
    .await
}
