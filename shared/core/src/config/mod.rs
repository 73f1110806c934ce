//! Configuration: one TOML file describing the deployment, validated in two stages
//! (syntax and unknown keys, then meaning) with errors that name file, line and problem.

use serde::Deserialize;
use toml::Spanned;

mod backup;
mod failover;
mod sync;

pub use backup::{BackupConfig, BackupEngine, BackupSet, DrCopies, ExportPolicy};
pub use failover::{ComputeTarget, DnsProvider, Endpoint, Failback, FailoverConfig};
pub use sync::{SyncConfig, SyncPair};

use crate::location::Location;
use crate::secret::SecretRef;
use crate::signal::{Severity, SignalKind};

/// A validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where it was loaded from (a path or URL), for messages.
    pub origin: String,
    /// Project-wide settings.
    pub project: Project,
    /// Notification settings and channels.
    pub notify: NotifyConfig,
    /// Failover between the two sides, when configured.
    pub failover: Option<FailoverConfig>,
    /// Bucket pairs kept in sync, when configured.
    pub sync: Option<SyncConfig>,
    /// Database backups, when configured.
    pub backup: Option<BackupConfig>,
}

/// `[project]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    /// Name shown in every message.
    pub name: String,
    /// Where state (de-duplication, locks, audit) is kept.
    pub state: Location,
}

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

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// A configuration that cannot be used, with every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(origin, problems))]
pub struct ConfigError {
    /// File or URL.
    pub origin: String,
    /// The problems, in file order.
    pub problems: Vec<ConfigProblem>,
}

fn render(origin: &str, problems: &[ConfigProblem]) -> String {
    problems
        .iter()
        .map(|p| match p.line {
            Some(l) => format!("{origin}:{l}: {}", p.message),
            None => format!("{origin}: {}", p.message),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    project: RawProject,
    #[serde(default)]
    notify: Option<RawNotify>,
    #[serde(default)]
    failover: Option<Spanned<failover::RawFailover>>,
    #[serde(default)]
    sync: Option<sync::RawSync>,
    #[serde(default)]
    backup: Option<backup::RawBackup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProject {
    name: Spanned<String>,
    #[serde(default)]
    state: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotify {
    #[serde(default)]
    dedupe_window_secs: Option<u64>,
    #[serde(default)]
    rate_limit_per_minute: Option<u32>,
    #[serde(default)]
    channels: Vec<Spanned<RawChannel>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChannel {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    min_severity: Option<Severity>,
    #[serde(default)]
    kinds: Vec<String>,
    #[serde(default)]
    webhook_url: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    authorization: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Vec<String>,
    #[serde(default)]
    topic_arn: Option<String>,
    #[serde(default)]
    topic: Option<String>,
}

/// Default state directory of the local backend.
pub const DEFAULT_STATE_DIR: &str = ".twincloud";

impl Config {
    /// Parses and validates `text`; `origin` names the file in errors.
    pub fn parse(origin: &str, text: &str) -> Result<Config, ConfigError> {
        let line_of =
            |offset: usize| Some(text[..offset.min(text.len())].matches('\n').count() + 1);
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError {
            origin: origin.into(),
            problems: vec![ConfigProblem {
                line: e.span().and_then(|s| line_of(s.start)),
                message: e.message().trim().to_owned(),
            }],
        })?;
        let problems = std::cell::RefCell::new(Vec::new());
        let problem = |span: std::ops::Range<usize>, message: String| {
            problems.borrow_mut().push(ConfigProblem {
                line: line_of(span.start),
                message,
            });
        };

        let rp = raw.project;
        if rp.name.get_ref().trim().is_empty() {
            problem(rp.name.span(), "project.name must not be empty".into());
        }
        let state = match &rp.state {
            Some(s) => match s.get_ref().parse::<Location>() {
                Ok(l) => l,
                Err(e) => {
                    problem(s.span(), format!("project.state: {e}"));
                    Location::Local {
                        path: DEFAULT_STATE_DIR.into(),
                    }
                }
            },
            None => Location::Local {
                path: DEFAULT_STATE_DIR.into(),
            },
        };

        let rn = raw.notify.unwrap_or(RawNotify {
            dedupe_window_secs: None,
            rate_limit_per_minute: None,
            channels: vec![],
        });
        let rate = rn.rate_limit_per_minute.unwrap_or(30);
        if rate == 0 {
            problems.borrow_mut().push(ConfigProblem {
                line: None,
                message: "notify.rate_limit_per_minute must be at least 1".into(),
            });
        }
        let mut channels: Vec<Channel> = Vec::new();
        for sc in rn.channels {
            let span = sc.span();
            let c = sc.into_inner();
            let label = format!("channel `{}` ({})", c.name, c.ty);
            if c.name.trim().is_empty() {
                problem(span.clone(), "a channel needs a non-empty `name`".into());
            }
            if channels.iter().any(|o| o.name == c.name) {
                problem(
                    span.clone(),
                    format!("{label}: the name is used by another channel"),
                );
            }
            for k in &c.kinds {
                if !SignalKind::NAMES.contains(&k.as_str()) {
                    problem(
                        span.clone(),
                        format!(
                            "{label}: unknown kind `{k}` (one of: {})",
                            SignalKind::NAMES.join(", ")
                        ),
                    );
                }
            }
            let need = |field: &str, v: &Option<String>| -> String {
                match v {
                    Some(s) if !s.trim().is_empty() => s.clone(),
                    _ => {
                        problem(span.clone(), format!("{label}: `{field}` is required"));
                        String::new()
                    }
                }
            };
            let target = match c.ty.as_str() {
                "slack" => {
                    let v = need("webhook_url", &c.webhook_url);
                    if v.is_empty() {
                        None
                    } else {
                        match v.parse::<SecretRef>() {
                            Ok(r) => Some(ChannelTarget::Slack { webhook_url: r }),
                            Err(e) => {
                                problem(span.clone(), format!("{label}: `webhook_url`: {e}"));
                                None
                            }
                        }
                    }
                }
                "webhook" => {
                    let url = need("url", &c.url);
                    let has_scheme = url.starts_with("http://") || url.starts_with("https://");
                    if !url.is_empty() && !has_scheme {
                        problem(
                            span.clone(),
                            format!("{label}: `url` must start with http:// or https://"),
                        );
                    }
                    let authorization =
                        match c.authorization.as_deref().map(str::parse::<SecretRef>) {
                            Some(Ok(r)) => Some(r),
                            Some(Err(e)) => {
                                problem(span.clone(), format!("{label}: `authorization`: {e}"));
                                None
                            }
                            None => None,
                        };
                    Some(ChannelTarget::Webhook { url, authorization })
                }
                "ses" => {
                    let from = need("from", &c.from);
                    if c.to.is_empty() {
                        problem(
                            span.clone(),
                            format!("{label}: `to` needs at least one address"),
                        );
                    }
                    for a in
                        c.to.iter()
                            .chain(std::iter::once(&from))
                            .filter(|a| !a.is_empty())
                    {
                        if !a.contains('@') {
                            problem(
                                span.clone(),
                                format!("{label}: `{a}` is not an email address"),
                            );
                        }
                    }
                    Some(ChannelTarget::Ses {
                        from,
                        to: c.to.clone(),
                    })
                }
                "sns" => {
                    let topic_arn = need("topic_arn", &c.topic_arn);
                    if !topic_arn.is_empty() && !topic_arn.starts_with("arn:") {
                        problem(
                            span.clone(),
                            format!(
                                "{label}: `topic_arn` must be an ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"
                            ),
                        );
                    }
                    Some(ChannelTarget::Sns { topic_arn })
                }
                "pubsub" => {
                    let topic = need("topic", &c.topic);
                    let parts: Vec<&str> = topic.split('/').collect();
                    if !topic.is_empty()
                        && !matches!(parts.as_slice(), ["projects", p, "topics", t] if !p.is_empty() && !t.is_empty())
                    {
                        problem(
                            span.clone(),
                            format!("{label}: `topic` must be projects/PROJECT/topics/TOPIC"),
                        );
                    }
                    Some(ChannelTarget::PubSub { topic })
                }
                "outbox" => Some(ChannelTarget::Outbox),
                other => {
                    problem(
                        span.clone(),
                        format!(
                            "channel `{}`: unknown type `{other}` (slack, webhook, ses, sns, pubsub, outbox)",
                            c.name
                        ),
                    );
                    None
                }
            };
            if let Some(target) = target {
                channels.push(Channel {
                    name: c.name,
                    min_severity: c.min_severity.unwrap_or(Severity::Info),
                    kinds: c.kinds,
                    target,
                });
            }
        }
        let failover = raw.failover.and_then(|f| failover::validate(f, &problem));
        let sync = raw.sync.and_then(|s| sync::validate(s, &problem));
        let backup = raw.backup.and_then(|b| backup::validate(b, &problem));
        let problems = problems.into_inner();
        if !problems.is_empty() {
            return Err(ConfigError {
                origin: origin.into(),
                problems,
            });
        }
        Ok(Config {
            origin: origin.into(),
            project: Project {
                name: rp.name.into_inner(),
                state,
            },
            notify: NotifyConfig {
                dedupe_window_secs: rn.dedupe_window_secs.unwrap_or(24 * 3600),
                rate_limit_per_minute: rate,
                channels,
            },
            failover,
            sync,
            backup,
        })
    }

    /// The configuration used when none is given: the local backend in `.twincloud/`, and one
    /// outbox channel, so that every command works on a laptop with nothing set up.
    pub fn local_default() -> Config {
        Config {
            origin: "(built-in local default)".into(),
            project: Project {
                name: "twincloud-local".into(),
                state: Location::Local {
                    path: DEFAULT_STATE_DIR.into(),
                },
            },
            notify: NotifyConfig {
                dedupe_window_secs: 24 * 3600,
                rate_limit_per_minute: 30,
                channels: vec![Channel {
                    name: "outbox".into(),
                    min_severity: Severity::Info,
                    kinds: vec![],
                    target: ChannelTarget::Outbox,
                }],
            },
            failover: None,
            sync: None,
            backup: None,
        }
    }

    /// Every secret reference the configuration holds, to resolve once at start.
    pub fn secret_refs(&self) -> Vec<&SecretRef> {
        let mut refs: Vec<&SecretRef> = self
            .notify
            .channels
            .iter()
            .filter_map(|c| match &c.target {
                ChannelTarget::Slack { webhook_url } => Some(webhook_url),
                ChannelTarget::Webhook { authorization, .. } => authorization.as_ref(),
                _ => None,
            })
            .collect();
        if let Some(DnsProvider::Cloudflare { api_token, .. }) =
            self.failover.as_ref().map(|f| &f.dns)
        {
            refs.push(api_token);
        }
        refs
    }
}

#[cfg(test)]
mod tests;
