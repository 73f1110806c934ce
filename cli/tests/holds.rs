//! The budget guard's holds, as a user meets them through the CLI on the local backend: the
//! standby held at zero stays there when scaling runs, the page says who holds it and until
//! when, a failover still takes over (and says so), and `budget restore` lifts the hold without
//! a conflict.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

const CONFIG: &str = r#"
[[scaling.services]]
name = "backend-gcp"
compute = "local"
service = "backend-gcp"
endpoint = "GCP Cloud Run"
min = 1
max = 10

[[scaling.services]]
name = "backend-aws"
compute = "local"
service = "backend-aws"
endpoint = "AWS Fargate"
min = 1
max = 10
warm_fraction = 0.5

[[budget.guards]]
name = "monthly"
aws_account = "123456789012"
aws_budget = "aion-monthly"

[[budget.guards.steps]]
at = 1.0
action = "standby-to-zero"
mode = "enforce"
"#;

fn setup(dir: &Path) -> String {
    let cfg = dir.join("twincloud.toml");
    std::fs::write(
        &cfg,
        format!(
            "[project]\nname = \"aion\"\nstate = \"{}\"\n\n{}{CONFIG}",
            dir.join("state").display(),
            twincloud_testkit::fixtures::LOCAL_FAILOVER_PAIR
        ),
    )
    .unwrap();
    let sim = dir.join("state/sim");
    std::fs::create_dir_all(sim.join("services")).unwrap();
    std::fs::create_dir_all(sim.join("budgets")).unwrap();
    for (svc, n) in [("backend-gcp", 4), ("backend-aws", 2)] {
        std::fs::write(
            sim.join(format!("services/{svc}.json")),
            format!(r#"{{"desired": {n}, "ready": {n}, "max": null}}"#),
        )
        .unwrap();
    }
    let period = chrono::Utc::now().format("%Y-%m-01");
    std::fs::write(
        sim.join("budgets/aion-monthly.json"),
        format!(
            r#"{{"limit": 10.0, "actual": 10.5, "forecast": 12.0, "period_start": "{period}"}}"#
        ),
    )
    .unwrap();
    cfg.display().to_string()
}

fn twincloud(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_twincloud"))
        .current_dir(dir)
        .env_remove("TWINCLOUD_CONFIG")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn tick(dir: &Path, cfg: &str, function: &str, id: &str) -> String {
    let ev = dir.join(format!("{id}.json"));
    std::fs::write(
        &ev,
        serde_json::json!({"twincloud": "schedule", "name": function, "id": id}).to_string(),
    )
    .unwrap();
    let (code, out) = twincloud(
        dir,
        &[
            "invoke",
            function,
            "--config",
            cfg,
            "--event",
            ev.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}");
    out
}

fn desired(dir: &Path, svc: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join(format!("state/sim/services/{svc}.json"))).unwrap(),
    )
    .unwrap();
    v["desired"].as_u64().unwrap()
}

#[test]
fn the_standby_held_at_zero_stays_there_until_the_guard_lifts_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = setup(d);
    let out = tick(d, &cfg, "budget-guard", "b1");
    assert_eq!(desired(d, "backend-aws"), 0, "{out}");
    // Scaling a minute later: the standby follows the hold, not warm_fraction of the active
    // side (which would put it back at 2).
    let out = tick(d, &cfg, "scaling", "s1");
    assert_eq!(desired(d, "backend-aws"), 0, "{out}");
    assert_eq!(desired(d, "backend-gcp"), 4, "{out}");
    let (code, status) = twincloud(d, &["status", "--config", &cfg]);
    assert_eq!(code, 0, "{status}");
    assert!(
        status.contains(
            "hold on every failover standby: standby held at 0 by budget guard `monthly` since "
        ),
        "{status}"
    );
    assert!(
        status.contains("until the budget period moves on, or `twincloud budget restore monthly`"),
        "{status}"
    );
    // The readiness audit flags the hold (and exits 1), with the command that lifts it.
    let (code, out) = twincloud(d, &["readiness", "--config", &cfg]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("budget hold AWS Fargate: not ready: the standby is standby held at 0 by budget guard `monthly`")
            && out.contains("`twincloud budget restore monthly`"),
        "{out}"
    );
    // The restore lifts the hold and puts the standby back, no conflict; scaling then warms
    // the standby again.
    let (code, out) = twincloud(d, &["budget", "restore", "monthly", "--config", &cfg]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("conflict"), "{out}");
    assert_eq!(desired(d, "backend-aws"), 2, "{out}");
    let (_, status) = twincloud(d, &["status", "--config", &cfg]);
    assert!(!status.contains("hold on"), "{status}");
    let (_, out) = twincloud(d, &["readiness", "--config", &cfg]);
    assert!(out.contains("budget hold AWS Fargate: ready"), "{out}");
}

#[test]
fn a_stop_of_a_service_that_may_not_be_at_zero_is_refused_by_validate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = setup(d);
    let text = std::fs::read_to_string(&cfg).unwrap()
        + "\n[[budget.guards.steps]]\nat = 1.2\naction = \"stop\"\nservices = [\"backend-aws\"]\n";
    std::fs::write(&cfg, text).unwrap();
    let (code, out) = twincloud(d, &["validate", "--config", &cfg]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("`backend-aws` serves a failover side (use `standby-to-zero`)"),
        "{out}"
    );
}
