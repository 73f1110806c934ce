//! A Pub/Sub channel: each message published as JSON with routing attributes.

use async_trait::async_trait;
use base64::Engine;
use serde::Deserialize;
use twincloud_core::message::Message;
use twincloud_core::ports::{Delivery, Notifier, NotifyError, Retry};

use crate::context::GcpContext;

/// Publishes `twincloud.message/v1` JSON to a topic (`projects/P/topics/T`).
#[derive(Debug, Clone)]
pub struct PubSubNotifier {
    channel: String,
    topic: String,
    ctx: GcpContext,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PublishResponse {
    #[serde(default)]
    message_ids: Vec<String>,
}

impl PubSubNotifier {
    /// A channel publishing to `topic`.
    pub fn new(ctx: &GcpContext, channel: &str, topic: &str) -> Self {
        PubSubNotifier {
            channel: channel.into(),
            topic: topic.into(),
            ctx: ctx.clone(),
        }
    }
}

#[async_trait]
impl Notifier for PubSubNotifier {
    async fn send(&self, message: &Message) -> Result<Delivery, NotifyError> {
        let fail = |message: String, retry: Retry| NotifyError {
            channel: self.channel.clone(),
            message,
            retry,
        };
        let token = self
            .ctx
            .pubsub_token()
            .await
            .map_err(|e| fail(e.message, e.retry))?;
        let data =
            base64::engine::general_purpose::STANDARD.encode(message.to_webhook().to_string());
        let body = serde_json::json!({
            "messages": [{
                "data": data,
                "attributes": {
                    "severity": message.severity.to_string(),
                    "kind": message.kind,
                    "eventId": message.event_id,
                    "project": message.project,
                },
            }]
        });
        let url = format!("{}/v1/{}:publish", self.ctx.pubsub_base(), self.topic);
        let (resp, attempts) = self
            .ctx
            .retry()
            .send(|| {
                self.ctx
                    .authorized(
                        self.ctx.request(reqwest::Method::POST, &url),
                        token.as_deref(),
                    )
                    .json(&body)
            })
            .await
            .map_err(|f| {
                fail(
                    format!(
                        "Pub/Sub publish to {}: {} after {} attempt(s)",
                        self.topic, f.message, f.attempts
                    ),
                    f.retry,
                )
            })?;
        let out: PublishResponse = resp.json().await.map_err(|e| {
            fail(
                format!(
                    "Pub/Sub publish to {}: unreadable response: {e}",
                    self.topic
                ),
                Retry::Transient,
            )
        })?;
        Ok(Delivery {
            provider_id: out.message_ids.into_iter().next(),
            attempts,
        })
    }
}
