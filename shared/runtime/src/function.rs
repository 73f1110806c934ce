//! What a function is: a name, and a way to turn a signal into a plan by observing state
//! through the ports and calling a pure planner.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use twincloud_core::Signal;
use twincloud_core::plan::Plan;

use crate::error::RunError;
use crate::executor::{Execution, execute};
use crate::services::Services;

/// One twincloud function.
#[async_trait]
pub trait Function: Send + Sync {
    /// Name in plans, records and logs (`notifier`, `failover`, ...).
    fn name(&self) -> &'static str;

    /// Observes what the planner needs and returns its plan for `signal`.
    async fn plan(
        &self,
        signal: &Signal,
        services: &Services,
        now: DateTime<Utc>,
    ) -> Result<Plan, RunError>;

    /// Handles `signal`: by default one plan, executed. Functions that decide in rounds on
    /// what the provider answers (failover probes for most of a minute, a rollout steps and
    /// looks again) implement it themselves; either way every change goes through the
    /// platform's effects handle (journal, audit, outcome), a dry run is the platform's
    /// rehearsal, and a retry is the platform's redelivery reading the journal: there is no
    /// other way to act, record or rehearse to override.
    async fn run(
        &self,
        signal: &Signal,
        services: &Services,
        inv: Invocation,
    ) -> Result<Vec<Execution>, RunError> {
        let plan = self.plan(signal, services, inv.now).await?;
        Ok(vec![execute(services, plan, inv).await?])
    }
}

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
