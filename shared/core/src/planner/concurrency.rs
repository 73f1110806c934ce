//! How many copies to keep in flight. More is not always faster: a store that serializes
//! requests (an emulator, a throttled bucket) slows down as concurrency grows, while S3 and GCS
//! scale far beyond it. The controller climbs the throughput curve: it measures completed work
//! per interval, keeps moving the limit in the direction that helped, and turns back when
//! throughput drops. Pure: time is passed in.

/// Work units of one completed copy: one per object plus one per MiB, so that both many small
/// objects and a few large ones count.
pub fn work_units(bytes: u64) -> f64 {
    1.0 + bytes as f64 / (1024.0 * 1024.0)
}

/// A hill-climbing limit on copies in flight, between `min` and `max`.
#[derive(Debug, Clone)]
pub struct ConcurrencyController {
    limit: usize,
    min: usize,
    max: usize,
    /// +1 climbing, -1 descending.
    direction: i8,
    /// Doubling until the first window that does not gain (as TCP's slow start).
    slow_start: bool,
    window_start: f64,
    window_work: f64,
    window_done: usize,
    last_rate: Option<f64>,
}

/// Shortest measurement window, in seconds.
const WINDOW_SECS: f64 = 0.3;

impl ConcurrencyController {
    /// Starts at `start` (clamped), never below `min` nor above `max`; `now` in seconds.
    pub fn new(start: usize, min: usize, max: usize, now: f64) -> Self {
        let max = max.max(1);
        let min = min.clamp(1, max);
        ConcurrencyController {
            limit: start.clamp(min, max),
            min,
            max,
            direction: 1,
            slow_start: true,
            window_start: now,
            window_work: 0.0,
            window_done: 0,
            last_rate: None,
        }
    }

    /// The current limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Records one finished copy of `bytes` at `now`; returns the (possibly new) limit. A
    /// window closes once it is long enough and saw as many completions as the limit, so that
    /// each measurement covers the whole pipeline. It doubles while doubling pays, then only a
    /// clear gain (10 %) keeps it climbing and a loss (5 %) turns it back.
    pub fn completed(&mut self, bytes: u64, now: f64) -> usize {
        self.window_work += work_units(bytes);
        self.window_done += 1;
        let elapsed = now - self.window_start;
        if elapsed < WINDOW_SECS || self.window_done < self.limit {
            return self.limit;
        }
        let rate = self.window_work / elapsed;
        if self.slow_start {
            match self.last_rate {
                Some(last) if rate <= last * 1.10 => {
                    // The last doubling did not pay: step back half of it, then climb gently.
                    self.slow_start = false;
                    self.limit = (self.limit * 3 / 4).max(self.min);
                    self.direction = -1;
                }
                _ => self.limit = (self.limit * 2).min(self.max),
            }
            self.reset(now, Some(rate));
            return self.limit;
        }
        match self.last_rate {
            Some(last) if rate < last * 0.95 => self.direction = -self.direction,
            Some(last) if rate <= last * 1.10 => {
                // Flat: stay, and measure again.
                self.reset(now, Some(rate.max(last)));
                return self.limit;
            }
            _ => {}
        }
        let step = (self.limit / 4).max(2);
        self.limit = if self.direction > 0 {
            (self.limit + step).min(self.max)
        } else {
            self.limit.saturating_sub(step).max(self.min)
        };
        self.reset(now, Some(rate));
        self.limit
    }

    fn reset(&mut self, now: f64, rate: Option<f64>) {
        self.window_start = now;
        self.window_work = 0.0;
        self.window_done = 0;
        self.last_rate = rate;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives the controller against a store whose throughput (work/s) is `curve(limit)`.
    fn settle(curve: impl Fn(usize) -> f64, max: usize) -> usize {
        let mut c = ConcurrencyController::new(8, 2, max, 0.0);
        let mut now = 0.0;
        let mut seen = Vec::new();
        for _ in 0..4000 {
            let rate = curve(c.limit());
            now += 1.0 / rate;
            c.completed(0, now);
            seen.push(c.limit());
        }
        // The limit it spends the last part of the run around.
        let tail = &seen[seen.len() - 1000..];
        tail.iter().sum::<usize>() / tail.len()
    }

    #[test]
    fn a_store_that_scales_is_driven_to_the_maximum() {
        assert_eq!(settle(|n| 10.0 * n as f64, 64), 64);
    }

    #[test]
    fn a_store_that_serializes_keeps_the_limit_low() {
        // Peak at 8 in flight, slower beyond (lock contention).
        let got = settle(
            |n| {
                let n = n as f64;
                if n <= 8.0 {
                    100.0 * n
                } else {
                    800.0 - 10.0 * (n - 8.0)
                }
            },
            64,
        );
        assert!((4..=20).contains(&got), "settled at {got}");
    }

    #[test]
    fn limits_are_respected() {
        let mut c = ConcurrencyController::new(100, 3, 10, 0.0);
        assert_eq!(c.limit(), 10);
        for i in 0..1000 {
            c.completed(1 << 20, f64::from(i) * 0.01);
            assert!((3..=10).contains(&c.limit()));
        }
        assert_eq!(work_units(1 << 20), 2.0);
    }
}
