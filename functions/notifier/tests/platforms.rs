//! The same events through the Lambda path, the CloudEvents HTTP server (driven by the Python
//! `cloudevents` SDK as a real client) and the CLI path give the same signals and messages.
#![allow(clippy::unwrap_used)]

#[path = "../../../tests/support/common.rs"]
mod common;

use common::{config, fixture, invoker, webhook};
use twincloud_runtime::http::app;
use twincloud_testkit::CaptureServer;

async fn serve(router: axum::Router) -> String {
    format!("http://{}", twincloud_testkit::serve(router).await)
}

#[tokio::test]
async fn lambda_http_and_cli_paths_agree_on_an_aws_alarm() {
    let raw = fixture("aws/eventbridge-alarm-state-change.json");
    let payload: serde_json::Value = serde_json::from_slice(&raw).unwrap();

    // CLI / one-shot path.
    let (d1, h1) = (tempfile::tempdir().unwrap(), CaptureServer::start().await);
    let cli = invoker(
        &twincloud_notifier::SPEC,
        config(d1.path(), &webhook("ops", &h1.url())),
        false,
    )
    .await;
    let via_cli = cli.handle_json(&raw).await.unwrap();

    // Lambda path.
    let (d2, h2) = (tempfile::tempdir().unwrap(), CaptureServer::start().await);
    let lambda = invoker(
        &twincloud_notifier::SPEC,
        config(d2.path(), &webhook("ops", &h2.url())),
        false,
    )
    .await;
    let out = twincloud_runtime::lambda::handle(&lambda, payload.clone())
        .await
        .unwrap();
    assert_eq!(out["ok"], true);

    // HTTP path (a JSON POST, as an SNS HTTPS subscription or a direct caller sends it).
    let (d3, h3) = (tempfile::tempdir().unwrap(), CaptureServer::start().await);
    let url = serve(app(
        invoker(
            &twincloud_notifier::SPEC,
            config(d3.path(), &webhook("ops", &h3.url())),
            false,
        )
        .await,
        None,
    ))
    .await;
    let resp = reqwest::Client::new()
        .post(&url)
        .json(&payload)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    // Without push verification, Cloud Run's IAM is the gate: the page is served.
    let page = reqwest::get(format!("{url}/status")).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Nothing configured"));

    let sig_cli = serde_json::to_value(&via_cli.results[0].signal).unwrap();
    assert_eq!(
        sig_cli, out["report"]["results"][0]["signal"],
        "lambda signal"
    );
    assert_eq!(
        sig_cli, body["report"]["results"][0]["signal"],
        "http signal"
    );
    let msg = |h: &CaptureServer| h.requests()[0].json();
    assert_eq!(msg(&h1), msg(&h2));
    assert_eq!(msg(&h1), msg(&h3));
}

#[tokio::test]
async fn python_cloudevents_client_in_binary_and_structured_mode() {
    let dir = tempfile::tempdir().unwrap();
    let hook = CaptureServer::start().await;
    let url = serve(app(
        invoker(
            &twincloud_notifier::SPEC,
            config(dir.path(), &webhook("ops", &hook.url())),
            false,
        )
        .await,
        None,
    ))
    .await;
    let fixture_path = twincloud_testkit::workspace_root()
        .join("events/gcp/pubsub-monitoring-incident-open.structured.json");
    let script = twincloud_testkit::workspace_root().join("tests/tools/send_cloudevents.py");
    let out = tokio::process::Command::new(twincloud_testkit::emulators::venv_python())
        .arg(&script)
        .arg(&url)
        .arg(&fixture_path)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for l in &lines {
        assert_eq!(l["status"], 200, "{l}");
        assert_eq!(
            l["body"]["report"]["shape"],
            "gcp.pubsub.monitoring-incident"
        );
    }
    // Same CloudEvent id in both modes: the second delivery is a duplicate and sends nothing.
    assert_eq!(
        lines[0]["body"]["report"]["results"][0]["signal"],
        lines[1]["body"]["report"]["results"][0]["signal"]
    );
    assert_eq!(hook.requests().len(), 1);
    assert_eq!(
        hook.requests()[0].json()["title"],
        "Incident opened for aion-primary-down"
    );

    // The file fixture decodes to the very same signal.
    let file = invoker(
        &twincloud_notifier::SPEC,
        config(tempfile::tempdir().unwrap().path(), ""),
        true,
    )
    .await;
    let r = file
        .handle_json(&fixture(
            "gcp/pubsub-monitoring-incident-open.structured.json",
        ))
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&r.results[0].signal).unwrap(),
        lines[0]["body"]["report"]["results"][0]["signal"]
    );
}

#[tokio::test]
async fn http_status_codes_follow_the_error_semantics() {
    let dir = tempfile::tempdir().unwrap();
    let down = CaptureServer::start().await;
    down.set_default(twincloud_testkit::Reply::new(503, "down"));
    let url = serve(app(
        invoker(
            &twincloud_notifier::SPEC,
            config(dir.path(), &webhook("ops", &down.url())),
            false,
        )
        .await,
        None,
    ))
    .await;
    let c = reqwest::Client::new();
    assert_eq!(
        c.get(format!("{url}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // Garbage from a direct caller: 400, names the problem.
    let r = c.post(&url).body("not json").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("not valid JSON"));
    // Garbage inside a Pub/Sub push: acknowledged (200) so Pub/Sub stops redelivering.
    let push = serde_json::json!({"message": {"data": "!!", "messageId": "1"}, "subscription": "projects/p/subscriptions/s"});
    let r = c
        .post(&url)
        .header(
            "user-agent",
            "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)",
        )
        .json(&push)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let b: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        (b["ok"].as_bool(), b["retry"].as_bool()),
        (Some(false), Some(false))
    );
    // A binary-mode CloudEvent of an unknown type: acknowledged.
    let r = c
        .post(&url)
        .header("ce-specversion", "1.0")
        .header("ce-id", "1")
        .header("ce-source", "//x")
        .header("ce-type", "com.example.unknown")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Too large: refused before it is read.
    let r = c
        .post(&url)
        .body(vec![b'{'; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    // A channel down: 503 so the platform retries.
    let r = c
        .post(&url)
        .json(
            &serde_json::from_slice::<serde_json::Value>(&fixture("aws/ecr-image-push.json"))
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
}

#[tokio::test]
async fn push_tokens_are_verified_against_a_local_jwks() {
    let keys = tempfile::tempdir().unwrap();
    let audience = "https://notifier-abc-uc.a.run.app";
    let email = "pubsub-push@aion-prod.iam.gserviceaccount.com";
    let out = std::process::Command::new(twincloud_testkit::emulators::venv_python())
        .arg(twincloud_testkit::workspace_root().join("tests/tools/push_token.py"))
        .arg(keys.path())
        .arg(audience)
        .arg(email)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let jwks = std::fs::read_to_string(keys.path().join("jwks.json")).unwrap();
    let tokens: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(keys.path().join("tokens.json")).unwrap())
            .unwrap();
    let jwks_server = CaptureServer::start().await;
    jwks_server.set_default(
        twincloud_testkit::Reply::new(200, &jwks).header("content-type", "application/json"),
    );
    let verifier = twincloud_runtime::push_auth::PushVerifier::new(
        audience,
        Some(email),
        &["oncall@acme.example".to_owned()],
        Some(&format!("{}/certs", jwks_server.url())),
    );

    let dir = tempfile::tempdir().unwrap();
    let hook = CaptureServer::start().await;
    let url = serve(app(
        invoker(
            &twincloud_notifier::SPEC,
            config(dir.path(), &webhook("ops", &hook.url())),
            false,
        )
        .await,
        Some(verifier),
    ))
    .await;
    let body: serde_json::Value =
        serde_json::from_slice(&fixture("gcp/pubsub-billing-budget.push.json")).unwrap();
    let c = reqwest::Client::new();
    let status = |t: &str| {
        let req = c.post(&url).bearer_auth(t).json(&body);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    for bad in [
        "wrong_audience",
        "wrong_email",
        "expired",
        "wrong_issuer",
        "bad_signature",
        "unverified_email",
        "email_not_verified",
    ] {
        assert_eq!(status(tokens[bad].as_str().unwrap()).await, 401, "{bad}");
    }
    assert_eq!(
        c.post(&url).json(&body).send().await.unwrap().status(),
        401,
        "no token"
    );
    assert!(hook.requests().is_empty());
    assert_eq!(status(tokens["good"].as_str().unwrap()).await, 200);
    assert_eq!(hook.requests().len(), 1);

    // A command is obeyed only from an account in the allow-list, calling directly.
    let command: serde_json::Value =
        serde_json::from_slice(&fixture("manual/notify-command.json")).unwrap();
    let send = |t: &str, body: &serde_json::Value| {
        let req = c.post(&url).bearer_auth(t).json(body);
        async move { req.send().await.unwrap() }
    };
    let r = send(tokens["good"].as_str().unwrap(), &command).await;
    assert_eq!(r.status(), 403, "the push account may deliver, not command");
    let text = r.text().await.unwrap();
    assert!(text.contains("TWINCLOUD_COMMAND_CALLERS"), "{text}");
    assert_eq!(hook.requests().len(), 1);
    // The same command inside a Pub/Sub message, even pushed by the on-call account: refused,
    // and acknowledged (2xx) so that Pub/Sub does not redeliver it forever.
    use base64::Engine;
    let data = base64::engine::general_purpose::STANDARD.encode(command.to_string());
    let relayed = serde_json::json!({
        "message": {"data": data, "messageId": "forged-1", "publishTime": "2026-11-29T03:00:00Z"},
        "subscription": "projects/aion-prod/subscriptions/twincloud-notifier-incidents"
    });
    let r = send(tokens["commander"].as_str().unwrap(), &relayed).await;
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["ok"], false, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("relayed"),
        "{body}"
    );
    assert_eq!(hook.requests().len(), 1, "a relayed command sends nothing");
    let r = send(tokens["commander"].as_str().unwrap(), &command).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        hook.requests().len(),
        2,
        "the on-call account's own command is obeyed"
    );

    // The operations page: for the commanders only.
    let page = |t: Option<&str>| {
        let mut req = c.get(format!("{url}/status"));
        if let Some(t) = t {
            req = req.bearer_auth(t);
        }
        async move { req.send().await.unwrap() }
    };
    assert_eq!(page(None).await.status(), 401, "no token");
    assert_eq!(
        page(tokens["bad_signature"].as_str()).await.status(),
        401,
        "a forged token"
    );
    assert_eq!(
        page(tokens["good"].as_str()).await.status(),
        403,
        "the push identity delivers events, it does not read the page"
    );
    let r = page(tokens["commander"].as_str()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "text/html; charset=utf-8"
    );
    assert!(
        r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("default-src 'none'")
    );
    let html = r.text().await.unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(!html.contains("<script"), "{html}");
}
