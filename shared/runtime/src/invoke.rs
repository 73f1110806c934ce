//! One invocation: decode, plan each signal, execute, report. Shared by every entry mode.

use serde::Serialize;
use tracing::Instrument;
use twincloud_core::decode::{CloudEventParts, Decoded, HttpRequest};
use twincloud_core::{Signal, decode_http, decode_json};

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
        match self.executions().find_map(Execution::transient_failure) {
            Some(e) => Err(RunError::Transient(e.to_owned())),
            None => Ok(()),
        }
    }

    /// Whether any action failed.
    pub fn has_failures(&self) -> bool {
        self.executions().any(|e| {
            e.actions
                .iter()
                .any(|a| matches!(a.outcome, Outcome::Failed { .. }))
        })
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

    /// Handles a JSON payload (Lambda, CLI, fixture files).
    pub async fn handle_json(&self, bytes: &[u8]) -> Result<Report, RunError> {
        self.handle(decode_json(bytes)?).await
    }

    /// Handles an HTTP delivery that is not a CloudEvent (Pub/Sub push, Cloud Scheduler, JSON).
    pub async fn handle_http(&self, req: &HttpRequest) -> Result<Report, RunError> {
        self.handle(decode_http(req)?).await
    }

    /// Handles a CloudEvent already parsed by the HTTP binding.
    pub async fn handle_cloudevent(
        &self,
        parts: &CloudEventParts,
        raw: serde_json::Value,
    ) -> Result<Report, RunError> {
        self.handle(twincloud_core::decode::decode_cloudevent_parts(parts, raw)?)
            .await
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
        let inv = Invocation {
            now,
            dry_run: self.dry_run,
            deadline,
        };
        let mut results = Vec::with_capacity(decoded.signals.len());
        for signal in decoded.signals {
            let span = tracing::info_span!("event", id = %signal.id, shape = %signal.shape, function = self.function.name());
            let mut executions = self
                .function
                .run(&signal, &self.services, inv)
                .instrument(span)
                .await?;
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
