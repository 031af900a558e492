use std::future::Future;
use std::pin::Pin;

use tokio::sync::broadcast;

use crate::tenants::TenantSettings;

/// A boxed, sendable future: what the object-safe [`TenantStore`] methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a tenant store operation could not be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Compare-and-set failed: the tenant is not at the expected version.
    #[error("tenant `{id}` is at version {}, not the expected one", .current.map_or_else(|| "none (it does not exist)".to_owned(), |v| v.to_string()))]
    Conflict {
        /// The tenant.
        id: String,
        /// Its current version; `None` when it does not exist.
        current: Option<u64>,
    },
    /// The tenant does not exist.
    #[error("tenant `{id}` does not exist")]
    NotFound {
        /// The tenant.
        id: String,
    },
    /// The store URL cannot be used.
    #[error("invalid store URL: {0}")]
    Url(String),
    /// The database cannot be reached or refused the operation.
    #[error("tenant store unavailable: {0}")]
    Unavailable(String),
    /// A stored row cannot be read back.
    #[error("tenant store holds an unreadable row: {0}")]
    Corrupt(String),
    /// The id is not a tenant id (see [`crate::tenants::check_tenant_id`]); nothing was written.
    #[error(transparent)]
    InvalidId(crate::tenants::InvalidTenantId),
    /// The change's record could not be made durable in the decision trace, so the change was
    /// not applied.
    #[error("the change was not applied because its record could not be written: {0}")]
    ChangeRecord(String),
}

/// What a write expects to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Expect {
    /// The tenant must not exist (create).
    Absent,
    /// The tenant must be at this version (replace).
    Version(u64),
    /// Whatever is there (opt-out toggles are atomic read-modify-writes).
    Any,
}

/// What a write changes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Edit {
    /// Replace the whole document (its `id` and `version` are ignored).
    Replace(TenantSettings),
    /// Add (`true`) or remove (`false`) a feature opt-out. No-op when already so.
    OptOut {
        /// The feature.
        feature: String,
        /// Opted out afterwards.
        opted_out: bool,
    },
}

/// One compare-and-set write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mutation {
    /// The tenant.
    pub id: String,
    /// The precondition.
    pub expect: Expect,
    /// The change.
    pub edit: Edit,
}

/// The result of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The document before, `None` when created.
    pub before: Option<TenantSettings>,
    /// The document after (the new version).
    pub after: TenantSettings,
    /// Whether anything was written (`false`: the edit was a no-op and the version stays).
    pub changed: bool,
}

/// Called inside the write, after the precondition held and before the change commits, with
/// (before, after). The change commits only if the returned future resolves `Ok`: the admin API
/// uses it to make the change's record durable in the decision trace first (fail closed).
pub type ChangeRecordHook = Box<
    dyn FnOnce(Option<&TenantSettings>, &TenantSettings) -> BoxFuture<'static, Result<(), String>>
        + Send,
>;

/// A change seen by a store.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreEvent {
    /// One tenant changed (its id).
    Changed(String),
    /// Anything may have changed (reconnect, missed notifications): reload everything.
    Resync,
}

/// Where tenant settings live. Object-safe: use it as `Arc<dyn TenantStore>`.
///
/// Every document has a monotonically increasing `version`; writes are compare-and-set on it.
pub trait TenantStore: Send + Sync + 'static {
    /// Every tenant, ordered by id.
    fn list(&self) -> BoxFuture<'_, Result<Vec<TenantSettings>, StoreError>>;

    /// One tenant.
    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<TenantSettings>, StoreError>>;

    /// Apply a compare-and-set write atomically. A create gets version 1, every change adds 1.
    /// A failed precondition is [`StoreError::Conflict`] carrying the current version; an
    /// opt-out toggle on a missing tenant is [`StoreError::NotFound`].
    fn apply(
        &self,
        mutation: Mutation,
        audit: Option<ChangeRecordHook>,
    ) -> BoxFuture<'_, Result<Applied, StoreError>>;

    /// Create the tenants that do not exist yet (at version 1); never touch existing ones.
    /// Returns how many were created.
    fn seed(&self, tenants: Vec<TenantSettings>) -> BoxFuture<'_, Result<usize, StoreError>>;

    /// The change feed: ids of changed tenants, and resync requests.
    fn changes(&self) -> broadcast::Receiver<StoreEvent>;

    /// Create (`expected = None`) or replace (`Some(version)`) a tenant document.
    fn put(
        &self,
        settings: TenantSettings,
        expected: Option<u64>,
    ) -> BoxFuture<'_, Result<TenantSettings, StoreError>> {
        let mutation = Mutation {
            id: settings.id.clone(),
            expect: expected.map_or(Expect::Absent, Expect::Version),
            edit: Edit::Replace(settings),
        };
        let fut = self.apply(mutation, None);
        Box::pin(async move { fut.await.map(|a| a.after) })
    }

    /// Opt a tenant out of (`true`) or back into (`false`) a feature; atomic, bumps the version
    /// when it changes anything.
    fn set_opt_out(
        &self,
        id: &str,
        feature: &str,
        opted_out: bool,
    ) -> BoxFuture<'_, Result<TenantSettings, StoreError>> {
        let mutation = Mutation {
            id: id.to_owned(),
            expect: Expect::Any,
            edit: Edit::OptOut {
                feature: feature.to_owned(),
                opted_out,
            },
        };
        let fut = self.apply(mutation, None);
        Box::pin(async move { fut.await.map(|a| a.after) })
    }
}

impl std::fmt::Debug for dyn TenantStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TenantStore")
    }
}

/// Seeds go through the same grammar as every other write.
pub(crate) fn check_seed_ids(tenants: &[TenantSettings]) -> Result<(), StoreError> {
    for t in tenants {
        crate::tenants::check_tenant_id(&t.id).map_err(StoreError::InvalidId)?;
    }
    Ok(())
}

/// The document a mutation produces from `current`, or `None` for a no-op. Shared by backends.
pub(crate) fn plan(
    m: &Mutation,
    current: Option<&TenantSettings>,
) -> Result<Option<TenantSettings>, StoreError> {
    // One grammar everywhere: a store never holds an id the proxy could not match.
    crate::tenants::check_tenant_id(&m.id).map_err(StoreError::InvalidId)?;
    let conflict = || StoreError::Conflict {
        id: m.id.clone(),
        current: current.map(|c| c.version),
    };
    match (m.expect, current) {
        (Expect::Absent, Some(_)) => return Err(conflict()),
        (Expect::Version(_), None) => return Err(conflict()),
        (Expect::Version(v), Some(c)) if c.version != v => return Err(conflict()),
        _ => {}
    }
    let next = current.map_or(1, |c| c.version.saturating_add(1));
    match &m.edit {
        Edit::Replace(s) => {
            let mut after = s.clone();
            after.id = m.id.clone();
            after.version = next;
            Ok(Some(after))
        }
        Edit::OptOut { feature, opted_out } => {
            let Some(c) = current else {
                return Err(StoreError::NotFound { id: m.id.clone() });
            };
            if c.opted_out.contains(feature) == *opted_out {
                return Ok(None);
            }
            let mut after = c.clone();
            if *opted_out {
                after.opted_out.insert(feature.clone());
            } else {
                after.opted_out.remove(feature);
            }
            after.version = next;
            Ok(Some(after))
        }
    }
}
