//! Snapshot retention (groundwork of the backup capability): which snapshots a run may prune.
//! Only snapshots twincloud made, only those older than `retain_days`, never one being taken,
//! never the newest restorable one, and always at least `keep_min` restorable ones left.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::config::RetentionPolicy;
use crate::ports::{Snapshot, SnapshotStatus};

/// What retention decided for one snapshot twincloud made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Verdict {
    /// Delete it.
    Prune {
        /// Snapshot id.
        id: String,
    },
    /// Keep it; why.
    Keep {
        /// Snapshot id.
        id: String,
        /// The rule that keeps it.
        why: String,
    },
}

/// Decides for every snapshot of one database that twincloud made (others are not ours to
/// touch and are left out).
pub fn retention(
    snapshots: &[Snapshot],
    policy: &RetentionPolicy,
    now: DateTime<Utc>,
) -> Vec<Verdict> {
    let cutoff = crate::planner::earlier(
        now,
        crate::planner::span_secs(u64::from(policy.retain_days) * 86_400),
    );
    let created = |s: &Snapshot| {
        DateTime::parse_from_rfc3339(&s.created)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    };
    let mut restorable: Vec<(&Snapshot, DateTime<Utc>)> = snapshots
        .iter()
        .filter(|s| s.managed && s.status == SnapshotStatus::Available)
        .filter_map(|s| created(s).map(|t| (s, t)))
        .collect();
    // Newest first; ties broken by id so the decision does not depend on listing order.
    restorable.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.id.cmp(&b.0.id)));
    let protected: Vec<&str> = restorable
        .iter()
        .take(policy.keep_min.max(1) as usize)
        .map(|(s, _)| s.id.as_str())
        .collect();
    snapshots
        .iter()
        .filter(|s| s.managed)
        .map(|s| {
            let keep = |why: String| Verdict::Keep {
                id: s.id.clone(),
                why,
            };
            match created(s) {
                None => keep(format!("creation time `{}` is unreadable", s.created)),
                Some(_) if s.status == SnapshotStatus::Creating => keep("still being taken".into()),
                Some(t) if t >= cutoff => keep(format!("younger than {} days", policy.retain_days)),
                Some(_) if protected.contains(&s.id.as_str()) => keep(format!(
                    "one of the {} newest restorable snapshots",
                    policy.keep_min.max(1)
                )),
                Some(_) => Verdict::Prune { id: s.id.clone() },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use proptest::prelude::*;

    fn snap(
        id: &str,
        days_ago: i64,
        status: SnapshotStatus,
        managed: bool,
        now: DateTime<Utc>,
    ) -> Snapshot {
        Snapshot {
            id: id.into(),
            database: "aion-db".into(),
            created: (now - Duration::days(days_ago)).to_rfc3339(),
            status,
            managed,
            arn: None,
            cluster: false,
        }
    }

    fn pruned(v: &[Verdict]) -> Vec<String> {
        v.iter()
            .filter_map(|v| match v {
                Verdict::Prune { id } => Some(id.clone()),
                Verdict::Keep { .. } => None,
            })
            .collect()
    }

    #[test]
    fn old_managed_snapshots_go_the_rest_stay() {
        let now = Utc::now();
        let s = vec![
            snap("aion-db-40d", 40, SnapshotStatus::Available, true, now),
            snap("aion-db-35d", 35, SnapshotStatus::Available, true, now),
            snap("aion-db-31d-failed", 31, SnapshotStatus::Failed, true, now),
            snap(
                "rds:automated-45d",
                45,
                SnapshotStatus::Available,
                false,
                now,
            ),
            snap("aion-db-2d", 2, SnapshotStatus::Available, true, now),
            snap("aion-db-1d", 1, SnapshotStatus::Available, true, now),
        ];
        let v = retention(
            &s,
            &RetentionPolicy {
                retain_days: 30,
                keep_min: 2,
            },
            now,
        );
        assert_eq!(
            pruned(&v),
            ["aion-db-40d", "aion-db-35d", "aion-db-31d-failed"]
        );
        assert_eq!(v.len(), 5, "the automated snapshot is not ours");
    }

    #[test]
    fn the_newest_restorable_snapshot_is_never_pruned_even_when_old() {
        let now = Utc::now();
        let s = vec![
            snap("a", 90, SnapshotStatus::Available, true, now),
            snap("b", 60, SnapshotStatus::Available, true, now),
            snap("c", 50, SnapshotStatus::Failed, true, now),
        ];
        let v = retention(
            &s,
            &RetentionPolicy {
                retain_days: 30,
                keep_min: 0,
            },
            now,
        );
        assert_eq!(pruned(&v), ["a", "c"]);
    }

    fn status() -> impl Strategy<Value = SnapshotStatus> {
        prop_oneof![
            Just(SnapshotStatus::Available),
            Just(SnapshotStatus::Creating),
            Just(SnapshotStatus::Failed)
        ]
    }

    proptest! {
        /// For any set of snapshot dates: nothing not ours, nothing young, nothing being taken,
        /// never the newest restorable one, and at least keep_min restorable ones stay.
        #[test]
        fn retention_never_deletes_what_it_must_keep(
            snaps in proptest::collection::vec((0i64..120, status(), any::<bool>()), 0..25),
            retain_days in 0u32..60,
            keep_min in 0u32..6,
        ) {
            let now = Utc::now();
            let s: Vec<Snapshot> = snaps
                .iter()
                .enumerate()
                .map(|(i, (age, st, m))| snap(&format!("s{i}"), *age, *st, *m, now))
                .collect();
            let policy = RetentionPolicy { retain_days, keep_min };
            let gone = pruned(&retention(&s, &policy, now));
            let by_id = |id: &str| s.iter().find(|x| x.id == id).unwrap();
            for id in &gone {
                let x = by_id(id);
                prop_assert!(x.managed);
                prop_assert!(x.status != SnapshotStatus::Creating);
                let age = now - DateTime::parse_from_rfc3339(&x.created).unwrap().with_timezone(&Utc);
                prop_assert!(age > Duration::days(i64::from(retain_days)));
            }
            let mut restorable: Vec<&Snapshot> = s
                .iter()
                .filter(|x| x.managed && x.status == SnapshotStatus::Available)
                .collect();
            restorable.sort_by(|a, b| b.created.cmp(&a.created));
            if let Some(newest) = restorable.first() {
                // One of the newest restorable ones (several may share the time) stays.
                prop_assert!(restorable
                    .iter()
                    .any(|x| x.created == newest.created && !gone.contains(&x.id)));
            }
            let left = restorable.iter().filter(|x| !gone.contains(&x.id)).count();
            prop_assert!(left >= restorable.len().min(keep_min as usize));
        }
    }
}
