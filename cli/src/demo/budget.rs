//! The budget-guard part of the demo: a budget alert whose figures the provider does not
//! confirm does nothing; a confirmed one stops a batch worker; a new budget period brings it
//! back.

use std::path::Path;

use twincloud_core::Config;
use twincloud_core::planner::budget::{BudgetRef, Reading};
use twincloud_functions::budget_guard::BudgetGuardFn;
use twincloud_local::{LocalBilling, LocalCompute};
use twincloud_runtime::{Clouds, Invoker, Report, Services};

const ALERT: &str = include_str!("../../../events/aws/sns-budget-actual.json");

/// The demo's configuration text for this part.
pub(super) fn text(dir: &Path) -> String {
    format!(
        r#"[project]
name = "aion (demo)"
state = "{}"

[[notify.channels]]
name = "outbox"
type = "outbox"

[[scaling.services]]
name = "aion-worker"
compute = "local"
service = "aion-worker"
min = 0
scale_to_zero = true
max = 5

[[budget.guards]]
name = "aion-monthly"
aws_account = "123456789012"
aws_budget = "aion-monthly"

[[budget.guards.steps]]
at = 0.9
action = "stop"
services = ["aion-worker"]
mode = "enforce"
"#,
        dir.display()
    )
}

pub(super) fn config(dir: &Path) -> Result<Config, String> {
    Config::parse("(demo budget config)", &text(dir)).map_err(|e| e.to_string())
}

/// Runs the budget scenario; appends each step's report to `reports`.
pub async fn run(
    dir: &Path,
    json: bool,
    reports: &mut Vec<(String, Report)>,
) -> Result<(), String> {
    let err = |e: twincloud_core::ports::PortError| e.message;
    LocalCompute::new(dir)
        .create_service("aion-worker", 3, Some(5))
        .await
        .map_err(err)?;
    let billing = LocalBilling::new(dir);
    let budget = BudgetRef::Aws {
        account: "123456789012".into(),
        name: "aion-monthly".into(),
    };
    let reading = |actual: f64, period: &str| Reading {
        limit: 100.0,
        actual: Some(actual),
        forecast: None,
        period_start: period.into(),
    };
    // What AWS Budgets reports (simulated): 40 % spent.
    billing
        .set_budget(&budget, &reading(40.0, "2026-12-01"))
        .await
        .map_err(err)?;
    let services = Services::build(config(dir)?, &Clouds::default())
        .await
        .map_err(|e| e.to_string())?;
    let invoker = Invoker::new(Box::new(BudgetGuardFn), services, false);
    let mut alert: serde_json::Value = serde_json::from_str(ALERT).map_err(|e| e.to_string())?;
    let message = alert["Records"][0]["Sns"]["Message"]
        .as_str()
        .unwrap_or("")
        .replace("$84.17", "$95.00");
    alert["Records"][0]["Sns"]["Message"] = message.into();
    alert["Records"][0]["Sns"]["MessageId"] = "demo-budget-1".into();
    super::tick(
        &invoker,
        "20. A budget alert claims 95 % of aion-monthly; AWS Budgets, asked, says 40 %: nothing is done.",
        &alert,
        json,
        reports,
    )
    .await?;
    billing
        .set_budget(&budget, &reading(95.0, "2026-12-01"))
        .await
        .map_err(err)?;
    alert["Records"][0]["Sns"]["MessageId"] = "demo-budget-2".into();
    super::tick(
        &invoker,
        "21. Now AWS Budgets confirms 95 %: the guard stops the batch worker (3 -> 0 instances) and records what it replaced.",
        &alert,
        json,
        reports,
    )
    .await?;
    billing
        .set_budget(&budget, &reading(2.0, "2027-01-01"))
        .await
        .map_err(err)?;
    let tick = serde_json::json!({"twincloud": "schedule", "name": "budget-guard", "id": "demo-budget-tick"});
    super::tick(
        &invoker,
        "22. A new month: the daily tick sees the budget period move on and gives the worker its 3 instances back.",
        &tick,
        json,
        reports,
    )
    .await
}
