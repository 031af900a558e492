//! The budget for response bodies buffered to be labelled, shared by every request.
//!
//! Labelling a JSON, WebVTT or SRT body means holding all of it (up to `max_label_bytes`, 16 MiB
//! by default) until it can be rewritten. Without a bound on the sum, 32 concurrent 15 MiB
//! responses hold 480 MiB. Each buffered byte is taken from one budget first; a response that
//! cannot get its bytes is labelled by its `AI-Disclosure` header only and streamed through
//! unchanged, and that is logged (at most every 10 s, with a count).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::throttle::Throttle;

/// Bytes of response bodies that may be buffered at once.
#[derive(Debug)]
pub(crate) struct LabelBudget {
    limit: usize,
    used: AtomicUsize,
    refusals: Throttle,
}

impl LabelBudget {
    pub(crate) fn new(limit: usize) -> Self {
        LabelBudget {
            limit,
            used: AtomicUsize::new(0),
            refusals: Throttle::new(Duration::from_secs(10)),
        }
    }

    /// Take `n` bytes, all or nothing.
    fn try_take(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|&after| after <= self.limit)
            })
            .is_ok()
    }

    fn give_back(&self, n: usize) {
        // Never below zero, even if a caller gives back more than it took.
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(n))
            });
    }

    /// Bytes taken now.
    pub(crate) fn in_use(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// Log (rate-limited) that a response was labelled by header only for want of budget.
    pub(crate) fn note_refusal(&self, wanted: usize) {
        if let Some(count) = self.refusals.hit() {
            tracing::warn!(
                budget_bytes = self.limit,
                in_use_bytes = self.in_use(),
                wanted_bytes = wanted,
                responses = count,
                "label buffer budget exhausted: responses labelled by the AI-Disclosure header only, body unchanged (count since the last line)"
            );
        }
    }
}

/// Bytes held against a [`LabelBudget`]; given back when dropped.
#[derive(Debug)]
pub(crate) struct Reservation {
    budget: Arc<LabelBudget>,
    bytes: usize,
}

impl Reservation {
    /// Nothing held yet.
    pub(crate) fn none(budget: Arc<LabelBudget>) -> Self {
        Reservation { budget, bytes: 0 }
    }

    /// Hold at least `total` bytes; `false` (nothing more held) when the budget has no room.
    pub(crate) fn grow_to(&mut self, total: usize) -> bool {
        let more = total.saturating_sub(self.bytes);
        if more == 0 {
            return true;
        }
        if !self.budget.try_take(more) {
            return false;
        }
        self.bytes = total;
        true
    }

    /// Hold exactly `total` bytes from now on, over the budget if need be: the labelled body
    /// replaces the buffered one and may be a little longer; it is already in memory.
    pub(crate) fn settle_at(&mut self, total: usize) {
        if total > self.bytes {
            self.budget
                .used
                .fetch_add(total - self.bytes, Ordering::AcqRel);
        } else {
            self.budget.give_back(self.bytes - total);
        }
        self.bytes = total;
    }

    pub(crate) fn budget(&self) -> &Arc<LabelBudget> {
        &self.budget
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.give_back(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_share_one_budget_and_give_it_back() {
        let budget = Arc::new(LabelBudget::new(100));
        let mut a = Reservation::none(budget.clone());
        let mut b = Reservation::none(budget.clone());
        assert!(a.grow_to(60));
        assert!(!b.grow_to(50), "60 + 50 is over 100");
        assert_eq!(budget.in_use(), 60, "a refused reservation takes nothing");
        assert!(b.grow_to(40));
        a.settle_at(70);
        assert_eq!(budget.in_use(), 110, "a labelled body may go a little over");
        drop(a);
        drop(b);
        assert_eq!(budget.in_use(), 0);
    }
}
