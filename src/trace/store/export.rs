//! Exports: every decision matching a query, page by page, as JSON Lines or CSV. One loop
//! ([`TraceStore::export_stream`]) reads the pages; [`TraceStore::export_to`] writes the same
//! stream to a file.

use bytes::Bytes;
use tokio::sync::mpsc;

use super::{TraceError, TraceStore};
use crate::trace::DecisionRecord;
use crate::trace::query::{DecisionQuery, ExportFormat};

/// Records per page read from the store.
const EXPORT_PAGE: u32 = 1000;

/// A chunk of an export and how many records it holds.
type Chunk = Result<(Bytes, u64), TraceError>;

impl TraceStore {
    /// Write every decision matching `query` (its limit and cursor ignored) to `out`, page by
    /// page: nothing is buffered beyond one page. Returns how many were written.
    pub async fn export_to(
        &self,
        query: &DecisionQuery,
        format: ExportFormat,
        out: &mut (dyn std::io::Write + Send),
    ) -> Result<u64, TraceError> {
        let io = |e: std::io::Error| TraceError::Db(format!("writing the export: {e}"));
        let mut stream = self.export_stream(query, format)?;
        let mut n = 0u64;
        while let Some(chunk) = stream.rx.recv().await {
            let (bytes, records) = chunk?;
            out.write_all(&bytes).map_err(io)?;
            n += records;
        }
        out.flush().map_err(io)?;
        Ok(n)
    }

    /// The export of `query` as a stream of byte chunks (the header, then one per page), for
    /// HTTP bodies.
    pub fn export_stream(
        &self,
        query: &DecisionQuery,
        format: ExportFormat,
    ) -> Result<ExportStream, TraceError> {
        let (filter, _, _) = query.compile()?;
        let (tx, rx) = mpsc::channel::<Chunk>(2);
        let store = self.clone();
        tokio::spawn(async move {
            if tx
                .send(Ok((Bytes::from(format.header()), 0)))
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
                let chunk = (Bytes::from(buf), page.len() as u64);
                if tx.send(Ok(chunk)).await.is_err() || !full {
                    return;
                }
            }
        });
        Ok(ExportStream { rx })
    }
}

/// Byte chunks of an export ([`TraceStore::export_stream`]).
#[derive(Debug)]
pub struct ExportStream {
    rx: mpsc::Receiver<Chunk>,
}

impl futures_core::Stream for ExportStream {
    type Item = Result<Bytes, TraceError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.rx
            .poll_recv(cx)
            .map(|c| c.map(|c| c.map(|(bytes, _)| bytes)))
    }
}
