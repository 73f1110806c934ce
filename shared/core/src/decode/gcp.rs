//! GCP shapes: CloudEvents (binary and structured), Pub/Sub messages, GCS objects, Cloud Scheduler.

use base64::Engine;
use serde::Deserialize;
use serde_json::Value;

use super::shape::{Shape, decode_twincloud_input};
use super::time::{parse_time, parse_time_value};
use super::{DecodeError, Decoded, HttpRequest, fingerprint, json_type, parse_json, typed};
use crate::signal::{
    BudgetAlert, BudgetBasis, Cloud, ImageEvent, Incident, ObjectChange, ObjectStoreKind, Registry,
    ScheduleTick, Signal, SignalKind,
};

/// The CloudEvents attributes twincloud uses, and the data.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudEventParts {
    /// `id`.
    pub id: String,
    /// `source`.
    pub source: String,
    /// `type`.
    pub ty: String,
    /// `time`, when present.
    pub time: Option<String>,
    /// `subject`, when present.
    pub subject: Option<String>,
    /// The data, parsed as JSON (GCP events are always JSON).
    pub data: Value,
}

impl CloudEventParts {
    /// From a structured-mode envelope (`specversion`, `type`, ..., `data`).
    pub fn from_structured(v: &Value) -> Result<Self, DecodeError> {
        let shape = Shape::CloudEvent;
        let attr = |name: &str| -> Result<String, DecodeError> {
            match v.get(name) {
                Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
                Some(other) => Err(DecodeError::field(
                    shape,
                    name,
                    format!("expected a non-empty string, got {}", json_type(other)),
                )),
                None => Err(DecodeError::field(
                    shape,
                    name,
                    "missing required attribute",
                )),
            }
        };
        let spec = attr("specversion")?;
        if spec != "1.0" {
            return Err(DecodeError::field(
                shape,
                "specversion",
                format!("`{spec}` is not supported (1.0 is)"),
            ));
        }
        let data = match (v.get("data"), v.get("data_base64")) {
            (Some(d), _) => d.clone(),
            (None, Some(Value::String(b))) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .map_err(|e| DecodeError::field(shape, "data_base64", e.to_string()))?;
                parse_json(&bytes)
                    .map_err(|e| DecodeError::field(shape, "data_base64", e.to_string()))?
            }
            _ => {
                return Err(DecodeError::field(
                    shape,
                    "data",
                    "missing: the event carries no data",
                ));
            }
        };
        Ok(Self {
            id: attr("id")?,
            source: attr("source")?,
            ty: attr("type")?,
            time: v.get("time").and_then(Value::as_str).map(str::to_owned),
            subject: v.get("subject").and_then(Value::as_str).map(str::to_owned),
            data,
        })
    }

    /// From a binary-mode HTTP request (`ce-*` headers, the body is the data).
    pub fn from_binary(req: &HttpRequest) -> Result<Self, DecodeError> {
        let shape = Shape::CloudEvent;
        let attr = |name: &str| -> Result<String, DecodeError> {
            req.header(name)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| DecodeError::field(shape, name, "missing required header"))
        };
        let spec = attr("ce-specversion")?;
        if spec != "1.0" {
            return Err(DecodeError::field(
                shape,
                "ce-specversion",
                format!("`{spec}` is not supported (1.0 is)"),
            ));
        }
        let data =
            parse_json(&req.body).map_err(|e| DecodeError::field(shape, "body", e.to_string()))?;
        Ok(Self {
            id: attr("ce-id")?,
            source: attr("ce-source")?,
            ty: attr("ce-type")?,
            time: req.header("ce-time").map(str::to_owned),
            // The HTTP binding percent-encodes attribute values outside printable ASCII.
            subject: req.header("ce-subject").map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            }),
            data,
        })
    }
}

const PUBSUB_PUBLISHED: &str = "google.cloud.pubsub.topic.v1.messagePublished";
const GCS_FINALIZED: &str = "google.cloud.storage.object.v1.finalized";
const GCS_DELETED: &str = "google.cloud.storage.object.v1.deleted";

pub(crate) fn decode_cloudevent(ce: &CloudEventParts, raw: Value) -> Result<Decoded, DecodeError> {
    match ce.ty.as_str() {
        PUBSUB_PUBLISHED => pubsub(&ce.data, raw),
        GCS_FINALIZED | GCS_DELETED => gcs_object(ce, raw),
        other => Err(DecodeError::Unknown(format!(
            "CloudEvent type `{other}` (understood: {PUBSUB_PUBLISHED}, {GCS_FINALIZED}, {GCS_DELETED})"
        ))),
    }
}

pub(crate) fn decode_push_envelope(value: Value) -> Result<Decoded, DecodeError> {
    pubsub(&value.clone(), value)
}

#[derive(Deserialize)]
struct PushEnvelope {
    message: PubSubMessage,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PubSubMessage {
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    attributes: std::collections::BTreeMap<String, String>,
    // Push deliveries carry both spellings; Eventarc's CloudEvent data only the camelCase one.
    #[serde(default)]
    message_id: Option<String>,
    #[serde(default, rename = "message_id")]
    message_id_snake: Option<String>,
    #[serde(default)]
    publish_time: Option<String>,
    #[serde(default, rename = "publish_time")]
    publish_time_snake: Option<String>,
}

fn pubsub(envelope: &Value, raw: Value) -> Result<Decoded, DecodeError> {
    let env: PushEnvelope = typed(Shape::PubSubMessage, envelope)?;
    let msg = env.message;
    let data = msg.data.as_deref().unwrap_or("");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|e| {
            DecodeError::field(
                Shape::PubSubMessage,
                "message.data",
                format!("not base64: {e}"),
            )
        })?;
    let payload = parse_json(&bytes).map_err(|_| {
        DecodeError::Unknown(format!(
            "Pub/Sub message data ({} bytes) is not JSON: not a billing budget, Cloud Monitoring incident, Artifact Registry or twincloud message",
            bytes.len()
        ))
    })?;
    let id = msg.message_id.or(msg.message_id_snake).ok_or_else(|| {
        DecodeError::field(Shape::PubSubMessage, "message", "missing field `messageId`")
    })?;
    let time = msg
        .publish_time
        .or(msg.publish_time_snake)
        .as_deref()
        .and_then(parse_time);
    let (shape, kind) = if payload.get("budgetDisplayName").is_some()
        || msg.attributes.contains_key("budgetId")
    {
        (Shape::PubSubBudget, budget(&payload, &msg.attributes)?)
    } else if payload.get("action").is_some()
        && (payload.get("digest").is_some() || payload.get("tag").is_some())
    {
        (Shape::PubSubArtifactRegistry, artifact_registry(&payload)?)
    } else if payload.get("incident").is_some() {
        let (kind, t) = incident(&payload)?;
        return Ok(one(Shape::PubSubIncident, id, t.or(time), kind, raw));
    } else if payload.get("twincloud").is_some() {
        let mut d = decode_twincloud_input(payload, Cloud::Gcp)?;
        for s in &mut d.signals {
            s.id.clone_from(&id);
            // Anyone allowed to publish to the topic wrote this, not the caller.
            s.origin = crate::signal::Origin::Relayed;
        }
        d.raw = raw;
        return Ok(d);
    } else {
        let keys: Vec<&str> = payload
            .as_object()
            .map(|o| o.keys().map(String::as_str).take(6).collect())
            .unwrap_or_default();
        return Err(DecodeError::Unknown(format!(
            "Pub/Sub message data with keys [{}] is not a billing budget, Artifact Registry or Cloud Monitoring message",
            keys.join(", ")
        )));
    };
    Ok(one(shape, id, time, kind, raw))
}

fn one(
    shape: Shape,
    id: String,
    time: Option<chrono::DateTime<chrono::Utc>>,
    kind: SignalKind,
    raw: Value,
) -> Decoded {
    Decoded {
        shape,
        signals: vec![Signal {
            id,
            cloud: Cloud::Gcp,
            shape: shape.name().into(),
            time,
            kind,
            origin: crate::signal::Origin::Relayed,
        }],
        raw,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BillingBudget {
    budget_display_name: String,
    cost_amount: f64,
    budget_amount: f64,
    #[serde(default)]
    alert_threshold_exceeded: Option<f64>,
    #[serde(default)]
    forecast_threshold_exceeded: Option<f64>,
    #[serde(default)]
    cost_interval_start: Option<String>,
    currency_code: String,
}

fn budget(
    payload: &Value,
    attrs: &std::collections::BTreeMap<String, String>,
) -> Result<SignalKind, DecodeError> {
    let b: BillingBudget = typed(Shape::PubSubBudget, payload)?;
    let (basis, threshold) = match (b.alert_threshold_exceeded, b.forecast_threshold_exceeded) {
        (Some(t), _) => (BudgetBasis::Actual, Some(t)),
        (None, Some(t)) => (BudgetBasis::Forecast, Some(t)),
        (None, None) => (BudgetBasis::Actual, None),
    };
    Ok(SignalKind::Budget(BudgetAlert {
        budget: b.budget_display_name,
        cost: b.cost_amount,
        budget_amount: b.budget_amount,
        currency: b.currency_code,
        threshold,
        basis,
        period_start: b.cost_interval_start,
        budget_id: attrs.get("budgetId").cloned(),
        account: attrs.get("billingAccountId").cloned(),
    }))
}

#[derive(Deserialize)]
struct GcrMessage {
    action: String,
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    tag: Option<String>,
}

fn artifact_registry(payload: &Value) -> Result<SignalKind, DecodeError> {
    let shape = Shape::PubSubArtifactRegistry;
    let m: GcrMessage = typed(shape, payload)?;
    let pushed = match m.action.as_str() {
        "INSERT" => true,
        "DELETE" => false,
        other => {
            return Err(DecodeError::field(
                shape,
                "action",
                format!("`{other}` is neither INSERT nor DELETE"),
            ));
        }
    };
    // `digest` is `host/project/repo/image@sha256:...`, `tag` is `host/project/repo/image:tag`.
    let (repo_from_digest, digest) = match m.digest.as_deref() {
        Some(d) => match d.split_once('@') {
            Some((r, dg)) => (Some(r.to_owned()), Some(dg.to_owned())),
            None => {
                return Err(DecodeError::field(
                    shape,
                    "digest",
                    format!("`{d}` is not `image@sha256:...`"),
                ));
            }
        },
        None => (None, None),
    };
    let (repo_from_tag, tag) = match m.tag.as_deref() {
        Some(t) => {
            let slash = t.rfind('/').unwrap_or(0);
            match t[slash..].rfind(':') {
                Some(c) => (
                    Some(t[..slash + c].to_owned()),
                    Some(t[slash + c + 1..].to_owned()),
                ),
                None => {
                    return Err(DecodeError::field(
                        shape,
                        "tag",
                        format!("`{t}` is not `image:tag`"),
                    ));
                }
            }
        }
        None => (None, None),
    };
    let repository = repo_from_digest.or(repo_from_tag).ok_or_else(|| {
        DecodeError::field(shape, "digest", "neither `digest` nor `tag` is present")
    })?;
    Ok(SignalKind::Image(ImageEvent {
        registry: Registry::ArtifactRegistry,
        repository,
        digest,
        tag,
        pushed,
    }))
}

#[derive(Deserialize)]
struct IncidentMessage {
    version: String,
    incident: IncidentBody,
}

#[derive(Deserialize)]
struct IncidentBody {
    incident_id: String,
    state: String,
    #[serde(default)]
    policy_name: Option<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    condition_name: Option<String>,
    #[serde(default)]
    started_at: Value,
    #[serde(default)]
    ended_at: Value,
}

fn incident(
    payload: &Value,
) -> Result<(SignalKind, Option<chrono::DateTime<chrono::Utc>>), DecodeError> {
    let shape = Shape::PubSubIncident;
    let m: IncidentMessage = typed(shape, payload)?;
    if !m.version.starts_with("1.") {
        return Err(DecodeError::field(
            shape,
            "version",
            format!("`{}` is not supported (1.x is)", m.version),
        ));
    }
    let open = match m.incident.state.as_str() {
        "open" => true,
        "closed" => false,
        other => {
            return Err(DecodeError::field(
                shape,
                "incident.state",
                format!("`{other}` is neither open nor closed"),
            ));
        }
    };
    let time = if open {
        parse_time_value(&m.incident.started_at)
    } else {
        parse_time_value(&m.incident.ended_at).or_else(|| parse_time_value(&m.incident.started_at))
    };
    Ok((
        SignalKind::Incident(Incident {
            id: m.incident.incident_id,
            policy: m.incident.policy_name.unwrap_or_default(),
            open,
            summary: m.incident.summary.unwrap_or_default(),
            url: m.incident.url,
            condition: m.incident.condition_name,
        }),
        time,
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StorageObject {
    bucket: String,
    name: String,
    // Google's JSON encoding writes int64 as a string, but its own example events (and some
    // senders) use numbers: both are the same field.
    #[serde(default, deserialize_with = "int64_text")]
    generation: Option<String>,
    #[serde(default, deserialize_with = "int64_text")]
    size: Option<String>,
    #[serde(default)]
    md5_hash: Option<String>,
}

/// An int64 field in Google's JSON encoding: a decimal string or a number, as text.
fn int64_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Int64 {
        Text(String),
        Number(u64),
    }
    Ok(match Option::<Int64>::deserialize(d) {
        Ok(Some(Int64::Text(t))) => Some(t),
        Ok(Some(Int64::Number(n))) => Some(n.to_string()),
        Ok(None) => None,
        Err(_) => {
            return Err(serde::de::Error::custom(
                "expected a non-negative integer, as a number or a decimal string",
            ));
        }
    })
}

fn gcs_object(ce: &CloudEventParts, raw: Value) -> Result<Decoded, DecodeError> {
    let shape = Shape::GcsObject;
    let o: StorageObject = typed(shape, &ce.data)?;
    let size = match o.size.as_deref() {
        Some(s) => Some(s.parse::<u64>().map_err(|_| {
            DecodeError::field(shape, "size", format!("`{s}` is not a byte count"))
        })?),
        None => None,
    };
    if let Some(g) = o.generation.as_deref() {
        g.parse::<u64>().map_err(|_| {
            DecodeError::field(
                shape,
                "generation",
                format!("`{g}` is not a generation number"),
            )
        })?;
    }
    Ok(one(
        shape,
        ce.id.clone(),
        ce.time.as_deref().and_then(parse_time),
        SignalKind::Object(ObjectChange {
            store: ObjectStoreKind::Gcs,
            bucket: o.bucket,
            key: o.name,
            created: ce.ty == GCS_FINALIZED,
            size,
            etag: o.md5_hash,
            sequencer: o.generation,
        }),
        raw,
    ))
}

pub(crate) fn decode_scheduler_http(req: &HttpRequest, job: &str) -> Result<Decoded, DecodeError> {
    let shape = Shape::CloudSchedulerHttp;
    let scheduled = req.header("x-cloudscheduler-scheduletime").unwrap_or("");
    let input = if req.body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(parse_json(&req.body).map_err(|e| DecodeError::field(shape, "body", e.to_string()))?)
    };
    // A job's name is its full resource path; the last segment is what people name it by.
    let name = job.rsplit('/').next().unwrap_or(job).to_owned();
    let (name, input) = match input {
        Some(v) if v.get("twincloud").is_some() => {
            let d = decode_twincloud_input(v.clone(), Cloud::Gcp)?;
            match d.signals.into_iter().next().map(|s| s.kind) {
                Some(SignalKind::ScheduleTick(t)) => (t.name, t.input),
                _ => (name, Some(v)),
            }
        }
        other => (name, other),
    };
    let raw = serde_json::json!({
        "headers": req.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), Value::String(v.clone()))).collect::<serde_json::Map<_, _>>(),
        "body": String::from_utf8_lossy(&req.body),
    });
    Ok(one(
        shape,
        format!(
            "{job}@{}",
            if scheduled.is_empty() {
                fingerprint(&req.body)
            } else {
                scheduled.to_owned()
            }
        ),
        parse_time(scheduled),
        SignalKind::ScheduleTick(ScheduleTick { name, input }),
        raw,
    ))
}
