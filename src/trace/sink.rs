use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::sync::oneshot;

use super::DecisionRecord;

/// A record could not be taken or made durable. The request it belongs to is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// The sink's queue is full.
    #[error("the decision trace is falling behind (queue full)")]
    Full,
    /// The sink has stopped.
    #[error("the decision trace is closed")]
    Closed,
    /// Writing failed.
    #[error("the decision trace could not be written: {0}")]
    Io(String),
}

/// Resolves when a submitted record is durable.
#[derive(Debug)]
pub struct Commit {
    state: CommitState,
}

#[derive(Debug)]
enum CommitState {
    Done(Option<Result<(), SinkError>>),
    Waiting(oneshot::Receiver<Result<(), SinkError>>),
}

impl Commit {
    /// A commit that is already complete.
    pub fn done() -> Self {
        Commit {
            state: CommitState::Done(Some(Ok(()))),
        }
    }

    /// A commit completed by the sender's side of `rx`.
    pub fn waiting(rx: oneshot::Receiver<Result<(), SinkError>>) -> Self {
        Commit {
            state: CommitState::Waiting(rx),
        }
    }

    /// Whether the record is already durable (no need to wait).
    pub fn is_done(&self) -> bool {
        matches!(self.state, CommitState::Done(Some(Ok(()))))
    }

    /// A pair: the commit, and the sender that completes it.
    pub fn pair() -> (oneshot::Sender<Result<(), SinkError>>, Self) {
        let (tx, rx) = oneshot::channel();
        (tx, Self::waiting(rx))
    }
}

impl Future for Commit {
    type Output = Result<(), SinkError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.state {
            CommitState::Done(r) => Poll::Ready(r.take().unwrap_or(Ok(()))),
            CommitState::Waiting(rx) => Pin::new(rx)
                .poll(cx)
                .map(|r| r.unwrap_or(Err(SinkError::Closed))),
        }
    }
}

/// Where decision records go.
pub trait DecisionSink: Send + Sync + 'static {
    /// Take a record. `Err` when it cannot even be queued; otherwise the [`Commit`] resolves
    /// once the record is durable (or failed to become so).
    fn submit(&self, record: DecisionRecord) -> Result<Commit, SinkError>;
}

impl<S: DecisionSink + ?Sized> DecisionSink for Arc<S> {
    fn submit(&self, record: DecisionRecord) -> Result<Commit, SinkError> {
        (**self).submit(record)
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
