use std::path::{Path, PathBuf};

use super::*;
use crate::signal::{AlarmState, BudgetBasis, SignalKind};

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

fn fixture(rel: &str) -> Decoded {
    let bytes = std::fs::read(events_dir().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    decode_json(&bytes).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn fixtures_in(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(events_dir().join(dir))
        .expect("fixture dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_fixture_decodes() {
    let mut n = 0;
    for dir in ["aws", "gcp", "manual"] {
        for p in fixtures_in(dir) {
            let d = decode_json(&std::fs::read(&p).expect("read"))
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            if d.shape != Shape::S3TestEvent {
                assert!(!d.signals.is_empty(), "{} carries no signal", p.display());
            }
            for s in &d.signals {
                assert!(!s.id.is_empty(), "{}: empty id", p.display());
            }
            n += 1;
        }
    }
    assert!(n >= 25, "only {n} fixtures");
}

#[test]
fn every_malformed_fixture_gets_its_expected_error() {
    let dir = events_dir().join("malformed");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).expect("dir") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "expect") {
            continue;
        }
        let expect_path = PathBuf::from(format!("{}.expect", p.display()));
        let expect = std::fs::read_to_string(&expect_path)
            .unwrap_or_else(|_| panic!("{} has no .expect", p.display()));
        let expect = expect
            .trim()
            .strip_prefix("expect: ")
            .expect("expect: prefix");
        let err =
            decode_json(&std::fs::read(&p).expect("read")).expect_err(&p.display().to_string());
        assert!(
            err.to_string().contains(expect),
            "{}:\n  got:    {err}\n  wanted: {expect}",
            p.display()
        );
        n += 1;
    }
    assert!(n >= 10);
}

#[test]
fn eventbridge_alarm() {
    let d = fixture("aws/eventbridge-alarm-state-change.json");
    assert_eq!(d.shape, Shape::EventBridgeAlarm);
    let s = &d.signals[0];
    assert_eq!(s.id, "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92");
    let SignalKind::Alarm(a) = &s.kind else {
        panic!("{s:?}")
    };
    assert_eq!(a.name, "aion-backup-cpu-high");
    assert_eq!(a.state, AlarmState::Alarm);
    assert_eq!(a.previous, Some(AlarmState::Ok));
    assert_eq!(a.metric.as_deref(), Some("AWS/ECS/CPUUtilization"));
    assert_eq!(a.region.as_deref(), Some("us-east-1"));
}

#[test]
fn sns_alarm_keeps_display_region() {
    let d = fixture("aws/sns-cloudwatch-alarm.json");
    assert_eq!(d.shape, Shape::SnsAlarm);
    let SignalKind::Alarm(a) = &d.signals[0].kind else {
        panic!()
    };
    assert_eq!(a.name, "aion-alb-5xx");
    assert_eq!(a.region.as_deref(), Some("US East (N. Virginia)"));
    assert_eq!(
        a.metric.as_deref(),
        Some("AWS/ApplicationELB/HTTPCode_Target_5XX_Count")
    );
    assert_eq!(d.signals[0].id, "5b0d1a3c-9e0f-5f7b-a4a2-4c4a8f6e1b22");
}

#[test]
fn lambda_alarm_action_id_is_stable() {
    let a = fixture("aws/lambda-alarm-action.json");
    let b = fixture("aws/lambda-alarm-action.json");
    assert_eq!(a.signals[0].id, b.signals[0].id);
    let SignalKind::Alarm(al) = &a.signals[0].kind else {
        panic!()
    };
    assert_eq!(al.name, "aion-backup-memory-high");
    assert_eq!(
        a.signals[0].time.map(|t| t.to_rfc3339()).as_deref(),
        Some("2026-11-20T09:20:11.702+00:00")
    );
}

#[test]
fn budgets_from_both_clouds() {
    let d = fixture("aws/sns-budget-actual.json");
    let SignalKind::Budget(b) = &d.signals[0].kind else {
        panic!()
    };
    assert_eq!(
        (
            b.budget.as_str(),
            b.cost,
            b.budget_amount,
            b.currency.as_str()
        ),
        ("aion-monthly", 84.17, 100.0, "USD")
    );
    assert_eq!(b.basis, BudgetBasis::Actual);
    assert!((b.threshold.expect("threshold") - 0.8).abs() < 1e-9);
    assert_eq!(b.account.as_deref(), Some("123456789012"));

    let g = fixture("gcp/pubsub-billing-budget.push.json");
    let SignalKind::Budget(b) = &g.signals[0].kind else {
        panic!()
    };
    assert_eq!(b.threshold, Some(0.9));
    assert_eq!(
        b.budget_id.as_deref(),
        Some("de72f49d-779b-4945-a127-4d6ce8def0bb")
    );
    assert_eq!(b.account.as_deref(), Some("01D4EE-079462-DFD6EC"));
    let f = fixture("gcp/pubsub-billing-budget-forecast.push.json");
    let SignalKind::Budget(b) = &f.signals[0].kind else {
        panic!()
    };
    assert_eq!((b.basis, b.threshold), (BudgetBasis::Forecast, Some(1.0)));
}

#[test]
fn images_from_both_registries() {
    let SignalKind::Image(i) = &fixture("aws/ecr-image-push.json").signals[0].kind else {
        panic!()
    };
    assert_eq!(
        (i.repository.as_str(), i.tag.as_deref(), i.pushed),
        ("aion-backend", Some("v2.3.1"), true)
    );
    let SignalKind::Image(i) =
        &fixture("gcp/pubsub-artifact-registry-insert.structured.json").signals[0].kind
    else {
        panic!()
    };
    assert_eq!(
        i.repository,
        "us-central1-docker.pkg.dev/aion-prod/aion/aion-backend"
    );
    assert_eq!(i.tag.as_deref(), Some("v2.3.1"));
    assert!(
        i.digest
            .as_deref()
            .is_some_and(|d| d.starts_with("sha256:"))
    );
}

#[test]
fn s3_keys_are_url_decoded() {
    let SignalKind::Object(o) = &fixture("aws/s3-notification-put.json").signals[0].kind else {
        panic!()
    };
    assert_eq!(o.key, "tenants/acme/Quarterly Report (2026) €.pdf");
    assert_eq!(o.size, Some(48213));
    let SignalKind::Object(o) = &fixture("aws/s3-notification-delete.json").signals[0].kind else {
        panic!()
    };
    assert!(!o.created);
    assert!(fixture("aws/s3-test-event.json").signals.is_empty());
}

#[test]
fn gcs_object_numbers_arrive_as_strings() {
    let SignalKind::Object(o) =
        &fixture("gcp/storage-object-finalized.binary.json").signals[0].kind
    else {
        panic!()
    };
    assert_eq!(o.key, "tenants/acme/Quarterly Report (2026) €.pdf");
    assert_eq!(o.size, Some(48213));
    assert_eq!(o.sequencer.as_deref(), Some("1763650812345678"));
    let SignalKind::Object(o) = &fixture("gcp/storage-object-deleted.binary.json").signals[0].kind
    else {
        panic!()
    };
    assert!(!o.created);
}

#[test]
fn incidents_with_epoch_and_rfc3339_times() {
    let d = fixture("gcp/pubsub-monitoring-incident-open.structured.json");
    let SignalKind::Incident(i) = &d.signals[0].kind else {
        panic!()
    };
    assert!(i.open);
    assert_eq!(i.policy, "aion-primary-down");
    assert_eq!(d.signals[0].time.map(|t| t.timestamp()), Some(1763630100));
    let d = fixture("gcp/pubsub-monitoring-incident-closed.push.json");
    let SignalKind::Incident(i) = &d.signals[0].kind else {
        panic!()
    };
    assert!(!i.open);
    assert_eq!(
        d.signals[0].time.map(|t| t.to_rfc3339()).as_deref(),
        Some("2026-11-20T09:41:00+00:00")
    );
}

#[test]
fn schedules_from_every_scheduler() {
    let SignalKind::ScheduleTick(t) =
        &fixture("aws/eventbridge-scheduled-event.json").signals[0].kind
    else {
        panic!()
    };
    assert_eq!(t.name, "aion-nightly-backup");
    let SignalKind::ScheduleTick(t) = &fixture("aws/scheduler-custom-input.json").signals[0].kind
    else {
        panic!()
    };
    assert_eq!(t.name, "aion-standby-scale-down");
    let d = fixture("gcp/scheduler-http-job.json");
    assert_eq!(d.shape, Shape::CloudSchedulerHttp);
    let SignalKind::ScheduleTick(t) = &d.signals[0].kind else {
        panic!()
    };
    assert_eq!(t.name, "aion-bucket-sync");
    let SignalKind::ScheduleTick(t) =
        &fixture("gcp/scheduler-http-job-empty-body.json").signals[0].kind
    else {
        panic!()
    };
    assert_eq!(
        (t.name.as_str(), t.input.is_none()),
        ("aion-health-probe", true)
    );
}

#[test]
fn binary_structured_and_push_modes_agree() {
    for (a, b) in [
        (
            "gcp/pubsub-billing-budget.binary.json",
            "gcp/pubsub-billing-budget.structured.json",
        ),
        (
            "gcp/pubsub-billing-budget.binary.json",
            "gcp/pubsub-billing-budget.push.json",
        ),
        (
            "gcp/pubsub-artifact-registry-insert.binary.json",
            "gcp/pubsub-artifact-registry-insert.structured.json",
        ),
        (
            "gcp/pubsub-monitoring-incident-open.binary.json",
            "gcp/pubsub-monitoring-incident-open.structured.json",
        ),
        (
            "gcp/storage-object-finalized.binary.json",
            "gcp/storage-object-finalized.structured.json",
        ),
    ] {
        assert_eq!(fixture(a).signals, fixture(b).signals, "{a} vs {b}");
    }
}

#[test]
fn aws_fixtures_are_real_shapes() {
    // aws_lambda_events' types are the community's reference for these payloads: our fixtures
    // must deserialize into them, so they cannot drift from the real shapes.
    use aws_lambda_events::event::{
        cloudwatch_alarms::CloudWatchMetricAlarm, cloudwatch_events::CloudWatchEvent, s3::S3Event,
        sns::SnsEvent,
    };
    let read = |rel: &str| std::fs::read(events_dir().join(rel)).expect("read");
    for f in [
        "aws/sns-cloudwatch-alarm.json",
        "aws/sns-budget-actual.json",
    ] {
        serde_json::from_slice::<SnsEvent>(&read(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    for f in [
        "aws/s3-notification-put.json",
        "aws/s3-notification-delete.json",
    ] {
        serde_json::from_slice::<S3Event>(&read(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    serde_json::from_slice::<CloudWatchMetricAlarm>(&read("aws/lambda-alarm-action.json"))
        .expect("alarm action");
    for f in [
        "aws/eventbridge-alarm-state-change.json",
        "aws/eventbridge-scheduled-event.json",
        "aws/ecr-image-push.json",
        "aws/eventbridge-s3-object-created.json",
        "aws/eventbridge-s3-object-deleted.json",
    ] {
        serde_json::from_slice::<CloudWatchEvent>(&read(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
}

mod no_panic {
    use super::*;
    use proptest::prelude::*;

    fn all_fixture_bytes() -> Vec<Vec<u8>> {
        ["aws", "gcp", "manual"]
            .iter()
            .flat_map(|d| fixtures_in(d))
            .map(|p| std::fs::read(p).expect("read"))
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_json(&bytes);
            let _ = decode_http(&HttpRequest { headers: vec![("ce-specversion".into(), "1.0".into())], body: bytes });
        }

        #[test]
        fn mutated_fixtures_never_panic(idx in 0usize..64, cut in 0usize..4096, flips in proptest::collection::vec((0usize..4096, any::<u8>()), 0..8)) {
            let all = all_fixture_bytes();
            let mut b = all[idx % all.len()].clone();
            for (at, byte) in flips {
                if !b.is_empty() {
                    let i = at % b.len();
                    b[i] = byte;
                }
            }
            let cut = cut % (b.len() + 1);
            let _ = decode_json(&b[..cut]);
            let _ = decode_json(&b);
        }
    }
}

#[test]
fn gcs_int64_fields_accept_numbers_as_google_examples_write_them() {
    let SignalKind::Object(o) =
        &fixture("gcp/storage-object-finalized.numbers.structured.json").signals[0].kind
    else {
        panic!()
    };
    assert_eq!(o.size, Some(1024));
    assert_eq!(o.sequencer.as_deref(), Some("1763712160120456"));
    let mut v: serde_json::Value = serde_json::from_slice(
        &std::fs::read(events_dir().join("gcp/storage-object-finalized.numbers.structured.json"))
            .expect("read"),
    )
    .expect("json");
    v["data"]["size"] = serde_json::json!(-5);
    let e = decode_value(v).expect_err("negative size").to_string();
    assert!(
        e.contains("size") && e.contains("non-negative integer"),
        "{e}"
    );
}

#[test]
fn s3_lifecycle_expiry_is_a_delete_and_restores_or_tags_are_acknowledged() {
    let d = fixture("aws/s3-notification-lifecycle-and-restore.json");
    assert_eq!(d.signals.len(), 1, "restore and tagging change no content");
    let SignalKind::Object(o) = &d.signals[0].kind else {
        panic!()
    };
    assert_eq!(
        (o.key.as_str(), o.created),
        ("tmp/export-2026-10-01.csv", false)
    );
    // Every event type of S3's notification documentation is handled or acknowledged.
    for name in [
        "ObjectCreated:Put",
        "ObjectCreated:Post",
        "ObjectCreated:Copy",
        "ObjectCreated:CompleteMultipartUpload",
        "ObjectRemoved:Delete",
        "ObjectRemoved:DeleteMarkerCreated",
        "ObjectRestore:Post",
        "ObjectRestore:Completed",
        "ObjectRestore:Delete",
        "ReducedRedundancyLostObject",
        "Replication:OperationFailedReplication",
        "Replication:OperationMissedThreshold",
        "Replication:OperationReplicatedAfterThreshold",
        "Replication:OperationNotTracked",
        "LifecycleExpiration:Delete",
        "LifecycleExpiration:DeleteMarkerCreated",
        "LifecycleTransition",
        "IntelligentTiering",
        "ObjectTagging:Put",
        "ObjectTagging:Delete",
        "ObjectAcl:Put",
    ] {
        let mut v: serde_json::Value = serde_json::from_slice(
            &std::fs::read(events_dir().join("aws/s3-notification-put.json")).expect("read"),
        )
        .expect("json");
        v["Records"][0]["eventName"] = name.into();
        decode_value(v).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn errors_quote_a_bounded_part_of_the_input_and_no_type_names() {
    let huge = "x".repeat(20_000_000);
    let mut v: serde_json::Value = serde_json::from_slice(
        &std::fs::read(events_dir().join("gcp/storage-object-finalized.structured.json"))
            .expect("read"),
    )
    .expect("json");
    v["data"]["size"] = huge.clone().into();
    let e = decode_value(v).expect_err("not a size").to_string();
    assert!(e.len() < 1000, "{} bytes", e.len());
    let mut alarm: serde_json::Value = serde_json::from_slice(
        &std::fs::read(events_dir().join("aws/lambda-alarm-action.json")).expect("read"),
    )
    .expect("json");
    alarm["alarmData"] = serde_json::json!([]);
    let e = decode_value(alarm).expect_err("not an object").to_string();
    assert!(!e.contains("struct") && !e.contains("Lambda"), "{e}");
    let unknown = serde_json::json!({ huge.clone(): 1 });
    assert!(
        decode_value(unknown)
            .expect_err("unknown")
            .to_string()
            .len()
            < 1000
    );
}
