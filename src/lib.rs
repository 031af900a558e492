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
//! text or raw user ids, before the request is answered.
//!
//! The same core runs as a standalone reverse proxy: `raigate serve --config raigate.toml`
//! (see [`gateway`]).
//!
//! | module | holds |
//! |---|---|
//! | [`policy`] | the bundle model, JSON-Schema validated loading, compilation, hot reload |
//! | [`context`] | request context, resolver trait, routes |
//! | [`engine`] | the pure decision function and its denial reasons |
//! | [`scan`] | text normalisation, JSON text extraction, phrase and pattern matching |
//! | [`label`] | `AI-Disclosure` header, JSON, WebVTT, SRT and SSE labelling |
//! | [`layer`] | the tower middleware |
//! | [`tenants`] | tenant settings, stores (SQLite, PostgreSQL), the live snapshot and its sync |
//! | [`admin`] | the admin HTTP API and its bearer-token auth |
//! | [`trace`] | decision records and sinks |
//! | [`gateway`] | config file and reverse proxy |

pub mod admin;
pub mod context;
pub mod engine;
pub mod gateway;
pub mod label;
pub mod layer;
pub mod policy;
pub mod scan;
pub mod tenants;
pub mod trace;

pub use layer::{ConfigError, DecisionInfo, Raigate, RaigateLayer};

/// The README's Rust examples, compiled as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
