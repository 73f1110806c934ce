//! Slack and webhook channels against a real local HTTP server, with faults injected.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use twincloud_core::ports::{Notifier, Retry};
use twincloud_core::{Message, Secret, Severity};
use twincloud_http::{HttpRetry, SlackNotifier, WebhookNotifier};
use twincloud_testkit::{CaptureServer, Fault, FaultProxy, Reply};

fn message() -> Message {
    Message {
        project: "aion".into(),
        title: "Alarm aion-backup-cpu-high is in ALARM".into(),
        severity: Severity::Critical,
        kind: "alarm".into(),
        summary: "Threshold Crossed: 3 datapoints > 80 <high>".into(),
        fields: vec![("Region".into(), "us-east-1".into())],
        link: None,
        event_id: "evt-1".into(),
    }
}

fn fast() -> HttpRetry {
    HttpRetry {
        base: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        ..HttpRetry::default()
    }
}

#[tokio::test]
async fn slack_gets_block_kit() {
    let server = CaptureServer::start().await;
    let slack = SlackNotifier::new(
        "oncall",
        Secret::new(format!("{}/services/T0/B0/XYZ", server.url())),
        twincloud_http::client().unwrap(),
        fast(),
    );
    let d = slack.send(&message()).await.unwrap();
    assert_eq!(d.attempts, 1);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].uri, "/services/T0/B0/XYZ");
    let body = reqs[0].json();
    assert_eq!(body["blocks"][0]["type"], "header");
    assert!(
        body["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("aion-backup-cpu-high is in ALARM")
    );
    assert!(
        body["blocks"][1]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("&lt;high&gt;"),
        "mrkdwn is escaped"
    );
    assert!(body["text"].as_str().unwrap().starts_with("🔴"));
}

#[tokio::test]
async fn slack_honours_retry_after() {
    let server = CaptureServer::start().await;
    server.script([Reply::new(429, "rate_limited").header("Retry-After", "1")]);
    let slack = SlackNotifier::new(
        "oncall",
        Secret::new(server.url()),
        twincloud_http::client().unwrap(),
        fast(),
    );
    let t = Instant::now();
    let d = slack.send(&message()).await.unwrap();
    assert_eq!(d.attempts, 2);
    assert!(
        t.elapsed() >= Duration::from_millis(950),
        "waited {:?}",
        t.elapsed()
    );
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn a_long_retry_after_is_surfaced_as_transient() {
    let server = CaptureServer::start().await;
    server.script([Reply::new(429, "rate_limited").header("Retry-After", "3600")]);
    let slack = SlackNotifier::new(
        "oncall",
        Secret::new(server.url()),
        twincloud_http::client().unwrap(),
        fast(),
    );
    let e = slack.send(&message()).await.unwrap_err();
    assert_eq!(e.retry, Retry::Transient);
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn permanent_errors_are_not_retried_and_do_not_leak_the_url() {
    let server = CaptureServer::start().await;
    server.script([Reply::new(404, "no_service")]);
    let url = format!("{}/services/T0/B0/SECRETTOKEN", server.url());
    let slack = SlackNotifier::new(
        "oncall",
        Secret::new(url),
        twincloud_http::client().unwrap(),
        fast(),
    );
    let e = slack.send(&message()).await.unwrap_err();
    assert_eq!(e.retry, Retry::Permanent);
    assert!(e.to_string().contains("HTTP 404: no_service"), "{e}");
    assert!(!e.to_string().contains("SECRETTOKEN"), "{e}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn unreachable_endpoint_is_transient_without_the_url() {
    let slack = SlackNotifier::new(
        "oncall",
        Secret::new("http://127.0.0.1:9/SECRETTOKEN"),
        twincloud_http::client().unwrap(),
        fast(),
    );
    let e = slack.send(&message()).await.unwrap_err();
    assert_eq!(e.retry, Retry::Transient);
    assert!(!e.to_string().contains("SECRETTOKEN"), "{e}");
}

#[tokio::test]
async fn webhook_survives_5xx_and_dropped_connections_through_the_fault_proxy() {
    let server = CaptureServer::start().await;
    let proxy = FaultProxy::start(&server.url()).await;
    proxy.inject("POST /hook", 1, Fault::Drop);
    proxy.inject("POST /hook", 1, Fault::unavailable());
    let hook = WebhookNotifier::new(
        "audit",
        &format!("{}/hook", proxy.url()),
        Some(Secret::new("Bearer t0ken")),
        twincloud_http::client().unwrap(),
        fast(),
    );
    let d = hook.send(&message()).await.unwrap();
    assert_eq!(d.attempts, 3);
    assert_eq!(proxy.stats().faulted, 2);
    let reqs = server.requests();
    assert_eq!(
        reqs.len(),
        1,
        "only the successful attempt reaches the server"
    );
    assert_eq!(reqs[0].header("authorization"), Some("Bearer t0ken"));
    assert_eq!(reqs[0].header("idempotency-key"), Some("evt-1:audit"));
    let body = reqs[0].json();
    assert_eq!(body["schema"], "twincloud.message/v1");
    assert_eq!(body["severity"], "critical");
    assert_eq!(body["fields"][0]["name"], "Region");
}

#[tokio::test]
async fn webhook_gives_up_after_max_attempts() {
    let server = CaptureServer::start().await;
    server.script((0..10).map(|_| Reply::new(503, "down")));
    let hook = WebhookNotifier::new(
        "audit",
        &format!("{}/hook", server.url()),
        None,
        twincloud_http::client().unwrap(),
        fast(),
    );
    let e = hook.send(&message()).await.unwrap_err();
    assert_eq!(e.retry, Retry::Transient);
    assert!(e.to_string().contains("after 4 attempt(s)"), "{e}");
    assert_eq!(server.requests().len(), 4);
}

/// A Cloudflare DNS API fake holding records; answers 429 when told to.
async fn cloudflare_fake(
    throttle: u32,
) -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
) {
    use axum::extract::{Path, Query, State};
    use axum::http::{HeaderMap, StatusCode};
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::{Arc, Mutex};
    type Records = Arc<Mutex<Vec<(String, String)>>>;
    let records: Records = Arc::default();
    let throttled = Arc::new(AtomicU32::new(throttle));
    let auth_ok = |h: &HeaderMap| {
        h.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer cf-test-token")
    };
    let t1 = throttled.clone();
    let list = move |State(r): State<Records>,
                     h: HeaderMap,
                     Path(zone): Path<String>,
                     Query(q): Query<std::collections::HashMap<String, String>>| {
        let t = t1.clone();
        async move {
            if t.load(Ordering::SeqCst) > 0 {
                t.fetch_sub(1, Ordering::SeqCst);
                return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "0")], serde_json::json!({"success": false, "errors": [{"code": 10000, "message": "rate limited"}]}).to_string());
            }
            assert_eq!(zone, "023e105f4ecef8ad9ca31a8372d0c353");
            if !auth_ok(&h) {
                return (StatusCode::FORBIDDEN, [("retry-after", "0")], serde_json::json!({"success": false, "errors": [{"code": 9109, "message": "Invalid access token"}]}).to_string());
            }
            assert_eq!(q.get("type").map(String::as_str), Some("CNAME"));
            let name = q.get("name").cloned().unwrap_or_default();
            let found: Vec<_> = r.lock().unwrap().iter().filter(|(n, _)| *n == name).map(|(n, c)| serde_json::json!({"id": format!("id-{n}"), "name": n, "type": "CNAME", "content": c, "ttl": 60, "proxied": false})).collect();
            (
                StatusCode::OK,
                [("retry-after", "0")],
                serde_json::json!({"success": true, "errors": [], "result": found}).to_string(),
            )
        }
    };
    let create = move |State(r): State<Records>,
                       h: HeaderMap,
                       axum::Json(b): axum::Json<serde_json::Value>| async move {
        assert!(auth_ok(&h));
        assert!(
            !b["content"].as_str().unwrap().ends_with('.'),
            "Cloudflare content has no trailing dot"
        );
        r.lock().unwrap().push((
            b["name"].as_str().unwrap().to_owned(),
            b["content"].as_str().unwrap().to_owned(),
        ));
        axum::Json(serde_json::json!({"success": true, "errors": [], "result": b}))
    };
    let update = move |State(r): State<Records>,
                       h: HeaderMap,
                       Path((_zone, id)): Path<(String, String)>,
                       axum::Json(b): axum::Json<serde_json::Value>| async move {
        assert!(auth_ok(&h));
        let mut recs = r.lock().unwrap();
        let rec = recs
            .iter_mut()
            .find(|(n, _)| format!("id-{n}") == id)
            .expect("known record");
        rec.1 = b["content"].as_str().unwrap().to_owned();
        axum::Json(serde_json::json!({"success": true, "errors": [], "result": b}))
    };
    let app = axum::Router::new()
        .route(
            "/zones/{zone}/dns_records",
            axum::routing::get(list).post(create),
        )
        .route(
            "/zones/{zone}/dns_records/{id}",
            axum::routing::patch(update),
        )
        .with_state(records.clone());
    (
        format!("http://{}", twincloud_testkit::serve(app).await),
        records,
    )
}

#[tokio::test]
async fn cloudflare_traffic_conforms_and_survives_rate_limits() {
    let (base, records) = cloudflare_fake(2).await;
    let t = twincloud_http::CloudflareTraffic::new(
        twincloud_http::client().unwrap(),
        &base,
        "023e105f4ecef8ad9ca31a8372d0c353",
        Secret::new("cf-test-token"),
        60,
        fast(),
    );
    twincloud_testkit::conformance::traffic(&t, "api.aion.example.").await;
    assert_eq!(
        records.lock().unwrap().len(),
        1,
        "one record, updated in place"
    );

    let wrong = twincloud_http::CloudflareTraffic::new(
        twincloud_http::client().unwrap(),
        &base,
        "023e105f4ecef8ad9ca31a8372d0c353",
        Secret::new("wrong"),
        60,
        fast(),
    );
    use twincloud_core::ports::Traffic;
    let e = wrong.current_target("api.aion.example.").await.unwrap_err();
    assert_eq!(e.retry, Retry::Permanent);
    assert!(
        e.message.contains("403") && !e.message.contains("wrong"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn slack_and_webhook_conform() {
    let server = CaptureServer::start().await;
    let bodies = || async {
        server
            .requests()
            .iter()
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .collect::<Vec<_>>()
    };
    let slack = SlackNotifier::new(
        "oncall",
        Secret::new(format!("{}/services/T0/B0/XYZ", server.url())),
        twincloud_http::client().unwrap(),
        fast(),
    );
    twincloud_testkit::conformance::notifier(&slack, bodies).await;
    let hook = WebhookNotifier::new(
        "hook",
        &format!("{}/hook", server.url()),
        None,
        twincloud_http::client().unwrap(),
        fast(),
    );
    twincloud_testkit::conformance::notifier(&hook, bodies).await;
}
