//! Pure planners: signal + observed state + config → plan.

pub mod backup;
pub mod budget;
pub mod concurrency;
pub mod deploy;
pub mod dumps;
pub mod failover;
pub mod notify;
pub mod readiness;
pub mod retention;
pub mod scaling;
pub mod sync;

use chrono::{DateTime, TimeDelta, Utc};

/// `secs` as a time span, saturating at chrono's bound: configuration bounds keep every span
/// far below it, and a span can never make a planner panic.
pub fn span_secs(secs: u64) -> TimeDelta {
    TimeDelta::try_seconds(i64::try_from(secs).unwrap_or(i64::MAX)).unwrap_or(TimeDelta::MAX)
}

/// `t + span`, or the latest representable time.
pub fn later(t: DateTime<Utc>, span: TimeDelta) -> DateTime<Utc> {
    t.checked_add_signed(span)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `t - span`, or the earliest representable time.
pub fn earlier(t: DateTime<Utc>, span: TimeDelta) -> DateTime<Utc> {
    t.checked_sub_signed(span)
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_saturate_instead_of_panicking() {
        let now = Utc::now();
        assert_eq!(later(now, span_secs(u64::MAX)), DateTime::<Utc>::MAX_UTC);
        assert_eq!(earlier(now, span_secs(u64::MAX)), DateTime::<Utc>::MIN_UTC);
        assert_eq!(later(now, span_secs(60)), now + TimeDelta::seconds(60));
    }
}
