//! The operations page as one self-contained HTML document: inline CSS and SVG, no script, no
//! external asset, so it reads the same from a laptop on a train as from Cloud Run. The
//! traffic section (sides, health strips, switches) is in `traffic`, the others in `sections`.

mod sections;
mod traffic;

use std::fmt::Write;

use chrono::{DateTime, Utc};
use twincloud_core::planner::failover::SwitchKind;

use super::{Overview, age};

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
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
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
        traffic::failover(&mut h, f, o.generated);
    }
    if let Some(r) = &o.readiness {
        sections::readiness(&mut h, r, o.generated);
    }
    if !o.holds.is_empty() {
        sections::holds(&mut h, &o.holds);
    }
    if !o.backups.is_empty() {
        h.push_str("<section id=\"backups\"><h2>Backups</h2>");
        for b in &o.backups {
            sections::backup(&mut h, b, o.generated);
        }
        h.push_str("</section>");
    }
    if !o.syncs.is_empty() {
        h.push_str("<section id=\"sync\"><h2>Bucket sync</h2>");
        for s in &o.syncs {
            sections::sync(&mut h, s, o.generated);
        }
        h.push_str("</section>");
    }
    if !o.budgets.is_empty() {
        h.push_str("<section id=\"budgets\"><h2>Budgets</h2>");
        for b in &o.budgets {
            sections::budget(&mut h, b);
        }
        h.push_str("</section>");
    }
    if !o.deploys.is_empty() {
        h.push_str("<section id=\"deploys\"><h2>Deploys</h2>");
        for d in &o.deploys {
            sections::deploy(&mut h, d, o.generated);
        }
        h.push_str("</section>");
    }
    if !o.scaling.is_empty() {
        h.push_str("<section id=\"scaling\"><h2>Scaling, last 24 hours</h2>");
        for s in &o.scaling {
            sections::scaling(&mut h, s, o.generated);
        }
        h.push_str("</section>");
    }
    attention(&mut h, o);
    h.push_str("</main></body></html>\n");
    h
}

/// What is worth a look: events refused today, records that could not be read.
fn attention(h: &mut String, o: &Overview) {
    if o.refused_today > 0 || !o.unreadable.is_empty() {
        h.push_str("<section id=\"attention\"><h2>Worth a look</h2><ul>");
        if o.refused_today > 0 {
            let _ = write!(
                h,
                "<li class=\"warn\">{}{} event(s) refused today (records under <code>rejected/{}/</code>)</li>",
                o.refused_today,
                if o.refused_more { " or more" } else { "" },
                o.generated.format("%Y-%m-%d")
            );
        }
        for u in &o.unreadable {
            let _ = write!(h, "<li class=\"bad\">unreadable record: {}</li>", esc(u));
        }
        h.push_str("</ul></section>");
    }
}

pub(super) fn kind(k: SwitchKind) -> &'static str {
    match k {
        SwitchKind::Failover => "failover",
        SwitchKind::Failback => "failback",
    }
}

pub(super) fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

pub(super) fn ago(now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    format!("<span title=\"{}\">{} ago</span>", time(t), age(now, t))
}

pub(super) fn bytes(n: u64) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overview::{DeployView, ServedView};

    #[test]
    fn text_from_records_never_becomes_markup() {
        let evil = "<script>alert(1)</script>\"'&";
        let o = Overview {
            project: evil.into(),
            generated: Utc::now(),
            failover: None,
            backups: vec![],
            syncs: vec![],
            budgets: vec![],
            deploys: vec![DeployView {
                name: evil.into(),
                sides: vec![ServedView {
                    label: evil.into(),
                    cloud: "gcp".into(),
                    serving: Some(evil.into()),
                    phase: Some(evil.into()),
                }],
                rollout: None,
                queued: Some(evil.into()),
            }],
            scaling: vec![],
            holds: vec![],
            readiness: None,
            refused_today: 0,
            refused_more: false,
            unreadable: vec![evil.into()],
        };
        let page = render_html(&o);
        assert!(!page.contains("<script"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;"));
    }
}
