//! Tenant settings, their stores, and the in-memory snapshot the hot path reads.
//!
//! The engine never reads a store: it reads a [`TenantSnapshot`] that a [`TenantView`] swaps
//! atomically whenever settings change. With a store feature, a [`TenantSync`] keeps a view in
//! sync with a [`TenantStore`] (SQLite embedded, or PostgreSQL with `LISTEN`/`NOTIFY`, see
//! [`store`]) and marks it fresh on every successful refresh, so the layer can refuse AI
//! requests when the snapshot is older than its bound (fail closed).
//!
//! ```
//! use raigate::tenants::{TenantSettings, TenantView};
//!
//! let view = TenantView::from_settings([TenantSettings::new("acme").region("eu")]);
//! let snapshot = view.snapshot();
//! assert_eq!(snapshot.get("acme").and_then(|t| t.region.as_deref()), Some("eu"));
//! ```

mod id;
mod model;
mod snapshot;
#[cfg(feature = "store")]
pub mod store;
#[cfg(feature = "store")]
mod sync;

pub use id::{InvalidTenantId, MAX_TENANT_ID_LEN, check_tenant_id};
pub(crate) use id::{grammar as tenant_id_grammar, is_id_token};
pub use model::TenantSettings;
pub use snapshot::{TenantSnapshot, TenantView};
#[cfg(feature = "store")]
pub use store::{StoreError, StoreEvent, TenantStore};
#[cfg(feature = "store")]
pub use sync::{DEFAULT_RESYNC, TenantSync, TenantSyncBuilder};
