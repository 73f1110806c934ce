//! AWS shapes: EventBridge, SNS, S3 notifications, the Lambda alarm action, Budgets text.

use serde::Deserialize;
use serde_json::Value;

use super::shape::{Shape, decode_twincloud_input};
use super::time::parse_time;
use super::{DecodeError, Decoded, fingerprint, parse_json, typed};
use crate::signal::{
    Alarm, AlarmState, BudgetAlert, BudgetBasis, Cloud, ImageEvent, ObjectChange, ObjectStoreKind,
    Registry, ScheduleTick, Signal, SignalKind,
};

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

fn eventbridge(value: Value) -> Result<Decoded, DecodeError> {
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

fn prefix(e: DecodeError, at: &str) -> DecodeError {
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

fn alarm_state(shape: Shape, path: &str, s: &str) -> Result<AlarmState, DecodeError> {
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
struct NamedBucket {
    name: String,
}

#[derive(Deserialize)]
struct S3ObjectRef {
    key: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default, alias = "eTag")]
    etag: Option<String>,
    #[serde(default)]
    sequencer: Option<String>,
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

fn lambda_alarm_action(value: Value) -> Result<Decoded, DecodeError> {
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

// ---------- SNS ----------

#[derive(Deserialize)]
struct SnsEvent {
    #[serde(rename = "Records")]
    records: Vec<SnsRecord>,
}

#[derive(Deserialize)]
struct SnsRecord {
    #[serde(rename = "Sns")]
    sns: SnsMessage,
}

#[derive(Deserialize)]
struct SnsMessage {
    #[serde(rename = "MessageId")]
    message_id: String,
    #[serde(rename = "Timestamp")]
    timestamp: String,
    #[serde(rename = "Message")]
    message: String,
}

fn sns(value: Value) -> Result<Decoded, DecodeError> {
    let ev: SnsEvent = typed(Shape::SnsMessage, &value)?;
    let mut signals = Vec::with_capacity(ev.records.len());
    let mut shape = Shape::SnsMessage;
    for (i, rec) in ev.records.into_iter().enumerate() {
        let m = rec.sns;
        let time = parse_time(&m.timestamp);
        let trimmed = m.message.trim_start();
        let (s, kind) = if trimmed.starts_with('{') {
            let inner = parse_json(trimmed.as_bytes()).map_err(|e| {
                DecodeError::field(
                    Shape::SnsMessage,
                    format!("Records[{i}].Sns.Message"),
                    e.to_string(),
                )
            })?;
            if inner.get("AlarmName").is_some() {
                (Shape::SnsAlarm, sns_alarm(&inner, i)?)
            } else if inner.get("twincloud").is_some() {
                let d = decode_twincloud_input(inner, Cloud::Aws)?;
                signals.extend(d.signals.into_iter().map(|mut s| {
                    s.id = m.message_id.clone();
                    s
                }));
                shape = Shape::TwincloudInput;
                continue;
            } else {
                return Err(DecodeError::Unknown(format!(
                    "SNS message (Records[{i}].Sns.Message) is JSON of no known shape"
                )));
            }
        } else if m.message.contains("Budget Name:") {
            (Shape::SnsBudget, sns_budget(&m.message, i)?)
        } else {
            return Err(DecodeError::Unknown(format!(
                "SNS message (Records[{i}].Sns.Message) is text that is not an AWS Budgets alert"
            )));
        };
        shape = s;
        signals.push(Signal {
            id: m.message_id,
            cloud: Cloud::Aws,
            shape: s.name().into(),
            time,
            kind,
        });
    }
    if signals.is_empty() {
        return Err(DecodeError::field(Shape::SnsMessage, "Records", "is empty"));
    }
    Ok(Decoded {
        shape,
        signals,
        raw: value,
    })
}

#[derive(Deserialize)]
struct SnsAlarmMessage {
    #[serde(rename = "AlarmName")]
    alarm_name: String,
    #[serde(rename = "NewStateValue")]
    new_state: String,
    #[serde(rename = "OldStateValue", default)]
    old_state: Option<String>,
    #[serde(rename = "NewStateReason", default)]
    reason: Option<String>,
    #[serde(rename = "Region", default)]
    region: Option<String>,
    #[serde(rename = "AlarmArn", default)]
    arn: Option<String>,
    #[serde(rename = "Trigger", default)]
    trigger: Option<Value>,
}

fn sns_alarm(inner: &Value, i: usize) -> Result<SignalKind, DecodeError> {
    let shape = Shape::SnsAlarm;
    let m: SnsAlarmMessage =
        typed(shape, inner).map_err(|e| prefix(e, &format!("Records[{i}].Sns.Message")))?;
    let metric = m.trigger.as_ref().and_then(|t| {
        Some(format!(
            "{}/{}",
            t.get("Namespace")?.as_str()?,
            t.get("MetricName")?.as_str()?
        ))
    });
    Ok(SignalKind::Alarm(Alarm {
        name: m.alarm_name,
        state: alarm_state(
            shape,
            &format!("Records[{i}].Sns.Message.NewStateValue"),
            &m.new_state,
        )?,
        previous: m.old_state.as_deref().and_then(AlarmState::parse),
        reason: m.reason.unwrap_or_default(),
        region: m.region,
        arn: m.arn,
        metric,
    }))
}

/// Parses the AWS Budgets plain-text alert: `Key: value` lines, amounts like `$1.70`.
fn sns_budget(text: &str, i: usize) -> Result<SignalKind, DecodeError> {
    let shape = Shape::SnsBudget;
    let field = |name: &str| -> Option<&str> {
        text.lines().find_map(|l| {
            l.trim()
                .strip_prefix(name)
                .and_then(|r| r.strip_prefix(':'))
                .map(str::trim)
        })
    };
    let need = |name: &str| {
        field(name).ok_or_else(|| {
            DecodeError::field(
                shape,
                format!("Records[{i}].Sns.Message"),
                format!("no `{name}:` line"),
            )
        })
    };
    let budget = need("Budget Name")?.to_owned();
    let alert_type = need("Alert Type")?;
    let basis = match alert_type {
        "ACTUAL" => BudgetBasis::Actual,
        "FORECASTED" => BudgetBasis::Forecast,
        other => {
            return Err(DecodeError::field(
                shape,
                format!("Records[{i}].Sns.Message"),
                format!("`Alert Type: {other}` is neither ACTUAL nor FORECASTED"),
            ));
        }
    };
    let money = |name: &str| -> Result<(f64, String), DecodeError> {
        let raw = need(name)?;
        parse_money(raw).ok_or_else(|| {
            DecodeError::field(
                shape,
                format!("Records[{i}].Sns.Message"),
                format!("`{name}: {raw}` is not an amount"),
            )
        })
    };
    let (budget_amount, currency) = money("Budgeted Amount")?;
    let (cost, _) = money(&format!("{alert_type} Amount"))?;
    let threshold = field("Alert Threshold")
        .map(|t| t.trim_start_matches(['>', '<', '=', ' ']))
        .and_then(parse_money)
        .map(|(t, _)| {
            if budget_amount > 0.0 {
                t / budget_amount
            } else {
                0.0
            }
        });
    Ok(SignalKind::Budget(BudgetAlert {
        budget,
        cost,
        budget_amount,
        currency,
        threshold,
        basis,
        period_start: None,
        budget_id: None,
    }))
}

fn parse_money(s: &str) -> Option<(f64, String)> {
    let s = s.trim();
    let (currency, digits) = if let Some(rest) = s.strip_prefix('$') {
        ("USD".to_owned(), rest)
    } else {
        let code: String = s.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
        if code.is_empty() {
            let n: String = s.chars().take_while(|c| !c.is_ascii_alphabetic()).collect();
            let code: String = s[n.len()..].trim().to_owned();
            return n
                .trim()
                .replace(',', "")
                .parse()
                .ok()
                .map(|v| (v, if code.is_empty() { "USD".into() } else { code }));
        }
        (code.clone(), s[code.len()..].trim())
    };
    let v: f64 = digits.trim().replace(',', "").parse().ok()?;
    v.is_finite().then_some((v, currency))
}

// ---------- S3 notifications ----------

#[derive(Deserialize)]
struct S3Event {
    #[serde(rename = "Records")]
    records: Vec<S3Record>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct S3Record {
    event_time: String,
    event_name: String,
    s3: S3Entity,
}

#[derive(Deserialize)]
struct S3Entity {
    bucket: NamedBucket,
    object: S3ObjectRef,
}

fn s3_notification(value: Value) -> Result<Decoded, DecodeError> {
    let shape = Shape::S3Notification;
    let ev: S3Event = typed(shape, &value)?;
    let mut signals = Vec::with_capacity(ev.records.len());
    for (i, r) in ev.records.into_iter().enumerate() {
        let created = if r.event_name.starts_with("ObjectCreated:") {
            true
        } else if r.event_name.starts_with("ObjectRemoved:") {
            false
        } else {
            return Err(DecodeError::field(
                shape,
                format!("Records[{i}].eventName"),
                format!(
                    "`{}` is neither ObjectCreated:* nor ObjectRemoved:*",
                    r.event_name
                ),
            ));
        };
        // S3 notifications URL-encode keys and write spaces as `+`.
        let plus_decoded = r.s3.object.key.replace('+', " ");
        let key = percent_encoding::percent_decode_str(&plus_decoded)
            .decode_utf8()
            .map_err(|_| {
                DecodeError::field(
                    shape,
                    format!("Records[{i}].s3.object.key"),
                    "not valid URL-encoded UTF-8",
                )
            })?
            .into_owned();
        let seq = r.s3.object.sequencer.clone().unwrap_or_default();
        // S3 notifications carry no delivery id; bucket, key and sequencer identify one change.
        let id = format!(
            "s3:{}/{}@{}",
            r.s3.bucket.name,
            fingerprint(key.as_bytes()),
            if seq.is_empty() {
                fingerprint(r.event_time.as_bytes())
            } else {
                seq
            }
        );
        signals.push(Signal {
            id,
            cloud: Cloud::Aws,
            shape: shape.name().into(),
            time: parse_time(&r.event_time),
            kind: SignalKind::Object(ObjectChange {
                store: ObjectStoreKind::S3,
                bucket: r.s3.bucket.name,
                key,
                created,
                size: r.s3.object.size,
                etag: r.s3.object.etag,
                sequencer: r.s3.object.sequencer,
            }),
        });
    }
    if signals.is_empty() {
        return Err(DecodeError::field(shape, "Records", "is empty"));
    }
    Ok(Decoded {
        shape,
        signals,
        raw: value,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_money;

    #[test]
    fn money_forms() {
        assert_eq!(parse_money("$1.70"), Some((1.70, "USD".into())));
        assert_eq!(parse_money("$1,234.50"), Some((1234.5, "USD".into())));
        assert_eq!(parse_money("EUR 10"), Some((10.0, "EUR".into())));
        assert_eq!(parse_money("12.5 GBP"), Some((12.5, "GBP".into())));
        assert_eq!(parse_money("lots"), None);
        assert_eq!(parse_money("$"), None);
    }
}
