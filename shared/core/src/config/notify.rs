//! `[notify]` and `[[notify.channels]]`: where messages go. Each channel `type` has its own
//! keys; a key of another type is an error at the channel's line.

use serde::Deserialize;
use toml::Spanned;

use super::table::{self, bounded, limits};
use crate::secret::SecretRef;
use crate::signal::{Severity, SignalKind};

/// `[notify]`.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifyConfig {
    /// A repeated signal (same subject, same state) is not sent again within this window.
    pub dedupe_window_secs: u64,
    /// At most this many messages per channel per minute; the rest are counted and summarised.
    pub rate_limit_per_minute: u32,
    /// The channels, in order.
    pub channels: Vec<Channel>,
}

/// One notification channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    /// Unique name, used in routing and records.
    pub name: String,
    /// Least severity sent to this channel.
    pub min_severity: Severity,
    /// Signal kinds sent to this channel; empty means all.
    pub kinds: Vec<String>,
    /// Where messages go.
    pub target: ChannelTarget,
}

impl Channel {
    /// Whether a signal of this kind and severity goes to this channel.
    pub fn accepts(&self, kind: &SignalKind, severity: Severity) -> bool {
        severity >= self.min_severity
            && (self.kinds.is_empty() || self.kinds.iter().any(|k| k == kind.name()))
    }
}

/// Where a channel sends.
#[derive(Debug, Clone, PartialEq)]
pub enum ChannelTarget {
    /// Slack incoming webhook (Block Kit). The URL is a secret.
    Slack {
        /// Reference to the webhook URL.
        webhook_url: SecretRef,
    },
    /// Generic JSON webhook.
    Webhook {
        /// Endpoint URL.
        url: String,
        /// Optional `Authorization` header value, as a secret reference.
        authorization: Option<SecretRef>,
    },
    /// Email through SES v2.
    Ses {
        /// Verified sender.
        from: String,
        /// Recipients.
        to: Vec<String>,
    },
    /// An SNS topic.
    Sns {
        /// Topic ARN.
        topic_arn: String,
    },
    /// A Pub/Sub topic (`projects/P/topics/T`).
    PubSub {
        /// Topic resource name.
        topic: String,
    },
    /// The local backend's outbox: JSON lines under the state directory.
    Outbox,
}

impl ChannelTarget {
    /// The `type` name in configuration.
    pub fn type_name(&self) -> &'static str {
        match self {
            ChannelTarget::Slack { .. } => "slack",
            ChannelTarget::Webhook { .. } => "webhook",
            ChannelTarget::Ses { .. } => "ses",
            ChannelTarget::Sns { .. } => "sns",
            ChannelTarget::PubSub { .. } => "pubsub",
            ChannelTarget::Outbox => "outbox",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    #[serde(default)]
    dedupe_window_secs: Option<u64>,
    #[serde(default)]
    rate_limit_per_minute: Option<u32>,
    #[serde(default)]
    channels: Vec<Spanned<toml::Table>>,
}

/// The keys every channel takes; the rest belong to its `type`.
const CHANNEL_KEYS: &[&str] = &["name", "type", "min_severity", "kinds"];
const CHANNEL_TYPES: &[&str] = &["slack", "webhook", "ses", "sns", "pubsub", "outbox"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChannel {
    name: String,
    #[serde(rename = "type")]
    #[allow(dead_code)] // read by `table::kind`
    ty: String,
    #[serde(default)]
    min_severity: Option<Severity>,
    #[serde(default)]
    kinds: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlack {
    webhook_url: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    url: String,
    #[serde(default)]
    authorization: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSes {
    from: String,
    #[serde(default)]
    to: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSns {
    topic_arn: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPubSub {
    topic: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutbox {}

/// The default de-duplication window: a day.
pub const DEFAULT_DEDUPE_WINDOW_SECS: u64 = limits::DAY;
/// The default per-channel rate limit.
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 30;

/// Validates `[notify]`; `problem(span, message)` records what is wrong.
pub(super) fn validate(
    raw: Option<Spanned<RawNotify>>,
    problem: &dyn Fn(std::ops::Range<usize>, String),
) -> NotifyConfig {
    let Some(raw) = raw else {
        return NotifyConfig {
            dedupe_window_secs: DEFAULT_DEDUPE_WINDOW_SECS,
            rate_limit_per_minute: DEFAULT_RATE_LIMIT_PER_MINUTE,
            channels: vec![],
        };
    };
    let span = raw.span();
    let rn = raw.into_inner();
    let at = |m: String| problem(span.clone(), format!("notify: {m}"));
    let dedupe_window_secs = bounded(
        rn.dedupe_window_secs,
        DEFAULT_DEDUPE_WINDOW_SECS,
        0..=limits::MAX_WINDOW_SECS,
        "dedupe_window_secs",
        &at,
    );
    let rate_limit_per_minute = bounded(
        rn.rate_limit_per_minute,
        DEFAULT_RATE_LIMIT_PER_MINUTE,
        1..=10_000,
        "rate_limit_per_minute",
        &at,
    );
    let channels = table::entries(rn.channels, problem, channel);
    NotifyConfig {
        dedupe_window_secs,
        rate_limit_per_minute,
        channels,
    }
}

fn channel(table: toml::Table, others: &[Channel], at: &dyn Fn(String)) -> Option<Channel> {
    let name = table::name(&table);
    let what = format!("channel `{name}`");
    // An unknown type is reported, and the keys every channel takes are still checked.
    let ty = table::kind(&table, "type", &what, CHANNEL_TYPES)
        .map(str::to_owned)
        .map_err(at)
        .ok();
    let label = format!("channel `{name}` ({})", ty.as_deref().unwrap_or("?"));
    let (common, own) = table::split(table, CHANNEL_KEYS);
    let c: RawChannel = table::read(common, &what, "a channel").map_err(at).ok()?;
    let here = |m: String| at(format!("{label}: {m}"));
    if c.name.trim().is_empty() {
        at("a channel needs a non-empty `name`".into());
    }
    if others.iter().any(|o| o.name == c.name) {
        here("the name is used by another channel".into());
    }
    for k in &c.kinds {
        if !SignalKind::NAMES.contains(&k.as_str()) {
            here(format!(
                "unknown kind `{k}` (one of: {})",
                SignalKind::NAMES.join(", ")
            ));
        }
    }
    let ty = ty?;
    let target = target(&ty, own, &label, &here).map_err(at).ok()??;
    Some(Channel {
        name: c.name,
        min_severity: c.min_severity.unwrap_or(Severity::Info),
        kinds: c.kinds,
        target,
    })
}

fn secret(value: &str, key: &str, here: &dyn Fn(String)) -> Option<SecretRef> {
    value
        .parse::<SecretRef>()
        .map_err(|e| here(format!("`{key}`: {e}")))
        .ok()
}

/// The type's own keys, validated; every problem goes to `here`.
fn target(
    ty: &str,
    own: toml::Table,
    label: &str,
    here: &dyn Fn(String),
) -> Result<Option<ChannelTarget>, String> {
    let scope = format!("type `{ty}`");
    Ok(match ty {
        "slack" => {
            let r: RawSlack = table::read(own, label, &scope)?;
            secret(&r.webhook_url, "webhook_url", here)
                .map(|webhook_url| ChannelTarget::Slack { webhook_url })
        }
        "webhook" => {
            let r: RawWebhook = table::read(own, label, &scope)?;
            if !(r.url.starts_with("http://") || r.url.starts_with("https://")) {
                here("`url` must start with http:// or https://".into());
            }
            let authorization = r.authorization.map(|a| secret(&a, "authorization", here));
            match authorization {
                Some(None) => None,
                a => Some(ChannelTarget::Webhook {
                    url: r.url,
                    authorization: a.flatten(),
                }),
            }
        }
        "ses" => {
            let r: RawSes = table::read(own, label, &scope)?;
            if r.to.is_empty() {
                here("`to` needs at least one address".into());
            }
            for a in r.to.iter().chain([&r.from]).filter(|a| !a.contains('@')) {
                here(format!("`{a}` is not an email address"));
            }
            Some(ChannelTarget::Ses {
                from: r.from,
                to: r.to,
            })
        }
        "sns" => {
            let r: RawSns = table::read(own, label, &scope)?;
            if !r.topic_arn.starts_with("arn:") {
                here("`topic_arn` must be an ARN (arn:aws:sns:REGION:ACCOUNT:NAME)".into());
            }
            Some(ChannelTarget::Sns {
                topic_arn: r.topic_arn,
            })
        }
        "pubsub" => {
            let r: RawPubSub = table::read(own, label, &scope)?;
            let parts: Vec<&str> = r.topic.split('/').collect();
            if !matches!(parts.as_slice(), ["projects", p, "topics", t] if !p.is_empty() && !t.is_empty())
            {
                here("`topic` must be projects/PROJECT/topics/TOPIC".into());
            }
            Some(ChannelTarget::PubSub { topic: r.topic })
        }
        _ => {
            let RawOutbox {} = table::read(own, label, &scope)?;
            Some(ChannelTarget::Outbox)
        }
    })
}
