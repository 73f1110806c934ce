//! `twincloud demo`: a scripted scenario on the local backend, for a newcomer to see the main
//! job end to end with nothing installed but the binary.

mod backup;
mod budget;
mod failover;
mod readiness;
mod scaling;
mod sync;

use std::path::Path;

use twincloud_core::{Config, Location};
use twincloud_functions::notifier::Notifier;
use twincloud_runtime::{Invoker, Report, Services};

const ALARM: &str = include_str!("../../../events/aws/eventbridge-alarm-state-change.json");
const ALARM_OK: &str = include_str!("../../../events/aws/eventbridge-alarm-ok.json");
const GCP_BUDGET: &str = include_str!("../../../events/gcp/pubsub-billing-budget.push.json");
const COMMAND: &str = include_str!("../../../events/manual/notify-command.json");

struct Step {
    say: &'static str,
    event: String,
    dry_run: bool,
}

/// A re-send of the same alert under a new delivery id, as CloudWatch and billing do.
fn resent(event: &str, field: &[&str], new_id: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(event).unwrap_or_default();
    let mut cur = &mut v;
    for f in field {
        cur = &mut cur[*f];
    }
    *cur = serde_json::Value::String(new_id.into());
    v.to_string()
}

fn steps() -> Vec<Step> {
    vec![
        Step {
            say: "1. A CloudWatch alarm fires on the AWS backup (EventBridge): one message.",
            event: ALARM.into(),
            dry_run: false,
        },
        Step {
            say: "2. The same delivery arrives again (at-least-once): nothing is sent twice.",
            event: ALARM.into(),
            dry_run: false,
        },
        Step {
            say: "3. CloudWatch re-sends the same ALARM state under a new id: suppressed, one message per state change.",
            event: resent(ALARM, &["id"], "d41f3e2a-0000-4000-8000-000000000001"),
            dry_run: false,
        },
        Step {
            say: "4. The alarm returns to OK: a state change, so a message.",
            event: ALARM_OK.into(),
            dry_run: false,
        },
        Step {
            say: "5. A GCP billing budget crosses 90% (Pub/Sub push): a message.",
            event: GCP_BUDGET.into(),
            dry_run: false,
        },
        Step {
            say: "6. Billing re-sends the same threshold an hour later: suppressed.",
            event: resent(GCP_BUDGET, &["message", "messageId"], "8411393932279999"),
            dry_run: false,
        },
        Step {
            say: "7. A person announces maintenance with --dry-run: the plan is printed, nothing is sent.",
            event: COMMAND.into(),
            dry_run: true,
        },
    ]
}

/// Runs the demo in `dir`; returns the exit code.
pub async fn run(dir: &Path, json: bool) -> i32 {
    if dir.exists()
        && let Err(e) = std::fs::remove_dir_all(dir)
    {
        eprintln!("error: cannot empty {}: {e}", dir.display());
        return 1;
    }
    let mut config = Config::local_default();
    config.project.name = "aion (demo)".into();
    config.project.state = Location::Local {
        path: dir.to_path_buf(),
    };
    let clouds = twincloud_runtime::Clouds::default();
    let mut reports: Vec<(String, Report)> = Vec::new();
    for step in steps() {
        let services = match Services::build(config.clone(), &clouds).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                return 1;
            }
        };
        let invoker = Invoker::new(Box::new(Notifier), services, step.dry_run);
        match invoker.handle_json(step.event.as_bytes()).await {
            Ok(r) => {
                if !json {
                    twincloud_runtime::outln!("\n{}\n{}", step.say, indent(&r.to_text()));
                }
                reports.push((step.say.into(), r));
            }
            Err(e) => {
                eprintln!("error in demo step `{}`: {e}", step.say);
                return 1;
            }
        }
    }
    let notifier_messages = std::fs::read_to_string(dir.join("outbox/outbox.jsonl"))
        .unwrap_or_default()
        .lines()
        .count();
    if let Err(e) = failover::run(dir, json, &mut reports).await {
        eprintln!("error in the failover demo: {e}");
        return 1;
    }
    if let Err(e) = sync::run(dir, json, &mut reports).await {
        eprintln!("error in the bucket-sync demo: {e}");
        return 1;
    }
    if let Err(e) = backup::run(dir, json, &mut reports).await {
        eprintln!("error in the backup demo: {e}");
        return 1;
    }
    if let Err(e) = scaling::run(dir, json, &mut reports).await {
        eprintln!("error in the scaling demo: {e}");
        return 1;
    }
    if let Err(e) = budget::run(dir, json, &mut reports).await {
        eprintln!("error in the budget demo: {e}");
        return 1;
    }
    if let Err(e) = readiness::run(dir, json, &mut reports).await {
        eprintln!("error in the readiness demo: {e}");
        return 1;
    }
    let page = match write_page(dir).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error writing the operations page: {e}");
            return 1;
        }
    };
    let outbox = dir.join("outbox/outbox.jsonl");
    let sent = std::fs::read_to_string(&outbox).unwrap_or_default();
    if json {
        let steps: Vec<_> = reports
            .iter()
            .map(|(say, r)| serde_json::json!({"step": say, "report": r}))
            .collect();
        twincloud_runtime::outln!(
            "{}",
            serde_json::json!({"dir": dir, "steps": steps, "messages_sent": sent.lines().count(), "page": page})
        );
        return 0;
    }
    twincloud_runtime::outln!("\nMessages in the outbox ({}):", outbox.display());
    for line in sent.lines() {
        if let Ok(m) = serde_json::from_str::<twincloud_core::Message>(line) {
            twincloud_runtime::outln!("  [{}] {}", m.severity, m.title);
        }
    }
    twincloud_runtime::outln!(
        "\nThe operations page of everything above: {} (what `twincloud status --html FILE` writes); as text: `twincloud status --config {}`.",
        page.display(),
        dir.join("twincloud.toml").display()
    );
    twincloud_runtime::outln!(
        "\n{notifier_messages} messages for 7 deliveries to the notifier, then the failover's, the backup's, the scaling's, the budget guard's and the readiness audit's own reports. State, de-duplication records and the audit trail are under {}/state/; the simulated services, DNS and databases under {}/sim/; the synced bucket under {}/buckets/.\nNext: `twincloud invoke notifier --event events/aws/sns-budget-actual.json`, `twincloud restore local --dir {} --snapshot ID --to aion-db-restored` (says what it would do; --yes does it), and README.md to add Slack, email, SNS or Pub/Sub channels.",
        dir.display(),
        dir.display(),
        dir.display(),
        dir.display()
    );
    0
}

/// Writes the whole demo's configuration to `<dir>/twincloud.toml` (every part's sections under
/// one project; the failover stand-ins are gone, so its URLs point nowhere) and its operations
/// page to `<dir>/status.html`; the page's path.
async fn write_page(dir: &Path) -> Result<std::path::PathBuf, String> {
    let gone = "http://127.0.0.1:9";
    let parts = [
        failover::text(dir, gone, gone),
        sync::text(
            dir,
            &dir.join("uploads"),
            &dir.join("buckets/aion-uploads-replica"),
        ),
        backup::text(dir),
        scaling::text(dir),
        budget::text(dir),
        readiness::SECTION.to_owned(),
    ];
    // Each part starts with the same project and outbox channel: keep the first one's.
    let mut all = String::from(
        "# The demo's configuration: `twincloud status --config` this file shows its records.\n",
    );
    for (i, part) in parts.iter().enumerate() {
        let body = match part.split_once("type = \"outbox\"\n") {
            Some((head, rest)) if i == 0 => format!("{head}type = \"outbox\"\n{rest}"),
            Some((_, rest)) => rest.to_owned(),
            None => part.clone(),
        };
        all.push_str(&body);
    }
    let cfg_path = dir.join("twincloud.toml");
    std::fs::write(&cfg_path, &all).map_err(|e| format!("{}: {e}", cfg_path.display()))?;
    let config = Config::parse(&cfg_path.display().to_string(), &all).map_err(|e| e.to_string())?;
    let state = twincloud_local::LocalStateStore::new(dir);
    let o = twincloud_runtime::overview::gather(&config, &state, chrono::Utc::now()).await;
    let path = dir.join("status.html");
    std::fs::write(&path, twincloud_runtime::overview::render_html(&o))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// Delivers one scheduled tick of a demo step, prints what the function noted, keeps the report.
pub(crate) async fn tick(
    invoker: &twincloud_runtime::Invoker,
    say: &str,
    event: &serde_json::Value,
    json: bool,
    reports: &mut Vec<(String, Report)>,
) -> Result<(), String> {
    let r = invoker
        .handle_json(event.to_string().as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    if !json {
        twincloud_runtime::outln!("\n{say}");
        for note in r.notes() {
            twincloud_runtime::outln!("   {note}");
        }
    }
    reports.push((say.into(), r));
    Ok(())
}

pub(crate) fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("   {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
