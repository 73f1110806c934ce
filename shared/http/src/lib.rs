//! HTTP adapters: Slack incoming webhooks (Block Kit) and generic JSON webhooks, sharing one
//! retry policy that honours `Retry-After` and classifies failures as transient or permanent.

mod client;
mod cloudflare;
mod oci;
mod prober;
mod retry;
mod webhook;

pub use client::{TlsSetupError, build, client};
pub use cloudflare::CloudflareTraffic;
pub use oci::{OciRegistries, StaticLogin};
pub use prober::HttpProber;
pub use retry::{HttpFailure, HttpRetry, classify_status, send_json};
pub use webhook::{SlackNotifier, WebhookNotifier};
