use std::sync::Arc;
use std::time::Duration;

use super::auth::AdminToken;
use crate::layer::DEFAULT_MAX_STALENESS;
use crate::policy::PolicyHandle;
use crate::tenants::{TenantStore, TenantView};
use crate::trace::DecisionSink;

/// Everything the admin API needs. Build it, then hand it to [`super::router`].
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use raigate::admin::{AdminState, AdminToken, Role, router};
/// use raigate::{policy::PolicyHandle, tenants::TenantSync, trace::MemorySink};
///
/// let sync = TenantSync::connect("sqlite://raigate.db").await?;
/// let state = AdminState::new(sync.store(), PolicyHandle::load("policies".as_ref())?, Arc::new(MemorySink::new()))
///     .view(sync.view())
///     .token(AdminToken::from_secret("s3cret", Role::Operator));
/// let app: axum::Router = router(state);
/// # drop(app); Ok(()) }
/// ```
#[derive(Clone)]
pub struct AdminState {
    pub(crate) store: Arc<dyn TenantStore>,
    pub(crate) policy: PolicyHandle,
    pub(crate) sink: Arc<dyn DecisionSink>,
    pub(crate) tokens: Arc<Vec<AdminToken>>,
    pub(crate) view: Option<TenantView>,
    pub(crate) region: Arc<str>,
    pub(crate) max_staleness: Duration,
}

impl std::fmt::Debug for AdminState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminState")
            .field("tokens", &self.tokens)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl AdminState {
    /// An admin API over `store`, checking features and region sets against `policy` and
    /// recording every change in `sink`. No tokens yet: every call needing one is 401.
    pub fn new(
        store: Arc<dyn TenantStore>,
        policy: PolicyHandle,
        sink: Arc<dyn DecisionSink>,
    ) -> Self {
        AdminState {
            store,
            policy,
            sink,
            tokens: Arc::new(Vec::new()),
            view: None,
            region: Arc::from("unspecified"),
            max_staleness: DEFAULT_MAX_STALENESS,
        }
    }

    /// Accept this bearer token.
    pub fn token(mut self, token: AdminToken) -> Self {
        Arc::make_mut(&mut self.tokens).push(token);
        self
    }

    /// Accept these bearer tokens.
    pub fn tokens(mut self, tokens: impl IntoIterator<Item = AdminToken>) -> Self {
        Arc::make_mut(&mut self.tokens).extend(tokens);
        self
    }

    /// The live view: changes made here apply to it at once, and `/readyz` reports its age.
    pub fn view(mut self, view: TenantView) -> Self {
        self.view = Some(view);
        self
    }

    /// The region written to admin records (this instance's).
    pub fn region(mut self, region: &str) -> Self {
        self.region = Arc::from(region);
        self
    }

    /// `/readyz` answers 503 when the view is older than this (default 30 s).
    pub fn max_staleness(mut self, bound: Duration) -> Self {
        self.max_staleness = bound;
        self
    }
}
