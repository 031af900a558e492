//! The writer thread: a bounded queue, batches written in one transaction each (group
//! commit), retries that never drop a record an answered request depends on, periodic
//! checkpoints and retention.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot};

use super::{TraceError, TraceOptions, TraceStats, cutoff_us};
use crate::trace::DecisionRecord;
use crate::trace::chain::{Checkpoint, CheckpointKey};
use crate::trace::sink::SinkError;

pub(super) type Ack = oneshot::Sender<Result<(), SinkError>>;

// Records are by far the most common message: boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
pub(super) enum Msg {
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

pub(super) fn spawn_writer<W: ChainWriter>(
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
