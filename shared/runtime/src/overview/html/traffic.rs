//! The traffic section: the active side, each side's health strip, the switches.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use twincloud_core::planner::failover::{HealthSlot, SLOT_MINUTES, SLOTS};

use super::{ago, esc, kind, time};
use crate::overview::{FailoverView, SwitchView};

pub(super) fn failover(h: &mut String, f: &FailoverView, now: DateTime<Utc>) {
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
fn strip(h: &mut String, slots: &[HealthSlot]) {
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
