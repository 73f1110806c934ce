//! The effect journal: the one way a function changes anything outside twincloud's own records.
//!
//! Every provider-changing call (scale, switch DNS, snapshot, copy, delete, put traffic, set an
//! image, cap, detach, publish a message) goes through [`Effects::act`]. Before the call the
//! handle writes the effect's *intent* to `journal/<function>/<event>/<effect>` (what, on what,
//! why, the before-state an undo needs, and the token of the invocation acting); after it, the
//! *outcome* (done, or failed transient or permanent with the provider's answer), then one audit
//! record. It is the only audit writer for effects and the only reader of `dry_run` for them: in
//! a dry run it reports "would" and calls nothing.
//!
//! A redelivered event, the next schedule or a lease taken over reads the same entries: a done
//! effect is not called again ([`Acted::AlreadyDone`]); an unfinished one (an intent whose
//! invocation died, or a failure) is called again, which is safe because effects are stated as
//! idempotent changes ("set desired to 3", "point the record at B"); creations and deletions go
//! through [`Effects::act_create`] / [`Effects::act_delete`], where "exists already" after this
//! effect's own earlier attempt, or "gone already", is done. An intent of another live
//! invocation is left alone (transient: retried later). A write that meets its own earlier write
//! (the answer of a conditional write was lost) recognises it by the token and goes on.

mod faults;
mod journal;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use twincloud_core::ports::{
    ErrorKind, PortError, Precondition, Retry, StateError, StateStore, Version, get_json,
};

pub use faults::{Call, EffectFaults, InjectedFault};
pub use journal::{
    EffectState, InvocationToken, JOURNAL_PREFIX, JournalEntry, entries, journal_key, state_of,
};

use crate::audit::AuditRecord;
use crate::outcome::{ActionReport, Outcome};

/// How long an intent is reserved for the invocation that wrote it. An older intent belongs to
/// an invocation that died: the effect may be taken over and completed.
pub const INTENT_LEASE_SECS: i64 = 300;

/// An effect to make: its id (stable across redeliveries of the event), what and why, and the
/// before-state an undo needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Effect {
    /// Unique within the event and stable across its redeliveries.
    pub id: String,
    /// One line: what changes.
    pub what: String,
    /// Why.
    pub reason: String,
    /// What it replaces.
    pub before: Option<serde_json::Value>,
    /// The operation itself, where it can be run again from the journal alone (a message).
    pub op: Option<serde_json::Value>,
}

impl Effect {
    /// An effect `id` that does `what` because of `reason`.
    pub fn new(id: impl Into<String>, what: impl Into<String>, reason: impl Into<String>) -> Self {
        Effect {
            id: id.into(),
            what: what.into(),
            reason: reason.into(),
            before: None,
            op: None,
        }
    }

    /// This effect, with what it replaces (for an undo).
    pub fn replacing(mut self, before: impl Serialize) -> Self {
        self.before = serde_json::to_value(before).ok();
        self
    }
}

/// What came of one effect.
#[derive(Debug)]
pub enum Acted<T> {
    /// Called now, and the provider said done.
    Done(T),
    /// Done by an earlier attempt (the journal says so): not called again.
    AlreadyDone {
        /// When it was done.
        at: DateTime<Utc>,
        /// The result recorded then ([`Effects::act_replayed`]).
        result: Option<serde_json::Value>,
    },
    /// A dry run: not called.
    Would,
    /// Not done; recorded, reported, and (when transient) retried by the next delivery.
    Failed(PortError),
}

impl<T> Acted<T> {
    /// Whether the change is in effect (now or from before).
    pub fn succeeded(&self) -> bool {
        matches!(self, Acted::Done(_) | Acted::AlreadyDone { .. })
    }

    /// `Ok(Some(value))` done now, `Ok(None)` done before or a dry run, `Err` failed.
    pub fn result(self) -> Result<Option<T>, PortError> {
        match self {
            Acted::Done(v) => Ok(Some(v)),
            Acted::AlreadyDone { .. } | Acted::Would => Ok(None),
            Acted::Failed(e) => Err(e),
        }
    }
}

/// The detail of an effect found done by reading the provider back after a transient failure.
pub const READ_BACK: &str = "the provider shows it done (its answer was lost)";

/// The intents this process wrote and has not concluded (journal key, version).
fn open_intents() -> std::sync::MutexGuard<'static, std::collections::BTreeMap<String, Version>> {
    static OPEN: std::sync::Mutex<std::collections::BTreeMap<String, Version>> =
        std::sync::Mutex::new(std::collections::BTreeMap::new());
    OPEN.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Concludes every intent this process wrote and did not conclude (a one-shot run stopped by
/// Ctrl-C in the middle of a call) as failed, transient: the next run checks the effect and
/// makes it again at once, instead of leaving it to a live invocation for the intent's lease.
/// Returns how many.
pub async fn abandon_open(state: &dyn StateStore) -> usize {
    let open: Vec<(String, Version)> = std::mem::take(&mut *open_intents()).into_iter().collect();
    let mut n = 0;
    for (key, version) in open {
        let Ok(Some(stored)) = state.get(&key).await else {
            continue;
        };
        if stored.version != version {
            continue;
        }
        let Ok(mut entry) = serde_json::from_slice::<JournalEntry>(&stored.value) else {
            continue;
        };
        entry.state = EffectState::Failed {
            error: "interrupted (Ctrl-C) while the call was under way: it may or may not have been applied".into(),
            retry: Retry::Transient,
        };
        if state
            .put(&key, &encode(&entry), &Precondition::Matches(version))
            .await
            .is_ok()
        {
            n += 1;
        }
    }
    n
}

/// No read-back: the provider cannot be asked whether the change is in effect.
fn none<T>() -> std::future::Ready<Option<T>> {
    std::future::ready(None)
}

/// The effects handle of one function acting on one event.
pub struct Effects {
    state: Arc<dyn StateStore>,
    function: String,
    event_id: String,
    token: InvocationToken,
    dry_run: bool,
    now: DateTime<Utc>,
    intent_lease_secs: i64,
    faults: Option<Arc<EffectFaults>>,
    reports: Vec<ActionReport>,
}

impl std::fmt::Debug for Effects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Effects")
            .field("function", &self.function)
            .field("event_id", &self.event_id)
            .field("token", &self.token.to_string())
            .field("dry_run", &self.dry_run)
            .finish()
    }
}

impl Effects {
    /// The handle of `function` acting on `event_id` in `services`' state store; in a dry
    /// run, nothing is called or written.
    pub fn new(
        services: &crate::Services,
        function: &str,
        event_id: &str,
        inv: crate::Invocation,
    ) -> Self {
        let mut fx = Effects::on(
            services.state.clone(),
            function,
            event_id,
            inv.dry_run(),
            inv.now,
        );
        fx.faults = services.effect_faults.clone();
        fx
    }

    /// The handle over `state` alone (no injected faults).
    pub fn on(
        state: Arc<dyn StateStore>,
        function: &str,
        event_id: &str,
        dry_run: bool,
        now: DateTime<Utc>,
    ) -> Self {
        Effects {
            state,
            function: function.into(),
            event_id: event_id.into(),
            token: InvocationToken::new(),
            dry_run,
            now,
            intent_lease_secs: INTENT_LEASE_SECS,
            faults: None,
            reports: vec![],
        }
    }

    /// This handle with intents reserved no longer than `secs` (work under a lock whose lease
    /// is shorter must be redone by whoever takes the lock over).
    pub fn with_intent_lease(mut self, secs: i64) -> Self {
        self.intent_lease_secs = secs.min(INTENT_LEASE_SECS);
        self
    }

    /// Whether this is a dry run (for what a function says it *would* do; calls are the
    /// handle's business).
    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// The event acted on.
    pub fn event_id(&self) -> &str {
        &self.event_id
    }

    /// The reports of the effects made so far, in order.
    pub fn reports(&self) -> &[ActionReport] {
        &self.reports
    }

    /// Takes the reports made so far (for an [`crate::Execution`]).
    pub fn take_reports(&mut self) -> Vec<ActionReport> {
        std::mem::take(&mut self.reports)
    }

    /// Records work an engine did in bulk under its own idempotence (a sync pass: thousands
    /// of copies, each compared by checksum, so a rerun converges without a journal entry per
    /// object): one audit record with the batch's `detail`, and one report, so the exit code
    /// and the platform's answer follow it. In a dry run (the engine only compared) it is
    /// reported as what would run, and nothing is written.
    pub async fn record_batch(
        &mut self,
        effect: Effect,
        outcome: Outcome,
        detail: Option<serde_json::Value>,
        started: std::time::Instant,
    ) {
        if self.dry_run {
            self.push(&effect, Outcome::WouldRun, started);
            return;
        }
        self.audit_with(&effect, outcome.clone(), detail, started)
            .await;
        self.push(&effect, outcome, started);
    }

    /// Adds a report of something that was not called (skipped, refused before the call).
    pub fn report(&mut self, id: &str, what: &str, reason: &str, outcome: Outcome) {
        self.reports.push(ActionReport {
            id: id.into(),
            what: what.into(),
            reason: reason.into(),
            outcome,
            elapsed_ms: 0,
        });
    }

    /// The before-state an earlier, unfinished attempt of effect `id` of this event recorded
    /// (`Some(Value::Null)` when it recorded none), or `None` when no attempt is unfinished.
    /// An attempt whose answer was lost may have applied the change: the function then makes
    /// the (idempotent) change again rather than concluding from the provider that nothing is
    /// to do, and takes the before-state from here, not from what the attempt left.
    pub async fn attempted(&self, id: &str) -> Option<serde_json::Value> {
        self.attempted_in(&self.event_id, id).await
    }

    /// [`Effects::attempted`] in the journal of another event of this function: work an
    /// earlier event left unfinished and this one takes up.
    pub async fn attempted_in(&self, event_id: &str, id: &str) -> Option<serde_json::Value> {
        if self.dry_run {
            return None;
        }
        let key = journal_key(&self.function, event_id, id);
        match get_json::<JournalEntry>(self.state.as_ref(), &key).await {
            Ok(Some((e, _))) if !matches!(e.state, EffectState::Done { .. }) => {
                Some(e.before.unwrap_or(serde_json::Value::Null))
            }
            _ => None,
        }
    }

    /// The journal key of effect `id` of this event.
    pub fn key(&self, id: &str) -> String {
        journal_key(&self.function, &self.event_id, id)
    }

    /// Makes `effect` with `call` (a future, run only when the journal says the effect is not
    /// done and this is no dry run).
    pub async fn act<T>(
        &mut self,
        effect: Effect,
        call: impl Future<Output = Result<T, PortError>>,
    ) -> Acted<T> {
        self.run(effect, call, |_, _| None, |_| None, |_| None, none())
            .await
    }

    /// [`Effects::act`] for a call whose result the caller needs: it is kept in the journal,
    /// and a redelivery that finds the effect done gets it back without calling again (as a
    /// durable workflow replays a completed activity). `Ok(None)` only in a dry run.
    pub async fn act_replayed<T: Serialize + serde::de::DeserializeOwned>(
        &mut self,
        effect: Effect,
        call: impl Future<Output = Result<T, PortError>>,
    ) -> Result<Option<T>, PortError> {
        let id = effect.id.clone();
        let acted = self
            .run(
                effect,
                call,
                |_, _| None,
                |_| None,
                |v| serde_json::to_value(v).ok(),
                none(),
            )
            .await;
        match acted {
            Acted::Done(v) => Ok(Some(v)),
            Acted::Would => Ok(None),
            Acted::Failed(e) => Err(e),
            Acted::AlreadyDone { result, .. } => result
                .and_then(|r| serde_json::from_value(r).ok())
                .map(Some)
                .ok_or_else(|| {
                    PortError::new(
                        format!(
                            "`{id}` was done before, but its journal entry has no readable result"
                        ),
                        Retry::Permanent,
                    )
                }),
        }
    }

    /// [`Effects::act`], with the detail of the provider's answer kept in the journal and the
    /// report.
    pub async fn act_detailed<T>(
        &mut self,
        effect: Effect,
        call: impl Future<Output = Result<T, PortError>>,
        detail: impl Fn(&T) -> Option<String>,
    ) -> Acted<T> {
        self.run(effect, call, |_, _| None, detail, |_| None, none())
            .await
    }

    /// [`Effects::act_detailed`] for a change the provider can be asked about: after a
    /// transient failure (the change may have been applied and its answer lost), `verify`
    /// reads the provider, and the change it shows in effect is done.
    pub async fn act_verified<T>(
        &mut self,
        effect: Effect,
        call: impl Future<Output = Result<T, PortError>>,
        detail: impl Fn(&T) -> Option<String>,
        verify: impl Future<Output = Option<T>>,
    ) -> Acted<T> {
        self.run(effect, call, |_, _| None, detail, |_| None, verify)
            .await
    }

    /// Makes a creation: "exists already" after an earlier attempt of this same effect (its
    /// answer lost, or its invocation gone) is done, not a failure.
    pub async fn act_create<T: Default>(
        &mut self,
        effect: Effect,
        call: impl Future<Output = Result<T, PortError>>,
    ) -> Acted<T> {
        self.run(
            effect,
            call,
            |e, prior| {
                (prior && e.kind == ErrorKind::AlreadyExists)
                    .then(|| (T::default(), "made by an earlier attempt of this effect"))
            },
            |_| None,
            |_| None,
            none(),
        )
        .await
    }

    /// Makes a change whose refusal may mean it is in effect: `settle(error, tried_before)`
    /// returns the result to take as done (with why), or `None` for a failure. A snapshot named
    /// after its schedule that "exists already" after this effect's own earlier attempt is
    /// the one that attempt started.
    pub async fn act_settled<T>(
        &mut self,
        effect: Effect,
        call: impl Future<Output = Result<T, PortError>>,
        settle: impl Fn(&PortError, bool) -> Option<(T, &'static str)>,
    ) -> Acted<T> {
        self.run(effect, call, settle, |_| None, |_| None, none())
            .await
    }

    /// Makes a deletion: "not found" is done (gone already).
    pub async fn act_delete<T: Default>(
        &mut self,
        effect: Effect,
        call: impl Future<Output = Result<T, PortError>>,
    ) -> Acted<T> {
        self.run(
            effect,
            call,
            |e, _| (e.kind == ErrorKind::NotFound).then(|| (T::default(), "gone already")),
            |_| None,
            |_| None,
            none(),
        )
        .await
    }

    /// The one path of every effect. `settles` reads a refusal as done where the kind of
    /// effect allows it (given whether this effect was tried before).
    async fn run<T>(
        &mut self,
        mut effect: Effect,
        call: impl Future<Output = Result<T, PortError>>,
        settles: impl Fn(&PortError, bool) -> Option<(T, &'static str)>,
        detail: impl Fn(&T) -> Option<String>,
        keep: impl Fn(&T) -> Option<serde_json::Value>,
        verify: impl Future<Output = Option<T>>,
    ) -> Acted<T> {
        let started = std::time::Instant::now();
        if self.dry_run {
            self.push(&effect, Outcome::WouldRun, started);
            return Acted::Would;
        }
        let key = self.key(&effect.id);
        let (prior, intent_version) = match self.begin(&key, &mut effect, started).await {
            Ok(go) => go,
            Err(Begun::Done { at, result }) => return Acted::AlreadyDone { at, result },
            Err(Begun::Failed(e)) => return Acted::Failed(e),
        };
        let mut result = self.call(&effect, call).await;
        let mut note = None;
        if let Err(e) = &result
            && let Some((v, why)) = settles(e, prior)
        {
            note = Some(why.to_owned());
            result = Ok(v);
        }
        // A transient failure may be an answer lost after the provider applied the change: the
        // provider, read back, is the truth.
        if result.as_ref().is_err_and(|e| e.retry == Retry::Transient)
            && let Some(v) = verify.await
        {
            note = Some(READ_BACK.to_owned());
            result = Ok(v);
        }
        let (state, outcome, acted) = match result {
            Ok(v) => {
                let d = note.or_else(|| detail(&v));
                (
                    EffectState::Done {
                        detail: d.clone(),
                        result: keep(&v),
                    },
                    Outcome::Done { detail: d },
                    Acted::Done(v),
                )
            }
            Err(e) => (
                EffectState::Failed {
                    error: e.message.clone(),
                    retry: e.retry,
                },
                Outcome::Failed {
                    error: e.message.clone(),
                    retry: e.retry,
                },
                Acted::Failed(e),
            ),
        };
        let entry = self.entry(&effect, state, u32::from(prior) + 1);
        self.conclude(&key, &effect, &entry, intent_version, outcome, started)
            .await;
        acted
    }

    /// Claims the effect's journal entry: `Ok((an earlier attempt was made, the intent's
    /// version))` to go on, or why not (done already, or the journal refused: said and
    /// audited).
    async fn begin(
        &mut self,
        key: &str,
        effect: &mut Effect,
        started: std::time::Instant,
    ) -> Result<(bool, Version), Begun> {
        match self.claim(key, effect).await {
            Ok(Claim::Go {
                prior,
                version,
                before,
            }) => {
                effect.before = before;
                if crate::interrupt::tracking() {
                    open_intents().insert(key.to_owned(), version.clone());
                }
                Ok((prior, version))
            }
            Ok(Claim::Done { at, result }) => {
                self.push(effect, Outcome::AlreadyDone { at }, started);
                Err(Begun::Done { at, result })
            }
            Err(e) => {
                let outcome = Outcome::Failed {
                    error: e.message.clone(),
                    retry: e.retry,
                };
                self.audit(effect, outcome.clone(), started).await;
                self.push(effect, outcome, started);
                Err(Begun::Failed(e))
            }
        }
    }

    /// Makes the provider call, unless a test injected a fault for it (logged either way).
    async fn call<T>(
        &self,
        effect: &Effect,
        call: impl Future<Output = Result<T, PortError>>,
    ) -> Result<T, PortError> {
        let fault = self.faults.as_ref().and_then(|f| f.next(&effect.id));
        let mut lost = false;
        let result = match fault {
            Some(InjectedFault::Transient) => Err(PortError::new(
                format!("{}: injected transient fault (throttled)", effect.what),
                Retry::Transient,
            )),
            Some(InjectedFault::Permanent) => Err(PortError::new(
                format!("{}: injected permanent fault (refused)", effect.what),
                Retry::Permanent,
            )),
            Some(InjectedFault::LostAnswer) => match call.await {
                Ok(_) => {
                    lost = true;
                    Err(PortError::new(
                        format!("{}: the provider's answer was lost", effect.what),
                        Retry::Transient,
                    ))
                }
                Err(e) => Err(e),
            },
            None => call.await,
        };
        if let Some(f) = &self.faults {
            f.logged(faults::Call {
                effect: format!("{}/{}/{}", self.function, self.event_id, effect.id),
                applied: lost || result.is_ok(),
                fault,
            });
        }
        result
    }

    /// Writes the effect's outcome over its intent (if the intent is still there), audits and
    /// says it.
    async fn conclude(
        &mut self,
        key: &str,
        effect: &Effect,
        entry: &JournalEntry,
        intent_version: Version,
        outcome: Outcome,
        started: std::time::Instant,
    ) {
        open_intents().remove(key);
        if let Err(e) = self
            .state
            .put(key, &encode(entry), &Precondition::Matches(intent_version))
            .await
        {
            tracing::warn!(effect = %effect.id, "the outcome was not journaled ({e}); the next delivery checks the effect again");
        }
        self.audit(effect, outcome.clone(), started).await;
        match &outcome {
            Outcome::Failed { error, retry } => {
                tracing::warn!(effect = %effect.id, retry = ?retry, "{error}")
            }
            other => tracing::info!(effect = %effect.id, outcome = ?other, "{}", effect.what),
        }
        self.push(effect, outcome, started);
    }

    fn entry(&self, effect: &Effect, state: EffectState, attempts: u32) -> JournalEntry {
        JournalEntry {
            function: self.function.clone(),
            event_id: self.event_id.clone(),
            effect: effect.id.clone(),
            what: effect.what.clone(),
            reason: effect.reason.clone(),
            before: effect.before.clone(),
            op: effect.op.clone(),
            token: self.token.to_string(),
            attempts,
            at: self.now,
            state,
        }
    }

    /// Reads the effect's entry and writes this invocation's intent, unless the effect is done
    /// or another live invocation is making it.
    async fn claim(&self, key: &str, effect: &Effect) -> Result<Claim, PortError> {
        let existing = get_json::<JournalEntry>(self.state.as_ref(), key)
            .await
            .map_err(state_port_error)?;
        let ours = self.token.to_string();
        // The first attempt's before-state is the one an undo needs.
        let mut first_before = None;
        let (expect, prior, attempts) = match existing {
            Some((
                JournalEntry {
                    at,
                    state: EffectState::Done { result, .. },
                    ..
                },
                _,
            )) => {
                return Ok(Claim::Done { at, result });
            }
            Some((e, _))
                if e.state == EffectState::Intent
                    && e.token != ours
                    && self.now.signed_duration_since(e.at).num_seconds()
                        < self.intent_lease_secs =>
            {
                return Err(PortError::new(
                    format!(
                        "`{}` is being done by another invocation ({}, since {})",
                        effect.id,
                        e.token,
                        e.at.to_rfc3339()
                    ),
                    Retry::Transient,
                ));
            }
            Some((e, v)) => {
                first_before = e.before;
                (Precondition::Matches(v), true, e.attempts)
            }
            None => (Precondition::Absent, false, 0),
        };
        let mut intent = self.entry(effect, EffectState::Intent, attempts);
        if let Some(first) = first_before {
            intent.before = Some(first);
        }
        match self.state.put(key, &encode(&intent), &expect).await {
            Ok(version) => Ok(Claim::Go {
                prior,
                version,
                before: intent.before,
            }),
            Err(StateError::ConditionFailed(_)) => {
                self.claim_lost(key, effect, prior, intent.before).await
            }
            Err(e) => Err(state_port_error(e)),
        }
    }

    /// A claim's write refused: it may have landed with its answer lost (ours if the entry
    /// names this token), an earlier attempt may be done, or another invocation claimed it.
    async fn claim_lost(
        &self,
        key: &str,
        effect: &Effect,
        prior: bool,
        before: Option<serde_json::Value>,
    ) -> Result<Claim, PortError> {
        let ours = self.token.to_string();
        match get_json::<JournalEntry>(self.state.as_ref(), key)
            .await
            .map_err(state_port_error)?
        {
            Some((e, v)) if e.token == ours && e.state == EffectState::Intent => Ok(Claim::Go {
                prior,
                version: v,
                before,
            }),
            Some((
                JournalEntry {
                    at,
                    state: EffectState::Done { result, .. },
                    ..
                },
                _,
            )) => Ok(Claim::Done { at, result }),
            other => Err(PortError::new(
                format!(
                    "`{}` was claimed by another invocation ({}) just now",
                    effect.id,
                    other.map_or("it left no entry".to_owned(), |(e, _)| e.token)
                ),
                Retry::Transient,
            )),
        }
    }

    async fn audit(&self, effect: &Effect, outcome: Outcome, started: std::time::Instant) {
        let before = effect
            .before
            .clone()
            .map(|b| serde_json::json!({ "before": b }));
        self.audit_with(effect, outcome, before, started).await;
    }

    /// The one audit record of an effect (or a batch), with `detail`.
    async fn audit_with(
        &self,
        effect: &Effect,
        outcome: Outcome,
        detail: Option<serde_json::Value>,
        started: std::time::Instant,
    ) {
        let record = AuditRecord {
            at: self.now.max(Utc::now()),
            ..AuditRecord::new(
                &self.function,
                &self.event_id,
                &effect.id,
                &effect.what,
                &effect.reason,
                outcome,
            )
        }
        .took(started)
        .detail(detail);
        crate::audit::write(self.state.as_ref(), &record).await;
    }

    fn push(&mut self, effect: &Effect, outcome: Outcome, started: std::time::Instant) {
        self.reports.push(ActionReport {
            id: effect.id.clone(),
            what: effect.what.clone(),
            reason: effect.reason.clone(),
            outcome,
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        });
    }
}

/// Why an effect does not go on past its claim.
enum Begun {
    /// An earlier attempt made it.
    Done {
        at: DateTime<Utc>,
        result: Option<serde_json::Value>,
    },
    /// The journal could not be claimed.
    Failed(PortError),
}

enum Claim {
    Go {
        prior: bool,
        version: Version,
        before: Option<serde_json::Value>,
    },
    Done {
        at: DateTime<Utc>,
        result: Option<serde_json::Value>,
    },
}

fn encode(entry: &JournalEntry) -> Vec<u8> {
    // A struct of strings, numbers and JSON values always encodes.
    serde_json::to_vec(entry).unwrap_or_default()
}

fn state_port_error(e: StateError) -> PortError {
    PortError::new(format!("the effect journal: {e}"), e.retry())
}

#[cfg(test)]
mod tests;
