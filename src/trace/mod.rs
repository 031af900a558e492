//! The decision trace: one [`DecisionRecord`] per request to a guarded route, handed to a
//! [`DecisionSink`]. A sink acknowledges a record with a [`Commit`] that resolves once the
//! record is durable; the layer answers denials (and, with [`Durability::Sync`], everything)
//! only after that, so an answered decision is never lost.
//!
//! - [`TraceStore`]: the durable store (SQLite or PostgreSQL) with group commit, a hash chain
//!   (`seq`, `prev_hash`, `hash`), signed checkpoints ([`chain`]), retention, queries, exports
//!   and [`verify`].
//! - [`JsonlSink`]: JSON Lines, as an extra export sink next to the store ([`Tee`]).
//! - [`admin_routes`]: the compliance HTTP routes, with pluggable authorisation.
//!
//! Records carry ids, categories and pseudonyms only: no prompt or output text, and the user id
//! only as a keyed hash ([`Pseudonymizer`]).
//!
//! ```no_run
//! use raigate::trace::{TraceOptions, TraceStore};
//!
//! let store = TraceStore::open("sqlite://raigate.db", TraceOptions::default())?;
//! # Ok::<(), raigate::trace::TraceError>(())
//! ```

pub mod chain;
pub mod cli;
mod http;
mod id;
mod jsonl;
pub mod otel;
mod pseudonym;
mod query;
mod record;
mod sink;
mod store;
mod verify;

pub use chain::{Checkpoint, CheckpointKey};
pub use http::{Access, AuditAction, AuditAuth, admin_routes};
pub use id::decision_id;
pub use jsonl::{JsonlSink, JsonlSinkOptions};
pub use otel::{OtelSink, OtlpPipeline};
pub use pseudonym::Pseudonymizer;
pub use query::{
    CSV_COLUMNS, DEFAULT_PAGE, DecisionPage, DecisionQuery, ExportFormat, MAX_PAGE, QueryError,
};
pub use record::DecisionRecord;
pub use sink::{Commit, DecisionSink, Durability, MemorySink, SinkError, Tee};
pub use store::{ExportStream, TraceError, TraceOptions, TraceStats, TraceStore};
pub use verify::{VerifyReport, verify};
