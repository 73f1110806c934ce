//! The bucket-sync planner (groundwork of the bucket-sync capability): what to copy and what
//! to delete, from two listings sorted by key. Pure and streaming: the listings are merged as
//! iterators, so memory stays bounded whatever their length.

pub use crate::config::DeletePolicy;
use serde::{Deserialize, Serialize};

/// One object as a listing reports it.
pub use crate::ports::ObjectInfo as Entry;

/// How two objects under the same key were compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    /// Different sizes: different, whatever else.
    Size,
    /// MD5 of both.
    Md5,
    /// CRC32C of both.
    Crc32c,
    /// The destination records that it was copied from exactly this source version.
    SourceVersion,
    /// No common checksum: sizes only. Reported, never silent.
    SizeOnly,
}

/// What to do with one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Diff {
    /// In the source only: copy.
    New(Entry),
    /// In both, different: copy over.
    Changed {
        /// The source object.
        source: Entry,
        /// The destination object it replaces.
        destination: Entry,
        /// How the difference was seen.
        by: Comparison,
    },
    /// In both, the same: nothing.
    Same {
        /// Key.
        key: String,
        /// How sameness was established.
        by: Comparison,
    },
    /// In both with the same size and no digest in common yet: fetch the digests (hash a local
    /// file, read stored metadata), then [`settle`].
    Unsure {
        /// The source object.
        source: Entry,
        /// The destination object.
        destination: Entry,
    },
    /// In the destination only: a delete candidate (see [`DeleteGate`]).
    Extra(Entry),
    /// It would be replaced or deleted, but the destination object is under retention or a
    /// hold: left alone, with a warning.
    Retained {
        /// Key.
        key: String,
    },
}

/// Whether two objects are the same, and how that was seen; `None` when no digest in common
/// says so yet.
pub fn judge(src: &Entry, dst: &Entry) -> Option<(bool, Comparison)> {
    if src.size != dst.size {
        return Some((false, Comparison::Size));
    }
    if let (Some(a), Some(b)) = (&src.md5, &dst.md5) {
        return Some((a.eq_ignore_ascii_case(b), Comparison::Md5));
    }
    if let (Some(a), Some(b)) = (&src.crc32c, &dst.crc32c) {
        return Some((a == b, Comparison::Crc32c));
    }
    if src.version.is_some() && dst.source_version == src.version {
        return Some((true, Comparison::SourceVersion));
    }
    None
}

fn decided(src: Entry, dst: Entry, same: bool, by: Comparison) -> Diff {
    if same {
        Diff::Same { key: src.key, by }
    } else if dst.retained {
        Diff::Retained { key: dst.key }
    } else {
        Diff::Changed {
            source: src,
            destination: dst,
            by,
        }
    }
}

/// The decision on one key present on both sides.
pub fn pair(src: Entry, dst: Entry) -> Diff {
    match judge(&src, &dst) {
        Some((same, by)) => decided(src, dst, same, by),
        None => Diff::Unsure {
            source: src,
            destination: dst,
        },
    }
}

/// The decision on an [`Diff::Unsure`] pair once every digest that could be had was fetched:
/// same size and still no digest in common counts as the same, by size only.
pub fn settle(src: Entry, dst: Entry) -> Diff {
    match judge(&src, &dst) {
        Some((same, by)) => decided(src, dst, same, by),
        None => Diff::Same {
            key: src.key,
            by: Comparison::SizeOnly,
        },
    }
}

/// The decision on one key present in the destination only.
pub fn extra(dst: Entry) -> Diff {
    if dst.retained {
        Diff::Retained { key: dst.key }
    } else {
        Diff::Extra(dst)
    }
}

/// Merges two key-sorted listings into per-key decisions, lazily.
pub fn diff<S, D>(source: S, destination: D) -> impl Iterator<Item = Diff>
where
    S: IntoIterator<Item = Entry>,
    D: IntoIterator<Item = Entry>,
{
    let mut s = source.into_iter().peekable();
    let mut d = destination.into_iter().peekable();
    std::iter::from_fn(move || {
        let order = match (s.peek(), d.peek()) {
            (None, None) => return None,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(a), Some(b)) => a.key.cmp(&b.key),
        };
        Some(match order {
            std::cmp::Ordering::Less => Diff::New(s.next()?),
            std::cmp::Ordering::Greater => extra(d.next()?),
            std::cmp::Ordering::Equal => pair(s.next()?, d.next()?),
        })
    })
}

/// How a listing ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListingEnd {
    /// Every page was read.
    Complete,
    /// It stopped early; the reason.
    Failed(String),
}

/// The decision on the delete candidates of a run, taken after every copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteGate {
    /// Delete them.
    Allow,
    /// Delete none; why.
    Refuse(String),
}

/// Whether `candidates` extras may be deleted, given how both listings ended, how many objects
/// each had, and whether every copy succeeded. Deletes never follow an empty, failed or partial
/// source listing, nor a run with a failed copy, nor exceed the policy's bounds.
pub fn delete_gate(
    policy: &DeletePolicy,
    source: &ListingEnd,
    source_count: u64,
    destination: &ListingEnd,
    destination_count: u64,
    failed_copies: u64,
    candidates: u64,
) -> DeleteGate {
    if candidates == 0 {
        return DeleteGate::Allow;
    }
    if !policy.enabled {
        return DeleteGate::Refuse(format!(
            "{candidates} object(s) only in the destination kept: deletes are off"
        ));
    }
    if let ListingEnd::Failed(why) = source {
        return DeleteGate::Refuse(format!("no deletes: the source listing failed ({why})"));
    }
    if let ListingEnd::Failed(why) = destination {
        return DeleteGate::Refuse(format!(
            "no deletes: the destination listing failed ({why})"
        ));
    }
    if source_count == 0 {
        return DeleteGate::Refuse(format!(
            "no deletes: the source listing is empty, and {candidates} deletes would empty the destination"
        ));
    }
    if failed_copies > 0 {
        return DeleteGate::Refuse(format!("no deletes: {failed_copies} copy(ies) failed"));
    }
    if candidates > policy.max_count {
        return DeleteGate::Refuse(format!(
            "no deletes: {candidates} exceed max_delete {}",
            policy.max_count
        ));
    }
    let fraction = candidates as f64 / destination_count.max(1) as f64;
    if fraction > policy.max_fraction {
        return DeleteGate::Refuse(format!(
            "no deletes: {candidates} of {destination_count} objects ({:.0}%) exceed max_delete_percent {:.0}%",
            fraction * 100.0,
            policy.max_fraction * 100.0
        ));
    }
    DeleteGate::Allow
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn e(key: &str, size: u64, md5: Option<&str>) -> Entry {
        Entry {
            key: key.into(),
            size,
            md5: md5.map(str::to_owned),
            ..Entry::default()
        }
    }

    #[test]
    fn merge_classifies_every_key_once() {
        let src = vec![
            e("a", 1, Some("aa")),
            e("b", 2, Some("bb")),
            e("d", 4, None),
        ];
        let dst = vec![e("b", 2, Some("BB")), e("c", 3, None), e("d", 4, None)];
        let out: Vec<Diff> = diff(src, dst).collect();
        assert_eq!(out.len(), 4);
        assert!(matches!(&out[0], Diff::New(x) if x.key == "a"));
        assert!(
            matches!(&out[1], Diff::Same { key, by: Comparison::Md5 } if key == "b"),
            "MD5 case-insensitive"
        );
        assert!(matches!(&out[2], Diff::Extra(x) if x.key == "c"));
        let Diff::Unsure {
            source,
            destination,
        } = out[3].clone()
        else {
            panic!("no digest in common: unsure, {:?}", out[3]);
        };
        assert!(
            matches!(
                settle(source, destination),
                Diff::Same {
                    by: Comparison::SizeOnly,
                    ..
                }
            ),
            "size-only is reported as such"
        );
    }

    #[test]
    fn stored_source_version_and_crc32c_decide_without_md5() {
        let src = Entry {
            crc32c: Some("AAAAAQ==".into()),
            version: Some("\"etag-3\"".into()),
            ..e("k", 5, None)
        };
        let copied = Entry {
            source_version: Some("\"etag-3\"".into()),
            ..e("k", 5, None)
        };
        assert_eq!(
            judge(&src, &copied),
            Some((true, Comparison::SourceVersion))
        );
        let gcs = Entry {
            crc32c: Some("AAAAAg==".into()),
            ..e("k", 5, None)
        };
        assert_eq!(judge(&src, &gcs), Some((false, Comparison::Crc32c)));
        assert_eq!(
            judge(&src, &e("k", 6, None)),
            Some((false, Comparison::Size))
        );
    }

    #[test]
    fn retained_destination_objects_are_left_alone() {
        let kept = Entry {
            retained: true,
            ..e("k", 5, Some("22"))
        };
        assert_eq!(
            pair(e("k", 5, Some("11")), kept.clone()),
            Diff::Retained { key: "k".into() }
        );
        assert_eq!(extra(kept), Diff::Retained { key: "k".into() });
    }

    #[test]
    fn same_size_different_checksum_is_a_change() {
        let out: Vec<Diff> =
            diff(vec![e("k", 5, Some("11"))], vec![e("k", 5, Some("22"))]).collect();
        assert!(matches!(
            &out[0],
            Diff::Changed {
                by: Comparison::Md5,
                ..
            }
        ));
    }

    #[test]
    fn the_delete_gate_refuses_unsafe_deletes() {
        let on = DeletePolicy {
            enabled: true,
            max_count: 10,
            max_fraction: 0.5,
        };
        let ok = ListingEnd::Complete;
        assert_eq!(
            delete_gate(&on, &ok, 100, &ok, 100, 0, 3),
            DeleteGate::Allow
        );
        let refuse =
            |g: DeleteGate, want: &str| matches!(g, DeleteGate::Refuse(ref r) if r.contains(want));
        assert!(refuse(
            delete_gate(
                &DeletePolicy {
                    enabled: false,
                    ..on
                },
                &ok,
                100,
                &ok,
                100,
                0,
                3
            ),
            "deletes are off"
        ));
        assert!(refuse(
            delete_gate(&on, &ListingEnd::Failed("503".into()), 50, &ok, 100, 0, 3),
            "source listing failed"
        ));
        assert!(refuse(
            delete_gate(&on, &ok, 0, &ok, 100, 0, 3),
            "source listing is empty"
        ));
        assert!(refuse(
            delete_gate(&on, &ok, 100, &ok, 100, 1, 3),
            "copy(ies) failed"
        ));
        assert!(refuse(
            delete_gate(&on, &ok, 100, &ok, 100, 0, 11),
            "exceed max_delete"
        ));
        assert!(refuse(
            delete_gate(&on, &ok, 4, &ok, 10, 0, 6),
            "exceed max_delete_percent"
        ));
    }

    fn listing() -> impl Strategy<Value = Vec<Entry>> {
        proptest::collection::btree_map(
            "[a-e]{1,3}",
            (0u64..4, proptest::option::of("[0-3]")),
            0..20,
        )
        .prop_map(|m| {
            m.into_iter()
                .map(|(k, (size, md5))| Entry {
                    key: k,
                    size,
                    md5,
                    ..Entry::default()
                })
                .collect()
        })
    }

    proptest! {
        /// Every key of either side appears exactly once; a key of the source is never an
        /// extra (never deleted); a key missing from the destination is always copied.
        #[test]
        fn diff_is_a_partition_and_never_deletes_a_source_key(src in listing(), dst in listing()) {
            let out: Vec<Diff> = diff(src.clone(), dst.clone()).collect();
            let key = |d: &Diff| match d {
                Diff::New(x) | Diff::Extra(x) => x.key.clone(),
                Diff::Changed { source, .. } | Diff::Unsure { source, .. } => source.key.clone(),
                Diff::Same { key, .. } | Diff::Retained { key } => key.clone(),
            };
            let mut keys: Vec<String> = out.iter().map(key).collect();
            let mut want: Vec<String> = src.iter().chain(dst.iter()).map(|x| x.key.clone()).collect();
            want.sort();
            want.dedup();
            keys.sort();
            prop_assert_eq!(keys, want);
            for d in &out {
                if let Diff::Extra(x) = d {
                    prop_assert!(!src.iter().any(|s| s.key == x.key));
                }
                if let Diff::Same { key, .. } = d {
                    let (a, b) = (src.iter().find(|s| &s.key == key).unwrap(), dst.iter().find(|s| &s.key == key).unwrap());
                    prop_assert_eq!(a.size, b.size);
                }
            }
            for s in &src {
                if !dst.iter().any(|d| d.key == s.key) {
                    prop_assert!(out.iter().any(|d| matches!(d, Diff::New(x) if x.key == s.key)));
                }
            }
        }
    }
}
