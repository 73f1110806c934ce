//! The audit trail: one record per action a function took (or per batch, where thousands of
//! copies must not cost thousands of writes), under `audit/<date>/<function>/<event>-<action>@<ns>`:
//! what was done, why, for which event, with what outcome.

use chrono::{DateTime, Utc};
use serde::Serialize;
use twincloud_core::ids::key_segment;
use twincloud_core::ports::{Precondition, StateStore};

use crate::outcome::Outcome;

/// One audit record.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    /// The function that acted.
    pub function: String,
    /// The event it acted on.
    pub event_id: String,
    /// The action (or batch) id, unique within the event.
    pub action: String,
    /// One line: what was done.
    pub what: String,
    /// Why.
    pub reason: String,
    /// What happened.
    pub outcome: Outcome,
    /// Details of a batch (counts, the keys it touched, bounded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
    /// How long it took.
    pub elapsed_ms: u64,
    /// When.
    pub at: DateTime<Utc>,
}

impl AuditRecord {
    /// A record of `action` of `function` on event `event_id`, at the current time.
    pub fn new(
        function: &str,
        event_id: &str,
        action: impl Into<String>,
        what: impl Into<String>,
        reason: impl Into<String>,
        outcome: Outcome,
    ) -> Self {
        AuditRecord {
            function: function.into(),
            event_id: event_id.into(),
            action: action.into(),
            what: what.into(),
            reason: reason.into(),
            outcome,
            detail: None,
            elapsed_ms: 0,
            at: chrono::Utc::now(),
        }
    }

    /// This record with the time the action took since `started`.
    pub fn took(mut self, started: std::time::Instant) -> Self {
        self.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// This record with a batch's details.
    pub fn detail(mut self, detail: Option<serde_json::Value>) -> Self {
        self.detail = detail;
        self
    }

    /// The state key: the attempt time is part of it, so a failed attempt and the retry that
    /// succeeded are both kept.
    pub fn key(&self) -> String {
        format!(
            "audit/{}/{}/{}-{}@{}",
            self.at.format("%Y-%m-%d"),
            key_segment(&self.function),
            key_segment(&self.event_id),
            key_segment(&self.action),
            self.at.timestamp_nanos_opt().unwrap_or_default()
        )
    }
}

/// Writes `record`. A failure is logged, not returned: the action itself happened, and a
/// missing audit line must not make the platform redo it. Effects are audited by the effects
/// handle ([`crate::effects::Effects`]), the only caller for them.
pub async fn write(state: &dyn StateStore, record: &AuditRecord) {
    let body = match serde_json::to_vec(record) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(action = %record.action, "audit record not encoded: {e}");
            return;
        }
    };
    if let Err(e) = state.put(&record.key(), &body, &Precondition::None).await {
        tracing::warn!(action = %record.action, "audit record not written: {e}");
    }
}

/// A permanently refused event: what it looked like and why it was refused.
#[derive(Debug, Clone, Serialize)]
pub struct Rejection {
    /// The function that refused it.
    pub function: String,
    /// The shape recognised (`(undecoded)` when none was).
    pub shape: String,
    /// The event id, when it was decoded.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub event_id: String,
    /// Why.
    pub error: String,
    /// The start of the event as received (bounded).
    pub excerpt: String,
    /// When.
    pub at: DateTime<Utc>,
}

impl Rejection {
    /// A rejection now.
    pub fn new(function: &str, shape: &str, event_id: &str, error: &str, excerpt: String) -> Self {
        Rejection {
            function: function.into(),
            shape: shape.into(),
            event_id: event_id.into(),
            error: error.into(),
            excerpt,
            at: Utc::now(),
        }
    }

    /// `rejected/<date>/<function>/<fingerprint of error and excerpt>`: the same bad delivery
    /// redelivered writes the same record.
    pub fn key(&self) -> String {
        let digest = twincloud_core::ids::stable_digest(
            format!("{}\n{}\n{}", self.event_id, self.error, self.excerpt).as_bytes(),
        );
        format!(
            "{REJECTED_PREFIX}{}/{}/{digest}",
            self.at.format("%Y-%m-%d"),
            key_segment(&self.function)
        )
    }
}

/// Where refused events are recorded.
pub const REJECTED_PREFIX: &str = "rejected/";

/// Writes `record`; a failure is logged (the refusal stands either way).
pub async fn write_rejection(state: &dyn StateStore, record: &Rejection) {
    match serde_json::to_vec(record) {
        Ok(body) => {
            if let Err(e) = state.put(&record.key(), &body, &Precondition::None).await {
                tracing::warn!("rejection record not written: {e}");
            }
        }
        Err(e) => tracing::warn!("rejection record not encoded: {e}"),
    }
}
