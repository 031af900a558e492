//! A log line at most every so often: a limit that is hit is worth knowing about, but a flood
//! of refused connections or over-budget responses must not turn into a flood of log lines.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Counts events and says when one may be logged: the first at once, then at most one per
/// period, carrying how many happened since the last line.
#[derive(Debug)]
pub(crate) struct Throttle {
    origin: Instant,
    period_ms: u64,
    /// Milliseconds since `origin` of the last line, plus one (0: never logged).
    last: AtomicU64,
    /// Events since the last line.
    pending: AtomicU64,
}

impl Throttle {
    /// At most one line per `period`.
    pub(crate) fn new(period: Duration) -> Self {
        Throttle {
            origin: Instant::now(),
            period_ms: u64::try_from(period.as_millis()).unwrap_or(u64::MAX),
            last: AtomicU64::new(0),
            pending: AtomicU64::new(0),
        }
    }

    /// Count one event. `Some(n)`: log now, `n` events (this one included) since the last line.
    pub(crate) fn hit(&self) -> Option<u64> {
        self.pending.fetch_add(1, Ordering::Relaxed);
        let now = u64::try_from(self.origin.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let last = self.last.load(Ordering::Relaxed);
        if last != 0 && now.saturating_sub(last) < self.period_ms {
            return None;
        }
        // One caller wins the right to log this period.
        if self
            .last
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return None;
        }
        Some(self.pending.swap(0, Ordering::Relaxed).max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_event_logs_then_the_rest_of_the_period_is_counted() {
        let t = Throttle::new(Duration::from_millis(200));
        assert_eq!(t.hit(), Some(1));
        for _ in 0..9 {
            assert_eq!(t.hit(), None);
        }
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(t.hit(), Some(10), "the nine counted plus this one");
    }
}
