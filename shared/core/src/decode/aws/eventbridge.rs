//! EventBridge events (alarm state changes, schedules, ECR pushes, S3 objects) and the
//! CloudWatch alarm Lambda action.

use serde::Deserialize;
use serde_json::Value;

use super::super::shape::Shape;
use super::super::time::parse_time;
use super::super::{DecodeError, Decoded, typed};
use crate::signal::{
    Alarm, AlarmState, Cloud, ImageEvent, ObjectChange, ObjectStoreKind, Registry, ScheduleTick,
    Signal, SignalKind,
};

// ---------- EventBridge ----------

#[derive(Deserialize)]
struct EventBridge {
    id: String,
    source: String,
    time: String,
    region: String,
    #[serde(default)]
    resources: Vec<String>,
    detail: Value,
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
    let eb: EventBridge = typed(shape, &value)?;
    let time = Some(parse_time(&eb.time).ok_or_else(|| {
        DecodeError::field(shape, "time", format!("`{}` is not a timestamp", eb.time))
    })?);
    let kind = match shape {
        Shape::EventBridgeAlarm => {
            let d: AlarmDetail = typed(shape, &eb.detail).map_err(|e| prefix(e, "detail"))?;
            SignalKind::Alarm(Alarm {
                name: d.alarm_name,
                state: alarm_state(shape, "detail.state.value", &d.state.value)?,
                previous: d.previous_state.and_then(|p| AlarmState::parse(&p.value)),
                reason: d.state.reason.unwrap_or_default(),
                region: Some(eb.region.clone()),
                arn: eb.resources.first().cloned(),
                metric: d.configuration.as_ref().and_then(metric_name),
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AlarmDetail {
    alarm_name: String,
    state: AlarmStateDetail,
    #[serde(default)]
    previous_state: Option<AlarmStateDetail>,
    #[serde(default)]
    configuration: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AlarmStateDetail {
    value: String,
    #[serde(default)]
    reason: Option<String>,
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LambdaAlarm {
    alarm_arn: String,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    time: Option<String>,
    alarm_data: LambdaAlarmData,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LambdaAlarmData {
    alarm_name: String,
    state: LambdaAlarmState,
    #[serde(default)]
    previous_state: Option<LambdaAlarmState>,
    #[serde(default)]
    configuration: Option<Value>,
}

#[derive(Deserialize)]
struct LambdaAlarmState {
    value: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
}

pub(super) fn lambda_alarm_action(value: Value) -> Result<Decoded, DecodeError> {
    let shape = Shape::LambdaAlarmAction;
    let la: LambdaAlarm = typed(shape, &value)?;
    let state = alarm_state(shape, "alarmData.state.value", &la.alarm_data.state.value)?;
    let stamp = la
        .alarm_data
        .state
        .timestamp
        .clone()
        .or(la.time.clone())
        .unwrap_or_default();
    // CloudWatch's alarm action carries no delivery id; the alarm and its state timestamp
    // identify one state change, which is what a retry re-delivers.
    let id = format!("{}@{}", la.alarm_arn, stamp);
    Ok(Decoded {
        shape,
        signals: vec![Signal {
            id,
            cloud: Cloud::Aws,
            shape: shape.name().into(),
            time: parse_time(&stamp),
            kind: SignalKind::Alarm(Alarm {
                name: la.alarm_data.alarm_name,
                state,
                previous: la
                    .alarm_data
                    .previous_state
                    .and_then(|p| AlarmState::parse(&p.value)),
                reason: la.alarm_data.state.reason.unwrap_or_default(),
                region: la.region,
                arn: Some(la.alarm_arn),
                metric: la.alarm_data.configuration.as_ref().and_then(metric_name),
            }),
        }],
        raw: value,
    })
}
