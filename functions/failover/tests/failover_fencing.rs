//! The failover lock is fenced: an invocation that lost its lock (another took over while it
//! was scaling, or between the DNS step and its record) neither moves traffic nor overwrites
//! the newer decision, and a conditional write whose answer was lost is re-read, not given up.
//! The other invocation is played by the state store itself, at the exact moment that matters.
#![allow(clippy::unwrap_used)]

#[path = "../../../tests/support/common.rs"]
mod common;
#[path = "../../../tests/support/failover_world.rs"]
mod failover_world;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use common::config;
use failover_world::{World, failover_toml, tick};
use twincloud_core::planner::failover::STATE_KEY;
use twincloud_core::ports::{Compute, PortError, Precondition, ServiceScale, StateStore, Traffic};
use twincloud_failover::Failover;
use twincloud_runtime::{Clouds, Invoker, Services};
use twincloud_testkit::stores::{LostAnswer, LostAs};

/// What another invocation writes when it takes the lock over.
fn newer_decision() -> Vec<u8> {
    serde_json::json!({
        "active": "GCP Cloud Run",
        "in_flight": {
            "id": "failover-29991231T000000-other-invocation",
            "kind": "failover",
            "from": "GCP Cloud Run",
            "to": "AWS Fargate",
            "detected": "2026-11-29T00:00:00Z",
            "started": "2026-11-29T00:00:00Z"
        },
        "last_switch": null,
        "history": []
    })
    .to_string()
    .into_bytes()
}

/// Compute that, as it scales, lets "another invocation" take the failover lock over.
struct TakeoverWhileScaling {
    inner: Arc<dyn Compute>,
    state: Arc<dyn StateStore>,
    done: AtomicBool,
}

#[async_trait]
impl Compute for TakeoverWhileScaling {
    async fn scale(&self, service: &str) -> Result<ServiceScale, PortError> {
        self.inner.scale(service).await
    }
    async fn set_desired(&self, service: &str, desired: u32) -> Result<(), PortError> {
        self.inner.set_desired(service, desired).await?;
        if !self.done.swap(true, Ordering::SeqCst) {
            self.state
                .put(STATE_KEY, &newer_decision(), &Precondition::None)
                .await
                .unwrap();
        }
        Ok(())
    }
}

/// DNS that, as it switches, lets "another invocation" take the lock over.
struct TakeoverWhileSwitching {
    inner: Arc<dyn Traffic>,
    state: Arc<dyn StateStore>,
}

#[async_trait]
impl Traffic for TakeoverWhileSwitching {
    async fn current_target(&self, record: &str) -> Result<Option<String>, PortError> {
        self.inner.current_target(record).await
    }
    async fn switch(&self, record: &str, target: &str) -> Result<(), PortError> {
        self.inner.switch(record, target).await?;
        self.state
            .put(STATE_KEY, &newer_decision(), &Precondition::None)
            .await
            .unwrap();
        Ok(())
    }
}

async fn services(w: &World) -> Services {
    let cfg = config(
        w.dir.path(),
        &failover_toml(&w.gcp.url(), &w.aws.url(), "manual", 300),
    );
    Services::build_for(twincloud_failover::SPEC.wiring, cfg, &Clouds::default())
        .await
        .unwrap()
}

async fn stored_state(inv: &Invoker) -> serde_json::Value {
    let stored = inv.services().state.get(STATE_KEY).await.unwrap().unwrap();
    serde_json::from_slice(&stored.value).unwrap()
}

#[tokio::test]
async fn an_invocation_that_lost_the_lock_while_scaling_does_not_move_traffic() {
    let mut w = World::new().await;
    let mut s = services(&w).await;
    let key = twincloud_core::plan::ComputeRef::Endpoint("AWS Fargate".into());
    let aws = s.compute[&key].clone();
    s.compute.insert(
        key,
        Arc::new(TakeoverWhileScaling {
            inner: aws,
            state: s.state.clone(),
            done: AtomicBool::new(false),
        }),
    );
    let inv = Invoker::new(Box::new(Failover), s, false);
    w.gcp.kill().await;
    let mut last = None;
    for n in 0..3 {
        last = Some(tick(&inv, n).await);
    }
    assert_eq!(
        w.dns().await,
        "aion-xyz-uc.a.run.app.",
        "the lock changed hands: this invocation must not switch"
    );
    let report = last.unwrap();
    let switch = &report.results[0].followups[0];
    let traffic = switch
        .actions
        .iter()
        .find(|a| a.id == "switch-traffic")
        .unwrap();
    assert!(
        matches!(&traffic.outcome, twincloud_runtime::Outcome::Failed { error, .. } if error.contains("another invocation took over")),
        "{:?}",
        traffic.outcome
    );
    assert_eq!(
        stored_state(&inv).await["in_flight"]["id"],
        "failover-29991231T000000-other-invocation",
        "the newer decision stands"
    );
}

#[tokio::test]
async fn the_final_record_does_not_overwrite_a_newer_decision() {
    let mut w = World::new().await;
    let mut s = services(&w).await;
    let dns = s.traffic.clone().unwrap();
    s.traffic = Some(Arc::new(TakeoverWhileSwitching {
        inner: dns,
        state: s.state.clone(),
    }));
    let inv = Invoker::new(Box::new(Failover), s, false);
    w.gcp.kill().await;
    let mut last = None;
    for n in 0..3 {
        last = Some(tick(&inv, n).await);
    }
    let report = last.unwrap();
    let record = report.results[0].followups[0]
        .actions
        .iter()
        .find(|a| a.id == "record")
        .unwrap();
    assert!(
        matches!(&record.outcome, twincloud_runtime::Outcome::Failed { error, .. } if error.contains("another invocation took over")),
        "{:?}",
        record.outcome
    );
    assert_eq!(
        stored_state(&inv).await["in_flight"]["id"],
        "failover-29991231T000000-other-invocation"
    );
}

#[tokio::test]
async fn a_lock_write_whose_answer_was_lost_is_re_read_and_kept() {
    let mut w = World::new().await;
    let mut s = services(&w).await;
    // The first conditional write of the failover record lands, and answers with a timeout.
    s.state = Arc::new(
        LostAnswer::new(s.state.clone(), LostAs::Timeout)
            .on_key(STATE_KEY)
            .conditional_only(),
    );
    let inv = Invoker::new(Box::new(Failover), s, false);
    w.gcp.kill().await;
    for n in 0..3 {
        tick(&inv, n).await;
    }
    assert_eq!(
        w.dns().await,
        "aion-alb-123.us-east-1.elb.amazonaws.com.",
        "the write had landed: the switch goes on"
    );
    assert_eq!(stored_state(&inv).await["active"], "AWS Fargate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rounds_of_one_vantage_are_all_counted() {
    let w = World::new().await;
    let mut tasks = Vec::new();
    for n in 0..8 {
        let inv = Invoker::new(Box::new(Failover), services(&w).await, false);
        tasks.push(tokio::spawn(async move { tick(&inv, 100 + n).await }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let inv = Invoker::new(Box::new(Failover), services(&w).await, false);
    let key = twincloud_core::planner::failover::vantage_key("local");
    let view: serde_json::Value =
        serde_json::from_slice(&inv.services().state.get(&key).await.unwrap().unwrap().value)
            .unwrap();
    assert_eq!(
        view["endpoints"]["GCP Cloud Run"]["consecutive_successes"], 8,
        "every invocation's round is in the view: {view}"
    );
}

#[tokio::test]
async fn a_writer_whose_lease_ran_out_changes_nothing() {
    use twincloud_core::plan::{Action, Guard, Operation, Plan};
    let w = World::new().await;
    let s = services(&w).await;
    let mut plan = Plan::new("failover", "late-writer");
    // A lease already over when the guard lands: a writer that was paused past it.
    plan.guard = Some(Guard {
        key: STATE_KEY.into(),
        expect: Precondition::Absent,
        value: serde_json::json!({"active": "GCP Cloud Run", "in_flight": null, "last_switch": null, "history": []}),
        reason: "take the lock".into(),
        lease_secs: Some(0),
        fences: vec!["switch-traffic".into(), "record".into()],
    });
    plan.actions.push(Action {
        id: "switch-traffic".into(),
        reason: "test".into(),
        depends_on: None,
        op: Operation::SwitchTraffic {
            record: failover_world::RECORD.into(),
            target: "aion-alb-123.us-east-1.elb.amazonaws.com.".into(),
        },
    });
    plan.actions.push(Action {
        id: "record".into(),
        reason: "test".into(),
        depends_on: None,
        op: Operation::PutState {
            key: STATE_KEY.into(),
            value: newer_decision_value(),
        },
    });
    let exec = twincloud_runtime::executor::execute(
        &s,
        plan,
        twincloud_runtime::Invocation::new(chrono::Utc::now(), false, None),
    )
    .await
    .unwrap();
    for a in &exec.actions {
        assert!(
            matches!(&a.outcome, twincloud_runtime::Outcome::Failed { error, .. } if error.contains("lease")),
            "{}: {:?}",
            a.id,
            a.outcome
        );
    }
    assert_eq!(w.dns().await, "aion-xyz-uc.a.run.app.", "traffic untouched");
}

fn newer_decision_value() -> serde_json::Value {
    serde_json::from_slice(&newer_decision()).unwrap()
}
