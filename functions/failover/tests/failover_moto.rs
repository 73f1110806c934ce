//! Failover with the AWS adapters: the standby is an ECS service and the record lives in
//! Route 53, both on moto; two local stand-in apps answer the health probes.
#![allow(clippy::unwrap_used)]

#[path = "../../../tests/support/moto_ecs.rs"]
mod moto_ecs;

use twincloud_aws::AwsContext;
use twincloud_core::Config;
use twincloud_failover::Failover;
use twincloud_local::StandInApp;
use twincloud_runtime::{Clouds, Invoker, Services};
use twincloud_testkit::{Fault, FaultProxy, emulators, unique};

fn config(dir: &std::path::Path, cluster: &str, zone: &str, gcp: &str, aws: &str) -> Config {
    let text = format!(
        r#"[project]
name = "aion"
state = "{}"

[[notify.channels]]
name = "outbox"
type = "outbox"

[failover]
record = "api.aion.example."
threshold = 3
probe_interval_secs = 1
probe_window_secs = 1
cooldown_secs = 0

[failover.dns]
provider = "route53"
zone_id = "{zone}"
ttl = 30

[[failover.endpoints]]
name = "primary"
cloud = "aws"
primary = true
url = "{gcp}"
dns_target = "primary.aion.example."
compute = "ecs"
cluster = "{cluster}"
service = "aion-primary"
active_size = 2
max_size = 10

[[failover.endpoints]]
name = "standby"
cloud = "aws"
url = "{aws}"
dns_target = "standby.aion.example."
compute = "ecs"
cluster = "{cluster}"
service = "aion-standby"
active_size = 2
max_size = 10
"#,
        dir.display()
    );
    Config::parse("moto.toml", &text).unwrap_or_else(|e| panic!("{e}"))
}

async fn desired(ctx: &AwsContext, cluster: &str, service: &str) -> i32 {
    let out = ctx
        .ecs()
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await
        .unwrap();
    out.services()[0].desired_count()
}

#[tokio::test]
async fn failover_scales_the_ecs_standby_and_switches_route53_despite_throttling() {
    let ctx = AwsContext::for_endpoint(&emulators::moto_url(), "us-east-1").await;
    let cluster = moto_ecs::ecs_cluster(&ctx, &[("aion-primary", 2), ("aion-standby", 0)]).await;
    let zone = ctx
        .route53()
        .create_hosted_zone()
        .name("aion.example.")
        .caller_reference(unique("z"))
        .send()
        .await
        .unwrap();
    let zone_id = zone
        .hosted_zone()
        .unwrap()
        .id()
        .trim_start_matches("/hostedzone/")
        .to_owned();
    use twincloud_core::ports::Traffic;
    let dns = twincloud_aws::Route53Traffic::new(&ctx, &zone_id, 30);
    dns.switch("api.aion.example.", "primary.aion.example.")
        .await
        .unwrap();

    // Route 53 throttles the first change attempts: the switch still completes.
    let proxy = FaultProxy::start(&emulators::moto_url()).await;
    proxy.inject("/rrset", 2, Fault::Status {
        status: 400,
        headers: vec![("Content-Type".into(), "text/xml".into())],
        body: "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r</RequestId></ErrorResponse>".into(),
    });
    let via = AwsContext::for_endpoint(&proxy.url(), "us-east-1").await;

    let mut primary = StandInApp::start().await.unwrap();
    let standby = StandInApp::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let services = Services::build(
        config(
            dir.path(),
            &cluster,
            &zone_id,
            &primary.url(),
            &standby.url(),
        ),
        &Clouds::with_aws(via),
    )
    .await
    .unwrap();
    let inv = Invoker::new(Box::new(Failover), services, false);
    primary.kill().await;
    let mut last = None;
    for n in 0..3 {
        let ev =
            serde_json::json!({"twincloud": "schedule", "name": "probe", "id": format!("t{n}")})
                .to_string();
        last = Some(inv.handle_json(ev.as_bytes()).await.unwrap());
    }
    let report = last.unwrap();
    assert!(report.platform_result().is_ok(), "{}", report.to_text());
    assert_eq!(
        dns.current_target("api.aion.example.")
            .await
            .unwrap()
            .as_deref(),
        Some("standby.aion.example.")
    );
    assert_eq!(
        desired(&ctx, &cluster, "aion-standby").await,
        2,
        "standby scaled to its active size"
    );
    assert!(
        proxy.stats().faulted >= 2,
        "throttling was injected and survived"
    );
    let switch = &report.results[0].followups[0];
    let done: Vec<&str> = switch
        .actions
        .iter()
        .filter(|a| matches!(a.outcome, twincloud_runtime::Outcome::Done { .. }))
        .map(|a| a.id.as_str())
        .collect();
    assert_eq!(done, ["scale-up", "wait-ready", "switch-traffic", "record"]);
}
