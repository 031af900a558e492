//! Tenant settings stores: one object-safe trait, [`TenantStore`], and two backends.
//!
//! | URL | backend |
//! |---|---|
//! | `sqlite://FILE` | [`SqliteStore`]: embedded, file and schema created on first open, WAL |
//! | `postgres://…[?schema=NAME]` | [`PgStore`]: migrations on connect, `LISTEN`/`NOTIFY` change feed |
//!
//! Every document carries a monotonically increasing `version`; every write is a
//! compare-and-set [`Mutation`]: create (`Expect::Absent`, version 1), replace
//! (`Expect::Version`), or an atomic opt-out toggle. A failed precondition is
//! [`StoreError::Conflict`] carrying the current version. [`TenantStore::seed`] creates missing
//! tenants only and never overwrites one an admin changed.
//!
//! ```
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
mod postgres;
mod sqlite;

pub use api::{
    Applied, AuditHook, BoxFuture, Edit, Expect, Mutation, StoreError, StoreEvent, TenantStore,
};
pub use connect::connect;
pub use postgres::PgStore;
pub(crate) use postgres::split_schema_param;
pub use sqlite::SqliteStore;
