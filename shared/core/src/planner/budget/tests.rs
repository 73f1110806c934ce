use super::*;
use crate::config::Config;

fn config(steps: &str) -> BudgetConfig {
    let text = format!(
        r#"[project]
name = "x"

[[scaling.services]]
name = "backend"
compute = "local"
service = "backend"
min = 1
max = 10

[[budget.guards]]
name = "monthly"
aws_account = "123456789012"
aws_budget = "aion-monthly"
gcp_billing_account = "01D4EE-079462-DFD6EC"
gcp_budget_id = "de72"
{steps}
"#
    );
    Config::parse("t.toml", &text)
        .unwrap_or_else(|e| panic!("{e}"))
        .budget
        .expect("budget")
}

const LADDER: &str = r#"
[[budget.guards.steps]]
at = 1.0
action = "cap"
service = "backend"
max = 2
mode = "enforce"
[[budget.guards.steps]]
at = 0.5
action = "notify"
[[budget.guards.steps]]
at = 0.9
basis = "forecast"
action = "notify"
"#;

fn alert(account: &str, budget: &str, id: Option<&str>, amount: f64, cost: f64) -> BudgetAlert {
    BudgetAlert {
        budget: budget.into(),
        cost,
        budget_amount: amount,
        currency: "USD".into(),
        threshold: None,
        basis: BudgetBasis::Actual,
        period_start: None,
        budget_id: id.map(str::to_owned),
        account: Some(account.into()),
    }
}

fn reading(limit: f64, actual: Option<f64>, forecast: Option<f64>, period: &str) -> Reading {
    Reading {
        limit,
        actual,
        forecast,
        period_start: period.into(),
    }
}

#[test]
fn only_the_guards_budgets_are_answered() {
    let cfg = config(LADDER);
    let (g, r) = guard_for(
        &cfg,
        &alert("123456789012", "aion-monthly", None, 10.0, 9.0),
    )
    .expect("aws");
    assert_eq!(g.name, "monthly");
    assert!(matches!(r, BudgetRef::Aws { .. }));
    let (_, r) = guard_for(
        &cfg,
        &alert("01D4EE-079462-DFD6EC", "any name", Some("de72"), 10.0, 9.0),
    )
    .expect("gcp");
    assert!(matches!(r, BudgetRef::Gcp { .. }));
    for a in [
        alert("999999999999", "aion-monthly", None, 10.0, 9.0),
        alert("123456789012", "other", None, 10.0, 9.0),
        alert("01D4EE-079462-DFD6EC", "x", Some("other-id"), 10.0, 9.0),
        alert("OTHER", "x", Some("de72"), 10.0, 9.0),
    ] {
        let why = guard_for(&cfg, &a).expect_err("not a guard's");
        assert!(why.contains("is no guard's budget"), "{why}");
    }
}

#[test]
fn aws_spend_comes_from_the_provider_and_gcp_needs_the_amount_confirmed() {
    let aws = BudgetRef::Aws {
        account: "1".into(),
        name: "b".into(),
    };
    let forged = alert("1", "b", None, 10.0, 50.0);
    assert_eq!(
        confirmed_spend(
            &aws,
            &reading(10.0, Some(3.0), Some(6.0), "2026-12-01"),
            Some(&forged)
        ),
        Ok((Some(3.0), Some(6.0))),
        "the message's 50 counts for nothing"
    );
    let gcp = BudgetRef::Gcp {
        billing_account: "b".into(),
        budget_id: "d".into(),
    };
    let msg = alert("b", "x", Some("d"), 10.0, 9.5);
    assert_eq!(
        confirmed_spend(&gcp, &reading(10.0, None, None, "2026-12-01"), Some(&msg)),
        Ok((Some(9.5), None))
    );
    let e = confirmed_spend(&gcp, &reading(1000.0, None, None, "2026-12-01"), Some(&msg))
        .expect_err("amount differs");
    assert!(e.contains("not confirmed"), "{e}");
}

#[test]
fn steps_are_due_once_per_period_in_ladder_order() {
    let cfg = config(LADDER);
    let g = &cfg.guards[0];
    // Sorted: notify at 0.5, notify (forecast) at 0.9, cap at 1.0.
    assert_eq!(
        g.steps.iter().map(|s| s.at).collect::<Vec<_>>(),
        vec![0.5, 0.9, 1.0]
    );
    let mut rec = GuardRecord::default();
    assert_eq!(
        due(g, &rec, 10.0, Some(4.0), Some(8.0)),
        Vec::<usize>::new()
    );
    assert_eq!(due(g, &rec, 10.0, Some(5.0), Some(9.0)), vec![0, 1]);
    // Out of order: a jump straight past every threshold takes all, lowest first.
    assert_eq!(due(g, &rec, 10.0, Some(12.0), Some(12.0)), vec![0, 1, 2]);
    rec.taken.push(Taken {
        step: 0,
        action: "notify".into(),
        at: Utc::now(),
        rehearsed: false,
        changes: vec![],
        unfinished: None,
        attempts: vec![],
    });
    assert_eq!(
        due(g, &rec, 10.0, Some(12.0), None),
        vec![2],
        "twice: taken steps are not due again"
    );
    assert!(
        due(g, &rec, 0.0, Some(12.0), None).is_empty(),
        "a zero budget decides nothing"
    );
}

#[test]
fn a_new_period_undoes_everything_last_first() {
    let mut rec = GuardRecord {
        period: Some("2026-11-01".into()),
        ..GuardRecord::default()
    };
    assert!(
        !period_rolled(&rec, &reading(10.0, None, None, "2026-12-01")),
        "nothing to undo"
    );
    let cap = Change::Cap {
        service: "b".into(),
        before: None,
        after: 2,
    };
    let desired = Change::Desired {
        compute: crate::plan::ComputeRef::Scaling("b".into()),
        service: "b".into(),
        before: 6,
        after: 2,
    };
    let billing = Change::Billing {
        project: "p".into(),
        before: "billingAccounts/X".into(),
    };
    rec.taken.push(Taken {
        step: 1,
        action: "cap".into(),
        at: Utc::now(),
        rehearsed: false,
        changes: vec![cap.clone(), desired.clone()],
        unfinished: None,
        attempts: vec![],
    });
    rec.taken.push(Taken {
        step: 2,
        action: "detach-billing".into(),
        at: Utc::now(),
        rehearsed: false,
        changes: vec![billing.clone()],
        unfinished: None,
        attempts: vec![],
    });
    assert!(!period_rolled(
        &rec,
        &reading(10.0, None, None, "2026-11-01")
    ));
    assert!(period_rolled(
        &rec,
        &reading(10.0, None, None, "2026-12-01")
    ));
    assert_eq!(undo_order(&rec), vec![billing, desired, cap]);
}

#[test]
fn repeated_messages_are_seen_once_and_the_memory_is_bounded() {
    let mut rec = GuardRecord::default();
    assert!(rec.see("m1"));
    assert!(!rec.see("m1"));
    for i in 0..(SEEN + 5) {
        rec.see(&format!("x{i}"));
    }
    assert_eq!(rec.seen.len(), SEEN);
}

#[test]
fn dangerous_or_wrong_steps_are_refused_with_a_reason() {
    let bad = |steps: &str| {
        let text = format!(
            "[project]\nname='x'\n[[budget.guards]]\nname='g'\naws_account='123456789012'\naws_budget='b'\n{steps}\n"
        );
        Config::parse("t.toml", &text)
            .expect_err("refused")
            .to_string()
    };
    assert!(
        bad("[[budget.guards.steps]]\nat=1.0\naction='detach-billing'\nproject='p'")
            .contains("enable_detach = \"p\"")
    );
    assert!(bad("[[budget.guards.steps]]\nat=1.0\naction='detach-billing'\nproject='p'\nenable_detach='q'").contains("enable_detach"));
    assert!(
        bad("[[budget.guards.steps]]\nat=1.0\naction='cap'\nservice='nope'\nmax=1")
            .contains("not a [[scaling.services]] entry")
    );
    assert!(
        bad("[[budget.guards.steps]]\nat=1.0\naction='standby-to-zero'")
            .contains("needs a [failover] section")
    );
    assert!(bad("[[budget.guards.steps]]\nat=0\naction='notify'").contains("between 0.01 and 10"));
    assert!(bad("[[budget.guards.steps]]\nat=1\naction='explode'").contains("unknown action"));
    let text = "[project]\nname='x'\n[[budget.guards]]\nname='g'\naws_account='123'\naws_budget='b'\n[[budget.guards.steps]]\nat=1\naction='notify'\n";
    assert!(
        Config::parse("t.toml", text)
            .expect_err("account")
            .to_string()
            .contains("twelve digits")
    );
}

#[test]
fn an_unfinished_step_is_due_again_and_a_retry_keeps_the_first_before_state() {
    let cfg = config(LADDER);
    let g = &cfg.guards[0];
    let mut rec = GuardRecord::default();
    let mut t = Taken {
        step: 0,
        action: "cap".into(),
        at: Utc::now(),
        rehearsed: false,
        changes: vec![],
        unfinished: Some("set_desired: throttled".into()),
        attempts: vec![],
    };
    t.record(Change::Cap {
        service: "api".into(),
        before: None,
        after: 2,
    });
    // The retry reads the cap its first attempt set, and records it again.
    t.record(Change::Cap {
        service: "api".into(),
        before: Some(2),
        after: 2,
    });
    assert_eq!(t.changes.len(), 1, "one change per thing");
    assert!(
        matches!(t.changes[0], Change::Cap { before: None, .. }),
        "the undo puts back what was there before the step"
    );
    rec.taken.push(t);
    assert_eq!(due(g, &rec, 100.0, Some(60.0), None), vec![0]);
    rec.taken[0].unfinished = None;
    assert!(due(g, &rec, 100.0, Some(60.0), None).is_empty());
}

#[test]
fn a_reading_of_an_earlier_period_moves_nothing_back() {
    let rec = GuardRecord {
        period: Some("2026-12-01".into()),
        taken: vec![Taken {
            step: 0,
            action: "notify".into(),
            at: Utc::now(),
            rehearsed: false,
            changes: vec![],
            unfinished: None,
            attempts: vec![],
        }],
        ..GuardRecord::default()
    };
    let older = reading(10.0, None, None, "2026-11-01");
    assert!(!period_moved_on(&rec, &older));
    assert!(!period_rolled(&rec, &older));
    let same = reading(10.0, None, None, "2026-12-01");
    assert!(!period_moved_on(&rec, &same));
    let later = reading(10.0, None, None, "2027-01-01");
    assert!(period_moved_on(&rec, &later) && period_rolled(&rec, &later));
    assert!(period_moved_on(&GuardRecord::default(), &older));
}

#[test]
fn the_current_period_follows_from_the_unit_and_the_clock() {
    let d = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default();
    let today = d("2026-12-07");
    // A monthly budget created in January 2025: its period now began on December 1st.
    let created = Some(d("2025-01-01"));
    assert_eq!(
        period_start(PeriodUnit::Month, created, today),
        "2026-12-01"
    );
    assert_eq!(period_start(PeriodUnit::Day, created, today), "2026-12-07");
    assert_eq!(
        period_start(PeriodUnit::Quarter, created, today),
        "2026-10-01"
    );
    assert_eq!(period_start(PeriodUnit::Year, created, today), "2026-01-01");
    assert_eq!(
        period_start(PeriodUnit::Quarter, None, d("2026-03-31")),
        "2026-01-01"
    );
    // A budget that starts later than the calendar period's first day starts then.
    assert_eq!(
        period_start(PeriodUnit::Month, Some(d("2026-12-05")), today),
        "2026-12-05"
    );
}

#[test]
fn a_step_only_rehearsed_is_due_again_once_it_is_enforced() {
    let cfg = config(LADDER);
    let g = &cfg.guards[0];
    let mut rec = GuardRecord::default();
    rec.taken.push(Taken {
        step: 2,
        action: "cap".into(),
        at: Utc::now(),
        rehearsed: true,
        changes: vec![],
        unfinished: None,
        attempts: vec![],
    });
    // The cap step is `enforce` now: the rehearsal earlier in the period does not use it up.
    assert_eq!(due(g, &rec, 10.0, Some(12.0), None), vec![0, 2]);
    // A notify step rehearsed earlier (dry run is its default) stays taken.
    rec.taken.push(Taken {
        step: 0,
        action: "notify".into(),
        rehearsed: true,
        ..rec.taken[0].clone()
    });
    assert_eq!(due(g, &rec, 10.0, Some(12.0), None), vec![2]);
}

#[test]
fn stop_takes_only_services_that_may_be_at_zero() {
    let text = r#"[project]
name = "x"

[[scaling.services]]
name = "batch-min1"
compute = "local"
service = "batch"
min = 1
max = 10

[[budget.guards]]
name = "monthly"
aws_account = "123456789012"
aws_budget = "aion-monthly"

[[budget.guards.steps]]
at = 1.0
action = "stop"
services = ["batch-min1"]
"#;
    let Err(e) = Config::parse("t.toml", text) else {
        panic!("a stop of a min = 1 service was accepted")
    };
    let e = e.to_string();
    assert!(
        e.contains("`stop` takes only services with min = 0 and no failover endpoint: `batch-min1` has min = 1"),
        "{e}"
    );
}
