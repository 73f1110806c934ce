//! The notifier binary in its platform modes: as a Lambda against a local Lambda Runtime API,
//! and as a Cloud Run service (PORT) that shuts down gracefully on SIGTERM.
#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use twincloud_testkit::{CaptureServer, workspace_root};

#[derive(Default)]
struct RuntimeApi {
    queue: VecDeque<(String, String)>,
    responses: Vec<(String, serde_json::Value)>,
    errors: Vec<(String, String)>,
}

type Shared = Arc<Mutex<RuntimeApi>>;

async fn next(State(s): State<Shared>) -> axum::response::Response {
    use axum::response::IntoResponse;
    loop {
        let item = s.lock().unwrap().queue.pop_front();
        if let Some((id, body)) = item {
            let deadline = (std::time::SystemTime::now() + Duration::from_secs(60))
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
                .to_string();
            let mut h = HeaderMap::new();
            h.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
            h.insert("lambda-runtime-deadline-ms", deadline.parse().unwrap());
            h.insert(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:notifier"
                    .parse()
                    .unwrap(),
            );
            h.insert(
                "lambda-runtime-trace-id",
                "Root=1-5759e988-bd862e3fe1be46a994272793".parse().unwrap(),
            );
            return (h, body).into_response();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn response(State(s): State<Shared>, Path(id): Path<String>, body: String) -> &'static str {
    s.lock()
        .unwrap()
        .responses
        .push((id, serde_json::from_str(&body).unwrap_or_default()));
    "{}"
}

async fn error(State(s): State<Shared>, Path(id): Path<String>, body: String) -> &'static str {
    s.lock().unwrap().errors.push((id, body));
    "{}"
}

fn config_file(dir: &std::path::Path, hook: &str) -> std::path::PathBuf {
    let p = dir.join("twincloud.toml");
    let text = format!(
        "[project]\nname = \"aion\"\nstate = \"{}\"\n\n[[notify.channels]]\nname = \"ops\"\ntype = \"webhook\"\nurl = \"{hook}\"\n",
        dir.join("state").display()
    );
    std::fs::write(&p, text).unwrap();
    p
}

async fn wait_until(mut f: impl FnMut() -> bool) {
    for _ in 0..300 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out");
}

/// Starts a local Lambda Runtime API serving `events` (request id, body) in order.
async fn runtime_api(events: Vec<(&str, String)>) -> (Shared, std::net::SocketAddr) {
    let api: Shared = Arc::default();
    api.lock()
        .unwrap()
        .queue
        .extend(events.into_iter().map(|(id, body)| (id.to_owned(), body)));
    let app = axum::Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .with_state(api.clone());
    let addr = twincloud_testkit::serve(app).await;
    (api, addr)
}

/// Runs the notifier binary as Lambda runs it.
fn spawn_lambda(api: std::net::SocketAddr, config: &std::path::Path) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_notifier"))
        .env("AWS_LAMBDA_RUNTIME_API", api.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "notifier")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/notifier")
        .env("TWINCLOUD_CONFIG", config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

#[tokio::test]
async fn as_a_lambda_it_answers_the_runtime_api() {
    let good =
        std::fs::read_to_string(workspace_root().join("events/aws/sns-cloudwatch-alarm.json"))
            .unwrap();
    let (api, addr) = runtime_api(vec![
        ("req-1", good),
        ("req-2", "{\"not\": \"an event\"}".into()),
    ])
    .await;
    let hook = CaptureServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_lambda(addr, &config_file(dir.path(), &hook.url()));
    wait_until(|| api.lock().unwrap().responses.len() == 2).await;
    child.kill().await.unwrap();
    let api = api.lock().unwrap();
    assert!(
        api.errors.is_empty(),
        "a bad event is acknowledged, not an error: {:?}",
        api.errors
    );
    assert_eq!(api.responses[0].0, "req-1");
    assert_eq!(api.responses[0].1["ok"], true);
    assert_eq!(api.responses[1].1["ok"], false);
    assert!(
        api.responses[1].1["error"]
            .as_str()
            .unwrap()
            .contains("unknown event shape")
    );
    assert_eq!(hook.requests().len(), 1);
    assert_eq!(
        hook.requests()[0].json()["title"],
        "Alarm aion-alb-5xx is in ALARM"
    );
}

#[tokio::test]
async fn as_a_lambda_a_transient_failure_is_an_error_for_retry() {
    let ev =
        std::fs::read_to_string(workspace_root().join("events/aws/ecr-image-push.json")).unwrap();
    let (api, addr) = runtime_api(vec![("req-9", ev)]).await;
    let down = CaptureServer::start().await;
    down.set_default(twincloud_testkit::Reply::new(503, "down"));
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_lambda(addr, &config_file(dir.path(), &down.url()));
    wait_until(|| api.lock().unwrap().errors.len() == 1).await;
    child.kill().await.unwrap();
    assert!(api.lock().unwrap().errors[0].1.contains("transient"));
}

#[tokio::test]
async fn as_a_cloud_run_service_it_serves_and_stops_on_sigterm() {
    let hook = CaptureServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_notifier"))
        .env("PORT", port.to_string())
        .env("TWINCLOUD_PUSH_AUTH", "off")
        .env("TWINCLOUD_CONFIG", config_file(dir.path(), &hook.url()))
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let c = reqwest::Client::new();
    for _ in 0..200 {
        if c.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let ev =
        std::fs::read(workspace_root().join("events/gcp/storage-object-finalized.binary.json"))
            .unwrap();
    let fx: serde_json::Value = serde_json::from_slice(&ev).unwrap();
    let mut req = c.post(&base);
    for (k, v) in fx["headers"].as_object().unwrap() {
        req = req.header(k.as_str(), v.as_str().unwrap());
    }
    let resp = req.body(fx["body"].to_string()).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        hook.requests()[0].json()["title"],
        "Object written to aion-uploads-gcp/tenants/acme/Quarterly Report (2026) €.pdf"
    );

    let pid = child.id().unwrap();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("stops on SIGTERM")
        .unwrap();
    assert!(exit.success(), "graceful exit: {exit:?}");
    let mut err = String::new();
    use tokio::io::AsyncReadExt;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .await
        .unwrap();
    let line = err
        .lines()
        .find(|l| l.contains("\"event\"") || l.contains("notify"))
        .unwrap_or("");
    assert!(
        err.lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "JSON logs: {err}"
    );
    assert!(
        err.contains("5731620375218732"),
        "logs carry the event id: {line}"
    );
}

#[tokio::test]
async fn on_cloud_run_without_a_push_audience_it_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_notifier"))
        .env("PORT", "0")
        .env("K_SERVICE", "twincloud-notifier")
        .env(
            "TWINCLOUD_CONFIG",
            config_file(dir.path(), "http://127.0.0.1:9"),
        )
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env_remove("TWINCLOUD_PUSH_AUDIENCE")
        .env_remove("TWINCLOUD_PUSH_AUTH")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(20), out)
        .await
        .expect("exits at once")
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TWINCLOUD_PUSH_AUDIENCE"), "{err}");
}

#[tokio::test]
async fn as_a_lambda_a_command_is_obeyed_from_an_invoke_not_from_a_topic() {
    let command =
        std::fs::read_to_string(workspace_root().join("events/manual/notify-command.json"))
            .unwrap();
    let mut sns: serde_json::Value = serde_json::from_slice(
        &std::fs::read(workspace_root().join("events/aws/sns-cloudwatch-alarm.json")).unwrap(),
    )
    .unwrap();
    sns["Records"][0]["Sns"]["Message"] = command.clone().into();
    let (api, addr) = runtime_api(vec![("req-1", sns.to_string()), ("req-2", command)]).await;
    let hook = CaptureServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_lambda(addr, &config_file(dir.path(), &hook.url()));
    wait_until(|| api.lock().unwrap().responses.len() == 2).await;
    child.kill().await.unwrap();
    let api = api.lock().unwrap();
    assert_eq!(api.responses[0].1["ok"], false);
    assert!(
        api.responses[0].1["error"]
            .as_str()
            .unwrap()
            .contains("refused"),
        "{}",
        api.responses[0].1
    );
    assert_eq!(api.responses[1].1["ok"], true, "{}", api.responses[1].1);
    assert_eq!(
        hook.requests().len(),
        1,
        "only the direct command was obeyed"
    );
    assert!(
        twincloud_testkit::fs::walk(&dir.path().join("state/state/rejected")).len() == 1,
        "the refusal is on record"
    );
}
