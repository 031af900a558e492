//! The decision: a pure, synchronous function of (request context, tenant snapshot, compiled
//! policy). No I/O, no locks, no clock: the layer measures what needs a clock (the snapshot's
//! age) and hands it in as a fact.
//!
//! [`decide`] runs the checks of [`checks`] in this order, and the first enforced denial
//! decides: fresh tenant settings, tenant known and AI on, feature not opted out, the tenant's
//! body cap, region pinning (instance and upstream), training guard, purpose rules, content
//! rules. A rule in shadow mode does not stop the request: the first would-be denial is
//! remembered and the request is allowed with `shadow = true`. The request-level refusals the
//! layer makes before deciding (malformed, unauthenticated, too large, unavailable) are engine
//! units too ([`checks::request`]).
//!
//! ```
//! use std::sync::Arc;
//! use raigate::context::{RequestContext, RouteSpec};
//! use raigate::engine::{decide, DecisionInput, Denial, Placement};
//! use raigate::policy::CompiledPolicy;
//! use raigate::tenants::{TenantSettings, TenantSnapshot};
//!
//! let policy = CompiledPolicy::load(concat!(env!("CARGO_MANIFEST_DIR"), "/policies").as_ref()).unwrap();
//! let tenants = TenantSnapshot::new([TenantSettings::new("acme").opt_out("captions")]);
//! let route = RouteSpec::new(http::Method::POST, "/v1/captions").unwrap().feature("captions");
//! let ctx = RequestContext::for_tenant("acme");
//! let region: Arc<str> = Arc::from("eu-central-1");
//! let input = DecisionInput::new(&ctx, &route, Placement::local(&region));
//! let decision = decide(&input, &tenants, &policy);
//! assert!(matches!(decision.denial, Some(Denial::FeatureOptedOut(_))));
//! assert_eq!(decision.rule.as_deref(), Some("tenant-feature-opt-out"));
//! ```

pub(crate) mod checks;
mod decide;
mod decision;
mod denial;

pub use checks::content::{
    ContentMatch, ProhibitedUse, TextOrigin, find_content_match, needs_content,
};
pub use checks::purpose::{ConsentRequired, HumanOversightRequired};
pub use checks::region::{RegionPinned, RegionPinnedCause};
pub use checks::request::{
    BodyTooLarge, MalformedRequest, PolicyUnavailable, RULE_MALFORMED, RULE_TOO_LARGE,
    RULE_UNAUTHENTICATED, RULE_UNAVAILABLE, RULE_UNSUPPORTED_MEDIA_TYPE, Unauthenticated,
    UnsupportedMediaType,
};
pub use checks::tenant::{AiOptedOut, FeatureOptedOut, UnknownTenant};
pub use checks::training::TrainingDataBlocked;
pub use checks::{BodyNeeds, body_needs};
pub use decide::{DecisionInput, Placement, Upstream, decide};
pub use decision::{Decision, Obligations, Outcome};
pub use denial::Denial;
