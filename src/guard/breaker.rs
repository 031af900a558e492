//! A guard's circuit breaker. A guard that keeps failing costs every request its whole
//! timeout; after `failures` failures in a row the circuit opens and the guard is not asked
//! (its `on_error` applies at once) until `cooldown` has passed. Then one call probes it: a
//! verdict closes the circuit, a failure opens it again.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One probe is in flight since then; another may go once it is overdue (a probe whose
    /// request was dropped never reports).
    Probing {
        since: Instant,
    },
}

pub(crate) struct Breaker {
    state: Mutex<State>,
    failures: u32,
    cooldown: Duration,
    /// How long a probe may take before another one is let through.
    probe_timeout: Duration,
}

impl Breaker {
    pub(crate) fn new(failures: u32, cooldown: Duration, probe_timeout: Duration) -> Self {
        Breaker {
            state: Mutex::new(State::Closed { failures: 0 }),
            failures: failures.max(1),
            cooldown,
            probe_timeout,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a call may go out now.
    pub(crate) fn admit(&self) -> bool {
        let now = Instant::now();
        let mut s = self.lock();
        match *s {
            State::Closed { .. } => true,
            State::Open { until } if now >= until => {
                *s = State::Probing { since: now };
                true
            }
            State::Probing { since } if now.duration_since(since) > self.probe_timeout => {
                *s = State::Probing { since: now };
                true
            }
            State::Open { .. } | State::Probing { .. } => false,
        }
    }

    pub(crate) fn success(&self) {
        *self.lock() = State::Closed { failures: 0 };
    }

    pub(crate) fn failure(&self) {
        let mut s = self.lock();
        let open = State::Open {
            until: Instant::now() + self.cooldown,
        };
        *s = match *s {
            State::Closed { failures } if failures + 1 < self.failures => State::Closed {
                failures: failures + 1,
            },
            _ => open,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_failures_in_a_row_and_one_probe_closes_it() {
        let b = Breaker::new(3, Duration::from_millis(20), Duration::from_secs(5));
        b.failure();
        b.failure();
        b.success();
        b.failure();
        b.failure();
        assert!(b.admit(), "a success resets the count");
        b.failure();
        assert!(!b.admit(), "open after three in a row");
        std::thread::sleep(Duration::from_millis(25));
        assert!(b.admit(), "one probe after the cooldown");
        assert!(!b.admit(), "only one");
        b.success();
        assert!(b.admit() && b.admit());
    }
}
