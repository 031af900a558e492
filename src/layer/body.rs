use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::budget::Reservation;

/// Errors of a [`ResponseBody`]: the inner body's, boxed.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

pin_project! {
    /// Body of a response that passed through [`super::Raigate`]: the inner body (possibly
    /// after a prefix such as the SSE notice comment), or a body raigate wrote itself
    /// (a problem, or a labelled JSON / WebVTT / SRT document).
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        // `held`: the label budget's bytes for `data` / `prefix`, given back once it is sent.
        Full { data: Option<Bytes>, held: Option<Reservation> },
        Stream { prefix: Option<Bytes>, bom: Bom, #[pin] body: B },
        Boxed { prefix: Option<Bytes>, held: Option<Reservation>, body: Pin<Box<B>> },
        Failed { error: Option<BoxError> },
    }
}

/// The UTF-8 byte order mark.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Dropping a byte order mark at the start of the inner body. An event stream may start with
/// one, and clients skip it only at the very start of the stream; after raigate's leading
/// comment it would be read as part of the first field name, and that field dropped.
#[derive(Debug)]
enum Bom {
    /// Pass the inner body through as it is.
    Keep,
    /// Drop a leading BOM; `held` keeps the first bytes until it is known whether they are one.
    Drop { held: bytes::BytesMut },
    /// The held bytes went out; this non-data frame comes next.
    Then(Frame<Bytes>),
}

impl Bom {
    /// Feed the next data chunk; returns what to send now (`None`: wait for more bytes).
    fn feed(&mut self, data: Bytes) -> Option<Bytes> {
        let Bom::Drop { held } = self else {
            return Some(data);
        };
        held.extend_from_slice(&data);
        if held.len() < UTF8_BOM.len() && UTF8_BOM.starts_with(held) {
            return None;
        }
        let mut all = std::mem::take(held).freeze();
        *self = Bom::Keep;
        if all.starts_with(UTF8_BOM) {
            all = all.slice(UTF8_BOM.len()..);
        }
        Some(all)
    }

    /// The inner body ended (or sent a non-data frame): what is held goes out as it is.
    fn flush(&mut self) -> Option<Bytes> {
        match std::mem::replace(self, Bom::Keep) {
            Bom::Drop { held } if !held.is_empty() => Some(held.freeze()),
            Bom::Drop { .. } | Bom::Keep | Bom::Then(_) => None,
        }
    }
}

impl<B> ResponseBody<B> {
    /// A complete body.
    pub(crate) fn full(data: Bytes) -> Self {
        Self::full_held(data, None)
    }

    /// A complete body that holds label-budget bytes until it is sent.
    pub(crate) fn full_held(data: Bytes, held: Option<Reservation>) -> Self {
        ResponseBody {
            kind: Kind::Full {
                data: (!data.is_empty()).then_some(data),
                held,
            },
        }
    }

    /// The inner body, after an optional prefix.
    pub(crate) fn stream(prefix: Option<Bytes>, body: B) -> Self {
        ResponseBody {
            kind: Kind::Stream {
                prefix,
                bom: Bom::Keep,
                body,
            },
        }
    }

    /// An event stream after raigate's leading comment: a byte order mark the inner stream
    /// starts with is dropped.
    pub(crate) fn event_stream(prefix: Bytes, body: B) -> Self {
        ResponseBody {
            kind: Kind::Stream {
                prefix: Some(prefix),
                bom: Bom::Drop {
                    held: bytes::BytesMut::new(),
                },
                body,
            },
        }
    }

    /// A pinned inner body, after an optional prefix that holds label-budget bytes until it
    /// is sent.
    pub(crate) fn boxed(
        prefix: Option<Bytes>,
        body: Pin<Box<B>>,
        held: Option<Reservation>,
    ) -> Self {
        ResponseBody {
            kind: Kind::Boxed { prefix, held, body },
        }
    }

    /// A body that fails with `error` when read.
    pub(crate) fn failed(error: BoxError) -> Self {
        ResponseBody {
            kind: Kind::Failed { error: Some(error) },
        }
    }
}

fn poll_inner<B>(
    prefix: &mut Option<Bytes>,
    body: Pin<&mut B>,
    cx: &mut Context<'_>,
) -> Poll<Option<Result<Frame<Bytes>, BoxError>>>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    if let Some(p) = prefix.take() {
        return Poll::Ready(Some(Ok(Frame::data(p))));
    }
    body.poll_frame(cx).map_err(Into::into)
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Full { data, held } => {
                held.take();
                Poll::Ready(data.take().map(|d| Ok(Frame::data(d))))
            }
            KindProj::Stream { prefix, bom, body } => {
                if matches!(bom, Bom::Keep) {
                    return poll_inner(prefix, body, cx);
                }
                if let Bom::Then(_) = bom
                    && let Bom::Then(frame) = std::mem::replace(bom, Bom::Keep)
                {
                    return Poll::Ready(Some(Ok(frame)));
                }
                if let Some(p) = prefix.take() {
                    return Poll::Ready(Some(Ok(Frame::data(p))));
                }
                let mut body = body;
                loop {
                    match std::task::ready!(body.as_mut().poll_frame(cx)) {
                        Some(Ok(frame)) => match frame.into_data() {
                            Ok(data) => {
                                if let Some(out) = bom.feed(data) {
                                    return Poll::Ready(Some(Ok(Frame::data(out))));
                                }
                            }
                            Err(frame) => {
                                // Trailers: what is held goes out first, then the frame.
                                let Some(held) = bom.flush() else {
                                    return Poll::Ready(Some(Ok(frame)));
                                };
                                *bom = Bom::Then(frame);
                                return Poll::Ready(Some(Ok(Frame::data(held))));
                            }
                        },
                        // An error ends the body; a partial BOM held before it is moot.
                        Some(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
                        None => return Poll::Ready(bom.flush().map(|d| Ok(Frame::data(d)))),
                    }
                }
            }
            KindProj::Boxed { prefix, held, body } => {
                held.take();
                poll_inner(prefix, body.as_mut(), cx)
            }
            KindProj::Failed { error } => Poll::Ready(error.take().map(Err)),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full { data, .. } => data.is_none(),
            Kind::Stream { prefix, bom, body } => {
                prefix.is_none() && matches!(bom, Bom::Keep) && body.is_end_stream()
            }
            Kind::Boxed { prefix, body, .. } => prefix.is_none() && body.is_end_stream(),
            Kind::Failed { error } => error.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        let with_prefix = |prefix: &Option<Bytes>, hint: SizeHint| {
            let extra = prefix.as_ref().map_or(0, |p| p.len() as u64);
            let mut h = SizeHint::new();
            h.set_lower(hint.lower().saturating_add(extra));
            if let Some(u) = hint.upper() {
                h.set_upper(u.saturating_add(extra));
            }
            h
        };
        match &self.kind {
            Kind::Full { data, .. } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Kind::Stream { prefix, bom, body } => match bom {
                Bom::Keep => with_prefix(prefix, body.size_hint()),
                // The length may shrink by the BOM: nothing certain is known.
                Bom::Drop { .. } | Bom::Then(_) => SizeHint::new(),
            },
            Kind::Boxed { prefix, body, .. } => with_prefix(prefix, body.size_hint()),
            Kind::Failed { .. } => SizeHint::default(),
        }
    }
}

impl<B> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::Full { .. } => "full",
            Kind::Stream { .. } | Kind::Boxed { .. } => "stream",
            Kind::Failed { .. } => "failed",
        };
        f.debug_struct("ResponseBody").field("kind", &kind).finish()
    }
}
