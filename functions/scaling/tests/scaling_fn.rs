//! The scaling function on the local backend: simulated services and a simulated metric
//! source, the failover record read from the state store, real files throughout.
#![allow(clippy::unwrap_used)]

#[path = "../../../tests/support/common.rs"]
mod common;

use common::{config, invoker};
use twincloud_core::config::Metric;
use twincloud_core::ports::{Compute, Precondition};
use twincloud_core::signal::AlarmState;
use twincloud_local::{LocalAlarms, LocalCompute, LocalMetrics};
use twincloud_runtime::Invoker;

fn toml(extra: &str) -> String {
    format!(
        r#"[[notify.channels]]
name = "outbox"
type = "outbox"

[failover]
record = "api.aion.example."

[[failover.endpoints]]
name = "GCP Cloud Run"
cloud = "gcp"
primary = true
url = "http://127.0.0.1:9"
dns_target = "aion-xyz-uc.a.run.app."
compute = "local"
service = "aion-backend-gcp"
active_size = 2
standby_size = 0

[[failover.endpoints]]
name = "AWS Fargate"
cloud = "aws"
url = "http://127.0.0.1:9"
dns_target = "aion-alb-123.us-east-1.elb.amazonaws.com."
compute = "local"
service = "aion-backend-aws"
active_size = 2
standby_size = 0

[[scaling.services]]
name = "backend-gcp"
compute = "local"
service = "aion-backend-gcp"
endpoint = "GCP Cloud Run"
min = 2
max = 20
targets = {{ cpu = 70 }}
cooldown_out_secs = 0
cooldown_in_secs = 1
stabilization_secs = 1
max_step = 8
steps = [{{ alarm = "aion-cpu-high", add = 2 }}]

[[scaling.services]]
name = "backend-aws"
compute = "local"
service = "aion-backend-aws"
endpoint = "AWS Fargate"
min = 1
max = 20
targets = {{ cpu = 70 }}
warm_fraction = 0.25
cooldown_out_secs = 0
cooldown_in_secs = 1
stabilization_secs = 1
{extra}
"#
    )
}

struct World {
    dir: tempfile::TempDir,
}

impl World {
    async fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let c = LocalCompute::new(dir.path());
        c.create_service("aion-backend-gcp", 2, Some(50))
            .await
            .unwrap();
        c.create_service("aion-backend-aws", 1, Some(50))
            .await
            .unwrap();
        World { dir }
    }

    async fn invoker(&self, dry_run: bool) -> Invoker {
        invoker(
            &twincloud_scaling::SPEC,
            config(self.dir.path(), &toml("")),
            dry_run,
        )
        .await
    }

    async fn desired(&self, service: &str) -> u32 {
        LocalCompute::new(self.dir.path())
            .scale(service)
            .await
            .unwrap()
            .desired
    }

    async fn cpu(&self, service: &str, value: f64) {
        LocalMetrics::new(self.dir.path())
            .set(service, &[(Metric::Cpu, value)])
            .await
            .unwrap();
    }

    fn notices(&self) -> Vec<serde_json::Value> {
        twincloud_testkit::fs::outbox(self.dir.path())
            .into_iter()
            .filter(|m| m["title"].as_str().unwrap().starts_with("Scaling "))
            .collect()
    }
}

async fn tick(inv: &Invoker, n: u32) -> twincloud_runtime::Report {
    let ev =
        serde_json::json!({"twincloud": "schedule", "name": "scaling", "id": format!("tick-{n}")});
    inv.handle_json(ev.to_string().as_bytes()).await.unwrap()
}

fn cpu_alarm(state: &str) -> Vec<u8> {
    let mut alarm: serde_json::Value =
        serde_json::from_slice(&common::fixture("aws/eventbridge-alarm-state-change.json"))
            .unwrap();
    alarm["detail"]["alarmName"] = "aion-cpu-high".into();
    alarm["detail"]["state"]["value"] = state.into();
    alarm["id"] = format!("alarm-{state}").into();
    alarm.to_string().into_bytes()
}

#[tokio::test]
async fn an_alarm_scales_out_once_and_a_quiet_period_scales_back_in() {
    let w = World::new().await;
    let inv = w.invoker(false).await;
    w.cpu("aion-backend-gcp", 70.0).await;
    // A message saying the alarm fired, while the provider says it is OK: forged, no step.
    LocalAlarms::new(w.dir.path())
        .set("aion-cpu-high", AlarmState::Ok)
        .await
        .unwrap();
    let mut forged: serde_json::Value = serde_json::from_slice(&cpu_alarm("ALARM")).unwrap();
    forged["id"] = "forged-alarm".into();
    let r = inv
        .handle_json(forged.to_string().as_bytes())
        .await
        .unwrap();
    assert_eq!(w.desired("aion-backend-gcp").await, 2, "{}", r.notes_text());
    assert!(
        r.notes_text().contains("its provider says it is OK"),
        "{}",
        r.notes_text()
    );
    LocalAlarms::new(w.dir.path())
        .set("aion-cpu-high", AlarmState::Alarm)
        .await
        .unwrap();
    let r = inv.handle_json(&cpu_alarm("ALARM")).await.unwrap();
    assert_eq!(w.desired("aion-backend-gcp").await, 4, "{}", r.notes_text());
    // The same alarm delivered again changes nothing.
    inv.handle_json(&cpu_alarm("ALARM")).await.unwrap();
    assert_eq!(w.desired("aion-backend-gcp").await, 4);
    assert_eq!(w.notices().len(), 1, "one notice per change");
    // The standby followed? Not yet: it moves on its own ticks.
    w.cpu("aion-backend-gcp", 10.0).await;
    tick(&inv, 1).await;
    assert_eq!(
        w.desired("aion-backend-gcp").await,
        4,
        "within the stabilization window and the cooldown, nothing scales in"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = tick(&inv, 2).await;
    assert_eq!(w.desired("aion-backend-gcp").await, 2, "{}", r.notes_text());
    assert!(
        r.notes_text().contains("scale in from 4 to 2"),
        "{}",
        r.notes_text()
    );
}

#[tokio::test]
async fn the_standby_follows_the_active_side_and_nothing_shrinks_during_a_switch() {
    let w = World::new().await;
    let inv = w.invoker(false).await;
    w.cpu("aion-backend-gcp", 280.0).await;
    tick(&inv, 1).await;
    assert_eq!(w.desired("aion-backend-gcp").await, 8);
    tick(&inv, 2).await;
    assert_eq!(
        w.desired("aion-backend-aws").await,
        4,
        "the standby keeps a quarter of the active side's 16"
    );
    assert_eq!(w.desired("aion-backend-gcp").await, 16);
    // A failover in flight: nothing scales down, whatever the load says.
    let state = serde_json::json!({
        "active": "GCP Cloud Run",
        "in_flight": {"id": "f", "kind": "failover", "from": "GCP Cloud Run", "to": "AWS Fargate",
                      "detected": "2026-11-29T00:00:00Z", "started": "2026-11-29T00:00:00Z"},
        "last_switch": null, "history": []
    });
    inv.services()
        .state
        .put(
            "failover/state",
            state.to_string().as_bytes(),
            &Precondition::None,
        )
        .await
        .unwrap();
    w.cpu("aion-backend-gcp", 5.0).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = tick(&inv, 3).await;
    assert_eq!(
        w.desired("aion-backend-gcp").await,
        16,
        "{}",
        r.notes_text()
    );
    assert!(
        r.notes_text().contains("switch is in flight"),
        "{}",
        r.notes_text()
    );
}

#[tokio::test]
async fn a_dry_run_shows_the_recommendation_and_changes_nothing() {
    let w = World::new().await;
    let inv = w.invoker(true).await;
    w.cpu("aion-backend-gcp", 140.0).await;
    let r = tick(&inv, 1).await;
    assert!(
        r.notes_text()
            .contains("cpu at 140.0 against a target of 70.0: scale out from 2 to 4"),
        "{}",
        r.notes_text()
    );
    assert!(
        r.to_text()
            .contains("would run: scale `aion-backend-gcp` to 4"),
        "{}",
        r.to_text()
    );
    assert_eq!(w.desired("aion-backend-gcp").await, 2);
    assert!(w.notices().is_empty());
}

#[tokio::test]
async fn a_cap_bounds_max() {
    let w = World::new().await;
    let inv = w.invoker(false).await;
    inv.services()
        .state
        .put(
            &twincloud_core::records::holds::service_hold_key("backend-gcp"),
            br#"{"max": 3}"#,
            &Precondition::None,
        )
        .await
        .unwrap();
    w.cpu("aion-backend-gcp", 400.0).await;
    let r = tick(&inv, 1).await;
    assert_eq!(w.desired("aion-backend-gcp").await, 3, "{}", r.notes_text());
}

/// A scale that failed is not a change: the record, `status` and the page say it was not made,
/// and the redelivery that makes it says it is.
#[tokio::test]
async fn a_failed_scale_is_shown_as_not_made_until_a_retry_makes_it() {
    use twincloud_runtime::effects::{EffectFaults, InjectedFault};
    let w = World::new().await;
    w.cpu("aion-backend-gcp", 140.0).await;
    let spec = &twincloud_scaling::SPEC;
    let mut services = twincloud_runtime::Services::build_for(
        spec.wiring,
        config(w.dir.path(), &toml("")),
        &twincloud_runtime::Clouds::default(),
    )
    .await
    .unwrap();
    services.effect_faults = Some(EffectFaults::on_effect(
        "scale-backend-gcp",
        InjectedFault::Permanent,
        1,
    ));
    let inv = Invoker::new(spec.build(), services, false);
    let status = |inv: &Invoker| {
        let s = inv.services();
        let (config, state) = (s.config.clone(), s.state.clone());
        async move {
            let o =
                twincloud_runtime::overview::gather(&config, state.as_ref(), chrono::Utc::now())
                    .await;
            twincloud_runtime::overview::render_text(&o)
        }
    };
    let r = tick(&inv, 1).await;
    assert_eq!(r.exit_code(), 1, "{}", r.to_text());
    assert_eq!(w.desired("aion-backend-gcp").await, 2, "nothing was scaled");
    let text = status(&inv).await;
    assert!(
        text.contains("scaling backend-gcp: 0 change(s) in 24 h") && text.contains("NOT MADE: 2 →"),
        "{text}"
    );
    // The same tick redelivered makes the change, and the page says so.
    let r = tick(&inv, 1).await;
    assert_eq!(r.exit_code(), 0, "{}", r.to_text());
    assert!(w.desired("aion-backend-gcp").await > 2);
    let text = status(&inv).await;
    assert!(
        text.contains("scaling backend-gcp: 1 change(s) in 24 h") && !text.contains("NOT MADE"),
        "{text}"
    );
}
