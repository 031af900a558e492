use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use super::TenantSettings;

/// An immutable view of every tenant's settings at one moment.
#[derive(Debug, Clone)]
pub struct TenantSnapshot {
    tenants: HashMap<String, TenantSettings>,
    refreshed_at: Instant,
}

impl TenantSnapshot {
    /// A snapshot of `tenants`, taken now.
    pub fn new(tenants: impl IntoIterator<Item = TenantSettings>) -> Self {
        TenantSnapshot {
            tenants: tenants.into_iter().map(|t| (t.id.clone(), t)).collect(),
            refreshed_at: Instant::now(),
        }
    }

    /// A tenant's settings.
    pub fn get(&self, id: &str) -> Option<&TenantSettings> {
        self.tenants.get(id)
    }

    /// When the snapshot was last known to match its source.
    pub fn refreshed_at(&self) -> Instant {
        self.refreshed_at
    }

    /// Number of tenants.
    pub fn len(&self) -> usize {
        self.tenants.len()
    }

    /// Whether there are no tenants.
    pub fn is_empty(&self) -> bool {
        self.tenants.is_empty()
    }

    /// All tenants, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &TenantSettings> {
        self.tenants.values()
    }

    /// This snapshot with one tenant removed.
    pub fn without(&self, id: &str) -> Self {
        let mut tenants = self.tenants.clone();
        tenants.remove(id);
        TenantSnapshot {
            tenants,
            refreshed_at: Instant::now(),
        }
    }

    /// This snapshot with one tenant replaced or added.
    pub fn with(&self, settings: TenantSettings) -> Self {
        let mut tenants = self.tenants.clone();
        tenants.insert(settings.id.clone(), settings);
        TenantSnapshot {
            tenants,
            refreshed_at: Instant::now(),
        }
    }
}

/// The live tenant snapshot, swapped atomically. Cloning shares it.
///
/// A view fed by a store ([`TenantView::tracked`], used by [`super::TenantSync`]) knows when it
/// last matched the store: [`TenantView::staleness`] tells how long ago, and the layer refuses
/// AI requests once that is over its bound. A view built from fixed settings
/// ([`TenantView::from_settings`]) has no source and is never stale.
#[derive(Debug, Clone)]
pub struct TenantView {
    current: Arc<ArcSwap<TenantSnapshot>>,
    freshness: Arc<Freshness>,
}

/// When a tracked view last matched its source, lock-free for the hot path.
#[derive(Debug)]
struct Freshness {
    tracked: AtomicBool,
    base: Instant,
    /// Milliseconds after `base` of the last successful refresh.
    last_ms: AtomicU64,
}

impl Freshness {
    fn new(tracked: bool) -> Self {
        Freshness {
            tracked: AtomicBool::new(tracked),
            base: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn mark(&self) {
        self.last_ms.fetch_max(self.now_ms(), Ordering::AcqRel);
    }

    fn age(&self) -> Option<Duration> {
        if !self.tracked.load(Ordering::Acquire) {
            return None;
        }
        let last = self.last_ms.load(Ordering::Acquire);
        Some(Duration::from_millis(self.now_ms().saturating_sub(last)))
    }
}

impl TenantView {
    /// A view on `snapshot`.
    pub fn new(snapshot: TenantSnapshot) -> Self {
        TenantView {
            current: Arc::new(ArcSwap::from_pointee(snapshot)),
            freshness: Arc::new(Freshness::new(false)),
        }
    }

    /// A view on `snapshot` that a store keeps in sync: it becomes stale unless
    /// [`TenantView::mark_fresh`] (or a publish) is called often enough.
    pub fn tracked(snapshot: TenantSnapshot) -> Self {
        TenantView {
            current: Arc::new(ArcSwap::from_pointee(snapshot)),
            freshness: Arc::new(Freshness::new(true)),
        }
    }

    /// Record that the view matches its source now, keeping its content.
    pub fn mark_fresh(&self) {
        self.freshness.mark();
    }

    /// How long ago the view last matched its source; `None` for a view without a source.
    pub fn staleness(&self) -> Option<Duration> {
        self.freshness.age()
    }

    /// A view on a fixed set of tenants.
    pub fn from_settings(tenants: impl IntoIterator<Item = TenantSettings>) -> Self {
        Self::new(TenantSnapshot::new(tenants))
    }

    /// The live snapshot (one atomic load).
    pub fn snapshot(&self) -> Arc<TenantSnapshot> {
        self.current.load_full()
    }

    /// Put a new snapshot in force (and mark the view fresh).
    pub fn publish(&self, snapshot: TenantSnapshot) {
        self.current.store(Arc::new(snapshot));
        self.freshness.mark();
    }

    /// Replace or add one tenant.
    pub fn upsert(&self, settings: TenantSettings) {
        self.current.rcu(|cur| cur.with(settings.clone()));
    }

    /// Replace or add one tenant unless the view already holds the same or a newer version.
    pub fn upsert_newer(&self, settings: TenantSettings) {
        self.current.rcu(|cur| match cur.get(&settings.id) {
            Some(old) if old.version >= settings.version => (**cur).clone(),
            _ => cur.with(settings.clone()),
        });
    }

    /// Remove one tenant.
    pub fn remove(&self, id: &str) {
        self.current.rcu(|cur| cur.without(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tracked_views_age() {
        let fixed = TenantView::from_settings([TenantSettings::new("acme")]);
        assert_eq!(fixed.staleness(), None);
        let tracked = TenantView::tracked(TenantSnapshot::new([TenantSettings::new("acme")]));
        std::thread::sleep(Duration::from_millis(30));
        let age = tracked.staleness().unwrap_or_default();
        assert!(age >= Duration::from_millis(20), "{age:?}");
        tracked.mark_fresh();
        assert!(tracked.staleness().unwrap_or(Duration::MAX) < age);
        assert_eq!(
            tracked.snapshot().len(),
            1,
            "marking fresh keeps the content"
        );
    }

    #[test]
    fn upsert_newer_keeps_the_newest_version() {
        let view = TenantView::from_settings([TenantSettings::new("acme")]);
        let mut v3 = TenantSettings::new("acme").opt_out("captions");
        v3.version = 3;
        view.upsert_newer(v3.clone());
        let mut v2 = TenantSettings::new("acme");
        v2.version = 2;
        view.upsert_newer(v2);
        assert_eq!(view.snapshot().get("acme"), Some(&v3));
        view.remove("acme");
        assert!(view.snapshot().is_empty());
    }
}
