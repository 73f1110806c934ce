//! Deploy says what happened, on the local backend: a rollback that fails is not reported as
//! done (the side still runs the new image, the page says so, the run exits 1) and is retried
//! by the schedule until it is; a rollout that ends rolled back exits 1; a side whose
//! provider keeps failing does not hold a command for ever.
#![allow(clippy::unwrap_used)]

#[path = "../../../tests/support/common.rs"]
mod common;

use std::sync::Arc;

use common::config;
use twincloud_core::Secret;
use twincloud_http::{OciRegistries, StaticLogin};
use twincloud_local::LocalDeployer;
use twincloud_runtime::effects::{EffectFaults, InjectedFault};
use twincloud_runtime::{Clouds, Invoker, Report, Services};
use twincloud_testkit::CaptureServer;
use twincloud_testkit::registry::{Registry, noise};

fn toml(registry: &str, health: &str) -> String {
    format!(
        r#"[[notify.channels]]
name = "outbox"
type = "outbox"

[[deploy.targets]]
name = "app"
tags = ["v*"]
bake_secs = 0

[[deploy.targets.sides]]
image = "{registry}/app"
compute = "local"
service = "app-a"
step_pause_secs = 0
health = ["{health}/a"]
"#
    )
}

struct World {
    dir: tempfile::TempDir,
    inv: Invoker,
    releases: LocalDeployer,
    _health: CaptureServer,
    _registry: Registry,
    /// An image that starts.
    good: String,
    /// An image the simulated platform fails to start.
    bad: String,
}

async fn world(faults: Arc<EffectFaults>) -> World {
    let dir = tempfile::tempdir().unwrap();
    let health = CaptureServer::start().await;
    let registry = Registry::start("ci", "pw").await;
    let good = registry
        .push_image("app", "v1", &[noise(4096, 1)], "amd64")
        .await;
    let bad = registry
        .push_image("app", "v2", &[noise(4096, 2)], "amd64")
        .await;
    let (good, bad) = (
        format!("{}/app@{good}", registry.host),
        format!("{}/app@{bad}", registry.host),
    );
    let releases = LocalDeployer::new(dir.path());
    releases
        .create_service("app-a", "app-a-00001", "old@sha256:0")
        .await
        .unwrap();
    // The bad image fails to start on the simulated platform.
    std::fs::create_dir_all(dir.path().join("sim/releases")).unwrap();
    std::fs::write(
        dir.path().join("sim/releases/failing.json"),
        serde_json::to_vec(&[&bad]).unwrap(),
    )
    .unwrap();
    let spec = &twincloud_deploy::SPEC;
    let mut services = Services::build_for(
        spec.wiring,
        config(dir.path(), &toml(&registry.host, &health.url())),
        &Clouds::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    services.effect_faults = Some(faults);
    let login = StaticLogin::from_pair(&Secret::new("ci:pw")).unwrap();
    services.registries = Some(Arc::new(
        OciRegistries::new()
            .unwrap()
            .with_login(&registry.host, Arc::new(login)),
    ));
    let inv = Invoker::new(spec.build(), services, false);
    World {
        dir,
        inv,
        releases,
        _health: health,
        _registry: registry,
        good,
        bad,
    }
}

async fn deploy(inv: &Invoker, image: &str, id: &str) -> Report {
    let ev = serde_json::json!({"twincloud": "command", "command": "deploy", "id": id,
        "args": {"image": image, "to": "both"}});
    inv.handle_json(ev.to_string().as_bytes()).await.unwrap()
}

async fn tick(inv: &Invoker, id: &str) -> Report {
    let ev = serde_json::json!({"twincloud": "schedule", "name": "deploy", "id": id});
    inv.handle_json(ev.to_string().as_bytes()).await.unwrap()
}

#[tokio::test]
async fn a_failed_rollback_is_said_as_failed_and_retried_until_done() {
    let w = world(EffectFaults::on_effect(
        "rollback",
        InjectedFault::Permanent,
        1,
    ))
    .await;
    let (dir, inv, releases, bad) = (w.dir.path(), &w.inv, &w.releases, &w.bad);
    let r = deploy(inv, bad, "deploy-1").await;
    let text = r.to_text();
    // The platform failed the new revision; putting the old one back failed too.
    assert_eq!(r.exit_code(), 1, "{text}");
    assert!(
        r.failures()
            .iter()
            .any(|f| f.contains("back to app-a-00001")),
        "{:?}",
        r.failures()
    );
    // The new revision never took traffic here (it failed to start), and nothing says the
    // old one is back: the rollback's own call failed.
    assert_eq!(
        releases.serving_image("app-a").await.unwrap(),
        "old@sha256:0"
    );
    let _ = bad;
    let messages = twincloud_testkit::fs::outbox(dir);
    let titles: Vec<&str> = messages
        .iter()
        .filter_map(|m| m["title"].as_str())
        .collect();
    assert!(
        titles
            .iter()
            .any(|t| t.contains("rollback of") && t.contains("FAILED")),
        "{titles:?}"
    );
    assert!(
        !titles.iter().any(|t| t.contains("rolled back")),
        "nothing says rolled back: {titles:?}"
    );
    // The record (and so status and the page) says the side still runs the new digest.
    let services = inv.services();
    let overview = twincloud_runtime::overview::gather(
        &services.config,
        services.state.as_ref(),
        chrono::Utc::now(),
    )
    .await;
    let status = twincloud_runtime::overview::render_text(&overview);
    assert!(status.contains("rollback pending"), "{status}");
    assert!(
        status.contains("serving local app-a (local): unknown"),
        "{status}"
    );
    assert!(!status.contains("ROLLED BACK"), "{status}");
    // The schedule's next look puts it back, and says so.
    let r = tick(inv, "tick-1").await;
    assert_eq!(
        releases.serving_image("app-a").await.unwrap(),
        "old@sha256:0"
    );
    assert_eq!(
        r.exit_code(),
        1,
        "the rollout ended rolled back: {}",
        r.to_text()
    );
    let titles: Vec<String> = twincloud_testkit::fs::outbox(dir)
        .iter()
        .filter_map(|m| m["title"].as_str().map(str::to_owned))
        .collect();
    assert!(
        titles.iter().any(|t| t.contains("rolled back")),
        "{titles:?}"
    );
    let overview = twincloud_runtime::overview::gather(
        &services.config,
        services.state.as_ref(),
        chrono::Utc::now(),
    )
    .await;
    let status = twincloud_runtime::overview::render_text(&overview);
    assert!(status.contains("ROLLED BACK"), "{status}");
    // Nothing more to do: the next look is quiet and exits 0.
    assert_eq!(tick(inv, "tick-2").await.exit_code(), 0);
}

#[tokio::test]
async fn a_rollout_rolled_back_exits_1_and_a_good_one_0() {
    let w = world(EffectFaults::counting()).await;
    let (inv, releases) = (&w.inv, &w.releases);
    let r = deploy(inv, &w.bad, "deploy-1").await;
    assert_eq!(r.exit_code(), 1, "{}", r.to_text());
    assert_eq!(
        releases.serving_image("app-a").await.unwrap(),
        "old@sha256:0"
    );
    let r = deploy(inv, &w.good, "deploy-2").await;
    assert_eq!(r.exit_code(), 0, "{}", r.to_text());
    assert_eq!(releases.serving_image("app-a").await.unwrap(), w.good);
}

#[tokio::test]
async fn a_provider_that_keeps_failing_does_not_hold_a_command_for_ever() {
    // Every attempt to make the new revision is throttled.
    let w = world(EffectFaults::on_effect(
        "create",
        InjectedFault::Transient,
        1000,
    ))
    .await;
    let (inv, releases) = (&w.inv, &w.releases);
    let started = std::time::Instant::now();
    let r = deploy(inv, &w.good, "deploy-1").await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(40),
        "returned after {:?}",
        started.elapsed()
    );
    assert_eq!(r.exit_code(), 75, "{}", r.to_text());
    assert_eq!(
        releases.serving_image("app-a").await.unwrap(),
        "old@sha256:0"
    );
    // The lease is released: the schedule takes the rollout up at once.
    let t = tick(inv, "tick-1").await;
    assert!(
        !t.notes_text()
            .contains("another invocation drives this target"),
        "{}",
        t.notes_text()
    );
}

#[tokio::test]
async fn a_command_naming_nothing_deployable_is_bad_input_that_names_it() {
    let w = world(EffectFaults::counting()).await;
    let unknown = "elsewhere.example/other@sha256:3333333333333333333333333333333333333333333333333333333333333333";
    let ev = serde_json::json!({"twincloud": "command", "command": "deploy", "id": "d-1",
        "args": {"image": unknown, "to": "both"}});
    let e = w
        .inv
        .handle_json(ev.to_string().as_bytes())
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), 2, "{e}");
    assert!(
        e.to_string()
            .contains("elsewhere.example/other is no deploy target's image repository"),
        "{e}"
    );
    let ev = serde_json::json!({"twincloud": "command", "command": "rollback", "id": "r-1",
        "args": {"target": "nope"}});
    let e = w
        .inv
        .handle_json(ev.to_string().as_bytes())
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), 2, "{e}");
    assert!(
        e.to_string().contains("`nope` is no deploy target (app)"),
        "{e}"
    );
    assert_eq!(
        w.releases.serving_image("app-a").await.unwrap(),
        "old@sha256:0"
    );
}

/// An Artifact Registry push message for `digest` (`host/app@sha256:...`) under tag `tag`.
fn push(registry: &str, digest: &str, tag: &str, id: &str) -> Vec<u8> {
    use base64::Engine;
    let data = serde_json::json!({"action": "INSERT", "digest": digest,
        "tag": format!("{registry}/app:{tag}")});
    serde_json::json!({
        "message": {
            "data": base64::engine::general_purpose::STANDARD.encode(data.to_string()),
            "messageId": id, "publishTime": "2026-12-07T10:00:00Z"
        },
        "subscription": "projects/aion-prod/subscriptions/twincloud-deploy-gcr"
    })
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn a_queued_command_is_never_replaced_by_a_push_nor_an_unconfirmed_push_queued() {
    use twincloud_core::ports::{Precondition, get_json};
    use twincloud_core::records::deploy::{DeployState, Queued, queue_key};
    let w = world(EffectFaults::counting()).await;
    let state = w.inv.services().state.clone();
    // Another invocation drives the target: what arrives waits in its queue.
    let mut held = DeployState::default();
    held.lease.lease_holder = Some("another-invocation".into());
    held.lease.lease_until = Some(chrono::Utc::now() + chrono::Duration::hours(1));
    state
        .put(
            &twincloud_core::planner::deploy::record_key("app"),
            &serde_json::to_vec(&held).unwrap(),
            &Precondition::None,
        )
        .await
        .unwrap();
    let rollback = Queued::Rollback {
        requested_by: "oncall@acme.example".into(),
    };
    state
        .put(
            &queue_key("app"),
            &serde_json::to_vec(&rollback).unwrap(),
            &Precondition::None,
        )
        .await
        .unwrap();
    let queued = || async {
        get_json::<Queued>(state.as_ref(), &queue_key("app"))
            .await
            .unwrap()
            .map(|(q, _)| q)
    };
    let host = w._registry.host.clone();
    // A forged message: `v1` points at the good image, the message says the bad one.
    let r = w
        .inv
        .handle_json(&push(&host, &w.bad, "v1", "forged"))
        .await
        .unwrap();
    assert!(r.to_text().contains("not deployed"), "{}", r.to_text());
    assert_eq!(queued().await, Some(rollback.clone()));
    // A genuine push: confirmed, but the person's rollback waits first.
    let r = w
        .inv
        .handle_json(&push(&host, &w.good, "v1", "genuine"))
        .await
        .unwrap();
    assert!(
        r.to_text().contains("a command waits in the queue"),
        "{}",
        r.to_text()
    );
    assert_eq!(queued().await, Some(rollback));
}
