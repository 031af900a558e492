//! raigate's integration tests: one binary, one module per area.
//!
//! | module | what | features |
//! |---|---|---|
//! | `engine` | the pure decision: order of checks, shadow mode, obligations, upstream choice | none |
//! | `policy` | loading and validating bundles, citations, the default bundle | none |
//! | `content` | the content rules against the malicious and benign fixtures | none |
//! | `content_views` | each view of the content check, its benign counterpart, quotation | none |
//! | `content_eval` | `raigate policy eval`: report, JSON, thresholds and exit codes | `cli` |
//! | `content_transport` | request bodies over real sockets: type lies, multipart, codings, duplicate names, 415, expansion | all |
//! | `layer` | the tower layer in process (`oneshot` + `service_fn`): labelling branches | none |
//! | `example` | the example service over real sockets | none |
//! | `gateway` | the gateway binary over real sockets: routing, denials, records, config | all |
//! | `guards` | external guard services: a stand-in server per kind, flags, on_error, region pinning, cache | `guards`, `cli` |
//! | `config` | config and command-line errors, the tenant-id grammar, the admin body limit | all |
//! | `connections` | the gateway's connections: limits, timeouts, keep-alive, the label budget | all |
//! | `identity` | JWT identity in the library and the gateway | all |
//! | `compliance` | the compliance routes of the admin API | all |
//! | `tenants` | tenant stores (SQLite, PostgreSQL), the admin CLI, the control plane | all |
//! | `trace` | the durable trace: store, admin, back-pressure, crash recovery, OpenTelemetry | all |
//! | `readme` | the README's `console` blocks, run top to bottom against the binaries | all |
//! | `migrations` | databases written by v0.1.0, migrated by today's code | all |
//!
//! PostgreSQL tests use one harness (`support::pg`). A PostgreSQL that cannot be reached fails
//! the test; set `RAIGATE_SKIP_PG=1` to skip them instead (each prints a `SKIPPED` line), which
//! `CI=true` ignores.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

mod content;
#[cfg(feature = "cli")]
mod content_eval;
#[cfg(all(
    feature = "cli",
    feature = "jwt",
    feature = "otel",
    feature = "store-postgres",
    feature = "content-encoding"
))]
mod content_transport;
mod content_views;
mod engine;
#[cfg(all(feature = "guards", feature = "cli"))]
mod guards;
mod layer;
mod policy;

/// Modules that need every feature (they drive the gateway binary, the admin API or the
/// durable stores): declared together, under one `cfg`.
macro_rules! with_every_feature {
    ($($module:ident),* $(,)?) => {
        $(
            #[cfg(all(
                feature = "cli",
                feature = "jwt",
                feature = "otel",
                feature = "store-postgres"
            ))]
            mod $module;
        )*
    };
}

with_every_feature!(
    compliance,
    config,
    connections,
    example,
    gateway,
    identity,
    migrations,
    readme,
    tenants,
    trace,
);
