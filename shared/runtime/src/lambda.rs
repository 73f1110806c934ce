//! The Lambda entry: one `lambda_runtime` loop, the same invoker as every other mode.

use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};

use crate::invoke::Invoker;

/// Runs the Lambda loop until the runtime stops the process.
///
/// Permanent errors (bad event, invalid configuration, refused by a provider) are logged and
/// returned as a normal response, so Lambda does not retry them; transient ones are returned
/// as errors, so Lambda's asynchronous retries (and the event source's) try again.
pub async fn run(invoker: Arc<Invoker>) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let invoker = invoker.clone();
        async move {
            // The context's deadline is in epoch milliseconds; turn it into an Instant.
            let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
            let left =
                std::time::Duration::from_millis(event.context.deadline.saturating_sub(now_ms));
            handle_until(
                &invoker,
                event.payload,
                Some(std::time::Instant::now() + left),
            )
            .await
        }
    }))
    .await
}

/// Handles one payload as the Lambda loop does (exposed for tests).
pub async fn handle(invoker: &Invoker, payload: Value) -> Result<Value, lambda_runtime::Error> {
    handle_until(invoker, payload, None).await
}

/// [`handle`] within the invocation's deadline.
pub async fn handle_until(
    invoker: &Invoker,
    payload: Value,
    deadline: Option<std::time::Instant>,
) -> Result<Value, lambda_runtime::Error> {
    match invoker
        .handle_lambda(payload, deadline)
        .await
        .and_then(|r| r.platform_result().map(|()| r))
    {
        Ok(report) => {
            if report.has_failures() {
                tracing::error!(
                    "some actions failed permanently; not retried: {}",
                    report.to_text()
                );
            }
            Ok(json!({"ok": true, "report": report}))
        }
        Err(e) if e.is_transient() => {
            tracing::warn!("{e}");
            Err(e.to_string().into())
        }
        Err(e) => {
            tracing::error!("acknowledged without retry: {e}");
            Ok(json!({"ok": false, "error": e.to_string(), "retry": false}))
        }
    }
}
