//! Readable messages: what a signal or an action says to a person, and its renderings for
//! Slack (Block Kit), generic webhooks and email. Pure formatting, no I/O.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::signal::{AlarmState, BudgetBasis, Registry, Severity, Signal, SignalKind};

/// A message for people, independent of the channel that carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Project name from config.
    pub project: String,
    /// One line: what happened.
    pub title: String,
    /// How urgent.
    pub severity: Severity,
    /// Signal kind (`alarm`, `budget`, ...).
    pub kind: String,
    /// A sentence or two of detail.
    pub summary: String,
    /// Labelled facts, in order.
    pub fields: Vec<(String, String)>,
    /// A console or incident link, when there is one.
    pub link: Option<String>,
    /// The event this message is about, for tracing back to the audit record.
    pub event_id: String,
}

fn badge(sev: Severity) -> &'static str {
    match sev {
        Severity::Critical => "🔴",
        Severity::Warning => "🟠",
        Severity::Notice => "🔵",
        Severity::Info => "⚪",
    }
}

fn money(v: f64, currency: &str) -> String {
    if currency == "USD" {
        format!("${v:.2}")
    } else {
        format!("{v:.2} {currency}")
    }
}

impl Message {
    /// Describes a signal.
    pub fn for_signal(project: &str, s: &Signal) -> Message {
        let severity = s.severity();
        let mut fields: Vec<(String, String)> = vec![("Cloud".into(), s.cloud.to_string())];
        let mut link = None;
        let (title, summary) = match &s.kind {
            SignalKind::Alarm(a) => {
                if let Some(r) = &a.region {
                    fields.push(("Region".into(), r.clone()));
                }
                if let Some(m) = &a.metric {
                    fields.push(("Metric".into(), m.clone()));
                }
                if let Some(p) = a.previous {
                    fields.push(("Previous state".into(), p.to_string()));
                }
                let verb = match a.state {
                    AlarmState::Alarm => "is in ALARM",
                    AlarmState::Ok => "is OK again",
                    AlarmState::InsufficientData => "has insufficient data",
                };
                (format!("Alarm {} {verb}", a.name), a.reason.clone())
            }
            SignalKind::Incident(i) => {
                fields.push(("Policy".into(), i.policy.clone()));
                if let Some(c) = &i.condition {
                    fields.push(("Condition".into(), c.clone()));
                }
                link.clone_from(&i.url);
                (
                    format!(
                        "Incident {} for {}",
                        if i.open { "opened" } else { "closed" },
                        if i.policy.is_empty() {
                            &i.id
                        } else {
                            &i.policy
                        }
                    ),
                    i.summary.clone(),
                )
            }
            SignalKind::Budget(b) => {
                fields.push(("Spent".into(), money(b.cost, &b.currency)));
                fields.push(("Budget".into(), money(b.budget_amount, &b.currency)));
                if let Some(t) = b.threshold {
                    fields.push(("Threshold".into(), format!("{:.0}%", t * 100.0)));
                }
                let pct = if b.budget_amount > 0.0 {
                    b.cost / b.budget_amount * 100.0
                } else {
                    0.0
                };
                let basis = match b.basis {
                    BudgetBasis::Actual => "spent",
                    BudgetBasis::Forecast => "forecast to spend",
                };
                (
                    format!(
                        "Budget {}: {} of {} ({pct:.0}%)",
                        b.budget,
                        money(b.cost, &b.currency),
                        money(b.budget_amount, &b.currency)
                    ),
                    format!("{} {basis} {pct:.0}% of its budget.", b.budget),
                )
            }
            SignalKind::Image(i) => {
                if let Some(t) = &i.tag {
                    fields.push(("Tag".into(), t.clone()));
                }
                if let Some(d) = &i.digest {
                    fields.push(("Digest".into(), d.clone()));
                }
                let reg = match i.registry {
                    Registry::Ecr => "ECR",
                    Registry::ArtifactRegistry => "Artifact Registry",
                };
                (
                    format!(
                        "Image {} {} in {reg}",
                        i.repository,
                        if i.pushed { "pushed" } else { "deleted" }
                    ),
                    String::new(),
                )
            }
            SignalKind::Object(o) => {
                if let Some(sz) = o.size {
                    fields.push(("Size".into(), format!("{sz} bytes")));
                }
                (
                    format!(
                        "Object {} {}/{}",
                        if o.created {
                            "written to"
                        } else {
                            "deleted from"
                        },
                        o.bucket,
                        o.key
                    ),
                    String::new(),
                )
            }
            SignalKind::ScheduleTick(t) => (format!("Schedule {} fired", t.name), String::new()),
            SignalKind::Report(r) => {
                fields.extend(r.fields.iter().cloned());
                (r.title.clone(), r.summary.clone())
            }
            SignalKind::Command(c) => {
                let text = c
                    .args
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                (
                    c.args
                        .get("title")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .unwrap_or_else(|| format!("Command {}", c.command)),
                    text,
                )
            }
        };
        if let Some(t) = s.time {
            fields.push(("At".into(), t.to_rfc3339()));
        }
        Message {
            project: project.into(),
            title,
            severity,
            kind: s.kind.name().into(),
            summary,
            fields,
            link,
            event_id: s.id.clone(),
        }
    }

    /// Plain text, for email bodies, SNS and logs.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "[{}] {} {}\n",
            self.project,
            badge(self.severity),
            self.title
        );
        if !self.summary.is_empty() {
            out.push_str(&self.summary);
            out.push('\n');
        }
        out.push('\n');
        for (k, v) in &self.fields {
            out.push_str(&format!("{k}: {v}\n"));
        }
        out.push_str(&format!("Severity: {}\n", self.severity));
        if let Some(l) = &self.link {
            out.push_str(&format!("Link: {l}\n"));
        }
        out.push_str(&format!("Event: {}\n", self.event_id));
        out
    }

    /// Email subject / SNS subject (SNS allows 100 characters).
    pub fn subject_line(&self) -> String {
        let s = format!(
            "[{}] {} {}",
            self.project,
            self.severity.to_string().to_uppercase(),
            self.title
        );
        s.chars().take(100).collect()
    }

    /// Slack Block Kit payload for an incoming webhook.
    pub fn to_slack(&self) -> Value {
        let mut blocks = vec![json!({
            "type": "header",
            "text": {"type": "plain_text", "text": truncate(&format!("{} {}", badge(self.severity), self.title), 150), "emoji": true}
        })];
        if !self.summary.is_empty() {
            blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(&escape_mrkdwn(&self.summary), 3000)}}));
        }
        let fields: Vec<Value> = self
            .fields
            .iter()
            .take(10)
            .map(|(k, v)| json!({"type": "mrkdwn", "text": truncate(&format!("*{}*\n{}", escape_mrkdwn(k), escape_mrkdwn(v)), 2000)}))
            .collect();
        if !fields.is_empty() {
            blocks.push(json!({"type": "section", "fields": fields}));
        }
        let mut context = vec![
            json!({"type": "mrkdwn", "text": format!("{} · {} · event `{}`", escape_mrkdwn(&self.project), self.severity, escape_mrkdwn(&self.event_id))}),
        ];
        if let Some(l) = &self.link {
            context.push(json!({"type": "mrkdwn", "text": slack_link(l)}));
        }
        blocks.push(json!({"type": "context", "elements": context}));
        json!({"text": format!("{} {}", badge(self.severity), self.title), "blocks": blocks})
    }

    /// Generic webhook payload: the message as JSON with a schema tag.
    pub fn to_webhook(&self) -> Value {
        json!({
            "schema": "twincloud.message/v1",
            "project": self.project,
            "title": self.title,
            "severity": self.severity,
            "kind": self.kind,
            "summary": self.summary,
            "fields": self.fields.iter().map(|(k, v)| json!({"name": k, "value": v})).collect::<Vec<_>>(),
            "link": self.link,
            "event_id": self.event_id,
            "text": self.to_text(),
        })
    }
}

use crate::text::clip as truncate;

/// A link as Slack mrkdwn: `<url|Open>` for an http(s) URL, its `&`, `<`, `>` escaped and its
/// `|` percent-encoded, so text from an event (an incident's URL) cannot close the link early
/// or add one of its own; anything else is shown as escaped text, not a link.
fn slack_link(url: &str) -> String {
    let web = url.starts_with("https://") || url.starts_with("http://");
    if !web {
        return escape_mrkdwn(url);
    }
    format!("<{}|Open>", escape_mrkdwn(url).replace('|', "%7C"))
}

/// Slack treats `&`, `<` and `>` as control characters in mrkdwn.
fn escape_mrkdwn(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod slack_link_tests {
    use super::slack_link;

    #[test]
    fn a_link_cannot_close_itself_early_nor_be_anything_but_web() {
        assert_eq!(
            slack_link("https://console.cloud.google.com/monitoring?a=1&b=2"),
            "<https://console.cloud.google.com/monitoring?a=1&amp;b=2|Open>"
        );
        assert_eq!(
            slack_link("https://x.example/|Pay here><https://evil.example"),
            "<https://x.example/%7CPay here&gt;&lt;https://evil.example|Open>"
        );
        assert_eq!(slack_link("javascript:alert(1)"), "javascript:alert(1)");
        assert_eq!(slack_link("<@channel>"), "&lt;@channel&gt;");
    }
}
