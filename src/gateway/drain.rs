//! Keep-alive after an answer that did not read the whole request body.
//!
//! A denial decided on the headers is answered without reading the body (nothing of it may
//! reach an upstream, and there is no reason to wait for it). The client may still be sending
//! that body. If the connection simply closed after the answer, a keep-alive client would send
//! its next request into a closing socket; hyper adds `Connection: close` only when it noticed
//! the unread body before writing the answer's head, which is a race.
//!
//! So the gateway decides, for every answer whose request body was left unread:
//! - the rest of the body is known to be small (a `Content-Length` with at most
//!   [`DRAIN_LIMIT`] bytes left) and no `Expect: 100-continue` is waiting: answer now, and read
//!   and discard the rest in the background, within the drain timeout; the connection stays
//!   open for the next request;
//! - otherwise (chunked, large, or a client waiting for `100 Continue`): answer with
//!   `Connection: close`, so the client knows not to reuse the connection.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, header};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tower_service::Service;

/// The most bytes of an unread body read and discarded to keep a connection open.
pub(crate) const DRAIN_LIMIT: u64 = 1024 * 1024;

/// What became of a request body, as the service behind saw it.
enum Unread {
    /// Still owned by the service (being read, or being forwarded).
    InUse,
    /// Read to its end: nothing to do.
    Ended,
    /// Dropped before its end, after `read` bytes: the rest is still on the wire.
    Dropped { body: Incoming, read: u64 },
    /// Dealt with.
    Settled,
}

type Slot = Arc<Mutex<Unread>>;

fn lock(slot: &Slot) -> std::sync::MutexGuard<'_, Unread> {
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The request body handed to the service: reports its end, and hands itself back when
/// dropped early.
struct WatchedBody {
    inner: Option<Incoming>,
    read: u64,
    slot: Slot,
}

impl Body for WatchedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.read = this.read.saturating_add(data.len() as u64);
                }
            }
            // The end, or an error (the connection is gone either way).
            Poll::Ready(None | Some(Err(_))) => {
                this.inner = None;
                *lock(&this.slot) = Unread::Ended;
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

impl Drop for WatchedBody {
    fn drop(&mut self) {
        if let Some(body) = self.inner.take() {
            let mut slot = lock(&self.slot);
            *slot = if body.is_end_stream() {
                Unread::Ended
            } else {
                Unread::Dropped {
                    body,
                    read: self.read,
                }
            };
        }
    }
}

/// Wraps the proxy's service stack: see the module docs.
#[derive(Clone)]
pub(crate) struct DrainUnread<S> {
    pub(crate) inner: S,
    /// How long the rest of a small unread body may take to arrive.
    pub(crate) timeout: Duration,
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

impl<S, B> Service<Request<Incoming>> for DrainUnread<S>
where
    S: Service<Request<axum::body::Body>, Response = Response<B>>,
    S::Future: Send + 'static,
    B: 'static,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<B>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        let (parts, body) = req.into_parts();
        let declared = declared_length(&parts.headers);
        let waits_for_continue = expects_continue(&parts.headers);
        let slot: Slot = Arc::new(Mutex::new(if body.is_end_stream() {
            Unread::Ended
        } else {
            Unread::InUse
        }));
        let watched = WatchedBody {
            inner: Some(body),
            read: 0,
            slot: slot.clone(),
        };
        let fut = self
            .inner
            .call(Request::from_parts(parts, axum::body::Body::new(watched)));
        let timeout = self.timeout;
        Box::pin(async move {
            let mut resp = fut.await?;
            let unread = std::mem::replace(&mut *lock(&slot), Unread::Settled);
            if let Unread::Dropped { body, read } = unread {
                let rest = declared.map(|n| n.saturating_sub(read));
                match rest {
                    Some(rest) if rest <= DRAIN_LIMIT && !waits_for_continue => {
                        tokio::spawn(discard(body, timeout));
                    }
                    _ => {
                        resp.headers_mut()
                            .insert(header::CONNECTION, HeaderValue::from_static("close"));
                    }
                }
            }
            Ok(resp)
        })
    }
}

/// Read the rest of a body and throw it away, within `timeout` and [`DRAIN_LIMIT`]; past
/// either, dropping the body makes hyper close the connection.
async fn discard(mut body: Incoming, timeout: Duration) {
    let drained = tokio::time::timeout(timeout, async {
        let mut seen = 0u64;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { return };
            if let Some(data) = frame.data_ref() {
                seen = seen.saturating_add(data.len() as u64);
                if seen > DRAIN_LIMIT {
                    return;
                }
            }
        }
    })
    .await;
    if drained.is_err() {
        tracing::debug!("an unread request body did not arrive in time; closing its connection");
    }
}
