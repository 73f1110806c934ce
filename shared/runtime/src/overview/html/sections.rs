//! The backup, sync, budget, deploy and scaling sections.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use twincloud_core::planner::deploy::{Outcome, Phase, short};

use super::{ago, bytes, esc, time};
use crate::overview::model::{HoldView, StepView};
use crate::overview::{BackupSetView, BudgetView, DeployView, ScalingView, SyncPairView, age};
use twincloud_core::planner::budget::Spend;
use twincloud_core::records::holds::HoldKind;

pub(super) fn backup(h: &mut String, b: &BackupSetView, now: DateTime<Utc>) {
    let _ = write!(
        h,
        "<h3>{} <span class=\"dim\">stale past {} h{}</span></h3>",
        esc(&b.name),
        b.max_age_hours,
        if b.running { " · running now" } else { "" }
    );
    if b.databases.is_empty() && b.last_run.is_some() {
        h.push_str(
            "<p class=\"empty\">No database seen yet: the next run records each one's newest backup.</p>",
        );
    } else if b.databases.is_empty() {
        h.push_str("<p class=\"empty\">No run recorded yet.</p>");
    } else {
        h.push_str(
            "<table data-test=\"backup-set\"><tr><th>database</th><th>where</th><th>newest good backup</th><th>age</th></tr>",
        );
        for d in &b.databases {
            if d.places.is_empty() {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>-</td><td class=\"bad stale\" data-test=\"stale\">none</td><td class=\"bad stale\">-</td></tr>",
                    esc(&d.name)
                );
            }
            for p in &d.places {
                let class = if p.stale { "bad stale" } else { "ok" };
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td><code>{}</code>{}</td><td class=\"{class}\"{}>{}</td></tr>",
                    esc(&d.name),
                    esc(&p.place),
                    esc(&p.id),
                    d.verified.map_or(String::new(), |v| format!(
                        " <span class=\"dim\">verified {}</span>",
                        ago(now, v)
                    )),
                    if p.stale { " data-test=\"stale\"" } else { "" },
                    age(now, p.at),
                );
            }
        }
        h.push_str("</table>");
    }
    if b.queue.is_empty() {
        h.push_str("<p class=\"dim\">Copy queue empty.");
    } else {
        let _ = write!(
            h,
            "<p class=\"warn\">{} cop{} waiting for a slot, oldest queued {}:",
            b.queue.len(),
            if b.queue.len() == 1 { "y" } else { "ies" },
            ago(now, b.queue.iter().map(|q| q.since).min().unwrap_or(now))
        );
        for q in b.queue.iter().take(10) {
            let _ = write!(h, " <code>{}</code>", esc(&q.id));
        }
    }
    if b.in_progress > 0 {
        let _ = write!(h, " {} still being taken.", b.in_progress);
    }
    if let Some(l) = &b.last_run {
        let _ = write!(
            h,
            " Last run: {} started, {} made, {} copied, {} pruned, {}.",
            l.started,
            l.made,
            l.copied,
            l.pruned,
            if l.failed > 0 {
                format!("<span class=\"bad\">{} failed</span>", l.failed)
            } else {
                "none failed".into()
            }
        );
    }
    h.push_str("</p>");
}

pub(super) fn sync(h: &mut String, s: &SyncPairView, now: DateTime<Utc>) {
    let _ = write!(
        h,
        "<h3>{} <span class=\"dim\">{} → {}</span></h3><table data-test=\"sync-pair\"><tr><th>partition</th>\
         <th>last complete pass</th><th>copied</th><th>same</th><th>deleted</th><th>failed</th><th>waiting</th></tr>",
        esc(&s.name),
        esc(&s.source),
        esc(&s.destination)
    );
    for p in &s.partitions {
        let l = p.last.clone().unwrap_or_default();
        let mut waiting = if p.waiting() > 0 {
            format!("<span class=\"bad\">{}</span>", p.waiting())
        } else {
            "0".into()
        };
        if let Some(c) = &p.cursor {
            let _ = write!(
                waiting,
                " <span class=\"warn\">pass resumes after <code>{}</code></span>",
                esc(c)
            );
        }
        if p.running {
            waiting.push_str(" <span class=\"dim\">(running)</span>");
        }
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{} <span class=\"dim\">{}</span></td><td>{}</td><td>{}</td><td>{}</td><td>{waiting}</td></tr>",
            esc(&p.name),
            p.finished
                .map_or("<span class=\"warn\">never</span>".into(), |t| ago(now, t)),
            l.copied,
            bytes(l.bytes),
            l.skipped,
            l.deleted,
            if l.failed > 0 {
                format!("<span class=\"bad\">{}</span>", l.failed)
            } else {
                "0".into()
            },
        );
    }
    h.push_str("</table>");
}

pub(super) fn budget(h: &mut String, b: &BudgetView) {
    let _ = write!(
        h,
        "<h3>{} <span class=\"dim\">period from {}</span></h3>",
        esc(&b.name),
        esc(b.period.as_deref().unwrap_or("-"))
    );
    match &b.spend {
        None => h.push_str("<p class=\"empty\">No reading yet.</p>"),
        Some(s) => spend_bar(h, s, &b.steps),
    }
    budget_steps(h, &b.steps);
}

/// The spend read, and a bar of it against the budget with the steps' thresholds as ticks.
fn spend_bar(h: &mut String, s: &Spend, steps: &[StepView]) {
    let frac = |v: Option<f64>| v.map(|v| if s.limit > 0.0 { v / s.limit } else { 0.0 });
    let (actual, forecast) = (frac(s.actual), frac(s.forecast));
    let _ = write!(
        h,
        "<p data-test=\"spend\">{} spent, {} forecast, of {:.2} (read {})</p>",
        s.actual.map_or("-".into(), |v| format!("{v:.2}")),
        s.forecast.map_or("-".into(), |v| format!("{v:.2}")),
        s.limit,
        time(s.at)
    );
    // The bar spans 0 to 150 % of the budget; step thresholds are ticks.
    const W: f64 = 600.0;
    let x = |f: f64| (f.clamp(0.0, 1.5) / 1.5 * W).round();
    let _ = write!(
        h,
        "<svg width=\"{}\" height=\"40\" viewBox=\"-16 0 {} 40\" role=\"img\" aria-label=\"spend against the budget\">\
         <rect x=\"0\" y=\"6\" width=\"{W}\" height=\"16\" fill=\"#eaeef2\"/>",
        // Room either side for the labels of ticks at 0 and 150 %.
        W + 32.0,
        W + 32.0
    );
    if let Some(f) = forecast {
        let _ = write!(
            h,
            "<rect x=\"0\" y=\"6\" width=\"{}\" height=\"16\" fill=\"#d4a72c\" opacity=\"0.5\"><title>forecast {:.0} %</title></rect>",
            x(f),
            f * 100.0
        );
    }
    if let Some(f) = actual {
        let fill = if f >= 1.0 { "#cf222e" } else { "#2da44e" };
        let _ = write!(
            h,
            "<rect x=\"0\" y=\"10\" width=\"{}\" height=\"8\" fill=\"{fill}\"><title>spent {:.0} %</title></rect>",
            x(f),
            f * 100.0
        );
    }
    for st in steps {
        let _ = write!(
            h,
            "<line x1=\"{0}\" x2=\"{0}\" y1=\"2\" y2=\"26\" stroke=\"#24292f\"/>\
             <text x=\"{0}\" y=\"38\" font-size=\"10\" text-anchor=\"middle\">{1:.0} %</text>",
            x(st.at),
            st.at * 100.0
        );
    }
    h.push_str("</svg>");
}

/// The ladder: each step's threshold, basis, action, mode and what it did this period.
fn budget_steps(h: &mut String, steps: &[StepView]) {
    h.push_str(
        "<table data-test=\"budget-steps\"><tr><th>at</th><th>on</th><th>action</th><th>mode</th><th>this period</th></tr>",
    );
    for st in steps {
        let taken = match &st.taken {
            None => "<span class=\"dim\">not taken</span>".to_owned(),
            Some(t) => {
                let changes: Vec<String> = t.changes.iter().map(|c| esc(&c.describe())).collect();
                format!(
                    "<span class=\"{}\">{} {}</span>{}",
                    if t.rehearsed { "warn" } else { "bad" },
                    if t.rehearsed {
                        "would have acted"
                    } else {
                        "taken"
                    },
                    time(t.at),
                    if changes.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", changes.join("; "))
                    }
                )
            }
        };
        let _ = write!(
            h,
            "<tr><td>{:.0} %</td><td>{}</td><td>{}</td><td>{}</td><td>{taken}</td></tr>",
            st.at * 100.0,
            esc(&st.basis),
            esc(&st.action),
            esc(&st.mode)
        );
    }
    h.push_str("</table>");
}

pub(super) fn deploy(h: &mut String, d: &DeployView, now: DateTime<Utc>) {
    let _ = write!(
        h,
        "<h3>{}</h3><table data-test=\"deploy-target\"><tr><th>side</th><th>cloud</th><th>serving</th><th>last rollout</th></tr>",
        esc(&d.name)
    );
    for s in &d.sides {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
            esc(&s.label),
            esc(&s.cloud),
            esc(&s.serving_text()),
            esc(s.phase.as_deref().unwrap_or("-"))
        );
    }
    h.push_str("</table>");
    if let Some(r) = &d.rollout {
        let outcome = match &r.outcome {
            None => match r.sides.iter().find_map(|s| match &s.phase {
                Phase::RollbackPending { .. } => Some(s.phase.describe()),
                _ => None,
            }) {
                Some(pending) => format!(
                    "<span class=\"bad\" data-test=\"rollback-pending\">not deployed: {}</span>",
                    esc(&pending)
                ),
                None => "<span class=\"warn\" data-test=\"rollout-in-progress\">in progress</span>"
                    .into(),
            },
            Some(Outcome::Deployed) => "<span class=\"ok\">deployed</span>".into(),
            Some(Outcome::RolledBack { reason }) => format!(
                "<span class=\"bad\" data-test=\"rolled-back\">rolled back: {}</span>",
                esc(reason)
            ),
            Some(Outcome::Superseded { by }) => {
                format!(
                    "<span class=\"dim\">superseded by {}</span>",
                    esc(short(by))
                )
            }
            Some(Outcome::RollbackFailed { reason }) => format!(
                "<span class=\"bad\" data-test=\"rollback-failed\">rollback FAILED, a side still runs it: {}</span>",
                esc(reason)
            ),
        };
        let _ = write!(
            h,
            "<p>Rollout of <code>{}</code> (tag {}, asked by {}) started {}: {outcome}</p>",
            esc(short(&r.digest)),
            esc(&r.tag),
            esc(&r.requested_by),
            ago(now, r.started)
        );
    } else {
        h.push_str("<p class=\"empty\">No rollout recorded.</p>");
    }
    if let Some(q) = &d.queued {
        let _ = write!(h, "<p class=\"warn\">Waiting: {}</p>", esc(q));
    }
}

pub(super) fn scaling(h: &mut String, s: &ScalingView, now: DateTime<Utc>) {
    let _ = write!(
        h,
        "<h3>{}{}</h3>",
        esc(&s.name),
        s.hold.as_ref().map_or(String::new(), |h| format!(
            " <span class=\"warn\">{}</span>",
            esc(h)
        ))
    );
    if s.changes.is_empty() {
        h.push_str("<p class=\"empty\">No change in the last 24 hours.</p>");
        return;
    }
    h.push_str("<table data-test=\"scaling\"><tr><th>when</th><th>change</th><th>why</th></tr>");
    for c in s.changes.iter().take(50) {
        match &c.failed {
            None => {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{} → {}</td><td>{}</td></tr>",
                    ago(now, c.at),
                    c.from,
                    c.to,
                    esc(&c.reason)
                );
            }
            Some(why) => {
                let _ = write!(
                    h,
                    "<tr data-test=\"not-made\"><td>{}</td><td class=\"bad\">{} → {} not made</td><td>{}: {}</td></tr>",
                    ago(now, c.at),
                    c.from,
                    c.to,
                    esc(&c.reason),
                    esc(why)
                );
            }
        }
    }
    h.push_str("</table>");
    if s.changes.len() > 50 {
        let _ = write!(
            h,
            "<p class=\"dim\">and {} earlier.</p>",
            s.changes.len() - 50
        );
    }
}

/// The holds that stand: what each holds, how, who set it, since and until when.
pub(super) fn holds(h: &mut String, holds: &[HoldView]) {
    h.push_str(
        "<section id=\"holds\"><h2>Holds</h2><table data-test=\"holds\">\
         <tr><th>on</th><th>hold</th><th>set by</th><th>since</th><th>until</th></tr>",
    );
    for v in holds {
        let what = match v.hold.kind {
            HoldKind::Cap => format!("at most {}", v.hold.max),
            HoldKind::Stop => "stopped".to_owned(),
            HoldKind::StandbyToZero => "at 0 while standby".to_owned(),
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"warn\">{}{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&v.on),
            esc(&what),
            if v.hold.while_standby && v.hold.kind != HoldKind::StandbyToZero {
                " (lapses while it serves)"
            } else {
                ""
            },
            esc(&v.hold.set_by),
            v.hold.since.map_or(String::new(), time),
            esc(&v.hold.until)
        );
    }
    h.push_str("</table></section>");
}

/// The readiness audit's findings: every rule and subject, its verdict, since when.
pub(super) fn readiness(
    h: &mut String,
    r: &twincloud_core::planner::readiness::ReadinessRecord,
    now: DateTime<Utc>,
) {
    use twincloud_core::planner::readiness::Verdict;
    let (not_ready, unknown) = r.counts();
    let _ = write!(
        h,
        "<section id=\"readiness\"><h2>Readiness</h2><p class=\"{}\">{}</p>",
        if not_ready + unknown > 0 {
            "warn"
        } else {
            "ok"
        },
        esc(&super::super::text::readiness_line(r, now))
    );
    h.push_str(
        "<table data-test=\"readiness\"><tr><th>rule</th><th>subject</th><th>verdict</th><th>since</th></tr>",
    );
    for s in r.findings.values() {
        let class = match s.verdict {
            Verdict::Ready => "ok",
            Verdict::NotReady { .. } => "bad",
            Verdict::Unknown { .. } => "warn",
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"{class}\">{}</td><td>{}</td></tr>",
            esc(&s.rule),
            esc(&s.subject),
            esc(&s.verdict.describe()),
            ago(now, s.since)
        );
    }
    h.push_str("</table></section>");
}
