//! What the failover function tells people, through the notifier's planner.

use twincloud_core::planner::failover::{self, SwitchInFlight, SwitchKind};
use twincloud_core::signal::{Report, Severity};

use twincloud_runtime::executor::{Execution, Outcome};

pub(super) use twincloud_runtime::report::send_report as report;

fn elapsed(e: &Execution, id: &str) -> Option<u64> {
    e.actions
        .iter()
        .find(|a| a.id == id && matches!(a.outcome, Outcome::Done { .. }))
        .map(|a| a.elapsed_ms)
}

pub(super) fn switch_report(switch: &SwitchInFlight, reason: &str, e: &Execution) -> Report {
    let failed = e
        .actions
        .iter()
        .find(|a| matches!(a.outcome, Outcome::Failed { .. }));
    let verb = match switch.kind {
        SwitchKind::Failover => "Failover",
        SwitchKind::Failback => "Failback",
    };
    let mut fields = timeline(switch, e);
    match failed {
        Some(a) => {
            let Outcome::Failed { error, .. } = &a.outcome else {
                unreachable!("filtered on Failed")
            };
            fields.push(("Failed step".into(), format!("{}: {error}", a.what)));
            // What the provider shows: traffic moved if the DNS change was made.
            let traffic = if elapsed(e, "switch-traffic").is_some() {
                format!("traffic moved to {}, not recorded yet", switch.to)
            } else {
                "traffic unchanged".to_owned()
            };
            Report {
                function: failover::FUNCTION.into(),
                title: format!(
                    "{verb} {} → {} FAILED at `{}`; {traffic}",
                    switch.from, switch.to, a.id
                ),
                summary: format!(
                    "{reason}. The next invocation resumes or abandons the switch; traffic never moves to a side that is not ready."
                ),
                severity: Severity::Critical,
                fields,
                subject: switch.id.clone(),
                state: "failed".into(),
            }
        }
        None => Report {
            function: failover::FUNCTION.into(),
            title: format!(
                "{verb}: traffic moved from {} to {}",
                switch.from, switch.to
            ),
            summary: reason.to_owned(),
            severity: if switch.kind == SwitchKind::Failover {
                Severity::Critical
            } else {
                Severity::Warning
            },
            fields,
            subject: switch.id.clone(),
            state: "done".into(),
        },
    }
}

/// When each step of the switch happened, from the failure's detection.
fn timeline(switch: &SwitchInFlight, e: &Execution) -> Vec<(String, String)> {
    let ms = |id| elapsed(e, id).map_or("—".into(), |m| format!("{m} ms"));
    let decided_to_switched: u64 = ["scale-up", "wait-ready", "switch-traffic"]
        .iter()
        .filter_map(|id| elapsed(e, id))
        .sum();
    let detection = switch
        .started
        .signed_duration_since(switch.detected)
        .num_milliseconds()
        .max(0);
    vec![
        ("Detected".into(), switch.detected.to_rfc3339()),
        (
            "Decided".into(),
            format!(
                "{} ({detection} ms after detection)",
                switch.started.to_rfc3339()
            ),
        ),
        ("Standby scaled".into(), ms("scale-up")),
        ("Standby ready".into(), ms("wait-ready")),
        ("Traffic switched".into(), ms("switch-traffic")),
        (
            "Decision to switch".into(),
            format!("{decided_to_switched} ms"),
        ),
    ]
}
