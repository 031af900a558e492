use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use http::Response;
use http::response::Parts;
use http_body::Body;
use pin_project_lite::pin_project;

use super::body::{BoxError, ResponseBody};
use super::labeller::{Labeller, Plan, set_length};
use crate::label::BodyLabel;

/// Work that must finish before the inner service is called: reading the body, waiting for
/// the decision record to be durable. Ends in a response of our own or in the inner call.
pub(crate) type Preparation<F> = Pin<Box<dyn Future<Output = Prepared<F>> + Send>>;

/// How a preparation ended.
pub(crate) enum Prepared<F> {
    /// Answer without calling the inner service (a denial).
    Respond(Response<Bytes>),
    /// The inner service was called.
    Call(F, Labeller),
}

pin_project! {
    /// Response future of [`super::Raigate`].
    pub struct ResponseFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Ready { response: Option<Response<Bytes>> },
        Preparing { fut: Preparation<F> },
        Calling { #[pin] fut: F, labeller: Option<Labeller> },
        Labelling {
            parts: Option<Parts>,
            body: Option<Pin<Box<B>>>,
            buf: BytesMut,
            kind: BodyLabel,
            labeller: Labeller,
        },
    }
}

impl<F, B> ResponseFuture<F, B> {
    pub(crate) fn respond(response: Response<Bytes>) -> Self {
        ResponseFuture {
            state: State::Ready {
                response: Some(response),
            },
        }
    }

    pub(crate) fn prepare(fut: Preparation<F>) -> Self {
        ResponseFuture {
            state: State::Preparing { fut },
        }
    }

    pub(crate) fn call(fut: F, labeller: Labeller) -> Self {
        ResponseFuture {
            state: State::Calling {
                fut,
                labeller: Some(labeller),
            },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Ready { response } => {
                    let resp = response.take().unwrap_or_else(|| {
                        crate::problem::Problem::new(
                            http::StatusCode::INTERNAL_SERVER_ERROR,
                            "internal",
                            "Internal error",
                            "response future polled after completion",
                        )
                        .into_response()
                    });
                    return Poll::Ready(Ok(resp.map(ResponseBody::full)));
                }
                StateProj::Preparing { fut } => match ready!(fut.as_mut().poll(cx)) {
                    Prepared::Respond(resp) => state.set(State::Ready {
                        response: Some(resp),
                    }),
                    Prepared::Call(fut, labeller) => state.set(State::Calling {
                        fut,
                        labeller: Some(labeller),
                    }),
                },
                StateProj::Calling { fut, labeller } => {
                    let mut resp = ready!(fut.poll(cx))?;
                    let Some(labeller) = labeller.take() else {
                        return Poll::Ready(Ok(resp.map(|b| ResponseBody::stream(None, b))));
                    };
                    match labeller.start(&mut resp) {
                        Plan::Stream(prefix) => {
                            return Poll::Ready(Ok(resp.map(|b| ResponseBody::stream(prefix, b))));
                        }
                        Plan::EventStream(comment) => {
                            return Poll::Ready(Ok(
                                resp.map(|b| ResponseBody::event_stream(comment, b))
                            ));
                        }
                        Plan::Buffer(kind) => {
                            let (parts, body) = resp.into_parts();
                            state.set(State::Labelling {
                                parts: Some(parts),
                                body: Some(Box::pin(body)),
                                buf: BytesMut::new(),
                                kind,
                                labeller,
                            });
                        }
                    }
                }
                StateProj::Labelling {
                    parts,
                    body,
                    buf,
                    kind,
                    labeller,
                } => {
                    let Some(inner) = body.as_mut() else {
                        return Poll::Pending;
                    };
                    match ready!(inner.as_mut().poll_frame(cx)) {
                        Some(Ok(frame)) => {
                            // Trailers are dropped: labelled documents are sent whole.
                            if let Ok(data) = frame.into_data() {
                                buf.extend_from_slice(&data);
                            }
                            if buf.len() > labeller.max_buffer {
                                // Too long to label: send what was read, then the rest, unchanged.
                                let prefix = std::mem::take(buf).freeze();
                                let (Some(p), Some(b)) = (parts.take(), body.take()) else {
                                    return Poll::Pending;
                                };
                                let resp =
                                    Response::from_parts(p, ResponseBody::boxed(Some(prefix), b));
                                return Poll::Ready(Ok(resp));
                            }
                        }
                        Some(Err(e)) => {
                            let Some(p) = parts.take() else {
                                return Poll::Pending;
                            };
                            body.take();
                            let resp = Response::from_parts(p, ResponseBody::failed(e.into()));
                            return Poll::Ready(Ok(resp));
                        }
                        None => {
                            let Some(mut p) = parts.take() else {
                                return Poll::Pending;
                            };
                            body.take();
                            let original = std::mem::take(buf).freeze();
                            let data = match labeller.rewrite(*kind, &original) {
                                Some(labelled) => Bytes::from(labelled),
                                None => original,
                            };
                            set_length(&mut p.headers, data.len());
                            return Poll::Ready(Ok(Response::from_parts(
                                p,
                                ResponseBody::full(data),
                            )));
                        }
                    }
                }
            }
        }
    }
}
