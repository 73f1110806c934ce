//! A stand-in for a Kubernetes API server (none can be installed on this machine kind):
//! Deployments with their `scale` subresource and status, the ReplicaSets a Deployment
//! controller makes, and HorizontalPodAutoscalers, with the rollout semantics twincloud relies
//! on: `metadata.generation` bumped by spec changes and `status.observedGeneration` following,
//! a ReplicaSet per pod template numbered by `deployment.kubernetes.io/revision` (an old
//! template put back takes its old ReplicaSet and the next number, as a rollback does),
//! `Progressing`/`Available` conditions and `ProgressDeadlineExceeded` for an image whose pods
//! never become ready, an HPA controller that keeps replicas within its bounds, merge and
//! strategic-merge patches, and `resourceVersion` conflicts on replace. Every object it stores
//! is kept for validation against the Kubernetes schemas ([`KubeApiFake::written`]).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

const REVISION: &str = "deployment.kubernetes.io/revision";
const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";

#[derive(Default)]
struct World {
    deployments: BTreeMap<(String, String), Value>,
    replica_sets: Vec<Value>,
    hpas: BTreeMap<(String, String), Value>,
    failing_images: BTreeSet<String>,
    /// When the newest ReplicaSet of a Deployment began its rollout.
    rollout_started: BTreeMap<(String, String), Instant>,
    version: u64,
    written: Vec<Value>,
    requests: Vec<String>,
    /// Replaces of a Deployment still to be answered 409 (someone else wrote it meanwhile).
    conflicts: u32,
    /// Replaces answered 409 so far.
    conflicted: u32,
    /// Reads (GET) still to be answered 500, as an API server briefly overloaded.
    failing_reads: u32,
}

/// The fake API server.
#[derive(Clone)]
pub struct KubeApiFake {
    addr: SocketAddr,
    world: Arc<Mutex<World>>,
}

fn lock(w: &Arc<Mutex<World>>) -> std::sync::MutexGuard<'_, World> {
    w.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl KubeApiFake {
    /// Starts an empty server.
    pub async fn start() -> Self {
        let world = Arc::new(Mutex::new(World::default()));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(world.clone());
        let addr = crate::serve(app).await;
        KubeApiFake { addr, world }
    }

    /// The next `n` replaces (PUT) of a Deployment answer 409 Conflict, as when another
    /// writer changed it between the read and the replace.
    pub fn conflict_next_replaces(&self, n: u32) {
        lock(&self.world).conflicts = n;
    }

    /// The next `n` reads (GET) answer 500 Internal Server Error.
    pub fn fail_next_reads(&self, n: u32) {
        lock(&self.world).failing_reads = n;
    }

    /// How many replaces were answered 409.
    pub fn conflicted(&self) -> u32 {
        lock(&self.world).conflicted
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Creates a Deployment of `replicas` pods running `image` in container `app`, labelled
    /// `app: NAME`, with a progress deadline of `deadline_secs`; its first revision is rolled
    /// out at once.
    pub fn add_deployment(
        &self,
        ns: &str,
        name: &str,
        image: &str,
        replicas: i64,
        deadline_secs: i64,
    ) {
        let mut w = lock(&self.world);
        let uid = format!("uid-{ns}-{name}");
        let d = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "uid": uid, "generation": 1,
                         "labels": {"app": name}, "annotations": {}},
            "spec": {
                "replicas": replicas,
                "progressDeadlineSeconds": deadline_secs,
                "revisionHistoryLimit": 10,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "app", "image": image,
                                             "ports": [{"containerPort": 8080}]}]}
                }
            },
            "status": {}
        });
        w.deployments.insert((ns.into(), name.into()), d);
        reconcile(&mut w, ns, name);
    }

    /// Adds an autoscaler of Deployment `target` between `min` and `max` replicas.
    pub fn add_hpa(&self, ns: &str, name: &str, target: &str, min: i64, max: i64) {
        let mut w = lock(&self.world);
        let h = json!({
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                "minReplicas": min,
                "maxReplicas": max,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 70}}}]
            }
        });
        w.hpas.insert((ns.into(), name.into()), h);
        reconcile(&mut w, ns, target);
    }

    /// Pods of `image` never become ready (a bad release).
    pub fn fail_image(&self, image: &str) {
        lock(&self.world).failing_images.insert(image.into());
    }

    /// The Deployment as stored (after the controllers ran).
    pub fn deployment(&self, ns: &str, name: &str) -> Value {
        let mut w = lock(&self.world);
        reconcile(&mut w, ns, name);
        w.deployments
            .get(&(ns.into(), name.into()))
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// The autoscaler as stored.
    pub fn hpa(&self, ns: &str, name: &str) -> Value {
        lock(&self.world)
            .hpas
            .get(&(ns.into(), name.into()))
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// The container image the Deployment's template runs.
    pub fn image(&self, ns: &str, name: &str) -> String {
        self.deployment(ns, name)["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Every object written by a request, as stored, for schema validation.
    pub fn written(&self) -> Vec<Value> {
        lock(&self.world).written.clone()
    }

    /// `METHOD path` of every request.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.world).requests.clone()
    }
}

fn status(code: u16, reason: &str, message: &str) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                      "message": message, "reason": reason, "code": code});
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(body),
    )
        .into_response()
}

fn ok(v: Value) -> Response {
    (StatusCode::OK, axum::Json(v)).into_response()
}

/// RFC 7386 merge patch; with `strategic`, lists of objects with a `name` merge by name (as
/// containers, ports and env do in a strategic merge patch).
fn merge(target: &mut Value, patch: &Value, strategic: bool) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v, strategic);
                }
            }
        }
        (Value::Array(t), Value::Array(p))
            if strategic && p.iter().all(|e| e.get("name").is_some()) =>
        {
            for e in p {
                match t.iter_mut().find(|x| x.get("name") == e.get("name")) {
                    Some(x) => merge(x, e, strategic),
                    None => t.push(e.clone()),
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

fn template_hash(template: &Value) -> String {
    let text = template.to_string();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:010x}", h & 0xff_ffff_ffff)
}

/// The Deployment and HPA controllers, run on every read and write.
fn reconcile(w: &mut World, ns: &str, name: &str) {
    let key = (ns.to_owned(), name.to_owned());
    let Some(mut d) = w.deployments.get(&key).cloned() else {
        return;
    };
    // The HPA controller keeps replicas within its bounds.
    if let Some(h) = w
        .hpas
        .values()
        .find(|h| h["metadata"]["namespace"] == ns && h["spec"]["scaleTargetRef"]["name"] == name)
    {
        let min = h["spec"]["minReplicas"].as_i64().unwrap_or(1);
        let max = h["spec"]["maxReplicas"].as_i64().unwrap_or(min);
        let r = d["spec"]["replicas"].as_i64().unwrap_or(1).clamp(min, max);
        if d["spec"]["replicas"].as_i64() != Some(r) {
            d["spec"]["replicas"] = json!(r);
            bump_generation(&mut d);
        }
    }
    let template = d["spec"]["template"].clone();
    let hash = template_hash(&template);
    let uid = d["metadata"]["uid"].clone();
    let owned = |rs: &Value| rs["metadata"]["ownerReferences"][0]["uid"] == uid;
    let newest = w
        .replica_sets
        .iter()
        .filter(|rs| owned(rs))
        .filter_map(|rs| {
            rs["metadata"]["annotations"][REVISION]
                .as_str()?
                .parse::<i64>()
                .ok()
        })
        .max()
        .unwrap_or(0);
    let existing = w
        .replica_sets
        .iter()
        .position(|rs| owned(rs) && rs["metadata"]["labels"]["pod-template-hash"] == hash);
    let current_revision = match existing {
        Some(i) => {
            let rev: i64 = w.replica_sets[i]["metadata"]["annotations"][REVISION]
                .as_str()
                .and_then(|r| r.parse().ok())
                .unwrap_or(0);
            if rev < newest {
                // An older template is back (a rollback): its ReplicaSet takes the next number,
                // and its old one is kept in the revision history, as the controller keeps it.
                let history = w.replica_sets[i]["metadata"]["annotations"][REVISION_HISTORY]
                    .as_str()
                    .map(|h| format!("{h},{rev}"))
                    .unwrap_or_else(|| rev.to_string());
                w.replica_sets[i]["metadata"]["annotations"][REVISION_HISTORY] = json!(history);
                w.replica_sets[i]["metadata"]["annotations"][REVISION] =
                    json!((newest + 1).to_string());
                w.rollout_started.insert(key.clone(), Instant::now());
                newest + 1
            } else {
                rev
            }
        }
        None => {
            let mut labels = template["metadata"]["labels"].clone();
            labels["pod-template-hash"] = json!(hash);
            let mut rs_template = template.clone();
            rs_template["metadata"]["labels"] = labels.clone();
            w.replica_sets.push(json!({
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": format!("{name}-{hash}"),
                    "namespace": ns,
                    "labels": labels,
                    "annotations": {REVISION: (newest + 1).to_string()},
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                         "name": name, "uid": uid, "controller": true}]
                },
                "spec": {"replicas": 0, "selector": d["spec"]["selector"].clone(),
                         "template": rs_template}
            }));
            w.rollout_started.insert(key.clone(), Instant::now());
            newest + 1
        }
    };
    d["metadata"]["annotations"][REVISION] = json!(current_revision.to_string());
    let replicas = d["spec"]["replicas"].as_i64().unwrap_or(1);
    let images: Vec<String> = template["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["image"].as_str().map(str::to_owned))
        .collect();
    let failing = images.iter().any(|i| w.failing_images.contains(i));
    let started = w
        .rollout_started
        .get(&key)
        .copied()
        .unwrap_or_else(Instant::now);
    let deadline =
        Duration::from_secs(d["spec"]["progressDeadlineSeconds"].as_u64().unwrap_or(600));
    let now = chrono::Utc::now().to_rfc3339();
    let generation = d["metadata"]["generation"].clone();
    d["status"] = if failing {
        // One new pod that never gets ready; the old ones keep serving.
        let progressing = if started.elapsed() >= deadline {
            json!({"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                   "message": format!("ReplicaSet \"{name}-{hash}\" has timed out progressing."),
                   "lastUpdateTime": now, "lastTransitionTime": now})
        } else {
            json!({"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
                   "message": format!("ReplicaSet \"{name}-{hash}\" is progressing."),
                   "lastUpdateTime": now, "lastTransitionTime": now})
        };
        json!({
            "observedGeneration": generation,
            "replicas": replicas + 1,
            "updatedReplicas": 1,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "unavailableReplicas": 1,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                 "message": "Deployment has minimum availability.", "lastUpdateTime": now, "lastTransitionTime": now},
                progressing
            ]
        })
    } else {
        json!({
            "observedGeneration": generation,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                 "message": "Deployment has minimum availability.", "lastUpdateTime": now, "lastTransitionTime": now},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                 "message": format!("ReplicaSet \"{name}-{hash}\" has successfully progressed."),
                 "lastUpdateTime": now, "lastTransitionTime": now}
            ]
        })
    };
    for rs in w.replica_sets.iter_mut().filter(|rs| owned(rs)) {
        let mine = rs["metadata"]["labels"]["pod-template-hash"] == hash;
        rs["spec"]["replicas"] = json!(if mine { replicas } else { 0 });
    }
    w.deployments.insert(key, d);
}

fn bump_generation(d: &mut Value) {
    let g = d["metadata"]["generation"].as_i64().unwrap_or(1);
    d["metadata"]["generation"] = json!(g + 1);
}

fn scale_of(d: &Value) -> Value {
    json!({
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {"name": d["metadata"]["name"], "namespace": d["metadata"]["namespace"],
                     "resourceVersion": d["metadata"]["resourceVersion"]},
        "spec": {"replicas": d["spec"]["replicas"]},
        "status": {"replicas": d["status"]["replicas"], "selector": format!("app={}", d["metadata"]["name"].as_str().unwrap_or_default())}
    })
}

fn stamp(w: &mut World, v: &mut Value) {
    w.version += 1;
    v["metadata"]["resourceVersion"] = json!(w.version.to_string());
}

fn list(kind: &str, items: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "kind": format!("{kind}List"), "metadata": {}, "items": items})
}

async fn handle(
    State(world): State<Arc<Mutex<World>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut w = lock(&world);
    w.requests.push(format!("{method} {uri}"));
    if method == Method::GET && w.failing_reads > 0 {
        w.failing_reads -= 1;
        return status(500, "InternalError", "the server is briefly overloaded");
    }
    let path: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let query = uri.query().unwrap_or_default().to_owned();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let patch: Option<Value> = serde_json::from_slice(&body).ok();
    match path.as_slice() {
        [
            "apis",
            "apps",
            "v1",
            "namespaces",
            ns,
            "deployments",
            name,
            rest @ ..,
        ] => {
            let key = ((*ns).to_owned(), (*name).to_owned());
            reconcile(&mut w, ns, name);
            let Some(mut d) = w.deployments.get(&key).cloned() else {
                return status(
                    404,
                    "NotFound",
                    &format!("deployments.apps \"{name}\" not found"),
                );
            };
            let scale = rest == ["scale"];
            if !rest.is_empty() && !scale {
                return status(404, "NotFound", "no such subresource");
            }
            match method {
                Method::GET if scale => ok(scale_of(&d)),
                Method::GET => ok(d),
                Method::PATCH => {
                    let Some(p) = patch else {
                        return status(400, "BadRequest", "the patch is not JSON");
                    };
                    let strategic = content_type.contains("strategic-merge-patch");
                    if !strategic && !content_type.contains("merge-patch") {
                        return status(
                            415,
                            "UnsupportedMediaType",
                            &format!("patch type {content_type}"),
                        );
                    }
                    let before = d["spec"].clone();
                    if scale {
                        if let Some(r) = p["spec"]["replicas"].as_i64() {
                            d["spec"]["replicas"] = json!(r);
                        }
                    } else {
                        merge(&mut d, &p, strategic);
                    }
                    if d["spec"] != before {
                        bump_generation(&mut d);
                    }
                    stamp(&mut w, &mut d);
                    w.deployments.insert(key, d);
                    reconcile(&mut w, ns, name);
                    let stored = w.deployments[&((*ns).to_owned(), (*name).to_owned())].clone();
                    w.written.push(stored.clone());
                    ok(if scale { scale_of(&stored) } else { stored })
                }
                Method::PUT if !scale => {
                    let Some(mut new) = patch else {
                        return status(400, "BadRequest", "the body is not JSON");
                    };
                    let injected = w.conflicts > 0;
                    if injected {
                        w.conflicts -= 1;
                        w.conflicted += 1;
                    }
                    if injected
                        || new["metadata"]["resourceVersion"] != d["metadata"]["resourceVersion"]
                    {
                        return status(
                            409,
                            "Conflict",
                            &format!(
                                "Operation cannot be fulfilled on deployments.apps \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
                            ),
                        );
                    }
                    if new["spec"] != d["spec"] {
                        new["metadata"]["generation"] = d["metadata"]["generation"].clone();
                        bump_generation(&mut new);
                    }
                    new["status"] = d["status"].clone();
                    stamp(&mut w, &mut new);
                    w.deployments.insert(key.clone(), new);
                    reconcile(&mut w, ns, name);
                    let stored = w.deployments[&key].clone();
                    w.written.push(stored.clone());
                    ok(stored)
                }
                _ => status(405, "MethodNotAllowed", "method not allowed"),
            }
        }
        ["apis", "apps", "v1", "namespaces", ns, "replicasets"] if method == Method::GET => {
            let selector: Vec<(String, String)> = query
                .split('&')
                .filter_map(|kv| kv.strip_prefix("labelSelector="))
                .flat_map(|s| {
                    let s = s.replace("%3D", "=").replace("%2C", ",");
                    s.split(',')
                        .filter_map(|p| {
                            p.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned()))
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
            let items = w
                .replica_sets
                .iter()
                .filter(|rs| rs["metadata"]["namespace"] == *ns)
                .filter(|rs| {
                    selector
                        .iter()
                        .all(|(k, v)| rs["metadata"]["labels"][k] == v.as_str())
                })
                .cloned()
                .collect();
            ok(list("ReplicaSet", items))
        }
        [
            "apis",
            "autoscaling",
            "v2",
            "namespaces",
            ns,
            "horizontalpodautoscalers",
        ] if method == Method::GET => {
            let items = w
                .hpas
                .iter()
                .filter(|((n, _), _)| n == ns)
                .map(|(_, h)| h.clone())
                .collect();
            ok(list("HorizontalPodAutoscaler", items))
        }
        [
            "apis",
            "autoscaling",
            "v2",
            "namespaces",
            ns,
            "horizontalpodautoscalers",
            name,
        ] => {
            let key = ((*ns).to_owned(), (*name).to_owned());
            let Some(mut h) = w.hpas.get(&key).cloned() else {
                return status(
                    404,
                    "NotFound",
                    &format!("horizontalpodautoscalers.autoscaling \"{name}\" not found"),
                );
            };
            match (method, patch) {
                (Method::GET, _) => ok(h),
                (Method::PATCH, Some(p)) if content_type.contains("merge-patch") => {
                    merge(&mut h, &p, false);
                    let min = h["spec"]["minReplicas"].as_i64().unwrap_or(1);
                    let max = h["spec"]["maxReplicas"].as_i64().unwrap_or(0);
                    if min < 1 || max < min {
                        return status(
                            422,
                            "Invalid",
                            &format!(
                                "HorizontalPodAutoscaler.autoscaling \"{name}\" is invalid: minReplicas {min}, maxReplicas {max}"
                            ),
                        );
                    }
                    stamp(&mut w, &mut h);
                    w.hpas.insert(key, h.clone());
                    w.written.push(h.clone());
                    let target = h["spec"]["scaleTargetRef"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    reconcile(&mut w, ns, &target);
                    ok(h)
                }
                _ => status(405, "MethodNotAllowed", "method not allowed"),
            }
        }
        _ => status(
            404,
            "NotFound",
            &format!(
                "the server could not find the requested resource ({})",
                uri.path()
            ),
        ),
    }
}

/// A self-signed CA certificate (PEM) for the Container API's `masterAuth`: the client parses
/// it as GKE's, though the stand-in answers over plain HTTP. Made once by `openssl`.
pub fn test_ca_pem() -> String {
    static PEM: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PEM.get_or_init(|| {
        let dir = std::env::temp_dir().join(crate::unique("kube-ca"));
        std::fs::create_dir_all(&dir).expect("ca dir");
        let out = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=kube-test-ca",
            ])
            .arg("-keyout")
            .arg(dir.join("key.pem"))
            .arg("-out")
            .arg(dir.join("ca.pem"))
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pem = std::fs::read_to_string(dir.join("ca.pem")).expect("ca.pem");
        let _ = std::fs::remove_dir_all(&dir);
        pem
    })
    .clone()
}

/// Checks `objects` against the Kubernetes schemas with the `kubernetes-models` validators
/// (`tests/node`, installed by `scripts/test.sh`); panics naming every invalid one.
pub async fn validate(objects: &[Value]) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/node");
    assert!(
        dir.join("node_modules/kubernetes-models").is_dir(),
        "the Kubernetes schema validators are not installed: scripts/test.sh runs `npm ci --prefix tests/node`"
    );
    let mut child = tokio::process::Command::new("node")
        .arg(dir.join("validate_k8s.mjs"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node");
    let input = serde_json::to_vec(objects).expect("json");
    if let Some(mut stdin) = child.stdin.take() {
        use tokio::io::AsyncWriteExt;
        stdin.write_all(&input).await.expect("write objects");
    }
    let out = child.wait_with_output().await.expect("node ran");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "objects the API server stored fail the Kubernetes schemas:\n{text}"
    );
}
