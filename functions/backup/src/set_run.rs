//! What one run of one set did: counts, problems, notes, and its effects (made through the
//! effects handle: journaled, audited, reported). The run and the exports both write to it; it
//! imports neither.

use twincloud_core::planner::backup::BackupProblem;
use twincloud_core::ports::{PortError, Retry};

use super::RunSummary;
use twincloud_runtime::effects::{Acted, Effect, Effects};
use twincloud_runtime::outcome::ActionReport;

/// What a run of one set did.
#[derive(Debug)]
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
    /// The set's name, for notes.
    pub set: String,
    /// Every effect of the run goes through here.
    fx: Effects,
    /// Why the run acts (the set and the run's time), for the journal and the audit trail.
    reason: String,
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

    /// A run of `set` for `signal`; in a dry run its effects only say what they would do.
    pub(super) fn new(
        services: &twincloud_runtime::Services,
        signal: &twincloud_core::Signal,
        set: &str,
        inv: twincloud_runtime::Invocation,
    ) -> Self {
        SetRun {
            summary: RunSummary::default(),
            problems: vec![],
            new_problems: 0,
            notes: vec![],
            held_elsewhere: false,
            transient: None,
            set: set.into(),
            fx: Effects::new(services, super::FUNCTION, &signal.id, inv),
            reason: format!("backup set `{set}`"),
        }
    }

    /// What each effect of the run came to.
    pub(super) fn take_reports(&mut self) -> Vec<ActionReport> {
        self.fx.take_reports()
    }

    /// Runs `call`, the effect `action` on `database`, through the effects handle, and returns
    /// its result; in a dry run notes "would WHAT" and returns `None` without running it, and
    /// an effect an earlier attempt of this event made is noted and not made again (`None`).
    /// Real and dry runs go through the same code up to this point, so a dry run lists exactly
    /// what a real one would do.
    pub(super) async fn effect<T>(
        &mut self,
        database: &str,
        action: String,
        what: String,
        call: impl std::future::Future<Output = Result<T, PortError>>,
    ) -> Option<Result<T, PortError>> {
        self.effect_settled(database, action, what, call, |_, _| None)
            .await
    }

    /// [`SetRun::effect`] for a change whose refusal may mean it is in effect (see
    /// [`Effects::act_settled`]).
    pub(super) async fn effect_settled<T>(
        &mut self,
        database: &str,
        action: String,
        what: String,
        call: impl std::future::Future<Output = Result<T, PortError>>,
        settle: impl Fn(&PortError, bool) -> Option<(T, &'static str)>,
    ) -> Option<Result<T, PortError>> {
        let effect = Effect::new(
            format!("{}-{action}", self.set),
            format!("{database}: {what}"),
            self.reason.clone(),
        );
        match self.fx.act_settled(effect, call, settle).await {
            Acted::Done(v) => Some(Ok(v)),
            Acted::Failed(e) => Some(Err(e)),
            Acted::Would => {
                let set = self.set.clone();
                self.note(&set, format!("{database}: would {what}"));
                None
            }
            Acted::AlreadyDone { .. } => {
                let set = self.set.clone();
                self.note(
                    &set,
                    format!("{database}: {what}: done by an earlier attempt of this run"),
                );
                None
            }
        }
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
