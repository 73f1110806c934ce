//! SNS and SES v2 channels.

use async_trait::async_trait;
use twincloud_core::message::Message;
use twincloud_core::ports::{Delivery, Notifier, NotifyError};

use crate::context::AwsContext;
use crate::error::classify;

/// Publishes messages to an SNS topic (subject + plain text).
#[derive(Debug, Clone)]
pub struct SnsNotifier {
    channel: String,
    topic_arn: String,
    client: aws_sdk_sns::Client,
}

impl SnsNotifier {
    /// A channel publishing to `topic_arn`.
    pub fn new(ctx: &AwsContext, channel: &str, topic_arn: &str) -> Self {
        SnsNotifier {
            channel: channel.into(),
            topic_arn: topic_arn.into(),
            client: ctx.sns(),
        }
    }
}

#[async_trait]
impl Notifier for SnsNotifier {
    async fn send(&self, message: &Message) -> Result<Delivery, NotifyError> {
        let out = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(sns_subject(&message.subject_line()))
            .message(message.to_text())
            .send()
            .await
            .map_err(|e| {
                let pe = classify(&format!("SNS publish to {}", self.topic_arn), e);
                NotifyError {
                    channel: self.channel.clone(),
                    message: pe.message,
                    retry: pe.retry,
                }
            })?;
        Ok(Delivery {
            provider_id: out.message_id().map(str::to_owned),
            attempts: 1,
        })
    }
}

/// SNS subjects are ASCII without control characters, at most 100 characters.
fn sns_subject(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .filter(|c| c.is_ascii() && !c.is_ascii_control())
        .collect();
    let t = cleaned.trim();
    if t.is_empty() {
        "twincloud".into()
    } else {
        t.chars().take(100).collect()
    }
}

/// Sends messages as email through SES v2.
#[derive(Debug, Clone)]
pub struct SesNotifier {
    channel: String,
    from: String,
    to: Vec<String>,
    client: aws_sdk_sesv2::Client,
}

impl SesNotifier {
    /// A channel sending from a verified `from` address to `to`.
    pub fn new(ctx: &AwsContext, channel: &str, from: &str, to: &[String]) -> Self {
        SesNotifier {
            channel: channel.into(),
            from: from.into(),
            to: to.to_vec(),
            client: ctx.sesv2(),
        }
    }
}

#[async_trait]
impl Notifier for SesNotifier {
    async fn send(&self, message: &Message) -> Result<Delivery, NotifyError> {
        use aws_sdk_sesv2::types::{
            Body, Content, Destination, EmailContent, Message as SesMessage,
        };
        let fail = |m: String| NotifyError {
            channel: self.channel.clone(),
            message: m,
            retry: twincloud_core::Retry::Permanent,
        };
        let content = |text: String| {
            Content::builder()
                .data(text)
                .charset("UTF-8")
                .build()
                .map_err(|e| fail(format!("building email: {e}")))
        };
        let email = SesMessage::builder()
            .subject(content(message.subject_line())?)
            .body(Body::builder().text(content(message.to_text())?).build())
            .build();
        let out = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(
                Destination::builder()
                    .set_to_addresses(Some(self.to.clone()))
                    .build(),
            )
            .content(EmailContent::builder().simple(email).build())
            .send()
            .await
            .map_err(|e| {
                let pe = classify(&format!("SES send from {}", self.from), e);
                NotifyError {
                    channel: self.channel.clone(),
                    message: pe.message,
                    retry: pe.retry,
                }
            })?;
        Ok(Delivery {
            provider_id: out.message_id().map(str::to_owned),
            attempts: 1,
        })
    }
}
