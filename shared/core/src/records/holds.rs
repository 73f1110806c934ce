//! Holds: what the budget guard decided other functions must keep to until it lifts them.
//! One documented set, written by the budget guard only and read by scaling, failover, deploy
//! and the operations page, so that no function undoes another's decision:
//!
//! - a **cap** on a scaling service (`holds/service/<service>`, kind `cap`): scaling never asks
//!   for more than `max` (never less than the service's `min` while it serves);
//! - a **stop** of a scaling service (the same key, kind `stop`, `max` 0): only services with
//!   `min = 0` that no failover side depends on (the configuration refuses others);
//! - **standby to zero** (`holds/standby`): every failover standby is kept at 0 instances by
//!   scaling while it is standby; failover still takes over with it (an outage outranks the
//!   budget, and the report says so) and a failback returns the other side to 0, not to its
//!   `standby_size`.
//!
//! A hold set while its service was a failover standby (`while_standby`) lapses while that
//! side serves: the budget decision was about a standby's cost, not about the serving side.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The prefix every hold is kept under.
pub const HOLDS_PREFIX: &str = "holds/";

/// Where the standby-to-zero hold is kept.
pub const STANDBY_HOLD_KEY: &str = "holds/standby";

/// What kind of decision a hold carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldKind {
    /// A cap on a scaling service's maximum.
    #[default]
    Cap,
    /// A scaling service stopped (held at 0).
    Stop,
    /// Every failover standby held at 0.
    StandbyToZero,
}

/// One hold: at most `max` instances, who set it, since when and what lifts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// The most instances the held thing may run while the hold stands.
    pub max: u32,
    /// What decided it.
    #[serde(default)]
    pub kind: HoldKind,
    /// Who set it (`budget guard `monthly``).
    #[serde(default)]
    pub set_by: String,
    /// When it was set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// What lifts it, in words (the budget period's end, a restore command).
    #[serde(default)]
    pub until: String,
    /// Set while the service was a failover standby: lapses while that side serves.
    #[serde(default)]
    pub while_standby: bool,
}

impl Hold {
    /// The hold in words: `stopped by budget guard `b` since 2026-12-07 10:00 UTC (until ...)`.
    pub fn describe(&self) -> String {
        let what = match self.kind {
            HoldKind::Cap => format!("capped at {}", self.max),
            HoldKind::Stop => "stopped (held at 0)".to_owned(),
            HoldKind::StandbyToZero => "standby held at 0".to_owned(),
        };
        let by = if self.set_by.is_empty() {
            String::new()
        } else {
            format!(" by {}", self.set_by)
        };
        let since = self
            .since
            .map(|t| format!(" since {}", t.format("%Y-%m-%d %H:%M UTC")))
            .unwrap_or_default();
        let until = if self.until.is_empty() {
            String::new()
        } else {
            format!(" until {}", self.until)
        };
        format!("{what}{by}{since}{until}")
    }

    /// The most a service may be asked for under this hold: `None` when the hold lapses
    /// (set while standby, and the side serves now); never below `floor` (the service's
    /// `min`) while it serves.
    pub fn bound(&self, serving: bool, floor: u32) -> Option<u32> {
        match (serving, self.while_standby) {
            (true, true) => None,
            (true, false) => Some(self.max.max(floor)),
            (false, _) => Some(self.max),
        }
    }
}

/// Where the hold on scaling service `service` (a cap or a stop) is kept.
pub fn service_hold_key(service: &str) -> String {
    format!("holds/service/{}", crate::ids::key_segment(service))
}

/// The bound on a scaling service from its own hold and (while it is a failover standby, which
/// is what `serving == false` means) the standby-to-zero hold: the lowest that applies, and the holds that apply, for the report.
pub fn bound<'a>(
    own: Option<&'a Hold>,
    standby: Option<&'a Hold>,
    serving: bool,
    floor: u32,
) -> (Option<u32>, Vec<&'a Hold>) {
    let mut applied = vec![];
    let mut max: Option<u32> = None;
    let candidates = own.into_iter().chain(standby.filter(|_| !serving));
    for h in candidates {
        if let Some(b) = h.bound(serving, floor) {
            max = Some(max.map_or(b, |m| m.min(b)));
            applied.push(h);
        }
    }
    (max, applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hold(max: u32, while_standby: bool) -> Hold {
        Hold {
            max,
            kind: HoldKind::Cap,
            set_by: "budget guard `b`".into(),
            since: None,
            until: String::new(),
            while_standby,
        }
    }

    #[test]
    fn a_hold_set_on_a_standby_lapses_while_it_serves() {
        let h = hold(0, true);
        assert_eq!(bound(Some(&h), None, true, 2).0, None);
        assert_eq!(bound(Some(&h), None, false, 2).0, Some(0));
    }

    #[test]
    fn a_cap_on_a_serving_service_never_goes_below_its_min() {
        let h = hold(0, false);
        assert_eq!(bound(Some(&h), None, true, 2).0, Some(2));
        assert_eq!(bound(Some(&hold(5, false)), None, true, 2).0, Some(5));
    }

    #[test]
    fn the_standby_hold_binds_only_a_standby() {
        let s = Hold {
            kind: HoldKind::StandbyToZero,
            ..hold(0, true)
        };
        assert_eq!(bound(None, Some(&s), false, 1).0, Some(0));
        assert_eq!(bound(None, Some(&s), true, 1).0, None);
        // The lower of the two wins.
        let own = hold(3, false);
        let (max, applied) = bound(Some(&own), Some(&s), false, 1);
        assert_eq!((max, applied.len()), (Some(0), 2));
    }

    #[test]
    fn an_old_cap_record_still_reads() {
        let h: Hold = serde_json::from_str(r#"{"max": 3}"#).unwrap();
        assert_eq!((h.max, h.kind, h.while_standby), (3, HoldKind::Cap, false));
        assert!(h.describe().starts_with("capped at 3"));
    }
}
