use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

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
#[derive(Debug, Clone)]
pub struct TenantView {
    current: Arc<ArcSwap<TenantSnapshot>>,
}

impl TenantView {
    /// A view on `snapshot`.
    pub fn new(snapshot: TenantSnapshot) -> Self {
        TenantView {
            current: Arc::new(ArcSwap::from_pointee(snapshot)),
        }
    }

    /// A view on a fixed set of tenants.
    pub fn from_settings(tenants: impl IntoIterator<Item = TenantSettings>) -> Self {
        Self::new(TenantSnapshot::new(tenants))
    }

    /// The live snapshot (one atomic load).
    pub fn snapshot(&self) -> Arc<TenantSnapshot> {
        self.current.load_full()
    }

    /// Put a new snapshot in force.
    pub fn publish(&self, snapshot: TenantSnapshot) {
        self.current.store(Arc::new(snapshot));
    }

    /// Replace or add one tenant.
    pub fn upsert(&self, settings: TenantSettings) {
        self.current.rcu(|cur| cur.with(settings.clone()));
    }
}
