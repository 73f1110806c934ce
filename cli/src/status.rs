//! `twincloud status` and `twincloud failback`.

use twincloud_core::planner::failover::{
    FailoverState, STATE_KEY, STATUS_KEY, VantageView, status_document,
};
use twincloud_core::ports::get_json;
use twincloud_runtime::{Clouds, Services, load_config};

/// Prints the status document; returns the exit code.
pub async fn show(config: Option<&str>, json: bool) -> i32 {
    let clouds = Clouds::default();
    let services = match load_config(config, &clouds).await {
        Ok(c) => match Services::build(c, &clouds).await {
            Ok(s) => s,
            Err(e) => return fail(&e),
        },
        Err(e) => return fail(&e),
    };
    let Some(cfg) = services.config.failover.clone() else {
        eprintln!(
            "error: {}: no [failover] section, so there is no multi-cloud status",
            services.config.origin
        );
        return 2;
    };
    let state = services.state.as_ref();
    // The latest document a probe round wrote; without one (never probed), what the records say.
    let doc = match state.get(STATUS_KEY).await {
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
            status_document(&cfg, &st, &views, chrono::Utc::now())
        }
        Err(e) => {
            eprintln!("error: reading the status: {e}");
            return 75;
        }
    };
    // Events refused today (bad shapes, forged commands): each is a record to read.
    let today = format!(
        "{}{}/",
        twincloud_runtime::audit::REJECTED_PREFIX,
        chrono::Utc::now().format("%Y-%m-%d")
    );
    let refused = state.list(&today).await.map(|k| k.len()).unwrap_or(0);
    if json {
        let mut doc = doc;
        doc["refusedToday"] = refused.into();
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return 0;
    }
    println!(
        "record {} → active: {}",
        cfg.record,
        doc["activeEndpoint"].as_str().unwrap_or("?")
    );
    for e in doc["endpoints"].as_array().into_iter().flatten() {
        println!(
            "  {:18} {:8} {:10} failures {:>2}  last change {}  {}",
            e["name"].as_str().unwrap_or(""),
            if e["isPrimary"] == true {
                "primary"
            } else {
                "standby"
            },
            if e["isHealthy"] == true {
                "healthy"
            } else {
                "UNHEALTHY"
            },
            e["consecutiveFailures"].as_u64().unwrap_or(0),
            e["lastChange"].as_str().unwrap_or("never"),
            e["lastError"].as_str().unwrap_or(""),
        );
    }
    if let Some(f) = doc["inFlight"].as_object() {
        println!(
            "  switch in flight: {} → {} since {}",
            f["from"], f["to"], f["started"]
        );
    }
    for h in doc["history"]
        .as_array()
        .into_iter()
        .flatten()
        .rev()
        .take(5)
    {
        println!(
            "  {} {} → {} at {}",
            h["switch"]["kind"].as_str().unwrap_or(""),
            h["switch"]["from"].as_str().unwrap_or(""),
            h["switch"]["to"].as_str().unwrap_or(""),
            h["finished"].as_str().unwrap_or("")
        );
    }
    if refused > 0 {
        println!("  {refused} event(s) refused today: records under {today}");
    }
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
        Box::new(twincloud_runtime::functions::failover::Failover),
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
    function: &twincloud_runtime::functions::FunctionSpec,
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
