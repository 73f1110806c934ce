//! The readiness audit: whether each standby could take over now, judged rule by rule from
//! what the providers and the records show. The readiness function reads (each read bounded; a
//! read that fails is the reason a rule is unknown, never ready) and these pure functions judge,
//! then keep what stands and say what changed since the last audit: one message per change of
//! the whole audit, not one per run.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The function's name, its binary and its records' prefix.
pub const FUNCTION: &str = "readiness";

/// Where the last audit's findings are kept.
pub const RECORD_KEY: &str = "readiness/state";

/// One rule's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// The standby can take over as far as this rule sees.
    Ready,
    /// It cannot, and why, and what fixes it.
    NotReady {
        /// What is wrong.
        reason: String,
        /// What to do.
        fix: String,
    },
    /// The rule could not tell (a read failed, the provider does not report it).
    Unknown {
        /// Why not.
        why: String,
    },
}

impl Verdict {
    /// `ready`, `not ready` or `unknown`.
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Ready => "ready",
            Verdict::NotReady { .. } => "not ready",
            Verdict::Unknown { .. } => "unknown",
        }
    }

    /// The verdict with its reason: `not ready: ... (fix: ...)`.
    pub fn describe(&self) -> String {
        match self {
            Verdict::Ready => "ready".into(),
            Verdict::NotReady { reason, fix } => format!("not ready: {reason} (fix: {fix})"),
            Verdict::Unknown { why } => format!("unknown: {why}"),
        }
    }

    fn not_ready(reason: impl Into<String>, fix: impl Into<String>) -> Self {
        Verdict::NotReady {
            reason: reason.into(),
            fix: fix.into(),
        }
    }

    fn unknown(why: impl Into<String>) -> Self {
        Verdict::Unknown { why: why.into() }
    }
}

/// One rule applied to one subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The rule (`same-code`, `capacity`, `routing`, `backup`, `sync`, `heartbeat`).
    pub rule: &'static str,
    /// What it judged (`deploy aion-backend`, `AWS Fargate`, `backup nightly`).
    pub subject: String,
    /// Its result.
    pub verdict: Verdict,
}

impl Finding {
    /// The key it is kept under: rule and subject.
    pub fn key(&self) -> String {
        format!("{}: {}", self.rule, self.subject)
    }
}

/// A finding as kept: its verdict and since when it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standing {
    /// The rule.
    pub rule: String,
    /// What it judged.
    pub subject: String,
    /// Its result.
    #[serde(flatten)]
    pub verdict: Verdict,
    /// Since when the result has been of this kind.
    pub since: DateTime<Utc>,
}

/// What the last audit found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadinessRecord {
    /// When it ran.
    pub checked_at: Option<DateTime<Utc>>,
    /// Per finding key.
    pub findings: BTreeMap<String, Standing>,
}

impl ReadinessRecord {
    /// How many findings are not ready and unknown.
    pub fn counts(&self) -> (usize, usize) {
        let not_ready = self
            .findings
            .values()
            .filter(|s| matches!(s.verdict, Verdict::NotReady { .. }))
            .count();
        let unknown = self
            .findings
            .values()
            .filter(|s| matches!(s.verdict, Verdict::Unknown { .. }))
            .count();
        (not_ready, unknown)
    }
}

/// A finding whose kind of result changed (or a first one that is not ready).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The finding now.
    pub finding: Finding,
    /// Its kind before (`None`: first audit of it).
    pub was: Option<&'static str>,
}

/// The record after an audit's `findings`, and what changed: a finding whose result changed
/// kind (ready, not ready, unknown), or a new one that is not ready or unknown. A reason that
/// changes within the same kind (another digest) is kept but is not news; a finding no longer
/// audited (its configuration went away) is dropped silently.
pub fn settle(
    previous: &ReadinessRecord,
    findings: Vec<Finding>,
    now: DateTime<Utc>,
) -> (ReadinessRecord, Vec<Change>) {
    let mut record = ReadinessRecord {
        checked_at: Some(now),
        findings: BTreeMap::new(),
    };
    let mut changes = vec![];
    for f in findings {
        let key = f.key();
        let before = previous.findings.get(&key);
        let same_kind = before.is_some_and(|b| b.verdict.word() == f.verdict.word());
        let since = match before {
            Some(b) if same_kind => b.since,
            _ => now,
        };
        let news = match before {
            Some(_) => !same_kind,
            None => f.verdict != Verdict::Ready,
        };
        if news {
            changes.push(Change {
                finding: f.clone(),
                was: before.map(|b| b.verdict.word()),
            });
        }
        record.findings.insert(
            key,
            Standing {
                rule: f.rule.to_owned(),
                subject: f.subject,
                verdict: f.verdict,
                since,
            },
        );
    }
    (record, changes)
}

/// The one message for an audit's changes: a title that counts them by kind, one line each,
/// and whether any is for the worse (not ready or unknown).
pub fn message(changes: &[Change]) -> (String, String, bool) {
    let count = |word: &str| {
        changes
            .iter()
            .filter(|c| c.finding.verdict.word() == word)
            .count()
    };
    let (not_ready, unknown, ready) = (count("not ready"), count("unknown"), count("ready"));
    let parts: Vec<String> = [
        (not_ready, "not ready"),
        (unknown, "unknown"),
        (ready, "ready again"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, w)| format!("{n} {w}"))
    .collect();
    let title = format!("Readiness: {}", parts.join(", "));
    let lines = changes
        .iter()
        .map(|c| {
            format!(
                "{}: {}{}",
                c.finding.key(),
                c.finding.verdict.describe(),
                c.was.map_or(String::new(), |w| format!(" (was {w})"))
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    (title, lines, not_ready + unknown > 0)
}

/// Same code: every side of a deploy target serves the same image digest. `sides` are each
/// side's label and what it serves (or why it could not be read); a mismatch while a rollout
/// started less than `lag_secs` ago is the rollout's way, not drift.
pub fn same_code(
    sides: &[(String, Result<String, String>)],
    rollout_started: Option<DateTime<Utc>>,
    lag_secs: u64,
    now: DateTime<Utc>,
) -> Verdict {
    let mut digests: Vec<(&str, &str)> = vec![];
    for (label, served) in sides {
        match served {
            Err(e) => return Verdict::unknown(format!("{label}: {e}")),
            Ok(image) => match image.split_once('@') {
                Some((_, d)) if d.starts_with("sha256:") => digests.push((label, d)),
                _ => {
                    return Verdict::unknown(format!(
                        "{label} serves `{image}`, a tag: its digest is not known"
                    ));
                }
            },
        }
    }
    let Some((first_label, first)) = digests.first().copied() else {
        return Verdict::unknown("no side to compare");
    };
    let Some((other_label, other)) = digests.iter().copied().find(|(_, d)| *d != first) else {
        return Verdict::Ready;
    };
    let rolling = rollout_started.is_some_and(|t| {
        now.signed_duration_since(t).num_seconds() < i64::try_from(lag_secs).unwrap_or(i64::MAX)
    });
    if rolling {
        return Verdict::Ready;
    }
    Verdict::not_ready(
        format!(
            "{first_label} serves {}, {other_label} serves {}",
            short(first),
            short(other)
        ),
        "roll the serving side's digest out to the other: `twincloud deploy --image REPO@DIGEST --to CLOUD`",
    )
}

/// One side's environment names as read: `Ok(None)` when the provider does not say, `Err`
/// with why they could not be read.
pub type SideEnv = Result<Option<Vec<String>>, String>;

/// Configuration parity: every side of a deploy target has the same environment variable and
/// secret names (values are never read): a name on one side only is a setting or a secret the
/// other would start without. `sides` are each side's label and its names (`None`: the provider
/// does not say; `Err`: why they could not be read).
pub fn config_parity(sides: &[(String, SideEnv)]) -> Verdict {
    let mut named: Vec<(&str, &Vec<String>)> = vec![];
    for (label, env) in sides {
        match env {
            Err(e) => return Verdict::unknown(format!("{label}: {e}")),
            Ok(None) => {
                return Verdict::unknown(format!(
                    "{label}: its provider does not report the environment"
                ));
            }
            Ok(Some(names)) => named.push((label, names)),
        }
    }
    let all: std::collections::BTreeSet<&String> =
        named.iter().flat_map(|(_, n)| n.iter()).collect();
    for (label, names) in &named {
        let missing: Vec<&str> = all
            .iter()
            .filter(|n| !names.contains(n))
            .map(|n| n.as_str())
            .collect();
        if !missing.is_empty() {
            let shown = missing
                .iter()
                .take(10)
                .copied()
                .collect::<Vec<_>>()
                .join(", ");
            let more = missing.len().saturating_sub(10);
            return Verdict::not_ready(
                format!(
                    "{label} lacks {shown}{} that another side has",
                    if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    }
                ),
                format!(
                    "add them to {label}'s task definition, revision or pod template (the names are compared, never the values)"
                ),
            );
        }
    }
    Verdict::Ready
}

/// Capacity: the standby can reach what the active side runs now.
pub fn capacity(
    active: &str,
    active_desired: Result<u32, String>,
    standby: &str,
    standby_max: Result<Option<u32>, String>,
) -> Verdict {
    let desired = match active_desired {
        Ok(d) => d,
        Err(e) => return Verdict::unknown(format!("{active}: {e}")),
    };
    match standby_max {
        Err(e) => Verdict::unknown(format!("{standby}: {e}")),
        Ok(Some(max)) if max < desired => Verdict::not_ready(
            format!("{standby} can reach at most {max} instance(s); {active} runs {desired} now"),
            format!(
                "raise the standby's maximum to at least {desired} (the endpoint's max_size, the ECS service's Application Auto Scaling MaxCapacity, Cloud Run's max instances, the HPA's maxReplicas)"
            ),
        ),
        Ok(_) => Verdict::Ready,
    }
}

/// A budget hold on the standby: it takes over from 0 (slower), so it is flagged until lifted.
pub fn standby_hold(held: Option<String>, restore: &str) -> Verdict {
    match held {
        None => Verdict::Ready,
        Some(h) => Verdict::not_ready(
            format!("the standby is {h}: a takeover starts from 0 instances"),
            format!("lift it when the budget allows: `{restore}`"),
        ),
    }
}

/// Routing: the failover record exists and its TTL lets a switch take effect soon.
pub fn routing(record: Result<Option<Option<u32>>, String>, max_ttl: u32) -> Verdict {
    match record {
        Err(e) => Verdict::unknown(e),
        Ok(None) => Verdict::not_ready(
            "the failover record does not exist",
            "create it pointing at the active side (a switch only changes an existing record)",
        ),
        Ok(Some(None)) => Verdict::unknown("the DNS provider does not report the record's TTL"),
        Ok(Some(Some(ttl))) if ttl > max_ttl => Verdict::not_ready(
            format!(
                "the record's TTL is {ttl} s: resolvers keep the old side that long after a switch"
            ),
            format!(
                "lower it to at most {max_ttl} s (`ttl` in [failover.dns], then one switch or the provider's console)"
            ),
        ),
        Ok(Some(Some(_))) => Verdict::Ready,
    }
}

/// Backups: the newest good backup of each database is within the set's age bound, and (a
/// dump) verified within its bound. `newest` is per database the newest backup's time;
/// `verified` per database the last verification (`None` entries: not a dump set).
pub fn backup(
    newest: &BTreeMap<String, DateTime<Utc>>,
    verified: Option<&BTreeMap<String, Option<DateTime<Utc>>>>,
    max_age_hours: u32,
    max_unverified_days: u32,
    now: DateTime<Utc>,
    run: &str,
) -> Verdict {
    if newest.is_empty() {
        return Verdict::not_ready(
            "no backup of this set is recorded",
            format!("run it once: `{run}`, and check its schedule"),
        );
    }
    let age = |t: &DateTime<Utc>| now.signed_duration_since(*t).num_hours();
    if let Some((db, t)) = newest
        .iter()
        .find(|(_, t)| age(t) > i64::from(max_age_hours))
    {
        return Verdict::not_ready(
            format!(
                "the newest backup of {db} is {} h old (bound {max_age_hours} h)",
                age(t)
            ),
            format!("see why runs stopped (`twincloud status`), then `{run}`"),
        );
    }
    if let Some(v) = verified {
        for (db, at) in v {
            let days = at.map(|t| now.signed_duration_since(t).num_days());
            if days.is_none_or(|d| d > i64::from(max_unverified_days)) {
                return Verdict::not_ready(
                    format!(
                        "the dumps of {db} are unverified {}",
                        days.map_or("(never verified)".into(), |d| format!("for {d} days"))
                    ),
                    "run the verification: a schedule with {\"verify\": true}, or `twincloud invoke backup --event events/manual/backup-verify.json`",
                );
            }
        }
    }
    Verdict::Ready
}

/// Sync: the last complete pass is recent and no failure waits.
pub fn sync(
    finished: Option<DateTime<Utc>>,
    failed: u64,
    max_age_hours: u32,
    now: DateTime<Utc>,
) -> Verdict {
    let Some(t) = finished else {
        return Verdict::not_ready(
            "no complete pass is recorded",
            "run `twincloud sync SRC DST` once, and check the pair's schedule",
        );
    };
    let hours = now.signed_duration_since(t).num_hours();
    if hours > i64::from(max_age_hours) {
        return Verdict::not_ready(
            format!("the last complete pass is {hours} h old (bound {max_age_hours} h)"),
            "see why passes stopped (`twincloud status`)",
        );
    }
    if failed > 0 {
        return Verdict::not_ready(
            format!("{failed} object(s) failed in the last pass and wait for the next"),
            "see the errors on the page; fix the access or the object, the next pass retries",
        );
    }
    Verdict::Ready
}

/// Heartbeat: a vantage's failover function probed within `max_age_secs`.
pub fn heartbeat(at: Option<DateTime<Utc>>, max_age_secs: u64, now: DateTime<Utc>) -> Verdict {
    let Some(t) = at else {
        return Verdict::not_ready(
            "its failover function never recorded a probe",
            "deploy the failover function there with its schedule (TWINCLOUD_VANTAGE names it)",
        );
    };
    let secs = now.signed_duration_since(t).num_seconds();
    if secs > i64::try_from(max_age_secs).unwrap_or(i64::MAX) {
        return Verdict::not_ready(
            format!("its failover function last probed {secs} s ago"),
            "check its schedule and its logs (a stopped schedule, a failing invocation)",
        );
    }
    Verdict::Ready
}

fn short(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}

#[cfg(test)]
mod tests;
