//! The readiness part of the demo: after everything above, the audit finds each standby ready;
//! someone lowers the standby's maximum below what the active side runs, and the next audit
//! says so in one message; put back, one message says it is ready again.

use std::path::Path;

use twincloud_core::Config;
use twincloud_core::ports::Compute;
use twincloud_functions::readiness::Readiness;
use twincloud_local::LocalCompute;
use twincloud_runtime::{Clouds, Invoker, Report, Services};

/// The demo's configuration text for this part: the failover pair, audited from the local
/// vantage (the failover demo's probes).
pub(super) fn text(dir: &Path) -> String {
    let gone = "http://127.0.0.1:9";
    format!(
        "{}\n[readiness]\nvantages = [\"local\"]\n",
        super::failover::text(dir, gone, gone)
    )
}

/// Only what this part adds to the demo's whole configuration.
pub(super) const SECTION: &str = "\n[readiness]\nvantages = [\"local\"]\n";

/// Runs the readiness scenario; appends each step's report to `reports`.
pub async fn run(
    dir: &Path,
    json: bool,
    reports: &mut Vec<(String, Report)>,
) -> Result<(), String> {
    let config = Config::parse("(demo readiness config)", &text(dir)).map_err(|e| e.to_string())?;
    let services = Services::build(config, &Clouds::default())
        .await
        .map_err(|e| e.to_string())?;
    let invoker = Invoker::new(Box::new(Readiness), services, false);
    let tick =
        |id: &str| serde_json::json!({"twincloud": "schedule", "name": "readiness", "id": id});
    super::tick(
        &invoker,
        "24. The readiness audit (every 5 minutes): could the standby take over now? Each finding ready: nothing to say.",
        &tick("demo-readiness-1"),
        json,
        reports,
    )
    .await?;
    let compute = LocalCompute::new(dir);
    let err = |e: twincloud_core::ports::PortError| e.message;
    let before = compute.scale("aion-backend-aws").await.map_err(err)?;
    compute
        .create_service("aion-backend-aws", before.desired, Some(1))
        .await
        .map_err(err)?;
    super::tick(
        &invoker,
        "25. Someone lowers the AWS standby's maximum to 1 while GCP runs 2: the next audit says so, once.",
        &tick("demo-readiness-2"),
        json,
        reports,
    )
    .await?;
    compute
        .create_service("aion-backend-aws", before.desired, before.max)
        .await
        .map_err(err)?;
    super::tick(
        &invoker,
        "26. Its maximum is put back: one message says the standby is ready again.",
        &tick("demo-readiness-3"),
        json,
        reports,
    )
    .await
}
