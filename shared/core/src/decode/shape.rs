//! The catalogue of event shapes, and twincloud's own input shape.

use serde::Deserialize;
use serde_json::Value;

use super::{DecodeError, Decoded, fingerprint, typed};
use crate::signal::{Cloud, Command, ScheduleTick, Signal, SignalKind};

/// Every event shape twincloud decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    /// EventBridge "CloudWatch Alarm State Change".
    EventBridgeAlarm,
    /// A CloudWatch alarm published to SNS (`Sns.Message` is JSON text).
    SnsAlarm,
    /// The payload of a CloudWatch alarm's Lambda action (`alarmData`).
    LambdaAlarmAction,
    /// EventBridge "Scheduled Event" (a rule with a schedule expression).
    EventBridgeSchedule,
    /// EventBridge "ECR Image Action".
    EcrImageAction,
    /// S3 event notification (`Records[].s3`).
    S3Notification,
    /// EventBridge "Object Created" / "Object Deleted" from S3.
    EventBridgeS3Object,
    /// AWS Budgets alert delivered by SNS as plain text.
    SnsBudget,
    /// Pub/Sub message carrying a GCP billing budget notification.
    PubSubBudget,
    /// Pub/Sub message from Artifact Registry's `gcr` topic.
    PubSubArtifactRegistry,
    /// Pub/Sub message carrying a Cloud Monitoring incident.
    PubSubIncident,
    /// CloudEvent `google.cloud.storage.object.v1.finalized` / `.deleted`.
    GcsObject,
    /// A Cloud Scheduler HTTP job.
    CloudSchedulerHttp,
    /// twincloud's own input: `{"twincloud": "command" | "schedule", ...}`, as EventBridge
    /// Scheduler custom input, a Cloud Scheduler body, or a hand-written command.
    TwincloudInput,
    /// A fixture wrapping an HTTP request: `{"headers": {...}, "body": ...}`.
    HttpRequest,
    /// A CloudEvent envelope (structured or binary mode).
    CloudEvent,
    /// A Pub/Sub push envelope or `messagePublished` CloudEvent.
    PubSubMessage,
    /// An SNS delivery whose message is not one of the above.
    SnsMessage,
    /// An S3 test event sent when notifications are configured; carries no signal.
    S3TestEvent,
}

impl Shape {
    /// Every shape, for `twincloud events`.
    pub const ALL: [Shape; 19] = [
        Shape::EventBridgeAlarm,
        Shape::SnsAlarm,
        Shape::LambdaAlarmAction,
        Shape::EventBridgeSchedule,
        Shape::EcrImageAction,
        Shape::S3Notification,
        Shape::EventBridgeS3Object,
        Shape::SnsBudget,
        Shape::PubSubBudget,
        Shape::PubSubArtifactRegistry,
        Shape::PubSubIncident,
        Shape::GcsObject,
        Shape::CloudSchedulerHttp,
        Shape::TwincloudInput,
        Shape::HttpRequest,
        Shape::CloudEvent,
        Shape::PubSubMessage,
        Shape::SnsMessage,
        Shape::S3TestEvent,
    ];

    /// Stable name used in errors and logs.
    pub fn name(self) -> &'static str {
        match self {
            Shape::EventBridgeAlarm => "aws.eventbridge.cloudwatch-alarm",
            Shape::SnsAlarm => "aws.sns.cloudwatch-alarm",
            Shape::LambdaAlarmAction => "aws.lambda.alarm-action",
            Shape::EventBridgeSchedule => "aws.eventbridge.scheduled-event",
            Shape::EcrImageAction => "aws.eventbridge.ecr-image-action",
            Shape::S3Notification => "aws.s3.notification",
            Shape::EventBridgeS3Object => "aws.eventbridge.s3-object",
            Shape::SnsBudget => "aws.sns.budget",
            Shape::PubSubBudget => "gcp.pubsub.billing-budget",
            Shape::PubSubArtifactRegistry => "gcp.pubsub.artifact-registry",
            Shape::PubSubIncident => "gcp.pubsub.monitoring-incident",
            Shape::GcsObject => "gcp.storage.object",
            Shape::CloudSchedulerHttp => "gcp.scheduler.http",
            Shape::TwincloudInput => "twincloud.input",
            Shape::HttpRequest => "http.request-fixture",
            Shape::CloudEvent => "cloudevent",
            Shape::PubSubMessage => "gcp.pubsub.message",
            Shape::SnsMessage => "aws.sns.message",
            Shape::S3TestEvent => "aws.s3.test-event",
        }
    }

    /// One line on what the shape is and how it arrives.
    pub fn describe(self) -> &'static str {
        match self {
            Shape::EventBridgeAlarm => {
                "EventBridge `CloudWatch Alarm State Change` (detail.state.value, reasonData as JSON text)"
            }
            Shape::SnsAlarm => {
                "CloudWatch alarm via SNS (Records[].Sns.Message is JSON text; Region is a display name)"
            }
            Shape::LambdaAlarmAction => "CloudWatch alarm Lambda action payload (alarmData)",
            Shape::EventBridgeSchedule => "EventBridge `Scheduled Event` from a schedule rule",
            Shape::EcrImageAction => {
                "EventBridge `ECR Image Action` (action-type PUSH/DELETE, result SUCCESS)"
            }
            Shape::S3Notification => "S3 event notification (Records[].s3; keys URL-encoded)",
            Shape::EventBridgeS3Object => "EventBridge `Object Created` / `Object Deleted` from S3",
            Shape::SnsBudget => {
                "AWS Budgets alert via SNS (plain text: `Budget Name:`, `Alert Type:`, ...)"
            }
            Shape::PubSubBudget => {
                "GCP billing budget notification in a Pub/Sub message (costAmount, budgetAmount, ...)"
            }
            Shape::PubSubArtifactRegistry => {
                "Artifact Registry `gcr` topic message (action INSERT/DELETE, digest, tag)"
            }
            Shape::PubSubIncident => {
                "Cloud Monitoring incident via Pub/Sub (version 1.2, incident.state open/closed)"
            }
            Shape::GcsObject => "CloudEvent google.cloud.storage.object.v1.finalized / .deleted",
            Shape::CloudSchedulerHttp => {
                "Cloud Scheduler HTTP job (X-CloudScheduler-JobName header)"
            }
            Shape::TwincloudInput => {
                "twincloud input: {\"twincloud\": \"command\"|\"schedule\", ...} (EventBridge Scheduler input, CLI)"
            }
            Shape::HttpRequest => {
                "fixture wrapper for an HTTP delivery: {\"headers\": {...}, \"body\": ...}"
            }
            Shape::CloudEvent => {
                "CloudEvents 1.0 envelope, binary (ce-* headers) or structured mode"
            }
            Shape::PubSubMessage => {
                "Pub/Sub push envelope or messagePublished CloudEvent (base64 message.data)"
            }
            Shape::SnsMessage => "SNS delivery (Records[].Sns)",
            Shape::S3TestEvent => {
                "s3:TestEvent sent when a notification is configured (acknowledged, no signal)"
            }
        }
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Deserialize)]
#[serde(tag = "twincloud", rename_all = "lowercase")]
enum TwincloudInput {
    Command {
        command: String,
        #[serde(default)]
        args: Value,
        #[serde(default)]
        id: Option<String>,
    },
    Schedule {
        name: String,
        #[serde(default)]
        args: Option<Value>,
        #[serde(default)]
        id: Option<String>,
    },
}

/// Decodes `{"twincloud": ...}` input.
pub(crate) fn decode_twincloud_input(value: Value, cloud: Cloud) -> Result<Decoded, DecodeError> {
    let shape = Shape::TwincloudInput;
    let input: TwincloudInput = typed(shape, &value)?;
    let body = value.to_string();
    let (id, kind) = match input {
        TwincloudInput::Command { command, args, id } => {
            if command.trim().is_empty() {
                return Err(DecodeError::field(shape, "command", "must not be empty"));
            }
            (
                id.unwrap_or_else(|| format!("cmd-{}", fingerprint(body.as_bytes()))),
                SignalKind::Command(Command { command, args }),
            )
        }
        TwincloudInput::Schedule { name, args, id } => (
            id.unwrap_or_else(|| format!("sched-{}", fingerprint(body.as_bytes()))),
            SignalKind::ScheduleTick(ScheduleTick { name, input: args }),
        ),
    };
    let time = value.get("time").and_then(super::time::parse_time_value);
    Ok(Decoded {
        shape,
        signals: vec![Signal {
            id,
            cloud,
            shape: shape.name().into(),
            time,
            kind,
            // The call's own payload: the entry point decides whether its caller is vouched for.
            origin: crate::signal::Origin::Payload,
        }],
        raw: value,
    })
}
