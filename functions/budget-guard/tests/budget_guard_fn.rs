//! The budget guard on the local backend: simulated budgets (what the provider reports),
//! services and a billing link, the failover record read from the state store, real files.
#![allow(clippy::unwrap_used)]

#[path = "../../../tests/support/common.rs"]
mod common;

use base64::Engine;
use common::{config, invoker};
use twincloud_budget_guard::BudgetGuardFn;
use twincloud_core::planner::budget::{BudgetRef, Reading};
use twincloud_core::ports::{BillingLink, Compute};
use twincloud_local::{LocalBilling, LocalCompute};
use twincloud_runtime::Invoker;

const ACCOUNT: &str = "123456789012";

fn toml(cap_mode: &str) -> String {
    format!(
        r#"[[notify.channels]]
name = "outbox"
type = "outbox"

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
aws_account = "{ACCOUNT}"
aws_budget = "aion-monthly"
gcp_billing_account = "01D4EE-079462-DFD6EC"
gcp_budget_id = "de72"

[[budget.guards.steps]]
at = 0.5
action = "notify"

[[budget.guards.steps]]
at = 0.8
action = "cap"
service = "backend"
max = 2
{cap_mode}

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
"#
    )
}

struct World {
    dir: tempfile::TempDir,
    compute: LocalCompute,
    billing: LocalBilling,
    inv: Invoker,
}

fn aws_ref() -> BudgetRef {
    BudgetRef::Aws {
        account: ACCOUNT.into(),
        name: "aion-monthly".into(),
    }
}

async fn world(cap_mode: &str) -> World {
    let dir = tempfile::tempdir().unwrap();
    let compute = LocalCompute::new(dir.path());
    for (svc, n) in [("backend-gcp", 6), ("backend-aws", 2), ("worker", 3)] {
        compute.create_service(svc, n, Some(10)).await.unwrap();
    }
    let billing = LocalBilling::new(dir.path());
    billing
        .set_account("aion-sandbox", Some("billingAccounts/01D4EE-079462-DFD6EC"))
        .await
        .unwrap();
    let inv = invoker(
        &twincloud_budget_guard::SPEC,
        config(dir.path(), &toml(cap_mode)),
        false,
    )
    .await;
    World {
        dir,
        compute,
        billing,
        inv,
    }
}

impl World {
    /// What AWS Budgets reports.
    async fn provider(&self, actual: f64, period: &str) {
        self.billing
            .set_budget(
                &aws_ref(),
                &Reading {
                    limit: 10.0,
                    actual: Some(actual),
                    forecast: Some(actual * 1.2),
                    period_start: period.into(),
                },
            )
            .await
            .unwrap();
    }

    async fn desired(&self, svc: &str) -> u32 {
        self.compute.scale(svc).await.unwrap().desired
    }

    async fn alert(
        &self,
        id: &str,
        account: &str,
        budget: &str,
        actual: f64,
        limit: f64,
    ) -> String {
        let message = format!(
            "AWS Budget Notification December 03, 2026\nAWS Account {account}\n\nDear AWS Customer,\n\nBudget Name: {budget}\nBudget Type: Cost\nBudgeted Amount: ${limit:.2}\nAlert Type: ACTUAL\nAlert Threshold: > ${:.2}\nACTUAL Amount: ${actual:.2}\n",
            limit * 0.8
        );
        let ev = serde_json::json!({"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0",
            "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:budgets:1",
            "Sns": {"Type": "Notification", "MessageId": id, "TopicArn": "arn:aws:sns:us-east-1:123456789012:budgets",
                    "Subject": "AWS Budgets: alert", "Message": message, "Timestamp": "2026-12-03T12:00:00.000Z",
                    "SignatureVersion": "1", "Signature": "x", "SigningCertUrl": "https://sns.example/x.pem",
                    "UnsubscribeUrl": "https://sns.example/u", "MessageAttributes": {}}}]});
        self.inv
            .handle_json(ev.to_string().as_bytes())
            .await
            .unwrap()
            .notes_text()
    }

    async fn tick(&self, id: &str) -> String {
        let ev = serde_json::json!({"twincloud": "schedule", "name": "budget-guard", "id": id});
        self.inv
            .handle_json(ev.to_string().as_bytes())
            .await
            .unwrap()
            .notes_text()
    }

    fn messages(&self) -> String {
        twincloud_testkit::fs::outbox(self.dir.path())
            .iter()
            .map(|m| m.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }

    async fn cap(&self) -> Option<serde_json::Value> {
        let store = twincloud_local::LocalStateStore::new(self.dir.path());
        twincloud_core::ports::get_json::<serde_json::Value>(&store, "holds/service/backend")
            .await
            .unwrap()
            .map(|(v, _)| v)
    }
}

#[tokio::test]
async fn another_budget_or_an_unconfirmed_message_changes_nothing() {
    let w = world("mode = \"enforce\"").await;
    w.provider(3.0, "2026-12-01").await;
    let n = w
        .alert("m1", "999999999999", "aion-monthly", 95.0, 100.0)
        .await;
    assert!(n.contains("is no guard's budget"), "{n}");
    let n = w.alert("m2", ACCOUNT, "other", 95.0, 100.0).await;
    assert!(n.contains("is no guard's budget"), "{n}");
    // Forged: the message says 95 of 100, AWS says 3 of 10. Nothing is due.
    let n = w.alert("m3", ACCOUNT, "aion-monthly", 95.0, 100.0).await;
    assert!(n.contains("3.00 of 10.00 spent"), "{n}");
    assert!(n.contains("0 step(s) due"), "{n}");
    assert_eq!(w.desired("backend-gcp").await, 6);
    assert_eq!(w.desired("backend-aws").await, 2);
    assert_eq!(w.cap().await, None);
    // The provider catches up (its spend lagged the alert): the same message, delivered
    // again, is judged again, not "handled before".
    w.provider(9.5, "2026-12-01").await;
    let n = w.alert("m3", ACCOUNT, "aion-monthly", 95.0, 100.0).await;
    assert!(!n.contains("handled before"), "{n}");
    assert!(n.contains("9.50 of 10.00 spent"), "{n}");
    assert!(w.cap().await.is_some(), "the cap step was taken: {n}");
}

#[tokio::test]
async fn the_ladder_is_climbed_once_per_period_and_a_new_period_undoes_it_all() {
    let w = world("mode = \"enforce\"").await;
    // 90 %: the notice and the cap (6 -> 2 instances, the cap record for the scaling function).
    w.provider(9.0, "2026-12-01").await;
    let n = w.alert("a1", ACCOUNT, "aion-monthly", 9.0, 10.0).await;
    assert!(n.contains("2 step(s) due"), "{n}");
    assert_eq!(w.desired("backend-gcp").await, 2);
    assert_eq!(
        w.cap().await.map(|c| c["max"].clone()),
        Some(serde_json::json!(2))
    );
    assert_eq!(w.cap().await.unwrap()["set_by"], "budget guard `monthly`");
    // The same message again, and another at the same spend: nothing twice.
    let n = w.alert("a1", ACCOUNT, "aion-monthly", 9.0, 10.0).await;
    assert!(n.contains("handled before"), "{n}");
    let n = w.alert("a2", ACCOUNT, "aion-monthly", 9.0, 10.0).await;
    assert!(n.contains("0 step(s) due"), "{n}");
    // Past 150 % at once: the standby to zero, the worker stopped, billing detached.
    w.provider(16.0, "2026-12-01").await;
    w.alert("a3", ACCOUNT, "aion-monthly", 16.0, 10.0).await;
    assert_eq!(w.desired("backend-aws").await, 0, "the standby");
    assert_eq!(w.desired("worker").await, 0);
    assert_eq!(w.billing.account("aion-sandbox").await.unwrap(), None);
    assert_eq!(
        w.desired("backend-gcp").await,
        2,
        "the serving side keeps its floor"
    );
    let msgs = w.messages();
    assert!(msgs.contains("capped backend at 2"), "{msgs}");
    assert!(
        msgs.contains("detached billing from aion-sandbox"),
        "{msgs}"
    );
    // The operations page: the confirmed spend against the limit, every step taken with what it
    // changed.
    let s = w.inv.services();
    let o =
        twincloud_runtime::overview::gather(&s.config, s.state.as_ref(), chrono::Utc::now()).await;
    let page = twincloud_testkit::browser::render(
        "budget-ladder",
        &twincloud_runtime::overview::render_html(&o),
    )
    .await;
    assert!(
        page["spend"][0]
            .as_str()
            .unwrap()
            .starts_with("16.00 spent, 19.20 forecast, of 10.00"),
        "{page}"
    );
    let rows: Vec<&str> = page["budget_rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(rows.len(), 5, "{page}");
    assert!(
        rows[0].contains("notify\tdry run\twould have acted"),
        "{page}"
    );
    assert!(
        rows[1..].iter().all(|r| r.contains("enforce\ttaken ")),
        "{page}"
    );
    assert!(
        page["body"]
            .as_str()
            .unwrap()
            .contains("aion-sandbox: billing billingAccounts/01D4EE-079462-DFD6EC -> detached"),
        "{page}"
    );

    // A tick in the same period: nothing. In the next period: everything back, last first.
    let n = w.tick("t1").await;
    assert!(!n.contains("restored"), "{n}");
    w.provider(0.5, "2027-01-01").await;
    let n = w.tick("t2").await;
    assert!(
        n.contains("restored (the budget period moved on to 2027-01-01)"),
        "{n}"
    );
    assert_eq!(w.desired("backend-gcp").await, 6);
    assert_eq!(w.desired("backend-aws").await, 2);
    assert_eq!(w.desired("worker").await, 3);
    assert_eq!(w.cap().await, None);
    assert_eq!(
        w.billing.account("aion-sandbox").await.unwrap().as_deref(),
        Some("billingAccounts/01D4EE-079462-DFD6EC")
    );
    assert!(
        w.messages()
            .contains("billed to billingAccounts/01D4EE-079462-DFD6EC again")
    );
}

#[tokio::test]
async fn a_restore_leaves_what_someone_changed_meanwhile_and_says_so() {
    let w = world("mode = \"enforce\"").await;
    w.provider(9.0, "2026-12-01").await;
    w.alert("b1", ACCOUNT, "aion-monthly", 9.0, 10.0).await;
    assert_eq!(w.desired("backend-gcp").await, 2);
    // Someone scales it by hand in between.
    w.compute.set_desired("backend-gcp", 4).await.unwrap();
    let cmd = serde_json::json!({"twincloud": "command", "command": "budget-restore", "id": "r1", "args": {"guard": "monthly"}});
    let n = w
        .inv
        .handle_json(cmd.to_string().as_bytes())
        .await
        .unwrap()
        .notes_text();
    assert!(n.contains("restored (on command of"), "{n}");
    assert_eq!(w.desired("backend-gcp").await, 4, "not clobbered");
    assert_eq!(w.cap().await, None, "the cap, unchanged since, is undone");
    assert!(
        w.messages()
            .contains("conflict: backend-gcp runs 4 instances now, not 2"),
        "{}",
        w.messages()
    );
}

#[tokio::test]
async fn steps_are_dry_runs_unless_enforced() {
    let w = world("").await;
    w.provider(9.0, "2026-12-01").await;
    w.alert("d1", ACCOUNT, "aion-monthly", 9.0, 10.0).await;
    assert_eq!(w.desired("backend-gcp").await, 6);
    assert_eq!(w.cap().await, None);
    assert!(
        w.messages().contains("would cap backend at 2"),
        "{}",
        w.messages()
    );
    assert!(
        w.messages().contains("\"enforce\\\" on this step to act"),
        "{}",
        w.messages()
    );
    // Switched to enforce in the same period: the next alert takes the step (a rehearsal does
    // not use it up).
    let enforced = invoker(
        &twincloud_budget_guard::SPEC,
        config(w.dir.path(), &toml("mode = \"enforce\"")),
        false,
    )
    .await;
    let message = serde_json::json!({"twincloud": "schedule", "name": "budget-guard", "id": "d2"});
    let n = enforced
        .handle_json(message.to_string().as_bytes())
        .await
        .unwrap()
        .notes_text();
    assert_eq!(w.desired("backend-gcp").await, 2, "{n}");
    assert!(w.cap().await.is_some(), "{n}");
}

#[tokio::test]
async fn a_gcp_message_counts_only_when_the_budget_api_returns_its_amount() {
    let w = world("mode = \"enforce\"").await;
    let gcp = BudgetRef::Gcp {
        billing_account: "01D4EE-079462-DFD6EC".into(),
        budget_id: "de72".into(),
    };
    w.billing
        .set_budget(
            &gcp,
            &Reading {
                limit: 10.0,
                actual: None,
                forecast: None,
                period_start: "2026-12-01".into(),
            },
        )
        .await
        .unwrap();
    let push = |id: &str, amount: f64, cost: f64| {
        let data = serde_json::json!({"budgetDisplayName": "aion-gcp", "alertThresholdExceeded": 0.8,
            "costAmount": cost, "costIntervalStart": "2026-12-01T08:00:00Z", "budgetAmount": amount,
            "budgetAmountType": "SPECIFIED_AMOUNT", "currencyCode": "USD"});
        serde_json::json!({"message": {"data": base64::engine::general_purpose::STANDARD.encode(data.to_string()),
            "messageId": id, "publishTime": "2026-12-03T12:00:00Z",
            "attributes": {"billingAccountId": "01D4EE-079462-DFD6EC", "budgetId": "de72", "schemaVersion": "1.0"}},
            "subscription": "projects/aion-prod/subscriptions/twincloud-budget-guard-billing-alerts"})
        .to_string()
    };
    let n = w
        .inv
        .handle_json(push("g1", 1000.0, 900.0).as_bytes())
        .await
        .unwrap()
        .notes_text();
    assert!(n.contains("not confirmed"), "{n}");
    assert_eq!(w.desired("backend-gcp").await, 6);
    w.inv
        .handle_json(push("g2", 10.0, 9.0).as_bytes())
        .await
        .unwrap();
    assert_eq!(w.desired("backend-gcp").await, 2, "confirmed: capped");
}

/// A Cloud Run Admin v2 fake holding one service's scaling (every call validated against
/// run.v2.json).
async fn cloud_run(min: u32, max: u32) -> twincloud_testkit::DiscoveryFake {
    use std::sync::{Arc, Mutex};
    let svc = Arc::new(Mutex::new(serde_json::json!({
        "name": "projects/aion-prod/locations/us-central1/services/aion-api",
        "scaling": {"minInstanceCount": min, "maxInstanceCount": max},
        "reconciling": false,
        "terminalCondition": {"type": "Ready", "state": "CONDITION_SUCCEEDED"},
        "latestReadyRevision": "r-1", "latestCreatedRevision": "r-1"
    })));
    twincloud_testkit::DiscoveryFake::start("run.v2", move |call| {
        let mut s = svc.lock().unwrap();
        match (call.method.as_str(), call.query.as_str()) {
            ("run.projects.locations.services.get", _) => (200, s.clone()),
            ("run.projects.locations.services.patch", q)
                if q.starts_with("updateMask=scaling.") =>
            {
                let field = q.trim_start_matches("updateMask=scaling.").to_owned();
                s["scaling"][&field] = call.body["scaling"][&field].clone();
                (
                    200,
                    serde_json::json!({"name": "operations/op", "done": true}),
                )
            }
            (m, q) => (
                400,
                serde_json::json!({"error": {"message": format!("unexpected {m} {q}")}}),
            ),
        }
    })
    .await
}

#[tokio::test]
async fn a_cloud_run_service_is_capped_through_the_admin_api_and_given_back() {
    let run = cloud_run(6, 20).await;
    let dir = tempfile::tempdir().unwrap();
    let text = r#"[[notify.channels]]
name = "outbox"
type = "outbox"

[[scaling.services]]
name = "api"
compute = "cloudrun"
project = "aion-prod"
region = "us-central1"
service = "aion-api"
min = 1
max = 20

[[budget.guards]]
name = "monthly"
aws_account = "123456789012"
aws_budget = "aion-monthly"

[[budget.guards.steps]]
at = 0.9
action = "cap"
service = "api"
max = 3
mode = "enforce"
"#;
    let gcp = twincloud_gcp::GcpContext::for_emulator(&run.url()).unwrap();
    let services = twincloud_runtime::Services::build(
        config(dir.path(), text),
        &twincloud_runtime::Clouds::default().and_gcp(gcp),
    )
    .await
    .unwrap();
    let inv = Invoker::new(Box::new(BudgetGuardFn), services, false);
    let billing = LocalBilling::new(dir.path());
    let reading = |actual: f64, period: &str| Reading {
        limit: 10.0,
        actual: Some(actual),
        forecast: None,
        period_start: period.into(),
    };
    billing
        .set_budget(&aws_ref(), &reading(9.5, "2026-12-01"))
        .await
        .unwrap();
    let tick = serde_json::json!({"twincloud": "schedule", "name": "budget-guard", "id": "c1"});
    inv.handle_json(tick.to_string().as_bytes()).await.unwrap();
    let scaling = |calls: &[twincloud_testkit::ApiCall]| {
        calls
            .iter()
            .filter(|c| c.method.ends_with("patch"))
            .map(|c| (c.query.clone(), c.body["scaling"].clone()))
            .collect::<Vec<_>>()
    };
    let patches = scaling(&run.calls());
    assert!(
        patches.contains(&(
            "updateMask=scaling.minInstanceCount".into(),
            serde_json::json!({"minInstanceCount": 3})
        )),
        "{patches:?}"
    );
    assert!(
        patches.contains(&(
            "updateMask=scaling.maxInstanceCount".into(),
            serde_json::json!({"maxInstanceCount": 3})
        )),
        "{patches:?}"
    );
    // The next period: the minimum and the maximum come back.
    billing
        .set_budget(&aws_ref(), &reading(0.1, "2027-01-01"))
        .await
        .unwrap();
    let tick = serde_json::json!({"twincloud": "schedule", "name": "budget-guard", "id": "c2"});
    inv.handle_json(tick.to_string().as_bytes()).await.unwrap();
    let patches = scaling(&run.calls());
    assert!(
        patches.contains(&(
            "updateMask=scaling.maxInstanceCount".into(),
            serde_json::json!({"maxInstanceCount": 20})
        )),
        "{patches:?}"
    );
    assert!(
        patches.contains(&(
            "updateMask=scaling.minInstanceCount".into(),
            serde_json::json!({"minInstanceCount": 6})
        )),
        "{patches:?}"
    );
    assert!(run.rejected().is_empty(), "{:?}", run.rejected());
}

#[tokio::test]
async fn a_reading_of_an_earlier_period_neither_restores_nor_steps_again() {
    let w = world("mode = \"enforce\"").await;
    w.provider(9.0, "2026-12-01").await;
    w.alert("a1", ACCOUNT, "aion-monthly", 9.0, 10.0).await;
    assert_eq!(w.desired("backend-gcp").await, 2);
    // The daily tick reads a budget whose period is an earlier one (another cloud's budget,
    // or a provider lagging): the period does not move back, nothing is undone.
    w.provider(9.0, "2026-11-01").await;
    let n = w.tick("t1").await;
    assert!(!n.contains("restored"), "{n}");
    assert_eq!(w.desired("backend-gcp").await, 2);
    assert_eq!(
        w.cap().await.map(|c| c["max"].clone()),
        Some(serde_json::json!(2))
    );
    assert_eq!(w.cap().await.unwrap()["set_by"], "budget guard `monthly`");
    // Back on the current period's reading: the steps taken stay taken, none twice.
    w.provider(9.0, "2026-12-01").await;
    let n = w.alert("a2", ACCOUNT, "aion-monthly", 9.0, 10.0).await;
    assert!(n.contains("0 step(s) due"), "{n}");
    assert!(!w.tick("t2").await.contains("restored"));
}

#[tokio::test]
async fn a_restore_rehearsed_says_what_it_would_put_back_in_words() {
    let w = world("mode = \"enforce\"").await;
    w.provider(9.0, "2026-12-01").await;
    w.alert("c1", ACCOUNT, "aion-monthly", 9.0, 10.0).await;
    assert_eq!(
        w.cap().await.map(|c| c["max"].clone()),
        Some(serde_json::json!(2))
    );
    assert_eq!(w.cap().await.unwrap()["set_by"], "budget guard `monthly`");
    let rehearsal = invoker(
        &twincloud_budget_guard::SPEC,
        config(w.dir.path(), &toml("mode = \"enforce\"")),
        true,
    )
    .await;
    let cmd = serde_json::json!({"twincloud": "command", "command": "budget-restore", "id": "r-dry", "args": {"guard": "monthly"}});
    let n = rehearsal
        .handle_json(cmd.to_string().as_bytes())
        .await
        .unwrap()
        .notes_text();
    assert!(
        n.contains("would put the cap of backend back to none"),
        "{n}"
    );
    assert!(!n.contains("None") && !n.contains("Some("), "{n}");
    assert_eq!(
        w.cap().await.map(|c| c["max"].clone()),
        Some(serde_json::json!(2)),
        "a rehearsal"
    );
}
