//! The HTTP plumbing around the engine, tower-http style: [`RaigateLayer`] → [`Raigate`] →
//! [`ResponseFuture`] → [`ResponseBody`].
//!
//! For every request to a guarded route the service resolves the context, gathers the facts the
//! engine needs (the body, read and bounded only where a check needs it), lets the engine
//! decide, and hands one decision record to the sink. A denial waits until the record is
//! durable and is answered with an RFC 9457 problem (a response, never a service error). An
//! allowed request waits for the commit with [`crate::trace::Durability::Sync`], or only until
//! the record is queued with `Async`; then the inner service is called and its response
//! labelled. Requests to other paths get `route-not-found` and are not forwarded.
//!
//! The decision travels as a [`DecisionInfo`] in request and response extensions.
//!
//! ```no_run
//! use std::sync::Arc;
//! use axum::{Router, routing::post};
//! use raigate::{RaigateLayer, context::RouteSpec, policy::PolicyHandle};
//! use raigate::tenants::{TenantSettings, TenantView};
//! use raigate::trace::MemorySink;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let raigate = RaigateLayer::new(
//!     PolicyHandle::load("policies".as_ref())?,
//!     TenantView::from_settings([TenantSettings::new("acme")]),
//!     Arc::new(MemorySink::new()),
//! )
//! .region("eu-central-1")
//! .route(RouteSpec::new(http::Method::POST, "/v1/summaries")?.feature("summarization"))?;
//!
//! let app: Router = Router::new()
//!     .route("/v1/summaries", post(|| async { axum::Json(serde_json::json!({"summary": "…"})) }))
//!     .route_layer(raigate);
//! # Ok(()) }
//! ```

mod body;
mod budget;
mod future;
#[cfg(feature = "guards")]
mod guards;
mod labeller;
// `layer/layer.rs` holds the `Layer`, as in tower-http's `<middleware>/layer.rs`; the lint
// fires because this module is named `layer` too.
#[allow(clippy::module_inception)]
mod layer;
mod service;
pub(crate) mod throttle;

pub use body::ResponseBody;
pub use future::ResponseFuture;
#[cfg(feature = "guards")]
pub use guards::{RULE_GUARD_FLAGGED, RULE_GUARD_UNAVAILABLE};
pub use layer::{
    DEFAULT_LABEL_BUDGET_BYTES, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_LABEL_BYTES,
    DEFAULT_MAX_STALENESS, LayerConfigError, RaigateLayer,
};
pub use service::{DecisionInfo, Raigate};
