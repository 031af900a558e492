// With `admin` but no backend, the store compiles (its URL is then always refused).
#![cfg_attr(
    not(any(feature = "store-sqlite", feature = "store-postgres")),
    allow(
        dead_code,
        unused_imports,
        unused_macros,
        unused_variables,
        unreachable_code
    )
)]
//! The durable decision store: SQLite (embedded, the default) or PostgreSQL (many replicas).
//!
//! # Writing: group commit
//! [`TraceStore`] is a [`DecisionSink`]. Records go into a bounded queue; one writer thread
//! takes them in batches and writes each batch in **one transaction**: it locks the chain head,
//! gives every record its `seq`, `prev_hash` and `hash`, inserts the batch and moves the head.
//! Only then are the batch's [`Commit`]s completed. A failed batch is rolled back: requests
//! waiting for it are refused (503), and records of requests that do not wait (allowed requests in
//! `async` durability) are kept and retried with back-off, never dropped. When the
//! queue is full, a new record waits up to `enqueue_timeout` for room, then its request is
//! refused with 503 `policy-unavailable` (counted in [`TraceStats::refused_queue_full`] and
//! logged).
//!
//! # One global chain
//! All writers (every replica on one PostgreSQL database) share **one chain and one gapless
//! sequence**: a batch's transaction takes the head row `FOR UPDATE` (SQLite: `BEGIN
//! IMMEDIATE`), so batches from different replicas serialise. We chose this over one chain per
//! writer because it keeps verification and its answer simple (one `seq` names a record across
//! the whole fleet; a deletion anywhere is a gap in one sequence; checkpoints sign one head), and
//! group commit makes the lock cheap: it is taken once per batch, not per record. The price is
//! that replicas' commits serialise on the database, which at our batch sizes is far below the
//! database's own write limit.
//!
//! # Tables
//! `raigate_decisions` (one row per record; every record field is a column, so the hash is
//! recomputed from exactly what queries read), `raigate_chain_head` (one row: the head `seq`
//! and `hash`) and `raigate_checkpoints` (signed heads). The gateway opens them at
//! [`crate::gateway::GatewayConfig::trace_store_url`]: the PostgreSQL database and schema of
//! `[store] url`, or for SQLite a sibling file (`raigate.db` → `raigate.trace.db`).

mod export;
mod journal;
#[cfg(feature = "store-postgres")]
mod postgres;
mod schema;
#[cfg(feature = "store-sqlite")]
mod sqlite;
mod writer;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

pub use export::ExportStream;
use writer::{Msg, spawn_writer};

use super::DecisionRecord;
use super::chain::{Checkpoint, CheckpointKey};
use super::query::{DecisionPage, DecisionQuery, Filter, Position, QueryError, encode_cursor};
use super::sink::{Commit, DecisionSink, Durability, SinkError};
use crate::db_url::{DbUrl, redact};

/// Options of a [`TraceStore`] (`[trace]` in the gateway config).
#[derive(Debug, Clone)]
pub struct TraceOptions {
    /// When requests are answered relative to their record's commit.
    pub durability: Durability,
    /// Records that may wait to be written.
    pub queue: usize,
    /// Most records per transaction.
    pub batch: usize,
    /// How long a new record waits for room in a full queue before its request is refused.
    pub enqueue_timeout: Duration,
    /// Signs checkpoints; without it no checkpoint is written (and retention deletes nothing).
    pub checkpoint_key: Option<CheckpointKey>,
    /// Time between checkpoints (zero: only on shutdown and on request).
    pub checkpoint_every: Duration,
    /// Delete records older than this, behind a checkpoint. `None`: keep everything.
    pub retention: Option<Duration>,
    /// PostgreSQL schema to use (created if absent); `None`: the connection's default.
    pub pg_schema: Option<String>,
}

impl Default for TraceOptions {
    fn default() -> Self {
        TraceOptions {
            durability: Durability::Sync,
            queue: 16_384,
            batch: 1024,
            enqueue_timeout: Duration::from_millis(1000),
            checkpoint_key: None,
            checkpoint_every: Duration::from_secs(60),
            retention: None,
            pg_schema: None,
        }
    }
}

/// Why the decision store could not be opened, read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TraceError {
    /// The URL is neither `sqlite://FILE` nor `postgres://…`, or names a backend this build
    /// does not include.
    #[error(
        "unsupported store url `{0}`: use sqlite://FILE or postgres://… (with the store-sqlite / store-postgres feature)"
    )]
    Url(String),
    /// The database failed.
    #[error("decision store: {0}")]
    Db(String),
    /// A query parameter is wrong.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// The writer has stopped.
    #[error("the decision store writer has stopped")]
    Closed,
}

/// Counters of the writer (all since start).
#[derive(Debug, Default)]
pub struct TraceStats {
    /// Records committed.
    pub committed: AtomicU64,
    /// Transactions committed.
    pub batches: AtomicU64,
    /// Transactions that failed (rolled back).
    pub failed_batches: AtomicU64,
    /// Requests refused because the queue stayed full past the enqueue bound.
    pub refused_queue_full: AtomicU64,
    /// Checkpoints written.
    pub checkpoints: AtomicU64,
    /// Records deleted by retention.
    pub retained_deleted: AtomicU64,
}

#[derive(Clone)]
enum Reader {
    #[cfg(feature = "store-sqlite")]
    Sqlite(Arc<std::path::PathBuf>),
    #[cfg(feature = "store-postgres")]
    Postgres(Arc<postgres::PgReader>),
    /// A build without a backend: no store can be opened, so no value exists.
    #[cfg(not(any(feature = "store-sqlite", feature = "store-postgres")))]
    None(std::convert::Infallible),
}

/// The durable, hash-chained decision store. Cheap to clone; clones share the writer.
#[derive(Clone)]
pub struct TraceStore {
    tx: mpsc::Sender<Msg>,
    reader: Reader,
    durability: Durability,
    enqueue_timeout: Duration,
    stats: Arc<TraceStats>,
    url: Arc<str>,
}

impl std::fmt::Debug for TraceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceStore")
            .field("backend", &self.backend())
            .field("durability", &self.durability)
            .finish_non_exhaustive()
    }
}

impl TraceStore {
    /// Open (and create the tables of) the store at `url`: `sqlite://FILE` or `postgres://…`,
    /// and start its writer thread. Blocks until the database answered.
    pub fn open(url: &str, options: TraceOptions) -> Result<Self, TraceError> {
        let stats = Arc::new(TraceStats::default());
        let (tx, rx) = mpsc::channel(options.queue.max(1));
        let unsupported = || TraceError::Url(url.to_owned());
        let reader = match DbUrl::parse(url).map_err(|_| unsupported())? {
            #[cfg(feature = "store-sqlite")]
            DbUrl::Sqlite(path) => {
                if path == ":memory:" {
                    return Err(unsupported());
                }
                let path = std::path::PathBuf::from(path);
                sqlite::init(&path)?;
                let p = path.clone();
                spawn_writer(
                    move |_| sqlite::SqliteWriter::open(&p),
                    rx,
                    &options,
                    stats.clone(),
                )?;
                Reader::Sqlite(Arc::new(path))
            }
            #[cfg(feature = "store-postgres")]
            DbUrl::Postgres {
                url: driver_url,
                schema: url_schema,
            } => {
                // `?schema=NAME` is the tenant store's option too: both stores share the schema.
                let schema = options.pg_schema.clone().or(url_schema);
                let (writer_url, writer_schema) = (driver_url.clone(), schema.clone());
                spawn_writer(
                    move |rt| {
                        postgres::PgWriter::connect(rt, &writer_url, writer_schema.as_deref())
                    },
                    rx,
                    &options,
                    stats.clone(),
                )?;
                Reader::Postgres(Arc::new(postgres::PgReader::new(&driver_url, schema)))
            }
            #[allow(unreachable_patterns)]
            _ => return Err(unsupported()),
        };
        tracing::info!(store = %redact(url), durability = ?options.durability, "decision store open");
        Ok(TraceStore {
            tx,
            reader,
            durability: options.durability,
            enqueue_timeout: options.enqueue_timeout,
            stats,
            url: Arc::from(url),
        })
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self.reader {
            #[cfg(feature = "store-sqlite")]
            Reader::Sqlite(_) => "sqlite",
            #[cfg(feature = "store-postgres")]
            Reader::Postgres(_) => "postgres",
            #[cfg(not(any(feature = "store-sqlite", feature = "store-postgres")))]
            Reader::None(never) => match never {},
        }
    }

    /// The store's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The writer's counters.
    pub fn stats(&self) -> &TraceStats {
        &self.stats
    }

    /// Resolves once every record submitted before it is committed.
    pub async fn flush(&self) -> Result<(), TraceError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Msg::Flush(tx))
            .await
            .map_err(|_| TraceError::Closed)?;
        rx.await.map_err(|_| TraceError::Closed)
    }

    /// Sign the current head now (after the queued records). `None` when no key is configured
    /// or the head has not moved since the last checkpoint.
    pub async fn checkpoint(&self) -> Result<Option<Checkpoint>, TraceError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Msg::Checkpoint(tx))
            .await
            .map_err(|_| TraceError::Closed)?;
        rx.await
            .map_err(|_| TraceError::Closed)?
            .map_err(TraceError::Db)
    }

    /// Delete records older than `age`, up to the newest checkpoint signed before then (so the
    /// rest still verifies). Returns how many were deleted.
    pub async fn apply_retention(&self, age: Duration) -> Result<u64, TraceError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Msg::Retain(cutoff_us(age), tx))
            .await
            .map_err(|_| TraceError::Closed)?;
        rx.await
            .map_err(|_| TraceError::Closed)?
            .map_err(TraceError::Db)
    }

    /// One page of decisions matching `query`, oldest first.
    pub async fn list(&self, query: &DecisionQuery) -> Result<DecisionPage, TraceError> {
        let (filter, after, limit) = query.compile()?;
        let mut rows = self.page_ts(&filter, after, limit + 1).await?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = match rows.last() {
            Some((r, ts)) if more => Some(encode_cursor(filter.position_of(r, *ts))),
            _ => None,
        };
        Ok(DecisionPage {
            decisions: rows.into_iter().map(|(r, _)| r).collect(),
            next_cursor,
        })
    }

    /// The decision with `id`.
    pub async fn get(&self, id: &str) -> Result<Option<DecisionRecord>, TraceError> {
        match &self.reader {
            #[cfg(feature = "store-sqlite")]
            Reader::Sqlite(p) => {
                let (p, id) = (p.clone(), id.to_owned());
                blocking(move || sqlite::get(&p, &id)).await
            }
            #[cfg(feature = "store-postgres")]
            Reader::Postgres(pg) => pg.get(id).await,
            #[cfg(not(any(feature = "store-sqlite", feature = "store-postgres")))]
            Reader::None(never) => match *never {},
        }
    }

    /// Records after `after` matching `filter`, at most `limit`, in the filter's order, each
    /// with its stored `ts` column.
    pub(crate) async fn page_ts(
        &self,
        filter: &Filter,
        after: Position,
        limit: u32,
    ) -> Result<Vec<(DecisionRecord, i64)>, TraceError> {
        match &self.reader {
            #[cfg(feature = "store-sqlite")]
            Reader::Sqlite(p) => {
                let (p, f) = (p.clone(), filter.clone());
                blocking(move || sqlite::page(&p, &f, after, limit)).await
            }
            #[cfg(feature = "store-postgres")]
            Reader::Postgres(pg) => pg.page(filter, after, limit).await,
            #[cfg(not(any(feature = "store-sqlite", feature = "store-postgres")))]
            Reader::None(never) => match *never {},
        }
    }

    /// Every checkpoint, by seq.
    pub async fn checkpoints(&self) -> Result<Vec<Checkpoint>, TraceError> {
        match &self.reader {
            #[cfg(feature = "store-sqlite")]
            Reader::Sqlite(p) => {
                let p = p.clone();
                blocking(move || sqlite::checkpoints(&p)).await
            }
            #[cfg(feature = "store-postgres")]
            Reader::Postgres(pg) => pg.checkpoints().await,
            #[cfg(not(any(feature = "store-sqlite", feature = "store-postgres")))]
            Reader::None(never) => match *never {},
        }
    }

    /// The chain head: (seq, hash) of the last record ever written.
    pub async fn head(&self) -> Result<(u64, String), TraceError> {
        match &self.reader {
            #[cfg(feature = "store-sqlite")]
            Reader::Sqlite(p) => {
                let p = p.clone();
                blocking(move || sqlite::head(&p)).await
            }
            #[cfg(feature = "store-postgres")]
            Reader::Postgres(pg) => pg.head().await,
            #[cfg(not(any(feature = "store-sqlite", feature = "store-postgres")))]
            Reader::None(never) => match *never {},
        }
    }
}

pub(super) fn cutoff_us(age: Duration) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let cutoff = now.saturating_sub(age);
    i64::try_from(cutoff.as_micros()).unwrap_or(i64::MAX)
}

#[cfg(feature = "store-sqlite")]
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, TraceError> + Send + 'static,
) -> Result<T, TraceError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| TraceError::Db(format!("query task failed: {e}")))?
}

impl DecisionSink for TraceStore {
    fn submit(&self, record: DecisionRecord) -> Result<Commit, SinkError> {
        let (ack, rx) = oneshot::channel();
        match self.tx.try_send(Msg::Record(record, ack)) {
            Ok(()) => Ok(Commit::waiting(rx)),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(SinkError::Closed),
            Err(mpsc::error::TrySendError::Full(msg)) => {
                let tx = self.tx.clone();
                let bound = self.enqueue_timeout;
                let stats = self.stats.clone();
                Ok(Commit::enqueueing(
                    async move {
                        match tx.send_timeout(msg, bound).await {
                            Ok(()) => Ok(()),
                            Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                                let n =
                                    stats.refused_queue_full.fetch_add(1, Ordering::Relaxed) + 1;
                                tracing::warn!(
                                    refused_total = n,
                                    bound_ms = bound.as_millis() as u64,
                                    "decision store queue full past the bound: request refused"
                                );
                                Err(SinkError::Full)
                            }
                            Err(mpsc::error::SendTimeoutError::Closed(_)) => Err(SinkError::Closed),
                        }
                    },
                    rx,
                ))
            }
        }
    }

    fn durability(&self) -> Durability {
        self.durability
    }
}
