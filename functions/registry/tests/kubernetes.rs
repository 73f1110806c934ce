//! Kubernetes Deployments as a compute kind, end to end: a GKE cluster found through the
//! Container API (a fake validated against `container.v1.json`) whose API server is the test
//! kit's stand-in (Deployments, scale, ReplicaSets, HPAs, rollout conditions). The compute
//! conformance suite on a Deployment; an HPA raised then lowered instead of fought; a failover
//! onto a GKE standby; a bad image rolled back to the previous ReplicaSet's template. Every
//! object written is checked against the Kubernetes schemas.
#![allow(clippy::unwrap_used)]

#[path = "../../../tests/support/common.rs"]
mod common;
#[path = "../../../tests/support/failover_world.rs"]
mod failover_world;

use base64::Engine;
use serde_json::json;
use twincloud_core::Config;
use twincloud_core::ports::{Compute, Deployer};
use twincloud_functions::deploy::Deploy;
use twincloud_gcp::{GcpContext, GkeCluster};
use twincloud_kube::{ClusterAccess, KubeAccess, KubernetesCompute, KubernetesDeployer};
use twincloud_runtime::{Clouds, Invoker, Services};
use twincloud_testkit::kube_api::KubeApiFake;
use twincloud_testkit::registry::{Registry, noise};
use twincloud_testkit::{DiscoveryFake, unique};

/// The stand-in API server and the Container API that leads to it.
struct Gke {
    api: KubeApiFake,
    container: DiscoveryFake,
}

impl Gke {
    async fn start() -> Gke {
        let api = KubeApiFake::start().await;
        let endpoint = api.url();
        let ca = base64::engine::general_purpose::STANDARD
            .encode(twincloud_testkit::kube_api::test_ca_pem());
        let container = DiscoveryFake::start("container.v1", move |call| {
            assert_eq!(call.method, "container.projects.locations.clusters.get");
            (
                200,
                json!({"name": "aion-gke", "status": "RUNNING", "endpoint": endpoint,
                       "masterAuth": {"clusterCaCertificate": ca}}),
            )
        })
        .await;
        Gke { api, container }
    }

    fn gcp(&self) -> GcpContext {
        GcpContext::for_emulator(&self.container.url()).unwrap()
    }

    fn access(&self) -> std::sync::Arc<KubeAccess> {
        let gke = GkeCluster::new(&self.gcp(), "aion-prod", "us-central1", "aion-gke");
        KubeAccess::new(ClusterAccess::Source(std::sync::Arc::new(gke)))
    }

    /// Every stored object valid, every Container API request valid.
    async fn check(&self) {
        assert!(
            self.container.rejected().is_empty(),
            "{:?}",
            self.container.rejected()
        );
        twincloud_testkit::kube_api::validate(&self.api.written()).await;
    }
}

/// A deploy target `name` on GKE Deployment `prod/name` (image `HOST/aion/name`), its registry
/// login a secret in moto's Secrets Manager; `watch` says what checks the rollout.
async fn deploy_setup(
    state: &std::path::Path,
    registry: &str,
    name: &str,
    watch: &str,
) -> (twincloud_aws::AwsContext, String) {
    let aws = twincloud_aws::AwsContext::for_endpoint(
        &twincloud_testkit::emulators::moto_url(),
        "us-east-1",
    )
    .await;
    let secret = unique("registry-login");
    aws.secrets()
        .create_secret()
        .name(&secret)
        .secret_string("ci:pw-reg")
        .send()
        .await
        .unwrap();
    let config = format!(
        r#"[project]
name = "aion"
state = "{}"

[[notify.channels]]
name = "outbox"
type = "outbox"

[[deploy.targets]]
name = "{name}"
tags = ["v*"]
bake_secs = 1
rollout_timeout_secs = 60

[[deploy.targets.sides]]
image = "{registry}/aion/{name}"
registry_auth = "basic:aws-sm:{secret}"
compute = "kubernetes"
project = "aion-prod"
location = "us-central1"
cluster = "aion-gke"
namespace = "prod"
deployment = "{name}"
{watch}
"#,
        state.display(),
    );
    (aws, config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_passes_the_compute_suite_and_an_hpa_is_raised_then_lowered() {
    let gke = Gke::start().await;
    gke.api.add_deployment(
        "prod",
        "chatbot",
        "registry.example/chatbot@sha256:aa",
        2,
        600,
    );
    let compute = KubernetesCompute::new(gke.access(), "prod", Some(5));
    twincloud_testkit::conformance::compute(&compute, "chatbot", 5, "ghost").await;
    // And the deployer suite on its own Deployment.
    gke.api
        .add_deployment("prod", "web", "registry.example/web@sha256:cc", 2, 600);
    let image = format!("registry.example/web@sha256:{}", "d".repeat(64));
    twincloud_testkit::conformance::deployer(
        &KubernetesDeployer::new(gke.access(), "prod"),
        "web",
        Some("app"),
        &image,
        "ghost",
    )
    .await;

    // Seed 001's HPA: min 2, max 10. Raising the floor goes through the autoscaler.
    gke.api
        .add_deployment("prod", "aia", "registry.example/aia@sha256:bb", 2, 600);
    gke.api.add_hpa("prod", "aia-hpa", "aia", 2, 10);
    let s = compute.scale("aia").await.unwrap();
    assert_eq!((s.desired, s.ready, s.max), (2, 2, Some(10)));
    let how = compute
        .set_desired_explained("aia", 6)
        .await
        .unwrap()
        .unwrap();
    assert!(how.contains("minReplicas to 6"), "{how}");
    assert_eq!(gke.api.hpa("prod", "aia-hpa")["spec"]["minReplicas"], 6);
    assert_eq!(
        gke.api.deployment("prod", "aia")["spec"]["replicas"],
        6,
        "the HPA scaled it"
    );
    let s = compute.scale("aia").await.unwrap();
    assert_eq!((s.desired, s.ready), (6, 6));
    compute.set_desired("aia", 2).await.unwrap();
    assert_eq!(gke.api.hpa("prod", "aia-hpa")["spec"]["minReplicas"], 2);
    // Above the HPA's maximum: raised with the floor, and said (it was refused, unreported).
    let how = compute
        .set_desired_explained("aia", 11)
        .await
        .unwrap()
        .unwrap();
    assert!(
        how.contains("minReplicas to 11 and its maxReplicas from 10 to 11"),
        "{how}"
    );
    assert_eq!(gke.api.hpa("prod", "aia-hpa")["spec"]["maxReplicas"], 11);
    assert_eq!(gke.api.hpa("prod", "aia-hpa")["spec"]["minReplicas"], 11);
    compute.set_desired("aia", 2).await.unwrap();
    // A 500 on a read is retried, as the HTTP client retries: one does not fail the run.
    gke.api.fail_next_reads(2);
    let s = compute.scale("aia").await.unwrap();
    assert_eq!(s.desired, 2);
    gke.api.fail_next_reads(10);
    let e = compute.scale("aia").await.unwrap_err();
    assert!(e.message.contains("500"), "{e}");
    assert_eq!(e.retry, twincloud_core::ports::Retry::Transient);
    gke.api.fail_next_reads(0);
    assert!(compute.set_max("aia", 8).await.unwrap());
    assert_eq!(gke.api.hpa("prod", "aia-hpa")["spec"]["maxReplicas"], 8);
    // Never the Deployment's replicas under an autoscaler.
    assert!(
        !gke.api
            .requests()
            .iter()
            .any(|r| r.starts_with("PATCH") && r.contains("deployments/aia/scale")),
        "{:?}",
        gke.api.requests()
    );
    gke.check().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_image_is_rolled_back_to_the_previous_replicaset() {
    let gke = Gke::start().await;
    let reg = Registry::start("ci", "pw-reg").await;
    let good = reg
        .push_image("aion/chatbot", "v1.0.0", &[noise(4096, 1)], "amd64")
        .await;
    let good_ref = format!("{}/aion/chatbot@{good}", reg.host);
    gke.api.add_deployment("prod", "chatbot", &good_ref, 3, 1);
    let dir = tempfile::tempdir().unwrap();
    // The service's health (the old pods keep serving while the bad ones never get ready).
    let app = twincloud_local::StandInApp::start().await.unwrap();
    let (aws, config) = deploy_setup(
        dir.path(),
        &reg.host,
        "chatbot",
        &format!("container = \"app\"\nhealth = [\"{}/health\"]", app.url()),
    )
    .await;
    let services = Services::build(
        Config::parse("t.toml", &config).unwrap(),
        &Clouds::with_aws(aws).and_gcp(gke.gcp()),
    )
    .await
    .unwrap();
    let inv = Invoker::new(Box::new(Deploy), services, false);

    // A good version rolls out: revision 2 serves it.
    let v2 = reg
        .push_image("aion/chatbot", "v2.0.0", &[noise(4096, 2)], "amd64")
        .await;
    let v2_ref = format!("{}/aion/chatbot@{v2}", reg.host);
    let cmd = json!({"twincloud": "command", "command": "deploy", "id": "cmd-1", "args": {"image": v2_ref}});
    let r = inv.handle_json(cmd.to_string().as_bytes()).await.unwrap();
    for _ in 0..20 {
        if gke.api.image("prod", "chatbot") == v2_ref
            && twincloud_testkit::fs::outbox(dir.path())
                .iter()
                .any(|m| m["title"].as_str().unwrap_or_default().contains("deployed"))
        {
            break;
        }
        let tick = json!({"twincloud": "schedule", "name": "deploy", "id": unique("tick")});
        inv.handle_json(tick.to_string().as_bytes()).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert_eq!(
        gke.api.image("prod", "chatbot"),
        v2_ref,
        "{}",
        r.notes_text()
    );
    let d = gke.api.deployment("prod", "chatbot");
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "2"
    );

    // A bad one never gets ready: ProgressDeadlineExceeded, back to revision 2's template.
    let bad = reg
        .push_image("aion/chatbot", "v3.0.0", &[noise(4096, 3)], "amd64")
        .await;
    let bad_ref = format!("{}/aion/chatbot@{bad}", reg.host);
    gke.api.fail_image(&bad_ref);
    // The rollback's first replace meets a conflict (409: someone wrote the Deployment
    // meanwhile): nothing may say "rolled back" until the provider shows it.
    gke.api.conflict_next_replaces(1);
    let cmd = json!({"twincloud": "command", "command": "deploy", "id": "cmd-2", "args": {"image": bad_ref}});
    inv.handle_json(cmd.to_string().as_bytes()).await.unwrap();
    let mut rolled_back = false;
    let mut pending_seen = false;
    for _ in 0..30 {
        let messages = twincloud_testkit::fs::outbox(dir.path());
        if messages
            .iter()
            .any(|m| m.to_string().contains("rolled back"))
        {
            assert_eq!(
                gke.api.image("prod", "chatbot"),
                v2_ref,
                "said rolled back while the Deployment runs the bad image"
            );
            rolled_back = true;
            break;
        }
        if gke.api.conflicted() == 1 && gke.api.image("prod", "chatbot") == bad_ref {
            // The rollback failed on the conflict: status says so (not "serves the old one").
            let s = inv.services();
            let o = twincloud_runtime::overview::gather(
                &s.config,
                s.state.as_ref(),
                chrono::Utc::now(),
            )
            .await;
            let text = twincloud_runtime::overview::render_text(&o);
            if text.contains("rollback pending") {
                pending_seen = true;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let tick = json!({"twincloud": "schedule", "name": "deploy", "id": unique("tick")});
        inv.handle_json(tick.to_string().as_bytes()).await.unwrap();
    }
    let messages: Vec<String> = twincloud_testkit::fs::outbox(dir.path())
        .iter()
        .map(|m| m.to_string())
        .collect();
    assert!(rolled_back, "{messages:#?}");
    assert_eq!(gke.api.conflicted(), 1, "the rollback met its conflict");
    assert!(
        pending_seen,
        "the failed rollback was shown as pending: {messages:#?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("rollback of") && m.contains("FAILED")),
        "the failed rollback was said: {messages:#?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("ProgressDeadlineExceeded")),
        "{messages:#?}"
    );
    assert_eq!(
        gke.api.image("prod", "chatbot"),
        v2_ref,
        "the previous template is back"
    );
    let d = gke.api.deployment("prod", "chatbot");
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "4",
        "undo makes the old ReplicaSet the newest revision"
    );
    let deployer = KubernetesDeployer::new(gke.access(), "prod");
    assert_eq!(
        deployer
            .current("chatbot", Some("app"))
            .await
            .unwrap()
            .image,
        v2_ref
    );
    gke.check().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_scales_up_a_gke_standby_before_switching() {
    let gke = Gke::start().await;
    gke.api.add_deployment(
        "prod",
        "aion-backend",
        "registry.example/aion@sha256:cc",
        0,
        600,
    );
    gke.api
        .add_hpa("prod", "aion-backend-hpa", "aion-backend", 1, 20);
    let w = failover_world::World::new().await;
    // The AWS endpoint of the usual world becomes a GKE standby.
    let toml = failover_world::failover_toml(&w.gcp.url(), &w.aws.url(), "manual", 0).replace(
        "compute = \"local\"\nservice = \"aion-backend-aws\"\nactive_size = 2\nstandby_size = 0",
        "compute = \"kubernetes\"\nproject = \"aion-prod\"\nlocation = \"us-central1\"\ncluster = \"aion-gke\"\nnamespace = \"prod\"\ndeployment = \"aion-backend\"\nactive_size = 3\nstandby_size = 1",
    );
    assert!(toml.contains("compute = \"kubernetes\""));
    let cfg = common::config(w.dir.path(), &toml);
    let services = Services::build(cfg, &Clouds::default().and_gcp(gke.gcp()))
        .await
        .unwrap();
    let inv = Invoker::new(
        Box::new(twincloud_functions::failover::Failover),
        services,
        false,
    );
    w.gcp.set_healthy(false);
    for n in 0..6 {
        failover_world::tick(&inv, n).await;
        if w.dns().await == "aion-alb-123.us-east-1.elb.amazonaws.com." {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    assert_eq!(
        w.dns().await,
        "aion-alb-123.us-east-1.elb.amazonaws.com.",
        "{:?}",
        w.outbox()
    );
    assert_eq!(
        gke.api.hpa("prod", "aion-backend-hpa")["spec"]["minReplicas"],
        3,
        "the standby's HPA floor was raised"
    );
    assert_eq!(
        gke.api.deployment("prod", "aion-backend")["status"]["availableReplicas"],
        3
    );
    gke.check().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_raises_the_hpa_floor_under_load_and_lowers_it_when_quiet() {
    use std::sync::{Arc, Mutex};
    let gke = Gke::start().await;
    gke.api.add_deployment(
        "prod",
        "chatbot",
        "registry.example/chatbot@sha256:aa",
        2,
        600,
    );
    gke.api.add_hpa("prod", "chatbot-hpa", "chatbot", 2, 10);
    // Cloud Monitoring: the containers' CPU against their requests, as GKE reports it.
    let cpu = Arc::new(Mutex::new(1.4_f64));
    let filters = Arc::new(Mutex::new(Vec::<String>::new()));
    let (c, f) = (cpu.clone(), filters.clone());
    let monitoring = DiscoveryFake::start("monitoring.v3", move |call| {
        let query = url::form_urlencoded::parse(call.query.as_bytes())
            .find(|(k, _)| k == "filter")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        f.lock().unwrap().push(query);
        let v = *c.lock().unwrap();
        (200, json!({"timeSeries": [{"points": [{"interval": {"endTime": "2026-12-03T03:00:00Z"}, "value": {"doubleValue": v}}]}]}))
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        r#"[project]
name = "aion"
state = "{}"

[[notify.channels]]
name = "outbox"
type = "outbox"

[[scaling.services]]
name = "chatbot"
compute = "kubernetes"
project = "aion-prod"
location = "us-central1"
cluster = "aion-gke"
namespace = "prod"
deployment = "chatbot"
min = 2
max = 10
targets = {{ cpu = 70 }}
cooldown_out_secs = 0
cooldown_in_secs = 1
stabilization_secs = 1
"#,
        dir.path().display()
    );
    let gcp = gke.gcp().with_monitoring(&monitoring.url());
    let services = Services::build(
        Config::parse("t.toml", &toml).unwrap(),
        &Clouds::default().and_gcp(gcp),
    )
    .await
    .unwrap();
    let inv = Invoker::new(
        Box::new(twincloud_functions::scaling::Scaling),
        services,
        false,
    );
    let tick = |n: u32| {
        json!({"twincloud": "schedule", "name": "scaling", "id": format!("tick-{n}")}).to_string()
    };
    let r = inv.handle_json(tick(1).as_bytes()).await.unwrap();
    let raised = gke.api.hpa("prod", "chatbot-hpa")["spec"]["minReplicas"]
        .as_i64()
        .unwrap();
    assert!(raised > 2, "under load the floor rises: {}", r.notes_text());
    assert_eq!(
        gke.api.deployment("prod", "chatbot")["spec"]["replicas"].as_i64(),
        Some(raised)
    );
    assert!(
        filters
            .lock()
            .unwrap()
            .iter()
            .any(|f| f.contains("k8s_container")
                && f.contains("top_level_controller_name = \"chatbot\"")
                && f.contains("namespace_name = \"prod\"")),
        "{:?}",
        filters.lock().unwrap()
    );
    // Quiet: after the stabilization window and the cooldown the floor comes back down.
    *cpu.lock().unwrap() = 0.1;
    inv.handle_json(tick(2).as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = inv.handle_json(tick(3).as_bytes()).await.unwrap();
    let lowered = gke.api.hpa("prod", "chatbot-hpa")["spec"]["minReplicas"]
        .as_i64()
        .unwrap();
    assert!(lowered < raised, "{raised} → {lowered}: {}", r.notes_text());
    assert!(
        !gke.api
            .requests()
            .iter()
            .any(|r| r.starts_with("PATCH") && r.contains("deployments/chatbot/scale")),
        "never the replicas under an HPA"
    );
    gke.check().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_whose_load_balancer_backend_answers_5xx_is_rolled_back() {
    use std::sync::{Arc, Mutex};
    let gke = Gke::start().await;
    let reg = Registry::start("ci", "pw-reg").await;
    let v1 = reg
        .push_image("aion/aia", "v1.0.0", &[noise(2048, 11)], "amd64")
        .await;
    let v1_ref = format!("{}/aion/aia@{v1}", reg.host);
    gke.api.add_deployment("prod", "aia", &v1_ref, 3, 1);
    // Cloud Monitoring: the backend service's requests, 5xx answers and p95, as the load
    // balancer reports them.
    let errors = Arc::new(Mutex::new(0_u64));
    let filters = Arc::new(Mutex::new(Vec::<String>::new()));
    let (e, f) = (errors.clone(), filters.clone());
    let monitoring = DiscoveryFake::start("monitoring.v3", move |call| {
        let filter = url::form_urlencoded::parse(call.query.as_bytes())
            .find(|(k, _)| k == "filter")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        f.lock().unwrap().push(filter.clone());
        let value = if filter.contains("backend_latencies") {
            json!({"doubleValue": 140.0})
        } else if filter.contains("response_code_class = 500") {
            json!({"int64Value": e.lock().unwrap().to_string()})
        } else {
            json!({"int64Value": "200"})
        };
        (200, json!({"timeSeries": [{"points": [{"interval": {"endTime": "2026-12-04T03:00:00Z"}, "value": value}]}]}))
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (aws, config) = deploy_setup(
        dir.path(),
        &reg.host,
        "aia",
        "lb_backend = \"k8s1-prod-aia-80\"",
    )
    .await;
    let services = Services::build(
        Config::parse("t.toml", &config).unwrap(),
        &Clouds::with_aws(aws).and_gcp(gke.gcp().with_monitoring(&monitoring.url())),
    )
    .await
    .unwrap();
    let inv = Invoker::new(Box::new(Deploy), services, false);
    let drive = |id: &'static str, image: String, until: &'static str| {
        let inv = &inv;
        let dir = dir.path().to_owned();
        async move {
            let cmd = json!({"twincloud": "command", "command": "deploy", "id": id, "args": {"image": image}});
            inv.handle_json(cmd.to_string().as_bytes()).await.unwrap();
            for _ in 0..30 {
                if twincloud_testkit::fs::outbox(&dir)
                    .iter()
                    .filter(|m| m.to_string().contains(until))
                    .count()
                    > 0
                {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(400)).await;
                let tick = json!({"twincloud": "schedule", "name": "deploy", "id": unique("tick")});
                inv.handle_json(tick.to_string().as_bytes()).await.unwrap();
            }
        }
    };

    // A healthy backend: the version stays.
    let v2 = reg
        .push_image("aion/aia", "v2.0.0", &[noise(2048, 12)], "amd64")
        .await;
    let v2_ref = format!("{}/aion/aia@{v2}", reg.host);
    drive("cmd-1", v2_ref.clone(), "deployed").await;
    assert_eq!(gke.api.image("prod", "aia"), v2_ref);
    assert!(
        filters
            .lock()
            .unwrap()
            .iter()
            .any(|f| f.contains("resource.type = \"https_lb_rule\"")
                && f.contains("backend_target_name = \"k8s1-prod-aia-80\"")
                && f.contains("loadbalancing.googleapis.com/https/backend_request_count")),
        "{:?}",
        filters.lock().unwrap()
    );

    // 30 % of answers are 5xx once v3 serves: over max_error_rate (5 %), back to v2.
    *errors.lock().unwrap() = 60;
    let v3 = reg
        .push_image("aion/aia", "v3.0.0", &[noise(2048, 13)], "amd64")
        .await;
    let v3_ref = format!("{}/aion/aia@{v3}", reg.host);
    drive("cmd-2", v3_ref, "rolled back").await;
    let messages: Vec<String> = twincloud_testkit::fs::outbox(dir.path())
        .iter()
        .map(|m| m.to_string())
        .collect();
    assert!(
        messages.iter().any(|m| m.contains("rolled back")),
        "{messages:#?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("error rate 30.0 % is above 5.0 %")),
        "the report gives the error rate: {messages:#?}"
    );
    assert_eq!(
        gke.api.image("prod", "aia"),
        v2_ref,
        "v2's template is back"
    );
    assert!(
        monitoring.rejected().is_empty(),
        "{:?}",
        monitoring.rejected()
    );
    gke.check().await;
}
