//! SNS deliveries, read into aws_lambda_events' `SnsEvent`: CloudWatch alarms (JSON text) and
//! AWS Budgets alerts (plain text, for which no library type exists).

use aws_lambda_events::sns::SnsEvent;
use serde::Deserialize;
use serde_json::Value;

use super::super::shape::{Shape, decode_twincloud_input};
use super::super::{DecodeError, Decoded, parse_json, typed};
use super::eventbridge::{alarm_state, prefix};
use crate::signal::{Alarm, AlarmState, BudgetAlert, BudgetBasis, Cloud, Signal, SignalKind};

// ---------- SNS ----------

pub(super) fn sns(value: Value) -> Result<Decoded, DecodeError> {
    let ev: SnsEvent = typed(Shape::SnsMessage, &value)?;
    let mut signals = Vec::with_capacity(ev.records.len());
    let mut shape = Shape::SnsMessage;
    for (i, rec) in ev.records.into_iter().enumerate() {
        let m = rec.sns;
        let time = Some(m.timestamp);
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
                    // Anyone allowed to publish to the topic wrote this, not the caller.
                    s.origin = crate::signal::Origin::Relayed;
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
            origin: crate::signal::Origin::Relayed,
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

/// The CloudWatch alarm an SNS message carries. aws_lambda_events' `CloudWatchAlarmPayload`
/// requires `AlarmDescription`, `OldStateValue` and a full `Trigger`, which CloudWatch sends as
/// null or leaves out for alarms without a description or on metric math: our own type reads
/// only what is used, and accepts those.
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
        account: text.lines().find_map(|l| {
            l.trim()
                .strip_prefix("AWS Account ")
                .map(str::trim)
                .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
                .map(str::to_owned)
        }),
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
