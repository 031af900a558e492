use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

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
        Full { data: Option<Bytes> },
        Stream { prefix: Option<Bytes>, #[pin] body: B },
        Boxed { prefix: Option<Bytes>, body: Pin<Box<B>> },
        Failed { error: Option<BoxError> },
    }
}

impl<B> ResponseBody<B> {
    /// A complete body.
    pub(crate) fn full(data: Bytes) -> Self {
        ResponseBody {
            kind: Kind::Full {
                data: (!data.is_empty()).then_some(data),
            },
        }
    }

    /// The inner body, after an optional prefix.
    pub(crate) fn stream(prefix: Option<Bytes>, body: B) -> Self {
        ResponseBody {
            kind: Kind::Stream { prefix, body },
        }
    }

    /// A pinned inner body, after an optional prefix.
    pub(crate) fn boxed(prefix: Option<Bytes>, body: Pin<Box<B>>) -> Self {
        ResponseBody {
            kind: Kind::Boxed { prefix, body },
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
            KindProj::Full { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            KindProj::Stream { prefix, body } => poll_inner(prefix, body, cx),
            KindProj::Boxed { prefix, body } => poll_inner(prefix, body.as_mut(), cx),
            KindProj::Failed { error } => Poll::Ready(error.take().map(Err)),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full { data } => data.is_none(),
            Kind::Stream { prefix, body } => prefix.is_none() && body.is_end_stream(),
            Kind::Boxed { prefix, body } => prefix.is_none() && body.is_end_stream(),
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
            Kind::Full { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Kind::Stream { prefix, body } => with_prefix(prefix, body.size_hint()),
            Kind::Boxed { prefix, body } => with_prefix(prefix, body.size_hint()),
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
