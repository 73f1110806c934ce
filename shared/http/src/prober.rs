//! Health probes over HTTP.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use twincloud_core::ports::{ProbeCheck, ProbeResult, Prober};

/// Probes with a GET: healthy when the status and, if asked, the body match.
#[derive(Debug, Clone, Default)]
pub struct HttpProber {
    // Built on the first probe: loading the TLS roots costs every process milliseconds at
    // start, and only the failover function probes.
    client: std::sync::Arc<std::sync::OnceLock<Result<reqwest::Client, crate::TlsSetupError>>>,
}

impl HttpProber {
    /// A prober on its own client: no connection reuse, so a probe sees what a new client sees.
    pub fn new() -> Self {
        HttpProber::default()
    }

    fn client(&self) -> &Result<reqwest::Client, crate::TlsSetupError> {
        self.client.get_or_init(|| {
            crate::build(
                reqwest::Client::builder()
                    .pool_max_idle_per_host(0)
                    .user_agent(concat!("twincloud-probe/", env!("CARGO_PKG_VERSION"))),
            )
        })
    }
}

#[async_trait]
impl Prober for HttpProber {
    async fn probe(&self, check: &ProbeCheck) -> ProbeResult {
        let start = Instant::now();
        let ms = |s: Instant| u64::try_from(s.elapsed().as_millis()).unwrap_or(u64::MAX);
        let client = match self.client() {
            Ok(c) => c,
            // Nothing can be probed from here: every endpoint reads unhealthy with the reason,
            // so both sides are down alike and the failover planner holds instead of switching.
            Err(e) => {
                return ProbeResult {
                    healthy: false,
                    status: None,
                    latency_ms: 0,
                    error: Some(format!("{}: {e}", check.url)),
                };
            }
        };
        let sent = client
            .get(&check.url)
            .timeout(Duration::from_millis(check.timeout_ms))
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                let why = if e.is_timeout() {
                    format!("no answer within {} ms", check.timeout_ms)
                } else if e.is_connect() {
                    "connection refused or unreachable".into()
                } else {
                    "request failed".into()
                };
                return ProbeResult {
                    healthy: false,
                    status: None,
                    latency_ms: ms(start),
                    error: Some(format!("{}: {why}", check.url)),
                };
            }
        };
        let status = resp.status().as_u16();
        if status != check.expect_status {
            return ProbeResult {
                healthy: false,
                status: Some(status),
                latency_ms: ms(start),
                error: Some(format!(
                    "{}: status {status}, expected {}",
                    check.url, check.expect_status
                )),
            };
        }
        if let Some(needle) = &check.body_contains {
            let body = resp.text().await.unwrap_or_default();
            if !body.contains(needle.as_str()) {
                return ProbeResult {
                    healthy: false,
                    status: Some(status),
                    latency_ms: ms(start),
                    error: Some(format!("{}: body does not contain `{needle}`", check.url)),
                };
            }
        }
        ProbeResult {
            healthy: true,
            status: Some(status),
            latency_ms: ms(start),
            error: None,
        }
    }
}
