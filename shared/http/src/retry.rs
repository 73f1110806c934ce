//! Retries for HTTP calls: exponential backoff with jitter, `Retry-After` honoured (bounded),
//! and a classification of every outcome.

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

impl HttpRetry {
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.base.saturating_mul(1u32 << attempt.min(16));
        let capped = exp.min(self.max_backoff);
        // Jitter from the clock's sub-second part: enough to spread concurrent retriers.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        capped.mul_f64(0.5 + f64::from(nanos % 1000) / 2000.0)
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
        mut make: impl FnMut() -> reqwest::RequestBuilder,
    ) -> Result<(reqwest::Response, u32), HttpFailure> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (message, retry, wait, status) = match make().send().await {
                Ok(resp)
                    if resp.status().is_success() || also_ok.contains(&resp.status().as_u16()) =>
                {
                    return Ok((resp, attempt));
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
                    (
                        format!("HTTP {status}: {}", body.trim()),
                        classify_status(status),
                        retry_after,
                        Some(status),
                    )
                }
                Err(e) => {
                    // Connection refused, reset, timeouts: the far side may come back.
                    let what = if e.is_timeout() {
                        "timed out"
                    } else if e.is_connect() {
                        "could not connect"
                    } else {
                        "request failed"
                    };
                    (
                        format!("{what}: {}", without_url(&e)),
                        Retry::Transient,
                        None,
                        None,
                    )
                }
            };
            if retry == Retry::Permanent || attempt >= self.max_attempts {
                return Err(HttpFailure {
                    message,
                    retry,
                    attempts: attempt,
                    status,
                });
            }
            let wait = match wait {
                Some(w) if w > self.max_retry_after => {
                    return Err(HttpFailure {
                        message: format!(
                            "{message} (Retry-After {}s is longer than this invocation waits)",
                            w.as_secs()
                        ),
                        retry: Retry::Transient,
                        attempts: attempt,
                        status,
                    });
                }
                Some(w) => w,
                None => self.backoff(attempt - 1),
            };
            tokio::time::sleep(wait).await;
        }
    }
}

/// reqwest errors print the URL, and a webhook URL is a secret: strip it.
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(url) = e.url() {
        s = s.replace(url.as_str(), "<url>");
    }
    s
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
