//! Deploy on push end to end: an ECR push (EventBridge) is confirmed with a real registry,
//! mirrored by digest to a second real registry (Docker's reference registry standing in for
//! ECR and Artifact Registry, with the logins ECR's token API and a Google token give), rolled
//! out on ECS (moto) and then on Cloud Run (a `run.v2` fake with revisions and traffic, every
//! request validated), each checked by probing a local app that answers 500 for a bad image.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../tests/support/moto_ecs.rs"]
mod moto_ecs;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use twincloud_aws::AwsContext;
use twincloud_core::Config;
use twincloud_core::secret::Secret;
use twincloud_deploy::Deploy;
use twincloud_gcp::GcpContext;
use twincloud_runtime::{Clouds, Invoker, Services};
use twincloud_testkit::registry::{Registry, noise};
use twincloud_testkit::{DiscoveryFake, emulators};

/// Revision name → image, shared by the Cloud Run fake and the app.
type Revisions = Arc<Mutex<BTreeMap<String, String>>>;

/// Images whose health answers 500, by where they run.
#[derive(Default)]
struct Bad {
    everywhere: Vec<String>,
    on_cloud_run: Vec<String>,
}

struct World {
    /// Cloud Monitoring: the new revisions' request counts and latencies.
    monitoring: DiscoveryFake,
    /// Revisions whose p95 latency is 2.5 s.
    slow: Arc<Mutex<Vec<String>>>,
    ecr: Registry,
    ar: Registry,
    ecr_host: String,
    ar_host: String,
    aws: AwsContext,
    cluster: String,
    run: DiscoveryFake,
    revisions: Revisions,
    bad: Arc<Mutex<Bad>>,
    dir: tempfile::TempDir,
    config: String,
}

const PROJECT: &str = "projects/aion-prod/locations/us-central1/services/aion-backend";

fn traffic_statuses(traffic: &Value, app: &str) -> Value {
    let list = traffic.as_array().cloned().unwrap_or_default();
    Value::Array(
        list.into_iter()
            .map(|mut t| {
                if let (Some(tag), Some(rev)) = (t["tag"].as_str(), t["revision"].as_str()) {
                    let _ = tag;
                    t["uri"] = json!(format!("{app}/run/{rev}"));
                }
                t
            })
            .collect(),
    )
}

/// A Cloud Run Admin v2 fake: one service whose PATCH with a new `template.revision` makes a
/// revision (ready at once) and whose traffic follows `updateMask=traffic`.
async fn cloud_run(revisions: Revisions, app: String, old_image: &str) -> DiscoveryFake {
    revisions
        .lock()
        .unwrap()
        .insert("aion-backend-00001".into(), old_image.into());
    let svc = Arc::new(Mutex::new(json!({
        "name": PROJECT,
        "template": {"revision": "aion-backend-00001", "containers": [{"name": "app", "image": old_image}]},
        "traffic": [{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100}],
        "trafficStatuses": [{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100}],
        "latestCreatedRevision": format!("{PROJECT}/revisions/aion-backend-00001"),
        "latestReadyRevision": format!("{PROJECT}/revisions/aion-backend-00001"),
        "terminalCondition": {"type": "Ready", "state": "CONDITION_SUCCEEDED"},
        "etag": "\"1\""
    })));
    DiscoveryFake::start("run.v2", move |call| {
        let mut s = svc.lock().unwrap();
        // One service only: any other is not found, as Cloud Run answers.
        if call.path.contains("/services/") && !call.path.contains("/services/aion-backend") {
            return (
                404,
                json!({"error": {"code": 404, "status": "NOT_FOUND", "message": "service not found"}}),
            );
        }
        match (call.method.as_str(), call.query.as_str()) {
            ("run.projects.locations.services.get", _) => (200, s.clone()),
            ("run.projects.locations.services.revisions.get", _) => {
                let rev = call.path.rsplit('/').next().unwrap_or_default().to_owned();
                match revisions.lock().unwrap().get(&rev) {
                    Some(image) => (
                        200,
                        json!({"name": format!("{PROJECT}/revisions/{rev}"),
                               "containers": [{"name": "app", "image": image}]}),
                    ),
                    None => (404, json!({"error": {"code": 404, "status": "NOT_FOUND", "message": "no such revision"}})),
                }
            }
            ("run.projects.locations.services.patch", "updateMask=traffic") => {
                s["traffic"] = call.body["traffic"].clone();
                s["trafficStatuses"] = traffic_statuses(&call.body["traffic"], &app);
                (200, json!({"name": "operations/traffic", "done": true}))
            }
            ("run.projects.locations.services.patch", "") => {
                if call.body["etag"] != s["etag"] {
                    return (
                        409,
                        json!({"error": {"code": 409, "message": "etag mismatch"}}),
                    );
                }
                let rev = call.body["template"]["revision"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned();
                let image = call.body["template"]["containers"][0]["image"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned();
                revisions.lock().unwrap().insert(rev.clone(), image);
                s["template"] = call.body["template"].clone();
                s["traffic"] = call.body["traffic"].clone();
                s["trafficStatuses"] = traffic_statuses(&call.body["traffic"], &app);
                s["latestCreatedRevision"] = json!(format!("{PROJECT}/revisions/{rev}"));
                s["latestReadyRevision"] = json!(format!("{PROJECT}/revisions/{rev}"));
                s["etag"] = json!(format!("\"{}\"", rev));
                (200, json!({"name": "operations/deploy", "done": true}))
            }
            (other, q) => (
                400,
                json!({"error": {"message": format!("unexpected {other} {q}")}}),
            ),
        }
    })
    .await
}

/// The task definition the ECS service runs and its container's image.
async fn ecs_serving(aws: &AwsContext, cluster: &str) -> (String, String) {
    let svc = aws
        .ecs()
        .describe_services()
        .cluster(cluster)
        .services("aion-backend")
        .send()
        .await
        .unwrap();
    let td = svc.services()[0].task_definition().unwrap().to_owned();
    let image = aws
        .ecs()
        .describe_task_definition()
        .task_definition(&td)
        .send()
        .await
        .unwrap()
        .task_definition()
        .unwrap()
        .container_definitions()[0]
        .image()
        .unwrap_or("")
        .to_owned();
    (td, image)
}

/// A Cloud Monitoring fake (monitoring.v3, validated): 100 requests per revision, 1 % 5xx, p95
/// 300 ms, or 2.5 s for the revisions listed in `slow`.
async fn monitoring(slow: Arc<Mutex<Vec<String>>>) -> DiscoveryFake {
    DiscoveryFake::start("monitoring.v3", move |call| {
        let q = &call.query;
        let listed = slow.lock().unwrap().clone();
        if listed
            .iter()
            .filter_map(|r| r.strip_prefix("deny:"))
            .any(|r| q.contains(r))
        {
            return (403, json!({"error": {"code": 403, "status": "PERMISSION_DENIED", "message": "monitoring.timeSeries.list denied"}}));
        }
        let is_slow = listed.iter().any(|r| q.contains(r.as_str()));
        let point = |v: Value| json!([{"interval": {"endTime": "2026-12-03T10:01:00Z"}, "value": v}]);
        let points = if q.contains("request_latencies") {
            point(json!({"doubleValue": if is_slow { 2500.0 } else { 300.0 }}))
        } else if q.contains("response_code_class") {
            point(json!({"int64Value": "1"}))
        } else {
            point(json!({"int64Value": "100"}))
        };
        (200, json!({"timeSeries": [{"metricKind": "DELTA", "valueType": "INT64", "points": points}]}))
    })
    .await
}

/// The app: `/ecs/health` answers for the image the ECS service runs now, `/run/REV/health`
/// for a Cloud Run revision's image.
async fn app(
    aws: AwsContext,
    cluster: String,
    revisions: Revisions,
    bad: Arc<Mutex<Bad>>,
) -> String {
    use axum::extract::{Path, State};
    use axum::http::StatusCode;
    #[derive(Clone)]
    struct S {
        aws: AwsContext,
        cluster: String,
        revisions: Revisions,
        bad: Arc<Mutex<Bad>>,
    }
    async fn ecs(State(s): State<S>) -> StatusCode {
        let (_, image) = ecs_serving(&s.aws, &s.cluster).await;
        let bad = s.bad.lock().unwrap();
        if bad.everywhere.iter().any(|d| image.ends_with(d.as_str())) {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::OK
        }
    }
    async fn run(State(s): State<S>, Path(rev): Path<String>) -> StatusCode {
        let image = s
            .revisions
            .lock()
            .unwrap()
            .get(&rev)
            .cloned()
            .unwrap_or_default();
        let bad = s.bad.lock().unwrap();
        if bad
            .everywhere
            .iter()
            .chain(bad.on_cloud_run.iter())
            .any(|d| image.ends_with(d.as_str()))
        {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::OK
        }
    }
    let router = axum::Router::new()
        .route("/ecs/health", axum::routing::get(ecs))
        .route("/run/{rev}/health", axum::routing::get(run))
        .with_state(S {
            aws,
            cluster,
            revisions,
            bad,
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

async fn world(bake_secs: u64) -> World {
    let ecr = Registry::start("AWS", "123456789012-auth-token").await;
    let ar = Registry::start("oauth2accesstoken", "ya29.deploy-test").await;
    let aws = AwsContext::for_endpoint(&emulators::moto_url(), "us-east-1").await;
    // Desired 0: moto's deployment then reads COMPLETED (it never runs tasks).
    let cluster = moto_ecs::ecs_cluster(&aws, &[("aion-backend", 0)]).await;
    let revisions: Revisions = Arc::default();
    let bad: Arc<Mutex<Bad>> = Arc::default();
    let app_url = app(aws.clone(), cluster.clone(), revisions.clone(), bad.clone()).await;
    let old = format!(
        "{}/prod/images/aion-backend@sha256:{}",
        ar.host,
        "0".repeat(64)
    );
    let run = cloud_run(revisions.clone(), app_url.clone(), &old).await;
    let slow: Arc<Mutex<Vec<String>>> = Arc::default();
    let monitoring = monitoring(slow.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        r#"[project]
name = "aion"
state = "{state}"

[[notify.channels]]
name = "outbox"
type = "outbox"

[[deploy.targets]]
name = "backend"
tags = ["v*"]
order = "listed"
bake_secs = {bake_secs}

[[deploy.targets.sides]]
image = "{ecr}/aion-backend"
registry_auth = "ecr"
compute = "ecs"
cluster = "{cluster}"
service = "aion-backend"
health = ["{app_url}/ecs/health"]

[[deploy.targets.sides]]
image = "{ar}/prod/images/aion-backend"
registry_auth = "google"
compute = "cloudrun"
project = "aion-prod"
region = "us-central1"
service = "aion-backend"
health = ["/health"]
steps = [50, 100]
step_pause_secs = 1
"#,
        state = dir.path().display(),
        ecr = ecr.host,
        ar = ar.host,
    );
    World {
        monitoring,
        slow,
        ecr_host: ecr.host.clone(),
        ar_host: ar.host.clone(),
        ecr,
        ar,
        aws,
        cluster,
        run,
        revisions,
        bad,
        dir,
        config,
    }
}

impl World {
    async fn invoker(&self) -> Invoker {
        self.invoker_with(self.aws.clone()).await
    }

    /// With AWS reached through `aws` (a fault proxy in front of moto).
    async fn invoker_with(&self, aws: AwsContext) -> Invoker {
        let config = Config::parse("test.toml", &self.config).unwrap();
        let gcp = GcpContext::for_emulator(&self.run.url())
            .unwrap()
            .with_monitoring(&self.monitoring.url())
            .with_access_token(Secret::new("ya29.deploy-test"));
        let services = Services::build(config, &Clouds::with_aws(aws).and_gcp(gcp))
            .await
            .unwrap();
        Invoker::new(Box::new(Deploy), services, false)
    }

    /// Pushes an image to the ECR stand-in; its digest.
    async fn push(&self, tag: &str, seed: u64) -> String {
        self.ecr
            .push_image(
                "aion-backend",
                tag,
                &[noise(256 << 10, 7), noise(4096, seed)],
                "amd64",
            )
            .await
    }

    async fn ecs_image(&self) -> (String, String) {
        ecs_serving(&self.aws, &self.cluster).await
    }

    /// The revision holding all traffic on Cloud Run, and its image.
    async fn run_serving(&self) -> (String, String) {
        let svc = twincloud_gcp::CloudRunDeployer::new(
            &GcpContext::for_emulator(&self.run.url()).unwrap(),
            "aion-prod",
            "us-central1",
        );
        use twincloud_core::ports::Deployer;
        let d = svc.current("aion-backend", None).await.unwrap();
        let image = self
            .revisions
            .lock()
            .unwrap()
            .get(&d.revision)
            .cloned()
            .unwrap();
        (d.revision, image)
    }

    fn store(&self) -> twincloud_local::LocalStateStore {
        twincloud_local::LocalStateStore::new(self.dir.path())
    }

    async fn record(&self) -> Value {
        twincloud_core::ports::get_json::<Value>(&self.store(), "deploy/backend/rollout")
            .await
            .unwrap()
            .expect("a rollout record")
            .0
    }

    async fn overwrite(&self, v: &Value) {
        use twincloud_core::ports::{Precondition, StateStore};
        self.store()
            .put(
                "deploy/backend/rollout",
                v.to_string().as_bytes(),
                &Precondition::None,
            )
            .await
            .unwrap();
    }

    fn messages(&self) -> String {
        twincloud_testkit::fs::outbox(self.dir.path())
            .iter()
            .map(|m| m.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn ecr_push(tag: &str, digest: &str, id: &str) -> Vec<u8> {
    json!({
        "version": "0", "id": id, "detail-type": "ECR Image Action", "source": "aws.ecr",
        "account": "123456789012", "time": "2026-12-03T10:00:00Z", "region": "us-east-1",
        "resources": [],
        "detail": {"result": "SUCCESS", "repository-name": "aion-backend", "image-digest": digest,
                   "action-type": "PUSH", "image-tag": tag}
    })
    .to_string()
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_rolls_out_the_same_digest_on_both_clouds_and_a_replay_deploys_nothing() {
    let w = world(1).await;
    let digest = w.push("v1.1.0", 1).await;
    let (old_td, _) = w.ecs_image().await;
    let inv = w.invoker().await;
    let r = inv
        .handle_json(&ecr_push("v1.1.0", &digest, "push-1"))
        .await
        .unwrap();
    let notes = r.notes_text();
    assert!(notes.contains("mirrored to"), "{notes}");

    // ECS: a new revision with only the image changed, by digest; the old one still exists.
    let (td, image) = w.ecs_image().await;
    assert_ne!(td, old_td, "{notes}");
    assert_eq!(image, format!("{}/aion-backend@{digest}", w.ecr_host));
    let old = w
        .aws
        .ecs()
        .describe_task_definition()
        .task_definition(&old_td)
        .send()
        .await
        .unwrap();
    assert_eq!(
        old.task_definition().unwrap().status(),
        Some(&aws_sdk_ecs::types::TaskDefinitionStatus::Active),
        "the previous revision is never deregistered"
    );
    // Cloud Run: the mirrored digest serves all traffic.
    let (rev, run_image) = w.run_serving().await;
    assert_eq!(
        run_image,
        format!("{}/prod/images/aion-backend@{digest}", w.ar_host)
    );
    assert_eq!(rev, format!("aion-backend-tc-{}", &digest[7..19]));
    let steps: Vec<Value> = w
        .run
        .calls()
        .iter()
        .filter(|c| c.query == "updateMask=traffic")
        .map(|c| c.body["traffic"].clone())
        .collect();
    assert_eq!(steps.len(), 2, "50 % then 100 %: {steps:?}");
    assert!(w.run.rejected().is_empty(), "{:?}", w.run.rejected());
    // The copy on the second registry has the source's digest.
    let rec = w.record().await;
    assert_eq!(rec["rollout"]["outcome"]["outcome"], "deployed", "{rec}");
    let msgs = w.messages();
    assert!(msgs.contains("rolling out"), "{msgs}");
    assert!(msgs.contains("deployed"), "{msgs}");

    // The same push again (EventBridge redelivers; ECR sends one per tag): nothing new.
    let calls = w.run.calls().len();
    let again = inv
        .handle_json(&ecr_push("v1.1.0", &digest, "push-1b"))
        .await
        .unwrap();
    assert!(
        again.notes_text().contains("rolled out to backend before"),
        "{}",
        again.notes_text()
    );
    assert_eq!(w.ecs_image().await.0, td);
    assert_eq!(
        w.run
            .calls()
            .iter()
            .filter(|c| c.method.ends_with("patch"))
            .count(),
        w.run.calls()[..calls]
            .iter()
            .filter(|c| c.method.ends_with("patch"))
            .count()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_whose_health_fails_is_rolled_back_on_both_clouds() {
    let w = world(1).await;
    let inv = w.invoker().await;
    let good = w.push("v1.0.0", 11).await;
    inv.handle_json(&ecr_push("v1.0.0", &good, "good"))
        .await
        .unwrap();
    let (good_td, _) = w.ecs_image().await;
    let (good_rev, _) = w.run_serving().await;

    // Healthy on ECS, failing on Cloud Run: ECS is done first, then goes back too.
    let bad = w.push("v1.0.1", 12).await;
    w.bad.lock().unwrap().on_cloud_run.push(bad.clone());
    let r = inv
        .handle_json(&ecr_push("v1.0.1", &bad, "bad"))
        .await
        .unwrap();
    assert_eq!(
        w.ecs_image().await.0,
        good_td,
        "ECS is back on the previous revision: {}",
        r.notes_text()
    );
    assert_eq!(
        w.run_serving().await.0,
        good_rev,
        "Cloud Run never moved traffic"
    );
    let rec = w.record().await;
    assert_eq!(rec["rollout"]["outcome"]["outcome"], "rolled_back", "{rec}");
    let msgs = w.messages();
    assert!(msgs.contains("rolled back"), "{msgs}");
    assert!(msgs.contains("health check"), "{msgs}");
    // The report says what each side serves at the end: the previous image, on both.
    assert!(
        msgs.contains(&format!("serves {}/aion-backend@{good}", w.ecr_host)),
        "{msgs}"
    );
    // The operations page, in a browser: the rollback in red with its reason, and each side
    // back on the good digest.
    let config = Config::parse("test.toml", &w.config).unwrap();
    let o = twincloud_runtime::overview::gather(&config, &w.store(), chrono::Utc::now()).await;
    let page = twincloud_testkit::browser::render(
        "deploy-rolled-back",
        &twincloud_runtime::overview::render_html(&o),
    )
    .await;
    let rolled = &page["rolled_back"][0];
    assert_eq!(rolled["red"], true, "{page}");
    assert!(
        rolled["text"].as_str().unwrap().contains("health check"),
        "{page}"
    );
    let rows = page["deploy_rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{page}");
    for row in rows {
        let row = row.as_str().unwrap();
        assert!(
            row.contains(twincloud_core::planner::deploy::short(&good))
                && row.contains("rolled back"),
            "{row}"
        );
    }

    // Failing everywhere: ECS (first) rolls back and Cloud Run is never started.
    let worse = w.push("v1.0.2", 13).await;
    w.bad.lock().unwrap().everywhere.push(worse.clone());
    let before = w.run.calls().len();
    inv.handle_json(&ecr_push("v1.0.2", &worse, "worse"))
        .await
        .unwrap();
    assert_eq!(w.ecs_image().await.0, good_td);
    assert!(
        !w.run.calls()[before..]
            .iter()
            .any(|c| c.method.ends_with("patch")),
        "Cloud Run untouched"
    );

    // Healthy answers but slow on Cloud Run (p95 2.5 s > 2 s, seed 002): back before any traffic.
    let slow = w.push("v1.0.3", 14).await;
    w.slow
        .lock()
        .unwrap()
        .push(format!("aion-backend-tc-{}", &slow[7..19]));
    let r = inv
        .handle_json(&ecr_push("v1.0.3", &slow, "slow"))
        .await
        .unwrap();
    assert_eq!(w.ecs_image().await.0, good_td, "{}", r.notes_text());
    assert_eq!(w.run_serving().await.0, good_rev);
    let rec = w.record().await;
    let reason = rec["rollout"]["outcome"]["reason"].as_str().unwrap_or("");
    assert!(reason.contains("p95 latency 2500 ms"), "{rec}");

    // Metrics that cannot be read (a missing grant) leave the rollout unverified: rolled back.
    let blind = w.push("v1.0.4", 15).await;
    w.slow
        .lock()
        .unwrap()
        .push(format!("deny:aion-backend-tc-{}", &blind[7..19]));
    inv.handle_json(&ecr_push("v1.0.4", &blind, "blind"))
        .await
        .unwrap();
    assert_eq!(w.run_serving().await.0, good_rev);
    let rec = w.record().await;
    let reason = rec["rollout"]["outcome"]["reason"].as_str().unwrap_or("");
    assert!(
        reason.contains("request metrics could not be read"),
        "{rec}"
    );
    assert!(
        w.monitoring.rejected().is_empty(),
        "{:?}",
        w.monitoring.rejected()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_or_stale_push_deploys_nothing_and_an_unlisted_tag_is_noted() {
    let w = world(1).await;
    let inv = w.invoker().await;
    let v1 = w.push("v2.0.0", 21).await;
    let v2 = w.push("v2.0.0", 22).await; // the tag moved on
    let (td, _) = w.ecs_image().await;
    let r = inv
        .handle_json(&ecr_push("v2.0.0", &v1, "stale"))
        .await
        .unwrap();
    assert!(r.notes_text().contains("points at"), "{}", r.notes_text());
    let forged = format!("sha256:{}", "ab".repeat(32));
    let r = inv
        .handle_json(&ecr_push("v9.9.9", &forged, "forged"))
        .await
        .unwrap();
    assert!(
        r.notes_text().contains("does not exist"),
        "{}",
        r.notes_text()
    );
    let r = inv
        .handle_json(&ecr_push("latest", &v2, "latest"))
        .await
        .unwrap();
    assert!(
        r.notes_text().contains("matches no deploy target's tags"),
        "{}",
        r.notes_text()
    );
    assert_eq!(w.ecs_image().await.0, td, "nothing deployed");
    assert!(!w.run.calls().iter().any(|c| c.method.ends_with("patch")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_push_supersedes_a_rollout_in_flight_and_a_killed_one_resumes() {
    // A bake longer than an invocation waits: the first rollout stays in flight.
    let w = world(120).await;
    let inv = w.invoker().await;
    let first = w.push("v3.0.0", 31).await;
    let r = inv
        .handle_json(&ecr_push("v3.0.0", &first, "first"))
        .await
        .unwrap();
    assert!(
        r.notes_text().contains("on the schedule"),
        "{}",
        r.notes_text()
    );
    assert_eq!(
        w.record().await["rollout"]["sides"][0]["phase"]["phase"],
        "baking"
    );
    let second = w.push("v3.0.1", 32).await;
    let r = inv
        .handle_json(&ecr_push("v3.0.1", &second, "second"))
        .await
        .unwrap();
    assert!(
        r.notes_text().contains("superseded by"),
        "{}",
        r.notes_text()
    );
    let rec = w.record().await;
    assert_eq!(rec["rollout"]["digest"], second.as_str());
    assert!(rec["history"].as_array().unwrap().len() >= 2);
    assert!(w.ecs_image().await.1.ends_with(&second));
    // The previous revision kept from the superseded rollout is the one before both.
    let prev = rec["rollout"]["sides"][0]["previous"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(prev.contains("task-definition/aion-backend:"), "{prev}");

    // An invocation killed while it holds the record: the next tick finds it held, and takes
    // it over once the lease runs out (time passing, written into the record here).
    let mut held = w.record().await;
    held["lease_holder"] = json!("killed-invocation");
    held["lease_until"] = json!((chrono::Utc::now() + chrono::Duration::minutes(10)).to_rfc3339());
    w.overwrite(&held).await;
    let tick = json!({"twincloud": "schedule", "name": "deploy", "id": "tick-1"}).to_string();
    let r = inv.handle_json(tick.as_bytes()).await.unwrap();
    assert!(
        r.notes_text().contains("another invocation drives"),
        "{}",
        r.notes_text()
    );
    held["lease_until"] = json!((chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339());
    w.overwrite(&held).await;
    let r = inv.handle_json(tick.as_bytes()).await.unwrap();
    assert!(
        r.notes_text().contains("on the schedule"),
        "resumed and waits for the bake: {}",
        r.notes_text()
    );
    assert_eq!(w.record().await["lease_holder"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_deploys_a_digest_to_one_cloud_and_rollback_puts_it_back() {
    let w = world(1).await;
    let inv = w.invoker().await;
    let d = w.push("v4.0.0", 41).await;
    let (td, _) = w.ecs_image().await;
    let cmd = json!({"twincloud": "command", "command": "deploy", "id": "cmd-1",
                     "args": {"image": format!("{}/aion-backend@{d}", w.ecr_host), "to": "aws"}});
    let r = inv.handle_json(cmd.to_string().as_bytes()).await.unwrap();
    assert!(w.ecs_image().await.1.ends_with(&d), "{}", r.notes_text());
    assert!(
        !w.run.calls().iter().any(|c| c.method.ends_with("patch")),
        "only aws"
    );
    let rb = json!({"twincloud": "command", "command": "rollback", "id": "cmd-2", "args": {"target": "backend"}});
    let r = inv.handle_json(rb.to_string().as_bytes()).await.unwrap();
    assert_eq!(w.ecs_image().await.0, td, "{}", r.notes_text());
    assert!(
        w.messages().contains("rolled back on command"),
        "{}",
        w.messages()
    );
    // A tag is never deployed by name.
    let by_tag = json!({"twincloud": "command", "command": "deploy", "id": "cmd-3",
                        "args": {"image": format!("{}/aion-backend:v4.0.0", w.ecr_host)}});
    let e = inv
        .handle_json(by_tag.to_string().as_bytes())
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), 2, "bad input: {e}");
    assert!(e.to_string().contains("never deployed by name"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_artifact_registry_push_is_mirrored_to_ecr_and_rolled_out_on_both() {
    use base64::Engine;
    use twincloud_testkit::{Fault, FaultProxy};
    let w = world(1).await;
    // AWS throttles the first calls (ECR's token, ECS): the SDK's retries absorb it.
    let proxy = FaultProxy::start(&emulators::moto_url()).await;
    proxy.inject("", 2, Fault::aws_throttling());
    let inv = w
        .invoker_with(AwsContext::for_endpoint(&proxy.url(), "us-east-1").await)
        .await;
    let d =
        w.ar.push_image(
            "prod/images/aion-backend",
            "v5.0.0",
            &[noise(128 << 10, 51)],
            "amd64",
        )
        .await;
    let repo = format!("{}/prod/images/aion-backend", w.ar_host);
    let data = json!({"action": "INSERT", "digest": format!("{repo}@{d}"), "tag": format!("{repo}:v5.0.0")});
    let push = json!({
        "message": {
            "data": base64::engine::general_purpose::STANDARD.encode(data.to_string()),
            "messageId": "771", "publishTime": "2026-12-03T10:00:00Z"
        },
        "subscription": "projects/aion-prod/subscriptions/twincloud-deploy-gcr"
    });
    // Cloud Run answers 503 then 429 on the way: retried.
    w.run.fail_next([
        (503, json!({"error": {"code": 503, "message": "try again"}})),
        (429, json!({"error": {"code": 429, "message": "slow down"}})),
    ]);
    let r = inv.handle_json(push.to_string().as_bytes()).await.unwrap();
    assert_eq!(
        w.run.faults_left(),
        0,
        "both failures were answered, then retried"
    );
    assert_eq!(
        w.ecs_image().await.1,
        format!("{}/aion-backend@{d}", w.ecr_host),
        "mirrored from Artifact Registry to ECR: {}",
        r.notes_text()
    );
    assert_eq!(w.ecr.manifest("aion-backend", &d).await.unwrap().1, d);
    assert_eq!(w.run_serving().await.1, format!("{repo}@{d}"));
    assert_eq!(proxy.stats().faulted, 2);
}

/// ECS services on moto pass the deployer suite every adapter of the port passes.
#[tokio::test]
async fn the_ecs_deployer_conforms() {
    let aws = AwsContext::for_endpoint(&emulators::moto_url(), "us-east-1").await;
    // Desired 0: moto's deployment then reads COMPLETED (it never runs tasks).
    let cluster = moto_ecs::ecs_cluster(&aws, &[("aion-web", 0)]).await;
    let image = format!(
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:{}",
        "e".repeat(64)
    );
    let d = twincloud_aws::EcsDeployer::new(&aws, &cluster);
    twincloud_testkit::conformance::deployer(&d, "aion-web", None, &image, "ghost").await;
    // The names of its environment and secrets, never their values (the readiness audit).
    use twincloud_core::ports::Deployer;
    assert_eq!(
        d.current("aion-web", None).await.unwrap().env,
        Some(vec!["DATABASE_URL".to_owned(), "LOG_LEVEL".to_owned()])
    );
}

/// Cloud Run (a fake validating `run.v2.json`) passes the deployer suite.
#[tokio::test]
async fn the_cloud_run_deployer_conforms() {
    let revisions: Revisions = Arc::default();
    let old = format!(
        "europe-docker.pkg.dev/p/images/web@sha256:{}",
        "0".repeat(64)
    );
    let run = cloud_run(revisions, "http://127.0.0.1:9".into(), &old).await;
    let d = twincloud_gcp::CloudRunDeployer::new(
        &GcpContext::for_emulator(&run.url()).unwrap(),
        "aion-prod",
        "us-central1",
    );
    let image = format!(
        "europe-docker.pkg.dev/p/images/web@sha256:{}",
        "f".repeat(64)
    );
    twincloud_testkit::conformance::deployer(&d, "aion-backend", None, &image, "ghost").await;
    assert!(run.rejected().is_empty(), "{:?}", run.rejected());
}
