//! Journal recovery: with `durability = "async"` an allowed request is answered once its record
//! is in the JSON Lines journal and queued for the store, so after a crash the journal's tail
//! is replayed into the store.

use super::{TraceError, TraceStore};
use crate::trace::DecisionRecord;
use crate::trace::sink::DecisionSink;

impl TraceStore {
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
