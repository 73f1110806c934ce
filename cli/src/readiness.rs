//! `twincloud readiness`: the audit now, read from the providers and the records, printed; it
//! writes nothing (the scheduled function keeps the findings and says their changes).

use chrono::Utc;
use twincloud_core::planner::readiness::Verdict;
use twincloud_runtime::{Clouds, Services, load_config};

/// Prints every finding (text, or JSON with `json`); exit 0 when every one is ready, 1 when
/// one is not ready or unknown (an unreadable thing is never taken as ready), 2 for a
/// configuration that cannot be used.
pub async fn show(config: Option<&str>, json: bool) -> i32 {
    let clouds = Clouds::default();
    let services = match load_config(config, &clouds).await {
        Ok(c) => match Services::build(c, &clouds).await {
            Ok(s) => s,
            Err(e) => return fail(&e),
        },
        Err(e) => return fail(&e),
    };
    let findings = twincloud_functions::readiness::audit(&services, Utc::now()).await;
    let all_ready = findings.iter().all(|f| f.verdict == Verdict::Ready);
    if json {
        let out: Vec<serde_json::Value> = findings
            .iter()
            .map(|f| {
                let mut v = serde_json::to_value(&f.verdict).unwrap_or_default();
                v["rule"] = f.rule.into();
                v["subject"] = f.subject.clone().into();
                v
            })
            .collect();
        twincloud_runtime::outln!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else if findings.is_empty() {
        twincloud_runtime::outln!(
            "nothing to audit: no failover, deploy, backup or sync section in {}",
            services.config.origin
        );
    } else {
        for f in &findings {
            twincloud_runtime::outln!("{:<11} {}: {}", f.rule, f.subject, f.verdict.describe());
        }
    }
    i32::from(!all_ready)
}

fn fail(e: &twincloud_runtime::RunError) -> i32 {
    eprintln!("error: {e}");
    e.exit_code()
}
