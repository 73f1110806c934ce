//! The backup function: a schedule (or a `backup` command) runs one backup set: snapshots of
//! its databases named after the schedule's time, retention in both regions, copies to the
//! disaster-recovery region within the in-flight quota, Cloud SQL exports; it waits for what it
//! started within the invocation's time and leaves the rest to the set's follow-up schedule
//! through the state store (`backup/<set>`), under a lease so that two invocations of one set
//! never act at once. Each run ends with one summary through the notifier.

mod export;
mod postgres;
mod run;
mod set_run;
mod targets;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use twincloud_core::Signal;
use twincloud_core::config::{BackupConfig, BackupEngine, BackupSet};
use twincloud_core::plan::Plan;
use twincloud_core::planner::backup::BackupProblem;
use twincloud_core::signal::{Report, Severity, SignalKind};

use twincloud_runtime::error::RunError;
use twincloud_runtime::executor::Execution;
use twincloud_runtime::function::{Function, Invocation};
use twincloud_runtime::report::send_report;
use twincloud_runtime::services::Services;

pub use postgres::{Restored, check_digest, read_manifest, restore_into};
pub use twincloud_core::records::backup::{
    BackupRecord, DumpRecord, GoodBackup, PendingExport, RunSummary, record_key,
};

/// Name in plans, records and logs.
pub const FUNCTION: &str = "backup";

/// The backup function.
#[derive(Debug, Clone, Copy)]
pub struct Backup {
    /// First wait before looking again at what was started; doubles up to 15 s.
    pub first_poll: Duration,
    /// Longest wait within one invocation when the platform gives no deadline.
    pub max_wait: Duration,
}

impl Default for Backup {
    fn default() -> Self {
        Backup {
            first_poll: Duration::from_millis(200),
            max_wait: Duration::from_secs(10 * 60),
        }
    }
}

/// What a set's run did goes into the execution: its notes, its effects, and each problem
/// as a failed action (a failed, missed, stuck or unverified backup is an error of the run:
/// exit 1, on standard error, not only a line in a message that may go nowhere).
fn said(exec: &mut Execution, set: &BackupSet, r: &mut set_run::SetRun) {
    exec.plan.notes.extend(r.notes.iter().cloned());
    exec.actions.extend(r.take_reports());
    for p in &r.problems {
        exec.actions.push(twincloud_runtime::outcome::ActionReport {
            id: format!("{}-{}", set.name, p.state),
            what: format!("back up set `{}`", set.name),
            reason: format!("{}: {}", p.database, p.state),
            outcome: twincloud_runtime::Outcome::Failed {
                error: p.message.clone(),
                retry: twincloud_core::ports::Retry::Permanent,
            },
            elapsed_ms: 0,
        });
    }
}

/// A provider reading that failed transiently: everything done is recorded, and the platform's
/// retry redoes only what is missing.
fn reading_failed(exec: &mut Execution, t: String) {
    // Everything done is recorded; the platform's retry redoes only what is missing.
    // The report is kept: the transient failure is an outcome in it (exit 75, the
    // platform retries), whether an effect or a reading failed.
    if exec.transient_failure().is_none() {
        exec.actions.push(twincloud_runtime::outcome::ActionReport {
            id: "backup".into(),
            what: "back up".into(),
            reason: "a provider reading failed".into(),
            outcome: twincloud_runtime::Outcome::Failed {
                error: t,
                retry: twincloud_core::ports::Retry::Transient,
            },
            elapsed_ms: 0,
        });
    }
}

fn backup_config(services: &Services) -> Result<&BackupConfig, RunError> {
    services
        .config
        .backup
        .as_ref()
        .filter(|b| !b.sets.is_empty())
        .ok_or_else(|| {
            RunError::Config(format!(
                "{}: no [[backup.sets]] configured",
                services.config.origin
            ))
        })
}

/// The sets a signal asks for, and whether it is a follow-up run.
fn sets_for<'a>(
    cfg: &'a BackupConfig,
    kind: &SignalKind,
) -> Result<Option<(Vec<&'a BackupSet>, bool)>, RunError> {
    let (name, input) = match kind {
        SignalKind::ScheduleTick(t) => (t.name.as_str(), t.input.as_ref()),
        SignalKind::Command(c) if c.command == "backup" => ("", Some(&c.args)),
        _ => return Ok(None),
    };
    let follow_up = input
        .and_then(|i| i.get("follow_up"))
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    let all = input.and_then(|i| i.get("set")).is_none() && name.is_empty();
    if all {
        return Ok(Some((cfg.sets.iter().collect(), follow_up)));
    }
    match cfg.set_for(name, input) {
        Some(s) => Ok(Some((vec![s], follow_up))),
        None => Err(RunError::Permanent(format!(
            "schedule `{name}` names no backup set (sets: {}); name the schedule after a set or give it the input {{\"set\": \"NAME\"}}",
            cfg.sets
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

#[async_trait]
impl Function for Backup {
    fn name(&self) -> &'static str {
        FUNCTION
    }

    async fn plan(
        &self,
        signal: &Signal,
        services: &Services,
        _now: DateTime<Utc>,
    ) -> Result<Plan, RunError> {
        let cfg = backup_config(services)?;
        let mut plan = Plan::new(FUNCTION, &signal.id);
        match sets_for(cfg, &signal.kind)? {
            Some((sets, _)) => plan.notes.extend(
                sets.iter()
                    .map(|s| format!("would back up set `{}`", s.name)),
            ),
            None => plan.notes.push(format!(
                "{} events do not concern backups",
                signal.kind.name()
            )),
        }
        Ok(plan)
    }

    async fn run(
        &self,
        signal: &Signal,
        services: &Services,
        inv: Invocation,
    ) -> Result<Vec<Execution>, RunError> {
        let cfg = backup_config(services)?;
        let mut exec = Execution::nothing(FUNCTION, &signal.id);
        let Some((sets, follow_up)) = sets_for(cfg, &signal.kind)? else {
            exec.plan.notes.push(format!(
                "{} events do not concern backups",
                signal.kind.name()
            ));
            return Ok(vec![exec]);
        };
        // The schedule's time names the snapshots, so a repeated delivery takes none again.
        let run_at = signal.time.unwrap_or(inv.now).with_nanosecond_zero();
        let mut out = vec![];
        let mut transient = None;
        for set in sets {
            let mut r = match &set.engine {
                // The weekly verification run is for logical dumps; snapshots need none.
                _ if postgres::asks_verify(signal)
                    && !matches!(set.engine, BackupEngine::Postgres(_)) =>
                {
                    exec.plan.notes.push(format!(
                        "{}: verification by restore is for engine postgres; nothing done",
                        set.name
                    ));
                    continue;
                }
                BackupEngine::Postgres(pg) => {
                    postgres::run_set(self, set, pg, signal, services, inv, run_at, follow_up)
                        .await?
                }
                _ => run::run_set(self, set, signal, services, inv, run_at, follow_up).await?,
            };
            said(&mut exec, set, &mut r);
            if r.transient.is_some() {
                transient = r.transient.clone();
            }
            if r.held_elsewhere {
                continue;
            }
            // A follow-up that did nothing and found nothing new says nothing (a standing queue
            // or the same problems again are not news).
            let s = &r.summary;
            let quiet =
                follow_up && r.new_problems == 0 && s.started + s.made + s.copied + s.pruned == 0;
            if !quiet {
                out.push(
                    send_report(
                        services,
                        summary_report(
                            set,
                            &r.summary,
                            &r.problems,
                            run_at,
                            follow_up,
                            postgres::asks_verify(signal),
                        ),
                        &signal.id,
                        &set.name,
                        inv,
                    )
                    .await?,
                );
            }
        }
        if let Some(t) = transient {
            reading_failed(&mut exec, t);
        }
        out.insert(0, exec);
        Ok(out)
    }
}

trait WholeSeconds {
    fn with_nanosecond_zero(self) -> Self;
}

impl WholeSeconds for DateTime<Utc> {
    fn with_nanosecond_zero(self) -> Self {
        DateTime::from_timestamp(self.timestamp(), 0).unwrap_or(self)
    }
}

/// The one message a run ends with.
fn summary_report(
    set: &BackupSet,
    s: &RunSummary,
    problems: &[BackupProblem],
    run_at: DateTime<Utc>,
    follow_up: bool,
    verify: bool,
) -> Report {
    // A missed or failed backup is an error; on twincloud's scale that is the top severity,
    // routed like an outage to whoever is on call.
    let severity = if problems.is_empty() {
        Severity::Info
    } else {
        Severity::Critical
    };
    let mut summary = format!(
        "{} made, {} started, {} copied, {} pruned, {} queued, {} failed",
        s.made, s.started, s.copied, s.pruned, s.queued, s.failed
    );
    if s.verified > 0 {
        summary.push_str(&format!(", {} verified", s.verified));
    }
    for p in problems {
        summary.push_str(&format!("\n{}", p.message));
    }
    Report {
        function: FUNCTION.into(),
        title: format!(
            "Backup {}{}: {}",
            set.name,
            if follow_up { " (follow-up)" } else { "" },
            if problems.is_empty() {
                "ok".to_owned()
            } else {
                format!("{} problem(s)", problems.len())
            }
        ),
        summary,
        severity,
        fields: vec![
            ("Run".into(), run_at.to_rfc3339()),
            ("Made".into(), s.made.to_string()),
            ("Copied".into(), s.copied.to_string()),
            ("Pruned".into(), s.pruned.to_string()),
            ("Queued".into(), s.queued.to_string()),
            ("Failed".into(), s.failed.to_string()),
        ],
        subject: format!("set:{}", set.name),
        // A follow-up that only finds the same problems again says nothing new: same state,
        // de-duplicated by the notifier. Any other run's state names its kind, its time and
        // its problems, so a change of outcome (a verification failing at the time of the dump
        // it checks) is never taken for a repeat.
        state: {
            let states: Vec<&str> = problems.iter().map(|p| p.state.as_str()).collect();
            let problems = twincloud_core::ids::stable_digest(states.join("\n").as_bytes());
            if follow_up && s.started + s.made + s.copied + s.pruned == 0 {
                format!("problems:{problems}")
            } else {
                format!(
                    "{}:{}:{problems}",
                    if follow_up {
                        "follow-up"
                    } else if verify {
                        "verify"
                    } else {
                        "run"
                    },
                    run_at.to_rfc3339()
                )
            }
        },
    }
}

/// Database backups.
pub const SPEC: twincloud_runtime::FunctionSpec = twincloud_runtime::FunctionSpec {
    name: FUNCTION,
    summary: "snapshots, copies to the DR region, exports, logical PostgreSQL dumps to both clouds verified by restore, and retention of backup sets",
    config_section: Some("backup.sets"),
    triggers: &[
        twincloud_runtime::Trigger::Schedule,
        twincloud_runtime::Trigger::Command("backup"),
    ],
    access: &[
        twincloud_runtime::access::READ_DATABASES,
        twincloud_runtime::access::SNAPSHOT_DATABASES,
        twincloud_runtime::access::COPY_ENCRYPTED,
        twincloud_runtime::access::LARGE_UPLOADS,
        twincloud_runtime::access::READ_EXPORTS,
    ],
    state: twincloud_runtime::access::StateScope {
        writes: &["backup/"],
        reads: &[],
    },
    wiring: twincloud_runtime::Wiring::NONE,
    make: || Box::new(Backup::default()),
};
