//! What one invocation gives a function besides the signal: its clock, its deadline and (for the
//! platform only) whether it is a rehearsal.

use chrono::{DateTime, Utc};

/// What one invocation gives a function besides the signal.
///
/// Whether it is a dry run is the platform's business, not the function's: the effects handle
/// calls nothing and the state store is a [`crate::rehearsal::RehearsalState`], so a function
/// runs the same path either way (and cannot ask).
#[derive(Debug, Clone, Copy)]
pub struct Invocation {
    /// The invocation's clock reading.
    pub now: DateTime<Utc>,
    /// When the platform stops the invocation (Lambda's deadline), if it says.
    pub deadline: Option<std::time::Instant>,
    dry_run: bool,
}

impl Invocation {
    /// An invocation at `now`; with `dry_run`, effects are recorded as "would" and not made.
    pub fn new(now: DateTime<Utc>, dry_run: bool, deadline: Option<std::time::Instant>) -> Self {
        Invocation {
            now,
            deadline,
            dry_run,
        }
    }

    /// Whether effects are made (for the platform: the effects handle, the executor, reports).
    pub(crate) fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// Whether the function may sit through a wait of `wait` (a snapshot in progress, a
    /// rollout's pause): there is time before the deadline, and this is not a dry run (a dry
    /// run looks once and says what it would do; it never waits on effects it did not make).
    pub fn may_wait(&self, wait: std::time::Duration) -> bool {
        !self.dry_run && self.has_time(wait)
    }

    /// The same invocation at a later clock reading (a round of a long-running function).
    pub fn at(mut self, now: DateTime<Utc>) -> Self {
        self.now = now;
        self
    }

    /// Whether at least `needed` is left before the deadline (always, without one).
    pub fn has_time(&self, needed: std::time::Duration) -> bool {
        self.deadline
            .is_none_or(|d| std::time::Instant::now() + needed <= d)
    }
}
