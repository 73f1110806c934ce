//! Retries for HTTP calls: exponential backoff with jitter (backon), `Retry-After` honoured
//! (bounded), and a classification of every outcome.

use std::time::Duration;

use twincloud_core::ports::Retry;

/// How often and how long to retry transient HTTP failures.
#[derive(Debug, Clone, Copy)]
pub struct HttpRetry {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// First backoff.
    pub base: Duration,
    /// Largest backoff between attempts.
    pub max_backoff: Duration,
    /// The longest `Retry-After` honoured within one invocation; a longer one is surfaced as
    /// transient so that the platform retries later instead of the function idling.
    pub max_retry_after: Duration,
}

impl Default for HttpRetry {
    fn default() -> Self {
        HttpRetry {
            max_attempts: 4,
            base: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

/// Whether a status is worth retrying.
pub fn classify_status(status: u16) -> Retry {
    match status {
        408 | 425 | 429 | 500..=599 => Retry::Transient,
        _ => Retry::Permanent,
    }
}

/// A call that did not succeed: what happened last, whether retrying later may help, and the
/// attempts made.
#[derive(Debug)]
pub struct HttpFailure {
    /// The last status and body excerpt, or the transport error (never the URL).
    pub message: String,
    /// Transient or permanent.
    pub retry: Retry,
    /// Attempts made.
    pub attempts: u32,
    /// The last HTTP status, if one came.
    pub status: Option<u16>,
}

/// One failed attempt, before the retry policy decides.
struct Attempt {
    message: String,
    retry: Retry,
    retry_after: Option<Duration>,
    status: Option<u16>,
}

impl HttpRetry {
    /// The backoff schedule: exponential from `base`, capped at `max_backoff`, with jitter, for
    /// `max_attempts - 1` retries (backon's, not a hand-rolled loop).
    fn schedule(&self) -> backon::ExponentialBuilder {
        backon::ExponentialBuilder::default()
            .with_min_delay(self.base)
            .with_max_delay(self.max_backoff)
            .with_max_times(self.max_attempts.saturating_sub(1) as usize)
            .with_jitter()
    }

    /// Sends the request built by `make` until it succeeds, fails permanently or attempts run
    /// out. Returns the successful response and the attempts used.
    pub async fn send(
        &self,
        make: impl FnMut() -> reqwest::RequestBuilder,
    ) -> Result<(reqwest::Response, u32), HttpFailure> {
        self.send_expecting(&[], make).await
    }

    /// Like [`HttpRetry::send`], with statuses besides 2xx that count as success (a resumable
    /// upload's `308 Resume Incomplete`).
    pub async fn send_expecting(
        &self,
        also_ok: &[u16],
        make: impl FnMut() -> reqwest::RequestBuilder,
    ) -> Result<(reqwest::Response, u32), HttpFailure> {
        use backon::Retryable;
        use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
        let attempts = AtomicU32::new(0);
        let too_long = AtomicBool::new(false);
        let mut make = make;
        let once = || {
            attempts.fetch_add(1, Ordering::Relaxed);
            attempt(make(), also_ok)
        };
        let result = once
            .retry(self.schedule())
            .when(|a: &Attempt| a.retry == Retry::Transient)
            // `Retry-After` replaces the backoff; one longer than this invocation waits stops
            // the retries and is surfaced as transient for the platform to retry later.
            .adjust(|a: &Attempt, backoff| match a.retry_after {
                Some(w) if w > self.max_retry_after => {
                    too_long.store(true, Ordering::Relaxed);
                    None
                }
                Some(w) => backoff.map(|_| w),
                None => backoff,
            })
            .await;
        let attempts = attempts.load(Ordering::Relaxed);
        result
            .map(|resp| (resp, attempts))
            .map_err(|a| HttpFailure {
                message: match a.retry_after {
                    Some(w) if too_long.load(Ordering::Relaxed) => format!(
                        "{} (Retry-After {}s is longer than this invocation waits)",
                        a.message,
                        w.as_secs()
                    ),
                    _ => a.message,
                },
                retry: a.retry,
                attempts,
                status: a.status,
            })
    }
}

/// One attempt: the response when it is a success, else what went wrong.
async fn attempt(
    req: reqwest::RequestBuilder,
    also_ok: &[u16],
) -> Result<reqwest::Response, Attempt> {
    match req.send().await {
        Ok(resp) if resp.status().is_success() || also_ok.contains(&resp.status().as_u16()) => {
            Ok(resp)
        }
        Ok(resp) => {
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = resp.text().await.unwrap_or_default();
            let body: String = body.chars().take(300).collect();
            Err(Attempt {
                message: format!("HTTP {status}: {}", body.trim()),
                retry: classify_status(status),
                retry_after,
                status: Some(status),
            })
        }
        Err(e) if e.is_builder() => Err(Attempt {
            // A request (or client) that cannot be built never will be: not worth a retry.
            message: format!("request cannot be built: {}", without_url(&e)),
            retry: Retry::Permanent,
            retry_after: None,
            status: None,
        }),
        Err(e) => {
            // Connection refused, reset, timeouts: the far side may come back.
            let what = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "could not connect"
            } else {
                "request failed"
            };
            Err(Attempt {
                message: format!("{what}: {}", without_url(&e)),
                retry: Retry::Transient,
                retry_after: None,
                status: None,
            })
        }
    }
}

/// A transport error in words a person can act on: reqwest's message without the URL (a
/// webhook URL is a secret, and the architecture keeps URLs out of errors), followed by its
/// causes down to the deepest (`tcp connect error: Connection refused (os error 111)`), which
/// reqwest's own message leaves out.
pub fn without_url(e: &reqwest::Error) -> String {
    let url = e.url().map(|u| u.as_str().to_owned());
    let clean = |m: String| match &url {
        Some(u) => m.replace(u.as_str(), "<url>"),
        None => m,
    };
    let mut out = clean(e.to_string())
        .replace(" for url (<url>)", "")
        .replace(" (<url>)", "");
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let m = clean(cause.to_string());
        if !m.is_empty() && !out.contains(&m) {
            out.push_str(": ");
            out.push_str(&m);
        }
        source = cause.source();
    }
    out
}

/// Sends the request built by `make` with `retry`, and parses the JSON answer. Errors name
/// `what` (never the URL) and keep the transient/permanent classification.
pub async fn send_json<T: serde::de::DeserializeOwned>(
    retry: &HttpRetry,
    what: &str,
    make: impl FnMut() -> reqwest::RequestBuilder,
) -> Result<T, twincloud_core::ports::PortError> {
    use twincloud_core::ports::PortError;
    let (resp, _) = retry
        .send(make)
        .await
        .map_err(|f| PortError::new(format!("{what}: {}", f.message), f.retry))?;
    resp.json()
        .await
        .map_err(|e| PortError::transient(format!("{what}: unreadable response: {e}")))
}
