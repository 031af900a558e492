//! Tenant settings stores: one object-safe trait, [`TenantStore`], and two backends.
//!
//! | URL | backend | feature |
//! |---|---|---|
//! | `sqlite://FILE` | [`SqliteStore`]: embedded, file created on first open, WAL | `store-sqlite` |
//! | `postgres://…[?schema=NAME]` | [`PgStore`]: `LISTEN`/`NOTIFY` change feed | `store-postgres` |
//!
//! Both keep one row per tenant: the indexed `id` and `version`, and the settings document as
//! JSON (so a new setting is a new field of [`TenantSettings`](super::TenantSettings), not a new
//! column). Their schemas are migrated at open, each numbered migration once, under a lock.
//!
//! Every document carries a monotonically increasing `version`; every write is a
//! compare-and-set [`Mutation`]: create (`Expect::Absent`, version 1), replace
//! (`Expect::Version`), or an atomic opt-out toggle. A failed precondition is
//! [`StoreError::Conflict`] carrying the current version. [`TenantStore::seed`] creates missing
//! tenants only and never overwrites one an admin changed.
//!
//! ```
//! # #[cfg(feature = "store-sqlite")]
//! # async fn demo() -> Result<(), raigate::tenants::StoreError> {
//! use raigate::tenants::{TenantSettings, store::connect};
//!
//! let store = connect("sqlite://:memory:").await?;
//! let created = store.put(TenantSettings::new("acme").region("eu"), None).await?;
//! assert_eq!(created.version, 1);
//! let opted = store.set_opt_out("acme", "captions", true).await?;
//! assert_eq!(opted.version, 2);
//! # Ok(()) }
//! ```

mod api;
mod connect;
#[cfg(feature = "store-postgres")]
mod postgres;
#[cfg(feature = "store-sqlite")]
mod sqlite;

pub use api::{
    Applied, BoxFuture, ChangeRecordHook, Edit, Expect, Mutation, StoreError, StoreEvent,
    TenantStore,
};
pub use connect::connect;
#[cfg(feature = "store-postgres")]
pub use postgres::PgStore;
#[cfg(feature = "store-sqlite")]
pub use sqlite::SqliteStore;
