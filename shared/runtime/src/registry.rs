//! What the platform knows of a function: its name, configuration section, triggers, the
//! permissions it needs on each cloud, the adapters its binary links and its constructor.
//!
//! Each function's crate (`functions/<name>/`) declares its own [`FunctionSpec`] as `SPEC`;
//! the `twincloud-functions` crate (`functions/registry/`) lists them all. The CLI's `invoke`
//! and `functions` commands, and the tests that check `infra/template.yaml`,
//! `infra/gcp/deploy.sh`, the README and the workspace, read that list, so a function exists in
//! one place. `docs/ARCHITECTURE.md` ("Adding a function") lists the files a new one needs.

use crate::access::{self, Access};
use crate::function::Function;
use crate::services::Wiring;

/// Something that makes a function run. Each trigger says how it is wired on each cloud, so
/// the deployment files can be checked against the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A schedule: EventBridge Scheduler on AWS, Cloud Scheduler on GCP.
    Schedule,
    /// CloudWatch alarm state changes through an EventBridge rule.
    CloudWatchAlarm,
    /// Messages on an SNS topic (CloudWatch alarm actions, AWS Budgets alerts).
    SnsTopic,
    /// Pub/Sub push subscriptions (billing budgets, Artifact Registry, Cloud Monitoring
    /// incidents).
    PubSubTopic,
    /// ECR `ECR Image Action` events through an EventBridge rule.
    EcrPush,
    /// S3 `Object Created` / `Object Deleted` events through EventBridge (or S3 notifications).
    S3Object,
    /// GCS `object.v1.finalized` / `deleted` CloudEvents through Eventarc.
    GcsObject,
    /// A command from an authenticated direct call (the CLI, Lambda Invoke, an HTTP call).
    Command(&'static str),
}

impl Trigger {
    /// Text that the function's resource in `infra/template.yaml` must contain when it takes
    /// this trigger on AWS; `None` for triggers that are not wired there.
    pub fn sam_marker(&self) -> Option<&'static str> {
        match self {
            Trigger::Schedule => Some("Type: ScheduleV2"),
            Trigger::CloudWatchAlarm => Some("detail-type: [CloudWatch Alarm State Change]"),
            Trigger::SnsTopic => Some("Type: SNS"),
            Trigger::EcrPush => Some("detail-type: [ECR Image Action]"),
            Trigger::S3Object => Some("source: [aws.s3]"),
            Trigger::PubSubTopic | Trigger::GcsObject | Trigger::Command(_) => None,
        }
    }

    /// One line, for help and listings.
    pub fn describe(&self) -> String {
        match self {
            Trigger::Schedule => "schedule".into(),
            Trigger::CloudWatchAlarm => "CloudWatch alarm".into(),
            Trigger::SnsTopic => "SNS topic".into(),
            Trigger::PubSubTopic => "Pub/Sub topic".into(),
            Trigger::EcrPush => "ECR push".into(),
            Trigger::S3Object => "S3 object event".into(),
            Trigger::GcsObject => "GCS object event".into(),
            Trigger::Command(c) => format!("`{c}` command"),
        }
    }
}

/// One function of the registry.
#[derive(Debug, Clone, Copy)]
pub struct FunctionSpec {
    /// Name of the function, its binary, its records and its `invoke` argument.
    pub name: &'static str,
    /// One line: what it does.
    pub summary: &'static str,
    /// The configuration section it reads beyond `[project]` and `[notify]`, if any.
    pub config_section: Option<&'static str>,
    /// What makes it run.
    pub triggers: &'static [Trigger],
    /// The kinds of acts and observations it takes beyond [`access::COMMON`], each with the
    /// AWS actions and GCP roles it needs: its SAM resource and its account in
    /// `infra/gcp/deploy.sh` are granted exactly their union (a test reads both).
    pub access: &'static [Access],
    /// The state records it writes and the other functions' records it reads.
    pub state: crate::access::StateScope,
    /// The adapters it uses beyond state, channels and probes; its binary links only these.
    pub wiring: Wiring,
    /// Builds it.
    pub make: fn() -> Box<dyn Function>,
}

impl FunctionSpec {
    /// The function itself.
    pub fn build(&self) -> Box<dyn Function> {
        (self.make)()
    }

    /// The AWS API actions it calls, the common ones included, sorted.
    pub fn aws_actions(&self) -> Vec<&'static str> {
        access::aws_actions(&[access::COMMON, self.access].concat())
    }

    /// The GCP roles its runtime account needs, the common ones included, sorted.
    pub fn gcp_roles(&self) -> Vec<&'static str> {
        access::gcp_roles(&[access::COMMON, self.access].concat())
    }
}
