//! AWS shapes: EventBridge, SNS, S3 notifications, the Lambda alarm action, Budgets text.

mod eventbridge;
mod s3;
mod sns;

use eventbridge::{eventbridge, lambda_alarm_action};
use s3::s3_notification;
use sns::sns;

use serde_json::Value;

use super::shape::Shape;
use super::{DecodeError, Decoded};

pub(crate) fn decode(value: Value) -> Result<Decoded, DecodeError> {
    if value.get("detail-type").is_some() {
        return eventbridge(value);
    }
    if value.get("alarmData").is_some() {
        return lambda_alarm_action(value);
    }
    if value.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Decoded {
            shape: Shape::S3TestEvent,
            signals: vec![],
            raw: value,
        });
    }
    if let Some(records) = value.get("Records") {
        let source = records
            .get(0)
            .and_then(|r| r.get("EventSource").or_else(|| r.get("eventSource")))
            .and_then(Value::as_str)
            .unwrap_or("");
        return match source {
            "aws:sns" => sns(value),
            "aws:s3" => s3_notification(value),
            "" => Err(DecodeError::Unknown(
                "`Records` without an `EventSource`/`eventSource` in its first record".into(),
            )),
            other => Err(DecodeError::Unknown(format!(
                "records from `{other}` (understood: aws:sns, aws:s3)"
            ))),
        };
    }
    let keys: Vec<&str> = value
        .as_object()
        .map(|o| o.keys().map(String::as_str).take(6).collect())
        .unwrap_or_default();
    Err(DecodeError::Unknown(format!(
        "an object with keys [{}] matches no known shape",
        keys.join(", ")
    )))
}
