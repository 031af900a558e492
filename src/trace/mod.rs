//! The decision trace: one [`DecisionRecord`] per request to a guarded route (and, in the same
//! places, one per admin change; later also response and egress records, told apart by
//! [`Phase`]), handed to a [`DecisionSink`]. A sink acknowledges a record with a [`Commit`]
//! that resolves once the record is durable. The layer answers denials only after that; with
//! [`Durability::Sync`] allowed requests too, with [`Durability::Async`] allowed requests once
//! the record is queued (and, in the gateway, journaled), never dropped.
//!
//! Always built: the record, [`JsonlSink`] (JSON Lines), [`MemorySink`], [`Tee`] and the
//! [`Pseudonymizer`]. With a store feature (`store-sqlite`, `store-postgres`): [`TraceStore`],
//! the durable store with group commit, a hash chain (`seq`, `prev_hash`, `hash`), signed
//! checkpoints, retention, queries, exports and [`verify`]. With `admin` as well: the
//! compliance HTTP routes ([`admin_routes`]). With `otel`: [`OtelSink`].
//!
//! Records carry ids, categories and pseudonyms only: no prompt or output text, and the user id
//! only as a keyed hash ([`Pseudonymizer`]).
//!
//! ```
//! use std::sync::Arc;
//! use raigate::trace::{DecisionRecord, DecisionSink, MemorySink, Phase};
//!
//! let sink = MemorySink::new();
//! let commit = sink.submit(DecisionRecord::new(Phase::Request, "id-1", "2026-12-01T00:00:00Z"));
//! assert!(commit.is_ok_and(|c| c.is_done()));
//! assert_eq!(sink.records().len(), 1);
//! ```

#[cfg(feature = "store")]
pub(crate) mod chain;
#[cfg(all(feature = "admin", feature = "store"))]
pub(crate) mod http;
mod id;
mod jsonl;
#[cfg(feature = "otel")]
pub mod otel;
mod pseudonym;
#[cfg(feature = "store")]
mod query;
mod record;
mod sink;
#[cfg(feature = "store")]
mod store;
#[cfg(feature = "store")]
mod verify;

#[cfg(feature = "store")]
pub use chain::{Checkpoint, CheckpointKey, decode_public_key};
#[cfg(all(feature = "admin", feature = "store"))]
pub use http::{Access, TraceAccess, TraceAction, admin_routes};
pub use id::decision_id;
pub use jsonl::{JsonlSink, JsonlSinkOptions};
#[cfg(feature = "otel")]
pub use otel::{OtelSink, OtlpPipeline};
pub use pseudonym::Pseudonymizer;
#[cfg(feature = "store")]
pub use query::{CSV_COLUMNS, DecisionPage, DecisionQuery, ExportFormat, QueryError};
pub use record::{DecisionRecord, Phase};
pub use sink::{Commit, DecisionSink, Durability, MemorySink, SinkError, Tee};
#[cfg(feature = "store")]
pub use store::{ExportStream, TraceError, TraceOptions, TraceStats, TraceStore};
#[cfg(feature = "store")]
pub use verify::{VerifyReport, verify};
