//! What the engine needs to know about a request, and where it comes from.
//!
//! A [`ContextResolver`] turns request parts into a [`RequestContext`]. The default,
//! [`HeaderResolver`], reads the headers `x-tenant-id`, `x-user-id`, `x-ai-purpose`,
//! `x-data-class`, `x-ai-consent` and `x-human-oversight`; a service with its own auth can
//! implement the trait and read request extensions or verified claims instead.
//!
//! `JwtResolver` (feature `jwt`) is the built-in way to do the latter: the tenant and the user come from a
//! verified JWT (`Authorization: Bearer …`; HS256, RS256 or ES256, fixed by configuration;
//! `iss`, `aud`, `exp`, `nbf` checked), the other items from the same headers, and the plain
//! `x-tenant-id` / `x-user-id` headers are ignored and stripped ([`ContextResolver::strip`])
//! before forwarding, so a client cannot pose as another tenant. A missing or invalid token is
//! an `unauthenticated` (401) problem.
//!
//! ```
//! # #[cfg(feature = "jwt")] {
//! use raigate::context::{ContextResolver, JwtKey, JwtResolver};
//!
//! let pem = std::fs::read("tests/fixtures/jwt/rs256-public.pem").unwrap();
//! let resolver = JwtResolver::new(JwtKey::rs256_pem(&pem).unwrap(), "https://auth.example.com/", "raigate")
//!     .tenant_claim("org_id");
//! let req = http::Request::builder()
//!     .header("x-tenant-id", "acme")                        // ignored: no verified token
//!     .body(())
//!     .unwrap();
//! let (mut parts, _) = req.into_parts();
//! assert!(resolver.resolve(&parts).unwrap_err().is_unauthenticated());
//! resolver.strip(&mut parts);                                // what the layer does before forwarding
//! assert!(parts.headers.get("x-tenant-id").is_none());
//! # }
//! ```
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

#[cfg(feature = "jwt")]
mod jwt;
mod resolver;
mod route;

#[cfg(feature = "jwt")]
pub use jwt::{JwtAlgorithm, JwtKey, JwtKeyError, JwtResolver};
pub use resolver::{
    ContextResolver, DataClass, HeaderNames, HeaderResolver, RequestContext, ResolveError,
    ResolveErrorKind,
};
pub(crate) use route::RouteTable;
pub use route::{RouteClass, RouteConfigError, RouteSpec, Unscannable};
