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

/// `(DecisionRecord, ts)` from a row in the column order both backends select; `$get` is the
/// driver's typed getter (`get` for rusqlite, `try_get` for tokio-postgres): the drivers share
/// no trait, so the mapping is written once as a macro.
macro_rules! record_from_row {
    ($r:expr, $get:ident) => {{
        let r = $r;
        let obligations: String = r.$get(16)?;
        let rec = DecisionRecord {
            seq: Some(u64::try_from(r.$get::<_, i64>(0)?).unwrap_or(0)),
            id: r.$get(1)?,
            time: r.$get(2)?,
            tenant: r.$get(3)?,
            subject: r.$get(4)?,
            feature: r.$get(5)?,
            route: r.$get(6)?,
            class: r.$get(7)?,
            purpose: r.$get(8)?,
            data_class: r.$get(9)?,
            region: r.$get(10)?,
            upstream: r.$get(11)?,
            outcome: r.$get(12)?,
            shadow: r.$get(13)?,
            rule: r.$get(14)?,
            reason: r.$get(15)?,
            obligations: serde_json::from_str(&obligations).unwrap_or_else(|_| vec![obligations]),
            policy_version: r.$get(17)?,
            tenant_version: r
                .$get::<_, Option<i64>>(18)?
                .map(|v| u64::try_from(v).unwrap_or(0)),
            trace_id: r.$get(19)?,
            latency_us: u64::try_from(r.$get::<_, i64>(20)?).unwrap_or(0),
            prev_hash: Some(r.$get(21)?),
            hash: Some(r.$get(22)?),
        };
        Ok((rec, r.$get(23)?))
    }};
}

mod postgres;
mod sqlite;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot};

use super::DecisionRecord;
use super::chain::{Checkpoint, CheckpointKey};
use super::query::{
    DecisionPage, DecisionQuery, ExportFormat, Filter, Position, QueryError, encode_cursor,
};
use super::sink::{Commit, DecisionSink, Durability, SinkError};

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

/// The store cannot be opened or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceError {
    /// The URL is neither `sqlite://…` nor `postgres://…`.
    #[error("unsupported store url `{0}`: use sqlite://FILE or postgres://…")]
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

type Ack = oneshot::Sender<Result<(), SinkError>>;

// Records are by far the most common message: boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
enum Msg {
    Record(DecisionRecord, Ack),
    Flush(oneshot::Sender<()>),
    Checkpoint(oneshot::Sender<Result<Option<Checkpoint>, String>>),
    Retain(i64, oneshot::Sender<Result<u64, String>>),
}

/// The backend-specific half of the writer thread.
pub(crate) trait ChainWriter: Send + 'static {
    /// In one transaction: lock the head, stamp `batch` onto the chain, insert, move the head.
    fn append(&mut self, rt: &Runtime, batch: &mut [DecisionRecord]) -> Result<(), String>;
    /// Sign and store the head if it moved since the last checkpoint.
    fn checkpoint(
        &mut self,
        rt: &Runtime,
        key: &CheckpointKey,
    ) -> Result<Option<Checkpoint>, String>;
    /// Delete records up to the newest checkpoint signed before `cutoff_us`.
    fn retain(&mut self, rt: &Runtime, cutoff_us: i64) -> Result<u64, String>;
}

#[derive(Clone)]
enum Reader {
    Sqlite(Arc<std::path::PathBuf>),
    Postgres(Arc<postgres::PgReader>),
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

/// Strip the password from a URL for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let scheme = url.get(..s + 3).unwrap_or("");
            let rest = url.get(at..).unwrap_or("");
            format!("{scheme}…{rest}")
        }
        _ => url.to_owned(),
    }
}

impl TraceStore {
    /// Open (and create the tables of) the store at `url`: `sqlite://FILE` or `postgres://…`,
    /// and start its writer thread. Blocks until the database answered.
    pub fn open(url: &str, options: TraceOptions) -> Result<Self, TraceError> {
        let stats = Arc::new(TraceStats::default());
        let (tx, rx) = mpsc::channel(options.queue.max(1));
        let reader = if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() || path == ":memory:" {
                return Err(TraceError::Url(url.to_owned()));
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
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // `?schema=NAME` is the tenant store's option too: both stores share the schema.
            let (driver_url, url_schema) = crate::tenants::store::split_schema_param(url);
            let schema = options.pg_schema.clone().or(url_schema);
            let (writer_url, writer_schema) = (driver_url.clone(), schema.clone());
            spawn_writer(
                move |rt| postgres::PgWriter::connect(rt, &writer_url, writer_schema.as_deref()),
                rx,
                &options,
                stats.clone(),
            )?;
            Reader::Postgres(Arc::new(postgres::PgReader::new(&driver_url, schema)))
        } else {
            return Err(TraceError::Url(url.to_owned()));
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
            Reader::Sqlite(_) => "sqlite",
            Reader::Postgres(_) => "postgres",
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

    /// Replay the last `tail` records of a JSON Lines journal that the store does not have:
    /// with `durability = "async"` an allowed request is answered once its record is in the
    /// journal and queued here, so a crash may leave it only in the journal. Returns how many
    /// records were restored (they get new `seq`s at the end of the chain; their `time` is
    /// the original one). A torn last line (a crash mid-write) is skipped.
    pub async fn recover_journal(
        &self,
        journal: &std::path::Path,
        tail: usize,
    ) -> Result<usize, TraceError> {
        let path = journal.to_path_buf();
        let lines = tokio::task::spawn_blocking(move || read_tail(&path, tail))
            .await
            .map_err(|e| TraceError::Db(e.to_string()))??;
        let mut restored = 0;
        for line in lines {
            let Ok(mut record) = serde_json::from_str::<DecisionRecord>(&line) else {
                tracing::warn!(
                    "journal: skipping a line that is not a decision record (torn write?)"
                );
                continue;
            };
            if self.get(&record.id).await?.is_some() {
                continue;
            }
            record.seq = None;
            record.prev_hash = None;
            record.hash = None;
            let commit = self
                .submit(record)
                .map_err(|e| TraceError::Db(e.to_string()))?;
            commit.await.map_err(|e| TraceError::Db(e.to_string()))?;
            restored += 1;
        }
        if restored > 0 {
            tracing::warn!(
                restored,
                "decision records restored from the journal after an unclean stop"
            );
        }
        Ok(restored)
    }

    /// The decision with `id`.
    pub async fn get(&self, id: &str) -> Result<Option<DecisionRecord>, TraceError> {
        match &self.reader {
            Reader::Sqlite(p) => {
                let (p, id) = (p.clone(), id.to_owned());
                blocking(move || sqlite::get(&p, &id)).await
            }
            Reader::Postgres(pg) => pg.get(id).await,
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
            Reader::Sqlite(p) => {
                let (p, f) = (p.clone(), filter.clone());
                blocking(move || sqlite::page(&p, &f, after, limit)).await
            }
            Reader::Postgres(pg) => pg.page(filter, after, limit).await,
        }
    }

    /// Every checkpoint, by seq.
    pub async fn checkpoints(&self) -> Result<Vec<Checkpoint>, TraceError> {
        match &self.reader {
            Reader::Sqlite(p) => {
                let p = p.clone();
                blocking(move || sqlite::checkpoints(&p)).await
            }
            Reader::Postgres(pg) => pg.checkpoints().await,
        }
    }

    /// The chain head: (seq, hash) of the last record ever written.
    pub async fn head(&self) -> Result<(u64, String), TraceError> {
        match &self.reader {
            Reader::Sqlite(p) => {
                let p = p.clone();
                blocking(move || sqlite::head(&p)).await
            }
            Reader::Postgres(pg) => pg.head().await,
        }
    }

    /// Write every decision matching `query` (its limit and cursor ignored) to `out`, page by
    /// page: nothing is buffered beyond one page. Returns how many were written.
    pub async fn export_to(
        &self,
        query: &DecisionQuery,
        format: ExportFormat,
        out: &mut (dyn std::io::Write + Send),
    ) -> Result<u64, TraceError> {
        let io = |e: std::io::Error| TraceError::Db(format!("writing the export: {e}"));
        out.write_all(&format.header()).map_err(io)?;
        let (filter, _, _) = query.compile()?;
        let mut after = filter.start();
        let mut n = 0u64;
        loop {
            let rows = self.page_ts(&filter, after, EXPORT_PAGE).await?;
            let Some((r, ts)) = rows.last() else {
                break;
            };
            after = filter.position_of(r, *ts);
            let full = rows.len() == EXPORT_PAGE as usize;
            let page: Vec<DecisionRecord> = rows.into_iter().map(|(r, _)| r).collect();
            let mut buf = Vec::with_capacity(page.len() * 512);
            format.encode(&page, &mut buf);
            out.write_all(&buf).map_err(io)?;
            n += page.len() as u64;
            if !full {
                break;
            }
        }
        out.flush().map_err(io)?;
        Ok(n)
    }

    /// The export of `query` as a stream of byte chunks (one per page), for HTTP bodies.
    pub fn export_stream(
        &self,
        query: &DecisionQuery,
        format: ExportFormat,
    ) -> Result<ExportStream, TraceError> {
        let (filter, _, _) = query.compile()?;
        let (tx, rx) = mpsc::channel::<Result<bytes::Bytes, TraceError>>(2);
        let store = self.clone();
        tokio::spawn(async move {
            if tx
                .send(Ok(bytes::Bytes::from(format.header())))
                .await
                .is_err()
            {
                return;
            }
            let mut after = filter.start();
            loop {
                let rows = match store.page_ts(&filter, after, EXPORT_PAGE).await {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                };
                let Some((r, ts)) = rows.last() else {
                    return;
                };
                after = filter.position_of(r, *ts);
                let full = rows.len() == EXPORT_PAGE as usize;
                let page: Vec<DecisionRecord> = rows.into_iter().map(|(r, _)| r).collect();
                let mut buf = Vec::with_capacity(page.len() * 512);
                format.encode(&page, &mut buf);
                if tx.send(Ok(bytes::Bytes::from(buf))).await.is_err() || !full {
                    return;
                }
            }
        });
        Ok(ExportStream { rx })
    }
}

const EXPORT_PAGE: u32 = 1000;

/// Byte chunks of an export ([`TraceStore::export_stream`]).
#[derive(Debug)]
pub struct ExportStream {
    rx: mpsc::Receiver<Result<bytes::Bytes, TraceError>>,
}

impl futures_core::Stream for ExportStream {
    type Item = Result<bytes::Bytes, TraceError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

fn cutoff_us(age: Duration) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let cutoff = now.saturating_sub(age);
    i64::try_from(cutoff.as_micros()).unwrap_or(i64::MAX)
}

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

fn spawn_writer<W: ChainWriter>(
    make: impl FnOnce(&Runtime) -> Result<W, String> + Send + 'static,
    rx: mpsc::Receiver<Msg>,
    options: &TraceOptions,
    stats: Arc<TraceStats>,
) -> Result<(), TraceError> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    let options = options.clone();
    std::thread::Builder::new()
        .name("raigate-trace-writer".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
            };
            let writer = match make(&rt) {
                Ok(w) => w,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(()));
            run_writer(&rt, writer, rx, &options, &stats);
        })
        .map_err(|e| TraceError::Db(format!("starting the writer thread: {e}")))?;
    match ready_rx.recv_timeout(Duration::from_secs(30)) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(TraceError::Db(e)),
        Err(_) => Err(TraceError::Db("the database did not answer in 30 s".into())),
    }
}

fn run_writer<W: ChainWriter>(
    rt: &Runtime,
    mut w: W,
    mut rx: mpsc::Receiver<Msg>,
    options: &TraceOptions,
    stats: &TraceStats,
) {
    let max_batch = options.batch.max(1);
    let interval = options.checkpoint_every;
    let mut next_checkpoint = Instant::now() + interval;
    let mut carry: Vec<(DecisionRecord, Ack)> = Vec::new();
    let mut deferred: Vec<Msg> = Vec::new();
    let mut backoff = Duration::from_millis(50);
    let mut closed = false;
    loop {
        let mut batch = std::mem::take(&mut carry);
        let mut controls = std::mem::take(&mut deferred);
        if batch.is_empty() && controls.is_empty() && !closed {
            let wait = if interval.is_zero() {
                Duration::from_secs(3600)
            } else {
                next_checkpoint.saturating_duration_since(Instant::now())
            };
            match rt.block_on(async { tokio::time::timeout(wait, rx.recv()).await }) {
                Ok(Some(Msg::Record(r, a))) => batch.push((r, a)),
                Ok(Some(other)) => controls.push(other),
                Ok(None) => closed = true,
                Err(_) => {}
            }
        }
        while batch.len() < max_batch && controls.is_empty() && !closed {
            match rx.try_recv() {
                Ok(Msg::Record(r, a)) => batch.push((r, a)),
                Ok(other) => controls.push(other),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => closed = true,
            }
        }
        if !batch.is_empty() {
            let (mut records, acks): (Vec<DecisionRecord>, Vec<Ack>) = batch.into_iter().unzip();
            match w.append(rt, &mut records) {
                Ok(()) => {
                    stats
                        .committed
                        .fetch_add(records.len() as u64, Ordering::Relaxed);
                    stats.batches.fetch_add(1, Ordering::Relaxed);
                    for a in acks {
                        let _ = a.send(Ok(()));
                    }
                    backoff = Duration::from_millis(50);
                }
                Err(e) => {
                    stats.failed_batches.fetch_add(1, Ordering::Relaxed);
                    let mut refused = 0usize;
                    for (r, a) in records.into_iter().zip(acks) {
                        // Requests that do not wait for their commit (allowed ones in async
                        // durability) were, or are being, answered: never refuse their record,
                        // keep it and retry. Deciding by outcome, not by whether the receiver
                        // is still there, leaves no race with a request about to answer.
                        let answered = !options.durability.waits_for_commit(r.outcome == "allow");
                        if answered || a.is_closed() {
                            carry.push((r, a));
                        } else {
                            refused += 1;
                            let _ = a.send(Err(SinkError::Io(e.clone())));
                        }
                    }
                    tracing::error!(error = %e, refused, kept_for_retry = carry.len(), "decision batch not committed");
                    if !carry.is_empty() {
                        std::thread::sleep(backoff);
                        backoff = (backoff * 2).min(Duration::from_secs(2));
                    }
                }
            }
        }
        if !carry.is_empty() {
            // Controls wait until the records before them are in.
            deferred = controls;
            continue;
        }
        for c in controls {
            match c {
                Msg::Flush(done) => {
                    let _ = done.send(());
                }
                Msg::Checkpoint(done) => {
                    let r = match &options.checkpoint_key {
                        Some(k) => w.checkpoint(rt, k),
                        None => Ok(None),
                    };
                    if let Ok(Some(_)) = r {
                        stats.checkpoints.fetch_add(1, Ordering::Relaxed);
                    }
                    let _ = done.send(r);
                }
                Msg::Retain(cutoff, done) => {
                    let r = w.retain(rt, cutoff);
                    if let Ok(n) = r {
                        stats.retained_deleted.fetch_add(n, Ordering::Relaxed);
                    }
                    let _ = done.send(r);
                }
                Msg::Record(r, a) => carry.push((r, a)),
            }
        }
        let due = !interval.is_zero() && Instant::now() >= next_checkpoint;
        if due || (closed && carry.is_empty()) {
            periodic(rt, &mut w, options, stats);
            next_checkpoint = Instant::now() + interval;
        }
        if closed && carry.is_empty() {
            break;
        }
    }
}

fn periodic<W: ChainWriter>(rt: &Runtime, w: &mut W, options: &TraceOptions, stats: &TraceStats) {
    let Some(key) = &options.checkpoint_key else {
        return;
    };
    match w.checkpoint(rt, key) {
        Ok(Some(cp)) => {
            stats.checkpoints.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(seq = cp.seq, "decision checkpoint signed");
        }
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, "decision checkpoint failed"),
    }
    if let Some(age) = options.retention {
        match w.retain(rt, cutoff_us(age)) {
            Ok(0) => {}
            Ok(n) => {
                stats.retained_deleted.fetch_add(n, Ordering::Relaxed);
                tracing::info!(deleted = n, "decision retention applied");
            }
            Err(e) => tracing::error!(error = %e, "decision retention failed"),
        }
    }
}

/// Columns of `raigate_decisions` in select order (shared by both backends).
pub(crate) const COLUMNS: &str = "seq, id, time, tenant, subject, feature, route, class, purpose, \
data_class, region, upstream, outcome, shadow, rule, reason, obligations, policy_version, \
tenant_version, trace_id, latency_us, prev_hash, hash, ts";

/// Indexes for the compliance queries (both backends).
pub(crate) const INDEXES: &[&str] = &[
    "CREATE INDEX IF NOT EXISTS raigate_decisions_tenant ON raigate_decisions (tenant, seq)",
    "CREATE INDEX IF NOT EXISTS raigate_decisions_outcome ON raigate_decisions (outcome, seq)",
    "CREATE INDEX IF NOT EXISTS raigate_decisions_tenant_outcome ON raigate_decisions (tenant, outcome, seq)",
    "CREATE INDEX IF NOT EXISTS raigate_decisions_feature ON raigate_decisions (feature, seq)",
    "CREATE INDEX IF NOT EXISTS raigate_decisions_rule ON raigate_decisions (rule, seq)",
    "CREATE INDEX IF NOT EXISTS raigate_decisions_subject ON raigate_decisions (subject, seq)",
    "CREATE INDEX IF NOT EXISTS raigate_decisions_ts ON raigate_decisions (ts, seq)",
];

/// Refreshes the query planner's statistics as the table grows (after 1k, 10k, 100k rows,
/// then every 100k), so filtered pages pick the most selective index.
#[derive(Debug)]
pub(crate) struct AnalyzeSchedule {
    since: u64,
    next: u64,
}

impl AnalyzeSchedule {
    pub(crate) fn new() -> Self {
        AnalyzeSchedule {
            since: 0,
            next: 1000,
        }
    }

    /// Count `n` inserted rows; `true` when statistics are due.
    pub(crate) fn due(&mut self, n: usize) -> bool {
        self.since += n as u64;
        if self.since < self.next {
            return false;
        }
        self.since = 0;
        self.next = (self.next * 10).min(100_000);
        true
    }
}

/// A record's `ts` column (µs since the epoch).
pub(crate) fn ts_of(r: &DecisionRecord) -> i64 {
    super::chain::parse_time_us(&r.time).unwrap_or(0)
}

/// The last `tail` lines of a file (all of them if it is shorter); none if it does not exist.
fn read_tail(path: &std::path::Path, tail: usize) -> Result<Vec<String>, TraceError> {
    use std::io::BufRead;
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(TraceError::Db(format!(
                "reading journal {}: {e}",
                path.display()
            )));
        }
    };
    let mut last = std::collections::VecDeque::with_capacity(tail.min(1 << 16));
    for line in std::io::BufReader::new(file).lines() {
        let line =
            line.map_err(|e| TraceError::Db(format!("reading journal {}: {e}", path.display())))?;
        if last.len() == tail {
            last.pop_front();
        }
        if tail > 0 {
            last.push_back(line);
        }
    }
    Ok(last.into())
}
