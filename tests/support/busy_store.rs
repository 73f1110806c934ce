//! A busy state store for the operations page: a day of probe rounds from two vantages, twenty
//! switches with their audit trail, a day of scaling changes, and filler audit records and
//! refused events up to the number asked. Shared by `tests/status_page.rs` and
//! `examples/status_page_bench.rs`.
#![allow(clippy::unwrap_used, dead_code)]

use chrono::{DateTime, Utc};
use twincloud_core::planner::failover::{
    FailoverState, STATE_KEY, SwitchInFlight, SwitchKind, SwitchRecord, VantageView, vantage_key,
};
use twincloud_core::planner::scaling::{ScalingChange, ScalingRecord, record_key};
use twincloud_core::ports::{Precondition, StateStore};
use twincloud_local::LocalStateStore;
use twincloud_runtime::audit::AuditRecord;
use twincloud_runtime::executor::Outcome;

/// The configuration sections the seeded records belong to.
pub const FAILOVER: &str = r#"[failover]
record = "api.aion.example."

[[failover.endpoints]]
name = "GCP Cloud Run"
cloud = "gcp"
primary = true
url = "http://127.0.0.1:9"
dns_target = "aion-xyz-uc.a.run.app."
compute = "local"
service = "aion-backend-gcp"

[[failover.endpoints]]
name = "AWS Fargate"
cloud = "aws"
url = "http://127.0.0.1:9"
dns_target = "aion-alb-123.us-east-1.elb.amazonaws.com."
compute = "local"
service = "aion-backend-aws"

[[scaling.services]]
name = "aion-api"
compute = "local"
service = "aion-api"
min = 2
max = 10
targets = { cpu = 70 }
"#;

/// Writes one record.
pub async fn put(store: &LocalStateStore, key: &str, v: &impl serde::Serialize) {
    store
        .put(key, &serde_json::to_vec(v).unwrap(), &Precondition::None)
        .await
        .unwrap();
}

/// Fills `store` with `total` records as of `now`, `refused` of them refused events of today.
pub async fn seed(store: &LocalStateStore, now: DateTime<Utc>, total: usize, refused: usize) {
    let at = |mins: i64| now - chrono::Duration::minutes(mins);
    // A day of rounds, a minute apart, from two vantages: the primary failed for an hour.
    for vantage in ["aws", "gcp"] {
        let mut view = VantageView {
            vantage: vantage.into(),
            at: Some(now),
            ..VantageView::default()
        };
        for m in (0..24 * 60).rev() {
            for name in ["GCP Cloud Run", "AWS Fargate"] {
                let failing = name == "GCP Cloud Run" && (120..180).contains(&m);
                view.endpoints.entry(name.into()).or_default().observe(
                    !failing,
                    Some("HTTP 503".into()),
                    at(m),
                    3,
                );
            }
        }
        put(store, &vantage_key(vantage), &view).await;
    }
    // Twenty switches, each with its audit trail, among 9,000 other audit records and 900
    // refused events: the page reads what the switches need and counts the rest.
    let mut state = FailoverState {
        active: "GCP Cloud Run".into(),
        in_flight: None,
        last_switch: Some(at(60)),
        history: vec![],
    };
    let mut written = 2;
    for i in 0..20i64 {
        let (from, to, kind) = if i % 2 == 0 {
            ("GCP Cloud Run", "AWS Fargate", SwitchKind::Failover)
        } else {
            ("AWS Fargate", "GCP Cloud Run", SwitchKind::Failback)
        };
        let detected = at(1200 - i * 55);
        let switch = SwitchInFlight {
            id: format!("switch-{i}"),
            kind,
            from: from.into(),
            to: to.into(),
            detected,
            started: detected + chrono::Duration::seconds(2),
            settled: false,
        };
        for (action, secs) in [("scale-up", 3), ("wait-ready", 40), ("switch-traffic", 42)] {
            let mut rec = AuditRecord::new(
                "failover",
                &switch.id,
                action,
                action,
                "test",
                Outcome::Done { detail: None },
            );
            rec.at = detected + chrono::Duration::seconds(secs);
            twincloud_runtime::audit::write(store, &rec).await;
            written += 1;
        }
        state.history.push(SwitchRecord {
            finished: detected + chrono::Duration::seconds(43),
            switch,
        });
    }
    put(store, STATE_KEY, &state).await;
    put(
        store,
        &record_key("aion-api"),
        &ScalingRecord {
            changes: (0..200)
                .map(|i| ScalingChange {
                    at: at(1400 - i * 7),
                    from: 2 + (i % 3) as u32,
                    to: 3 + (i % 3) as u32,
                    reason: format!("cpu at {}", 60 + i % 30),
                    event: None,
                    failed: None,
                })
                .collect(),
            ..ScalingRecord::default()
        },
    )
    .await;
    written += 2;
    let today = now.format("%Y-%m-%d");
    for i in 0..(total - written - refused) {
        let key = format!("audit/{today}/failover/probe-{i}-record@{i}");
        store
            .put(
                &key,
                br#"{"outcome":{"status":"done"}}"#,
                &Precondition::None,
            )
            .await
            .unwrap();
    }
    for i in 0..refused {
        let key = format!("rejected/{today}/failover/{i:064x}");
        store.put(&key, b"{}", &Precondition::None).await.unwrap();
    }
}
