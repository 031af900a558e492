//! # raigate
//!
//! Responsible-AI policy enforcement middleware for HTTP services with generative-AI features.
//!
//! A [`tower`](https://docs.rs/tower) layer, [`RaigateLayer`], sits in front of AI routes. On
//! every request it checks, in order: the tenant is known and has AI on (and the feature not
//! opted out); the tenant's region pin holds for this instance and the upstream; customer data
//! does not reach a training endpoint; the declared purpose is allowed (or has its consent or
//! human-oversight attestation); the request text holds no prohibited-use content. Allowed
//! responses are labelled as AI-generated (an `AI-Disclosure` header, an `ai_disclosure` JSON
//! member, a visible caption cue, an SSE comment). Every decision is recorded, without prompt
//! text or raw user ids: denials are answered once their record is durable, allowed requests
//! once it is durable (`sync`) or queued (`async`).
//!
//! ## For a service that only wants the layer
//!
//! `raigate = { version = "…", default-features = false }` builds the engine, the policy, the
//! scanner, the labellers, the layer and the decision records with their JSON Lines and memory
//! sinks: [`RaigateLayer`], [`policy::PolicyHandle`], [`tenants::TenantView`],
//! [`trace::JsonlSink`]. Start with [`RaigateLayer::new`].
//!
//! ## Cargo features
//!
//! | feature | adds |
//! |---|---|
//! | `store-sqlite`, `store-postgres` | tenant stores and [`tenants::TenantSync`]; the durable, hash-chained decision store (`trace::TraceStore`) |
//! | `admin` | the admin HTTP API (`admin`), the compliance routes, `AdminClient` |
//! | `jwt` | `context::JwtResolver`: identity from a verified JWT |
//! | `otel` | OpenTelemetry spans and metrics per decision |
//! | `gateway` | the standalone reverse proxy (`gateway`) |
//! | `cli` | the `raigate` command |
//! | `guards` | external guard services asked about request text (`guard`, `RaigateLayer::guard`) |
//!
//! All are on by default (so `cargo install raigate` builds the binary).
//!
//! ## Modules
//!
//! | module | holds |
//! |---|---|
//! | [`engine`] | the pure decision function, one module per check, the denial reasons |
//! | [`policy`] | the bundle model, JSON-Schema validated loading, compilation, hot reload |
//! | [`context`] | the request context and the resolver trait, routes |
//! | [`scan`] | reading request bodies, text normalisation, the views of a text, phrase and pattern matching |
//! | [`eval`] | measuring a bundle's content rules on a labelled corpus (`raigate policy eval`) |
//! | [`label`] | `AI-Disclosure` header, JSON, WebVTT, SRT and SSE labelling |
//! | [`layer`] | the tower middleware: HTTP plumbing around the engine |
//! | [`problem`] | RFC 9457 problem details; the table from denial to HTTP answer |
//! | [`tenants`] | tenant settings, the live snapshot; with a store feature its stores and sync |
//! | [`trace`] | decision records and sinks; with a store feature the durable trace |
//! | `admin` | the admin HTTP API and its bearer-token auth (feature `admin`) |
//! | `gateway` | config file and reverse proxy (feature `gateway`) |
//! | `guard` | external guard services: OpenAI moderation, Llama Guard, Prompt Shields, a webhook (feature `guards`) |
//!
//! `ARCHITECTURE.md` in the repository draws the dependency direction and the recipe for adding
//! a check.

#[cfg(feature = "admin")]
pub mod admin;
pub mod context;
#[cfg(feature = "store")]
mod db_url;
pub mod engine;
pub mod eval;
#[cfg(feature = "gateway")]
pub mod gateway;
#[cfg(feature = "guards")]
pub mod guard;
pub mod label;
pub mod layer;
mod media;
pub mod policy;
pub mod problem;
pub mod scan;
pub mod tenants;
pub mod trace;

pub use layer::{DecisionInfo, LayerConfigError, Raigate, RaigateLayer};

/// The README's Rust examples, compiled as doctests (they use every feature).
#[doc = include_str!("../README.md")]
#[cfg(all(doctest, feature = "gateway", feature = "jwt"))]
pub struct ReadmeDoctests;
