//! `twincloud status` and `twincloud failback`.

use std::path::Path;
use twincloud_core::planner::failover::{
    FailoverState, STATE_KEY, STATUS_KEY, VantageView, status_document,
};
use twincloud_core::ports::get_json;

use chrono::Utc;
use twincloud_runtime::overview;
use twincloud_runtime::{Clouds, Services, load_config};

/// Prints the operations overview (text, or the failover status document as JSON), or writes
/// it as a self-contained HTML page to `html`; returns the exit code.
pub async fn show(config: Option<&str>, json: bool, html: Option<&Path>) -> i32 {
    let clouds = Clouds::default();
    let services = match load_config(config, &clouds).await {
        Ok(c) => match Services::build(c, &clouds).await {
            Ok(s) => s,
            Err(e) => return fail(&e),
        },
        Err(e) => return fail(&e),
    };
    if json {
        return show_json(&services).await;
    }
    let o = overview::gather(&services.config, services.state.as_ref(), Utc::now()).await;
    if let Some(path) = html {
        return match write_page(path, &overview::render_html(&o)) {
            Ok(()) => {
                twincloud_runtime::outln!("wrote {}", path.display());
                0
            }
            Err(e) => {
                eprintln!("error: cannot write {}: {e}", path.display());
                74
            }
        };
    }
    if o.is_empty() {
        eprintln!(
            "error: {}: no [failover] section and no backup, sync, budget, deploy or scaling section either: nothing to show",
            services.config.origin
        );
        return 2;
    }
    twincloud_runtime::out!("{}", overview::render_text(&o));
    0
}

/// Writes the page next to its final name and renames it, so a reader never sees half a page.
fn write_page(path: &Path, page: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("html.partial");
    std::fs::write(&tmp, page)?;
    std::fs::rename(&tmp, path)
}

/// The failover status document, as the probes last wrote it.
async fn show_json(services: &Services) -> i32 {
    let Some(cfg) = services.config.failover.clone() else {
        eprintln!(
            "error: {}: no [failover] section, so there is no multi-cloud status",
            services.config.origin
        );
        return 2;
    };
    let state = services.state.as_ref();
    // The latest document a probe round wrote; without one (never probed), what the records say.
    let mut doc = match state.get(STATUS_KEY).await {
        Ok(Some(v)) => serde_json::from_slice(&v.value).unwrap_or_default(),
        Ok(None) => {
            let st = get_json::<FailoverState>(state, STATE_KEY)
                .await
                .ok()
                .flatten()
                .map(|(s, _)| s)
                .unwrap_or_else(|| FailoverState::initial(&cfg));
            let mut views = Vec::new();
            for key in state.list("failover/vantage/").await.unwrap_or_default() {
                if let Ok(Some((v, _))) = get_json::<VantageView>(state, &key).await {
                    views.push(v);
                }
            }
            status_document(&cfg, &st, &views, Utc::now())
        }
        Err(e) => {
            eprintln!("error: reading the status: {e}");
            return 75;
        }
    };
    let today = format!(
        "{}{}/",
        twincloud_runtime::audit::REJECTED_PREFIX,
        Utc::now().format("%Y-%m-%d")
    );
    doc["refusedToday"] = state.list(&today).await.map_or(0, |k| k.len()).into();
    twincloud_runtime::outln!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    0
}

/// Runs the failover function on a failback command.
pub async fn failback(config: Option<&str>, dry_run: bool, force: bool, json: bool) -> i32 {
    let id = format!("failback-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S"));
    let event = serde_json::json!({
        "twincloud": "command", "command": "failback", "id": id, "args": {"force": force}
    })
    .to_string();
    twincloud_runtime::run_bytes(
        Box::new(twincloud_functions::failover::Failover),
        event.as_bytes(),
        config,
        dry_run,
        json,
    )
    .await
}

/// Runs `function`'s `command` (`deploy`, `rollback`, `budget-restore`) as the person at the
/// terminal.
pub async fn command(
    function: &twincloud_functions::FunctionSpec,
    command: &str,
    args: serde_json::Value,
    config: Option<&str>,
    dry_run: bool,
    json: bool,
) -> i32 {
    let id = format!("{command}-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S"));
    let event = serde_json::json!({
        "twincloud": "command", "command": command, "id": id, "args": args
    })
    .to_string();
    twincloud_runtime::run_bytes(function.build(), event.as_bytes(), config, dry_run, json).await
}

fn fail(e: &twincloud_runtime::RunError) -> i32 {
    eprintln!("error: {e}");
    e.exit_code()
}
