//! `[sync]`: bucket pairs kept in sync, one bucket per tenant if need be.
//!
//! ```toml
//! [[sync.pairs]]
//! name = "uploads"
//! source = "s3://aion-{tenant}-uploads/"
//! destination = "gs://aion-{tenant}-uploads/"
//! tenants = ["acme", "globex"]   # one pair per tenant
//! partitions = ["2025/", "2026/"] # key prefixes run separately, across invocations
//! delete = true
//! max_delete = 500
//! max_delete_percent = 5
//! ```

use serde::Deserialize;
use toml::Spanned;

use super::table::bounded;
use crate::location::Location;

/// A validated `[sync]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncConfig {
    /// The pairs, tenants expanded.
    pub pairs: Vec<SyncPair>,
}

/// One source kept copied to one destination.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncPair {
    /// Unique name (`uploads`, or `uploads/acme` for a tenant).
    pub name: String,
    /// Where objects come from.
    pub source: Location,
    /// Where they are copied to.
    pub destination: Location,
    /// Key prefixes reconciled separately (one invocation can take one); `[""]` for the whole.
    pub partitions: Vec<String>,
    /// Deletes on reconcile.
    pub deletes: DeletePolicy,
    /// Whether a deleted-object event deletes the destination's copy (off unless set: a mass
    /// delete in the source must not reach the replica that should survive it).
    pub delete_on_event: bool,
    /// Deletes object events may make per hour; past it, deletes wait for the reconcile's gate.
    pub max_event_deletes_per_hour: u64,
    /// Objects in flight at once.
    pub concurrency: usize,
}

impl SyncConfig {
    /// The pairs whose source holds `key` of `bucket` on `s3` (or GCS), with the key relative to
    /// the pair's source prefix.
    pub fn pairs_for(&self, s3: bool, bucket: &str, key: &str) -> Vec<(&SyncPair, String)> {
        self.pairs
            .iter()
            .filter_map(|p| {
                let (b, prefix) = match (&p.source, s3) {
                    (Location::S3 { bucket, prefix }, true) => (bucket, prefix),
                    (Location::Gcs { bucket, prefix }, false) => (bucket, prefix),
                    _ => return None,
                };
                if b != bucket {
                    return None;
                }
                let rel = crate::location::KeyPrefix::new(prefix).strip(key)?;
                (!rel.is_empty()).then(|| (p, rel.to_owned()))
            })
            .collect()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSync {
    #[serde(default)]
    pairs: Vec<Spanned<RawPair>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPair {
    name: String,
    source: String,
    destination: String,
    #[serde(default)]
    tenants: Vec<String>,
    #[serde(default)]
    partitions: Vec<String>,
    #[serde(default)]
    delete: bool,
    #[serde(default)]
    max_delete: Option<u64>,
    #[serde(default)]
    max_delete_percent: Option<f64>,
    #[serde(default)]
    delete_on_event: Option<bool>,
    #[serde(default)]
    max_event_deletes_per_hour: Option<u64>,
    #[serde(default)]
    concurrency: Option<usize>,
}

const TENANT: &str = "{tenant}";

/// Why a pair's source and destination overlap, if they do: the same place, or one inside the
/// other, makes every copy an event for the next and every delete a loss on both sides.
fn overlap(source: &Location, destination: &Location) -> Option<String> {
    let nested = |a: &str, b: &str| a.starts_with(b) || b.starts_with(a);
    let same = match (source, destination) {
        (
            Location::S3 {
                bucket: a,
                prefix: pa,
            },
            Location::S3 {
                bucket: b,
                prefix: pb,
            },
        )
        | (
            Location::Gcs {
                bucket: a,
                prefix: pa,
            },
            Location::Gcs {
                bucket: b,
                prefix: pb,
            },
        ) => a == b && nested(pa, pb),
        (Location::Local { path: a }, Location::Local { path: b }) => {
            a.starts_with(b) || b.starts_with(a)
        }
        _ => false,
    };
    same.then(|| {
        if source == destination {
            "source and destination are the same".to_owned()
        } else {
            format!(
                "source {source} and destination {destination} overlap: one lies inside the other"
            )
        }
    })
}

/// Checks `[sync]`, reporting every problem at its pair's line.
pub(super) fn validate(
    raw: RawSync,
    problem: &dyn Fn(std::ops::Range<usize>, String),
) -> Option<SyncConfig> {
    let mut pairs: Vec<SyncPair> = Vec::new();
    for p in raw.pairs {
        let span = p.span();
        let r = p.into_inner();
        let at = |m: String| problem(span.clone(), format!("sync pair `{}`: {m}", r.name));
        if r.name.trim().is_empty() || r.name.contains('/') {
            at("`name` must be non-empty and without `/`".into());
        }
        let templated = r.source.contains(TENANT) || r.destination.contains(TENANT);
        if templated && r.tenants.is_empty() {
            at(format!("{TENANT} is used but `tenants` is empty"));
            continue;
        }
        if !templated && !r.tenants.is_empty() {
            at(format!(
                "`tenants` is set but neither source nor destination contains {TENANT}"
            ));
            continue;
        }
        let percent = r.max_delete_percent.unwrap_or(10.0);
        if !(0.0..=100.0).contains(&percent) {
            at(format!("max_delete_percent {percent} is not within 0–100"));
        }
        let concurrency = bounded(r.concurrency, 64, 1..=1024, "concurrency", &at);
        let max_delete = bounded(r.max_delete, 1000, 0..=100_000_000, "max_delete", &at);
        let max_event_deletes = bounded(
            r.max_event_deletes_per_hour,
            100,
            0..=1_000_000,
            "max_event_deletes_per_hour",
            &at,
        );
        let mut partitions = r.partitions.clone();
        partitions.sort();
        partitions.dedup();
        if partitions.iter().any(String::is_empty) {
            at("a partition is an empty prefix: leave `partitions` out to sync everything".into());
        }
        if let Some(w) = partitions.windows(2).find(|w| w[1].starts_with(&w[0])) {
            at(format!(
                "partitions `{}` and `{}` overlap: one is a prefix of the other",
                w[0], w[1]
            ));
        }
        if partitions.is_empty() {
            partitions.push(String::new());
        }
        let tenants: Vec<Option<&str>> = if templated {
            r.tenants.iter().map(|t| Some(t.as_str())).collect()
        } else {
            vec![None]
        };
        for tenant in tenants {
            if tenant.is_some_and(|t| {
                t.is_empty()
                    || !t
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
            }) {
                at(format!(
                    "tenant `{}` must be letters, digits, `-`, `_` or `.`",
                    tenant.unwrap_or_default()
                ));
                continue;
            }
            let fill = |s: &str| match tenant {
                Some(t) => s.replace(TENANT, t),
                None => s.to_owned(),
            };
            let (source, destination) = match (
                fill(&r.source).parse::<Location>(),
                fill(&r.destination).parse::<Location>(),
            ) {
                (Ok(s), Ok(d)) => (s, d),
                (Err(e), _) | (_, Err(e)) => {
                    at(e.to_string());
                    continue;
                }
            };
            if let Some(why) = overlap(&source, &destination) {
                at(why);
                continue;
            }
            let name = match tenant {
                Some(t) => format!("{}/{t}", r.name),
                None => r.name.clone(),
            };
            if pairs.iter().any(|p| p.name == name) {
                at(format!("pair `{name}` is defined twice"));
                continue;
            }
            pairs.push(SyncPair {
                name,
                source,
                destination,
                partitions: partitions.clone(),
                deletes: DeletePolicy {
                    enabled: r.delete,
                    max_count: max_delete,
                    max_fraction: percent / 100.0,
                },
                delete_on_event: r.delete_on_event.unwrap_or(false),
                max_event_deletes_per_hour: max_event_deletes,
                concurrency,
            });
        }
    }
    Some(SyncConfig { pairs })
}

/// Limits on deletes (deletes are off unless configured).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeletePolicy {
    /// Propagate deletes at all.
    pub enabled: bool,
    /// At most this many deletes per run.
    pub max_count: u64,
    /// At most this fraction of the destination's objects (0.0–1.0) per run.
    pub max_fraction: f64,
}
