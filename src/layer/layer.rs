use std::sync::Arc;

use tower_layer::Layer;

use super::Raigate;
use super::budget::LabelBudget;
use crate::context::{ContextResolver, HeaderResolver, RouteConfigError, RouteSpec, RouteTable};
use crate::engine::Upstream;
use crate::policy::PolicyHandle;
use crate::tenants::TenantView;
use crate::trace::{DecisionSink, Pseudonymizer};

/// Default limit on request bodies read for content rules (1 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Default limit on response bodies buffered to be labelled (16 MiB).
pub const DEFAULT_MAX_LABEL_BYTES: usize = 16 * 1024 * 1024;
/// Default budget for all response bodies buffered to be labelled at once (64 MiB: four
/// responses at the default per-response limit).
pub const DEFAULT_LABEL_BUDGET_BYTES: usize = 64 * 1024 * 1024;
/// Default bound on the age of a store-fed tenant snapshot (30 s); older: `policy-unavailable`.
pub const DEFAULT_MAX_STALENESS: std::time::Duration = std::time::Duration::from_secs(30);

/// Why a route could not be added to a [`RaigateLayer`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LayerConfigError {
    /// A route is malformed.
    #[error(transparent)]
    Route(#[from] RouteConfigError),
    /// A route names a feature the policy does not define.
    #[error("route `{route}`: feature `{feature}` is not in the policy's feature catalogue")]
    UnknownFeature {
        /// The route.
        route: String,
        /// The feature.
        feature: String,
    },
    /// An inference route names no feature.
    #[error("route `{route}`: an inference route must name its feature")]
    MissingFeature {
        /// The route.
        route: String,
    },
}

/// Everything a [`Raigate`] service shares with its clones.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) policy: PolicyHandle,
    pub(crate) tenants: TenantView,
    pub(crate) routes: RouteTable,
    pub(crate) resolver: Arc<dyn ContextResolver>,
    pub(crate) sink: Arc<dyn DecisionSink>,
    pub(crate) pseudonymizer: Option<Pseudonymizer>,
    pub(crate) region: Arc<str>,
    /// The one upstream list: the engine picks by region, records and the proxy use the name.
    pub(crate) upstreams: Vec<Upstream>,
    pub(crate) provider: Option<Arc<str>>,
    pub(crate) max_body_bytes: usize,
    pub(crate) max_label_bytes: usize,
    /// Shared by every clone of the layer: bytes of response bodies being buffered to label.
    pub(crate) label_budget: Arc<LabelBudget>,
    pub(crate) max_staleness: std::time::Duration,
    /// External guards asked after the content rules (none: the stage is skipped).
    #[cfg(feature = "guards")]
    pub(crate) guards: Option<Arc<crate::guard::GuardSet>>,
}

/// Applies raigate's Responsible-AI policy to the routes it is told about. Builder methods
/// take and return the layer by value; `route` fails on a route the policy cannot serve.
///
/// ```no_run
/// use raigate::{RaigateLayer, context::RouteSpec, policy::PolicyHandle, tenants::{TenantSettings, TenantView}, trace::JsonlSink};
/// use std::sync::Arc;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let layer = RaigateLayer::new(
///     PolicyHandle::load("policies".as_ref())?,
///     TenantView::from_settings([TenantSettings::new("acme")]),
///     Arc::new(JsonlSink::open("decisions.jsonl".as_ref())?),
/// )
/// .region("eu-central-1")
/// .route(RouteSpec::new(http::Method::POST, "/v1/chat/completions")?.feature("assistant"))?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[must_use]
pub struct RaigateLayer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RaigateLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaigateLayer")
            .field("region", &self.shared.region)
            .field("routes", &self.shared.routes)
            .finish_non_exhaustive()
    }
}

impl RaigateLayer {
    /// A layer enforcing `policy` for `tenants`, recording every decision in `sink`.
    ///
    /// Defaults: context from the `x-tenant-id`, `x-user-id`, `x-ai-purpose`, `x-data-class`,
    /// `x-ai-consent` and `x-human-oversight` headers ([`HeaderResolver`]), region `unspecified` (so region-pinned
    /// tenants are refused until [`RaigateLayer::region`] is set), no routes (every request
    /// is `route-not-found` until [`RaigateLayer::route`] adds some), 1 MiB body limit.
    pub fn new(policy: PolicyHandle, tenants: TenantView, sink: Arc<dyn DecisionSink>) -> Self {
        RaigateLayer {
            shared: Arc::new(Shared {
                policy,
                tenants,
                routes: RouteTable::new(),
                resolver: Arc::new(HeaderResolver::default()),
                sink,
                pseudonymizer: Pseudonymizer::ephemeral().ok(),
                region: Arc::from("unspecified"),
                upstreams: Vec::new(),
                provider: None,
                max_body_bytes: DEFAULT_MAX_BODY_BYTES,
                max_label_bytes: DEFAULT_MAX_LABEL_BYTES,
                label_budget: Arc::new(LabelBudget::new(DEFAULT_LABEL_BUDGET_BYTES)),
                max_staleness: DEFAULT_MAX_STALENESS,
                #[cfg(feature = "guards")]
                guards: None,
            }),
        }
    }

    fn shared_mut(&mut self) -> &mut Shared {
        Arc::make_mut(&mut self.shared)
    }

    /// The cloud region this instance runs in.
    pub fn region(mut self, region: &str) -> Self {
        self.shared_mut().region = Arc::from(region);
        self
    }

    /// Guard a route. Its feature must be in the policy's catalogue.
    pub fn route(mut self, route: RouteSpec) -> Result<Self, LayerConfigError> {
        let policy = self.shared.policy.current();
        match &route.feature {
            Some(f) if policy.feature(f).is_none() => {
                return Err(LayerConfigError::UnknownFeature {
                    route: route.label().to_string(),
                    feature: f.to_string(),
                });
            }
            None if route.class == crate::context::RouteClass::Inference => {
                return Err(LayerConfigError::MissingFeature {
                    route: route.label().to_string(),
                });
            }
            _ => {}
        }
        self.shared_mut().routes.push(route);
        Ok(self)
    }

    /// Read the request context with `resolver` instead of the default headers.
    pub fn resolver(mut self, resolver: impl ContextResolver) -> Self {
        self.shared_mut().resolver = Arc::new(resolver);
        self
    }

    /// Pseudonymise user ids with this key instead of a random per-process one.
    pub fn pseudonymizer(mut self, pseudonymizer: Pseudonymizer) -> Self {
        self.shared_mut().pseudonymizer = Some(pseudonymizer);
        self
    }

    /// An upstream the inner service may forward to, in preference order. The decision
    /// picks one whose region is in the tenant's region set ([`crate::DecisionInfo::upstream`]
    /// names it). Names are unique: an upstream with the name of an earlier one replaces it.
    pub fn upstream(mut self, name: &str, region: &str, provider: Option<&str>) -> Self {
        let mut upstream = Upstream::new(name, region);
        if let Some(p) = provider {
            upstream = upstream.provider(p);
        }
        let list = &mut self.shared_mut().upstreams;
        match list.iter_mut().find(|u| *u.name == *name) {
            Some(same) => *same = upstream,
            None => list.push(upstream),
        }
        self
    }

    /// The provider named in `AI-Disclosure` when no upstream names one.
    pub fn provider(mut self, provider: &str) -> Self {
        self.shared_mut().provider = Some(Arc::from(provider));
        self
    }

    /// Largest request body read for content rules; larger ones get 413.
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        self.shared_mut().max_body_bytes = limit;
        self
    }

    /// Largest response body buffered to label it; larger ones are labelled by header only.
    pub fn max_label_bytes(mut self, limit: usize) -> Self {
        self.shared_mut().max_label_bytes = limit;
        self
    }

    /// Most bytes of response bodies buffered to be labelled at once, across every request
    /// through this layer and its clones (default 64 MiB). A response that would go over it is
    /// labelled by header only, and that is logged. With `max_label_bytes` (per response) this
    /// bounds the memory labelling can take under a burst of large responses.
    pub fn label_budget_bytes(mut self, budget: usize) -> Self {
        self.shared_mut().label_budget = Arc::new(LabelBudget::new(budget));
        self
    }

    /// Refuse AI requests with 503 `policy-unavailable` while the tenant view has not been
    /// refreshed from its store for longer than `bound` (default 30 s). Views without a store
    /// ([`TenantView::from_settings`]) are never stale.
    pub fn max_staleness(mut self, bound: std::time::Duration) -> Self {
        self.shared_mut().max_staleness = bound;
        self
    }

    /// Ask an external guard about the text of every request on a route that scans content,
    /// after the content rules found nothing (`docs/guards.md`). Guards are asked
    /// concurrently; a flag is 403 `prohibited-use` recorded with `detector = "guard:<name>"`,
    /// a guard not heard follows its `on_error`. Fails on invalid values or a name already
    /// taken.
    ///
    /// ```no_run
    /// # use raigate::{RaigateLayer, guard::{GuardKind, GuardSpec}};
    /// # fn f(layer: RaigateLayer) -> Result<RaigateLayer, raigate::guard::GuardConfigError> {
    /// let layer = layer.guard(
    ///     GuardSpec::new("moderation", GuardKind::OpenaiModeration, "http://127.0.0.1:9400/v1", "eu-central-1"),
    /// )?;
    /// # Ok(layer) }
    /// ```
    #[cfg(feature = "guards")]
    pub fn guard(
        mut self,
        spec: crate::guard::GuardSpec,
    ) -> Result<Self, crate::guard::GuardConfigError> {
        let shared = self.shared_mut();
        let mut set = shared.guards.as_deref().cloned().unwrap_or_default();
        set.add(spec)?;
        shared.guards = Some(Arc::new(set));
        Ok(self)
    }

    /// The live policy.
    pub fn policy(&self) -> &PolicyHandle {
        &self.shared.policy
    }

    /// The live tenant view.
    pub fn tenants(&self) -> &TenantView {
        &self.shared.tenants
    }
}

impl<S> Layer<S> for RaigateLayer {
    type Service = Raigate<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Raigate {
            inner,
            shared: self.shared.clone(),
        }
    }
}
