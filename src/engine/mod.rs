//! The decision: a pure, synchronous function of (request context, tenant snapshot, compiled
//! policy). No I/O, no locks, no clock.
//!
//! Checks run in this order and the first enforced denial decides: tenant known and AI on,
//! feature not opted out, region pinning (instance and upstream), training guard, purpose
//! rules, content rules. A rule in shadow mode does not stop the request: the first would-be
//! denial is remembered and the request is allowed with `shadow = true`.
//!
//! ```
//! use std::sync::Arc;
//! use raigate::context::{RequestContext, RouteSpec};
//! use raigate::engine::{decide, DecisionInput, Placement};
//! use raigate::policy::CompiledPolicy;
//! use raigate::tenants::{TenantSettings, TenantSnapshot};
//!
//! let policy = CompiledPolicy::load(concat!(env!("CARGO_MANIFEST_DIR"), "/policies").as_ref()).unwrap();
//! let tenants = TenantSnapshot::new([TenantSettings::new("acme").opt_out("captions")]);
//! let route = RouteSpec::new(http::Method::POST, "/v1/captions").unwrap().feature("captions");
//! let ctx = RequestContext { tenant: Some("acme".into()), ..Default::default() };
//! let region: Arc<str> = Arc::from("eu-central-1");
//! let input = DecisionInput { ctx: &ctx, route: &route, placement: Placement::local(&region), content: None };
//! let decision = decide(&input, &tenants, &policy);
//! assert_eq!(decision.denial.unwrap().problem_type(), "feature-opted-out");
//! ```

mod decide;
mod decision;
mod denial;

pub use decide::{DecisionInput, Placement, UpstreamRegion, decide, needs_content};
pub use decision::{Decision, Obligations, Outcome};
pub use denial::{
    AiOptedOut, BodyTooLarge, ConsentRequired, Denial, FeatureOptedOut, HumanOversightRequired,
    MalformedRequest, PolicyUnavailable, ProhibitedUse, RegionPinned, TrainingDataBlocked,
    Unauthenticated, UnknownTenant,
};
