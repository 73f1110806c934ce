use super::*;
use chrono::{Duration, TimeZone};

fn t(days_ago: i64, now: DateTime<Utc>) -> DateTime<Utc> {
    now - Duration::days(days_ago)
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 3, 3, 0, 0)
        .single()
        .expect("valid")
}

fn stat(table: &str, rows: u64, checksum: &str) -> TableStat {
    TableStat {
        table: table.into(),
        rows,
        checksum: checksum.into(),
    }
}

#[test]
fn keys_round_trip_and_foreign_keys_are_left_alone() {
    let s = stem("nightly", "app", now());
    assert_eq!(s, "nightly/app/20261203T030000Z");
    let folder = folder("nightly", "app");
    for part in [DumpPart::Dump, DumpPart::Manifest, DumpPart::Verified] {
        let (got, at, p) = parse_key(&folder, &key(&s, part)).expect("ours");
        assert_eq!((got.as_str(), at, p), (s.as_str(), now(), part));
    }
    for foreign in [
        "nightly/app/notes.txt",
        "nightly/app/20261203T030000Z.sql",
        "nightly/app/2026-12-03.dump",
        "nightly/app-2/20261203T030000Z.dump",
        "other/app/20261203T030000Z.dump",
    ] {
        assert_eq!(parse_key(&folder, foreign), None, "{foreign}");
    }
}

fn listed(days_ago: i64, dump: bool, manifest: bool) -> ListedDump {
    let at = t(days_ago, now());
    ListedDump {
        stem: stem("s", "db", at),
        taken_at: Some(at),
        dump,
        manifest,
        verified: false,
    }
}

#[test]
fn grouping_joins_the_parts_of_a_dump() {
    let s = stem("s", "db", now());
    let g = group(
        "s/db/",
        [
            key(&s, DumpPart::Dump),
            key(&s, DumpPart::Manifest),
            "s/db/README".to_owned(),
        ],
    );
    assert_eq!(g.len(), 1);
    assert!(g[0].good() && !g[0].verified);
}

#[test]
fn retention_prunes_old_complete_dumps_but_keeps_the_newest_and_keep_min() {
    let policy = RetentionPolicy {
        retain_days: 30,
        keep_min: 2,
    };
    let dumps = vec![
        listed(60, true, true),
        listed(50, true, true),
        listed(40, true, true),
        listed(2, true, true),
    ];
    let gone = prune(&dumps, &policy, now());
    // 60 and 50 go; 40 stays as the second of keep_min = 2 (only one is younger than 30 days).
    assert_eq!(gone.len(), 6, "{gone:?}");
    assert!(gone.contains(&key(&dumps[0].stem, DumpPart::Dump)));
    assert!(gone.contains(&key(&dumps[1].stem, DumpPart::Verified)));
    assert!(!gone.iter().any(|k| k.starts_with(&dumps[2].stem)));

    // All old: the newest is never pruned even with keep_min = 0.
    let old = vec![listed(90, true, true), listed(80, true, true)];
    let gone = prune(
        &old,
        &RetentionPolicy {
            retain_days: 30,
            keep_min: 0,
        },
        now(),
    );
    assert!(!gone.iter().any(|k| k.starts_with(&old[1].stem)));
    assert!(gone.iter().any(|k| k.starts_with(&old[0].stem)));
}

#[test]
fn a_dump_without_manifest_goes_after_a_day_and_never_counts_as_a_backup() {
    let policy = RetentionPolicy {
        retain_days: 30,
        keep_min: 1,
    };
    let fresh_orphan = listed(0, true, false);
    let old_orphan = listed(3, true, false);
    let good = listed(1, true, true);
    let gone = prune(
        &[old_orphan.clone(), good.clone(), fresh_orphan.clone()],
        &policy,
        now(),
    );
    assert!(gone.contains(&key(&old_orphan.stem, DumpPart::Dump)));
    assert!(!gone.iter().any(|k| k.starts_with(&fresh_orphan.stem)));
    assert!(!gone.iter().any(|k| k.starts_with(&good.stem)));
    // A manifest whose dump is gone is not a backup either.
    let headless = listed(5, false, true);
    assert!(!headless.good());
    assert!(
        prune(std::slice::from_ref(&headless), &policy, now())
            .contains(&key(&headless.stem, DumpPart::Manifest))
    );
}

#[test]
fn verification_is_due_for_an_unverified_newest_dump_once_per_period() {
    let newest = listed(0, true, true);
    assert!(verification_due(Some(&newest), None, 7, false, now()));
    assert!(!verification_due(
        Some(&newest),
        Some(t(3, now())),
        7,
        false,
        now()
    ));
    assert!(verification_due(
        Some(&newest),
        Some(t(7, now())),
        7,
        false,
        now()
    ));
    assert!(verification_due(
        Some(&newest),
        Some(t(1, now())),
        7,
        true,
        now()
    ));
    let mut verified = newest.clone();
    verified.verified = true;
    assert!(!verification_due(Some(&verified), None, 7, true, now()));
    assert!(!verification_due(
        Some(&listed(0, true, false)),
        None,
        7,
        true,
        now()
    ));
    assert!(!verification_due(None, None, 7, true, now()));
}

#[test]
fn comparison_names_every_difference() {
    let want = vec![
        stat("public.a", 3, "10"),
        stat("public.b", 2, "20"),
        stat("public.c", 1, "30"),
        stat(LARGE_OBJECTS, 0, "0"),
    ];
    assert!(compare(&want, &want).is_empty());
    let got = vec![
        stat("public.a", 3, "10"),
        stat("public.b", 2, "21"),
        stat("public.d", 1, "40"),
    ];
    let diff = compare(&want, &got);
    assert_eq!(diff.len(), 3, "{diff:?}");
    assert!(diff[0].contains("public.b") && diff[0].contains("different content"));
    assert!(diff[1].contains("public.c") && diff[1].contains("missing"));
    assert!(diff[2].contains("public.d"));
    let fewer = vec![
        stat("public.a", 2, "10"),
        stat("public.b", 2, "20"),
        stat("public.c", 1, "30"),
    ];
    assert!(compare(&want, &fewer)[0].contains("2 rows restored, 3"));
}

#[test]
fn problems_name_a_stale_destination_and_a_long_unverified_database() {
    let n = now();
    let ok = problems(
        "app",
        &[
            ("s3://b/".into(), Some(t(0, n))),
            ("gs://b/".into(), Some(t(0, n))),
        ],
        Some(t(3, n)),
        Some(t(2, n)),
        26,
        Some(14),
        n,
    );
    assert!(ok.is_empty(), "{ok:?}");
    let bad = problems(
        "app",
        &[("s3://b/".into(), Some(t(0, n))), ("gs://b/".into(), None)],
        Some(t(30, n)),
        None,
        26,
        Some(14),
        n,
    );
    assert_eq!(bad.len(), 2, "{bad:?}");
    assert!(bad[0].message.contains("no complete dump in gs://b/"));
    assert!(bad[1].message.contains("no dump has ever been verified"));
    // Verification off: only freshness counts.
    let off = problems(
        "app",
        &[("s3://b/".into(), Some(t(0, n)))],
        Some(t(99, n)),
        None,
        26,
        None,
        n,
    );
    assert!(off.is_empty());
    // The same problem keeps its state across runs, so it is told once.
    let again = problems(
        "app",
        &[("s3://b/".into(), Some(t(0, n))), ("gs://b/".into(), None)],
        Some(t(30, n)),
        None,
        26,
        Some(14),
        n + Duration::hours(1),
    );
    assert_eq!(again[1].state, bad[1].state);
}
