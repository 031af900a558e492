use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::{self, error::RecvError};
use tokio::task::JoinHandle;

use super::store::{StoreError, StoreEvent, TenantStore, connect};
use super::{TenantSettings, TenantSnapshot, TenantView};

/// Default period of the full resync that backs up the change feed.
pub const DEFAULT_RESYNC: Duration = Duration::from_secs(10);

/// Keeps a [`TenantView`] in sync with a [`TenantStore`]: reloads a tenant when the store's
/// change feed names it, everything on a resync request and every resync period, and marks the
/// view fresh after every successful refresh. While refreshes fail the view ages, and the layer
/// refuses AI requests once it is older than its bound (fail closed).
///
/// Dropping the handle stops the background task.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use raigate::{RaigateLayer, policy::PolicyHandle, tenants::TenantSync, trace::MemorySink};
///
/// let sync = TenantSync::connect("sqlite://raigate.db").await?;
/// let layer = RaigateLayer::new(
///     PolicyHandle::load("policies".as_ref())?,
///     sync.view(),
///     Arc::new(MemorySink::new()),
/// )
/// .max_staleness(std::time::Duration::from_secs(30));
/// // keep `sync` alive as long as the layer serves
/// # drop(layer); Ok(()) }
/// ```
#[derive(Debug)]
pub struct TenantSync {
    store: Arc<dyn TenantStore>,
    view: TenantView,
    task: JoinHandle<()>,
}

/// Options for [`TenantSync`], from [`TenantSync::builder`].
pub struct TenantSyncBuilder {
    store: Arc<dyn TenantStore>,
    resync: Duration,
    seeds: Vec<TenantSettings>,
}

impl std::fmt::Debug for TenantSyncBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantSyncBuilder")
            .field("resync", &self.resync)
            .field("seeds", &self.seeds.len())
            .finish_non_exhaustive()
    }
}

impl TenantSyncBuilder {
    /// Period of the full resync (default 10 s).
    pub fn resync(mut self, every: Duration) -> Self {
        self.resync = every.max(Duration::from_millis(10));
        self
    }

    /// Tenants to create at start when missing (existing ones are never overwritten).
    pub fn seed(mut self, tenants: impl IntoIterator<Item = TenantSettings>) -> Self {
        self.seeds.extend(tenants);
        self
    }

    /// Seed, load every tenant (this first load must succeed) and start the background task.
    pub async fn start(self) -> Result<TenantSync, StoreError> {
        let store = self.store;
        if !self.seeds.is_empty() {
            let created = store.seed(self.seeds).await?;
            tracing::info!(created, "tenant seeds applied");
        }
        let events = store.changes();
        let tenants = store.list().await?;
        let view = TenantView::tracked(TenantSnapshot::new(tenants));
        view.mark_fresh();
        let task = tokio::spawn(run(store.clone(), view.clone(), events, self.resync));
        Ok(TenantSync { store, view, task })
    }
}

impl TenantSync {
    /// Options for syncing from `store`.
    pub fn builder(store: Arc<dyn TenantStore>) -> TenantSyncBuilder {
        TenantSyncBuilder {
            store,
            resync: DEFAULT_RESYNC,
            seeds: Vec::new(),
        }
    }

    /// Open the store at `url` (see [`connect`]) and start syncing with the defaults.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::builder(connect(url).await?).start().await
    }

    /// The live view to hand to [`crate::RaigateLayer::new`].
    pub fn view(&self) -> TenantView {
        self.view.clone()
    }

    /// The store.
    pub fn store(&self) -> Arc<dyn TenantStore> {
        self.store.clone()
    }
}

impl Drop for TenantSync {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(
    store: Arc<dyn TenantStore>,
    view: TenantView,
    mut events: broadcast::Receiver<StoreEvent>,
    resync: Duration,
) {
    let mut tick = tokio::time::interval(resync);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut failing = false;
    loop {
        let result = tokio::select! {
            ev = events.recv() => match ev {
                Ok(StoreEvent::Changed(id)) => reload_one(&*store, &view, &id).await,
                Ok(StoreEvent::Resync) | Err(RecvError::Lagged(_)) => reload_all(&*store, &view).await,
                Err(RecvError::Closed) => return,
            },
            _ = tick.tick() => reload_all(&*store, &view).await,
        };
        match result {
            Ok(()) => {
                if failing {
                    tracing::info!("tenant settings refreshed again");
                }
                failing = false;
            }
            Err(e) => {
                failing = true;
                let age = view.staleness().unwrap_or_default();
                tracing::error!(error = %e, stale_for_ms = u64::try_from(age.as_millis()).unwrap_or(u64::MAX), "tenant settings cannot be refreshed; AI requests are refused once the snapshot is older than the bound");
            }
        }
    }
}

async fn reload_one(
    store: &dyn TenantStore,
    view: &TenantView,
    id: &str,
) -> Result<(), StoreError> {
    match store.get(id).await? {
        Some(t) => view.upsert(t),
        None => view.remove(id),
    }
    view.mark_fresh();
    Ok(())
}

async fn reload_all(store: &dyn TenantStore, view: &TenantView) -> Result<(), StoreError> {
    let tenants = store.list().await?;
    view.publish(TenantSnapshot::new(tenants));
    Ok(())
}
