//! The decision trace: one [`DecisionRecord`] per request to a guarded route, handed to a
//! [`DecisionSink`]. A sink acknowledges a record with a [`Commit`] that resolves once the
//! record is durable; the layer answers only after that, so an answered decision is never lost.
//!
//! Records carry ids, categories and pseudonyms only: no prompt or output text, and the user id
//! only as a keyed hash ([`Pseudonymizer`]).
//!
//! ```no_run
//! use raigate::trace::JsonlSink;
//!
//! let sink = JsonlSink::open("decisions.jsonl".as_ref())?;
//! # Ok::<(), std::io::Error>(())
//! ```

mod id;
mod jsonl;
mod pseudonym;
mod record;
mod sink;

pub use id::decision_id;
pub use jsonl::{JsonlSink, JsonlSinkOptions};
pub use pseudonym::Pseudonymizer;
pub use record::DecisionRecord;
pub use sink::{Commit, DecisionSink, MemorySink, SinkError};
