//! The standalone gateway: `raigate serve --config raigate.toml`.
//!
//! A hyper reverse proxy with [`crate::RaigateLayer`] in front of a [`Proxy`] that forwards
//! allowed requests to the upstream the decision chose (by the tenant's region set). Unmapped
//! paths get `route-not-found` and are never forwarded. SIGHUP reloads the policy bundle
//! (a bad bundle is rejected and the old one stays); SIGTERM or ctrl-c drain connections.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = raigate::gateway::GatewayConfig::load("raigate.toml".as_ref())?;
//! let gateway = raigate::gateway::Gateway::build(config).await?;
//! gateway.serve(async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

mod config;
mod conn;
mod drain;
mod identity;
mod proxy;
mod server;

pub use config::{
    AdminSection, GatewayConfig, GatewayConfigError, LimitsSection, PoliciesSection, RouteSection,
    ServerSection, StoreSection, TokenSection, TraceSection, UpstreamSection, listen_addr,
};
pub use identity::{IdentityMode, IdentitySection};
pub use proxy::{Proxy, ProxyBody};
pub use server::{Gateway, GatewayError, shutdown_signal};
