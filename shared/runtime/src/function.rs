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
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<Vec<Execution>, RunError> {
        let plan = self.plan(signal, services, now).await?;
        Ok(vec![execute(services, plan, dry_run, now).await?])
    }
}
