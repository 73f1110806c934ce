use chrono::{Duration, TimeZone};

use super::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0)
        .single()
        .expect("time")
}

fn digest(c: char) -> String {
    format!("r.example/app@sha256:{}", c.to_string().repeat(64))
}

#[test]
fn sides_serving_different_digests_are_not_ready_unless_a_rollout_is_young() {
    let same = [
        ("ecs app".to_owned(), Ok(digest('a'))),
        ("cloudrun app".to_owned(), Ok(digest('a'))),
    ];
    assert_eq!(same_code(&same, None, 3600, t0()), Verdict::Ready);
    let drift = [
        ("ecs app".to_owned(), Ok(digest('a'))),
        ("cloudrun app".to_owned(), Ok(digest('b'))),
    ];
    let v = same_code(&drift, None, 3600, t0());
    assert_eq!(v.word(), "not ready", "{v:?}");
    assert!(
        v.describe().contains("ecs app serves sha256:aaaaaaaaaaaa"),
        "{v:?}"
    );
    let young = Some(t0() - Duration::minutes(5));
    assert_eq!(same_code(&drift, young, 3600, t0()), Verdict::Ready);
    let old = Some(t0() - Duration::hours(2));
    assert_eq!(same_code(&drift, old, 3600, t0()).word(), "not ready");
    let unreadable = [
        ("ecs app".to_owned(), Ok(digest('a'))),
        ("cloudrun app".to_owned(), Err("403 Forbidden".to_owned())),
    ];
    assert_eq!(same_code(&unreadable, None, 3600, t0()).word(), "unknown");
    let tag = [("ecs app".to_owned(), Ok("r.example/app:v1".to_owned()))];
    assert_eq!(same_code(&tag, None, 3600, t0()).word(), "unknown");
}

#[test]
fn a_standby_whose_maximum_is_below_the_active_size_is_not_ready() {
    assert_eq!(capacity("gcp", Ok(4), "aws", Ok(Some(10))), Verdict::Ready);
    assert_eq!(capacity("gcp", Ok(4), "aws", Ok(None)), Verdict::Ready);
    let v = capacity("gcp", Ok(12), "aws", Ok(Some(10)));
    assert!(
        v.describe()
            .contains("aws can reach at most 10 instance(s); gcp runs 12 now"),
        "{v:?}"
    );
    assert_eq!(
        capacity("gcp", Err("throttled".into()), "aws", Ok(Some(10))).word(),
        "unknown"
    );
}

#[test]
fn a_long_ttl_or_a_missing_record_is_not_ready_and_an_unreported_ttl_unknown() {
    assert_eq!(routing(Ok(Some(Some(60))), 300), Verdict::Ready);
    assert!(
        routing(Ok(Some(Some(3600))), 300)
            .describe()
            .contains("TTL is 3600 s")
    );
    assert_eq!(routing(Ok(None), 300).word(), "not ready");
    assert_eq!(routing(Ok(Some(None)), 300).word(), "unknown");
    assert_eq!(routing(Err("timeout".into()), 300).word(), "unknown");
}

#[test]
fn stale_or_unverified_backups_missing_passes_and_silent_vantages_are_not_ready() {
    let now = t0();
    let fresh: BTreeMap<String, DateTime<Utc>> =
        [("db".to_owned(), now - Duration::hours(3))].into();
    let stale: BTreeMap<String, DateTime<Utc>> =
        [("db".to_owned(), now - Duration::hours(30))].into();
    assert_eq!(backup(&fresh, None, 26, 14, now, "run"), Verdict::Ready);
    assert!(
        backup(&stale, None, 26, 14, now, "run")
            .describe()
            .contains("30 h old")
    );
    assert_eq!(
        backup(&BTreeMap::new(), None, 26, 14, now, "run").word(),
        "not ready"
    );
    let never: BTreeMap<String, Option<DateTime<Utc>>> = [("db".to_owned(), None)].into();
    assert!(
        backup(&fresh, Some(&never), 26, 14, now, "run")
            .describe()
            .contains("never verified")
    );
    assert_eq!(
        sync(Some(now - Duration::hours(1)), 0, 24, now),
        Verdict::Ready
    );
    assert_eq!(
        sync(Some(now - Duration::hours(1)), 3, 24, now).word(),
        "not ready"
    );
    assert_eq!(sync(None, 0, 24, now).word(), "not ready");
    assert_eq!(
        heartbeat(Some(now - Duration::seconds(90)), 300, now),
        Verdict::Ready
    );
    assert!(
        heartbeat(Some(now - Duration::seconds(900)), 300, now)
            .describe()
            .contains("900 s ago")
    );
    assert_eq!(heartbeat(None, 300, now).word(), "not ready");
}

fn finding(subject: &str, verdict: Verdict) -> Finding {
    Finding {
        rule: "capacity",
        subject: subject.into(),
        verdict,
    }
}

#[test]
fn a_change_of_kind_is_news_once_and_a_reason_that_changes_within_it_is_not() {
    let bad = |r: &str| Verdict::NotReady {
        reason: r.into(),
        fix: "f".into(),
    };
    // First audit: only what is not ready is news.
    let (rec, changes) = settle(
        &ReadinessRecord::default(),
        vec![finding("aws", Verdict::Ready), finding("gcp", bad("max 2"))],
        t0(),
    );
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].finding.subject, "gcp");
    let (title, _, worse) = message(&changes);
    assert!(worse && title == "Readiness: 1 not ready", "{title}");
    // The same again, with another reason: no news, and it stands since the first audit.
    let later = t0() + Duration::minutes(5);
    let (rec, changes) = settle(
        &rec,
        vec![finding("aws", Verdict::Ready), finding("gcp", bad("max 3"))],
        later,
    );
    assert!(changes.is_empty(), "{changes:?}");
    assert_eq!(rec.findings["capacity: gcp"].since, t0());
    // Fixed: one message that says so.
    let (rec, changes) = settle(
        &rec,
        vec![
            finding("aws", Verdict::Ready),
            finding("gcp", Verdict::Ready),
        ],
        later + Duration::minutes(5),
    );
    assert_eq!(changes.len(), 1);
    let (title, lines, worse) = message(&changes);
    assert!(!worse && title == "Readiness: 1 ready again", "{title}");
    assert!(lines.contains("(was not ready)"), "{lines}");
    assert_eq!(rec.counts(), (0, 0));
}

#[test]
fn a_setting_or_secret_on_one_side_only_is_not_ready() {
    let names = |v: &[&str]| Ok(Some(v.iter().map(|s| (*s).to_owned()).collect()));
    let same = [
        ("ecs app".to_owned(), names(&["DATABASE_URL", "LOG_LEVEL"])),
        (
            "cloudrun app".to_owned(),
            names(&["DATABASE_URL", "LOG_LEVEL"]),
        ),
    ];
    assert_eq!(config_parity(&same), Verdict::Ready);
    let drift = [
        (
            "ecs app".to_owned(),
            names(&["DATABASE_URL", "LOG_LEVEL", "STRIPE_KEY"]),
        ),
        (
            "cloudrun app".to_owned(),
            names(&["DATABASE_URL", "LOG_LEVEL"]),
        ),
    ];
    let v = config_parity(&drift);
    assert!(
        v.describe()
            .contains("cloudrun app lacks STRIPE_KEY that another side has"),
        "{v:?}"
    );
    let silent = [("ecs app".to_owned(), Ok(None))];
    assert_eq!(config_parity(&silent).word(), "unknown");
}
