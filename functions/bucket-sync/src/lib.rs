//! The bucket-sync function: an object event copies (or deletes) just that object; a schedule
//! reconciles every configured pair, partition by partition, each under a lease so that
//! concurrent invocations fan out, resuming from the cursor a previous invocation left when it
//! reached its time limit. Failures and refused deletes are reported through the notifier.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use twincloud_core::Signal;
use twincloud_core::config::{SyncConfig, SyncPair};
use twincloud_core::plan::Plan;
use twincloud_core::ports::{ObjectStore, Retry};
use twincloud_core::signal::{ObjectStoreKind, Report, Severity, SignalKind};

use crate::engine::{SyncOptions, SyncSummary, sync};
use twincloud_runtime::effects::{Effect, Effects};
use twincloud_runtime::error::RunError;
use twincloud_runtime::executor::{Execution, Outcome as ExecOutcome};
use twincloud_runtime::function::{Function, Invocation};
use twincloud_runtime::lease::{self};
use twincloud_runtime::report::send_report;
use twincloud_runtime::services::Services;
use twincloud_runtime::stores::object_store;

pub mod engine;
mod event;

pub use twincloud_core::records::sync::{UnitRecord, unit_key};

use event::on_object;

/// Name in plans, records and logs.
pub const FUNCTION: &str = "bucket-sync";

/// Time kept before the platform's deadline to finish the copies in flight and save the cursor.
const WIND_DOWN: Duration = Duration::from_secs(30);

/// How long a reconcile holds its partition when the platform gives no deadline.
const DEFAULT_LEASE: Duration = Duration::from_secs(15 * 60);

/// The bucket-sync function.
#[derive(Debug, Clone, Copy, Default)]
pub struct BucketSync;

fn sync_config(services: &Services) -> Result<&SyncConfig, RunError> {
    services
        .config
        .sync
        .as_ref()
        .filter(|s| !s.pairs.is_empty())
        .ok_or_else(|| {
            RunError::Config(format!(
                "{}: no [[sync.pairs]] configured",
                services.config.origin
            ))
        })
}

/// Both stores of a pair (cloud contexts are loaded on first use).
async fn stores(
    services: &Services,
    pair: &SyncPair,
) -> Result<(Arc<dyn ObjectStore>, Arc<dyn ObjectStore>), RunError> {
    Ok((
        object_store(&pair.source, &services.clouds).await?,
        object_store(&pair.destination, &services.clouds).await?,
    ))
}

#[async_trait]
impl Function for BucketSync {
    fn name(&self) -> &'static str {
        FUNCTION
    }

    async fn plan(
        &self,
        signal: &Signal,
        services: &Services,
        _now: DateTime<Utc>,
    ) -> Result<Plan, RunError> {
        // Copies are the engine's work, not plan actions; `run` is the entry. A bare plan says
        // what the signal would do.
        let cfg = sync_config(services)?;
        let mut plan = Plan::new(FUNCTION, &signal.id);
        match &signal.kind {
            SignalKind::Object(o) => {
                for (pair, key) in cfg.pairs_for(o.store == ObjectStoreKind::S3, &o.bucket, &o.key)
                {
                    plan.notes
                        .push(format!("would sync `{key}` of pair {}", pair.name));
                }
            }
            SignalKind::ScheduleTick(_) => plan
                .notes
                .push(format!("would reconcile {} pair(s)", cfg.pairs.len())),
            other => plan.notes.push(format!(
                "{} events do not concern bucket sync",
                other.name()
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
        let cfg = sync_config(services)?;
        match &signal.kind {
            SignalKind::Object(o) => on_object(cfg, signal, o, services, inv).await,
            SignalKind::ScheduleTick(_) => reconcile(cfg, signal, services, inv).await,
            SignalKind::Command(c) if c.command == "sync" => {
                reconcile(cfg, signal, services, inv).await
            }
            other => {
                let mut e = Execution::nothing(FUNCTION, &signal.id);
                e.plan.notes.push(format!(
                    "{} events do not concern bucket sync",
                    other.name()
                ));
                Ok(vec![e])
            }
        }
    }
}

/// What a reconcile run gathers across its partitions.
#[derive(Default)]
struct Reconciled {
    notes: Vec<String>,
    problems: Vec<String>,
    /// Stores that do not exist or refuse access: configuration to fix, not a retry.
    unreachable: Vec<String>,
}

async fn reconcile(
    cfg: &SyncConfig,
    signal: &Signal,
    services: &Services,
    inv: Invocation,
) -> Result<Vec<Execution>, RunError> {
    let mut exec = Execution::nothing(FUNCTION, &signal.id);
    // One record per partition pass through the effects handle: thousands of copies cost one
    // write, and a pass with failures is counted in the exit code.
    let mut fx = Effects::new(services, FUNCTION, &signal.id, inv);
    let mut run = Reconciled::default();
    'pairs: for pair in &cfg.pairs {
        let (source, destination) = stores(services, pair).await?;
        for partition in &pair.partitions {
            if !inv.has_time(WIND_DOWN * 2) {
                run.notes.push(format!(
                    "{}: out of time; the remaining partitions wait for the next run",
                    pair.name
                ));
                break 'pairs;
            }
            let ends = (source.clone(), destination.clone());
            pass(
                services, &mut fx, signal, inv, pair, partition, ends, &mut run,
            )
            .await?;
        }
    }
    exec.plan.notes.append(&mut run.notes);
    let mut out = vec![];
    if !run.problems.is_empty() {
        let problems = &run.problems;
        let r = Report {
            function: FUNCTION.into(),
            title: format!("Bucket sync: {} problem(s)", problems.len()),
            summary: problems.join("\n"),
            severity: Severity::Warning,
            fields: vec![("Run".into(), signal.id.clone())],
            subject: "sync:reconcile".into(),
            state: format!(
                "failed:{}",
                twincloud_core::ids::stable_digest(problems.join("").as_bytes())
            ),
        };
        out.push(send_report(services, r, &signal.id, "problems", inv).await?);
    }
    if !run.unreachable.is_empty() {
        // Every other pair was synced (and recorded); the run ends as bad configuration.
        return Err(RunError::Config(format!(
            "{}: check the pair's location and the function's access to it",
            run.unreachable.join("; ")
        )));
    }
    exec.actions.extend(fx.take_reports());
    out.insert(0, exec);
    Ok(out)
}

/// One partition's pass, under its lease: resumed from its cursor, recorded as one effect,
/// its cursor (or its finish) kept for the next run.
#[allow(clippy::too_many_arguments)]
async fn pass(
    services: &Services,
    fx: &mut Effects,
    signal: &Signal,
    inv: Invocation,
    pair: &SyncPair,
    partition: &str,
    (source, destination): (Arc<dyn ObjectStore>, Arc<dyn ObjectStore>),
    run: &mut Reconciled,
) -> Result<(), RunError> {
    let key = unit_key(pair, partition);
    let lease = inv
        .deadline
        .map(|d| d.saturating_duration_since(std::time::Instant::now()))
        .unwrap_or(DEFAULT_LEASE);
    let until = inv.now + chrono::Duration::from_std(lease).unwrap_or_default();
    let taken =
        lease::take::<UnitRecord>(services.state.as_ref(), &key, &signal.id, until, inv.now)
            .await?;
    let Some((mut record, leased)) = taken else {
        run.notes.push(format!(
            "{} [{partition}]: another invocation holds it",
            pair.name
        ));
        return Ok(());
    };
    let opts = SyncOptions {
        concurrency: pair.concurrency,
        deletes: pair.deletes,
        prefix: partition.to_owned(),
        start_after: record.cursor.clone(),
        stop_at: inv
            .deadline
            .map(|d| tokio::time::Instant::from_std(d.checked_sub(WIND_DOWN).unwrap_or(d))),
        ..SyncOptions::default()
    }
    .under(fx);
    let resumed = record.cursor.clone();
    let started = std::time::Instant::now();
    let s = sync(source, destination, opts).await?;
    if let Some(why) = &s.unreachable {
        run.unreachable.push(format!("{}: {why}", pair.name));
    }
    if s.copied + s.deleted + s.failed > 0 {
        record_pass(fx, pair, partition, &key, &s, started).await;
    }
    run.notes
        .push(pass_note(pair, partition, resumed.as_deref(), &s));
    for e in s.errors.iter().take(5) {
        run.problems.push(format!("{}: {e}", pair.name));
    }
    if s.failed > 5 {
        run.problems
            .push(format!("{}: … {} failures in all", pair.name, s.failed));
    }
    if let Some(why) = &s.deletes_refused
        && pair.deletes.enabled
    {
        run.problems.push(format!("{}: {why}", pair.name));
    }
    record.cursor = if s.complete { None } else { s.cursor.clone() };
    if s.complete {
        record.finished = Some(Utc::now());
    }
    record.last = Some(s);
    // Released with the cursor only if the lease is still ours.
    if !lease::release(services.state.as_ref(), &key, record, leased).await? {
        run.notes.push(format!(
            "{}: the lease ran out and another invocation took the partition; its record stands",
            pair.name
        ));
    }
    Ok(())
}

/// A pass that changed something, as one journaled effect (thousands of copies, one write).
async fn record_pass(
    fx: &mut Effects,
    pair: &SyncPair,
    partition: &str,
    key: &str,
    s: &SyncSummary,
    started: std::time::Instant,
) {
    let what = format!(
        "reconcile {} → {} [{}]: {} copied, {} deleted",
        pair.source,
        pair.destination,
        if partition.is_empty() {
            "all"
        } else {
            partition
        },
        s.copied,
        s.deleted
    );
    let outcome = if s.failed == 0 {
        ExecOutcome::Done { detail: None }
    } else {
        ExecOutcome::Failed {
            error: format!("{} object(s) failed", s.failed),
            retry: Retry::Transient,
        }
    };
    fx.record_batch(
        Effect::new(key.replace('/', "-"), what, "scheduled reconcile"),
        outcome,
        serde_json::to_value(s).ok(),
        started,
    )
    .await;
}

/// One line of what a pass did.
fn pass_note(pair: &SyncPair, partition: &str, resumed: Option<&str>, s: &SyncSummary) -> String {
    format!(
        "{} [{}]{}: copied {} ({} bytes), {} unchanged ({} by size only), {} deleted, {} retained, {} failed, {} requests{}",
        pair.name,
        if partition.is_empty() {
            "all"
        } else {
            partition
        },
        resumed
            .map(|c| format!(" from after `{c}`"))
            .unwrap_or_default(),
        s.copied,
        s.bytes,
        s.skipped,
        s.size_only,
        s.deleted,
        s.retained,
        s.failed,
        s.requests,
        s.cursor
            .as_ref()
            .map(|c| format!("; stopped after `{c}`, the next run resumes"))
            .unwrap_or_default()
    )
}

/// Bucket sync.
pub const SPEC: twincloud_runtime::FunctionSpec = twincloud_runtime::FunctionSpec {
    name: FUNCTION,
    summary: "keeps S3, GCS and directory pairs in sync: object events and scheduled reconciles",
    config_section: Some("sync.pairs"),
    triggers: &[
        twincloud_runtime::Trigger::Schedule,
        twincloud_runtime::Trigger::S3Object,
        twincloud_runtime::Trigger::GcsObject,
        twincloud_runtime::Trigger::Command("sync"),
    ],
    access: &[twincloud_runtime::access::SYNC_OBJECTS],
    state: twincloud_runtime::access::StateScope {
        writes: &["sync/"],
        reads: &[],
    },
    wiring: twincloud_runtime::Wiring::NONE,
    make: || Box::new(BucketSync),
};
