//! The notifier: any decodable event becomes a readable message on the channels routed to it,
//! once per state change, within each channel's rate limit.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use twincloud_core::Signal;
use twincloud_core::plan::Plan;
use twincloud_core::planner::notify;

use crate::error::RunError;
use crate::function::Function;
use crate::report::notify_plan;
use crate::services::Services;

/// The notifier function.
#[derive(Debug, Clone, Copy, Default)]
pub struct Notifier;

#[async_trait]
impl Function for Notifier {
    fn name(&self) -> &'static str {
        notify::FUNCTION
    }

    async fn plan(
        &self,
        signal: &Signal,
        services: &Services,
        now: DateTime<Utc>,
    ) -> Result<Plan, RunError> {
        notify_plan(signal, services, now).await
    }
}
