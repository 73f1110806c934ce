//! The budget guard against AWS on moto: the budget read back with `DescribeBudget` (its
//! actual spend decides, not the message's), an ECS service capped and given back.
#![allow(clippy::unwrap_used)]

#[path = "../../../tests/support/moto_ecs.rs"]
mod moto_ecs;

use std::sync::Arc;

use aws_sdk_budgets::types::{Budget, BudgetType, CalculatedSpend, Spend, TimeUnit};
use twincloud_aws::AwsContext;
use twincloud_budget_guard::BudgetGuardFn;
use twincloud_core::Config;
use twincloud_runtime::{Clouds, Invoker, Services};
use twincloud_testkit::{emulators, unique};

fn spend(v: &str) -> Spend {
    Spend::builder().amount(v).unit("USD").build().unwrap()
}

async fn budget(ctx: &AwsContext, name: &str, actual: &str) {
    aws_sdk_budgets::Client::new(ctx.sdk())
        .create_budget()
        .account_id("123456789012")
        .budget(
            Budget::builder()
                .budget_name(name)
                .budget_type(BudgetType::Cost)
                .time_unit(TimeUnit::Monthly)
                .budget_limit(spend("10"))
                .calculated_spend(
                    CalculatedSpend::builder()
                        .actual_spend(spend(actual))
                        .forecasted_spend(spend("12"))
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

fn alert(budget: &str, actual: f64) -> Vec<u8> {
    let message = format!(
        "AWS Budget Notification December 03, 2026\nAWS Account 123456789012\n\nBudget Name: {budget}\nBudget Type: Cost\nBudgeted Amount: $10.00\nAlert Type: ACTUAL\nAlert Threshold: > $8.00\nACTUAL Amount: ${actual:.2}\n"
    );
    serde_json::json!({"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0",
        "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:budgets:1",
        "Sns": {"Type": "Notification", "MessageId": unique("m"), "TopicArn": "arn:aws:sns:us-east-1:123456789012:budgets",
                "Subject": "AWS Budgets", "Message": message, "Timestamp": "2026-12-03T12:00:00.000Z",
                "SignatureVersion": "1", "Signature": "x", "SigningCertUrl": "https://sns.example/x.pem",
                "UnsubscribeUrl": "https://sns.example/u", "MessageAttributes": {}}}]})
    .to_string()
    .into_bytes()
}

async fn desired(ctx: &AwsContext, cluster: &str) -> i32 {
    ctx.ecs()
        .describe_services()
        .cluster(cluster)
        .services("worker")
        .send()
        .await
        .unwrap()
        .services()[0]
        .desired_count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ecs_service_is_capped_only_when_aws_budgets_confirms_the_spend() {
    let ctx = AwsContext::for_endpoint(&emulators::moto_url(), "us-east-1").await;
    let cluster = moto_ecs::ecs_cluster(&ctx, &[("worker", 6)]).await;
    let confirmed = unique("aion-monthly");
    let low = unique("aion-low");
    budget(&ctx, &confirmed, "9").await;
    budget(&ctx, &low, "1").await;
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"[project]
name = "aion"
state = "{state}"

[[notify.channels]]
name = "outbox"
type = "outbox"

[[scaling.services]]
name = "worker"
compute = "ecs"
cluster = "{cluster}"
service = "worker"
min = 0
scale_to_zero = true
max = 10

[[budget.guards]]
name = "monthly"
aws_account = "123456789012"
aws_budget = "{confirmed}"

[[budget.guards]]
name = "low"
aws_account = "123456789012"
aws_budget = "{low}"

[[budget.guards.steps]]
at = 0.8
action = "cap"
service = "worker"
max = 2
mode = "enforce"
"#,
        state = dir.path().display()
    )
    .replace(
        "[[budget.guards]]\nname = \"low\"",
        "[[budget.guards.steps]]\nat = 0.8\naction = \"cap\"\nservice = \"worker\"\nmax = 2\nmode = \"enforce\"\n\n[[budget.guards]]\nname = \"low\"",
    );
    let config = Config::parse("test.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    let mut services = Services::build(config, &Clouds::with_aws(ctx.clone()))
        .await
        .unwrap();
    // The state is a local directory (so budgets would be simulated): read AWS Budgets itself.
    services.budgets.insert(
        twincloud_core::signal::Cloud::Aws,
        Arc::new(twincloud_aws::AwsBudgets::new(&ctx)),
    );
    let inv = Invoker::new(Box::new(BudgetGuardFn), services, false);

    // The message claims 95 %; AWS says 1 of 10: nothing.
    let n = inv
        .handle_json(&alert(&low, 9.5))
        .await
        .unwrap()
        .notes_text();
    assert!(n.contains("1.00 of 10.00 spent"), "{n}");
    assert_eq!(desired(&ctx, &cluster).await, 6);

    // AWS says 9 of 10: capped at 2.
    let n = inv
        .handle_json(&alert(&confirmed, 9.0))
        .await
        .unwrap()
        .notes_text();
    assert!(n.contains("9.00 of 10.00 spent"), "{n}");
    assert_eq!(desired(&ctx, &cluster).await, 2);

    // And back on command.
    let cmd = serde_json::json!({"twincloud": "command", "command": "budget-restore", "id": unique("r"), "args": {"guard": "monthly"}});
    inv.handle_json(cmd.to_string().as_bytes()).await.unwrap();
    assert_eq!(desired(&ctx, &cluster).await, 6);
}
