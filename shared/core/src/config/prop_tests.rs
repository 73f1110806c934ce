//! Any configuration that validates can be run: arbitrary numbers (valid or not) go through
//! validation, and whatever passes is run through the decision code at extreme times.

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;

use super::Config;
use crate::planner::failover::{self, FailoverState, VantageView};
use crate::planner::notify::{self, LastNotified, NotifyObserved};
use crate::planner::retention::retention;
use crate::ports::{Snapshot, SnapshotStatus, Version};

fn text(n: &[i64; 12]) -> String {
    format!(
        r#"[project]
name = "p"

[notify]
dedupe_window_secs = {}
rate_limit_per_minute = {}

[[notify.channels]]
name = "o"
type = "outbox"

[failover]
record = "api."
threshold = {}
recovery_threshold = {}
hold_down_secs = {}
cooldown_secs = {}
probe_interval_secs = {}
probe_window_secs = {}
view_max_age_secs = {}

[[failover.endpoints]]
name = "gcp"
cloud = "gcp"
primary = true
url = "http://127.0.0.1:1"
dns_target = "gcp."
compute = "local"
service = "g"
active_size = {}

[[failover.endpoints]]
name = "aws"
cloud = "aws"
url = "http://127.0.0.1:2"
dns_target = "aws."
compute = "local"
service = "a"

[[backup.sets]]
name = "b"
engine = "local"
databases = ["db"]
retain_days = {}
keep_min = {}
"#,
        n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7], n[8], n[9], n[10], n[11]
    )
}

fn number() -> impl Strategy<Value = i64> {
    prop_oneof![
        0i64..100,
        0i64..100_000,
        Just(i64::MAX),
        Just(i64::from(u32::MAX)),
        Just(-1i64),
        any::<i64>(),
    ]
}

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    prop_oneof![
        Just(DateTime::<Utc>::MIN_UTC),
        Just(DateTime::<Utc>::MAX_UTC),
        (0i64..4_000_000_000).prop_map(|s| Utc.timestamp_opt(s, 0).single().unwrap_or_default()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_valid_configuration_runs_without_panicking(
        n in proptest::array::uniform12(number()),
        now in instant(),
        then in instant(),
    ) {
        let Ok(cfg) = Config::parse("p.toml", &text(&n)) else {
            return Ok(());
        };
        // Notifier: the last report at any time, the same state.
        let signal = crate::Signal {
            id: "e".into(),
            cloud: crate::signal::Cloud::Local,
            shape: "test".into(),
            time: Some(now),
            kind: crate::signal::SignalKind::Command(crate::signal::Command {
                command: "noop".into(),
                args: serde_json::Value::Null,
            }),
            origin: crate::signal::Origin::Payload,
        };
        let observed = NotifyObserved {
            last: Some((
                LastNotified {
                    event_id: "older".into(),
                    state: signal.state_label(),
                    at: then,
                    subject: signal.subject(),
                },
                Version("1".into()),
            )),
            ..Default::default()
        };
        let _ = notify::plan(&signal, &cfg, &observed, now);

        // Failover: a switch at any time, the primary failing now.
        if let Some(f) = &cfg.failover {
            let mut state = FailoverState::initial(f);
            state.last_switch = Some(then);
            let mut view = VantageView { vantage: "v".into(), ..Default::default() };
            for t in [then, now] {
                view.endpoints.entry("gcp".into()).or_default().observe(false, Some("down".into()), t, f.threshold);
                view.endpoints.entry("aws".into()).or_default().observe(true, None, t, f.threshold);
                view.at = Some(t);
            }
            let _ = failover::decide(f, &state, &view, &[], now, None);
        }

        // Retention: snapshots at the extremes of time.
        if let Some(b) = &cfg.backup {
            let snapshots: Vec<Snapshot> = [then, now, DateTime::<Utc>::MIN_UTC]
                .iter()
                .enumerate()
                .map(|(i, t)| Snapshot {
                    id: format!("db-{i}"),
                    database: "db".into(),
                    created: t.to_rfc3339(),
                    status: SnapshotStatus::Available,
                    managed: true,
                    arn: None,
                    cluster: false,
                })
                .collect();
            let _ = retention(&snapshots, &b.sets[0].retention, now);
        }
    }
}
