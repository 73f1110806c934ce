//! The two pieces every section's validation uses: tables whose keys depend on a kind
//! (`type = "slack"`, `compute = "ecs"`, `provider = "route53"`, `engine = "rds"`), and numbers
//! held within bounds.
//!
//! A kind's table is read as a plain `toml::Table` (so the entry's line is known), the keys
//! every kind takes are split off, and the rest is deserialized into the kind's own struct,
//! which has `deny_unknown_fields`: a key of another kind is an error at the entry's line, as
//! an unknown key is. (`#[serde(tag = "...")]` would buffer the table and lose the lines.)

use std::fmt::Display;
use std::ops::RangeInclusive;

use serde::de::DeserializeOwned;

/// Reads `[[...]]` entries in order with `read(entry, earlier entries, report)`; each problem
/// is reported at its entry's line.
pub(super) fn entries<T>(
    raw: Vec<toml::Spanned<toml::Table>>,
    problem: &dyn Fn(std::ops::Range<usize>, String),
    read: impl Fn(toml::Table, &[T], &dyn Fn(String)) -> Option<T>,
) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for entry in raw {
        let span = entry.span();
        let at = |m: String| problem(span.clone(), m);
        if let Some(v) = read(entry.into_inner(), &out, &at) {
            out.push(v);
        }
    }
    out
}

/// The entry's `name`, for messages before the entry is read (empty when missing).
pub(super) fn name(table: &toml::Table) -> String {
    table
        .get("name")
        .and_then(toml::Value::as_str)
        .unwrap_or("")
        .to_owned()
}

/// Splits `table` into the keys named in `common` and the rest.
pub(super) fn split(mut table: toml::Table, common: &[&str]) -> (toml::Table, toml::Table) {
    let mut shared = toml::Table::new();
    for k in common {
        if let Some(v) = table.remove(*k) {
            shared.insert((*k).to_owned(), v);
        }
    }
    (shared, table)
}

/// Deserializes `table` into `T`; `what` names the entry in errors (``channel `alerts` ``) and
/// `scope` the kind (``type `slack` ``): a key `T` does not take becomes "`key` does not apply
/// to SCOPE", a missing one "`key` is required for SCOPE".
pub(super) fn read<T: DeserializeOwned>(
    table: toml::Table,
    what: &str,
    scope: &str,
) -> Result<T, String> {
    T::deserialize(toml::Value::Table(table)).map_err(|e| {
        let msg = e.message().trim().to_owned();
        let quoted = |prefix: &str| {
            msg.strip_prefix(prefix)
                .and_then(|r| r.split_once('`'))
                .map(|(k, rest)| (k.to_owned(), rest.trim_start_matches(',').trim().to_owned()))
        };
        if let Some((key, expected)) = quoted("unknown field `") {
            if expected.starts_with("there are no fields") {
                format!("{what}: `{key}` does not apply to {scope} (it takes no key of its own)")
            } else {
                format!("{what}: `{key}` does not apply to {scope} ({expected})")
            }
        } else if let Some((key, _)) = quoted("missing field `") {
            format!("{what}: `{key}` is required for {scope}")
        } else {
            format!("{what}: {msg}")
        }
    })
}

/// The string value of `key` (the kind), or an error naming the choices.
pub(super) fn kind<'a>(
    table: &'a toml::Table,
    key: &str,
    what: &str,
    choices: &[&str],
) -> Result<&'a str, String> {
    match table.get(key) {
        Some(toml::Value::String(s)) if choices.contains(&s.as_str()) => Ok(s),
        Some(toml::Value::String(s)) => Err(format!(
            "{what}: unknown {key} `{s}` (one of: {})",
            choices.join(", ")
        )),
        Some(_) => Err(format!("{what}: `{key}` must be a string")),
        None => Err(format!(
            "{what}: `{key}` is required (one of: {})",
            choices.join(", ")
        )),
    }
}

/// `value` (or `default` when unset) when it lies within `range`; otherwise a problem through
/// `at` and the default, so validation goes on and reports everything at once.
pub(super) fn bounded<T>(
    value: Option<T>,
    default: T,
    range: RangeInclusive<T>,
    key: &str,
    at: &dyn Fn(String),
) -> T
where
    T: PartialOrd + Display + Copy,
{
    match value {
        None => default,
        Some(v) if range.contains(&v) => v,
        Some(v) => {
            at(format!(
                "`{key}` = {v} is out of range ({} to {})",
                range.start(),
                range.end()
            ));
            default
        }
    }
}

/// Where in `text` the key a problem names stands, for an entry whose header starts at
/// `start`: the problem's backticked names after its subject (``budget guard `monthly`: ``),
/// then its quoted values, are looked for as `key =` (or `= "value"`) within the entry, down
/// to its next entry of the same array, and within the Nth of its `[[...steps]]`-style
/// sub-entries when the message says `step N:`. `None` leaves the problem at the header.
pub(super) fn key_offset(text: &str, start: usize, message: &str) -> Option<usize> {
    let rest = text.get(start..)?;
    let mut lines = line_starts(rest);
    let header = lines.next().map(|(_, l)| l.trim())?;
    let mut region: Vec<(usize, &str)> = lines
        .take_while(|(_, l)| !(header.starts_with("[[") && l.trim() == header))
        .collect();
    let mut stepped = None;
    if let Some(n) = message
        .split("step ")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .and_then(|n| n.trim().parse::<usize>().ok())
    {
        let subs: Vec<usize> = region
            .iter()
            .enumerate()
            .filter(|(_, (_, l))| l.trim_start().starts_with("[["))
            .map(|(i, _)| i)
            .collect();
        if let Some(&from) = subs.get(n.checked_sub(1)?) {
            let to = subs.get(n).copied().unwrap_or(region.len());
            region = region[from..to].to_vec();
            stepped = region.first().map(|(at, _)| *at);
        }
    }
    // The subject (``scaling service `backend` ``) names the entry, not a key.
    let body = message.split_once(": ").map_or(message, |(_, b)| b);
    let keys = body.split('`').skip(1).step_by(2);
    for key in keys.filter(|k| {
        !k.is_empty()
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b))
    }) {
        let hit = region.iter().find(|(_, l)| {
            l.trim_start()
                .strip_prefix(key)
                .is_some_and(|r| r.trim_start().starts_with('='))
        });
        if let Some((at, _)) = hit {
            return Some(start + at);
        }
    }
    let named = body.split('`').skip(1).step_by(2);
    let values = named.chain(body.split('"').skip(1).step_by(2));
    for value in values.filter(|v| !v.is_empty()) {
        let quoted = format!("\"{value}\"");
        if let Some((at, _)) = region
            .iter()
            .find(|(_, l)| l.split_once('=').is_some_and(|(_, v)| v.contains(&quoted)))
        {
            return Some(start + at);
        }
    }
    // A step's problem with no key of its own: at the step's header.
    stepped.map(|at| start + at)
}

/// Each line of `text` with the offset it starts at.
fn line_starts(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut at = 0;
    text.split_inclusive('\n').map(move |l| {
        let start = at;
        at += l.len();
        (start, l)
    })
}

/// Bounds shared by several sections, so that every validated configuration keeps date
/// arithmetic far from overflow (the largest is about a century).
pub(super) mod limits {
    /// Seconds in a day.
    pub const DAY: u64 = 86_400;
    /// The longest window, cooldown or hold-down in seconds: 30 days.
    pub const MAX_WINDOW_SECS: u64 = 30 * DAY;
    /// The longest retention in days: 10 years.
    pub const MAX_RETAIN_DAYS: u32 = 3_650;
    /// A DNS TTL: 1 s to a day.
    pub const TTL: std::ops::RangeInclusive<u32> = 1..=86_400;
    /// Instances of one service.
    pub const MAX_INSTANCES: u32 = 10_000;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Slack {
        #[allow(dead_code)]
        webhook_url: String,
    }

    #[test]
    fn a_key_of_another_kind_is_named() {
        let t: toml::Table =
            toml::from_str("name='a'\ntype='slack'\nwebhook_url='env:X'\ntopic='t'").expect("toml");
        let (common, rest) = split(t, &["name", "type"]);
        assert_eq!(common.len(), 2);
        let e = read::<Slack>(rest, "channel `a`", "type `slack`").expect_err("topic refused");
        assert!(
            e.contains("channel `a`: `topic` does not apply to type `slack`"),
            "{e}"
        );
        assert!(e.contains("webhook_url"), "{e}");
    }

    #[test]
    fn numbers_out_of_range_are_reported_and_defaulted() {
        let seen = std::cell::RefCell::new(vec![]);
        let at = |m: String| seen.borrow_mut().push(m);
        assert_eq!(bounded(Some(5u32), 3, 1..=10, "x", &at), 5);
        assert_eq!(bounded(None, 3u32, 1..=10, "x", &at), 3);
        assert_eq!(bounded(Some(0u32), 3, 1..=10, "x", &at), 3);
        assert_eq!(seen.borrow().len(), 1);
        assert!(seen.borrow()[0].contains("`x` = 0 is out of range (1 to 10)"));
    }
}
