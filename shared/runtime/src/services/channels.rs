//! The channel kinds: the notifier each `[[notify.channels]]` entry's `type` gives. Adding a
//! kind is its variant in `twincloud_core::config::ChannelTarget` (with its keys in
//! `config/notify.rs`), its adapter, and its arm here.

use std::path::Path;
use std::sync::Arc;

use twincloud_core::config::{Channel, ChannelTarget};
use twincloud_core::ports::Notifier;
use twincloud_http::HttpRetry;

use super::groups::Http;
use super::{Clouds, resolve};
use crate::error::RunError;

/// The notifier of channel `ch`; its secrets resolved once.
pub(super) async fn notifier(
    ch: &Channel,
    clouds: &Clouds,
    local_dir: &Path,
    http: &Http,
) -> Result<Arc<dyn Notifier>, RunError> {
    Ok(match &ch.target {
        ChannelTarget::Slack { webhook_url } => Arc::new(twincloud_http::SlackNotifier::new(
            &ch.name,
            resolve(clouds, webhook_url).await?,
            http.client()?,
            HttpRetry::default(),
        )),
        ChannelTarget::Webhook { url, authorization } => {
            let auth = match authorization {
                Some(r) => Some(resolve(clouds, r).await?),
                None => None,
            };
            Arc::new(twincloud_http::WebhookNotifier::new(
                &ch.name,
                url,
                auth,
                http.client()?,
                HttpRetry::default(),
            ))
        }
        ChannelTarget::Ses { from, to } => Arc::new(twincloud_aws::SesNotifier::new(
            clouds.aws().await,
            &ch.name,
            from,
            to,
        )),
        ChannelTarget::Sns { topic_arn } => Arc::new(twincloud_aws::SnsNotifier::new(
            clouds.aws().await,
            &ch.name,
            topic_arn,
        )),
        ChannelTarget::PubSub { topic } => Arc::new(twincloud_gcp::PubSubNotifier::new(
            clouds.gcp().await?,
            &ch.name,
            topic,
        )),
        ChannelTarget::Outbox => {
            Arc::new(twincloud_local::OutboxNotifier::new(local_dir, &ch.name))
        }
    })
}
