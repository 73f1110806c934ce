//! AWS adapters against moto (started by scripts/test.sh), with faults injected by the proxy.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use twincloud_aws::{AwsContext, S3StateStore, SesNotifier, SnsNotifier, resolve_secret};
use twincloud_core::ports::{Budgets, Notifier, Retry};
use twincloud_testkit::{Fault, FaultProxy, emulators, unique};

async fn ctx() -> AwsContext {
    AwsContext::for_endpoint(&emulators::moto_url(), "us-east-1").await
}

use twincloud_testkit::fixtures::message;

/// moto's model dump, to read back what the services hold.
async fn moto_data() -> String {
    // moto's dump reads every S3 key's Glacier-restore state, and advancing it on a multipart
    // part (which has no bucket) fails the whole dump: keep that state still.
    reqwest::Client::new()
        .post(format!(
            "{}/moto-api/state-manager/set-transition",
            emulators::moto_url()
        ))
        .body(r#"{"model_name": "s3::keyrestore", "transition": {"progression": "manual", "times": 1000000000}}"#)
        .send()
        .await
        .unwrap();
    // The dump walks every backend while other tests write to them: a walk that races a
    // write fails (HTTP 500) and is tried again.
    for _ in 0..20 {
        let r = reqwest::get(format!("{}/moto-api/data.json", emulators::moto_url()))
            .await
            .unwrap();
        if r.status().is_success() {
            return r.text().await.unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("moto's data.json kept failing");
}

/// A new sender address that SES (moto) has verified.
async fn verified_sender(ctx: &AwsContext) -> String {
    let sender = format!("{}@example.com", unique("ops"));
    ctx.sesv2()
        .create_email_identity()
        .email_identity(&sender)
        .send()
        .await
        .unwrap();
    sender
}

/// A new SNS topic's ARN.
async fn new_topic(ctx: &AwsContext) -> String {
    let topic = ctx
        .sns()
        .create_topic()
        .name(unique("alerts"))
        .send()
        .await
        .unwrap();
    topic.topic_arn().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_state_store_conforms() {
    let ctx = ctx().await;
    let bucket = unique("state");
    ctx.s3()
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    twincloud_testkit::conformance::state_store_on(
        Arc::new(S3StateStore::new(&ctx, &bucket, "twincloud/prod")),
        "suite",
        twincloud_testkit::conformance::StateStoreBackend {
            atomic_swap: false,
            ..Default::default()
        },
    )
    .await;
}

#[tokio::test]
async fn s3_state_store_survives_throttling_and_5xx() {
    let ctx = ctx().await;
    let bucket = unique("state");
    ctx.s3()
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let proxy = FaultProxy::start(&emulators::moto_url()).await;
    proxy.inject("PUT /", 1, Fault::Status { status: 503, headers: vec![], body: "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>".into() });
    proxy.inject("GET /", 1, Fault::unavailable());
    let via = AwsContext::for_endpoint(&proxy.url(), "us-east-1").await;
    let store = S3StateStore::new(&via, &bucket, "");
    use twincloud_core::ports::{Precondition, StateStore};
    store.put("k", b"v", &Precondition::Absent).await.unwrap();
    assert_eq!(store.get("k").await.unwrap().unwrap().value, b"v");
    assert_eq!(
        proxy.stats().faulted,
        2,
        "both faults were hit and retried by the SDK"
    );
}

#[tokio::test]
async fn sns_publishes_and_the_topic_holds_the_message() {
    let ctx = ctx().await;
    let arn = new_topic(&ctx).await;
    let title = unique("Budget aion-monthly");
    let d = SnsNotifier::new(&ctx, "sns", &arn)
        .send(&message(&title))
        .await
        .unwrap();
    assert!(d.provider_id.is_some());
    let data = moto_data().await;
    assert!(
        data.contains(&title),
        "published message not found in moto's SNS topic"
    );
}

#[tokio::test]
async fn sns_survives_throttling() {
    let ctx = ctx().await;
    let arn = new_topic(&ctx).await;
    let proxy = FaultProxy::start(&emulators::moto_url()).await;
    proxy.inject("POST /", 2, Fault::Status {
        status: 400,
        headers: vec![("Content-Type".into(), "text/xml".into())],
        body: "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>x</RequestId></ErrorResponse>".into(),
    });
    let via = AwsContext::for_endpoint(&proxy.url(), "us-east-1").await;
    SnsNotifier::new(&via, "sns", &arn)
        .send(&message("throttled once"))
        .await
        .unwrap();
    assert_eq!(proxy.stats().faulted, 2);
}

#[tokio::test]
async fn ses_sends_from_a_verified_sender_and_refuses_an_unverified_one() {
    let ctx = ctx().await;
    let sender = verified_sender(&ctx).await;
    let title = unique("Budget alert");
    let ses = SesNotifier::new(&ctx, "email", &sender, &["oncall@example.com".to_owned()]);
    let d = ses.send(&message(&title)).await.unwrap();
    assert!(d.provider_id.is_some());
    assert!(
        moto_data().await.contains(&title),
        "sent email not found in moto's SES backend"
    );

    let unverified = SesNotifier::new(
        &ctx,
        "email",
        "nobody@unverified.example",
        &["oncall@example.com".to_owned()],
    );
    let e = unverified.send(&message("x")).await.unwrap_err();
    assert_eq!(e.retry, Retry::Permanent, "{e}");
}

#[tokio::test]
async fn secrets_resolve_whole_and_by_json_key_without_leaking() {
    let ctx = ctx().await;
    let name = unique("twincloud/slack");
    ctx.secrets()
        .create_secret()
        .name(&name)
        .secret_string(r#"{"url":"http://127.0.0.1:9/hook","other":"x"}"#)
        .send()
        .await
        .unwrap();
    let whole = resolve_secret(&ctx, &name, None).await.unwrap();
    assert!(whole.expose().contains("\"url\""));
    let url = resolve_secret(&ctx, &name, Some("url")).await.unwrap();
    assert_eq!(url.expose(), "http://127.0.0.1:9/hook");
    let e = resolve_secret(&ctx, &name, Some("missing"))
        .await
        .unwrap_err();
    assert!(
        e.message.contains("no string key `missing`") && !e.message.contains("127.0.0.1"),
        "{}",
        e.message
    );
    let e = resolve_secret(&ctx, "does-not-exist", None)
        .await
        .unwrap_err();
    assert_eq!(e.retry, Retry::Permanent, "{}", e.message);
}

async fn ecs_service(ctx: &AwsContext, desired: i32) -> (String, String) {
    let ecs = ctx.ecs();
    let cluster = unique("aion-cluster");
    ecs.create_cluster()
        .cluster_name(&cluster)
        .send()
        .await
        .unwrap();
    let family = unique("aion-backend");
    ecs.register_task_definition()
        .family(&family)
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("app")
                .image("123456789012.dkr.ecr.us-east-1.amazonaws.com/aion-backend:v2.3.1")
                .memory(512)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let service = "aion-backend".to_owned();
    ecs.create_service()
        .cluster(&cluster)
        .service_name(&service)
        .task_definition(&family)
        .desired_count(desired)
        .launch_type(aws_sdk_ecs::types::LaunchType::Ec2)
        .send()
        .await
        .unwrap();
    (cluster, service)
}

#[tokio::test]
async fn ecs_compute_conforms() {
    let ctx = ctx().await;
    let (cluster, service) = ecs_service(&ctx, 2).await;
    let c = twincloud_aws::EcsCompute::new(&ctx, &cluster, Some(10));
    twincloud_testkit::conformance::compute(&c, &service, 10, "no-such-service").await;
}

#[tokio::test]
async fn route53_traffic_conforms_and_survives_throttling() {
    let ctx = ctx().await;
    let zone = ctx
        .route53()
        .create_hosted_zone()
        .name("aion.example.")
        .caller_reference(unique("zone"))
        .send()
        .await
        .unwrap();
    let zone_id = zone.hosted_zone().unwrap().id().to_owned();
    let t = twincloud_aws::Route53Traffic::new(&ctx, &zone_id, 60);
    twincloud_testkit::conformance::traffic(&t, &format!("{}.aion.example.", unique("api"))).await;

    let proxy = FaultProxy::start(&emulators::moto_url()).await;
    proxy.inject("POST /2013-04-01/hostedzone", 2, Fault::Status {
        status: 400,
        headers: vec![("Content-Type".into(), "text/xml".into())],
        body: "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r</RequestId></ErrorResponse>".into(),
    });
    let via = AwsContext::for_endpoint(&proxy.url(), "us-east-1").await;
    let t = twincloud_aws::Route53Traffic::new(&via, &zone_id, 60);
    use twincloud_core::ports::Traffic;
    t.switch(
        "api.aion.example.",
        "aion-alb-123.us-east-1.elb.amazonaws.com.",
    )
    .await
    .unwrap();
    assert_eq!(proxy.stats().faulted, 2, "throttled twice, retried");
    assert_eq!(
        t.current_target("api.aion.example.")
            .await
            .unwrap()
            .as_deref(),
        Some("aion-alb-123.us-east-1.elb.amazonaws.com.")
    );
}

#[tokio::test]
async fn s3_object_store_conforms() {
    let ctx = ctx().await;
    let bucket = unique("objects");
    ctx.s3()
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let store = twincloud_aws::S3ObjectStore::new(&ctx, &bucket, "uploads");
    twincloud_testkit::object_conformance::object_store(
        &store,
        twincloud_testkit::object_conformance::ObjectBackend {
            keeps_metadata: true,
        },
    )
    .await;
    use twincloud_core::ports::ObjectStore;
    store.put_bytes("x", b"hello").await.unwrap();
    assert_eq!(
        store.head("x").await.unwrap().unwrap().info.md5.as_deref(),
        Some("5d41402abc4b2a76b9719d911017c592")
    );
}

#[tokio::test]
async fn sns_and_ses_conform() {
    let ctx = ctx().await;
    let arn = new_topic(&ctx).await;
    let held = || async { vec![moto_data().await] };
    let sns = SnsNotifier::new(&ctx, "sns", &arn);
    twincloud_testkit::conformance::notifier(&sns, held).await;
    let sender = verified_sender(&ctx).await;
    let ses = SesNotifier::new(&ctx, "email", &sender, &["oncall@example.com".to_owned()]);
    twincloud_testkit::conformance::notifier(&ses, held).await;
}

/// CloudWatch alarms and AWS Budgets pass the suites every adapter of their port passes.
#[tokio::test]
async fn cloudwatch_alarms_and_aws_budgets_conform() {
    use aws_sdk_budgets::types::{Budget, BudgetType, CalculatedSpend, Spend, TimeUnit};
    use aws_sdk_cloudwatch::types::{ComparisonOperator, StateValue, Statistic};
    let ctx = ctx().await;
    let cw = aws_sdk_cloudwatch::Client::new(ctx.sdk());
    let (firing, ok) = (unique("cpu-high"), unique("cpu-low"));
    for (name, state) in [(&firing, StateValue::Alarm), (&ok, StateValue::Ok)] {
        cw.put_metric_alarm()
            .alarm_name(name)
            .namespace("AWS/ECS")
            .metric_name("CPUUtilization")
            .statistic(Statistic::Average)
            .period(60)
            .evaluation_periods(1)
            .threshold(80.0)
            .comparison_operator(ComparisonOperator::GreaterThanThreshold)
            .send()
            .await
            .unwrap();
        cw.set_alarm_state()
            .alarm_name(name)
            .state_value(state)
            .state_reason("conformance")
            .send()
            .await
            .unwrap();
    }
    twincloud_testkit::conformance::alarm_states(
        &twincloud_aws::CloudWatchAlarms::new(&ctx),
        &firing,
        &ok,
        &unique("no-such-alarm"),
    )
    .await;

    let spend = |v: &str| Spend::builder().amount(v).unit("USD").build().unwrap();
    let name = unique("monthly");
    aws_sdk_budgets::Client::new(ctx.sdk())
        .create_budget()
        .account_id("123456789012")
        .budget(
            Budget::builder()
                .budget_name(&name)
                .budget_type(BudgetType::Cost)
                .time_unit(TimeUnit::Monthly)
                .budget_limit(spend("10"))
                .calculated_spend(
                    CalculatedSpend::builder()
                        .actual_spend(spend("4"))
                        .forecasted_spend(spend("9"))
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let budget = |name: String| twincloud_core::planner::budget::BudgetRef::Aws {
        account: "123456789012".into(),
        name,
    };
    twincloud_testkit::conformance::budgets(
        &twincloud_aws::AwsBudgets::new(&ctx),
        &budget(name),
        10.0,
        &budget(unique("gone")),
    )
    .await;

    // A monthly budget created long ago: its period now is this month, not its creation date
    // (`TimePeriod.Start` stays the date it was created with).
    let old = unique("since-2024");
    aws_sdk_budgets::Client::new(ctx.sdk())
        .create_budget()
        .account_id("123456789012")
        .budget(
            Budget::builder()
                .budget_name(&old)
                .budget_type(BudgetType::Cost)
                .time_unit(TimeUnit::Monthly)
                .time_period(
                    aws_sdk_budgets::types::TimePeriod::builder()
                        .start(aws_sdk_budgets::primitives::DateTime::from_secs(
                            1_704_067_200,
                        ))
                        .build(),
                )
                .budget_limit(spend("10"))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let reading = twincloud_aws::AwsBudgets::new(&ctx)
        .read(&budget(old))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        reading.period_start,
        chrono::Utc::now().format("%Y-%m-01").to_string()
    );
}

/// CloudWatch metrics of ECS services pass the metrics suite (moto keeps what is put in the
/// `AWS/ECS` namespace, as CloudWatch keeps what ECS publishes).
#[tokio::test]
async fn cloudwatch_ecs_metrics_conform() {
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
    use twincloud_core::config::Metric;
    let ctx = ctx().await;
    let cw = aws_sdk_cloudwatch::Client::new(ctx.sdk());
    let (cluster, service) = (unique("cluster"), unique("api"));
    for ago in [30u64, 90] {
        cw.put_metric_data()
            .namespace("AWS/ECS")
            .metric_data(
                MetricDatum::builder()
                    .metric_name("CPUUtilization")
                    .dimensions(
                        Dimension::builder()
                            .name("ClusterName")
                            .value(&cluster)
                            .build(),
                    )
                    .dimensions(
                        Dimension::builder()
                            .name("ServiceName")
                            .value(&service)
                            .build(),
                    )
                    .value(if ago == 30 { 80.0 } else { 60.0 })
                    .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from(
                        std::time::SystemTime::now() - std::time::Duration::from_secs(ago),
                    ))
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    let m = twincloud_aws::CloudWatchEcsMetrics::new(&ctx, &cluster);
    twincloud_testkit::conformance::metrics(&m, &service, &[(Metric::Cpu, 70.0)], "quiet").await;
}
