//! EventBridge events (alarm state changes, schedules, ECR pushes, S3 objects) and the
//! CloudWatch alarm Lambda action.

use aws_lambda_events::cloudwatch_alarms::{
    CloudWatchAlarm, CloudWatchAlarmData, CloudWatchAlarmStateValue,
};
use aws_lambda_events::cloudwatch_events::CloudWatchEvent;
use serde::Deserialize;
use serde_json::Value;

use super::super::shape::Shape;
use super::super::{DecodeError, Decoded, typed};
use crate::signal::{
    Alarm, AlarmState, Cloud, ImageEvent, ObjectChange, ObjectStoreKind, Registry, ScheduleTick,
    Signal, SignalKind,
};

// ---------- EventBridge ----------

/// The EventBridge envelope (aws_lambda_events' type) with the fields twincloud needs present.
struct EventBridge {
    id: String,
    source: String,
    time: chrono::DateTime<chrono::Utc>,
    region: String,
    resources: Vec<String>,
    detail: Value,
}

fn envelope(shape: Shape, value: &Value) -> Result<EventBridge, DecodeError> {
    let eb: CloudWatchEvent<Value> = typed(shape, value)?;
    let need = |v: Option<String>, field: &str| {
        v.filter(|s| !s.is_empty())
            .ok_or_else(|| DecodeError::field(shape, field, "is missing"))
    };
    Ok(EventBridge {
        id: need(eb.id, "id")?,
        source: need(eb.source, "source")?,
        time: eb.time,
        region: need(eb.region, "region")?,
        resources: eb.resources,
        detail: eb
            .detail
            .ok_or_else(|| DecodeError::field(shape, "detail", "is missing"))?,
    })
}

pub(super) fn eventbridge(value: Value) -> Result<Decoded, DecodeError> {
    let dt = value
        .get("detail-type")
        .and_then(Value::as_str)
        .unwrap_or("");
    let shape = match dt {
        "CloudWatch Alarm State Change" => Shape::EventBridgeAlarm,
        "Scheduled Event" => Shape::EventBridgeSchedule,
        "ECR Image Action" => Shape::EcrImageAction,
        "Object Created" | "Object Deleted" => Shape::EventBridgeS3Object,
        other => {
            return Err(DecodeError::Unknown(format!(
                "EventBridge detail-type `{other}` (understood: CloudWatch Alarm State Change, \
                 Scheduled Event, ECR Image Action, Object Created, Object Deleted)"
            )));
        }
    };
    let eb = envelope(shape, &value)?;
    let time = Some(eb.time);
    let kind = match shape {
        Shape::EventBridgeAlarm => {
            let (d, state) = alarm_data(shape, &eb.detail, "detail")?;
            SignalKind::Alarm(Alarm {
                name: d.alarm_name,
                state: state.0,
                previous: d.previous_state.map(|p| from_library(&p.value)),
                reason: state.1,
                region: Some(eb.region.clone()),
                arn: eb.resources.first().cloned(),
                metric: metric_name(&d.configuration),
            })
        }
        Shape::EventBridgeSchedule => {
            if eb.source != "aws.events" {
                return Err(DecodeError::field(
                    shape,
                    "source",
                    format!("expected `aws.events`, got `{}`", eb.source),
                ));
            }
            let rule = eb
                .resources
                .first()
                .map(|arn| arn.rsplit('/').next().unwrap_or(arn).to_owned())
                .ok_or_else(|| DecodeError::field(shape, "resources", "expected the rule ARN"))?;
            SignalKind::ScheduleTick(ScheduleTick {
                name: rule,
                input: None,
            })
        }
        Shape::EcrImageAction => {
            let d: EcrDetail = typed(shape, &eb.detail).map_err(|e| prefix(e, "detail"))?;
            if d.result != "SUCCESS" {
                return Err(DecodeError::field(
                    shape,
                    "detail.result",
                    format!("`{}`: only successful image actions are acted on", d.result),
                ));
            }
            let pushed = match d.action_type.as_str() {
                "PUSH" => true,
                "DELETE" => false,
                other => {
                    return Err(DecodeError::field(
                        shape,
                        "detail.action-type",
                        format!("unknown action `{other}` (PUSH or DELETE)"),
                    ));
                }
            };
            SignalKind::Image(ImageEvent {
                registry: Registry::Ecr,
                repository: d.repository_name,
                digest: d.image_digest,
                tag: d.image_tag,
                pushed,
            })
        }
        _ => {
            let d: S3ObjectDetail = typed(shape, &eb.detail).map_err(|e| prefix(e, "detail"))?;
            SignalKind::Object(ObjectChange {
                store: ObjectStoreKind::S3,
                bucket: d.bucket.name,
                key: d.object.key,
                created: dt == "Object Created",
                size: d.object.size,
                etag: d.object.etag,
                sequencer: d.object.sequencer,
            })
        }
    };
    Ok(Decoded {
        shape,
        signals: vec![Signal {
            id: eb.id,
            cloud: Cloud::Aws,
            shape: shape.name().into(),
            time,
            kind,
            origin: crate::signal::Origin::Relayed,
        }],
        raw: value,
    })
}

pub(super) fn prefix(e: DecodeError, at: &str) -> DecodeError {
    match e {
        DecodeError::Field {
            shape,
            path,
            problem,
        } => DecodeError::Field {
            shape,
            path: if path == "(top)" {
                at.into()
            } else {
                format!("{at}.{path}")
            },
            problem,
        },
        other => other,
    }
}

/// An alarm's data with its configuration and reason data left as JSON.
type AlarmData = CloudWatchAlarmData<Value, Value>;

/// An alarm's data (aws_lambda_events' `CloudWatchAlarmData`, the same in EventBridge's alarm
/// state change and in the Lambda alarm action) and its current state and reason. The library
/// reads a missing `state.value` as OK: a state change that does not say its state is an
/// error here, never a recovery.
fn alarm_data(
    shape: Shape,
    data: &Value,
    at: &str,
) -> Result<(AlarmData, (AlarmState, String)), DecodeError> {
    if data
        .get("state")
        .and_then(|s| s.get("value"))
        .and_then(Value::as_str)
        .is_none()
    {
        return Err(DecodeError::field(
            shape,
            format!("{at}.state.value"),
            "is missing (ALARM, OK or INSUFFICIENT_DATA)",
        ));
    }
    let d: CloudWatchAlarmData<Value, Value> = typed(shape, data).map_err(|e| prefix(e, at))?;
    let state = d
        .state
        .as_ref()
        .map(|s| (from_library(&s.value), s.reason.clone()))
        .ok_or_else(|| DecodeError::field(shape, format!("{at}.state"), "is missing"))?;
    Ok((d, state))
}

fn from_library(v: &CloudWatchAlarmStateValue) -> AlarmState {
    match v {
        CloudWatchAlarmStateValue::Alarm => AlarmState::Alarm,
        CloudWatchAlarmStateValue::InsufficientData => AlarmState::InsufficientData,
        _ => AlarmState::Ok,
    }
}

pub(super) fn alarm_state(shape: Shape, path: &str, s: &str) -> Result<AlarmState, DecodeError> {
    AlarmState::parse(s).ok_or_else(|| {
        DecodeError::field(
            shape,
            path,
            format!("`{s}` is not an alarm state (ALARM, OK, INSUFFICIENT_DATA)"),
        )
    })
}

fn metric_name(configuration: &Value) -> Option<String> {
    let m = configuration
        .get("metrics")?
        .get(0)?
        .get("metricStat")?
        .get("metric")?;
    Some(format!(
        "{}/{}",
        m.get("namespace")?.as_str()?,
        m.get("name")?.as_str()?
    ))
}

#[derive(Deserialize)]
struct EcrDetail {
    result: String,
    #[serde(rename = "action-type")]
    action_type: String,
    #[serde(rename = "repository-name")]
    repository_name: String,
    #[serde(rename = "image-digest", default)]
    image_digest: Option<String>,
    #[serde(rename = "image-tag", default)]
    image_tag: Option<String>,
}

#[derive(Deserialize)]
struct S3ObjectDetail {
    bucket: NamedBucket,
    object: S3ObjectRef,
}

#[derive(Deserialize)]
pub(super) struct NamedBucket {
    pub(super) name: String,
}

#[derive(Deserialize)]
pub(super) struct S3ObjectRef {
    pub(super) key: String,
    #[serde(default)]
    pub(super) size: Option<u64>,
    #[serde(default, alias = "eTag")]
    pub(super) etag: Option<String>,
    #[serde(default)]
    pub(super) sequencer: Option<String>,
}

// ---------- Lambda alarm action ----------

pub(super) fn lambda_alarm_action(value: Value) -> Result<Decoded, DecodeError> {
    let shape = Shape::LambdaAlarmAction;
    let la: CloudWatchAlarm<Value, Value> = typed(shape, &value)?;
    let arn = la
        .alarm_arn
        .clone()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| DecodeError::field(shape, "alarmArn", "is missing"))?;
    let raw = value.get("alarmData").cloned().unwrap_or(Value::Null);
    let (d, (state, reason)) = alarm_data(shape, &raw, "alarmData")?;
    let stamp = d.state.as_ref().map(|s| s.timestamp).unwrap_or(la.time);
    // CloudWatch's alarm action carries no delivery id; the alarm and its state timestamp
    // identify one state change, which is what a retry re-delivers.
    let id = format!("{arn}@{}", stamp.format("%Y-%m-%dT%H:%M:%S%.3f%z"));
    Ok(Decoded {
        shape,
        signals: vec![Signal {
            id,
            cloud: Cloud::Aws,
            shape: shape.name().into(),
            time: Some(stamp),
            kind: SignalKind::Alarm(Alarm {
                name: d.alarm_name.clone(),
                state,
                previous: d.previous_state.as_ref().map(|p| from_library(&p.value)),
                reason,
                region: la.region,
                arn: Some(arn),
                metric: metric_name(&d.configuration),
            }),
            origin: crate::signal::Origin::Relayed,
        }],
        raw: value,
    })
}
