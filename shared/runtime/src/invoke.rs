//! One invocation: decode, plan each signal, execute, report. Shared by every entry mode.

use serde::Serialize;
use tracing::Instrument;
use twincloud_core::decode::{CloudEventParts, Decoded, HttpRequest};
use twincloud_core::signal::{Origin, SignalKind};
use twincloud_core::text::clip;
use twincloud_core::{Signal, decode_http, decode_json};

/// How much of a refused event its record keeps.
const EXCERPT: usize = 2048;

/// The CLI's caller name: the local account running it.
fn cli_caller() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{}", clip(&user, 64))
}

use crate::error::RunError;
use crate::executor::{Execution, Outcome};
use crate::function::{Function, Invocation};
use crate::services::Services;

/// What one invocation did, per signal.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The function.
    pub function: String,
    /// The event shape decoded.
    pub shape: String,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// One entry per signal the event carried.
    pub results: Vec<SignalResult>,
}

/// One signal, its plan and what happened.
#[derive(Debug, Clone, Serialize)]
pub struct SignalResult {
    /// The signal.
    pub signal: Signal,
    /// Plan and outcomes.
    pub execution: Execution,
    /// Further plans the function made after the first (a switch after probe rounds, a report).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub followups: Vec<Execution>,
}

impl SignalResult {
    /// The first execution and the follow-ups, in order.
    pub fn executions(&self) -> impl Iterator<Item = &Execution> {
        std::iter::once(&self.execution).chain(self.followups.iter())
    }
}

impl Report {
    /// Every execution of every signal, in order.
    pub fn executions(&self) -> impl Iterator<Item = &Execution> {
        self.results.iter().flat_map(SignalResult::executions)
    }

    /// What the functions noted (what they did and why), every execution's notes in order.
    pub fn notes(&self) -> impl Iterator<Item = &str> {
        self.executions()
            .flat_map(|e| e.plan.notes.iter().map(String::as_str))
    }

    /// Every note, one a line (what tests and people read).
    pub fn notes_text(&self) -> String {
        self.notes().collect::<Vec<_>>().join("\n")
    }

    /// `Err(Transient)` when any action failed transiently, so that the platform retries;
    /// otherwise `Ok` (permanent failures are reported and logged, not retried).
    pub fn platform_result(&self) -> Result<(), RunError> {
        match self.standing().into_iter().find_map(|a| match &a.outcome {
            Outcome::Failed {
                error,
                retry: twincloud_core::ports::Retry::Transient,
            } => Some(error),
            _ => None,
        }) {
            Some(e) => Err(RunError::Transient(e.to_owned())),
            None => Ok(()),
        }
    }

    /// Each action as it stands at the end of the run: an effect tried again in the same run
    /// (a rollout sits through a throttled call) counts by its last outcome, so a failure the
    /// run made good is not a failure of the run.
    fn standing(&self) -> Vec<&crate::ActionReport> {
        let mut last: Vec<(&str, &crate::ActionReport)> = vec![];
        for e in self.executions() {
            let event = e.plan.event_id.as_str();
            for a in &e.actions {
                match last.iter_mut().find(|(ev, l)| *ev == event && l.id == a.id) {
                    Some(l) => l.1 = a,
                    None => last.push((event, a)),
                }
            }
        }
        last.into_iter().map(|(_, a)| a).collect()
    }

    /// The exit code of a one-shot run, from what the effects came to: 75 when a retry can
    /// fix a failure, 1 when an action failed for good, 0 when everything asked was done or
    /// nothing was needed.
    pub fn exit_code(&self) -> i32 {
        match self.platform_result() {
            Err(e) => e.exit_code(),
            Ok(()) if self.has_failures() => 1,
            Ok(()) => 0,
        }
    }

    /// Every failed action, one line each (`what: error`), transient ones marked: what a
    /// one-shot run prints on standard error whatever channels exist.
    pub fn failures(&self) -> Vec<String> {
        self.standing()
            .into_iter()
            .filter_map(|a| match &a.outcome {
                Outcome::Failed { error, retry } => Some(format!(
                    "FAILED{}: {}: {error}",
                    if *retry == twincloud_core::ports::Retry::Transient {
                        " (transient, will be retried)"
                    } else {
                        ""
                    },
                    a.what
                )),
                _ => None,
            })
            .collect()
    }

    /// Whether any action failed (and was not made good later in the run).
    pub fn has_failures(&self) -> bool {
        self.standing()
            .iter()
            .any(|a| matches!(a.outcome, Outcome::Failed { .. }))
    }

    /// The report for people.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{} ← {} ({} signal(s){})\n",
            self.function,
            self.shape,
            self.results.len(),
            if self.dry_run { ", dry run" } else { "" }
        );
        if self.results.is_empty() {
            out.push_str("  nothing to do: the event carries no signal\n");
        }
        for e in self.executions() {
            out.push('\n');
            out.push_str(&e.plan.describe());
            if e.superseded {
                out.push_str("  → another invocation already handled this change; nothing done\n");
            }
            for a in &e.actions {
                let line = match &a.outcome {
                    Outcome::WouldRun => format!("would run: {}", a.what),
                    Outcome::Done { detail: Some(d) } => format!("done: {} ({d})", a.what),
                    Outcome::Done { detail: None } => format!("done: {}", a.what),
                    Outcome::AlreadyDone { at } => {
                        format!("already done: {} (at {})", a.what, at.to_rfc3339())
                    }
                    Outcome::Skipped { why } => format!("skipped: {} — {why}", a.what),
                    Outcome::Failed { error, retry } => {
                        format!("FAILED ({retry:?}): {} — {error}", a.what)
                    }
                };
                out.push_str(&format!("  → {line}\n"));
            }
        }
        out
    }
}

/// A function with its services, ready to handle events.
pub struct Invoker {
    function: Box<dyn Function>,
    services: Services,
    dry_run: bool,
}

impl Invoker {
    /// Wires a function to its services.
    pub fn new(function: Box<dyn Function>, services: Services, dry_run: bool) -> Self {
        Invoker {
            function,
            services,
            dry_run,
        }
    }

    /// The services (for tests and the CLI).
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// Handles a JSON payload given at the command line or in a file: the person running the
    /// CLI is the caller (their own cloud credentials are what the actions run with).
    pub async fn handle_json(&self, bytes: &[u8]) -> Result<Report, RunError> {
        let decoded = self
            .decoded(decode_json(bytes), || {
                String::from_utf8_lossy(&bytes[..bytes.len().min(EXCERPT)]).into_owned()
            })
            .await?;
        self.handle(decoded.authenticated_by(&cli_caller())).await
    }

    /// Handles a Lambda payload. A payload that is not an event source's envelope came from a
    /// Lambda Invoke (or a rule's constant input), which IAM authorized.
    pub async fn handle_lambda(
        &self,
        payload: serde_json::Value,
        deadline: Option<std::time::Instant>,
    ) -> Result<Report, RunError> {
        let excerpt = || clip(&payload.to_string(), EXCERPT);
        let result = twincloud_core::decode::decode_value(payload.clone());
        let decoded = self.decoded(result, excerpt).await?;
        self.handle_until(decoded.authenticated_by("aws-iam:lambda-invoke"), deadline)
            .await
    }

    /// Handles an HTTP delivery that is not a CloudEvent (Pub/Sub push, Cloud Scheduler, JSON).
    /// `commander` is the account of a verified token in the command allow-list, if any.
    pub async fn handle_http(
        &self,
        req: &HttpRequest,
        commander: Option<&str>,
    ) -> Result<Report, RunError> {
        let decoded = self
            .decoded(decode_http(req), || {
                String::from_utf8_lossy(&req.body[..req.body.len().min(EXCERPT)]).into_owned()
            })
            .await?;
        match commander {
            Some(c) => self.handle(decoded.authenticated_by(c)).await,
            None => self.handle(decoded).await,
        }
    }

    /// Handles a CloudEvent already parsed by the HTTP binding.
    pub async fn handle_cloudevent(
        &self,
        parts: &CloudEventParts,
        raw: serde_json::Value,
    ) -> Result<Report, RunError> {
        let excerpt = || clip(&raw.to_string(), EXCERPT);
        let result = twincloud_core::decode::decode_cloudevent_parts(parts, raw.clone());
        let decoded = self.decoded(result, excerpt).await?;
        self.handle(decoded).await
    }

    /// A decoding result; a refusal is recorded under `rejected/` first.
    async fn decoded(
        &self,
        result: Result<Decoded, twincloud_core::DecodeError>,
        excerpt: impl FnOnce() -> String,
    ) -> Result<Decoded, RunError> {
        match result {
            Ok(d) => Ok(d),
            Err(e) => {
                self.reject("(undecoded)", "", &e.to_string(), excerpt())
                    .await;
                Err(e.into())
            }
        }
    }

    /// Records a permanently refused event (`rejected/<date>/<fingerprint>`): redeliveries of
    /// the same bytes land on the same record. Dry runs record nothing.
    async fn reject(&self, shape: &str, event_id: &str, error: &str, excerpt: String) {
        if self.dry_run {
            return;
        }
        let record =
            crate::audit::Rejection::new(self.function.name(), shape, event_id, error, excerpt);
        tracing::error!(rejected = true, shape, "event refused: {error}");
        crate::audit::write_rejection(self.services.state.as_ref(), &record).await;
    }

    /// Refuses (and records) an event that asks for what only an authenticated caller may: a
    /// command (anyone who can publish to a topic could have written one inside a message), or
    /// a schedule naming a time far from now.
    async fn refuse_unauthenticated(
        &self,
        decoded: &Decoded,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), RunError> {
        // A command is obeyed only from a caller the entry point authenticated: anyone who can
        // publish to a topic could have written one inside a message.
        if let Some((signal, command)) = decoded.signals.iter().find_map(|s| match &s.kind {
            SignalKind::Command(c) if s.origin.caller().is_none() => Some((s, c)),
            _ => None,
        }) {
            let why = format!(
                "command `{}` refused: commands are obeyed only from an authenticated direct call (the CLI, a Lambda Invoke, or an HTTP call whose token's account is in TWINCLOUD_COMMAND_CALLERS), and this one {}",
                clip(&command.command, 64),
                match signal.origin {
                    Origin::Relayed => "was relayed inside a topic, bus or scheduler message",
                    _ => "came from a caller that was not authenticated",
                }
            );
            self.reject(
                decoded.shape.name(),
                &signal.id,
                &why,
                clip(&decoded.raw.to_string(), EXCERPT),
            )
            .await;
            return Err(RunError::Refused(why));
        }
        if let Some(why) = decoded
            .signals
            .iter()
            .find_map(|s| schedule_time_refused(s, now))
        {
            self.reject(
                decoded.shape.name(),
                "",
                &why,
                clip(&decoded.raw.to_string(), EXCERPT),
            )
            .await;
            return Err(RunError::BadEvent(twincloud_core::DecodeError::Field {
                shape: "twincloud.schedule",
                path: "time".into(),
                problem: why,
            }));
        }
        Ok(())
    }

    /// Plans and executes every signal of a decoded event.
    pub async fn handle(&self, decoded: Decoded) -> Result<Report, RunError> {
        self.handle_until(decoded, None).await
    }

    /// [`Invoker::handle`] within a deadline (Lambda's), which long-running functions respect.
    pub async fn handle_until(
        &self,
        decoded: Decoded,
        deadline: Option<std::time::Instant>,
    ) -> Result<Report, RunError> {
        let now = chrono::Utc::now();
        let inv = Invocation::new(now, self.dry_run, deadline);
        // A dry run runs the function's whole path on a state store whose writes are dropped.
        let rehearsal;
        let services = if self.dry_run {
            let mut s = self.services.clone();
            s.state = std::sync::Arc::new(crate::rehearsal::RehearsalState::over(s.state.clone()));
            rehearsal = s;
            &rehearsal
        } else {
            &self.services
        };
        self.refuse_unauthenticated(&decoded, now).await?;
        let mut results = Vec::with_capacity(decoded.signals.len());
        for signal in decoded.signals {
            let span = tracing::info_span!("event", id = %signal.id, shape = %signal.shape, function = self.function.name());
            // Messages an earlier attempt of this event left unsent are sent first, whatever the
            // function decides this time.
            let resumed =
                crate::executor::resume_messages(services, self.function.name(), &signal.id, inv)
                    .await?;
            let mut executions = self
                .function
                .run(&signal, services, inv)
                .instrument(span)
                .await?;
            executions.extend(resumed);
            if executions.is_empty() {
                executions.push(Execution::nothing(self.function.name(), &signal.id));
            }
            let execution = executions.remove(0);
            results.push(SignalResult {
                signal,
                execution,
                followups: executions,
            });
        }
        Ok(Report {
            function: self.function.name().into(),
            shape: decoded.shape.name().into(),
            dry_run: self.dry_run,
            results,
        })
    }
}

/// How far behind now a schedule's time may be: a scheduler's retries of a failed delivery
/// keep the time they were for, within a day.
const SCHEDULE_LATE: chrono::Duration = chrono::Duration::hours(24);

/// How far ahead of now a schedule's time may be (clock skew).
const SCHEDULE_EARLY: chrono::Duration = chrono::Duration::minutes(5);

/// Why a schedule's time is refused: the time names what a run makes (a backup's snapshots),
/// so one that did not come from an authenticated caller must be near now. `None` when it is,
/// or when the caller is authenticated (the CLI may run any schedule's time).
fn schedule_time_refused(
    signal: &twincloud_core::Signal,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<String> {
    // Only twincloud's own schedule input carries a time its sender chose; a provider's
    // scheduled event (`aws.events`) cannot be sent by anyone else.
    let own_input = signal.shape == twincloud_core::decode::Shape::TwincloudInput.name();
    if !matches!(signal.kind, SignalKind::ScheduleTick(_))
        || !own_input
        || signal.origin.caller().is_some()
    {
        return None;
    }
    let t = signal.time?;
    (t > now + SCHEDULE_EARLY || t < now - SCHEDULE_LATE).then(|| {
        format!(
            "schedule time {} is outside a day before to five minutes after now ({}); a schedule that is not an authenticated direct call may name only a time near now",
            t.to_rfc3339(),
            now.to_rfc3339()
        )
    })
}
