//! Live counters of a sync run, shared with whoever shows progress (the CLI's progress line).

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters updated as a run goes; read them at any time.
#[derive(Debug, Default)]
pub struct Progress {
    /// Objects listed on the source side.
    pub listed: AtomicU64,
    /// Objects found to copy so far.
    pub planned: AtomicU64,
    /// Their bytes.
    pub planned_bytes: AtomicU64,
    /// Objects copied.
    pub copied: AtomicU64,
    /// Bytes copied.
    pub bytes: AtomicU64,
    /// Objects that failed.
    pub failed: AtomicU64,
    /// Set once the listings are done: `planned` is then the total.
    pub listing_done: AtomicU64,
}

impl Progress {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The counters now, read once each.
    pub fn snapshot(&self) -> Snapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            listed: get(&self.listed),
            planned: get(&self.planned),
            planned_bytes: get(&self.planned_bytes),
            copied: get(&self.copied),
            bytes: get(&self.bytes),
            failed: get(&self.failed),
            listing_done: get(&self.listing_done) > 0,
        }
    }
}

/// The counters of a run at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// Objects listed on the source side.
    pub listed: u64,
    /// Objects to copy found so far (the total once `listing_done`).
    pub planned: u64,
    /// Their bytes.
    pub planned_bytes: u64,
    /// Objects copied.
    pub copied: u64,
    /// Bytes copied.
    pub bytes: u64,
    /// Objects that failed.
    pub failed: u64,
    /// Whether the listings are done.
    pub listing_done: bool,
}

impl Snapshot {
    /// The counts as words (the rate, sizes and ETA are the progress bar's).
    pub fn counts(&self) -> String {
        let more = if self.listing_done { "" } else { "+" };
        format!(
            "listed {}  copied {}/{}{more}  failed {}",
            self.listed, self.copied, self.planned, self.failed
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counts_say_when_the_total_is_not_known_yet() {
        let p = Progress::default();
        Progress::add(&p.planned, 4);
        Progress::add(&p.planned_bytes, 4 << 20);
        Progress::add(&p.copied, 2);
        Progress::add(&p.bytes, 2 << 20);
        let s = p.snapshot();
        assert_eq!(s.counts(), "listed 0  copied 2/4+  failed 0");
        Progress::add(&p.listing_done, 1);
        assert_eq!(p.snapshot().counts(), "listed 0  copied 2/4  failed 0");
        assert_eq!((s.bytes, s.planned_bytes), (2 << 20, 4 << 20));
    }
}
