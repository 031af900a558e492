//! What the engine needs to know about a request, and where it comes from.
//!
//! A [`ContextResolver`] turns request parts into a [`RequestContext`]. The default,
//! [`HeaderResolver`], reads the DESIGN.md headers (`x-tenant-id`, `x-user-id`, `x-ai-purpose`,
//! `x-data-class`, `x-ai-consent`, `x-human-oversight`); a service with its own auth can
//! implement the trait and read request extensions or verified claims instead.
//!
//! ```
//! use raigate::context::{ContextResolver, DataClass, HeaderResolver};
//!
//! let req = http::Request::builder()
//!     .header("x-tenant-id", "acme")
//!     .header("x-data-class", "public")
//!     .body(())
//!     .unwrap();
//! let (parts, _) = req.into_parts();
//! let ctx = HeaderResolver::default().resolve(&parts).unwrap();
//! assert_eq!(ctx.tenant.as_deref(), Some("acme"));
//! assert_eq!(ctx.data_class, DataClass::Public);
//! ```

mod resolver;
mod route;

pub use resolver::{
    ContextResolver, DataClass, HeaderNames, HeaderResolver, RequestContext, ResolveError,
};
pub use route::{RouteClass, RouteConfigError, RouteSpec, RouteTable};
