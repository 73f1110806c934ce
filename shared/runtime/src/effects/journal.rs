//! The journal's records: one entry per effect of an event, and the token of the invocation
//! that wrote it.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use twincloud_core::ids::key_segment;
use twincloud_core::ports::{Retry, StateError, StateStore, get_json};

/// Where the journal lives in the state store.
pub const JOURNAL_PREFIX: &str = "journal/";

/// The identity of one acting invocation, written into every journal entry it makes, so that a
/// retry meeting its own earlier write knows it, and "another invocation" is said only when an
/// entry names another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InvocationToken(u128);

impl InvocationToken {
    /// A token no other invocation has: the clock in nanoseconds, the process id and a counter
    /// of this process.
    pub fn new() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let pid = u128::from(std::process::id());
        InvocationToken(nanos ^ (pid << 96) ^ (u128::from(n) << 64))
    }
}

impl Default for InvocationToken {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for InvocationToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// Where an effect stands in the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum EffectState {
    /// About to be called (or called, and the invocation did not live to record the answer).
    Intent,
    /// The provider said it is done.
    Done {
        /// Provider detail (a message id, how long a wait took).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
        /// The call's result, for effects made with [`Effects::act_replayed`]: a redelivery
        /// gets it back instead of calling again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        result: Option<serde_json::Value>,
    },
    /// The provider refused or did not answer.
    Failed {
        /// The provider's answer.
        error: String,
        /// Whether a retry may help.
        retry: Retry,
    },
}

/// One effect's journal entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// The function acting.
    pub function: String,
    /// The event it acts on.
    pub event_id: String,
    /// The effect's id, unique within the event.
    pub effect: String,
    /// One line: what changes.
    pub what: String,
    /// Why.
    pub reason: String,
    /// What the change replaces, as an undo needs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<serde_json::Value>,
    /// The operation, where it can be run again from the journal alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<serde_json::Value>,
    /// The invocation that wrote this entry last.
    pub token: String,
    /// Calls made so far.
    #[serde(default)]
    pub attempts: u32,
    /// When it was written.
    pub at: DateTime<Utc>,
    /// Where it stands.
    #[serde(flatten)]
    pub state: EffectState,
}

/// The journal key of effect `effect` of `function` on event `event_id`.
pub fn journal_key(function: &str, event_id: &str, effect: &str) -> String {
    format!(
        "{JOURNAL_PREFIX}{}/{}/{}",
        key_segment(function),
        key_segment(event_id),
        key_segment(effect)
    )
}

/// The journal entries of one event of `function`, by effect id.
pub async fn entries(
    state: &dyn StateStore,
    function: &str,
    event_id: &str,
) -> Result<Vec<JournalEntry>, StateError> {
    let prefix = format!(
        "{JOURNAL_PREFIX}{}/{}/",
        key_segment(function),
        key_segment(event_id)
    );
    let mut out = vec![];
    for key in state.list(&prefix).await? {
        if let Some((e, _)) = get_json::<JournalEntry>(state, &key).await? {
            out.push(e);
        }
    }
    Ok(out)
}

/// Where effect `effect` of `function` on `event_id` stands, as the journal says (`None`: it
/// was never tried).
pub async fn state_of(
    state: &dyn StateStore,
    function: &str,
    event_id: &str,
    effect: &str,
) -> Result<Option<EffectState>, StateError> {
    Ok(
        get_json::<JournalEntry>(state, &journal_key(function, event_id, effect))
            .await?
            .map(|(e, _)| e.state),
    )
}
