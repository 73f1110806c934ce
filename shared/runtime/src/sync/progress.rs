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

    /// One line: objects, bytes, rate and ETA after `elapsed` seconds.
    pub fn line(&self, elapsed: f64) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let (copied, planned) = (get(&self.copied), get(&self.planned));
        let (bytes, planned_bytes) = (get(&self.bytes), get(&self.planned_bytes));
        let rate = if elapsed > 0.0 {
            bytes as f64 / elapsed
        } else {
            0.0
        };
        let done = get(&self.listing_done) > 0;
        let eta = if done && rate > 0.0 {
            format!(
                "ETA {:.0}s",
                planned_bytes.saturating_sub(bytes) as f64 / rate
            )
        } else {
            "ETA -".into()
        };
        let more = if done { "" } else { "+" };
        format!(
            "listed {}  copied {copied}/{planned}{more}  {}/{}{more}  {}/s  {eta}  failed {}",
            get(&self.listed),
            human(bytes as f64),
            human(planned_bytes as f64),
            human(rate),
            get(&self.failed)
        )
    }
}

/// Bytes in binary units.
pub fn human(bytes: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{v:.0} {}", units[i])
    } else {
        format!("{v:.1} {}", units[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_counts_rate_and_eta() {
        let p = Progress::default();
        Progress::add(&p.planned, 4);
        Progress::add(&p.planned_bytes, 4 << 20);
        Progress::add(&p.copied, 2);
        Progress::add(&p.bytes, 2 << 20);
        assert!(p.line(2.0).contains("copied 2/4+"), "{}", p.line(2.0));
        Progress::add(&p.listing_done, 1);
        let line = p.line(2.0);
        assert!(line.contains("2.0 MiB/4.0 MiB"), "{line}");
        assert!(line.contains("1.0 MiB/s"), "{line}");
        assert!(line.contains("ETA 2s"), "{line}");
    }
}
