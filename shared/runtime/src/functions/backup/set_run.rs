//! What one run of one set did: counts, problems, notes and the effects waiting for the audit
//! trail. The run and the exports both write to it; it imports neither.

use twincloud_core::planner::backup::BackupProblem;
use twincloud_core::ports::{PortError, Retry};

use super::RunSummary;
use crate::audit::AuditRecord;
use crate::executor::Outcome;

/// What a run of one set did.
#[derive(Debug, Default)]
pub(super) struct SetRun {
    pub summary: RunSummary,
    pub problems: Vec<BackupProblem>,
    /// Problems the previous run had not told about.
    pub new_problems: usize,
    pub notes: Vec<String>,
    /// Another invocation runs this set now.
    pub held_elsewhere: bool,
    /// A transient failure after which the platform should retry the invocation.
    pub transient: Option<String>,
    /// What was done since the last audit write (the run adds the reason when it writes them).
    pub audit: Vec<AuditRecord>,
    /// The set's name, for notes.
    pub set: String,
    /// Say what would be done; do nothing.
    pub dry_run: bool,
}

impl SetRun {
    pub(super) fn note(&mut self, set: &str, text: impl std::fmt::Display) {
        self.notes.push(format!("{set}: {text}"));
    }

    pub(super) fn problem(&mut self, p: BackupProblem) {
        if !self
            .problems
            .iter()
            .any(|x| x.state == p.state && x.database == p.database)
        {
            self.summary.failed += 1;
            self.problems.push(p);
        }
    }

    /// A run of `set`; with `dry_run` its effects only say what they would do.
    pub(super) fn new(set: &str, dry_run: bool) -> Self {
        SetRun {
            set: set.into(),
            dry_run,
            ..SetRun::default()
        }
    }

    /// Runs `call`, the effect `action` on `database` (one audit record, written after the
    /// round), and returns its result; in a dry run notes "would WHAT" and returns `None`
    /// without running it. Real and dry runs go through the same code up to this point, so a
    /// dry run lists exactly what a real one would do.
    pub(super) async fn effect<T>(
        &mut self,
        database: &str,
        action: String,
        what: String,
        call: impl std::future::Future<Output = Result<T, PortError>>,
    ) -> Option<Result<T, PortError>> {
        if self.dry_run {
            let set = self.set.clone();
            self.note(&set, format!("{database}: would {what}"));
            return None;
        }
        let started = std::time::Instant::now();
        let result = call.await;
        self.audit.push(
            AuditRecord::new(
                super::FUNCTION,
                "",
                action,
                format!("{database}: {what}"),
                "",
                outcome(&result),
            )
            .took(started),
        );
        Some(result)
    }

    pub(super) fn port_failure(&mut self, database: &str, what: &str, e: &PortError) {
        if e.retry == Retry::Transient {
            self.transient = Some(format!("{database}: {what}: {}", e.message));
        }
        self.problem(BackupProblem {
            database: database.into(),
            message: format!("{database}: {what} failed: {}", e.message),
            state: format!("error:{what}"),
        });
    }
}

/// A provider call's result as an audit outcome.
fn outcome<T>(result: &Result<T, PortError>) -> Outcome {
    match result {
        Ok(_) => Outcome::Done { detail: None },
        Err(e) => Outcome::Failed {
            error: e.message.clone(),
            retry: e.retry,
        },
    }
}
