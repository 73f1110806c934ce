//! Slack and generic webhook channels.

use async_trait::async_trait;
use twincloud_core::message::Message;
use twincloud_core::ports::{Delivery, Notifier, NotifyError};
use twincloud_core::secret::Secret;

use crate::retry::HttpRetry;

/// A Slack incoming webhook. The URL is a secret and never logged.
#[derive(Debug, Clone)]
pub struct SlackNotifier {
    channel: String,
    url: Secret,
    client: reqwest::Client,
    retry: HttpRetry,
}

impl SlackNotifier {
    /// A channel posting to `url`.
    pub fn new(channel: &str, url: Secret, client: reqwest::Client, retry: HttpRetry) -> Self {
        SlackNotifier {
            channel: channel.into(),
            url,
            client,
            retry,
        }
    }
}

#[async_trait]
impl Notifier for SlackNotifier {
    async fn send(&self, message: &Message) -> Result<Delivery, NotifyError> {
        let body = message.to_slack();
        let (_, attempts) = self
            .retry
            .send(|| self.client.post(self.url.expose()).json(&body))
            .await
            .map_err(|f| NotifyError {
                channel: self.channel.clone(),
                message: format!(
                    "Slack webhook: {} after {} attempt(s)",
                    f.message, f.attempts
                ),
                retry: f.retry,
            })?;
        Ok(Delivery {
            provider_id: None,
            attempts,
        })
    }
}

/// A generic JSON webhook.
#[derive(Debug, Clone)]
pub struct WebhookNotifier {
    channel: String,
    url: String,
    authorization: Option<Secret>,
    client: reqwest::Client,
    retry: HttpRetry,
}

impl WebhookNotifier {
    /// A channel posting `twincloud.message/v1` JSON to `url`.
    pub fn new(
        channel: &str,
        url: &str,
        authorization: Option<Secret>,
        client: reqwest::Client,
        retry: HttpRetry,
    ) -> Self {
        WebhookNotifier {
            channel: channel.into(),
            url: url.into(),
            authorization,
            client,
            retry,
        }
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    async fn send(&self, message: &Message) -> Result<Delivery, NotifyError> {
        let body = message.to_webhook();
        let (_, attempts) = self
            .retry
            .send(|| {
                let mut r = self
                    .client
                    .post(&self.url)
                    .header(
                        "Idempotency-Key",
                        format!("{}:{}", message.event_id, self.channel),
                    )
                    .json(&body);
                if let Some(a) = &self.authorization {
                    r = r.header(reqwest::header::AUTHORIZATION, a.expose());
                }
                r
            })
            .await
            .map_err(|f| NotifyError {
                channel: self.channel.clone(),
                message: format!(
                    "webhook {}: {} after {} attempt(s)",
                    self.url, f.message, f.attempts
                ),
                retry: f.retry,
            })?;
        Ok(Delivery {
            provider_id: None,
            attempts,
        })
    }
}
