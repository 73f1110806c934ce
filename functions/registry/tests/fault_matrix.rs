//! The fault matrix: each function's main scenario on the local backend, with its N-th
//! provider-changing call failed, for every N, once transient, once permanent, and once applied
//! with its answer lost; then the event redelivered and the schedule run. Every cell checks
//! that what the report and the exit code say is what the provider shows, that a transient
//! fault ends where the run without faults ends, that a permanent one reports nothing done that
//! is not and can be undone (where the function has an undo), and that no effect was applied
//! twice. The matrix is printed (functions × effects × fault kinds).
#![allow(clippy::unwrap_used)]

#[path = "../../../tests/support/common.rs"]
mod common;

use std::collections::BTreeMap;

use futures_util::StreamExt;
use std::path::Path;
use std::sync::Arc;

use chrono::Utc;
use common::config;
use twincloud_core::Secret;
use twincloud_core::config::Metric;
use twincloud_core::planner::budget::{BudgetRef, Reading};
use twincloud_core::ports::Database;
use twincloud_core::ports::{BillingLink, Compute, Retry, Traffic, get_json};
use twincloud_http::{OciRegistries, StaticLogin};
use twincloud_local::{LocalBilling, LocalCompute, LocalDatabase, LocalMetrics, LocalStateStore};
use twincloud_runtime::effects::{EffectFaults, InjectedFault};
use twincloud_runtime::{Clouds, Function, Invoker, Outcome, Report, RunError, Services};

const ACCOUNT: &str = "123456789012";

/// The scenarios: one per function that acts on a provider.
#[derive(Debug, Clone, Copy)]
enum Scenario {
    /// An alarm becomes a message on a channel.
    Notifier,
    /// A hot service is scaled out, and the change reported.
    Scaling,
    /// An alert past every step of a ladder: cap, standby to zero, stop, detach billing.
    BudgetGuard,
    /// A nightly snapshot, and the old ones pruned.
    Backup,
    /// The primary is down: the standby is scaled up and ready, traffic switched, reported.
    Failover,
    /// A digest deployed on two sides: mirrored to the second one's repository, a new
    /// revision on each, its traffic moved and checked, reported.
    Deploy,
}

const SCENARIOS: [Scenario; 6] = [
    Scenario::Notifier,
    Scenario::Scaling,
    Scenario::BudgetGuard,
    Scenario::Backup,
    Scenario::Failover,
    Scenario::Deploy,
];

/// The deploy scenario's registry, health endpoint and image (started once by the test).
struct DeployWorld {
    registry: String,
    health: String,
    image: String,
}

static DEPLOY: std::sync::OnceLock<DeployWorld> = std::sync::OnceLock::new();

fn deploy_toml() -> String {
    let w = DEPLOY.get().expect("the registry runs");
    format!(
        r#"
[[deploy.targets]]
name = "app"
tags = ["v*"]
bake_secs = 0
order = "listed"

[[deploy.targets.sides]]
image = "{r}/app"
compute = "local"
service = "app-a"
step_pause_secs = 0
health = ["{h}/a"]

[[deploy.targets.sides]]
image = "{r}/mirror"
compute = "local"
service = "app-b"
step_pause_secs = 0
health = ["{h}/b"]
"#,
        r = w.registry,
        h = w.health
    )
}

/// The failover standby: one healthy stand-in app for the whole test run.
static STANDBY: std::sync::OnceLock<String> = std::sync::OnceLock::new();

async fn start_standby() {
    if STANDBY.get().is_none() {
        let app = twincloud_local::StandInApp::start().await.unwrap();
        let _ = STANDBY.set(app.url());
        // Serves for as long as the test runs.
        std::mem::forget(app);
    }
}

/// The primary refuses connections (nothing listens on port 9); one failed round is enough.
fn failover_toml() -> String {
    format!(
        r#"
[failover]
record = "api.aion.example."
threshold = 1
recovery_threshold = 2
hold_down_secs = 3600
cooldown_secs = 0
probe_interval_secs = 1
probe_window_secs = 1
probe_timeout_ms = 500
failback = "manual"

[[failover.endpoints]]
name = "GCP Cloud Run"
cloud = "gcp"
primary = true
url = "http://127.0.0.1:9"
dns_target = "g.run.app."
compute = "local"
service = "backend-gcp"
active_size = 2
standby_size = 0

[[failover.endpoints]]
name = "AWS Fargate"
cloud = "aws"
url = "{}"
dns_target = "a.elb.amazonaws.com."
compute = "local"
service = "backend-aws"
active_size = 2
standby_size = 0
"#,
        STANDBY.get().expect("the standby runs")
    )
}

const BACKUP: &str = r#"
[[backup.sets]]
name = "nightly"
engine = "local"
databases = ["aion-db"]
keep_min = 1
"#;

const OUTBOX: &str = "[[notify.channels]]\nname = \"outbox\"\ntype = \"outbox\"\n\n";

const SCALING: &str = r#"
[[scaling.services]]
name = "api"
compute = "local"
service = "api"
min = 2
max = 20
targets = { cpu = 70 }
cooldown_out_secs = 0
cooldown_in_secs = 1
stabilization_secs = 1
max_step = 8
"#;

const BUDGET: &str = r#"
[failover]
record = "api.aion.example."

[[failover.endpoints]]
name = "GCP Cloud Run"
cloud = "gcp"
primary = true
url = "http://127.0.0.1:9"
dns_target = "g."
compute = "local"
service = "backend-gcp"

[[failover.endpoints]]
name = "AWS Fargate"
cloud = "aws"
url = "http://127.0.0.1:9"
dns_target = "a."
compute = "local"
service = "backend-aws"

[[scaling.services]]
name = "backend"
compute = "local"
service = "backend-gcp"
endpoint = "GCP Cloud Run"
min = 1
max = 10

[[scaling.services]]
name = "worker"
compute = "local"
service = "worker"
min = 0
scale_to_zero = true
max = 5

[[budget.guards]]
name = "monthly"
aws_account = "123456789012"
aws_budget = "aion-monthly"

[[budget.guards.steps]]
at = 0.8
action = "cap"
service = "backend"
max = 2
mode = "enforce"

[[budget.guards.steps]]
at = 1.0
action = "standby-to-zero"
mode = "enforce"

[[budget.guards.steps]]
at = 1.0
action = "stop"
services = ["worker"]
mode = "enforce"

[[budget.guards.steps]]
at = 1.5
action = "detach-billing"
project = "aion-sandbox"
enable_detach = "aion-sandbox"
mode = "enforce"
"#;

fn budget_alert(id: &str) -> Vec<u8> {
    let message = "AWS Budget Notification December 03, 2026\nAWS Account 123456789012\n\nBudget Name: aion-monthly\nBudget Type: Cost\nBudgeted Amount: $10.00\nAlert Type: ACTUAL\nAlert Threshold: > $8.00\nACTUAL Amount: $16.00\n";
    serde_json::json!({"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0",
        "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:budgets:1",
        "Sns": {"Type": "Notification", "MessageId": id, "TopicArn": "arn:aws:sns:us-east-1:123456789012:budgets",
                "Subject": "AWS Budgets: alert", "Message": message, "Timestamp": "2026-12-03T12:00:00.000Z",
                "SignatureVersion": "1", "Signature": "x", "SigningCertUrl": "https://sns.example/x.pem",
                "UnsubscribeUrl": "https://sns.example/u", "MessageAttributes": {}}}]})
    .to_string()
    .into_bytes()
}

/// The backup scenario's schedule time: fixed for the whole test run.
fn night() -> chrono::DateTime<Utc> {
    static AT: std::sync::OnceLock<chrono::DateTime<Utc>> = std::sync::OnceLock::new();
    *AT.get_or_init(|| Utc::now() - chrono::Duration::minutes(1))
}

fn schedule(name: &str, id: &str) -> Vec<u8> {
    serde_json::json!({"twincloud": "schedule", "name": name, "id": id})
        .to_string()
        .into_bytes()
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Notifier => "notifier",
            Scenario::Scaling => "scaling",
            Scenario::BudgetGuard => "budget-guard",
            Scenario::Backup => "backup",
            Scenario::Failover => "failover",
            Scenario::Deploy => "deploy",
        }
    }

    fn function(self) -> Box<dyn Function> {
        twincloud_functions::by_name(self.name()).unwrap().build()
    }

    fn toml(self) -> String {
        match self {
            Scenario::Notifier => OUTBOX.into(),
            Scenario::Scaling => format!("{OUTBOX}{SCALING}"),
            Scenario::BudgetGuard => format!("{OUTBOX}{BUDGET}"),
            Scenario::Backup => format!("{OUTBOX}{BACKUP}"),
            Scenario::Failover => format!("{OUTBOX}{}", failover_toml()),
            Scenario::Deploy => format!("{OUTBOX}{}", deploy_toml()),
        }
    }

    /// The provider as it is before the event.
    async fn seed(self, dir: &Path) {
        let compute = LocalCompute::new(dir);
        match self {
            Scenario::Notifier => {}
            Scenario::Deploy => {
                let releases = twincloud_local::LocalDeployer::new(dir);
                for svc in ["app-a", "app-b"] {
                    releases
                        .create_service(svc, &format!("{svc}-00001"), "old@sha256:0")
                        .await
                        .unwrap();
                }
            }
            Scenario::Failover => {
                compute
                    .create_service("backend-gcp", 2, Some(10))
                    .await
                    .unwrap();
                compute
                    .create_service("backend-aws", 0, Some(10))
                    .await
                    .unwrap();
                twincloud_local::LocalTraffic::new(dir)
                    .switch("api.aion.example.", "g.run.app.")
                    .await
                    .unwrap();
            }
            Scenario::Backup => {
                let dbs = LocalDatabase::new(dir);
                dbs.create_database("aion-db", &[]).await.unwrap();
                for (id, days) in [("aion-db-old-40", 40), ("aion-db-old-35", 35)] {
                    dbs.add_managed_snapshot(
                        "aion-db",
                        id,
                        Utc::now() - chrono::Duration::days(days),
                    )
                    .await
                    .unwrap();
                }
            }
            Scenario::Scaling => {
                compute.create_service("api", 2, Some(50)).await.unwrap();
                LocalMetrics::new(dir)
                    .set("api", &[(Metric::Cpu, 140.0)])
                    .await
                    .unwrap();
            }
            Scenario::BudgetGuard => {
                for (svc, n) in [("backend-gcp", 6), ("backend-aws", 2), ("worker", 3)] {
                    compute.create_service(svc, n, Some(10)).await.unwrap();
                }
                let billing = LocalBilling::new(dir);
                billing
                    .set_account("aion-sandbox", Some("billingAccounts/01D4EE"))
                    .await
                    .unwrap();
                billing
                    .set_budget(
                        &BudgetRef::Aws {
                            account: ACCOUNT.into(),
                            name: "aion-monthly".into(),
                        },
                        &Reading {
                            limit: 10.0,
                            actual: Some(16.0),
                            forecast: Some(18.0),
                            period_start: "2026-12-01".into(),
                        },
                    )
                    .await
                    .unwrap();
            }
        }
    }

    /// The event of the scenario.
    fn event(self) -> Vec<u8> {
        match self {
            Scenario::Notifier => common::fixture("aws/eventbridge-alarm-state-change.json"),
            Scenario::Scaling => schedule("scaling", "tick-1"),
            Scenario::Failover => schedule("failover-probe", "probe-1"),
            Scenario::Deploy => serde_json::json!({"twincloud": "command", "command": "deploy",
                "id": "deploy-1", "args": {"image": DEPLOY.get().unwrap().image, "to": "both"}})
            .to_string()
            .into_bytes(),
            Scenario::BudgetGuard => budget_alert("alert-1"),
            // One schedule time for every delivery of the event (it names the snapshot).
            Scenario::Backup => twincloud_testkit::fixtures::schedule(
                "nightly-1",
                "nightly",
                &night().to_rfc3339(),
                serde_json::json!({}),
            ),
        }
    }

    /// The schedule run after the redelivery, if the function has one.
    fn schedule(self) -> Option<Vec<u8>> {
        match self {
            Scenario::Notifier => None,
            // The next night's run.
            Scenario::Backup => Some(twincloud_testkit::fixtures::schedule(
                "nightly-2",
                "nightly",
                &(night() + chrono::Duration::days(1)).to_rfc3339(),
                serde_json::json!({}),
            )),
            Scenario::Scaling => Some(schedule("scaling", "tick-2")),
            Scenario::Failover => Some(schedule("failover-probe", "probe-2")),
            Scenario::Deploy => Some(schedule("deploy", "tick-2")),
            Scenario::BudgetGuard => Some(schedule("budget-guard", "daily-1")),
        }
    }

    /// Whether a permanent failure undoes everything the event did (a rollout rolls back).
    fn rolls_back(self) -> bool {
        matches!(self, Scenario::Deploy)
    }

    /// The undo, if the function has one.
    fn undo(self) -> Option<Vec<u8>> {
        match self {
            Scenario::BudgetGuard => Some(
                serde_json::json!({"twincloud": "command", "command": "budget-restore",
                    "id": "restore-1", "args": {"guard": "monthly"}})
                .to_string()
                .into_bytes(),
            ),
            _ => None,
        }
    }

    /// What the provider (the simulation) shows: services, holds, billing, messages.
    async fn observe(self, dir: &Path) -> serde_json::Value {
        let compute = LocalCompute::new(dir);
        let state = LocalStateStore::new(dir);
        let mut titles: Vec<String> = twincloud_testkit::fs::outbox(dir)
            .iter()
            .filter_map(|m| m["title"].as_str().map(str::to_owned))
            // A message whose answer was lost is sent again: channels are at least once.
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        titles.sort();
        let desired = |s: &'static str| {
            let c = &compute;
            async move { c.scale(s).await.unwrap().desired }
        };
        match self {
            Scenario::Notifier => serde_json::json!({ "messages": titles }),
            Scenario::Backup => {
                let snapshots: Vec<String> = LocalDatabase::new(dir)
                    .list_snapshots("aion-db")
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|s| format!("{:?}", s.status))
                    .collect();
                serde_json::json!({ "snapshots": snapshots, "messages": titles })
            }
            Scenario::Scaling => {
                serde_json::json!({ "api": desired("api").await, "messages": titles })
            }
            Scenario::Deploy => {
                let releases = twincloud_local::LocalDeployer::new(dir);
                serde_json::json!({
                    "app-a": releases.serving_image("app-a").await.unwrap(),
                    "app-b": releases.serving_image("app-b").await.unwrap(),
                    "messages": titles,
                })
            }
            Scenario::Failover => {
                let dns = twincloud_local::LocalTraffic::new(dir)
                    .current_target("api.aion.example.")
                    .await
                    .unwrap();
                let active = get_json::<serde_json::Value>(&state, "failover/state")
                    .await
                    .unwrap()
                    .map(|(v, _)| v["active"].clone());
                serde_json::json!({
                    "dns": dns,
                    "active": active,
                    "backend-aws": desired("backend-aws").await,
                    "messages": titles,
                })
            }
            Scenario::BudgetGuard => {
                let cap = |k: &'static str| {
                    let s = &state;
                    async move {
                        // What the hold is, not when it was set (runs differ in time).
                        get_json::<serde_json::Value>(s, k)
                            .await
                            .unwrap()
                            .map(|(v, _)| serde_json::json!([v["max"], v["kind"], v["set_by"]]))
                    }
                };
                serde_json::json!({
                    "backend-gcp": desired("backend-gcp").await,
                    "backend-aws": desired("backend-aws").await,
                    "worker": desired("worker").await,
                    "cap backend": cap("holds/service/backend").await,
                    "cap worker": cap("holds/service/worker").await,
                    "standby hold": cap("holds/standby").await,
                    "billing": LocalBilling::new(dir).account("aion-sandbox").await.unwrap(),
                    "messages": titles,
                })
            }
        }
    }
}

/// One run of the scenario in a fresh directory.
struct Run {
    dir: tempfile::TempDir,
    inv: Invoker,
    faults: Arc<EffectFaults>,
}

impl Run {
    async fn new(s: Scenario, faults: Arc<EffectFaults>) -> Run {
        let dir = tempfile::tempdir().unwrap();
        s.seed(dir.path()).await;
        let spec = twincloud_functions::by_name(s.name()).unwrap();
        let mut services = Services::build_for(
            spec.wiring,
            config(dir.path(), &s.toml()),
            &Clouds::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        services.effect_faults = Some(faults.clone());
        if let Scenario::Deploy = s {
            let login = StaticLogin::from_pair(&Secret::new("ci:pw")).unwrap();
            services.registries = Some(Arc::new(
                OciRegistries::new()
                    .unwrap()
                    .with_login(&DEPLOY.get().unwrap().registry, Arc::new(login)),
            ));
        }
        Run {
            inv: Invoker::new(s.function(), services, false),
            dir,
            faults,
        }
    }

    async fn send(&self, bytes: &[u8]) -> Result<Report, RunError> {
        self.inv.handle_json(bytes).await
    }
}

fn exit(r: &Result<Report, RunError>) -> i32 {
    match r {
        Ok(report) => report.exit_code(),
        Err(e) => e.exit_code(),
    }
}

/// Done effects of a report, by id.
fn done(r: &Result<Report, RunError>) -> Vec<String> {
    r.iter()
        .flat_map(|r| r.executions())
        .flat_map(|e| e.actions.iter())
        .filter(|a| matches!(a.outcome, Outcome::Done { .. }))
        .map(|a| a.id.clone())
        .collect()
}

/// Whether the last outcome of effect `id` in the run is done.
fn last_done(r: &Result<Report, RunError>, id: &str) -> bool {
    r.iter()
        .flat_map(|r| r.executions())
        .flat_map(|e| e.actions.iter())
        .filter(|a| a.id == id)
        .last()
        .is_some_and(|a| a.outcome.succeeded())
}

/// The failures the run did not make good later.
fn failed_standing(r: &Result<Report, RunError>) -> Vec<String> {
    r.as_ref().map(Report::failures).unwrap_or_default()
}

fn failed(r: &Result<Report, RunError>) -> Vec<(String, Retry)> {
    r.iter()
        .flat_map(|r| r.executions())
        .flat_map(|e| e.actions.iter())
        .filter_map(|a| match &a.outcome {
            Outcome::Failed { retry, .. } => Some((a.id.clone(), *retry)),
            _ => None,
        })
        .collect()
}

/// The scenario without faults: its end state, its number of calls, and the effects in order.
async fn baseline(s: Scenario) -> (serde_json::Value, serde_json::Value, Vec<String>) {
    let run = Run::new(s, EffectFaults::counting()).await;
    let before = s.observe(run.dir.path()).await;
    let r = run.send(&s.event()).await;
    assert_eq!(exit(&r), 0, "{}: {:?}", s.name(), r.map(|r| r.to_text()));
    // The cells fail the calls of the event itself.
    let calls: Vec<String> = run.faults.log().into_iter().map(|c| c.effect).collect();
    let r2 = run.send(&s.event()).await;
    assert_eq!(exit(&r2), 0, "{}: the redelivery", s.name());
    if let Some(tick) = s.schedule() {
        assert_eq!(
            exit(&run.send(&tick).await),
            0,
            "{}: the schedule",
            s.name()
        );
    }
    let end = s.observe(run.dir.path()).await;
    assert_ne!(
        before,
        end,
        "{}: the scenario changes nothing: the matrix would prove nothing",
        s.name()
    );
    (before, end, calls)
}

/// One cell: the `n`-th call gets `fault`. Returns what went wrong, if anything.
async fn cell(
    s: Scenario,
    n: usize,
    fault: InjectedFault,
    before: &serde_json::Value,
    want: &serde_json::Value,
) -> Result<(), String> {
    let run = Run::new(s, EffectFaults::nth(n, fault)).await;
    let first = run.send(&s.event()).await;
    let log = run.faults.log();
    let faulted = log
        .iter()
        .find(|c| c.fault.is_some())
        .ok_or_else(|| format!("call {n} was never made"))?
        .effect
        .clone();
    let effect = faulted.rsplit('/').next().unwrap_or_default().to_owned();
    // What is said is what happened: the faulted effect is reported failed, with its class,
    // and the exit code follows.
    let said = failed(&first);
    let class = match fault {
        InjectedFault::Permanent => Retry::Permanent,
        _ => Retry::Transient,
    };
    // A change whose answer was lost may be read back from the provider (the executor asks it
    // after a transient failure): then it is done, and it was applied (checked below).
    let read_back = fault == InjectedFault::LostAnswer && said.is_empty();
    if !read_back && !said.iter().any(|(id, r)| *id == effect && *r == class) {
        return Err(format!(
            "the faulted `{effect}` is not reported as failed {class:?}: {said:?}"
        ));
    }
    // A function that sits through a transient failure (a rollout waits and tries again) may
    // make the effect good in the same run: then its last outcome is done, and the run's exit
    // code says so.
    let made_good = last_done(&first, &effect);
    if !read_back && made_good && class == Retry::Permanent {
        return Err(format!("`{effect}` failed for good and is reported done"));
    }
    let want_exit = match class {
        _ if made_good && failed_standing(&first).is_empty() => 0,
        Retry::Transient => 75,
        Retry::Permanent => 1,
    };
    if exit(&first) != want_exit {
        return Err(format!(
            "exit {} after the fault, not {want_exit}",
            exit(&first)
        ));
    }
    // Every call reported done was applied.
    let applied: Vec<String> = log
        .iter()
        .filter(|c| c.applied)
        .map(|c| c.effect.rsplit('/').next().unwrap_or_default().to_owned())
        .collect();
    for id in done(&first) {
        if !applied.contains(&id) {
            return Err(format!("`{id}` is reported done, and no call applied it"));
        }
    }
    // The redelivery and the schedule finish the work.
    let again = run.send(&s.event()).await;
    let again_text = again
        .as_ref()
        .map_or_else(|e| e.to_string(), |r| r.to_text());
    if exit(&again) != 0 {
        return Err(format!(
            "the redelivery exits {}: {}",
            exit(&again),
            again.map_or_else(|e| e.to_string(), |r| r.to_text())
        ));
    }
    if let Some(tick) = s.schedule() {
        let t = run.send(&tick).await;
        if exit(&t) != 0 {
            return Err(format!("the schedule exits {}", exit(&t)));
        }
    }
    let end = s.observe(run.dir.path()).await;
    // The provider ends where the run without faults ended; every message that run sent was
    // sent (a failure adds its own).
    let (mut end_state, mut want_state) = (end.clone(), want.clone());
    let sent = end_state
        .as_object_mut()
        .and_then(|o| o.remove("messages"))
        .unwrap_or_default();
    let wanted = want_state
        .as_object_mut()
        .and_then(|o| o.remove("messages"))
        .unwrap_or_default();
    // A permanent failure of a rollout rolls every side back: the state before the event.
    let rolled_back = {
        let mut b = before.clone();
        if let Some(o) = b.as_object_mut() {
            o.remove("messages");
        }
        s.rolls_back() && fault == InjectedFault::Permanent && end_state == b
    };
    if end_state != want_state && !rolled_back {
        return Err(format!(
            "ends at {end}, the run without faults at {want}; the redelivery said:\n{again_text}"
        ));
    }
    for m in wanted
        .as_array()
        .into_iter()
        .flatten()
        .filter(|_| !rolled_back)
    {
        if !sent.as_array().is_some_and(|s| s.contains(m)) {
            return Err(format!(
                "the message {m} was never sent; sent: {sent}; the redelivery said:\n{again_text}"
            ));
        }
    }
    // No effect was applied twice (the one whose answer was lost is applied again by its retry:
    // the same change, stated idempotently, which the end state shows once).
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for c in run.faults.log().iter().filter(|c| c.applied) {
        *counts.entry(c.effect.clone()).or_default() += 1;
    }
    for (e, k) in counts {
        let allowed = if fault == InjectedFault::LostAnswer && e == faulted {
            2
        } else {
            1
        };
        if k > allowed {
            return Err(format!("`{e}` was applied {k} times"));
        }
    }
    // An undo puts back everything that was done.
    if let Some(undo) = s.undo() {
        let u = run.send(&undo).await;
        if exit(&u) != 0 {
            return Err(format!("the undo exits {}", exit(&u)));
        }
        let after = s.observe(run.dir.path()).await;
        let mut back = before.clone();
        // The holds of a stopped or capped service are removed; messages stay sent.
        let mut after = after;
        for v in [&mut back, &mut after] {
            if let Some(o) = v.as_object_mut() {
                o.remove("messages");
            }
        }
        if after != back {
            return Err(format!("after the undo: {after}, before the event: {back}"));
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_effect_of_every_function_survives_every_fault() {
    let mut table = String::from(
        "function      effect                                     transient  permanent  lost answer\n",
    );
    let mut failures = vec![];
    let mut cells = 0;
    start_standby().await;
    // The deploy scenario's registry and health endpoint live as long as the test.
    let registry = twincloud_testkit::registry::Registry::start("ci", "pw").await;
    let health = twincloud_testkit::CaptureServer::start().await;
    let digest = registry
        .push_image(
            "app",
            "v1",
            &[twincloud_testkit::registry::noise(4096, 1)],
            "amd64",
        )
        .await;
    let _ = DEPLOY.set(DeployWorld {
        registry: registry.host.clone(),
        health: health.url(),
        image: format!("{}/app@{digest}", registry.host),
    });
    for s in SCENARIOS {
        let (before, want, calls) = baseline(s).await;
        // The cells of a scenario run side by side (each in its own directory): a rollout's
        // cells mostly wait out its 10-second look again.
        let runs = calls.iter().enumerate().flat_map(|(i, _)| {
            InjectedFault::ALL.map(|fault| {
                let (before, want) = (&before, &want);
                async move { (i, fault, cell(s, i + 1, fault, before, want).await) }
            })
        });
        let results: Vec<_> = futures_util::stream::iter(runs).buffered(6).collect().await;
        for (i, call) in calls.iter().enumerate() {
            let n = i + 1;
            let mut row = format!(
                "{:<13} {:<42}",
                s.name(),
                twincloud_core::text::clip(call.rsplit('/').next().unwrap_or_default(), 42)
            );
            for (_, fault, r) in results.iter().filter(|(j, _, _)| *j == i) {
                cells += 1;
                row.push_str(&format!(" {:<10}", if r.is_ok() { "pass" } else { "FAIL" }));
                if let Err(why) = r {
                    failures.push(format!(
                        "{} call {n} ({call}), {}: {why}",
                        s.name(),
                        fault.name()
                    ));
                }
            }
            table.push_str(&row);
            table.push('\n');
        }
    }
    println!("{table}{} cells, {} passed", cells, cells - failures.len());
    assert!(
        failures.is_empty(),
        "{table}\n{} of {cells} cells failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A budget step whose change was applied with its answer lost is taken up by another alert
/// (not a redelivery of the same one): the undo still puts back what was there before the
/// first attempt, read from that attempt's journal, not what the provider showed after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unfinished_step_taken_up_by_another_event_undoes_to_the_first_before_state() {
    let run = Run::new(
        Scenario::BudgetGuard,
        EffectFaults::on_effect("s0-desired-backend", InjectedFault::LostAnswer, 1),
    )
    .await;
    let compute = LocalCompute::new(run.dir.path());
    let first = run.send(&budget_alert("alert-1")).await;
    assert_eq!(exit(&first), 75, "{:?}", first.map(|r| r.to_text()));
    // The change landed; its answer did not.
    assert_eq!(compute.scale("backend-gcp").await.unwrap().desired, 2);
    let second = run.send(&budget_alert("alert-2")).await;
    assert_eq!(exit(&second), 0, "{:?}", second.map(|r| r.to_text()));
    let undo = Scenario::BudgetGuard.undo().unwrap();
    let u = run.send(&undo).await;
    assert_eq!(exit(&u), 0, "{:?}", u.map(|r| r.to_text()));
    assert_eq!(
        compute.scale("backend-gcp").await.unwrap().desired,
        6,
        "back to what it ran before the first attempt"
    );
}
