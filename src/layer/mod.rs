//! The tower middleware: [`RaigateLayer`] → [`Raigate`] → [`ResponseFuture`] → [`ResponseBody`].
//!
//! For every request to a guarded route the service resolves the context, decides, writes one
//! decision record and waits until the sink says it is durable, then either answers with an RFC
//! 9457 problem (a denial is a response, never a service error) or calls the inner service and
//! labels its response. Requests to other paths get `route-not-found` and are not forwarded.
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
mod future;
mod labeller;
#[allow(clippy::module_inception)] // tower-http's layout: `layer.rs` holds the Layer.
mod layer;
pub mod problem;
mod service;

pub use body::{BoxError, ResponseBody};
pub use future::ResponseFuture;
pub use layer::{
    ConfigError, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_LABEL_BYTES, DEFAULT_MAX_STALENESS,
    RaigateLayer,
};
pub use service::{DecisionInfo, Raigate};
