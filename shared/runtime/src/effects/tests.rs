#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::Utc;
use twincloud_core::ports::{ErrorKind, PortError, Retry, StateStore, get_json};
use twincloud_local::LocalStateStore;

use super::*;
use twincloud_testkit::stores::{LostAnswer, LostAs};

fn fx(state: Arc<dyn StateStore>, event: &str) -> Effects {
    Effects::on(state, "scaling", event, false, Utc::now())
}

fn scale(id: &str) -> Effect {
    Effect::new(id, "scale api to 4", "cpu at 140 %").replacing(2u32)
}

async fn counted(calls: &AtomicUsize, r: Result<u32, PortError>) -> Result<u32, PortError> {
    calls.fetch_add(1, Ordering::SeqCst);
    r
}

async fn entry(state: &dyn StateStore, event: &str, id: &str) -> JournalEntry {
    get_json::<JournalEntry>(state, &journal_key("scaling", event, id))
        .await
        .unwrap()
        .unwrap()
        .0
}

#[tokio::test]
async fn an_effect_is_journaled_before_and_after_and_never_made_twice() {
    let dir = tempfile::tempdir().unwrap();
    let state: Arc<dyn StateStore> = Arc::new(LocalStateStore::new(dir.path()));
    let calls = AtomicUsize::new(0);
    let mut first = fx(state.clone(), "ev-1");
    let r = first.act(scale("scale-api"), counted(&calls, Ok(4))).await;
    assert!(matches!(r, Acted::Done(4)));
    let e = entry(state.as_ref(), "ev-1", "scale-api").await;
    assert!(matches!(e.state, EffectState::Done { .. }), "{e:?}");
    assert_eq!(e.before, Some(serde_json::json!(2)));
    assert_eq!(e.attempts, 1);
    // The redelivery: done before, not called.
    let mut again = fx(state.clone(), "ev-1");
    let r = again.act(scale("scale-api"), counted(&calls, Ok(4))).await;
    assert!(matches!(r, Acted::AlreadyDone { .. }));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(again.reports()[0].outcome.succeeded());
    // Another event is another effect.
    let mut other = fx(state.clone(), "ev-2");
    assert!(
        other
            .act(scale("scale-api"), counted(&calls, Ok(4)))
            .await
            .succeeded()
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // One audit record per call, none for the redelivery.
    let audit = state.list("audit/").await.unwrap();
    assert_eq!(audit.len(), 2, "{audit:?}");
}

#[tokio::test]
async fn a_failure_is_retried_with_the_first_before_state() {
    let dir = tempfile::tempdir().unwrap();
    let state: Arc<dyn StateStore> = Arc::new(LocalStateStore::new(dir.path()));
    let calls = AtomicUsize::new(0);
    let mut first = fx(state.clone(), "ev-1");
    let r = first
        .act(
            scale("scale-api"),
            counted(&calls, Err(PortError::new("throttled", Retry::Transient))),
        )
        .await;
    assert!(matches!(r, Acted::Failed(ref e) if e.retry == Retry::Transient));
    assert!(matches!(
        first.reports()[0].outcome,
        Outcome::Failed {
            retry: Retry::Transient,
            ..
        }
    ));
    assert_eq!(
        first.attempted("scale-api").await,
        Some(serde_json::json!(2))
    );
    // The retry reads 4 on the provider (the answer was lost); the undo still needs 2.
    let mut retry = fx(state.clone(), "ev-1");
    let effect = Effect::new("scale-api", "scale api to 4", "cpu").replacing(4u32);
    assert!(matches!(
        retry.act(effect, counted(&calls, Ok(4))).await,
        Acted::Done(4)
    ));
    let e = entry(state.as_ref(), "ev-1", "scale-api").await;
    assert_eq!(
        e.before,
        Some(serde_json::json!(2)),
        "the first before-state"
    );
    assert_eq!(e.attempts, 2);
    assert_eq!(retry.attempted("scale-api").await, None, "done");
}

#[tokio::test]
async fn an_intent_whose_answer_was_lost_is_ours_and_another_live_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let lossy = Arc::new(LostAnswer::new(
        Arc::new(twincloud_local::LocalStateStore::new(dir.path())),
        LostAs::PreconditionFailed,
    ));
    let state: Arc<dyn StateStore> = lossy.clone();
    let calls = AtomicUsize::new(0);
    // The intent write lands, its answer says "precondition failed": this token's own entry.
    let mut first = fx(state.clone(), "ev-1");
    assert!(matches!(
        first.act(scale("scale-api"), counted(&calls, Ok(4))).await,
        Acted::Done(4)
    ));
    // A live intent of another invocation is left alone, and said to be another's.
    let key = journal_key("scaling", "ev-2", "scale-api");
    let foreign = JournalEntry {
        function: "scaling".into(),
        event_id: "ev-2".into(),
        effect: "scale-api".into(),
        what: "scale".into(),
        reason: "cpu".into(),
        before: None,
        op: None,
        token: "someone-else".into(),
        attempts: 0,
        at: Utc::now(),
        state: EffectState::Intent,
    };
    state
        .put(
            &key,
            &serde_json::to_vec(&foreign).unwrap(),
            &twincloud_core::ports::Precondition::None,
        )
        .await
        .unwrap();
    let mut second = fx(state.clone(), "ev-2");
    match second.act(scale("scale-api"), counted(&calls, Ok(4))).await {
        Acted::Failed(e) => {
            assert_eq!(e.retry, Retry::Transient);
            assert!(e.message.contains("someone-else"), "{}", e.message);
        }
        other => panic!("{other:?}"),
    }
    // Past its lease, the intent is an invocation that died: taken over and finished.
    let stale = JournalEntry {
        at: Utc::now() - chrono::Duration::minutes(10),
        ..foreign
    };
    state
        .put(
            &key,
            &serde_json::to_vec(&stale).unwrap(),
            &twincloud_core::ports::Precondition::None,
        )
        .await
        .unwrap();
    let mut third = fx(state.clone(), "ev-2");
    assert!(
        third
            .act(scale("scale-api"), counted(&calls, Ok(4)))
            .await
            .succeeded()
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn creations_deletions_replays_and_dry_runs() {
    let dir = tempfile::tempdir().unwrap();
    let state: Arc<dyn StateStore> = Arc::new(LocalStateStore::new(dir.path()));
    let gone = || {
        let mut e = PortError::new("no such snapshot", Retry::Permanent);
        e.kind = ErrorKind::NotFound;
        e
    };
    let exists = || {
        let mut e = PortError::new("exists", Retry::Permanent);
        e.kind = ErrorKind::AlreadyExists;
        e
    };
    let mut f = fx(state.clone(), "ev-1");
    // A delete that finds the thing gone is done.
    let d = f
        .act_delete(Effect::new("delete-old", "delete", "retention"), async {
            Err::<(), _>(gone())
        })
        .await;
    assert!(d.succeeded());
    // "Exists already" is done only after this effect's own earlier attempt.
    let c = f
        .act_create(Effect::new("snap", "snapshot", "schedule"), async {
            Err::<(), _>(exists())
        })
        .await;
    assert!(
        matches!(c, Acted::Failed(_)),
        "no earlier attempt: a real refusal"
    );
    let mut g = fx(state.clone(), "ev-1");
    let c = g
        .act_create(Effect::new("snap", "snapshot", "schedule"), async {
            Err::<(), _>(exists())
        })
        .await;
    assert!(c.succeeded(), "made by its own earlier attempt");
    // A result is replayed to the redelivery.
    let made = f
        .act_replayed(Effect::new("create", "new revision", "push"), async {
            Ok::<_, PortError>("rev-7".to_owned())
        })
        .await
        .unwrap();
    assert_eq!(made.as_deref(), Some("rev-7"));
    let replayed = g
        .act_replayed(Effect::new("create", "new revision", "push"), async {
            Ok::<_, PortError>("rev-8".to_owned())
        })
        .await
        .unwrap();
    assert_eq!(replayed.as_deref(), Some("rev-7"), "not made twice");
    // A dry run calls nothing and writes nothing.
    let before = state.list("").await.unwrap();
    let mut dry = Effects::on(state.clone(), "scaling", "ev-9", true, Utc::now());
    let calls = AtomicUsize::new(0);
    assert!(matches!(
        dry.act(scale("scale-api"), counted(&calls, Ok(4))).await,
        Acted::Would
    ));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(dry.reports()[0].outcome, Outcome::WouldRun);
    assert_eq!(state.list("").await.unwrap(), before);
}
