//! Tenant settings, and the in-memory snapshot the hot path reads.
//!
//! The engine never reads a store: it reads a [`TenantSnapshot`] that a [`TenantView`] swaps
//! atomically whenever settings change. Stores (later: SQLite, PostgreSQL) publish into the
//! view; the gateway seeds it from `[[tenant]]` entries.
//!
//! ```
//! use raigate::tenants::{TenantSettings, TenantView};
//!
//! let view = TenantView::from_settings([TenantSettings::new("acme").region("eu")]);
//! let snapshot = view.snapshot();
//! assert_eq!(snapshot.get("acme").and_then(|t| t.region.as_deref()), Some("eu"));
//! ```

mod model;
mod snapshot;

pub use model::TenantSettings;
pub use snapshot::{TenantSnapshot, TenantView};
