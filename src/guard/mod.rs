//! External guard services: classifiers an operator runs or buys, asked about a request's text
//! after raigate's own content rules (and the semantic stage) found nothing.
//!
//! Four kinds, each speaking its service's own wire format ([`GuardKind`]): OpenAI's
//! moderation API, Llama Guard 3/4 behind an OpenAI-compatible chat endpoint, Azure AI Content
//! Safety Prompt Shields, and raigate's own JSON webhook. `docs/guards.md` has the formats, the
//! category tables and the configuration.
//!
//! Why the guard stage looks the way it does:
//! - **A guard is a sub-processor.** The text of a tenant pinned to a region set is only sent
//!   to guards whose `region` is in that set; a guard it may not be sent to is handled like a
//!   guard that is down (`on_error`), and recorded.
//! - **Fail closed, never silently.** A guard that fails, times out or has an open circuit
//!   refuses the request (503 `policy-unavailable`, rule `guard-unavailable`) unless its
//!   `on_error = "allow"`; then the record's `reason` says it was not heard.
//! - **Bounded.** Every call has a timeout (waiting for a slot included), a concurrency limit,
//!   a circuit breaker, and a bounded answer size; guards are asked concurrently, so a request
//!   waits for the slowest guard, not the sum.
//! - **Asked once per text.** A chat client resends the whole conversation on every turn;
//!   verdicts are cached per guard by the SHA-256 of the request body the guard would be sent.
//!   The text itself is never logged, cached or recorded; only the guard's name, its labels
//!   (`S1`, `self-harm/intent`) and its score.
//!
//! The module is data and I/O only: the layer turns [`GuardReport`]s into decisions.

mod breaker;
mod cache;
mod client;
mod spec;
mod wire;

pub use client::{GuardError, GuardReport, GuardSet};
pub use spec::{
    DEFAULT_BREAKER_COOLDOWN, DEFAULT_BREAKER_FAILURES, DEFAULT_CACHE_ENTRIES, DEFAULT_CACHE_TTL,
    DEFAULT_MAX_CONCURRENCY, DEFAULT_TIMEOUT, GuardConfigError, GuardKind, GuardSpec, OnError,
};
pub use wire::{Flag, GuardVerdict};
