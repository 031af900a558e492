use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::sync::oneshot;

use super::DecisionRecord;

/// A record could not be taken or made durable. The request it belongs to is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// The sink's queue is full (and stayed full for the enqueue bound).
    #[error("the decision trace is falling behind (queue full)")]
    Full,
    /// The sink has stopped.
    #[error("the decision trace is closed")]
    Closed,
    /// Writing failed.
    #[error("the decision trace could not be written: {0}")]
    Io(String),
}

/// When the layer answers relative to the record becoming durable (`[trace] durability`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Every request is answered only after its record is committed.
    #[default]
    Sync,
    /// Denials wait for their commit; allowed requests are answered once the record is
    /// queued (never dropped: a full queue makes new requests wait, then refuses them) and,
    /// in the gateway, journaled to the JSON Lines file that is replayed after a crash.
    Async,
}

impl Durability {
    /// Whether a request with this outcome waits for its record's commit (not only its queueing).
    pub fn waits_for_commit(self, allowed: bool) -> bool {
        match self {
            Durability::Sync => true,
            Durability::Async => !allowed,
        }
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Resolves when a submitted record is durable.
///
/// It has two stages: *queued* (the sink holds the record and will write it; see
/// [`Commit::queued`]) and *durable* (awaiting the `Commit` itself). A sink whose queue is full
/// returns a commit still in the first stage, which waits for room up to the sink's bound.
pub struct Commit {
    state: CommitState,
}

impl std::fmt::Debug for Commit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let stage = match &self.state {
            CommitState::Done(_) => "done",
            CommitState::Enqueueing(..) => "enqueueing",
            CommitState::Waiting(_) => "waiting",
            CommitState::All(_) => "all",
            CommitState::Journaled { .. } => "journaled",
        };
        f.debug_struct("Commit").field("stage", &stage).finish()
    }
}

enum CommitState {
    Done(Option<Result<(), SinkError>>),
    Enqueueing(
        BoxFuture<Result<(), SinkError>>,
        Option<oneshot::Receiver<Result<(), SinkError>>>,
    ),
    Waiting(oneshot::Receiver<Result<(), SinkError>>),
    All(Vec<(Commit, bool)>),
    /// Queued once `primary` is queued and `journal` is durable; done once both are done.
    Journaled {
        primary: Box<Commit>,
        journal: Box<Commit>,
    },
}

impl Commit {
    /// A commit that is already complete.
    pub fn done() -> Self {
        Commit {
            state: CommitState::Done(Some(Ok(()))),
        }
    }

    /// A commit that failed before the record was queued.
    pub fn failed(e: SinkError) -> Self {
        Commit {
            state: CommitState::Done(Some(Err(e))),
        }
    }

    /// A queued record, completed by the sender's side of `rx`.
    pub fn waiting(rx: oneshot::Receiver<Result<(), SinkError>>) -> Self {
        Commit {
            state: CommitState::Waiting(rx),
        }
    }

    /// A record not queued yet: `enqueue` puts it in the queue (or fails, e.g. after a bound);
    /// then `rx` completes the commit.
    pub fn enqueueing(
        enqueue: impl Future<Output = Result<(), SinkError>> + Send + 'static,
        rx: oneshot::Receiver<Result<(), SinkError>>,
    ) -> Self {
        Commit {
            state: CommitState::Enqueueing(Box::pin(enqueue), Some(rx)),
        }
    }

    /// A commit complete when all of `commits` are (the first error wins).
    pub fn all(commits: Vec<Commit>) -> Self {
        Commit {
            state: CommitState::All(commits.into_iter().map(|c| (c, false)).collect()),
        }
    }

    /// A record written to a journal before it is queued for the store: it counts as queued
    /// only once `journal` is durable, so a crash after the answer loses nothing that a replay
    /// of the journal cannot restore ([`super::TraceStore::recover_journal`]).
    pub fn journaled(primary: Commit, journal: Commit) -> Self {
        Commit {
            state: CommitState::Journaled {
                primary: Box::new(primary),
                journal: Box::new(journal),
            },
        }
    }

    /// Whether the record is already durable (no need to wait).
    pub fn is_done(&self) -> bool {
        match &self.state {
            CommitState::Done(r) => matches!(r, Some(Ok(()))),
            CommitState::All(v) => v.iter().all(|(c, _)| c.is_done()),
            CommitState::Journaled { primary, journal } => primary.is_done() && journal.is_done(),
            _ => false,
        }
    }

    /// Whether the record is already in the sink's queue (or durable).
    pub fn is_queued(&self) -> bool {
        match &self.state {
            CommitState::Done(r) => matches!(r, Some(Ok(()))),
            CommitState::Waiting(_) => true,
            CommitState::Enqueueing(..) => false,
            CommitState::All(v) => v.iter().all(|(c, _)| c.is_queued()),
            CommitState::Journaled { primary, journal } => primary.is_queued() && journal.is_done(),
        }
    }

    /// A pair: the commit, and the sender that completes it.
    pub fn pair() -> (oneshot::Sender<Result<(), SinkError>>, Self) {
        let (tx, rx) = oneshot::channel();
        (tx, Self::waiting(rx))
    }

    /// Resolves once the record is queued (not necessarily durable yet). A sink that refuses
    /// the record (a full queue past its bound, a closed sink) resolves it with the error.
    pub fn queued(&mut self) -> impl Future<Output = Result<(), SinkError>> + '_ {
        std::future::poll_fn(move |cx| self.poll_queued(cx))
    }

    fn poll_queued(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), SinkError>> {
        match &mut self.state {
            CommitState::Done(r) => match r {
                Some(Err(e)) => Poll::Ready(Err(e.clone())),
                _ => Poll::Ready(Ok(())),
            },
            CommitState::Waiting(_) => Poll::Ready(Ok(())),
            CommitState::Enqueueing(enqueue, rx) => match enqueue.as_mut().poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Err(e)) => {
                    self.state = CommitState::Done(Some(Err(e.clone())));
                    Poll::Ready(Err(e))
                }
                Poll::Ready(Ok(())) => {
                    self.state = match rx.take() {
                        Some(rx) => CommitState::Waiting(rx),
                        None => CommitState::Done(Some(Err(SinkError::Closed))),
                    };
                    Poll::Ready(Ok(()))
                }
            },
            CommitState::Journaled { primary, journal } => {
                let queued = primary.poll_queued(cx);
                let journaled = poll_once(journal, cx);
                match (queued, journaled) {
                    (Poll::Ready(Err(e)), _) | (_, Poll::Ready(Err(e))) => Poll::Ready(Err(e)),
                    (Poll::Ready(Ok(())), Poll::Ready(Ok(()))) => Poll::Ready(Ok(())),
                    _ => Poll::Pending,
                }
            }
            CommitState::All(v) => {
                let mut pending = false;
                for (c, _) in v.iter_mut() {
                    match c.poll_queued(cx) {
                        Poll::Pending => pending = true,
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Ready(Ok(())) => {}
                    }
                }
                if pending {
                    Poll::Pending
                } else {
                    Poll::Ready(Ok(()))
                }
            }
        }
    }
}

impl Future for Commit {
    type Output = Result<(), SinkError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if let CommitState::Enqueueing(..) = this.state {
            match this.poll_queued(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {}
            }
        }
        match &mut this.state {
            CommitState::Done(r) => Poll::Ready(r.take().unwrap_or(Ok(()))),
            CommitState::Waiting(rx) => Pin::new(rx)
                .poll(cx)
                .map(|r| r.unwrap_or(Err(SinkError::Closed))),
            CommitState::Enqueueing(..) => Poll::Ready(Err(SinkError::Closed)),
            CommitState::Journaled { primary, journal } => {
                match (poll_once(primary, cx), poll_once(journal, cx)) {
                    (Poll::Ready(Err(e)), _) | (_, Poll::Ready(Err(e))) => Poll::Ready(Err(e)),
                    (Poll::Ready(Ok(())), Poll::Ready(Ok(()))) => Poll::Ready(Ok(())),
                    _ => Poll::Pending,
                }
            }
            CommitState::All(v) => {
                let mut pending = false;
                for (c, finished) in v.iter_mut() {
                    if *finished {
                        continue;
                    }
                    match Pin::new(&mut *c).poll(cx) {
                        Poll::Pending => pending = true,
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Ready(Ok(())) => *finished = true,
                    }
                }
                if pending {
                    Poll::Pending
                } else {
                    Poll::Ready(Ok(()))
                }
            }
        }
    }
}

/// Poll a commit to its end, then leave a finished one in its place so that polling again
/// (the queued stage, then the full commit) never polls a completed receiver.
fn poll_once(c: &mut Commit, cx: &mut Context<'_>) -> Poll<Result<(), SinkError>> {
    if let CommitState::Done(Some(Ok(()))) = c.state {
        return Poll::Ready(Ok(()));
    }
    match Pin::new(&mut *c).poll(cx) {
        Poll::Ready(Ok(())) => {
            *c = Commit::done();
            Poll::Ready(Ok(()))
        }
        Poll::Ready(Err(e)) => {
            *c = Commit::failed(e.clone());
            Poll::Ready(Err(e))
        }
        Poll::Pending => Poll::Pending,
    }
}

/// Where decision records go.
pub trait DecisionSink: Send + Sync + 'static {
    /// Take a record. `Err` when it cannot even be queued; otherwise the [`Commit`] resolves
    /// once the record is durable (or failed to become so).
    fn submit(&self, record: DecisionRecord) -> Result<Commit, SinkError>;

    /// When requests are answered relative to their record's commit. Default: [`Durability::Sync`].
    fn durability(&self) -> Durability {
        Durability::Sync
    }
}

impl<S: DecisionSink + ?Sized> DecisionSink for Arc<S> {
    fn submit(&self, record: DecisionRecord) -> Result<Commit, SinkError> {
        (**self).submit(record)
    }

    fn durability(&self) -> Durability {
        (**self).durability()
    }
}

/// Fans a record out to a primary sink (the durable store) and extra sinks (e.g. a JSON Lines
/// export). The commit completes when every sink committed; any failure fails it, so an
/// export that cannot be written refuses requests too (fail closed). Durability is the
/// primary's.
#[derive(Clone)]
pub struct Tee {
    primary: Arc<dyn DecisionSink>,
    extras: Vec<Arc<dyn DecisionSink>>,
    journal: bool,
}

impl std::fmt::Debug for Tee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tee")
            .field("extras", &self.extras.len())
            .finish_non_exhaustive()
    }
}

impl Tee {
    /// Records go to `primary` and to every sink of `extras`.
    pub fn new(primary: Arc<dyn DecisionSink>, extras: Vec<Arc<dyn DecisionSink>>) -> Self {
        Tee {
            primary,
            extras,
            journal: false,
        }
    }

    /// Like [`Tee::new`], and with `durability = "async"` the extras are a journal: a record
    /// counts as queued only once they have it, so an answered decision survives a crash even
    /// before the store commits it (replayed at start by [`super::TraceStore::recover_journal`]).
    pub fn with_journal(
        primary: Arc<dyn DecisionSink>,
        extras: Vec<Arc<dyn DecisionSink>>,
    ) -> Self {
        Tee {
            primary,
            extras,
            journal: true,
        }
    }
}

impl DecisionSink for Tee {
    fn submit(&self, record: DecisionRecord) -> Result<Commit, SinkError> {
        let primary = self.primary.submit(record.clone())?;
        let mut extras = Vec::with_capacity(self.extras.len());
        for extra in &self.extras {
            extras.push(extra.submit(record.clone())?);
        }
        if self.journal && !extras.is_empty() {
            Ok(Commit::journaled(primary, Commit::all(extras)))
        } else {
            extras.insert(0, primary);
            Ok(Commit::all(extras))
        }
    }

    fn durability(&self) -> Durability {
        self.primary.durability()
    }
}

/// Keeps records in memory. For tests, benches and embedding; not durable.
#[derive(Debug, Clone, Default)]
pub struct MemorySink {
    records: Arc<Mutex<Vec<DecisionRecord>>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every record taken so far.
    pub fn records(&self) -> Vec<DecisionRecord> {
        self.records.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl DecisionSink for MemorySink {
    fn submit(&self, record: DecisionRecord) -> Result<Commit, SinkError> {
        let mut records = self.records.lock().map_err(|_| SinkError::Closed)?;
        records.push(record);
        Ok(Commit::done())
    }
}
