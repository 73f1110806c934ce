//! The notifier: any decodable event becomes a readable message on the channels routed to it,
//! once per state change, within each channel's rate limit.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use twincloud_core::Signal;
use twincloud_core::plan::Plan;
use twincloud_core::planner::notify;

use twincloud_runtime::error::RunError;
use twincloud_runtime::function::Function;
use twincloud_runtime::report::notify_plan;
use twincloud_runtime::services::Services;

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

/// The notifier.
pub const SPEC: twincloud_runtime::FunctionSpec = twincloud_runtime::FunctionSpec {
    name: twincloud_core::planner::notify::FUNCTION,
    summary: "any event and every action of twincloud becomes one readable message per channel",
    config_section: None,
    triggers: &[
        twincloud_runtime::Trigger::SnsTopic,
        twincloud_runtime::Trigger::CloudWatchAlarm,
        twincloud_runtime::Trigger::EcrPush,
        twincloud_runtime::Trigger::PubSubTopic,
    ],
    access: &[],
    state: twincloud_runtime::access::StateScope {
        writes: &["notify/"],
        reads: &[],
    },
    wiring: twincloud_runtime::Wiring::NONE,
    make: || Box::new(Notifier),
};
