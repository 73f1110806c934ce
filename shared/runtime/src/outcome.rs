//! What running a plan did: each action's outcome, as the effect journal recorded it. Reports,
//! exit codes and the platform's answer are rendered from these, never from intentions.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use twincloud_core::plan::Plan;
use twincloud_core::ports::{Retry, Version};

/// What happened to one action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// `--dry-run`: not executed.
    WouldRun,
    /// Done now.
    Done {
        /// Provider detail (message id, ...).
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// Done by an earlier delivery of the same event: not run again.
    AlreadyDone {
        /// When it was done.
        at: DateTime<Utc>,
    },
    /// Not run, and that is fine.
    Skipped {
        /// Why.
        why: String,
    },
    /// Failed.
    Failed {
        /// What went wrong.
        error: String,
        /// Whether a retry may help.
        retry: Retry,
    },
}

impl Outcome {
    /// Whether the action's effect is in place: done now or by an earlier delivery.
    pub fn succeeded(&self) -> bool {
        matches!(self, Outcome::Done { .. } | Outcome::AlreadyDone { .. })
    }
}

/// One action and its outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionReport {
    /// Action id.
    pub id: String,
    /// One line.
    pub what: String,
    /// Why it was planned.
    pub reason: String,
    /// What happened.
    pub outcome: Outcome,
    /// How long it took.
    #[serde(default)]
    pub elapsed_ms: u64,
}

/// The result of running one plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    /// The plan.
    pub plan: Plan,
    /// True when another invocation had already claimed this decision (the guard lost).
    pub superseded: bool,
    /// Per action.
    pub actions: Vec<ActionReport>,
    /// The version of the guard's record this invocation wrote last, while it still holds it
    /// (a caller releases a lock with a compare-and-swap on it).
    #[serde(skip)]
    pub guard_version: Option<Version>,
}

impl Execution {
    /// An execution of an empty plan.
    pub fn nothing(function: &str, event_id: &str) -> Execution {
        Execution {
            plan: Plan::new(function, event_id),
            superseded: false,
            actions: vec![],
            guard_version: None,
        }
    }

    /// An execution of an empty plan that says why nothing was done.
    pub fn noted(function: &str, event_id: &str, note: impl Into<String>) -> Execution {
        let mut e = Execution::nothing(function, event_id);
        e.plan.notes.push(note.into());
        e
    }

    /// Whether an action was only rehearsed (a dry run): nothing after it happened either.
    pub fn rehearsed(&self) -> bool {
        self.actions.iter().any(|a| a.outcome == Outcome::WouldRun)
    }

    /// The first transient failure, if any (the platform should retry the event).
    pub fn transient_failure(&self) -> Option<&str> {
        self.actions.iter().find_map(|a| match &a.outcome {
            Outcome::Failed {
                error,
                retry: Retry::Transient,
            } => Some(error.as_str()),
            _ => None,
        })
    }

    /// Permanent failures, reported but not retried.
    pub fn permanent_failures(&self) -> Vec<&str> {
        self.actions
            .iter()
            .filter_map(|a| match &a.outcome {
                Outcome::Failed {
                    error,
                    retry: Retry::Permanent,
                } => Some(error.as_str()),
                _ => None,
            })
            .collect()
    }
}
