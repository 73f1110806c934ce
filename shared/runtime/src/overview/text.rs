//! The operations page as compact text, for `twincloud status` in a terminal.

use std::fmt::Write;

use twincloud_core::planner::deploy::{Outcome, Phase, Rollout, short};

use chrono::{DateTime, Utc};

use super::model::{
    BackupSetView, BudgetView, DeployView, FailoverView, ScalingView, SyncPairView,
};
use super::{Overview, age};

/// The sections of the page, a few lines each.
pub fn render_text(o: &Overview) -> String {
    let now = o.generated;
    let mut t = String::new();
    if let Some(f) = &o.failover {
        failover(&mut t, f, now);
    }
    for b in &o.backups {
        backup(&mut t, b, now);
    }
    for s in &o.syncs {
        sync(&mut t, s, now);
    }
    for b in &o.budgets {
        budget(&mut t, b);
    }
    for d in &o.deploys {
        deploy(&mut t, d);
    }
    for s in &o.scaling {
        scaling(&mut t, s, now);
    }
    if let Some(r) = &o.readiness {
        let _ = writeln!(t, "{}", readiness_line(r, now));
        for s in r.findings.values().filter(|s| s.verdict.word() != "ready") {
            let _ = writeln!(t, "  {}: {}: {}", s.rule, s.subject, s.verdict.describe());
        }
    }
    for h in &o.holds {
        let _ = writeln!(t, "hold on {}: {}", h.on, h.hold.describe());
    }
    if o.refused_today > 0 {
        let _ = writeln!(
            t,
            "{}{} event(s) refused today: records under rejected/{}/",
            o.refused_today,
            if o.refused_more { " or more" } else { "" },
            now.format("%Y-%m-%d")
        );
    }
    for u in &o.unreadable {
        let _ = writeln!(t, "unreadable record: {u}");
    }
    if t.is_empty() {
        t.push_str("nothing configured to show\n");
    }
    t
}

/// The record, each side's health and the recent switches.
fn failover(t: &mut String, f: &FailoverView, now: DateTime<Utc>) {
    let _ = writeln!(
        t,
        "record {} → active: {} ({})",
        f.record, f.active, f.dns_target
    );
    for s in &f.sides {
        let h = &s.health;
        let failed_slots = h.strip.iter().filter(|x| x.failed > 0).count();
        let _ = writeln!(
            t,
            "  {:18} {:8} {:10} failures {:>2}  last probe {}  24 h: {} of {} quarter hours with failures  {}",
            s.name,
            if s.primary { "primary" } else { "standby" },
            if h.last_probe.is_none() {
                "unprobed"
            } else if h.healthy {
                "healthy"
            } else {
                "UNHEALTHY"
            },
            h.failures,
            h.last_probe
                .map_or("never".into(), |p| format!("{} ago", age(now, p))),
            failed_slots,
            h.strip.iter().filter(|x| x.ok + x.failed > 0).count(),
            h.last_error.as_deref().unwrap_or(""),
        );
    }
    for s in f.in_flight.iter().chain(f.switches.iter().take(5)) {
        let plus = |x: Option<chrono::DateTime<chrono::Utc>>| {
            x.map_or("-".into(), |x| {
                format!("+{}s", (x - s.detected).num_seconds())
            })
        };
        let _ = writeln!(
            t,
            "  {:?} {} → {}: detected {}, ready {}, DNS {}, {}",
            s.kind,
            s.from,
            s.to,
            s.detected.format("%Y-%m-%d %H:%M:%S"),
            plus(s.scaled),
            plus(s.switched),
            s.finished.map_or("IN PROGRESS".into(), |x| format!(
                "recorded {}",
                plus(Some(x))
            )),
        );
    }
}

/// A backup set and each database's newest good backups.
fn backup(t: &mut String, b: &BackupSetView, now: DateTime<Utc>) {
    let _ = writeln!(
        t,
        "backup {}: {} database(s), {} cop{} queued, {} in progress{}",
        b.name,
        b.databases.len(),
        b.queue.len(),
        if b.queue.len() == 1 { "y" } else { "ies" },
        b.in_progress,
        if b.running { ", running now" } else { "" }
    );
    for d in &b.databases {
        let places: Vec<String> = d
            .places
            .iter()
            .map(|p| {
                format!(
                    "{} {} ({} old{})",
                    p.place,
                    p.id,
                    age(now, p.at),
                    if p.stale { ", STALE" } else { "" }
                )
            })
            .collect();
        let _ = writeln!(
            t,
            "  {:18} {}",
            d.name,
            if places.is_empty() {
                "NO GOOD BACKUP".into()
            } else {
                places.join("; ")
            }
        );
    }
}

/// Each partition of a sync pair.
fn sync(t: &mut String, s: &SyncPairView, now: DateTime<Utc>) {
    for p in &s.partitions {
        let l = p.last.clone().unwrap_or_default();
        let _ = writeln!(
            t,
            "sync {}/{}: last complete pass {}; copied {}, same {}, deleted {}, waiting {}{}{}",
            s.name,
            p.name,
            p.finished
                .map_or("never".into(), |f| format!("{} ago", age(now, f))),
            l.copied,
            l.skipped,
            l.deleted,
            p.waiting(),
            p.cursor
                .as_deref()
                .map_or(String::new(), |c| format!(", resumes after {c}")),
            if p.running { ", running now" } else { "" },
        );
    }
}

/// A budget guard's reading and the steps it took.
fn budget(t: &mut String, b: &BudgetView) {
    let spend = b.spend.as_ref().map_or("no reading yet".into(), |s| {
        format!(
            "{} spent, {} forecast, of {:.2}",
            s.actual.map_or("-".into(), |v| format!("{v:.2}")),
            s.forecast.map_or("-".into(), |v| format!("{v:.2}")),
            s.limit
        )
    });
    let taken: Vec<String> = b
        .steps
        .iter()
        .filter_map(|s| {
            s.taken
                .as_ref()
                .map(|_| format!("{} at {:.0} %", s.action, s.at * 100.0))
        })
        .collect();
    let _ = writeln!(
        t,
        "budget {}: {spend}; steps taken: {}",
        b.name,
        if taken.is_empty() {
            "none".into()
        } else {
            taken.join(", ")
        }
    );
}

/// What each side of a deploy target serves, and its last rollout.
fn deploy(t: &mut String, d: &DeployView) {
    let sides: Vec<String> = d
        .sides
        .iter()
        .map(|s| format!("{} ({}): {}", s.label, s.cloud, s.serving_text()))
        .collect();
    let rollout = d.rollout.as_ref().map_or("no rollout".into(), rollout_text);
    let _ = writeln!(
        t,
        "deploy {}: serving {}; last rollout {rollout}{}",
        d.name,
        sides.join(", "),
        d.queued
            .as_deref()
            .map_or(String::new(), |q| format!("; waiting: {q}"))
    );
}

/// A rollout's digest and how it ended (or stands).
fn rollout_text(r: &Rollout) -> String {
    format!(
        "{} {}",
        short(&r.digest),
        match &r.outcome {
            None => match r.sides.iter().find_map(|s| match &s.phase {
                Phase::RollbackPending { .. } => Some(s.phase.describe()),
                _ => None,
            }) {
                Some(pending) => format!("NOT DEPLOYED: {pending}"),
                None => "IN PROGRESS".into(),
            },
            Some(Outcome::Deployed) => "deployed".into(),
            Some(Outcome::RolledBack { reason }) => format!("ROLLED BACK ({reason})"),
            Some(Outcome::Superseded { by }) => format!("superseded by {}", short(by)),
            Some(Outcome::RollbackFailed { reason }) => {
                format!("ROLLBACK FAILED, a side still runs it ({reason})")
            }
        }
    )
}

/// A scaling service's changes in the last day.
fn scaling(t: &mut String, s: &ScalingView, now: DateTime<Utc>) {
    let made: Vec<_> = s.changes.iter().filter(|c| c.failed.is_none()).collect();
    let last = made.first().map_or("no change in 24 h".into(), |c| {
        format!("{} → {} {} ago", c.from, c.to, age(now, c.at))
    });
    let not_made = s
        .changes
        .iter()
        .find(|c| c.failed.is_some())
        .map_or(String::new(), |c| {
            format!(
                "; NOT MADE: {} → {} ({})",
                c.from,
                c.to,
                c.failed.as_deref().unwrap_or_default()
            )
        });
    let _ = writeln!(
        t,
        "scaling {}: {} change(s) in 24 h, last {last}{not_made}{}",
        s.name,
        made.len(),
        s.hold.as_ref().map_or(String::new(), |h| format!(", {h}"))
    );
}

/// The readiness audit in one line: how many findings stand how, and when it ran.
pub(crate) fn readiness_line(
    r: &twincloud_core::planner::readiness::ReadinessRecord,
    now: DateTime<Utc>,
) -> String {
    let (not_ready, unknown) = r.counts();
    let when = r
        .checked_at
        .map_or(String::new(), |t| format!(" (checked {} ago)", age(now, t)));
    if not_ready + unknown == 0 {
        format!("readiness: all {} finding(s) ready{when}", r.findings.len())
    } else {
        format!(
            "readiness: {not_ready} not ready, {unknown} unknown of {} finding(s){when}",
            r.findings.len()
        )
    }
}
