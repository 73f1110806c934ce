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

    /// Handles `signal`: by default one plan, executed. Functions that observe over time
    /// (failover probes for most of a minute) or follow up on what they did override it.
    async fn run(
        &self,
        signal: &Signal,
        services: &Services,
        inv: Invocation,
    ) -> Result<Vec<Execution>, RunError> {
        let plan = self.plan(signal, services, inv.now).await?;
        Ok(vec![execute(services, plan, inv.dry_run, inv.now).await?])
    }
}

/// What one invocation gives a function besides the signal.
#[derive(Debug, Clone, Copy)]
pub struct Invocation {
    /// The invocation's clock reading.
    pub now: DateTime<Utc>,
    /// Plan only.
    pub dry_run: bool,
    /// When the platform stops the invocation (Lambda's deadline), if it says.
    pub deadline: Option<std::time::Instant>,
}

impl Invocation {
    /// Whether at least `needed` is left before the deadline (always, without one).
    pub fn has_time(&self, needed: std::time::Duration) -> bool {
        self.deadline
            .is_none_or(|d| std::time::Instant::now() + needed <= d)
    }
}
