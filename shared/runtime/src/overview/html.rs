//! The operations page as one self-contained HTML document: inline CSS and SVG, no script, no
//! external asset, so it reads the same from a laptop on a train as from Cloud Run.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use twincloud_core::planner::deploy::{Outcome, short};
use twincloud_core::planner::failover::{SLOT_MINUTES, SLOTS, SwitchKind};

use super::{
    BackupSetView, BudgetView, DeployView, FailoverView, Overview, ScalingView, SwitchView,
    SyncPairView, age,
};

const STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
header{background:#24292f;color:#fff;padding:12px 24px}
header h1{font-size:18px;margin:0}
header p{margin:2px 0 0;color:#c9d1d9}
main{padding:8px 24px 40px;max-width:1200px}
section{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:12px 16px;margin:14px 0}
h2{font-size:16px;margin:0 0 8px}
h3{font-size:14px;margin:12px 0 4px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:3px 8px;border-bottom:1px solid #eaeef2;vertical-align:top}
th{font-weight:600;color:#57606a}
code{font:12px ui-monospace,monospace}
.ok{color:#1a7f37}.bad{color:#cf222e;font-weight:600}.warn{color:#9a6700}.dim{color:#6e7781}
.active{font-size:18px}
.sides{display:flex;gap:14px;flex-wrap:wrap}
.side{flex:1 1 500px;border:1px solid #d0d7de;border-radius:6px;padding:8px 12px}
.side.is-active{border-color:#1a7f37;box-shadow:0 0 0 1px #1a7f37}
.empty{color:#6e7781;font-style:italic}
svg{display:block}
";

/// The page.
pub fn render_html(o: &Overview) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>twincloud · {p}</title><style>{STYLE}</style></head><body>\
         <header><h1>twincloud · {p}</h1><p>as of {t}</p></header><main>",
        p = esc(&o.project),
        t = time(o.generated),
    );
    if o.is_empty() {
        h.push_str(
            "<section data-test=\"empty\"><h2>Nothing configured</h2><p class=\"empty\">The \
             configuration has no failover, backup, sync, budget, deploy or scaling section: \
             there is nothing to show yet.</p></section>",
        );
    }
    if let Some(f) = &o.failover {
        failover(&mut h, f, o.generated);
    }
    if !o.backups.is_empty() {
        h.push_str("<section id=\"backups\"><h2>Backups</h2>");
        for b in &o.backups {
            backup(&mut h, b, o.generated);
        }
        h.push_str("</section>");
    }
    if !o.syncs.is_empty() {
        h.push_str("<section id=\"sync\"><h2>Bucket sync</h2>");
        for s in &o.syncs {
            sync(&mut h, s, o.generated);
        }
        h.push_str("</section>");
    }
    if !o.budgets.is_empty() {
        h.push_str("<section id=\"budgets\"><h2>Budgets</h2>");
        for b in &o.budgets {
            budget(&mut h, b);
        }
        h.push_str("</section>");
    }
    if !o.deploys.is_empty() {
        h.push_str("<section id=\"deploys\"><h2>Deploys</h2>");
        for d in &o.deploys {
            deploy(&mut h, d, o.generated);
        }
        h.push_str("</section>");
    }
    if !o.scaling.is_empty() {
        h.push_str("<section id=\"scaling\"><h2>Scaling, last 24 hours</h2>");
        for s in &o.scaling {
            scaling(&mut h, s, o.generated);
        }
        h.push_str("</section>");
    }
    if o.refused_today > 0 || !o.unreadable.is_empty() {
        h.push_str("<section id=\"attention\"><h2>Worth a look</h2><ul>");
        if o.refused_today > 0 {
            let _ = write!(
                h,
                "<li class=\"warn\">{} event(s) refused today (records under <code>rejected/{}/</code>)</li>",
                o.refused_today,
                o.generated.format("%Y-%m-%d")
            );
        }
        for u in &o.unreadable {
            let _ = write!(h, "<li class=\"bad\">unreadable record: {}</li>", esc(u));
        }
        h.push_str("</ul></section>");
    }
    h.push_str("</main></body></html>\n");
    h
}

fn failover(h: &mut String, f: &FailoverView, now: DateTime<Utc>) {
    let _ = write!(
        h,
        "<section id=\"traffic\"><h2>Traffic</h2><p class=\"active\"><code>{}</code> → \
         <strong data-test=\"active-side\">{}</strong> <span class=\"dim\">({})</span></p>",
        esc(&f.record),
        esc(&f.active),
        esc(&f.dns_target)
    );
    if let Some(s) = &f.in_flight {
        let _ = write!(
            h,
            "<p class=\"warn\" data-test=\"in-flight\">{} in progress: {} → {} since {}</p>",
            kind(s.kind),
            esc(&s.from),
            esc(&s.to),
            time(s.started)
        );
    }
    h.push_str("<div class=\"sides\">");
    for s in &f.sides {
        let _ = write!(
            h,
            "<div class=\"side{}\" data-test=\"side\" data-side=\"{}\"><h3>{} <span class=\"dim\">{} · {}{}</span></h3>",
            if s.active { " is-active" } else { "" },
            esc(&s.name),
            esc(&s.name),
            esc(&s.cloud),
            if s.primary { "primary" } else { "standby" },
            if s.active { " · serving" } else { "" },
        );
        let hl = &s.health;
        let _ = write!(
            h,
            "<p>{} · last probe {}{}</p>",
            if hl.last_probe.is_none() {
                "<span class=\"dim\">never probed</span>".to_owned()
            } else if hl.healthy {
                "<span class=\"ok\">healthy</span>".to_owned()
            } else {
                format!(
                    "<span class=\"bad\">unhealthy</span> ({} failed in a row)",
                    hl.failures
                )
            },
            hl.last_probe.map_or("-".into(), |t| ago(now, t)),
            hl.last_error.as_deref().map_or(String::new(), |e| format!(
                " · <span class=\"bad\">{}</span>",
                esc(e)
            )),
        );
        strip(h, &hl.strip);
        h.push_str("</div>");
    }
    h.push_str("</div><h3>Switches</h3>");
    if f.switches.is_empty() && f.in_flight.is_none() {
        h.push_str("<p class=\"empty\">No switch recorded.</p>");
    } else {
        h.push_str(
            "<table data-test=\"switches\"><tr><th>kind</th><th>from → to</th><th>detected</th>\
             <th>standby ready</th><th>DNS changed</th><th>recorded</th></tr>",
        );
        for s in f.in_flight.iter().chain(&f.switches) {
            switch_row(h, s);
        }
        h.push_str("</table>");
    }
    h.push_str("</section>");
}

fn switch_row(h: &mut String, s: &SwitchView) {
    let step = |t: Option<DateTime<Utc>>| {
        t.map_or("<span class=\"dim\">-</span>".into(), |t| {
            format!(
                "{} <span class=\"dim\">+{}s</span>",
                time(t),
                (t - s.detected).num_seconds()
            )
        })
    };
    let _ = write!(
        h,
        "<tr><td>{}</td><td>{} → {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        kind(s.kind),
        esc(&s.from),
        esc(&s.to),
        time(s.detected),
        step(s.scaled),
        step(s.switched),
        s.finished
            .map_or("<span class=\"warn\">in progress</span>".into(), |t| step(
                Some(t)
            )),
    );
}

/// The health strip: one bar per quarter hour of the last day, green when every round passed,
/// red when every round failed, amber when mixed, grey when nobody probed.
fn strip(h: &mut String, slots: &[twincloud_core::planner::failover::HealthSlot]) {
    const W: usize = 5;
    let width = SLOTS * W;
    let _ = write!(
        h,
        "<svg width=\"{width}\" height=\"34\" viewBox=\"0 0 {width} 34\" role=\"img\" \
         aria-label=\"probe results, last 24 hours\" data-test=\"strip\">"
    );
    for (i, s) in slots.iter().enumerate() {
        let (fill, what) = match (s.ok, s.failed) {
            (0, 0) => ("#d0d7de", "no probe"),
            (_, 0) => ("#2da44e", "all passed"),
            (0, _) => ("#cf222e", "all failed"),
            _ => ("#d4a72c", "some failed"),
        };
        let _ = write!(
            h,
            "<rect x=\"{}\" y=\"0\" width=\"{}\" height=\"20\" fill=\"{fill}\"><title>{} UTC: {what} ({} ok, {} failed)</title></rect>",
            i * W,
            W - 1,
            s.start.format("%H:%M"),
            s.ok,
            s.failed
        );
    }
    let _ = write!(
        h,
        "<text x=\"0\" y=\"32\" font-size=\"10\" fill=\"#57606a\">-24 h</text>\
         <text x=\"{}\" y=\"32\" font-size=\"10\" fill=\"#57606a\" text-anchor=\"middle\">-12 h</text>\
         <text x=\"{width}\" y=\"32\" font-size=\"10\" fill=\"#57606a\" text-anchor=\"end\">now ({} min slots)</text></svg>",
        width / 2,
        SLOT_MINUTES
    );
}

fn backup(h: &mut String, b: &BackupSetView, now: DateTime<Utc>) {
    let _ = write!(
        h,
        "<h3>{} <span class=\"dim\">stale past {} h{}</span></h3>",
        esc(&b.name),
        b.max_age_hours,
        if b.running { " · running now" } else { "" }
    );
    if b.databases.is_empty() {
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

fn sync(h: &mut String, s: &SyncPairView, now: DateTime<Utc>) {
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

fn budget(h: &mut String, b: &BudgetView) {
    let _ = write!(
        h,
        "<h3>{} <span class=\"dim\">period from {}</span></h3>",
        esc(&b.name),
        esc(b.period.as_deref().unwrap_or("-"))
    );
    match &b.spend {
        None => h.push_str("<p class=\"empty\">No reading yet.</p>"),
        Some(s) => {
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
                "<svg width=\"{W}\" height=\"40\" viewBox=\"0 0 {W} 40\" role=\"img\" aria-label=\"spend against the budget\">\
                 <rect x=\"0\" y=\"6\" width=\"{W}\" height=\"16\" fill=\"#eaeef2\"/>"
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
            for st in &b.steps {
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
    }
    h.push_str(
        "<table data-test=\"budget-steps\"><tr><th>at</th><th>on</th><th>action</th><th>mode</th><th>this period</th></tr>",
    );
    for st in &b.steps {
        let taken = match &st.taken {
            None => "<span class=\"dim\">not taken</span>".to_owned(),
            Some(t) => {
                let changes: Vec<String> = t.changes.iter().map(|c| esc(&c.describe())).collect();
                format!(
                    "<span class=\"bad\">{} {}</span>{}",
                    if t.dry_run {
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

fn deploy(h: &mut String, d: &DeployView, now: DateTime<Utc>) {
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
            esc(s.serving.as_deref().map_or("unknown", shorten)),
            esc(s.phase.as_deref().unwrap_or("-"))
        );
    }
    h.push_str("</table>");
    if let Some(r) = &d.rollout {
        let outcome = match &r.outcome {
            None => {
                "<span class=\"warn\" data-test=\"rollout-in-progress\">in progress</span>".into()
            }
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

fn scaling(h: &mut String, s: &ScalingView, now: DateTime<Utc>) {
    let _ = write!(
        h,
        "<h3>{}{}</h3>",
        esc(&s.name),
        s.cap.map_or(String::new(), |c| format!(
            " <span class=\"warn\">capped at {c} by a budget guard</span>"
        ))
    );
    if s.changes.is_empty() {
        h.push_str("<p class=\"empty\">No change in the last 24 hours.</p>");
        return;
    }
    h.push_str("<table data-test=\"scaling\"><tr><th>when</th><th>change</th><th>why</th></tr>");
    for c in s.changes.iter().take(50) {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{} → {}</td><td>{}</td></tr>",
            ago(now, c.at),
            c.from,
            c.to,
            esc(&c.reason)
        );
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

fn kind(k: SwitchKind) -> &'static str {
    match k {
        SwitchKind::Failover => "failover",
        SwitchKind::Failback => "failback",
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn ago(now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    format!("<span title=\"{}\">{} ago</span>", time(t), age(now, t))
}

/// An image reference with its digest shortened.
fn shorten(s: &str) -> &str {
    match s.find("sha256:") {
        Some(i) => short(&s[i..]),
        None => s,
    }
}

fn bytes(n: u64) -> String {
    match n {
        0 => String::new(),
        n if n < 1024 => format!("{n} B"),
        n if n < 1 << 20 => format!("{:.1} KiB", n as f64 / 1024.0),
        n if n < 1 << 30 => format!("{:.1} MiB", n as f64 / f64::from(1u32 << 20)),
        n => format!("{:.2} GiB", n as f64 / f64::from(1u32 << 30)),
    }
}

/// Escapes text for HTML content and attribute values.
pub(super) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
