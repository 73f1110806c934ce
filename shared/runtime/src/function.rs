//! What a function is: a name, and a way to turn a signal into a plan by observing state
//! through the ports and calling a pure planner.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use twincloud_core::Signal;
use twincloud_core::plan::Plan;

use crate::error::RunError;
use crate::executor::{Execution, execute};
use crate::services::Services;

pub use crate::invocation::Invocation;

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
