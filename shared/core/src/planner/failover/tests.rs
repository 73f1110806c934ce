use chrono::TimeZone;
use proptest::prelude::*;

use super::*;
use crate::config::Config;

fn cfg(failback: &str) -> FailoverConfig {
    let text = format!(
        r#"
[project]
name = "aion"

[failover]
record = "api.aion.example."
threshold = 3
recovery_threshold = 4
hold_down_secs = 60
cooldown_secs = 300
failback = "{failback}"

[[failover.endpoints]]
name = "gcp"
cloud = "gcp"
primary = true
url = "http://127.0.0.1:1"
dns_target = "gcp.example."
compute = "local"
service = "aion-gcp"
active_size = 2

[[failover.endpoints]]
name = "aws"
cloud = "aws"
url = "http://127.0.0.1:2"
dns_target = "aws.example."
compute = "local"
service = "aion-aws"
active_size = 2
"#
    );
    Config::parse("t.toml", &text)
        .unwrap_or_else(|e| panic!("{e}"))
        .failover
        .expect("failover")
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0)
        .single()
        .expect("time")
}

fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

/// Feeds rounds (gcp ok, aws ok) every 5 s; returns the view and the time after the last.
fn rounds(
    c: &FailoverConfig,
    view: &mut VantageView,
    start: DateTime<Utc>,
    seq: &[(bool, bool)],
) -> DateTime<Utc> {
    let mut t = start;
    for (g, a) in seq {
        view.endpoints.entry("gcp".into()).or_default().observe(
            *g,
            (!g).then(|| "refused".into()),
            t,
            c.threshold,
        );
        view.endpoints.entry("aws".into()).or_default().observe(
            *a,
            (!a).then(|| "refused".into()),
            t,
            c.threshold,
        );
        view.at = Some(t);
        t += secs(5);
    }
    t - secs(5)
}

fn view() -> VantageView {
    VantageView {
        vantage: "local".into(),
        ..Default::default()
    }
}

#[test]
fn three_failed_rounds_fail_over_to_a_healthy_standby() {
    let c = cfg("manual");
    let s = FailoverState::initial(&c);
    let mut v = view();
    let t = rounds(
        &c,
        &mut v,
        t0(),
        &[(true, true), (false, true), (false, true)],
    );
    assert!(
        matches!(decide(&c, &s, &v, &[], t, None), Decision::Hold { .. }),
        "two failures are not enough"
    );
    let t = rounds(&c, &mut v, t + secs(5), &[(false, true)]);
    let Decision::Switch { switch, reason } = decide(&c, &s, &v, &[], t, None) else {
        panic!("expected a switch")
    };
    assert_eq!(
        (switch.kind, switch.from.as_str(), switch.to.as_str()),
        (SwitchKind::Failover, "gcp", "aws")
    );
    assert!(reason.contains("3 consecutive rounds"), "{reason}");
    assert_eq!(
        switch.detected, t,
        "detected at the round that crossed the threshold"
    );
}

#[test]
fn an_unhealthy_standby_blocks_the_switch_loudly() {
    let c = cfg("manual");
    let mut v = view();
    let t = rounds(
        &c,
        &mut v,
        t0(),
        &[(false, false), (false, false), (false, false)],
    );
    let d = decide(&c, &FailoverState::initial(&c), &v, &[], t, None);
    assert!(
        matches!(d, Decision::Stuck { ref reason } if reason.contains("no other side is healthy")),
        "{d:?}"
    );
}

#[test]
fn cooldown_blocks_a_second_switch() {
    let c = cfg("manual");
    let mut s = FailoverState::initial(&c);
    s.active = "aws".into();
    s.last_switch = Some(t0());
    let mut v = view();
    let t = rounds(
        &c,
        &mut v,
        t0() + secs(5),
        &[(true, false), (true, false), (true, false)],
    );
    assert!(
        matches!(decide(&c, &s, &v, &[], t, None), Decision::Stuck { ref reason } if reason.contains("cooldown"))
    );
    let t = rounds(&c, &mut v, t0() + secs(400), &[(true, false)]);
    assert!(
        matches!(decide(&c, &s, &v, &[], t, None), Decision::Switch { .. }),
        "after the cooldown"
    );
}

#[test]
fn a_switch_in_flight_is_a_lock_until_its_lease_ends() {
    let c = cfg("manual");
    let mut v = view();
    let t = rounds(
        &c,
        &mut v,
        t0(),
        &[(false, true), (false, true), (false, true)],
    );
    let Decision::Switch { switch, .. } = decide(&c, &FailoverState::initial(&c), &v, &[], t, None)
    else {
        panic!()
    };
    let mut s = FailoverState::initial(&c);
    s.in_flight = Some(switch.clone());
    assert!(matches!(
        decide(&c, &s, &v, &[], t + secs(10), None),
        Decision::Hold { .. }
    ));
    let t2 = rounds(
        &c,
        &mut v,
        t + secs(SWITCH_LEASE_SECS + 1),
        &[(false, true)],
    );
    let Decision::Switch {
        switch: resumed,
        reason,
    } = decide(&c, &s, &v, &[], t2, None)
    else {
        panic!()
    };
    assert_eq!(
        resumed.id, switch.id,
        "the same switch, so done steps are not repeated"
    );
    assert!(reason.contains("resuming"));
}

#[test]
fn failback_waits_for_recovery_and_hold_down_and_is_manual_by_default() {
    let c = cfg("manual");
    let mut s = FailoverState::initial(&c);
    s.active = "aws".into();
    s.last_switch = Some(t0() - secs(3600));
    let mut v = view();
    let t = rounds(&c, &mut v, t0(), &[(true, true); 4]);
    assert!(
        matches!(decide(&c, &s, &v, &[], t, None), Decision::Hold { ref reason } if reason.contains("not yet recovered")),
        "hold-down not over"
    );
    let t = rounds(&c, &mut v, t0() + secs(60), &[(true, true)]);
    assert!(
        matches!(decide(&c, &s, &v, &[], t, None), Decision::Hold { ref reason } if reason.contains("failback is manual"))
    );
    let Decision::Switch { switch, .. } = decide(
        &c,
        &s,
        &v,
        &[],
        t,
        Some(ManualCommand::Failback { force: false }),
    ) else {
        panic!()
    };
    assert_eq!(
        (switch.kind, switch.to.as_str()),
        (SwitchKind::Failback, "gcp")
    );
    let auto = cfg("auto");
    assert!(matches!(
        decide(&auto, &s, &v, &[], t, None),
        Decision::Switch { .. }
    ));
}

#[test]
fn manual_failback_obeys_the_cooldown_unless_forced() {
    let c = cfg("manual");
    let mut s = FailoverState::initial(&c);
    s.active = "aws".into();
    s.last_switch = Some(t0());
    let mut v = view();
    let t = rounds(&c, &mut v, t0() + secs(10), &[(true, true); 2]);
    let held = decide(
        &c,
        &s,
        &v,
        &[],
        t,
        Some(ManualCommand::Failback { force: false }),
    );
    assert!(
        matches!(&held, Decision::Hold { reason } if reason.contains("cooldown") && reason.contains("--force")),
        "{held:?}"
    );
    let forced = decide(
        &c,
        &s,
        &v,
        &[],
        t,
        Some(ManualCommand::Failback { force: true }),
    );
    assert!(
        matches!(&forced, Decision::Switch { reason, .. } if reason.contains("forced")),
        "{forced:?}"
    );
}

#[test]
fn manual_failback_to_an_unhealthy_primary_is_refused() {
    let c = cfg("manual");
    let mut s = FailoverState::initial(&c);
    s.active = "aws".into();
    let mut v = view();
    let t = rounds(&c, &mut v, t0(), &[(false, true)]);
    assert!(
        matches!(decide(&c, &s, &v, &[], t, Some(ManualCommand::Failback { force: false })), Decision::Stuck { ref reason } if reason.contains("refused"))
    );
}

#[test]
fn quorum_needs_other_vantage_points_to_agree() {
    let mut c = cfg("manual");
    c.quorum = 2;
    let mut mine = view();
    let t = rounds(
        &c,
        &mut mine,
        t0(),
        &[(false, true), (false, true), (false, true)],
    );
    let mut other = VantageView {
        vantage: "aws".into(),
        ..Default::default()
    };
    rounds(
        &c,
        &mut other,
        t0(),
        &[(true, true), (true, true), (true, true)],
    );
    let s = FailoverState::initial(&c);
    assert!(
        matches!(
            decide(&c, &s, &mine, &[other.clone()], t, None),
            Decision::Hold { .. }
        ),
        "a partition seen from one side alone"
    );
    rounds(
        &c,
        &mut other,
        t0() + secs(15),
        &[(false, true), (false, true), (false, true)],
    );
    assert!(matches!(
        decide(&c, &s, &mine, &[other.clone()], t + secs(15), None),
        Decision::Switch { .. }
    ));
    // A stale view does not count.
    assert!(matches!(
        decide(&c, &s, &mine, &[other], t + secs(15 + 600), None),
        Decision::Hold { .. }
    ));
}

#[test]
fn the_switch_plan_scales_the_standby_before_moving_traffic() {
    let c = cfg("manual");
    let s = FailoverState::initial(&c);
    let mut v = view();
    let t = rounds(
        &c,
        &mut v,
        t0(),
        &[(false, true), (false, true), (false, true)],
    );
    let Decision::Switch { switch, reason } = decide(&c, &s, &v, &[], t, None) else {
        panic!()
    };
    let p = plan_switch(&c, &s, None, &switch, &reason, t);
    let ids: Vec<&str> = p.actions.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["scale-up", "wait-ready", "switch-traffic", "record"]);
    assert_eq!(p.actions[2].depends_on.as_deref(), Some("wait-ready"));
    assert_eq!(
        p.guard.as_ref().map(|g| &g.expect),
        Some(&crate::ports::Precondition::Absent)
    );
    let crate::plan::Operation::SetDesired {
        desired, service, ..
    } = &p.actions[0].op
    else {
        panic!()
    };
    assert_eq!((desired, service.as_str()), (&2, "aion-aws"));
}

/// A failback from `aws` to `gcp`, as the planner starts one.
fn failback_to_gcp() -> SwitchInFlight {
    SwitchInFlight {
        id: "fb".into(),
        kind: SwitchKind::Failback,
        from: "aws".into(),
        to: "gcp".into(),
        detected: t0(),
        started: t0(),
        settled: false,
    }
}

#[test]
fn a_failback_plan_returns_the_old_active_side_to_standby() {
    let c = cfg("auto");
    let mut s = FailoverState::initial(&c);
    s.active = "aws".into();
    let sw = failback_to_gcp();
    let p = plan_switch(
        &c,
        &s,
        Some(&crate::ports::Version("3".into())),
        &sw,
        "recovered",
        t0(),
    );
    let last = p.actions.last().expect("actions");
    assert_eq!(last.id, "scale-down");
    let crate::plan::Operation::SetDesired { desired, .. } = &last.op else {
        panic!()
    };
    assert_eq!(*desired, 0);
}

#[test]
fn under_the_standby_hold_a_failback_returns_the_old_side_to_zero_and_says_why() {
    let mut c = cfg("auto");
    for e in &mut c.endpoints {
        e.standby_size = 2;
    }
    let mut s = FailoverState::initial(&c);
    s.active = "aws".into();
    let sw = failback_to_gcp();
    let mut p = plan_switch(&c, &s, None, &sw, "recovered", t0());
    let hold = crate::records::holds::Hold {
        max: 0,
        kind: crate::records::holds::HoldKind::StandbyToZero,
        set_by: "budget guard `monthly`".into(),
        since: Some(t0()),
        until: "the budget period moves on".into(),
        while_standby: true,
    };
    super::under_standby_hold(&mut p, hold.max, &hold.describe());
    let last = p.actions.last().expect("actions");
    let crate::plan::Operation::SetDesired { desired, .. } = &last.op else {
        panic!()
    };
    assert_eq!(*desired, 0, "{}", last.reason);
    assert!(
        p.notes.iter().any(
            |n| n.contains("standby held at 0 by budget guard `monthly`")
                && n.contains("takes over anyway")
        ),
        "{:?}",
        p.notes
    );
    // The target still scales up to its active size: the hold never blocks a takeover.
    let crate::plan::Operation::SetDesired { desired, .. } = &p.actions[0].op else {
        panic!()
    };
    assert!(*desired > 0);
}

proptest! {
    /// Whatever the probe history, a switch only ever targets a side whose last round passed,
    /// never the active side, and never happens before `threshold` consecutive failures.
    #[test]
    fn decisions_are_safe(seq in proptest::collection::vec((any::<bool>(), any::<bool>()), 1..40), on_aws in any::<bool>(), auto in any::<bool>()) {
        let c = cfg(if auto { "auto" } else { "manual" });
        let mut s = FailoverState::initial(&c);
        if on_aws {
            s.active = "aws".into();
        }
        let mut v = view();
        let t = rounds(&c, &mut v, t0(), &seq);
        if let Decision::Switch { switch, .. } = decide(&c, &s, &v, &[], t, None) {
            prop_assert_ne!(&switch.to, &s.active);
            prop_assert!(v.health(&switch.to).can_take_traffic());
            if switch.kind == SwitchKind::Failover {
                prop_assert!(v.health(&s.active).consecutive_failures >= c.threshold);
            } else {
                prop_assert!(auto);
                prop_assert!(v.health("gcp").consecutive_successes >= c.recovery_threshold);
            }
        }
    }

    /// A primary that fails at most two rounds in a row never triggers a failover.
    #[test]
    fn a_flapping_primary_never_fails_over(pattern in proptest::collection::vec(0u8..3, 1..60)) {
        let c = cfg("manual");
        let s = FailoverState::initial(&c);
        let mut v = view();
        let mut t = t0();
        let mut failures_in_row = 0;
        for p in pattern {
            // p == 0: a failed round, unless two already failed in a row.
            let ok = p != 0 || failures_in_row == 2;
            failures_in_row = if ok { 0 } else { failures_in_row + 1 };
            t = rounds(&c, &mut v, t + secs(5), &[(ok, true)]);
            let switched = matches!(decide(&c, &s, &v, &[], t, None), Decision::Switch { .. });
            prop_assert!(!switched, "a flapping primary triggered a failover");
        }
    }
}

#[test]
fn a_stale_failover_is_abandoned_when_its_reason_is_gone() {
    let c = cfg("manual");
    let mut v = view();
    let t = rounds(
        &c,
        &mut v,
        t0(),
        &[(false, true), (false, true), (false, true)],
    );
    let Decision::Switch { switch, .. } = decide(&c, &FailoverState::initial(&c), &v, &[], t, None)
    else {
        panic!()
    };
    let mut s = FailoverState::initial(&c);
    s.in_flight = Some(switch.clone());
    // The primary recovered before anyone finished the switch: do not move traffic away from it.
    let later = t + secs(SWITCH_LEASE_SECS + 5);
    let t2 = rounds(&c, &mut v, later, &[(true, true)]);
    let Decision::Abandon { switch: a, reason } = decide(&c, &s, &v, &[], t2, None) else {
        panic!("expected abandon")
    };
    assert_eq!(a.id, switch.id);
    assert!(reason.contains("has recovered"), "{reason}");
    let p = plan_abandon(&s, Some(&crate::ports::Version("9".into())), &a, &reason);
    assert!(p.actions.is_empty());
    let g = p.guard.expect("guard");
    assert_eq!(g.value["in_flight"], serde_json::Value::Null);
    assert_eq!(
        g.expect,
        crate::ports::Precondition::Matches(crate::ports::Version("9".into()))
    );
}

#[test]
fn a_stale_failover_to_a_standby_that_died_is_abandoned() {
    let c = cfg("manual");
    let mut v = view();
    let t = rounds(
        &c,
        &mut v,
        t0(),
        &[(false, true), (false, true), (false, true)],
    );
    let Decision::Switch { switch, .. } = decide(&c, &FailoverState::initial(&c), &v, &[], t, None)
    else {
        panic!()
    };
    let mut s = FailoverState::initial(&c);
    s.in_flight = Some(switch);
    let t2 = rounds(
        &c,
        &mut v,
        t + secs(SWITCH_LEASE_SECS + 5),
        &[(false, false)],
    );
    assert!(
        matches!(decide(&c, &s, &v, &[], t2, None), Decision::Abandon { ref reason, .. } if reason.contains("cannot take traffic"))
    );
}

#[test]
fn the_health_strip_keeps_a_day_of_quarter_hours_and_adds_up_vantages() {
    let mut h = EndpointHealth::default();
    // Two days of a round a minute, failing for the last hour.
    for m in 0..(2 * 24 * 60) {
        let at = t0() + chrono::Duration::minutes(m);
        h.observe(m < 47 * 60, Some("503".into()), at, 3);
    }
    assert_eq!(h.recent.len(), SLOTS);
    assert!(h.recent.windows(2).all(|w| w[0].start < w[1].start));
    let last = h.recent.last().unwrap();
    assert_eq!((last.ok, last.failed), (0, 15));
    // A late round older than the strip changes nothing.
    let before = h.recent.clone();
    add_to_strip(&mut h.recent, true, t0());
    assert_eq!(h.recent, before);

    let now = t0() + chrono::Duration::minutes(2 * 24 * 60 - 1);
    let merged = merged_strip([h.recent.as_slice(), h.recent.as_slice()], now);
    assert_eq!(merged.len(), SLOTS);
    assert_eq!(merged.last().unwrap().failed, 30);
    // Nobody probed a day ago: empty slots, not missing ones.
    let later = merged_strip([h.recent.as_slice()], now + chrono::Duration::hours(12));
    assert_eq!(later.len(), SLOTS);
    assert!(later[SLOTS - 10..].iter().all(|s| s.ok + s.failed == 0));
}
