//! A guard's verdict cache: bounded, approximately least-recently-used, with a time to live.
//!
//! A chat client resends the whole conversation on every turn, and retries resend the same
//! request, so the same text reaches a guard again and again. Verdicts are keyed by the SHA-256
//! of the exact request body the guard would be sent (so a different model or wording is a
//! different key); the text itself is never kept. Two generations of at most half the capacity
//! each: entries go into the young one, a hit in the old one moves the entry to the young one,
//! and when the young one is full it becomes the old one (the previous old one is dropped). That
//! is O(1) per operation with no linked list, and keeps what is used. Only verdicts are cached,
//! never failures: a guard that was down is asked again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::wire::GuardVerdict;

pub(crate) type Key = [u8; 32];

struct Generations {
    young: HashMap<Key, (Instant, GuardVerdict)>,
    old: HashMap<Key, (Instant, GuardVerdict)>,
}

pub(crate) struct VerdictCache {
    gens: Mutex<Generations>,
    half: usize,
    ttl: Duration,
}

impl VerdictCache {
    /// A cache of at most `entries` verdicts (0: off), each trusted for `ttl`.
    pub(crate) fn new(entries: usize, ttl: Duration) -> Self {
        VerdictCache {
            gens: Mutex::new(Generations {
                young: HashMap::new(),
                old: HashMap::new(),
            }),
            half: entries.div_ceil(2),
            ttl,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        // A panic while holding the lock cannot leave the maps inconsistent; go on.
        self.gens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn get(&self, key: &Key) -> Option<GuardVerdict> {
        if self.half == 0 {
            return None;
        }
        let now = Instant::now();
        let mut g = self.lock();
        if let Some((at, v)) = g.young.get(key) {
            if now.duration_since(*at) <= self.ttl {
                return Some(v.clone());
            }
            g.young.remove(key);
            return None;
        }
        let (at, v) = g.old.remove(key)?;
        if now.duration_since(at) > self.ttl {
            return None;
        }
        let out = v.clone();
        Self::insert(&mut g, self.half, *key, (at, v));
        Some(out)
    }

    pub(crate) fn put(&self, key: Key, verdict: GuardVerdict) {
        if self.half == 0 {
            return;
        }
        let mut g = self.lock();
        Self::insert(&mut g, self.half, key, (Instant::now(), verdict));
    }

    fn insert(g: &mut Generations, half: usize, key: Key, entry: (Instant, GuardVerdict)) {
        if g.young.len() >= half && !g.young.contains_key(&key) {
            g.old = std::mem::take(&mut g.young);
        }
        g.old.remove(&key);
        g.young.insert(key, entry);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        let g = self.lock();
        g.young.len() + g.old.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u32) -> Key {
        let mut k = [0; 32];
        k[..4].copy_from_slice(&i.to_le_bytes());
        k
    }

    #[test]
    fn bounded_and_keeps_what_is_used() {
        let c = VerdictCache::new(4, Duration::from_secs(60));
        c.put(key(0), GuardVerdict::Clean);
        for i in 1..100 {
            assert!(c.get(&key(0)).is_some(), "a used entry stays (round {i})");
            c.put(key(i), GuardVerdict::Clean);
            assert!(c.len() <= 4);
        }
        assert!(c.get(&key(1)).is_none(), "an unused old entry is dropped");
    }

    #[test]
    fn expired_entries_are_not_served_and_zero_is_off() {
        let c = VerdictCache::new(4, Duration::ZERO);
        c.put(key(1), GuardVerdict::Clean);
        std::thread::sleep(Duration::from_millis(2));
        assert!(c.get(&key(1)).is_none());
        let off = VerdictCache::new(0, Duration::from_secs(60));
        off.put(key(1), GuardVerdict::Clean);
        assert!(off.get(&key(1)).is_none());
    }
}
