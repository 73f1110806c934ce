//! HTTP adapters: Slack incoming webhooks (Block Kit) and generic JSON webhooks, sharing one
//! retry policy that honours `Retry-After` and classifies failures as transient or permanent.

mod cloudflare;
mod oci;
mod prober;
mod retry;
mod webhook;

pub use cloudflare::CloudflareTraffic;
pub use oci::{OciRegistries, StaticLogin};
pub use prober::HttpProber;
pub use retry::{HttpFailure, HttpRetry, classify_status, send_json};
pub use webhook::{SlackNotifier, WebhookNotifier};

/// Builds the HTTP client every adapter shares: rustls, timeouts, no proxies from the
/// environment surprises beyond reqwest's defaults.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(15))
        .user_agent(concat!("twincloud/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}
