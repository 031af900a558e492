//! Connections: one accept loop per listener, each with its own connection limit, a
//! header-read timeout and an idle keep-alive timeout.
//!
//! Why not hyper's own `header_read_timeout`: hyper starts that clock whenever a connection is
//! ready for a request head, so it also ends every idle keep-alive period, and the two limits
//! could not differ. Here a connection is in one of three phases, tracked from its socket reads
//! and its requests:
//!
//! | phase | ends when | limit |
//! |---|---|---|
//! | idle (fresh, or after a response) | a byte arrives | `header_read_timeout` for a fresh connection, `idle_timeout` after a response |
//! | reading a head (first byte seen) | hyper hands the request to the service | `header_read_timeout` |
//! | busy (a request in flight, until its response body is sent or dropped) | the response ends | none here |
//!
//! A connection past its limit is closed. A connection over the listener's limit is answered
//! `503` with `Connection: close` and closed at once. Both are logged, at most once per
//! [`LOG_EVERY`] per listener and kind, with a count.
//!
//! The admin listener has its own loop and limit, so proxy clients cannot take its
//! connections; [`fd_budget`] keeps enough file descriptors for both.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;

use crate::layer::throttle::Throttle;

/// Default `[server] header_read_timeout_ms`: 10 s, as common reverse proxies use for a
/// request head; a slow mobile client sends a head in well under a second.
pub(crate) const DEFAULT_HEADER_READ_TIMEOUT_MS: u64 = 10_000;
/// Default `[server] idle_timeout_ms`: 75 s, longer than the 60 s idle timeout of common load
/// balancers in front, so that the balancer, not raigate, closes an idle pooled connection
/// (closing it here first races with a request the balancer is sending).
pub(crate) const DEFAULT_IDLE_TIMEOUT_MS: u64 = 75_000;
/// Default `[server] max_connections` for the proxy listener.
pub(crate) const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// Default `[server] admin_max_connections`.
pub(crate) const DEFAULT_ADMIN_MAX_CONNECTIONS: usize = 64;
/// File descriptors kept for everything but connections: the stores, the trace files, the
/// policy directory, DNS, the runtime.
pub(crate) const RESERVED_FDS: u64 = 256;
/// At most one log line per this period for each limit of each listener.
pub(crate) const LOG_EVERY: Duration = Duration::from_secs(10);

/// The limits of one listener.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnLimits {
    pub(crate) header_read_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_connections: usize,
}

/// How many proxy connections fit in `nofile` file descriptors next to `admin` admin
/// connections: each proxy connection may hold two (the client's socket and a pooled
/// upstream socket), each admin connection one, and [`RESERVED_FDS`] stay for the rest.
pub(crate) fn fd_budget(nofile: u64, wanted: usize, admin: usize) -> usize {
    let admin = u64::try_from(admin).unwrap_or(u64::MAX);
    let room = nofile.saturating_sub(RESERVED_FDS).saturating_sub(admin) / 2;
    let room = usize::try_from(room).unwrap_or(usize::MAX);
    wanted.min(room).max(1)
}

/// The soft `RLIMIT_NOFILE` of this process, if it can be read.
#[cfg(unix)]
pub(crate) fn nofile_limit() -> Option<u64> {
    rlimit::Resource::NOFILE
        .get()
        .ok()
        .map(|(soft, _hard)| soft)
}

/// The soft `RLIMIT_NOFILE` of this process, if it can be read.
#[cfg(not(unix))]
pub(crate) fn nofile_limit() -> Option<u64> {
    None
}

/// Where a connection is (see the module docs).
#[derive(Debug, Clone, Copy)]
enum Phase {
    Idle { since: Instant, fresh: bool },
    Head { since: Instant },
    Busy(usize),
}

/// Why the watchdog closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expired {
    Head,
    Idle,
}

/// One connection's phase, shared by its socket, its service and its watchdog.
#[derive(Debug)]
struct ConnState {
    phase: Mutex<Phase>,
    changed: Notify,
}

impl ConnState {
    fn new() -> Arc<Self> {
        Arc::new(ConnState {
            phase: Mutex::new(Phase::Idle {
                since: Instant::now(),
                fresh: true,
            }),
            changed: Notify::new(),
        })
    }

    fn update(&self, f: impl FnOnce(Phase) -> Phase) {
        let mut phase = self.phase.lock().unwrap_or_else(PoisonError::into_inner);
        *phase = f(*phase);
        drop(phase);
        self.changed.notify_one();
    }

    /// Bytes arrived: an idle connection starts reading a head.
    fn on_read(&self) {
        let idle = matches!(
            *self.phase.lock().unwrap_or_else(PoisonError::into_inner),
            Phase::Idle { .. }
        );
        if idle {
            self.update(|p| match p {
                Phase::Idle { .. } => Phase::Head {
                    since: Instant::now(),
                },
                other => other,
            });
        }
    }

    fn request_started(self: &Arc<Self>) -> BusyGuard {
        self.update(|p| match p {
            Phase::Busy(n) => Phase::Busy(n.saturating_add(1)),
            Phase::Idle { .. } | Phase::Head { .. } => Phase::Busy(1),
        });
        BusyGuard(self.clone())
    }

    fn request_ended(&self) {
        self.update(|p| match p {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle {
                since: Instant::now(),
                fresh: false,
            },
        });
    }

    /// When the current phase runs out, and what that would be (`None`: busy, or a limit too
    /// far away to count).
    fn deadline(&self, limits: &ConnLimits) -> Option<(Instant, Expired)> {
        let (since, limit, why) = match *self.phase.lock().unwrap_or_else(PoisonError::into_inner) {
            Phase::Idle { since, fresh: true } | Phase::Head { since } => {
                (since, limits.header_read_timeout, Expired::Head)
            }
            Phase::Idle {
                since,
                fresh: false,
            } => (since, limits.idle_timeout, Expired::Idle),
            Phase::Busy(_) => return None,
        };
        since.checked_add(limit).map(|at| (at, why))
    }
}

/// Resolves when the connection has been idle or reading a head for too long.
async fn watchdog(state: Arc<ConnState>, limits: ConnLimits) -> Expired {
    loop {
        let Some((at, why)) = state.deadline(&limits) else {
            state.changed.notified().await;
            continue;
        };
        tokio::select! {
            () = tokio::time::sleep_until(at) => {
                // Still the same deadline (nothing moved it while we slept)?
                if state.deadline(&limits).is_some_and(|(now_at, _)| now_at <= Instant::now()) {
                    return why;
                }
            }
            () = state.changed.notified() => {}
        }
    }
}

/// Marks the connection busy until dropped (with the response body, or the response future).
struct BusyGuard(Arc<ConnState>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.request_ended();
    }
}

pin_project! {
    /// A socket that tells its connection when bytes arrive.
    struct WatchedStream {
        #[pin]
        inner: TcpStream,
        state: Arc<ConnState>,
    }
}

impl AsyncRead for WatchedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let polled = this.inner.poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.state.on_read();
        }
        polled
    }
}

impl AsyncWrite for WatchedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A hyper service that marks its connection busy from the request until the response body
/// is done.
struct Tracked<S> {
    inner: S,
    state: Arc<ConnState>,
}

impl<S, B> hyper::service::Service<Request<Incoming>> for Tracked<S>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>>,
{
    type Response = Response<TrackedBody<B>>;
    type Error = S::Error;
    type Future = TrackedFuture<S::Future>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let guard = self.state.request_started();
        TrackedFuture {
            fut: self.inner.call(req),
            guard: Some(guard),
        }
    }
}

pin_project! {
    struct TrackedFuture<F> {
        #[pin]
        fut: F,
        guard: Option<BusyGuard>,
    }
}

impl<F, B, E> Future for TrackedFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<TrackedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let resp = std::task::ready!(this.fut.poll(cx))?;
        let guard = this.guard.take();
        Poll::Ready(Ok(resp.map(|body| TrackedBody {
            body,
            _guard: guard,
        })))
    }
}

pin_project! {
    /// A response body that keeps its connection busy until it is sent or dropped.
    struct TrackedBody<B> {
        #[pin]
        body: B,
        _guard: Option<BusyGuard>,
    }
}

impl<B: Body<Data = Bytes>> Body for TrackedBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        self.project().body.poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }
    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// What an over-limit connection reads before it is closed.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\ncache-control: no-store\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 116\r\n\r\n{\"type\":\"about:blank\",\"title\":\"Service Unavailable\",\"status\":503,\"detail\":\"too many connections; retry in a moment\"}";

/// One listener's accept loop.
pub(crate) struct Acceptor {
    /// `proxy` or `admin`, for logs.
    pub(crate) name: &'static str,
    pub(crate) listener: TcpListener,
    pub(crate) limits: ConnLimits,
}

impl Acceptor {
    /// Accept and serve connections until `shutdown` resolves; connections are watched by
    /// `graceful` (drained by the caller).
    pub(crate) async fn run<S, B>(
        self,
        service: S,
        graceful: &GracefulShutdown,
        shutdown: impl Future<Output = ()>,
    ) where
        S: hyper::service::Service<Request<Incoming>, Response = Response<B>>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let Acceptor {
            name,
            listener,
            limits,
        } = self;
        let permits = Arc::new(Semaphore::new(limits.max_connections));
        let refused = Arc::new(Throttle::new(LOG_EVERY));
        let timed_out = Arc::new(Throttle::new(LOG_EVERY));
        let accept_failed = Throttle::new(LOG_EVERY);
        let mut http = hyper::server::conn::http1::Builder::new();
        // hyper's own head timer is off: the watchdog below times heads and idleness apart.
        http.keep_alive(true).header_read_timeout(None);
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = &mut shutdown => break,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, most likely: wait for some to be released.
                    if let Some(n) = accept_failed.hit() {
                        tracing::warn!(listener = name, error = %e, failures = n, "accept failed");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                if let Some(n) = refused.hit() {
                    tracing::warn!(
                        listener = name,
                        max_connections = limits.max_connections,
                        refused = n,
                        "connection limit reached: refusing new connections with 503 (count since the last line)"
                    );
                }
                // Best effort and never waiting: the client may read the 503 before the close.
                let _ = stream.try_write(BUSY);
                drop(stream);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let state = ConnState::new();
            let io = TokioIo::new(WatchedStream {
                inner: stream,
                state: state.clone(),
            });
            let service = Tracked {
                inner: service.clone(),
                state: state.clone(),
            };
            let conn = graceful.watch(http.serve_connection(io, service));
            let timed_out = timed_out.clone();
            tokio::spawn(async move {
                let _permit = permit;
                tokio::select! {
                    served = conn => {
                        if let Err(e) = served {
                            tracing::debug!(listener = name, error = %e, "connection ended with an error");
                        }
                    }
                    why = watchdog(state, limits) => match why {
                        // Dropping the connection closes the socket.
                        Expired::Head => {
                            if let Some(n) = timed_out.hit() {
                                tracing::warn!(
                                    listener = name,
                                    header_read_timeout_ms = u64::try_from(limits.header_read_timeout.as_millis()).unwrap_or(u64::MAX),
                                    closed = n,
                                    "closed connections that did not send a request head in time (count since the last line)"
                                );
                            }
                        }
                        Expired::Idle => tracing::debug!(listener = name, "closed an idle keep-alive connection"),
                    },
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fd_budget_keeps_room_for_the_admin_listener_and_the_rest() {
        // Plenty of descriptors: the configured limit stands.
        assert_eq!(fd_budget(1 << 20, 4096, 64), 4096);
        // 1024: (1024 - 256 - 64) / 2 = 352 proxy connections.
        assert_eq!(fd_budget(1024, 4096, 64), 352);
        // Hopelessly low: still one, and the admin listener keeps its own.
        assert_eq!(fd_budget(100, 4096, 64), 1);
    }

    #[test]
    fn the_busy_answer_is_a_complete_response() {
        let text = std::str::from_utf8(BUSY).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        let problem: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(problem["status"], 503);
    }
}
