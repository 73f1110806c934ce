//! The CloudEvents HTTP server for Cloud Run: binary and structured CloudEvents (parsed by
//! cloudevents-sdk), Pub/Sub push envelopes, Cloud Scheduler jobs, `/healthz`, a body limit,
//! optional Pub/Sub push token verification, and graceful shutdown on SIGTERM.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cloudevents::AttributesReader;
use serde_json::{Value, json};
use twincloud_core::decode::{CloudEventParts, HttpRequest};

use crate::error::RunError;
use crate::invoke::{Invoker, Report};
use crate::push_auth::{Caller, PushVerifier};

/// Largest request body accepted. Pub/Sub messages are at most 10 MB; the events twincloud
/// handles are a few KB, so 1 MiB leaves room without inviting abuse.
pub const BODY_LIMIT: usize = 1024 * 1024;

struct AppState {
    invoker: Invoker,
    verifier: Option<PushVerifier>,
}

/// The axum application (exposed for tests).
pub fn app(invoker: Invoker, verifier: Option<PushVerifier>) -> axum::Router {
    let state = Arc::new(AppState { invoker, verifier });
    axum::Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/status", get(status_page))
        .fallback(handle)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Serves on `0.0.0.0:port` until SIGTERM or Ctrl-C, finishing requests in flight.
pub async fn serve(
    invoker: Invoker,
    verifier: Option<PushVerifier>,
    port: u16,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", port)).await?;
    tracing::info!(port, "listening for CloudEvents");
    axum::serve(listener, app(invoker, verifier))
        .with_graceful_shutdown(shutdown_signal())
        .await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down: finishing requests in flight");
}

/// Whether the sender is Pub/Sub or Eventarc, which redeliver anything but 2xx: permanent
/// errors must be acknowledged with 2xx or they come back forever.
fn redelivers_on_error(headers: &HeaderMap, body: &[u8]) -> bool {
    let ua = headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    headers.contains_key("ce-specversion")
        || ua.contains("APIs-Google")
        || ua.contains("CloudPubSub")
        || (body.starts_with(b"{")
            && serde_json::from_slice::<Value>(body).is_ok_and(|v| v.get("subscription").is_some()))
}

fn is_cloudevent(headers: &HeaderMap) -> bool {
    headers.contains_key("ce-specversion")
        || headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("application/cloudevents+json"))
}

fn cloudevent_parts(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(CloudEventParts, Value), RunError> {
    let bad = |m: String| {
        RunError::BadEvent(twincloud_core::DecodeError::Field {
            shape: "cloudevent",
            path: "(http)".into(),
            problem: m,
        })
    };
    let mut event = cloudevents::binding::http::to_event(headers, body.to_vec())
        .map_err(|e| bad(e.to_string()))?;
    let (id, source, ty) = (
        event.id().to_owned(),
        event.source().to_string(),
        event.ty().to_owned(),
    );
    let time = event.time().map(|t| t.to_rfc3339());
    let subject = event.subject().map(str::to_owned);
    let data = match event.take_data().2 {
        Some(cloudevents::Data::Json(v)) => v,
        Some(cloudevents::Data::Binary(b)) => {
            serde_json::from_slice(&b).map_err(|e| bad(format!("data is not JSON: {e}")))?
        }
        Some(cloudevents::Data::String(s)) => {
            serde_json::from_str(&s).map_err(|e| bad(format!("data is not JSON: {e}")))?
        }
        None => return Err(bad("the event carries no data".into())),
    };
    let raw = json!({"id": id, "source": source, "type": ty, "time": time, "subject": subject, "data": data});
    Ok((
        CloudEventParts {
            id,
            source,
            ty,
            time,
            subject,
            data,
        },
        raw,
    ))
}

fn bearer(headers: &HeaderMap) -> &str {
    headers
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or("")
}

/// `GET /status`: the operations page. With verification on, only an authenticated commander
/// reads it (the push identity only delivers events); without, Cloud Run's IAM gate stands,
/// as for everything else. The page has no script, and its policy forbids any.
async fn status_page(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(v) = &st.verifier {
        match v.verify(bearer(&headers)).await {
            Ok(Caller::Commander(_)) => {}
            Ok(Caller::Delivery) => {
                return (
                    StatusCode::FORBIDDEN,
                    "the push identity delivers events; the status page is for the commanders listed in the configuration",
                )
                    .into_response();
            }
            Err(why) => {
                tracing::warn!("status page refused: {why}");
                return (StatusCode::UNAUTHORIZED, why).into_response();
            }
        }
    }
    let services = st.invoker.services();
    let o = crate::overview::gather(
        &services.config,
        services.state.as_ref(),
        chrono::Utc::now(),
    )
    .await;
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'",
            ),
        ],
        crate::overview::render_html(&o),
    )
        .into_response()
}

async fn handle(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    // Without verification nobody is authenticated: deliveries are served (Cloud Run's IAM
    // gate stands), commands are refused.
    let mut commander = None;
    if let Some(v) = &st.verifier {
        match v.verify(bearer(&headers)).await {
            Ok(Caller::Commander(email)) => commander = Some(email),
            Ok(Caller::Delivery) => {}
            Err(why) => {
                tracing::warn!("push request refused: {why}");
                return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": why})))
                    .into_response();
            }
        }
    }
    let result: Result<Report, RunError> = if is_cloudevent(&headers) {
        match cloudevent_parts(&headers, &body) {
            Ok((parts, raw)) => st.invoker.handle_cloudevent(&parts, raw).await,
            Err(e) => Err(e),
        }
    } else {
        let req = HttpRequest {
            headers: headers
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                .collect(),
            body: body.to_vec(),
        };
        st.invoker.handle_http(&req, commander.as_deref()).await
    };
    match result.and_then(|r| r.platform_result().map(|()| r)) {
        Ok(report) => {
            if report.has_failures() {
                tracing::error!(
                    "some actions failed permanently; not retried: {}",
                    report.to_text()
                );
            }
            (
                StatusCode::OK,
                axum::Json(json!({"ok": true, "report": report})),
            )
                .into_response()
        }
        Err(e) if e.is_transient() => {
            tracing::warn!("{e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({"ok": false, "error": e.to_string(), "retry": true})),
            )
                .into_response()
        }
        Err(e) => {
            let ack = redelivers_on_error(&headers, &body);
            tracing::error!(acknowledged = ack, "{e}");
            let status = if ack {
                StatusCode::OK
            } else if matches!(e, RunError::BadEvent(_)) {
                StatusCode::BAD_REQUEST
            } else if matches!(e, RunError::Refused(_)) {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            (
                status,
                axum::Json(json!({"ok": false, "error": e.to_string(), "retry": false})),
            )
                .into_response()
        }
    }
}
