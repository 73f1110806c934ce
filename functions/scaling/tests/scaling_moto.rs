//! Scaling an ECS service on moto by its CloudWatch metrics (`PutMetricData`, then the
//! function's `GetMetricData`), with throttling injected by the fault proxy.
#![allow(clippy::unwrap_used)]

#[path = "../../../tests/support/moto_ecs.rs"]
mod moto_ecs;

use twincloud_aws::AwsContext;
use twincloud_core::Config;
use twincloud_runtime::{Clouds, Invoker, Services};
use twincloud_scaling::Scaling;
use twincloud_testkit::{Fault, FaultProxy, emulators, unique};

async fn put_cpu(ctx: &AwsContext, cluster: &str, value: f64) {
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
    aws_sdk_cloudwatch::Client::new(ctx.sdk())
        .put_metric_data()
        .namespace("AWS/ECS")
        .metric_data(
            MetricDatum::builder()
                .metric_name("CPUUtilization")
                .dimensions(
                    Dimension::builder()
                        .name("ClusterName")
                        .value(cluster)
                        .build(),
                )
                .dimensions(
                    Dimension::builder()
                        .name("ServiceName")
                        .value("aion-backend")
                        .build(),
                )
                .value(value)
                .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from(
                    std::time::SystemTime::now() - std::time::Duration::from_secs(30),
                ))
                .build(),
        )
        .send()
        .await
        .unwrap();
}

async fn desired(ctx: &AwsContext, cluster: &str) -> i32 {
    ctx.ecs()
        .describe_services()
        .cluster(cluster)
        .services("aion-backend")
        .send()
        .await
        .unwrap()
        .services()[0]
        .desired_count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ecs_service_scales_out_on_its_cloudwatch_cpu_through_throttling() {
    let direct = AwsContext::for_endpoint(&emulators::moto_url(), "us-east-1").await;
    let cluster = moto_ecs::ecs_cluster(&direct, &[("aion-backend", 2)]).await;
    put_cpu(&direct, &cluster, 140.0).await;
    // CloudWatch throttles the first reads twice (its metrics go through the proxy; ECS does
    // not, since both protocols post to `/`): the SDK's retries absorb it.
    let proxy = FaultProxy::start(&emulators::moto_url()).await;
    proxy.inject("", 2, Fault::aws_query_throttling());
    let throttled = AwsContext::for_endpoint(&proxy.url(), "us-east-1").await;
    let state = tempfile::tempdir().unwrap();
    let text = format!(
        r#"[project]
name = "aion"
state = "{}"

[[notify.channels]]
name = "outbox"
type = "outbox"

[[scaling.services]]
name = "backend"
compute = "ecs"
cluster = "{cluster}"
service = "aion-backend"
min = 2
max = 10
targets = {{ cpu = 70 }}
"#,
        state.path().display()
    );
    let config = Config::parse("test.toml", &text).unwrap();
    let mut services = Services::build(config, &Clouds::with_aws(direct.clone()))
        .await
        .unwrap();
    services.metrics.insert(
        twincloud_core::plan::ComputeRef::Scaling("backend".into()),
        std::sync::Arc::new(twincloud_aws::CloudWatchEcsMetrics::new(
            &throttled, &cluster,
        )),
    );
    let inv = Invoker::new(Box::new(Scaling), services, false);
    let ev = serde_json::json!({"twincloud": "schedule", "name": "scaling", "id": "tick-1"});
    let r = inv.handle_json(ev.to_string().as_bytes()).await.unwrap();
    assert!(
        r.notes_text().contains("cpu at 140.0"),
        "{}",
        r.notes_text()
    );
    assert_eq!(desired(&direct, &cluster).await, 4);
    assert!(proxy.stats().faulted >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_with_an_application_auto_scaling_target_gets_its_minimum_adjusted() {
    use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};
    let ctx = AwsContext::for_endpoint(&emulators::moto_url(), "us-east-1").await;
    let cluster = moto_ecs::ecs_cluster(&ctx, &[("aion-backend", 2)]).await;
    put_cpu(&ctx, &cluster, 140.0).await;
    let aas = aws_sdk_applicationautoscaling::Client::new(ctx.sdk());
    let id = format!("service/{cluster}/aion-backend");
    aas.register_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .min_capacity(2)
        .max_capacity(10)
        .send()
        .await
        .unwrap();
    let state = tempfile::tempdir().unwrap();
    let text = format!(
        r#"[project]
name = "aion"
state = "{}"

[[scaling.services]]
name = "backend"
compute = "ecs"
cluster = "{cluster}"
service = "aion-backend"
min = 2
max = 10
targets = {{ cpu = 70 }}
"#,
        state.path().display()
    );
    let config = Config::parse("test.toml", &text).unwrap();
    let services = Services::build(config, &Clouds::with_aws(ctx.clone()))
        .await
        .unwrap();
    let inv = Invoker::new(Box::new(Scaling), services, false);
    let ev = serde_json::json!({"twincloud": "schedule", "name": "scaling", "id": "tick-1"});
    let r = inv.handle_json(ev.to_string().as_bytes()).await.unwrap();
    assert!(
        r.to_text()
            .contains("Application Auto Scaling target: its minimum is now 4"),
        "{}",
        r.to_text()
    );
    let t = aas
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_ids(&id)
        .send()
        .await
        .unwrap();
    let t = &t.scalable_targets()[0];
    assert_eq!((t.min_capacity(), t.max_capacity()), (4, 10));
    assert_eq!(desired(&ctx, &cluster).await, 4);
}

#[tokio::test]
async fn requests_per_instance_come_from_the_target_groups_request_count_per_target() {
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
    use twincloud_core::config::Metric;
    let ctx = AwsContext::for_endpoint(&emulators::moto_url(), "us-east-1").await;
    let tg = format!("targetgroup/{}/73e2d6bc24d8a067", unique("aion-api"));
    for (ago, v) in [(90, 400.0), (30, 600.0)] {
        aws_sdk_cloudwatch::Client::new(ctx.sdk())
            .put_metric_data()
            .namespace("AWS/ApplicationELB")
            .metric_data(
                MetricDatum::builder()
                    .metric_name("RequestCountPerTarget")
                    .dimensions(Dimension::builder().name("TargetGroup").value(&tg).build())
                    .value(v)
                    .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from(
                        std::time::SystemTime::now() - std::time::Duration::from_secs(ago),
                    ))
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    let m = twincloud_aws::CloudWatchEcsMetrics::new(&ctx, "aion").with_target_group(Some(&tg));
    let r = twincloud_core::ports::Metrics::readings(
        &m,
        "aion-backend",
        &[Metric::RequestsPerInstance],
    )
    .await
    .unwrap();
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(
        (r[0].1 - 500.0).abs() < 1e-9,
        "the per-minute sums averaged: {r:?}"
    );
}

#[tokio::test]
async fn an_alarm_is_confirmed_with_cloudwatch_before_it_steps() {
    use twincloud_core::ports::AlarmStates;
    use twincloud_core::signal::AlarmState;
    let ctx = AwsContext::for_endpoint(&emulators::moto_url(), "us-east-1").await;
    let cw = aws_sdk_cloudwatch::Client::new(ctx.sdk());
    let name = unique("aion-cpu-high");
    cw.put_metric_alarm()
        .alarm_name(&name)
        .namespace("AWS/ECS")
        .metric_name("CPUUtilization")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Average)
        .period(60)
        .evaluation_periods(5)
        .threshold(80.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
    let alarms = twincloud_aws::CloudWatchAlarms::new(&ctx);
    let fresh = alarms.state(&name).await.unwrap();
    assert!(
        fresh.is_some() && fresh != Some(AlarmState::Alarm),
        "{fresh:?}"
    );
    cw.set_alarm_state()
        .alarm_name(&name)
        .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
        .state_reason("test")
        .send()
        .await
        .unwrap();
    assert_eq!(alarms.state(&name).await.unwrap(), Some(AlarmState::Alarm));
    assert_eq!(alarms.state("no-such-alarm").await.unwrap(), None);
}
