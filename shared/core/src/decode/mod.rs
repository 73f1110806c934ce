//! Decoders: any byte sequence in, one or more [`Signal`]s or a [`DecodeError`] out.
//!
//! Every entry point is total: no input panics. Errors name the shape that was recognised and
//! the field that is missing or ill-typed, so an operator can fix the sender.

mod aws;
mod gcp;
mod shape;
mod time;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::signal::Signal;
pub use gcp::CloudEventParts;
pub use shape::Shape;

/// Why an event could not be decoded. Always permanent: retrying the same bytes cannot help.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// The payload is not JSON (or is truncated JSON).
    #[error("event is not valid JSON: {0}")]
    NotJson(String),
    /// A recognised shape with a missing or ill-typed field.
    #[error("{shape}: field `{path}`: {problem}")]
    Field {
        /// Shape name, as listed by `twincloud events`.
        shape: &'static str,
        /// Dotted path of the field.
        path: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A payload whose shape is not one twincloud understands.
    #[error("unknown event shape: {0} (run `twincloud events` for the shapes understood)")]
    Unknown(String),
}

/// Longest quote of input an error carries: a 20 MB field must not become a 20 MB log line.
pub const MAX_QUOTED: usize = 300;

impl DecodeError {
    /// This error with every text it quotes cut to [`MAX_QUOTED`] characters.
    pub fn bounded(self) -> DecodeError {
        use crate::text::clip;
        match self {
            DecodeError::NotJson(m) => DecodeError::NotJson(clip(&m, MAX_QUOTED)),
            DecodeError::Field {
                shape,
                path,
                problem,
            } => DecodeError::Field {
                shape,
                path: clip(&path, MAX_QUOTED),
                problem: clip(&problem, MAX_QUOTED),
            },
            DecodeError::Unknown(m) => DecodeError::Unknown(clip(&m, MAX_QUOTED)),
        }
    }

    pub(crate) fn field(shape: Shape, path: impl Into<String>, problem: impl Into<String>) -> Self {
        DecodeError::Field {
            shape: shape.name(),
            path: path.into(),
            problem: problem.into(),
        }
    }
}

/// The result of decoding one delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The shape recognised.
    pub shape: Shape,
    /// The signals it carries: S3 and SNS deliveries may carry several; an S3 test event none.
    pub signals: Vec<Signal>,
    /// The event as received, kept for the audit record.
    pub raw: Value,
}

impl Decoded {
    /// Marks the signals that are the call's own payload as sent by `caller`, whom the entry
    /// point authenticated. Signals carried inside a relayed message stay relayed: the caller
    /// delivered them but did not write them.
    pub fn authenticated_by(mut self, caller: &str) -> Decoded {
        for s in &mut self.signals {
            if s.origin == crate::signal::Origin::Payload {
                s.origin = crate::signal::Origin::Direct {
                    caller: caller.to_owned(),
                };
            }
        }
        self
    }
}

/// An HTTP request as a CloudEvents/Pub/Sub/Cloud Scheduler endpoint receives it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpRequest {
    /// Header names (any case) and values.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// The value of a header, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Decodes a JSON payload as a Lambda receives it, or as a fixture file holds it.
///
/// Fixture files may also hold an HTTP request as `{"headers": {...}, "body": ...}`; those are
/// decoded as [`decode_http`] would.
pub fn decode_json(bytes: &[u8]) -> Result<Decoded, DecodeError> {
    let value: Value = parse_json(bytes).map_err(DecodeError::bounded)?;
    decode_value(value)
}

/// Decodes an already parsed JSON value (see [`decode_json`]).
pub fn decode_value(value: Value) -> Result<Decoded, DecodeError> {
    decode_any(value).map_err(DecodeError::bounded)
}

fn decode_any(value: Value) -> Result<Decoded, DecodeError> {
    let Some(obj) = value.as_object() else {
        return Err(DecodeError::Unknown(format!(
            "expected a JSON object, got {}",
            json_type(&value)
        )));
    };
    if obj.contains_key("headers") && obj.contains_key("body") && obj.len() == 2 {
        let req = http_fixture(&value)?;
        return decode_http(&req);
    }
    if obj.contains_key("specversion") {
        let parts = CloudEventParts::from_structured(&value)?;
        return gcp::decode_cloudevent(&parts, value);
    }
    if obj.contains_key("message") && obj.contains_key("subscription") {
        return gcp::decode_push_envelope(value);
    }
    if obj.contains_key("twincloud") {
        return shape::decode_twincloud_input(value, crate::signal::Cloud::Local);
    }
    aws::decode(value)
}

/// Decodes a CloudEvent whose attributes were already read (by an HTTP binding).
pub fn decode_cloudevent_parts(
    parts: &CloudEventParts,
    raw: Value,
) -> Result<Decoded, DecodeError> {
    gcp::decode_cloudevent(parts, raw).map_err(DecodeError::bounded)
}

/// Decodes an HTTP delivery: a CloudEvent in binary or structured mode, a Pub/Sub push envelope,
/// a Cloud Scheduler HTTP job, or any JSON body [`decode_json`] understands.
pub fn decode_http(req: &HttpRequest) -> Result<Decoded, DecodeError> {
    decode_http_any(req).map_err(DecodeError::bounded)
}

fn decode_http_any(req: &HttpRequest) -> Result<Decoded, DecodeError> {
    if req.header("ce-specversion").is_some() {
        let parts = CloudEventParts::from_binary(req)?;
        let raw = serde_json::json!({
            "headers": req.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), Value::String(v.clone()))).collect::<serde_json::Map<_, _>>(),
            "body": parts.data.clone(),
        });
        return gcp::decode_cloudevent(&parts, raw);
    }
    if let Some(job) = req.header("x-cloudscheduler-jobname") {
        return gcp::decode_scheduler_http(req, job);
    }
    decode_json(&req.body)
}

pub(crate) fn parse_json(bytes: &[u8]) -> Result<Value, DecodeError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(DecodeError::NotJson("the payload is empty".into()));
    }
    serde_json::from_slice(bytes).map_err(|e| DecodeError::NotJson(e.to_string()))
}

fn http_fixture(value: &Value) -> Result<HttpRequest, DecodeError> {
    let shape = Shape::HttpRequest;
    let headers = value["headers"]
        .as_object()
        .ok_or_else(|| DecodeError::field(shape, "headers", "expected an object of strings"))?
        .iter()
        .map(|(k, v)| match v.as_str() {
            Some(s) => Ok((k.clone(), s.to_owned())),
            None => Err(DecodeError::field(
                shape,
                format!("headers.{k}"),
                "expected a string",
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let body = match &value["body"] {
        Value::String(s) => s.clone().into_bytes(),
        Value::Null => Vec::new(),
        other => other.to_string().into_bytes(),
    };
    Ok(HttpRequest { headers, body })
}

/// Deserializes `value` into `T`, naming the failing field's path.
pub(crate) fn typed<T: DeserializeOwned>(shape: Shape, value: &Value) -> Result<T, DecodeError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        DecodeError::field(
            shape,
            if path == "." { "(top)".into() } else { path },
            without_type_names(&e.inner().to_string()),
        )
    })
}

/// serde names the Rust type it expected (`expected struct CloudWatchAlarmState`); a person
/// reading the error knows JSON, not our types or the library's.
fn without_type_names(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(i) = rest
        .find("expected struct ")
        .or_else(|| rest.find("expected enum "))
    {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let (replacement, skip) = if after.starts_with("expected struct ") {
            ("expected an object", "expected struct ".len())
        } else {
            ("expected one of its names", "expected enum ".len())
        };
        out.push_str(replacement);
        let name_len = after[skip..]
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(after.len() - skip);
        rest = &after[skip + name_len..];
    }
    out.push_str(rest);
    out
}

pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(crate) use crate::ids::stable_digest as fingerprint;

#[cfg(test)]
mod tests;
