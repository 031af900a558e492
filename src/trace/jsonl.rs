use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread;

use tokio::sync::oneshot;

use super::{Commit, DecisionRecord, DecisionSink, SinkError};

/// Options for [`JsonlSink`].
#[derive(Debug, Clone)]
pub struct JsonlSinkOptions {
    /// Records that may wait to be written before new ones are refused.
    pub queue: usize,
    /// Most records written per batch.
    pub batch: usize,
    /// `fdatasync` after every batch (survives power loss, not only a crash).
    pub fsync: bool,
}

impl Default for JsonlSinkOptions {
    fn default() -> Self {
        JsonlSinkOptions {
            queue: 65_536,
            batch: 1024,
            fsync: false,
        }
    }
}

type Job = (DecisionRecord, oneshot::Sender<Result<(), SinkError>>);

/// Appends records to a JSON Lines file, one object per line.
///
/// One writer thread takes records in batches (group commit): it writes every queued line,
/// flushes them to the operating system (and, with `fsync`, to the disk), then acknowledges
/// each record's [`Commit`]. A record acknowledged has reached the file, so a crash of this
/// process loses none of them.
#[derive(Debug, Clone)]
pub struct JsonlSink {
    tx: SyncSender<Job>,
}

impl JsonlSink {
    /// Append to `path` (created if absent) with default options.
    pub fn open(path: &Path) -> io::Result<Self> {
        Self::with_options(path, JsonlSinkOptions::default())
    }

    /// Append to `path` with `options`.
    pub fn with_options(path: &Path, options: JsonlSinkOptions) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let (tx, rx) = mpsc::sync_channel::<Job>(options.queue.max(1));
        thread::Builder::new()
            .name("raigate-jsonl".into())
            .spawn(move || writer(file, rx, options))?;
        Ok(JsonlSink { tx })
    }
}

impl DecisionSink for JsonlSink {
    fn submit(&self, record: DecisionRecord) -> Result<Commit, SinkError> {
        let (done, commit) = oneshot::channel();
        match self.tx.try_send((record, done)) {
            Ok(()) => Ok(Commit::waiting(commit)),
            Err(TrySendError::Full(_)) => Err(SinkError::Full),
            Err(TrySendError::Disconnected(_)) => Err(SinkError::Closed),
        }
    }
}

fn writer(file: File, rx: Receiver<Job>, options: JsonlSinkOptions) {
    let mut out = BufWriter::with_capacity(256 * 1024, file);
    let mut batch: Vec<Job> = Vec::with_capacity(options.batch);
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while batch.len() < options.batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let result = write_batch(&mut out, &batch, options.fsync);
        if let Err(e) = &result {
            tracing::error!(error = %e, records = batch.len(), "decision trace write failed");
        }
        for (_, done) in batch.drain(..) {
            let _ = done.send(result.clone());
        }
    }
}

fn write_batch(out: &mut BufWriter<File>, batch: &[Job], fsync: bool) -> Result<(), SinkError> {
    let io = |e: io::Error| SinkError::Io(e.to_string());
    for (record, _) in batch {
        serde_json::to_writer(&mut *out, record).map_err(|e| SinkError::Io(e.to_string()))?;
        out.write_all(b"\n").map_err(io)?;
    }
    out.flush().map_err(io)?;
    if fsync {
        out.get_ref().sync_data().map_err(io)?;
    }
    Ok(())
}
