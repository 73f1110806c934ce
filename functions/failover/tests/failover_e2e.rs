//! Failover on real processes: two local HTTP servers stand in for the two apps, the local
//! backend holds the services and the DNS record.
#![allow(clippy::unwrap_used)]

#[path = "../../../tests/support/common.rs"]
mod common;
#[path = "../../../tests/support/failover_world.rs"]
mod failover_world;

use common::{config, invoker};
use failover_world::{World, failover_toml, tick};
use twincloud_failover::Failover;
use twincloud_local::{LocalCompute, StandInApp};
use twincloud_runtime::Invoker;

#[tokio::test]
async fn killing_the_primary_fails_over_with_the_standby_scaled_first_then_fails_back() {
    let mut w = World::new().await;
    let inv = w.failover("auto", 1).await;
    tick(&inv, 1).await;
    assert_eq!(w.dns().await, "aion-xyz-uc.a.run.app.");

    w.gcp.kill().await;
    tick(&inv, 2).await;
    tick(&inv, 3).await;
    assert_eq!(
        w.dns().await,
        "aion-xyz-uc.a.run.app.",
        "two failed rounds are not enough"
    );
    let r = tick(&inv, 4).await;
    assert_eq!(w.dns().await, "aion-alb-123.us-east-1.elb.amazonaws.com.");
    assert_eq!(w.desired("aion-backend-aws").await, 2);
    let switch = &r.results[0].followups[0];
    let order: Vec<&str> = switch.actions.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(
        order,
        ["scale-up", "wait-ready", "switch-traffic", "record"],
        "standby scaled and ready before traffic moved"
    );
    let msgs = w.outbox();
    let m = msgs
        .iter()
        .find(|m| {
            m["title"]
                .as_str()
                .unwrap()
                .starts_with("Failover: traffic moved")
        })
        .expect("a failover report");
    assert_eq!(m["severity"], "critical");
    let fields: Vec<String> = m["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f[0].as_str().unwrap().to_owned())
        .collect();
    for f in [
        "Detected",
        "Standby scaled",
        "Traffic switched",
        "Decision to switch",
    ] {
        assert!(
            fields.iter().any(|x| x == f),
            "timeline has {f}: {fields:?}"
        );
    }
    let status: serde_json::Value = serde_json::from_slice(
        &inv.services()
            .state
            .get("failover/status")
            .await
            .unwrap()
            .unwrap()
            .value,
    )
    .unwrap();
    assert_eq!(status["activeEndpoint"], "AWS Fargate");
    assert_eq!(status["endpoints"][0]["isHealthy"], false);
    assert_eq!(status["endpoints"][0]["isPrimary"], true);

    // The primary comes back: failback only after recovery_threshold rounds and the hold-down.
    w.gcp.restart().await.unwrap();
    tick(&inv, 5).await;
    assert_eq!(
        w.dns().await,
        "aion-alb-123.us-east-1.elb.amazonaws.com.",
        "one good round is not recovery"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    tick(&inv, 6).await;
    assert_eq!(
        w.dns().await,
        "aion-xyz-uc.a.run.app.",
        "failback after sustained recovery"
    );
    assert_eq!(
        w.desired("aion-backend-aws").await,
        0,
        "the standby returns to its standby size"
    );
    assert!(w.outbox().iter().any(|m| {
        m["title"]
            .as_str()
            .unwrap()
            .starts_with("Failback: traffic moved")
    }));
}

#[tokio::test]
async fn a_flapping_primary_never_fails_over() {
    let w = World::new().await;
    let inv = w.failover("manual", 300).await;
    for n in 0..12 {
        w.gcp.set_healthy(n % 3 != 0);
        tick(&inv, n).await;
    }
    assert_eq!(w.dns().await, "aion-xyz-uc.a.run.app.");
    assert_eq!(w.desired("aion-backend-aws").await, 0);
}

#[tokio::test]
async fn a_dead_standby_blocks_the_switch_and_alerts_once() {
    let mut w = World::new().await;
    let inv = w.failover("manual", 300).await;
    w.gcp.kill().await;
    w.aws.kill().await;
    for n in 0..6 {
        tick(&inv, n).await;
    }
    assert_eq!(
        w.dns().await,
        "aion-xyz-uc.a.run.app.",
        "never to an unhealthy standby"
    );
    let stuck: Vec<_> = w
        .outbox()
        .into_iter()
        .filter(|m| m["title"].as_str().unwrap().starts_with("Failover blocked"))
        .collect();
    assert_eq!(stuck.len(), 1, "one alert, not one per round");
    assert_eq!(stuck[0]["severity"], "critical");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_invocations_make_one_failover() {
    let mut w = World::new().await;
    let inv = w.failover("manual", 300).await;
    w.gcp.kill().await;
    tick(&inv, 1).await;
    tick(&inv, 2).await;
    let mut tasks = Vec::new();
    for n in 0..4 {
        let cfg = config(
            w.dir.path(),
            &failover_toml(&w.gcp.url(), &w.aws.url(), "manual", 300),
        );
        let inv = invoker(&twincloud_failover::SPEC, cfg, false).await;
        tasks.push(tokio::spawn(async move { tick(&inv, 100 + n).await }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(w.dns().await, "aion-alb-123.us-east-1.elb.amazonaws.com.");
    let reports = w.titled("Failover: traffic moved").len();
    assert_eq!(reports, 1, "exactly one failover");
    let dns: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(w.dir.path().join("sim/dns/api.aion.example..json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        dns["history"].as_array().unwrap().len(),
        1,
        "the record changed once"
    );
}

fn primary_down_alarm() -> serde_json::Value {
    let mut alarm: serde_json::Value =
        serde_json::from_slice(&common::fixture("aws/eventbridge-alarm-state-change.json"))
            .unwrap();
    alarm["detail"]["alarmName"] = "aion-primary-down".into();
    alarm
}

#[tokio::test]
async fn a_forged_alarm_or_incident_moves_nothing_while_probes_see_the_primary_healthy() {
    let w = World::new().await;
    let inv = w.failover("manual", 300).await;
    tick(&inv, 0).await;
    let r = inv
        .handle_json(primary_down_alarm().to_string().as_bytes())
        .await
        .unwrap();
    assert!(r.notes_text().contains("probing now"), "{}", r.notes_text());
    // The incident policy is mapped to the primary too (`aion-primary-down`).
    let incident = common::fixture("gcp/pubsub-monitoring-incident-open.structured.json");
    let r = inv.handle_json(&incident).await.unwrap();
    assert!(r.notes_text().contains("probing now"), "{}", r.notes_text());
    assert_eq!(
        w.dns().await,
        "aion-xyz-uc.a.run.app.",
        "both sides are healthy: an alarm is a reason to probe, not a verdict"
    );
    assert!(w.titled("Failover").is_empty());
    assert_eq!(w.desired("aion-backend-aws").await, 0, "nothing scaled");
}

#[tokio::test]
async fn an_alarm_on_a_dead_primary_fails_over_once_its_probes_confirm() {
    let mut w = World::new().await;
    let inv = w.failover("manual", 300).await;
    tick(&inv, 0).await;
    w.gcp.kill().await;
    let alarm = primary_down_alarm().to_string();
    inv.handle_json(alarm.as_bytes()).await.unwrap();
    assert_eq!(w.dns().await, "aion-alb-123.us-east-1.elb.amazonaws.com.");
    inv.handle_json(alarm.as_bytes()).await.unwrap();
    assert_eq!(w.titled("Failover: traffic moved").len(), 1);
}

#[tokio::test]
async fn a_failback_command_inside_a_topic_message_is_refused() {
    let mut w = World::new().await;
    let inv = w.failover("manual", 300).await;
    w.gcp.kill().await;
    for n in 0..3 {
        tick(&inv, n).await;
    }
    assert_eq!(w.dns().await, "aion-alb-123.us-east-1.elb.amazonaws.com.");
    w.gcp.restart().await.unwrap();
    tick(&inv, 10).await;
    use base64::Engine;
    let command =
        serde_json::json!({"twincloud": "command", "command": "failback", "args": {"force": true}});
    let push = serde_json::json!({
        "message": {
            "data": base64::engine::general_purpose::STANDARD.encode(command.to_string()),
            "messageId": "forged-failback-1",
            "publishTime": "2026-11-29T03:00:00Z"
        },
        "subscription": "projects/aion-prod/subscriptions/twincloud-failover-incidents"
    });
    let err = inv
        .handle_json(push.to_string().as_bytes())
        .await
        .expect_err("refused");
    assert!(
        matches!(err, twincloud_runtime::RunError::Refused(_)),
        "{err}"
    );
    assert!(err.to_string().contains("relayed"), "{err}");
    assert_eq!(
        w.dns().await,
        "aion-alb-123.us-east-1.elb.amazonaws.com.",
        "traffic stays on the standby"
    );
    let rejected = twincloud_testkit::fs::walk(&w.dir.path().join("state/rejected"));
    assert_eq!(rejected.len(), 1, "the refusal is on record");
}

#[tokio::test]
async fn manual_failback_on_command_only_to_a_healthy_primary() {
    let mut w = World::new().await;
    let inv = w.failover("manual", 300).await;
    w.gcp.kill().await;
    for n in 0..3 {
        tick(&inv, n).await;
    }
    assert_eq!(w.dns().await, "aion-alb-123.us-east-1.elb.amazonaws.com.");
    let failback = serde_json::json!({"twincloud": "command", "command": "failback", "id": "fb-1"})
        .to_string();
    inv.handle_json(failback.as_bytes()).await.unwrap();
    assert_eq!(
        w.dns().await,
        "aion-alb-123.us-east-1.elb.amazonaws.com.",
        "refused while the primary is down"
    );
    assert!(w.outbox().iter().any(|m| {
        m["summary"]
            .as_str()
            .unwrap_or("")
            .contains("failback refused")
    }));
    w.gcp.restart().await.unwrap();
    let failback = serde_json::json!({"twincloud": "command", "command": "failback", "id": "fb-2"})
        .to_string();
    inv.handle_json(failback.as_bytes()).await.unwrap();
    assert_eq!(w.dns().await, "aion-xyz-uc.a.run.app.");
}

#[tokio::test]
async fn a_partition_seen_from_one_cloud_alone_never_fails_over() {
    // Two vantage points share the state; with quorum 2 both must see the primary down. The
    // GCP vantage reaches a dead primary while the AWS vantage still reaches a live one.
    let w = World::new().await;
    let mut dead = StandInApp::start().await.unwrap();
    dead.kill().await;
    let vantage = |url: String, name: &'static str| {
        let text = failover_toml(&url, &w.aws.url(), "manual", 300)
            .replace("[failover]\n", "[failover]\nquorum = 2\n");
        let cfg = config(w.dir.path(), &text);
        async move {
            let mut services = twincloud_runtime::Services::build_for(
                twincloud_failover::SPEC.wiring,
                cfg,
                &twincloud_runtime::Clouds::default(),
            )
            .await
            .unwrap();
            services.vantage = name.into();
            Invoker::new(Box::new(Failover), services, false)
        }
    };
    let gcp_side = vantage(dead.url(), "gcp").await;
    let aws_side = vantage(w.gcp.url(), "aws").await;
    for n in 0..4 {
        tick(&gcp_side, 10 + n).await;
        tick(&aws_side, 20 + n).await;
    }
    assert_eq!(
        w.dns().await,
        "aion-xyz-uc.a.run.app.",
        "one vantage alone does not make a quorum"
    );
    let aws_sees_dead = vantage(dead.url(), "aws").await;
    for n in 0..3 {
        tick(&aws_sees_dead, 30 + n).await;
    }
    tick(&gcp_side, 40).await;
    assert_eq!(
        w.dns().await,
        "aion-alb-123.us-east-1.elb.amazonaws.com.",
        "both vantage points agree: failover"
    );
}

#[tokio::test]
async fn a_failed_step_leaves_traffic_alone_and_says_so() {
    let mut w = World::new().await;
    // The standby cannot reach its active size: scaling it is refused.
    LocalCompute::new(w.dir.path())
        .create_service("aion-backend-aws", 0, Some(1))
        .await
        .unwrap();
    let inv = w.failover("manual", 300).await;
    w.gcp.kill().await;
    let mut last = None;
    for n in 0..3 {
        last = Some(tick(&inv, n).await);
    }
    assert_eq!(
        w.dns().await,
        "aion-xyz-uc.a.run.app.",
        "traffic never moves to a side that is not ready"
    );
    let report = last.unwrap();
    let switch = &report.results[0].followups[0];
    assert!(matches!(
        switch.actions[0].outcome,
        twincloud_runtime::Outcome::Failed { .. }
    ));
    assert!(
        switch.actions[1..]
            .iter()
            .all(|a| matches!(a.outcome, twincloud_runtime::Outcome::Skipped { .. }))
    );
    let failed = w.titled("Failover GCP Cloud Run → AWS Fargate FAILED at `scale-up`");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["severity"], "critical");
    // Traffic never moved, so the lock was released at once: once the standby can scale, the
    // very next run switches (it does not wait out the lock's lease).
    assert!(
        report.notes_text().contains("lock released"),
        "{}",
        report.notes_text()
    );
    LocalCompute::new(w.dir.path())
        .create_service("aion-backend-aws", 0, Some(10))
        .await
        .unwrap();
    let r = tick(&inv, 9).await;
    assert!(
        !r.notes_text().contains("in progress"),
        "{}",
        r.notes_text()
    );
    assert_eq!(w.dns().await, "aion-alb-123.us-east-1.elb.amazonaws.com.");
}

#[tokio::test]
async fn probing_stops_early_when_the_invocation_deadline_is_near() {
    let w = World::new().await;
    let text = failover_toml(&w.gcp.url(), &w.aws.url(), "manual", 300)
        .replace("probe_window_secs = 1", "probe_window_secs = 30");
    let inv = invoker(
        &twincloud_failover::SPEC,
        config(w.dir.path(), &text),
        false,
    )
    .await;
    let ev = twincloud_core::decode_json(
        br#"{"twincloud": "schedule", "name": "probe", "id": "deadline"}"#,
    )
    .unwrap();
    let start = std::time::Instant::now();
    let r = inv
        .handle_until(ev, Some(start + std::time::Duration::from_secs(20)))
        .await
        .unwrap();
    assert!(
        start.elapsed() < std::time::Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    let notes = &r.results[0].execution.plan.notes;
    assert!(
        notes.iter().any(|n| n.contains("stopped after 1 round(s)")),
        "{notes:?}"
    );
}
