//! GCP adapters against fake-gcs-server (started by scripts/test.sh) and a Pub/Sub fake that
//! validates every request against Google's discovery document.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use serde_json::json;
use twincloud_core::ports::{Notifier, Precondition, Retry, StateStore, Version};
use twincloud_core::{Message, Severity};
use twincloud_gcp::{GcpContext, GcsStateStore, PubSubNotifier, resolve_secret};
use twincloud_testkit::{CaptureServer, DiscoveryFake, Fault, FaultProxy, emulators, unique};

async fn bucket(ctx_base: &str) -> String {
    let name = unique("state");
    let r = reqwest::Client::new()
        .post(format!("{ctx_base}/storage/v1/b?project=test"))
        .json(&json!({"name": name}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    name
}

fn message() -> Message {
    Message {
        project: "aion".into(),
        title: "Incident opened for aion-primary-down".into(),
        severity: Severity::Critical,
        kind: "incident".into(),
        summary: "Uptime check failing".into(),
        fields: vec![],
        link: Some("https://console.cloud.google.com/monitoring".into()),
        event_id: "evt-gcp".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gcs_state_store_conforms() {
    let base = emulators::gcs_url();
    let b = bucket(&base).await;
    let store = GcsStateStore::new(
        &GcpContext::for_emulator(&base).unwrap(),
        &b,
        "twincloud/prod",
    );
    let backend = twincloud_testkit::conformance::StateStoreBackend {
        enforces_conditional_delete: false,
        ..Default::default()
    };
    twincloud_testkit::conformance::state_store_on(Arc::new(store), "suite", backend).await;
}

#[tokio::test]
async fn gcs_state_store_survives_5xx_and_dropped_connections() {
    let base = emulators::gcs_url();
    let b = bucket(&base).await;
    let proxy = FaultProxy::start(&base).await;
    proxy.inject("POST /upload", 1, Fault::unavailable());
    proxy.inject("GET /storage", 1, Fault::Drop);
    proxy.inject("GET /storage", 1, Fault::too_many_requests(0));
    let store = GcsStateStore::new(&GcpContext::for_emulator(&proxy.url()).unwrap(), &b, "");
    store.put("k", b"v", &Precondition::Absent).await.unwrap();
    assert_eq!(store.get("k").await.unwrap().unwrap().value, b"v");
    assert_eq!(proxy.stats().faulted, 3);
}

#[tokio::test]
async fn gcs_conditional_delete_sends_if_generation_match() {
    // fake-gcs-server does not enforce ifGenerationMatch on DELETE (GCS does): check that the
    // store sends it and maps 412 to a lost race.
    let server = CaptureServer::start().await;
    server.script([twincloud_testkit::Reply::new(
        412,
        r#"{"error":{"code":412,"message":"conditionNotMet"}}"#,
    )]);
    let store = GcsStateStore::new(
        &GcpContext::for_emulator(&server.url()).unwrap(),
        "bkt",
        "p",
    );
    let e = store
        .delete("k", &Precondition::Matches(Version("42".into())))
        .await
        .unwrap_err();
    assert!(
        matches!(e, twincloud_core::StateError::ConditionFailed(_)),
        "{e:?}"
    );
    let reqs = server.requests();
    assert_eq!(reqs[0].method, "DELETE");
    assert_eq!(
        reqs[0].uri,
        "/storage/v1/b/bkt/o/p%2Fk?ifGenerationMatch=42"
    );
}

#[tokio::test]
async fn pubsub_publish_is_a_valid_api_call() {
    let fake = DiscoveryFake::start("pubsub.v1", |_| (200, json!({"messageIds": ["4242"]}))).await;
    let ctx = GcpContext::for_emulator(&fake.url()).unwrap();
    let n = PubSubNotifier::new(&ctx, "bus", "projects/aion-prod/topics/twincloud-messages");
    let d = n.send(&message()).await.unwrap();
    assert_eq!(d.provider_id.as_deref(), Some("4242"));
    assert!(fake.rejected().is_empty(), "{:?}", fake.rejected());
    let calls = fake.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].method, "pubsub.projects.topics.publish");
    assert_eq!(
        calls[0].path,
        "/v1/projects/aion-prod/topics/twincloud-messages:publish"
    );
    let m = &calls[0].body["messages"][0];
    assert_eq!(m["attributes"]["severity"], "critical");
    use base64::Engine;
    let data = base64::engine::general_purpose::STANDARD
        .decode(m["data"].as_str().unwrap())
        .unwrap();
    let inner: serde_json::Value = serde_json::from_slice(&data).unwrap();
    assert_eq!(inner["title"], "Incident opened for aion-primary-down");
}

#[tokio::test]
async fn pubsub_retries_unavailable_and_reports_permission_errors_as_permanent() {
    let fake = DiscoveryFake::start("pubsub.v1", |_| (200, json!({"messageIds": ["1"]}))).await;
    fake.fail_next([(
        503,
        json!({"error": {"code": 503, "status": "UNAVAILABLE"}}),
    )]);
    let ctx = GcpContext::for_emulator(&fake.url()).unwrap();
    let n = PubSubNotifier::new(&ctx, "bus", "projects/p/topics/t");
    assert_eq!(n.send(&message()).await.unwrap().attempts, 2);
    fake.fail_next([(
        403,
        json!({"error": {"code": 403, "status": "PERMISSION_DENIED"}}),
    )]);
    let e = n.send(&message()).await.unwrap_err();
    assert_eq!(e.retry, Retry::Permanent);
    assert!(e.message.contains("403"), "{}", e.message);
}

#[tokio::test]
async fn the_validating_fake_catches_a_misspelt_field() {
    let fake = DiscoveryFake::start("pubsub.v1", |_| (200, json!({}))).await;
    let r = reqwest::Client::new()
        .post(format!("{}/v1/projects/p/topics/t:publish", fake.url()))
        .json(&json!({"messages": [{"dataa": "aGk="}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(
        fake.rejected()[0].contains("unknown field `dataa`"),
        "{:?}",
        fake.rejected()
    );
}

#[tokio::test]
async fn secret_manager_access_by_json_key() {
    let server = CaptureServer::start().await;
    use base64::Engine;
    let payload =
        base64::engine::general_purpose::STANDARD.encode(r#"{"url":"http://127.0.0.1:9/x"}"#);
    server.script([twincloud_testkit::Reply::new(
        200,
        &json!({"name": "projects/p/secrets/s/versions/1", "payload": {"data": payload}})
            .to_string(),
    )]);
    let ctx = GcpContext::for_emulator(&server.url()).unwrap();
    let s = resolve_secret(&ctx, "projects/p/secrets/s/versions/latest", Some("url"))
        .await
        .unwrap();
    assert_eq!(s.expose(), "http://127.0.0.1:9/x");
    assert_eq!(
        server.requests()[0].uri,
        "/v1/projects/p/secrets/s/versions/latest:access"
    );
}

/// A Cloud Run Admin v2 fake holding services; every request is validated against run.v2.json.
async fn cloud_run_fake() -> DiscoveryFake {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};
    let services: Arc<Mutex<BTreeMap<String, serde_json::Value>>> = Arc::default();
    services.lock().unwrap().insert(
        "aion-backend".into(),
        json!({"name": "projects/aion-prod/locations/us-central1/services/aion-backend", "scaling": {"minInstanceCount": 0},
               "template": {"scaling": {"maxInstanceCount": 10}}, "reconciling": false,
               "terminalCondition": {"type": "Ready", "state": "CONDITION_SUCCEEDED"},
               "latestReadyRevision": "projects/aion-prod/locations/us-central1/services/aion-backend/revisions/aion-backend-00042-xyz",
               "latestCreatedRevision": "projects/aion-prod/locations/us-central1/services/aion-backend/revisions/aion-backend-00042-xyz"}),
    );
    services.lock().unwrap().insert(
        "aion-rolling".into(),
        json!({"scaling": {"minInstanceCount": 2}, "template": {"scaling": {"maxInstanceCount": 10}}, "reconciling": false,
               "terminalCondition": {"type": "Ready", "state": "CONDITION_SUCCEEDED"},
               "latestReadyRevision": "projects/p/locations/l/services/aion-rolling/revisions/r-1",
               "latestCreatedRevision": "projects/p/locations/l/services/aion-rolling/revisions/r-2"}),
    );
    DiscoveryFake::start("run.v2", move |call| {
        let name = call.path.rsplit('/').next().unwrap_or("").to_owned();
        let mut map = services.lock().unwrap();
        let Some(svc) = map.get_mut(&name) else {
            return (404, json!({"error": {"code": 404, "status": "NOT_FOUND", "message": format!("service {name} not found")}}));
        };
        match call.method.as_str() {
            "run.projects.locations.services.get" => (200, svc.clone()),
            "run.projects.locations.services.patch" if call.query == "updateMask=scaling.maxInstanceCount" => {
                svc["scaling"]["maxInstanceCount"] = call.body["scaling"]["maxInstanceCount"].clone();
                (200, json!({"name": "projects/aion-prod/locations/us-central1/operations/op-2", "done": true}))
            }
            "run.projects.locations.services.patch" => {
                assert_eq!(call.query, "updateMask=scaling.minInstanceCount", "only the minimum changes");
                svc["scaling"]["minInstanceCount"] = call.body["scaling"]["minInstanceCount"].clone();
                (200, json!({"name": "projects/aion-prod/locations/us-central1/operations/op-1", "done": true}))
            }
            other => (400, json!({"error": {"message": format!("unexpected {other}")}})),
        }
    })
    .await
}

#[tokio::test]
async fn cloud_run_compute_conforms_with_valid_api_calls() {
    let fake = cloud_run_fake().await;
    let c = twincloud_gcp::CloudRunCompute::new(
        &GcpContext::for_emulator(&fake.url()).unwrap(),
        "aion-prod",
        "us-central1",
    );
    twincloud_testkit::conformance::compute(&c, "aion-backend", 10, "no-such-service").await;
    assert!(fake.rejected().is_empty(), "{:?}", fake.rejected());
    assert!(
        fake.calls()
            .iter()
            .any(|c| c.method == "run.projects.locations.services.patch")
    );
    use twincloud_core::ports::Compute;
    let rolling = c.scale("aion-rolling").await.unwrap();
    assert_eq!(
        (rolling.desired, rolling.ready),
        (2, 0),
        "a revision still starting is not ready"
    );
    // The service-level maximum (Admin API v2 `scaling.maxInstanceCount`) is set and read back.
    assert!(c.set_max("aion-backend", 40).await.unwrap());
    assert_eq!(c.scale("aion-backend").await.unwrap().max, Some(40));
    assert!(fake.rejected().is_empty(), "{:?}", fake.rejected());
}

/// A Cloud DNS fake: record sets, atomic changes whose deletions must match what is there.
async fn cloud_dns_fake() -> DiscoveryFake {
    use std::sync::{Arc, Mutex};
    let sets: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    DiscoveryFake::start("dns.v1", move |call| {
        let mut sets = sets.lock().unwrap();
        match call.method.as_str() {
            "dns.resourceRecordSets.list" => {
                let name = call.query.split('&').find_map(|p| p.strip_prefix("name=")).unwrap_or("").to_owned();
                let found: Vec<_> = sets.iter().filter(|s| s["name"] == name.as_str()).cloned().collect();
                (200, json!({"kind": "dns#resourceRecordSetsListResponse", "rrsets": found}))
            }
            "dns.changes.create" => {
                for d in call.body["deletions"].as_array().into_iter().flatten() {
                    match sets.iter().position(|s| s == d) {
                        Some(i) => {
                            sets.remove(i);
                        }
                        None => return (412, json!({"error": {"code": 412, "message": "conditionNotMet: deletion does not match"}})),
                    }
                }
                sets.extend(call.body["additions"].as_array().into_iter().flatten().cloned());
                (200, json!({"kind": "dns#change", "id": "7", "status": "pending"}))
            }
            "dns.changes.get" => (200, json!({"kind": "dns#change", "id": "7", "status": "done"})),
            other => (400, json!({"error": {"message": format!("unexpected {other}")}})),
        }
    })
    .await
}

#[tokio::test]
async fn cloud_dns_traffic_conforms_with_valid_api_calls() {
    let fake = cloud_dns_fake().await;
    let t = twincloud_gcp::CloudDnsTraffic::new(
        &GcpContext::for_emulator(&fake.url()).unwrap(),
        "aion-prod",
        "aion-zone",
        60,
    );
    twincloud_testkit::conformance::traffic(&t, "api.aion.example.").await;
    assert!(fake.rejected().is_empty(), "{:?}", fake.rejected());
    let creates: Vec<_> = fake
        .calls()
        .into_iter()
        .filter(|c| c.method == "dns.changes.create")
        .collect();
    assert_eq!(
        creates.len(),
        2,
        "one change per real switch; the no-op switch sends none"
    );
    assert_eq!(
        creates[1].body["deletions"][0]["rrdatas"][0], "primary.example.com.",
        "the old record is deleted in the same change"
    );
}

#[tokio::test]
async fn gcs_object_store_conforms() {
    let base = emulators::gcs_url();
    let b = bucket(&base).await;
    let store = twincloud_gcp::GcsObjectStore::new(
        &GcpContext::for_emulator(&base).unwrap(),
        &b,
        "uploads",
    );
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
async fn pubsub_conforms() {
    let fake = DiscoveryFake::start("pubsub.v1", |_| (200, json!({"messageIds": ["1"]}))).await;
    let ctx = GcpContext::for_emulator(&fake.url()).unwrap();
    let n = PubSubNotifier::new(&ctx, "bus", "projects/aion-prod/topics/twincloud-messages");
    let published = || async {
        use base64::Engine;
        fake.calls()
            .iter()
            .flat_map(|c| c.body["messages"].as_array().cloned().unwrap_or_default())
            .map(|m| {
                let data = base64::engine::general_purpose::STANDARD
                    .decode(m["data"].as_str().unwrap_or_default())
                    .unwrap();
                String::from_utf8(data).unwrap()
            })
            .collect::<Vec<_>>()
    };
    twincloud_testkit::conformance::notifier(&n, published).await;
    assert!(fake.rejected().is_empty(), "{:?}", fake.rejected());
}

#[tokio::test]
async fn cloud_run_load_is_read_from_cloud_monitoring_with_valid_calls() {
    let fake = DiscoveryFake::start("monitoring.v3", |call| {
        let cpu = call.query.contains("cpu%2Futilizations");
        let value = |v: f64| json!([{"interval": {"endTime": "2026-11-30T10:01:00Z"}, "value": {"doubleValue": v}}]);
        // A service with no data at all (the conformance suite's quiet one).
        let points = if call.query.contains("quiet") {
            json!([])
        } else if call.query.contains("request_count") {
            value(2.0)
        } else if call.query.contains("instance_count") {
            value(4.0)
        } else if cpu {
            json!([{"interval": {"endTime": "2026-11-30T10:01:00Z"}, "value": {"doubleValue": 0.9}},
                   {"interval": {"endTime": "2026-11-30T10:00:00Z"}, "value": {"doubleValue": 0.7}}])
        } else {
            json!([])
        };
        (200, json!({"timeSeries": [{"metricKind": "GAUGE", "valueType": "DOUBLE", "points": points}]}))
    })
    .await;
    let ctx = twincloud_gcp::GcpContext::for_emulator(&fake.url()).unwrap();
    let m = twincloud_gcp::CloudMonitoringRunMetrics::new(&ctx, "aion-prod", "us-central1");
    let r = twincloud_core::ports::Metrics::readings(
        &m,
        "aion-backend",
        &[
            twincloud_core::config::Metric::Cpu,
            twincloud_core::config::Metric::Memory,
            twincloud_core::config::Metric::RequestsPerInstance,
        ],
    )
    .await
    .unwrap();
    assert_eq!(r.len(), 2, "no memory points: left out, not zero: {r:?}");
    assert!((r[0].1 - 80.0).abs() < 1e-9, "{r:?}");
    // 2 requests a second over 4 instances: 30 a minute each.
    assert!((r[1].1 - 30.0).abs() < 1e-9, "{r:?}");
    assert!(fake.rejected().is_empty(), "{:?}", fake.rejected());
    let calls = fake.calls();
    assert_eq!(calls[0].method, "monitoring.projects.timeSeries.list");
    twincloud_testkit::conformance::metrics(
        &m,
        "aion-backend",
        &[
            (twincloud_core::config::Metric::Cpu, 80.0),
            (twincloud_core::config::Metric::RequestsPerInstance, 30.0),
        ],
        "quiet",
    )
    .await;
    assert!(
        calls[0].query.contains("resource.labels.service_name"),
        "{}",
        calls[0].query
    );
}

#[tokio::test]
async fn budgets_and_billing_links_through_the_billing_apis_with_valid_calls() {
    use std::sync::{Arc, Mutex};
    use twincloud_core::planner::budget::BudgetRef;
    use twincloud_core::ports::Budgets;
    let budgets = DiscoveryFake::start("billingbudgets.v1", |call| {
        if call.path.ends_with("/budgets/de72") {
            (200, json!({"name": "billingAccounts/01D4EE-079462-DFD6EC/budgets/de72", "displayName": "aion-gcp",
                         "budgetFilter": {"calendarPeriod": "QUARTER"},
                         "amount": {"specifiedAmount": {"currencyCode": "USD", "units": "10", "nanos": 500000000}}}))
        } else {
            (404, json!({"error": {"code": 404, "status": "NOT_FOUND", "message": "no such budget"}}))
        }
    })
    .await;
    let link: Arc<Mutex<String>> =
        Arc::new(Mutex::new("billingAccounts/01D4EE-079462-DFD6EC".into()));
    let l = link.clone();
    let billing = DiscoveryFake::start("cloudbilling.v1", move |call| match call.method.as_str() {
        "cloudbilling.projects.getBillingInfo" => {
            let a = l.lock().unwrap().clone();
            (200, json!({"name": "projects/aion-sandbox/billingInfo", "projectId": "aion-sandbox",
                         "billingAccountName": a, "billingEnabled": !a.is_empty()}))
        }
        "cloudbilling.projects.updateBillingInfo" => {
            let a = call.body["billingAccountName"].as_str().unwrap_or("").to_owned();
            *l.lock().unwrap() = a.clone();
            (200, json!({"name": "projects/aion-sandbox/billingInfo", "billingAccountName": a, "billingEnabled": !a.is_empty()}))
        }
        other => (400, json!({"error": {"message": format!("unexpected {other}")}})),
    })
    .await;
    let ctx = GcpContext::for_emulator(&budgets.url()).unwrap();
    let b = twincloud_gcp::GcpBilling::new(&ctx);
    let r = b
        .read(&BudgetRef::Gcp {
            billing_account: "01D4EE-079462-DFD6EC".into(),
            budget_id: "de72".into(),
        })
        .await
        .unwrap()
        .expect("the budget");
    assert!((r.limit - 10.5).abs() < 1e-9, "{r:?}");
    assert_eq!(
        r.actual, None,
        "Google reports no spend through the Budget API"
    );
    assert!(r.period_start.ends_with("-01"), "{r:?}");
    let none = b
        .read(&BudgetRef::Gcp {
            billing_account: "01D4EE-079462-DFD6EC".into(),
            budget_id: "gone".into(),
        })
        .await
        .unwrap();
    assert_eq!(none, None);
    let gcp_budget = |id: &str| BudgetRef::Gcp {
        billing_account: "01D4EE-079462-DFD6EC".into(),
        budget_id: id.into(),
    };
    twincloud_testkit::conformance::budgets(&b, &gcp_budget("de72"), 10.5, &gcp_budget("gone"))
        .await;
    assert!(budgets.rejected().is_empty(), "{:?}", budgets.rejected());

    let b = twincloud_gcp::GcpBilling::new(&GcpContext::for_emulator(&billing.url()).unwrap());
    twincloud_testkit::conformance::billing_link(
        &b,
        "aion-sandbox",
        "billingAccounts/01D4EE-079462-DFD6EC",
    )
    .await;
    assert_eq!(
        link.lock().unwrap().as_str(),
        "billingAccounts/01D4EE-079462-DFD6EC"
    );
    assert!(billing.rejected().is_empty(), "{:?}", billing.rejected());
}
