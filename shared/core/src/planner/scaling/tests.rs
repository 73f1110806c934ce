use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;

use super::*;
use crate::config::{Config, ScalingService};

fn policy(extra: &str) -> ScalingService {
    let text = format!(
        r#"[project]
name = "x"

[[scaling.services]]
name = "backend"
compute = "local"
service = "backend"
min = 2
max = 10
targets = {{ cpu = 70 }}
cooldown_out_secs = 60
cooldown_in_secs = 300
stabilization_secs = 300
max_step = 4
{extra}
"#
    );
    let c = Config::parse("t.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    c.scaling.expect("scaling").services.remove(0)
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 10, 0, 0)
        .single()
        .expect("time")
}

fn inputs<'a>(
    p: &'a ScalingService,
    record: &'a ScalingRecord,
    now: DateTime<Utc>,
    current: u32,
    metrics: &'a [(Metric, f64)],
) -> ScalingInputs<'a> {
    ScalingInputs {
        policy: p,
        now,
        event_id: "tick",
        current,
        metrics,
        step_add: 0,
        role: Role::Alone,
        switching: false,
        carried: None,
        cap: None,
        record,
        unfinished: false,
    }
}

#[test]
fn target_tracking_scales_out_by_the_ratio_within_the_step_limit() {
    let p = policy("");
    let r = ScalingRecord::default();
    let d = decide(&inputs(&p, &r, t0(), 2, &[(Metric::Cpu, 140.0)]));
    assert_eq!(d.set, Some(4), "{}", d.reason);
    assert!(d.reason.contains("cpu at 140.0"), "{}", d.reason);
    let d = decide(&inputs(&p, &r, t0(), 4, &[(Metric::Cpu, 280.0)]));
    assert_eq!(d.set, Some(8), "16 wanted, 4 at most per step");
}

#[test]
fn within_the_tolerance_band_nothing_changes() {
    let p = policy("");
    let r = ScalingRecord::default();
    for cpu in [64.0, 70.0, 76.0] {
        assert_eq!(
            decide(&inputs(&p, &r, t0(), 4, &[(Metric::Cpu, cpu)])).set,
            None
        );
    }
}

#[test]
fn a_scale_in_waits_for_the_stabilization_window_and_the_cooldown() {
    let p = policy("");
    let mut r = ScalingRecord::default();
    let d = decide(&inputs(&p, &r, t0(), 4, &[(Metric::Cpu, 140.0)]));
    assert_eq!(d.set, Some(8));
    r = d.record;
    // Quiet right after: the cooldown and the window hold it.
    let quiet = [(Metric::Cpu, 20.0)];
    let mut i = inputs(&p, &r, t0() + chrono::Duration::seconds(120), 8, &quiet);
    i.event_id = "tick-2";
    let d = decide(&i);
    assert_eq!(d.set, None, "{}", d.reason);
    r = d.record;
    // After the window, the highest recent recommendation is low: scale in, by max_step.
    let mut i = inputs(&p, &r, t0() + chrono::Duration::seconds(420), 8, &quiet);
    i.event_id = "tick-3";
    let d = decide(&i);
    assert_eq!(d.set, Some(4), "{}", d.reason);
    // Both changes are kept for the operations page, holds are not.
    let kept: Vec<(u32, u32)> = d.record.changes.iter().map(|c| (c.from, c.to)).collect();
    assert_eq!(kept, [(4, 8), (8, 4)]);
    // A day later the old ones are gone.
    let mut i = inputs(
        &p,
        &d.record,
        t0() + chrono::Duration::days(2),
        4,
        &[(Metric::Cpu, 140.0)],
    );
    i.event_id = "tick-4";
    let d = decide(&i);
    assert_eq!(d.record.changes.len(), 1, "{:?}", d.record.changes);
}

#[test]
fn the_standby_follows_a_share_of_the_active_side() {
    let p = policy("warm_fraction = 0.25");
    let r = ScalingRecord::default();
    let mut i = inputs(&p, &r, t0(), 2, &[]);
    i.role = Role::Standby {
        active_capacity: 40,
    };
    let d = decide(&i);
    assert_eq!(d.set, Some(6), "10 wanted, 4 per step: {}", d.reason);
    i.role = Role::Standby { active_capacity: 4 };
    assert_eq!(decide(&i).set, None, "never below min 2");
    // A switch in flight to it: the standby takes the active side's whole capacity.
    i.role = Role::Standby { active_capacity: 5 };
    i.switching = true;
    let d = decide(&i);
    assert_eq!(d.set, Some(5), "{}", d.reason);
}

#[test]
fn nothing_scales_down_during_a_switch_and_a_new_active_side_starts_from_the_carried_load() {
    let p = policy("");
    let r = ScalingRecord::default();
    let mut i = inputs(&p, &r, t0(), 8, &[(Metric::Cpu, 10.0)]);
    i.switching = true;
    assert_eq!(decide(&i).set, None);
    let mut i = inputs(&p, &r, t0(), 2, &[]);
    i.role = Role::Active;
    i.carried = Some(6);
    let d = decide(&i);
    assert_eq!(d.set, Some(6), "{}", d.reason);
    assert!(d.reason.contains("carried 6"));
}

#[test]
fn caps_windows_steps_and_redeliveries() {
    let p = policy(
        "steps = [{ alarm = \"cpu-high\", add = 2 }]\nschedules = [{ cron = \"0 8 * * *\", hours = 10, timezone = \"Europe/Berlin\", min = 5 }]",
    );
    let r = ScalingRecord::default();
    // 10:00 UTC is 11:00 in Berlin: the 08:00 window is open; the floor is 5.
    let d = decide(&inputs(&p, &r, t0(), 2, &[]));
    assert_eq!(d.set, Some(5), "{}", d.reason);
    let mut i = inputs(&p, &r, t0(), 5, &[]);
    i.step_add = 2;
    i.cap = Some(6);
    let d = decide(&i);
    assert_eq!(d.set, Some(6), "7 wanted, capped at 6: {}", d.reason);
    let again = decide(&ScalingInputs {
        record: &d.record,
        current: 6,
        ..i
    });
    assert_eq!(again.set, None, "the same event twice changes nothing");
    // Its change failed (the journal says so): the redelivery makes it, once.
    let redo = decide(&ScalingInputs {
        record: &d.record,
        current: 5,
        unfinished: true,
        ..i
    });
    assert_eq!(redo.set, Some(6), "{}", redo.reason);
    assert_eq!(
        redo.record, d.record,
        "finishing a decision records nothing new"
    );
    let done = decide(&ScalingInputs {
        record: &d.record,
        current: 6,
        unfinished: true,
        ..i
    });
    assert_eq!(
        done.set,
        Some(6),
        "in effect already (its answer was lost): stated again, so the journal and the report finish: {}",
        done.reason
    );
    // A later decision superseded it: the old one is not replayed.
    let mut later = d.record.clone();
    later.applied.push("tick-2".into());
    later.changes.push(ScalingChange {
        event: Some("tick-2".into()),
        to: 5,
        ..d.record.changes[0].clone()
    });
    let stale = decide(&ScalingInputs {
        record: &later,
        current: 5,
        unfinished: true,
        ..i
    });
    assert_eq!(stale.set, None, "{}", stale.reason);
}

/// A metric series: the planner's decisions applied one minute after another.
fn replay(
    p: &ScalingService,
    cpu: impl Fn(u32) -> f64,
    minutes: u32,
    cap: Option<u32>,
) -> Vec<u32> {
    let mut record = ScalingRecord::default();
    let mut current = p.min;
    let mut out = Vec::new();
    for m in 0..minutes {
        let now = t0() + chrono::Duration::minutes(i64::from(m));
        let id = format!("tick-{m}");
        let metrics = [(Metric::Cpu, cpu(m))];
        let mut i = inputs(p, &record, now, current, &metrics);
        i.event_id = &id;
        i.cap = cap;
        let d = decide(&i);
        if let Some(n) = d.set {
            current = n;
        }
        record = d.record;
        out.push(current);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Under an oscillating load the service does not flap: a scale-in needs the cooldown (300 s)
    /// after any change, so at most 12 an hour, and the direction turns at most 24 times an
    /// hour however fast the load swings (a planner without the cooldown would turn every
    /// minute).
    #[test]
    fn an_oscillating_metric_does_not_flap(period in 2u32..30, low in 10.0f64..60.0, high in 80.0f64..200.0) {
        let p = policy("");
        let series = replay(&p, |m| if (m / period) % 2 == 0 { low } else { high }, 24 * 60, None);
        let moves: Vec<i64> = series
            .windows(2)
            .filter(|w| w[0] != w[1])
            .map(|w| i64::from(w[1]) - i64::from(w[0]))
            .collect();
        let scale_ins = moves.iter().filter(|d| **d < 0).count();
        let turns = moves.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
        prop_assert!(scale_ins <= 24 * 12, "{scale_ins} scale-ins in a day");
        prop_assert!(turns <= 24 * 24 + 1, "{turns} turns in a day");
    }

    /// Whatever the readings, steps, windows, caps and records: never below the floor, never
    /// above max or a cap at or above the floor, and never more than max_step at once.
    #[test]
    fn the_bounds_hold_for_any_sequence(
        readings in proptest::collection::vec((0.0f64..500.0, 0u32..5, any::<bool>(), proptest::option::of(0u32..12)), 1..120),
        start in 0u32..20,
    ) {
        let p = policy("steps = [{ alarm = \"cpu-high\", add = 3 }]");
        let mut record = ScalingRecord::default();
        let mut current = start;
        for (n, (cpu, step, switching, cap)) in readings.into_iter().enumerate() {
            let now = t0() + chrono::Duration::seconds(i64::try_from(n).unwrap_or(0) * 45);
            let id = format!("e{n}");
            let metrics = [(Metric::Cpu, cpu)];
            let mut i = inputs(&p, &record, now, current, &metrics);
            i.event_id = &id;
            i.step_add = step;
            i.switching = switching;
            i.cap = cap;
            let d = decide(&i);
            if let Some(next) = d.set {
                let hi = p.max.min(cap.unwrap_or(u32::MAX)).max(p.min);
                prop_assert!(next >= p.min, "{next} below min");
                prop_assert!(next <= hi, "{next} above {hi}");
                prop_assert!(next.abs_diff(current) <= p.max_step || current < p.min || current > hi,
                    "{current} → {next} in one step");
                if switching {
                    prop_assert!(next >= current.min(hi), "scaled down during a switch");
                }
                current = next;
            }
            record = d.record;
        }
    }
}

#[test]
fn a_hold_on_a_standby_goes_below_its_floor_but_not_on_a_serving_side() {
    let p = policy("");
    let r = ScalingRecord::default();
    let metrics = [(Metric::Cpu, 70.0)];
    let standby = ScalingInputs {
        role: Role::Standby { active_capacity: 4 },
        cap: Some(0),
        ..inputs(&p, &r, t0(), 2, &metrics)
    };
    let d = decide(&standby);
    assert_eq!(d.set, Some(0), "{}", d.reason);
    let serving = ScalingInputs {
        role: Role::Active,
        ..standby
    };
    let d = decide(&serving);
    assert_eq!(
        d.set, None,
        "the floor 2 wins while it serves: {}",
        d.reason
    );
}
