//! The notifier end to end on the local backend with real HTTP channels: content, routing,
//! de-duplication, concurrency, channel isolation, retries and dry runs.
#![allow(clippy::unwrap_used)]

#[path = "../../../tests/support/common.rs"]
mod common;

use std::sync::Arc;

use common::{config, fixture, invoker, webhook};
use twincloud_runtime::Outcome;
use twincloud_testkit::{CaptureServer, Reply};

#[tokio::test]
async fn an_alarm_fixture_becomes_a_readable_webhook_message() {
    let dir = tempfile::tempdir().unwrap();
    let hook = CaptureServer::start().await;
    let inv = invoker(
        &twincloud_notifier::SPEC,
        config(dir.path(), &webhook("ops", &format!("{}/hook", hook.url()))),
        false,
    )
    .await;
    let report = inv
        .handle_json(&fixture("aws/eventbridge-alarm-state-change.json"))
        .await
        .unwrap();
    assert!(report.platform_result().is_ok());
    let reqs = hook.requests();
    assert_eq!(reqs.len(), 1);
    let m = reqs[0].json();
    assert_eq!(m["title"], "Alarm aion-backup-cpu-high is in ALARM");
    assert_eq!(m["severity"], "critical");
    assert_eq!(m["project"], "aion");
    assert!(
        m["text"]
            .as_str()
            .unwrap()
            .contains("Metric: AWS/ECS/CPUUtilization")
    );
    assert!(
        m["summary"]
            .as_str()
            .unwrap()
            .starts_with("Threshold Crossed")
    );
}

#[tokio::test]
async fn the_same_event_twice_and_a_resent_alert_send_one_message() {
    let dir = tempfile::tempdir().unwrap();
    let hook = CaptureServer::start().await;
    let inv = invoker(
        &twincloud_notifier::SPEC,
        config(dir.path(), &webhook("ops", &hook.url())),
        false,
    )
    .await;
    let ev = fixture("aws/eventbridge-alarm-state-change.json");
    inv.handle_json(&ev).await.unwrap();
    let again = inv.handle_json(&ev).await.unwrap();
    assert!(matches!(
        again.results[0].execution.actions[0].outcome,
        Outcome::AlreadyDone { .. }
    ));
    let mut v: serde_json::Value = serde_json::from_slice(&ev).unwrap();
    v["id"] = "another-delivery-of-the-same-state".into();
    let resent = inv.handle_json(v.to_string().as_bytes()).await.unwrap();
    assert!(resent.results[0].execution.actions.is_empty());
    assert_eq!(hook.requests().len(), 1);
    // A state change is reported.
    inv.handle_json(&fixture("aws/eventbridge-alarm-ok.json"))
        .await
        .unwrap();
    assert_eq!(hook.requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deliveries_send_one_message() {
    let dir = tempfile::tempdir().unwrap();
    let hook = CaptureServer::start().await;
    let cfg = config(dir.path(), &webhook("ops", &hook.url()));
    let ev = fixture("gcp/pubsub-billing-budget.push.json");
    let mut tasks = Vec::new();
    for i in 0..8 {
        let inv = Arc::new(invoker(&twincloud_notifier::SPEC, cfg.clone(), false).await);
        // Half are redeliveries of the same message, half are re-sends under new ids.
        let mut v: serde_json::Value = serde_json::from_slice(&ev).unwrap();
        if i % 2 == 1 {
            v["message"]["messageId"] = format!("resend-{i}").into();
        }
        tasks.push(tokio::spawn(async move {
            inv.handle_json(v.to_string().as_bytes()).await
        }));
    }
    for t in tasks {
        let _ = t.await.unwrap();
    }
    assert_eq!(
        hook.requests().len(),
        1,
        "exactly one message for one state change"
    );
}

#[tokio::test]
async fn one_failing_channel_does_not_stop_the_others_and_a_retry_completes_it() {
    let dir = tempfile::tempdir().unwrap();
    let good = CaptureServer::start().await;
    let flaky = CaptureServer::start().await;
    flaky.set_default(Reply::new(503, "down for maintenance"));
    let chans = format!(
        "{}{}",
        webhook("flaky", &flaky.url()),
        webhook("good", &good.url())
    );
    let inv = invoker(&twincloud_notifier::SPEC, config(dir.path(), &chans), false).await;
    let ev = fixture("gcp/pubsub-monitoring-incident-open.binary.json");
    let r = inv.handle_json(&ev).await.unwrap();
    assert_eq!(
        good.requests().len(),
        1,
        "the healthy channel got its message"
    );
    let err = r.platform_result().unwrap_err();
    assert!(
        err.is_transient() && err.to_string().contains("flaky"),
        "{err}"
    );
    // The platform retries the event once the channel is back: only the failed channel sends.
    flaky.set_default(Reply::new(200, "ok"));
    let r2 = inv.handle_json(&ev).await.unwrap();
    assert!(r2.platform_result().is_ok());
    assert_eq!(good.requests().len(), 1, "not sent twice");
    assert_eq!(
        flaky
            .requests()
            .iter()
            .filter(|q| q.body.starts_with(b"{"))
            .count(),
        5,
        "4 failed attempts, then 1 delivered"
    );
}

#[tokio::test]
async fn a_permanently_failing_channel_is_reported_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let gone = CaptureServer::start().await;
    gone.set_default(Reply::new(404, "no_service"));
    let inv = invoker(
        &twincloud_notifier::SPEC,
        config(dir.path(), &webhook("gone", &gone.url())),
        false,
    )
    .await;
    let r = inv
        .handle_json(&fixture("aws/ecr-image-push.json"))
        .await
        .unwrap();
    assert!(r.platform_result().is_ok(), "acknowledged");
    assert!(r.has_failures());
    assert!(
        r.to_text().contains("FAILED (Permanent)"),
        "{}",
        r.to_text()
    );
    assert_eq!(gone.requests().len(), 1);
}

#[tokio::test]
async fn dry_run_sends_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let hook = CaptureServer::start().await;
    let inv = invoker(
        &twincloud_notifier::SPEC,
        config(dir.path(), &webhook("ops", &hook.url())),
        true,
    )
    .await;
    let r = inv
        .handle_json(&fixture("aws/lambda-alarm-action.json"))
        .await
        .unwrap();
    assert!(matches!(
        r.results[0].execution.actions[0].outcome,
        Outcome::WouldRun
    ));
    assert!(hook.requests().is_empty());
    assert!(!dir.path().join("state").exists(), "nothing written");
}

#[tokio::test]
async fn every_action_leaves_an_audit_record() {
    let dir = tempfile::tempdir().unwrap();
    let hook = CaptureServer::start().await;
    let inv = invoker(
        &twincloud_notifier::SPEC,
        config(dir.path(), &webhook("ops", &hook.url())),
        false,
    )
    .await;
    inv.handle_json(&fixture("aws/s3-notification-put.json"))
        .await
        .unwrap();
    let audit = inv.services().state.list("audit/").await.unwrap();
    assert_eq!(audit.len(), 2, "{audit:?}");
    let rec = inv.services().state.get(&audit[0]).await.unwrap().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&rec.value).unwrap();
    assert_eq!(v["function"], "notifier");
    assert_eq!(v["outcome"]["status"], "done");
}

/// A schedule inside a Pub/Sub message (anyone who can publish to the topic wrote it) names
/// only a time near now: the time names what a run makes (a backup's snapshots).
#[tokio::test]
async fn a_relayed_schedule_far_from_now_is_refused_and_recorded() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let inv = invoker(&twincloud_notifier::SPEC, config(dir.path(), ""), false).await;
    let relayed = |time: String, id: &str| {
        let data = serde_json::json!({"twincloud": "schedule", "name": "nightly",
            "time": time, "id": id});
        serde_json::json!({
            "message": {
                "data": base64::engine::general_purpose::STANDARD.encode(data.to_string()),
                "messageId": id, "publishTime": chrono::Utc::now().to_rfc3339()
            },
            "subscription": "projects/aion-prod/subscriptions/twincloud-notifier"
        })
        .to_string()
    };
    let old = relayed("2020-01-01T03:00:00Z".into(), "s-old");
    let err = inv.handle_json(old.as_bytes()).await.unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(err.to_string().contains("schedule time"), "{err}");
    let rejected = inv.services().state.list("rejected/").await.unwrap();
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    let ahead = relayed(
        (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339(),
        "s-ahead",
    );
    assert!(inv.handle_json(ahead.as_bytes()).await.is_err());
    // Near now (a retry an hour late included): taken.
    let late = relayed(
        (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339(),
        "s-late",
    );
    assert!(inv.handle_json(late.as_bytes()).await.is_ok());
}
