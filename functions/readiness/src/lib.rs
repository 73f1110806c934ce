//! The readiness audit: every five minutes (and on `twincloud readiness`) it reads what each
//! rule needs from the providers and the records, each read bounded in time (10 s, and 90 s for the whole audit) and a failed one
//! kept as the reason a rule is unknown (never ready), lets the pure rules of
//! `twincloud_core::planner::readiness` judge, keeps the findings in `readiness/state` (a
//! compare-and-swap) and sends one message when any finding changed kind.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use twincloud_core::Signal;
use twincloud_core::config::{BackupEngine, BackupSet, DeployTarget, FailoverConfig, SyncPair};
use twincloud_core::plan::{ComputeRef, Guard, Plan};
use twincloud_core::planner::failover::{FailoverState, STATE_KEY, VantageView, vantage_key};
use twincloud_core::planner::readiness::{
    self as rules, FUNCTION, Finding, RECORD_KEY, ReadinessRecord, Verdict,
};
use twincloud_core::ports::{PortError, Precondition, StateStore, Version, get_json};
use twincloud_core::records::backup::{BackupRecord, record_key as backup_key};
use twincloud_core::records::deploy::DeployState;
use twincloud_core::records::holds::{Hold, STANDBY_HOLD_KEY};
use twincloud_core::records::sync::{UnitRecord, unit_key};
use twincloud_core::signal::{Report, Severity, SignalKind};
use twincloud_runtime::error::RunError;
use twincloud_runtime::executor::{Execution, execute};
use twincloud_runtime::function::{Function, Invocation};
use twincloud_runtime::report::send_report;
use twincloud_runtime::services::{Services, SideRef};

/// The readiness audit.
#[derive(Debug, Clone, Copy, Default)]
pub struct Readiness;

/// How long one provider read may take before its rule is unknown.
const READ_BOUND: Duration = Duration::from_secs(10);

/// How long all of one audit's provider reads may take together (the function's timeout is
/// 120 s): past it, the reads left are unknown rather than the invocation killed.
const AUDIT_BOUND: Duration = Duration::from_secs(90);

/// The time one audit's reads have left.
struct Deadline(tokio::time::Instant);

impl Deadline {
    fn start() -> Self {
        Deadline(tokio::time::Instant::now() + AUDIT_BOUND)
    }

    /// A provider read, bounded by [`READ_BOUND`] and by what the audit has left: its answer,
    /// or why there is none, in words.
    async fn read<T>(&self, read: impl Future<Output = Result<T, PortError>>) -> Result<T, String> {
        let left = self
            .0
            .saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return Err(format!(
                "not read: the audit's {} s ran out first",
                AUDIT_BOUND.as_secs()
            ));
        }
        let bound = left.min(READ_BOUND);
        match tokio::time::timeout(bound, read).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(e.message),
            Err(_) => Err(format!("no answer within {} s", bound.as_secs().max(1))),
        }
    }
}

/// A record (`None` when absent), or why it cannot be read: the rule that needs it is then
/// unknown, never judged on a record it did not see.
async fn record<T: serde::de::DeserializeOwned>(
    state: &dyn StateStore,
    key: &str,
) -> Result<Option<T>, String> {
    get_json::<T>(state, key)
        .await
        .map(|r| r.map(|(v, _)| v))
        .map_err(|e| format!("record `{key}` unreadable: {e}"))
}

/// Every finding of one audit, in a stable order: failover pairs, deploy targets, backup sets,
/// sync pairs, heartbeats.
pub async fn audit(services: &Services, now: DateTime<Utc>) -> Vec<Finding> {
    let cfg = &services.config;
    let deadline = Deadline::start();
    let mut out = vec![];
    if let Some(f) = &cfg.failover {
        out.extend(failover_findings(services, f, &deadline).await);
        out.extend(heartbeats(services, f, now).await);
    }
    for t in cfg.deploy.iter().flat_map(|d| &d.targets) {
        out.extend(deploy_findings(services, t, now, &deadline).await);
    }
    for set in cfg.backup.iter().flat_map(|b| &b.sets) {
        out.push(backup(services, set, now).await);
    }
    for pair in cfg.sync.iter().flat_map(|s| &s.pairs) {
        out.push(sync(services, pair, now).await);
    }
    out
}

/// Capacity and budget holds of every standby, and the failover record's routing.
async fn failover_findings(
    services: &Services,
    f: &FailoverConfig,
    deadline: &Deadline,
) -> Vec<Finding> {
    let state = services.state.as_ref();
    let mut out = vec![];
    let active_name = match record::<FailoverState>(state, STATE_KEY).await {
        Ok(s) => s.unwrap_or_else(|| FailoverState::initial(f)).active,
        Err(why) => {
            // Which side serves is not known: neither is which one is the standby.
            out.push(Finding {
                rule: "capacity",
                subject: "the standby".into(),
                verdict: Verdict::Unknown { why },
            });
            return out;
        }
    };
    let Some(active) = f.endpoint(&active_name) else {
        return out;
    };
    let scale = |name: &str, service: &str| {
        let compute = services
            .compute
            .get(&ComputeRef::Endpoint(name.to_owned()))
            .cloned();
        let service = service.to_owned();
        async move {
            match compute {
                Some(c) => deadline.read(c.scale(&service)).await,
                None => Err("no compute is configured for it".to_owned()),
            }
        }
    };
    let active_scale = scale(&active.name, active.compute.service()).await;
    let hold = record::<Hold>(state, STANDBY_HOLD_KEY).await;
    for standby in f.endpoints.iter().filter(|e| e.name != active.name) {
        let standby_scale = scale(&standby.name, standby.compute.service()).await;
        out.push(Finding {
            rule: "capacity",
            subject: standby.name.clone(),
            verdict: rules::capacity(
                &active.name,
                active_scale.clone().map(|s| s.desired),
                &standby.name,
                standby_scale.map(|s| s.max),
            ),
        });
        let verdict = match &hold {
            Ok(h) => rules::standby_hold(
                h.as_ref().map(Hold::describe),
                &h.as_ref()
                    .map_or(String::new(), |h| restore_command(&h.set_by)),
            ),
            Err(why) => Verdict::Unknown { why: why.clone() },
        };
        out.push(Finding {
            rule: "budget hold",
            subject: standby.name.clone(),
            verdict,
        });
    }
    let routing = match &services.traffic {
        Some(t) => deadline
            .read(t.record(&f.record))
            .await
            .map(|r| r.map(|r| r.ttl)),
        None => Err("no DNS provider is configured here".to_owned()),
    };
    out.push(Finding {
        rule: "routing",
        subject: f.record.clone(),
        verdict: rules::routing(routing, services.config.readiness.max_ttl_secs),
    });
    out
}

/// `twincloud budget restore GUARD` for a hold set by ``budget guard `GUARD` ``.
fn restore_command(set_by: &str) -> String {
    let guard = set_by.split('`').nth(1).unwrap_or("GUARD");
    format!("twincloud budget restore {guard}")
}

/// Each vantage's failover function ticked recently (its view's time).
async fn heartbeats(services: &Services, f: &FailoverConfig, now: DateTime<Utc>) -> Vec<Finding> {
    let r = &services.config.readiness;
    let mut vantages = r.vantages.clone();
    if vantages.is_empty() {
        vantages = f.endpoints.iter().map(|e| e.cloud.to_string()).collect();
        vantages.sort();
        vantages.dedup();
    }
    let mut out = vec![];
    for v in vantages {
        let verdict = match record::<VantageView>(services.state.as_ref(), &vantage_key(&v)).await {
            Ok(view) => rules::heartbeat(view.and_then(|v| v.at), r.heartbeat_max_age_secs, now),
            Err(why) => Verdict::Unknown { why },
        };
        out.push(Finding {
            rule: "heartbeat",
            subject: format!("failover on {v}"),
            verdict,
        });
    }
    out
}

/// Every side of a deploy target serves the same digest, with the same environment names.
async fn deploy_findings(
    services: &Services,
    t: &DeployTarget,
    now: DateTime<Utc>,
    deadline: &Deadline,
) -> [Finding; 2] {
    let mut sides = vec![];
    let mut envs = vec![];
    for (i, side) in t.sides.iter().enumerate() {
        let current = match services.deployers.get(&SideRef::new(&t.name, i)) {
            Some(d) => {
                deadline
                    .read(d.current(side.compute.service(), side.container.as_deref()))
                    .await
            }
            None => Err("no deployer is configured for it".to_owned()),
        };
        envs.push((side.label(), current.clone().map(|d| d.env)));
        sides.push((side.label(), current.map(|d| d.image)));
    }
    let rollout = record::<DeployState>(
        services.state.as_ref(),
        &twincloud_core::planner::deploy::record_key(&t.name),
    )
    .await
    // Unreadable: taken as no rollout in flight, so a difference is flagged, not excused.
    .ok()
    .flatten()
    .and_then(|s| s.record.rollout)
    .filter(|r| r.in_flight())
    .map(|r| r.started);
    [
        Finding {
            rule: "same code",
            subject: format!("deploy {}", t.name),
            verdict: rules::same_code(
                &sides,
                rollout,
                services.config.readiness.max_digest_lag_secs,
                now,
            ),
        },
        Finding {
            rule: "config parity",
            subject: format!("deploy {}", t.name),
            verdict: rules::config_parity(&envs),
        },
    ]
}

/// The set's newest backups are fresh, and a dump set's verified.
async fn backup(services: &Services, set: &BackupSet, now: DateTime<Utc>) -> Finding {
    let subject = format!("backup {}", set.name);
    let rec = match record::<BackupRecord>(services.state.as_ref(), &backup_key(&set.name)).await {
        Ok(r) => r.unwrap_or_default(),
        Err(why) => {
            return Finding {
                rule: "backup",
                subject,
                verdict: Verdict::Unknown { why },
            };
        }
    };
    let newest: BTreeMap<String, DateTime<Utc>> = rec
        .newest
        .iter()
        .filter_map(|(db, places)| places.iter().map(|p| p.at).max().map(|t| (db.clone(), t)))
        .collect();
    let (verified, max_unverified) = match &set.engine {
        BackupEngine::Postgres(pg) if pg.verify_url.is_some() => (
            Some(
                set.databases
                    .iter()
                    .map(|db| (db.clone(), rec.dumps.get(db).and_then(|d| d.last_verified)))
                    .collect::<BTreeMap<_, _>>(),
            ),
            pg.max_unverified_days,
        ),
        _ => (None, 0),
    };
    Finding {
        rule: "backup",
        subject,
        verdict: rules::backup(
            &newest,
            verified.as_ref(),
            set.max_age_hours,
            max_unverified,
            now,
            &format!(
                "twincloud invoke backup --event FILE` with the command `{{\"command\": \"backup\", \"args\": {{\"set\": \"{}\"}}}}",
                set.name
            ),
        ),
    }
}

/// The pair's partitions all passed recently, with no failure waiting.
async fn sync(services: &Services, pair: &SyncPair, now: DateTime<Utc>) -> Finding {
    let partitions: Vec<&str> = if pair.partitions.is_empty() {
        vec![""]
    } else {
        pair.partitions.iter().map(String::as_str).collect()
    };
    let mut finished = vec![];
    let mut failed = 0;
    for p in partitions {
        let rec = match record::<UnitRecord>(services.state.as_ref(), &unit_key(pair, p)).await {
            Ok(r) => r.unwrap_or_default(),
            Err(why) => {
                return Finding {
                    rule: "sync",
                    subject: format!("sync {}", pair.name),
                    verdict: Verdict::Unknown { why },
                };
            }
        };
        failed += rec.last.as_ref().map_or(0, |s| s.failed);
        finished.push(rec.finished);
    }
    // The oldest partition's pass; none when a partition never finished one.
    let oldest = finished
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .and_then(|v| v.into_iter().min());
    Finding {
        rule: "sync",
        subject: format!("sync {}", pair.name),
        verdict: rules::sync(
            oldest,
            failed,
            services.config.readiness.sync_max_age_hours,
            now,
        ),
    }
}

/// The audit's last findings and the version to write over.
async fn load(services: &Services) -> Result<(ReadinessRecord, Option<Version>), RunError> {
    Ok(
        match get_json::<ReadinessRecord>(services.state.as_ref(), RECORD_KEY)
            .await
            .map_err(twincloud_runtime::lease::state_error)?
        {
            Some((r, v)) => (r, Some(v)),
            None => (ReadinessRecord::default(), None),
        },
    )
}

/// One audit: judged, kept (a compare-and-swap: a concurrent audit's record is not
/// overwritten, and its message is not sent twice), and its changes said once.
async fn run_audit(
    services: &Services,
    signal: &Signal,
    inv: Invocation,
) -> Result<Vec<Execution>, RunError> {
    let findings = audit(services, inv.now).await;
    let (previous, version) = load(services).await?;
    let (record, changes) = rules::settle(&previous, findings, inv.now);
    let mut plan = Plan::new(FUNCTION, &signal.id);
    plan.notes = record
        .findings
        .values()
        .map(|s| format!("{}: {}: {}", s.rule, s.subject, s.verdict.describe()))
        .collect();
    if plan.notes.is_empty() {
        plan.notes
            .push("nothing to audit: no failover, deploy, backup or sync section".into());
    }
    plan.guard = Some(Guard::claim(
        RECORD_KEY,
        version.map_or(Precondition::Absent, Precondition::Matches),
        serde_json::to_value(&record).unwrap_or_default(),
        "keep the audit's findings",
    ));
    let exec = execute(services, plan, inv).await?;
    if exec.superseded || changes.is_empty() {
        return Ok(vec![exec]);
    }
    let (title, summary, worse) = rules::message(&changes);
    let (not_ready, unknown) = record.counts();
    let report = Report {
        function: FUNCTION.into(),
        title,
        summary,
        severity: if worse {
            Severity::Warning
        } else {
            Severity::Notice
        },
        fields: vec![
            ("Not ready".into(), not_ready.to_string()),
            ("Unknown".into(), unknown.to_string()),
        ],
        subject: "readiness".into(),
        state: changes
            .iter()
            .map(|c| format!("{}={}", c.finding.key(), c.finding.verdict.word()))
            .collect::<Vec<_>>()
            .join(";"),
    };
    let sent = send_report(services, report, &signal.id, "changes", inv).await?;
    Ok(vec![exec, sent])
}

#[async_trait]
impl Function for Readiness {
    fn name(&self) -> &'static str {
        FUNCTION
    }

    async fn plan(
        &self,
        signal: &Signal,
        services: &Services,
        now: DateTime<Utc>,
    ) -> Result<Plan, RunError> {
        let mut plan = Plan::new(FUNCTION, &signal.id);
        if audits(signal) {
            plan.notes = audit(services, now)
                .await
                .iter()
                .map(|f| format!("{}: {}", f.key(), f.verdict.describe()))
                .collect();
        } else {
            plan.notes.push(format!(
                "{} events do not concern readiness",
                signal.kind.name()
            ));
        }
        Ok(plan)
    }

    async fn run(
        &self,
        signal: &Signal,
        services: &Services,
        inv: Invocation,
    ) -> Result<Vec<Execution>, RunError> {
        if !audits(signal) {
            return Ok(vec![Execution::noted(
                FUNCTION,
                &signal.id,
                format!("{} events do not concern readiness", signal.kind.name()),
            )]);
        }
        run_audit(services, signal, inv).await
    }
}

/// Whether `signal` asks for an audit: the schedule, or the `readiness` command.
fn audits(signal: &Signal) -> bool {
    match &signal.kind {
        SignalKind::ScheduleTick(_) => true,
        SignalKind::Command(c) => c.command == "readiness",
        _ => false,
    }
}

/// The readiness audit.
pub const SPEC: twincloud_runtime::FunctionSpec = twincloud_runtime::FunctionSpec {
    name: FUNCTION,
    summary: "whether each standby could take over now, rule by rule, said once per change",
    config_section: Some("readiness"),
    triggers: &[twincloud_runtime::Trigger::Schedule],
    access: &[
        twincloud_runtime::access::READ_CAPACITY,
        twincloud_runtime::access::READ_REVISIONS,
        twincloud_runtime::access::READ_DNS,
    ],
    state: twincloud_runtime::access::StateScope {
        writes: &["readiness/"],
        reads: &["failover/", "holds/", "deploy/", "backup/", "sync/"],
    },
    wiring: twincloud_runtime::Wiring::ENDPOINTS
        .and(twincloud_runtime::Wiring::TRAFFIC)
        .and(twincloud_runtime::Wiring::RELEASES),
    make: || Box::new(Readiness),
};

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_read_that_never_answers_is_unknown_and_the_audit_bounds_the_rest() {
        let soon = Deadline(tokio::time::Instant::now() + Duration::from_millis(50));
        let never = std::future::pending::<Result<u32, PortError>>();
        let e = soon.read(never).await.unwrap_err();
        assert!(e.starts_with("no answer within"), "{e}");
        let spent = Deadline(tokio::time::Instant::now());
        let e = spent
            .read(async { Ok::<u32, PortError>(1) })
            .await
            .unwrap_err();
        assert!(e.contains("the audit's 90 s ran out first"), "{e}");
        assert_eq!(
            Deadline::start()
                .read(async { Ok::<u32, PortError>(1) })
                .await,
            Ok(1)
        );
    }
}
