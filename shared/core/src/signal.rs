//! The normalized event model: one [`Signal`] whatever cloud or trigger it came from.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which cloud (or none) an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cloud {
    /// Amazon Web Services.
    Aws,
    /// Google Cloud.
    Gcp,
    /// The local backend or a person at the command line.
    Local,
}

impl std::fmt::Display for Cloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Cloud::Aws => "aws",
            Cloud::Gcp => "gcp",
            Cloud::Local => "local",
        })
    }
}

/// How urgent a signal is; channels route on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Routine: a schedule fired, an object was copied.
    Info,
    /// Worth a look: a forecast over budget, an image pushed.
    Notice,
    /// Something is wrong or about to be.
    Warning,
    /// Production is affected; act now.
    Critical,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Notice => "notice",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        })
    }
}

/// One normalized event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// Identity of the delivery for idempotency: the same event delivered twice has the same id.
    pub id: String,
    /// Where it came from.
    pub cloud: Cloud,
    /// The shape it was decoded from (see [`crate::decode::Shape`]).
    pub shape: String,
    /// When the event happened, as the source says (hand-written commands may carry none).
    pub time: Option<DateTime<Utc>>,
    /// What happened.
    pub kind: SignalKind,
    /// How it reached the function: what vouches for whoever sent it.
    #[serde(default)]
    pub origin: Origin,
}

/// How a signal reached the function. A message that came through a topic, a bus or a provider
/// notification is a hint anyone with publish rights could have written; only a call whose
/// caller the entry point authenticated may carry a command.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "via", rename_all = "snake_case")]
pub enum Origin {
    /// Inside a message that a topic, bus, scheduler or provider delivered.
    #[default]
    Relayed,
    /// The call's own payload, whose caller is not (or not yet) authenticated.
    Payload,
    /// The call's own payload, from a caller the entry point authenticated (the CLI, a Lambda
    /// Invoke allowed by IAM, an HTTP call with a verified token from an allowed account).
    Direct {
        /// Who called, as the entry point established it.
        caller: String,
    },
}

impl Origin {
    /// The authenticated caller, if any.
    pub fn caller(&self) -> Option<&str> {
        match self {
            Origin::Direct { caller } => Some(caller),
            Origin::Relayed | Origin::Payload => None,
        }
    }
}

/// What a signal says happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SignalKind {
    /// A metric alarm changed state (CloudWatch).
    Alarm(Alarm),
    /// A schedule fired (EventBridge rule, EventBridge Scheduler, Cloud Scheduler).
    ScheduleTick(ScheduleTick),
    /// A container image was pushed (or deleted) in a registry.
    Image(ImageEvent),
    /// A budget alert (AWS Budgets or GCP billing budget).
    Budget(BudgetAlert),
    /// An object was created or deleted in a bucket.
    Object(ObjectChange),
    /// A Cloud Monitoring incident opened or closed.
    Incident(Incident),
    /// A command from a person (CLI or a hand-written event).
    Command(Command),
    /// What a twincloud function did, or could not do, told to people.
    Report(Report),
}

impl SignalKind {
    /// Short name of the kind, as used in channel routing.
    pub fn name(&self) -> &'static str {
        match self {
            SignalKind::Alarm(_) => "alarm",
            SignalKind::ScheduleTick(_) => "schedule",
            SignalKind::Image(_) => "image",
            SignalKind::Budget(_) => "budget",
            SignalKind::Object(_) => "object",
            SignalKind::Incident(_) => "incident",
            SignalKind::Command(_) => "command",
            SignalKind::Report(_) => "report",
        }
    }

    /// Every kind name, for validation of routing rules.
    pub const NAMES: [&'static str; 8] = [
        "alarm", "schedule", "image", "budget", "object", "incident", "command", "report",
    ];
}

/// Alarm states shared by CloudWatch's three delivery paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    /// The alarm fired.
    Alarm,
    /// Back to normal.
    Ok,
    /// Not enough data to evaluate.
    InsufficientData,
}

impl AlarmState {
    /// Parses the CloudWatch spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ALARM" => Some(Self::Alarm),
            "OK" => Some(Self::Ok),
            "INSUFFICIENT_DATA" => Some(Self::InsufficientData),
            _ => None,
        }
    }
}

impl std::fmt::Display for AlarmState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AlarmState::Alarm => "ALARM",
            AlarmState::Ok => "OK",
            AlarmState::InsufficientData => "INSUFFICIENT_DATA",
        })
    }
}

/// A CloudWatch alarm state change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alarm {
    /// Alarm name.
    pub name: String,
    /// New state.
    pub state: AlarmState,
    /// Previous state, when the source says.
    pub previous: Option<AlarmState>,
    /// Human reason from CloudWatch.
    pub reason: String,
    /// Region code (`us-east-1`) or, via SNS, its display name.
    pub region: Option<String>,
    /// The alarm ARN when known.
    pub arn: Option<String>,
    /// Metric namespace/name when the alarm watches a single metric.
    pub metric: Option<String>,
}

/// A schedule fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleTick {
    /// Rule, schedule or job name.
    pub name: String,
    /// The custom input, when the scheduler carries one.
    pub input: Option<serde_json::Value>,
}

/// Which registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Registry {
    /// Amazon ECR.
    Ecr,
    /// Google Artifact Registry (or Container Registry).
    ArtifactRegistry,
}

/// An image pushed or deleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageEvent {
    /// Registry kind.
    pub registry: Registry,
    /// Repository (ECR repository name, or the AR image path without tag or digest).
    pub repository: String,
    /// `sha256:...` digest.
    pub digest: Option<String>,
    /// Tag, when the push carried one.
    pub tag: Option<String>,
    /// True for a push, false for a delete.
    pub pushed: bool,
}

/// Whether a budget alert is about spend so far or a forecast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BudgetBasis {
    /// Money already spent.
    Actual,
    /// Money forecast to be spent.
    Forecast,
}

/// A budget notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetAlert {
    /// Budget name (AWS `Budget Name`, GCP `budgetDisplayName`).
    pub budget: String,
    /// Amount spent (or forecast).
    pub cost: f64,
    /// Budgeted amount.
    pub budget_amount: f64,
    /// ISO currency code, `USD` when the source writes `$`.
    pub currency: String,
    /// Threshold crossed as a fraction of the budget (1.0 = 100 %), when one was.
    pub threshold: Option<f64>,
    /// Actual or forecast.
    pub basis: BudgetBasis,
    /// Start of the cost interval (GCP), for per-period de-duplication.
    pub period_start: Option<String>,
    /// GCP budget id, when known.
    pub budget_id: Option<String>,
    /// The AWS account (its `AWS Account` line) or the GCP billing account (the message's
    /// `billingAccountId` attribute), when known.
    #[serde(default)]
    pub account: Option<String>,
}

/// Where an object lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectStoreKind {
    /// Amazon S3.
    S3,
    /// Google Cloud Storage.
    Gcs,
}

/// An object created or deleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectChange {
    /// S3 or GCS.
    pub store: ObjectStoreKind,
    /// Bucket name.
    pub bucket: String,
    /// Object key, decoded (S3 notifications URL-encode it).
    pub key: String,
    /// True when created or overwritten, false when deleted.
    pub created: bool,
    /// Size in bytes, when the event says.
    pub size: Option<u64>,
    /// ETag (S3) or base64 MD5 (GCS), when the event says.
    pub etag: Option<String>,
    /// Ordering token: S3 `sequencer` or GCS `generation`.
    pub sequencer: Option<String>,
}

/// A Cloud Monitoring incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Incident id.
    pub id: String,
    /// Alerting policy name.
    pub policy: String,
    /// True while open.
    pub open: bool,
    /// Summary text.
    pub summary: String,
    /// Console URL.
    pub url: Option<String>,
    /// Condition name.
    pub condition: Option<String>,
}

/// What a function did or could not do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The function (`failover`, ...).
    pub function: String,
    /// One line.
    pub title: String,
    /// Detail.
    pub summary: String,
    /// How urgent.
    pub severity: Severity,
    /// Labelled facts (a timeline, ...).
    pub fields: Vec<(String, String)>,
    /// What the report is about; with `state`, de-duplicates repeated reports.
    pub subject: String,
    /// The state reported for the subject.
    pub state: String,
}

/// A command given by a person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// What to do (`notify`, `failback`, ...).
    pub command: String,
    /// Arguments.
    pub args: serde_json::Value,
}

impl Signal {
    /// Severity as seen by routing.
    pub fn severity(&self) -> Severity {
        match &self.kind {
            SignalKind::Alarm(a) => match a.state {
                AlarmState::Alarm => Severity::Critical,
                AlarmState::InsufficientData => Severity::Warning,
                AlarmState::Ok => Severity::Notice,
            },
            SignalKind::Incident(i) if i.open => Severity::Critical,
            SignalKind::Incident(_) => Severity::Notice,
            SignalKind::Budget(b) => match (b.basis, b.threshold) {
                (BudgetBasis::Actual, Some(t)) if t >= 1.0 => Severity::Critical,
                (BudgetBasis::Actual, Some(_)) => Severity::Warning,
                _ => Severity::Notice,
            },
            SignalKind::Image(_) => Severity::Notice,
            SignalKind::Command(c) => c
                .args
                .get("severity")
                .and_then(|s| serde_json::from_value(s.clone()).ok())
                .unwrap_or(Severity::Notice),
            SignalKind::Report(r) => r.severity,
            SignalKind::ScheduleTick(_) | SignalKind::Object(_) => Severity::Info,
        }
    }

    /// What the signal is about, independent of its state: an alarm name, a budget and period.
    /// Two signals with the same subject and the same [`Signal::state_label`] say the same thing.
    pub fn subject(&self) -> String {
        match &self.kind {
            SignalKind::Alarm(a) => format!("alarm:{}", a.name),
            SignalKind::ScheduleTick(s) => format!("schedule:{}", s.name),
            SignalKind::Image(i) => format!(
                "image:{}@{}",
                i.repository,
                i.digest.as_deref().or(i.tag.as_deref()).unwrap_or("")
            ),
            SignalKind::Budget(b) => format!(
                "budget:{}:{}:{}:{}",
                self.cloud,
                b.budget_id.as_deref().unwrap_or(&b.budget),
                b.period_start.as_deref().unwrap_or(""),
                match b.basis {
                    BudgetBasis::Actual => "actual",
                    BudgetBasis::Forecast => "forecast",
                }
            ),
            SignalKind::Object(o) => format!("object:{}/{}", o.bucket, o.key),
            SignalKind::Incident(i) => format!("incident:{}", i.id),
            SignalKind::Command(c) => format!("command:{}:{}", c.command, self.id),
            SignalKind::Report(r) => format!("report:{}:{}", r.function, r.subject),
        }
    }

    /// The state the signal reports for its subject.
    pub fn state_label(&self) -> String {
        match &self.kind {
            SignalKind::Alarm(a) => a.state.to_string(),
            SignalKind::ScheduleTick(_) => self
                .time
                .map(|t| t.to_rfc3339())
                .unwrap_or_else(|| self.id.clone()),
            SignalKind::Image(i) => if i.pushed { "pushed" } else { "deleted" }.into(),
            SignalKind::Budget(b) => match b.threshold {
                Some(t) => format!("threshold {:.0}%", t * 100.0),
                None => "below thresholds".into(),
            },
            SignalKind::Object(o) => format!(
                "{}:{}",
                if o.created { "created" } else { "deleted" },
                o.sequencer.as_deref().unwrap_or("")
            ),
            SignalKind::Incident(i) => if i.open { "open" } else { "closed" }.into(),
            SignalKind::Command(_) => self.id.clone(),
            SignalKind::Report(r) => r.state.clone(),
        }
    }
}
