//! Fakes of Google APIs that have no emulator. Every request is checked against Google's own
//! discovery document (shipped in `google-api-python-client`): the method must exist for the
//! URL and HTTP verb, and the body must match the request schema, so a misspelt field or a
//! wrong path fails the test.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// A loaded discovery document.
#[derive(Debug, Clone)]
pub struct Discovery {
    doc: Value,
}

/// A request the fake accepted.
#[derive(Debug, Clone)]
pub struct ApiCall {
    /// Discovery method id, e.g. `pubsub.projects.topics.publish`.
    pub method: String,
    /// Path, without the query.
    pub path: String,
    /// Query string.
    pub query: String,
    /// Parsed body (`null` when empty; a form body as a JSON object).
    pub body: Value,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
}

impl Discovery {
    /// Loads `NAME.json` (e.g. `pubsub.v1`) from `TWINCLOUD_TEST_DISCOVERY_DIR` or the project's
    /// virtualenv.
    pub fn load(name: &str) -> Discovery {
        let dir = std::env::var("TWINCLOUD_TEST_DISCOVERY_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| {
                let lib = super::workspace_root().join(".venv/lib");
                std::fs::read_dir(&lib)
                    .ok()
                    .and_then(|mut d| d.next())
                    .and_then(|e| e.ok())
                    .map(|e| {
                        e.path()
                            .join("site-packages/googleapiclient/discovery_cache/documents")
                    })
                    .unwrap_or(lib)
            });
        let path = dir.join(format!("{name}.json"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}: run scripts/test.sh once to install google-api-python-client",
                path.display()
            )
        });
        Discovery {
            doc: serde_json::from_str(&text).unwrap(),
        }
    }

    fn methods(&self) -> Vec<&Value> {
        fn walk<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
            if let Some(ms) = v.get("methods").and_then(Value::as_object) {
                out.extend(ms.values());
            }
            if let Some(rs) = v.get("resources").and_then(Value::as_object) {
                for r in rs.values() {
                    walk(r, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.doc, &mut out);
        out
    }

    /// Checks one request; returns the method id or what is wrong.
    pub fn validate(
        &self,
        verb: &str,
        path: &str,
        query: &str,
        body: &Value,
    ) -> Result<String, String> {
        let service_path = self.doc["servicePath"].as_str().unwrap_or("");
        let rel = path.trim_start_matches('/');
        let rel = rel.strip_prefix(service_path).unwrap_or(rel);
        // The flat path when a method has one (`{+name}` paths match almost anything), and the
        // most specific template when several match: fewest `{+...}`, most literal segments.
        let specificity = |t: &str| {
            (
                t.contains("{+"),
                std::cmp::Reverse(t.split('/').filter(|s| !s.contains('{')).count()),
            )
        };
        let m = self
            .methods()
            .into_iter()
            .filter(|m| m["httpMethod"].as_str() == Some(verb))
            .filter_map(|m| {
                let t = m
                    .get("flatPath")
                    .or_else(|| m.get("path"))
                    .and_then(Value::as_str)?;
                template_matches(t, rel).then_some((specificity(t), m))
            })
            .min_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, m)| m)
            .ok_or_else(|| format!("no method of {} serves {verb} /{rel}", self.doc["name"]))?;
        let id = m["id"].as_str().unwrap_or("?").to_owned();
        let params = m.get("parameters").and_then(Value::as_object);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let k = pair.split('=').next().unwrap_or("");
            let known = params.is_some_and(|p| p.contains_key(k))
                || self.doc["parameters"].get(k).is_some();
            if !known {
                return Err(format!("{id}: unknown query parameter `{k}`"));
            }
        }
        match m.get("request").and_then(|r| r["$ref"].as_str()) {
            Some(schema) => {
                if body.is_null() {
                    return Err(format!("{id}: a {schema} body is required"));
                }
                self.check(&Value::String(schema.into()), body, &format!("{id} body"))?;
            }
            None if !body.is_null() => return Err(format!("{id}: takes no body")),
            None => {}
        }
        Ok(id)
    }

    fn check(&self, schema_ref: &Value, v: &Value, at: &str) -> Result<(), String> {
        let schema = match schema_ref {
            Value::String(name) => self.doc["schemas"]
                .get(name)
                .ok_or_else(|| format!("{at}: unknown schema {name}"))?,
            other => other,
        };
        if let Some(r) = schema.get("$ref") {
            return self.check(r, v, at);
        }
        let ty = schema["type"].as_str().unwrap_or("any");
        match ty {
            "object" => {
                let obj = v
                    .as_object()
                    .ok_or_else(|| format!("{at}: expected an object, got {v}"))?;
                let props = schema.get("properties").and_then(Value::as_object);
                for (k, val) in obj {
                    match (
                        props.and_then(|p| p.get(k)),
                        schema.get("additionalProperties"),
                    ) {
                        (Some(p), _) => self.check(p, val, &format!("{at}.{k}"))?,
                        (None, Some(ap)) => self.check(ap, val, &format!("{at}.{k}"))?,
                        (None, None) => return Err(format!("{at}: unknown field `{k}`")),
                    }
                }
                Ok(())
            }
            "array" => {
                let arr = v
                    .as_array()
                    .ok_or_else(|| format!("{at}: expected an array, got {v}"))?;
                for (i, item) in arr.iter().enumerate() {
                    self.check(&schema["items"], item, &format!("{at}[{i}]"))?;
                }
                Ok(())
            }
            "string" => {
                let s = v
                    .as_str()
                    .ok_or_else(|| format!("{at}: expected a string, got {v}"))?;
                if schema["format"] == "byte" {
                    use base64::Engine;
                    let std = base64::engine::general_purpose::STANDARD.decode(s).is_ok();
                    let url = base64::engine::general_purpose::URL_SAFE.decode(s).is_ok();
                    if !std && !url {
                        return Err(format!("{at}: not base64"));
                    }
                }
                if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
                    && !allowed.iter().any(|a| a.as_str() == Some(s))
                {
                    return Err(format!("{at}: `{s}` is not one of {allowed:?}"));
                }
                Ok(())
            }
            "integer" => {
                // 64-bit integers are strings in Google's JSON; 32-bit ones are numbers.
                let ok = v.is_i64()
                    || v.is_u64()
                    || v.as_str().is_some_and(|s| s.parse::<i64>().is_ok());
                if ok {
                    Ok(())
                } else {
                    Err(format!("{at}: expected an integer, got {v}"))
                }
            }
            "number" => {
                if v.is_number() {
                    Ok(())
                } else {
                    Err(format!("{at}: expected a number, got {v}"))
                }
            }
            "boolean" => {
                if v.is_boolean() {
                    Ok(())
                } else {
                    Err(format!("{at}: expected a boolean, got {v}"))
                }
            }
            _ => Ok(()),
        }
    }
}

fn template_matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    let mut i = 0;
    for (ti, seg) in t.iter().enumerate() {
        if seg.starts_with("{+") {
            // `{+name}` spans the rest up to the template's literal suffix.
            let rest_t = &t[ti + 1..];
            let suffix: &str = seg.split('}').nth(1).unwrap_or("");
            if p.len() < i + 1 + rest_t.len() {
                return false;
            }
            let end = p.len() - rest_t.len();
            if !p[end - 1].ends_with(suffix) {
                return false;
            }
            i = end;
            continue;
        }
        let Some(ps) = p.get(i) else { return false };
        if !segment_matches(seg, ps) {
            return false;
        }
        i += 1;
    }
    i == p.len()
}

fn segment_matches(template: &str, seg: &str) -> bool {
    match template.find('{') {
        None => template == seg,
        Some(open) => {
            let close = template.find('}').unwrap_or(template.len() - 1);
            let (prefix, suffix) = (&template[..open], &template[close + 1..]);
            seg.len() > prefix.len() + suffix.len()
                && seg.starts_with(prefix)
                && seg.ends_with(suffix)
        }
    }
}

type Responder = dyn Fn(&ApiCall) -> (u16, Value) + Send + Sync;

struct Inner {
    discovery: Discovery,
    calls: Vec<ApiCall>,
    rejected: Vec<String>,
    faults: VecDeque<(u16, Value)>,
    responder: Arc<Responder>,
}

/// An HTTP fake of a Google API that validates every request against its discovery document.
#[derive(Clone)]
pub struct DiscoveryFake {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl DiscoveryFake {
    /// Starts a fake for `api` (e.g. `pubsub.v1`) answering valid calls with `responder`.
    pub async fn start(
        api: &str,
        responder: impl Fn(&ApiCall) -> (u16, Value) + Send + Sync + 'static,
    ) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            discovery: Discovery::load(api),
            calls: vec![],
            rejected: vec![],
            faults: VecDeque::new(),
            responder: Arc::new(responder),
        }));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(inner.clone());
        let addr = crate::serve(app).await;
        DiscoveryFake { addr, inner }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Valid calls received.
    pub fn calls(&self) -> Vec<ApiCall> {
        self.inner.lock().unwrap().calls.clone()
    }

    /// Requests rejected as invalid, with why.
    pub fn rejected(&self) -> Vec<String> {
        self.inner.lock().unwrap().rejected.clone()
    }

    /// Answers the next valid calls with these statuses and bodies instead of the responder.
    pub fn fail_next(&self, replies: impl IntoIterator<Item = (u16, Value)>) {
        self.inner.lock().unwrap().faults.extend(replies);
    }

    /// Replies of [`DiscoveryFake::fail_next`] not given yet (0 once every one was answered).
    pub fn faults_left(&self) -> usize {
        self.inner.lock().unwrap().faults.len()
    }
}

/// A form-encoded body (OAuth token exchanges) as the JSON object the API also accepts:
/// `grant_type` becomes `grantType`.
fn form_as_json(body: &[u8]) -> Value {
    let camel = |k: &str| {
        let mut out = String::with_capacity(k.len());
        let mut up = false;
        for c in k.chars() {
            if c == '_' {
                up = true;
            } else if up {
                out.extend(c.to_uppercase());
                up = false;
            } else {
                out.push(c);
            }
        }
        out
    };
    Value::Object(
        url::form_urlencoded::parse(body)
            .map(|(k, v)| (camel(&k), Value::String(v.into_owned())))
            .collect(),
    )
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let parsed: Value = if body.is_empty() {
        Value::Null
    } else if form {
        form_as_json(&body)
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::String("<not JSON>".into()))
    };
    let mut g = inner.lock().unwrap();
    let query = uri.query().unwrap_or("").to_owned();
    match g
        .discovery
        .validate(method.as_str(), uri.path(), &query, &parsed)
    {
        Err(why) => {
            g.rejected.push(why.clone());
            let body = serde_json::json!({"error": {"code": 400, "message": why, "status": "INVALID_ARGUMENT"}});
            (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
        }
        Ok(id) => {
            let call = ApiCall {
                method: id,
                path: uri.path().into(),
                query,
                body: parsed,
                authorization: headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
            };
            let (status, reply) = match g.faults.pop_front() {
                Some(f) => f,
                None => {
                    g.calls.push(call.clone());
                    (g.responder)(&call)
                }
            };
            (StatusCode::from_u16(status).unwrap(), axum::Json(reply)).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        assert!(template_matches(
            "v1/projects/{projectsId}/topics/{topicsId}:publish",
            "v1/projects/p/topics/t:publish"
        ));
        assert!(!template_matches(
            "v1/projects/{projectsId}/topics/{topicsId}:publish",
            "v1/projects/p/topics/t"
        ));
        assert!(template_matches(
            "v1/{+topic}:publish",
            "v1/projects/p/topics/t:publish"
        ));
        assert!(!template_matches(
            "v1/projects/{projectsId}/topics/{topicsId}",
            "v1/projects/p/topics/t/x"
        ));
    }
}
