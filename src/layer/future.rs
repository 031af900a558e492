use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use http::Response;
use http::response::Parts;
use http_body::Body;
use pin_project_lite::pin_project;

use super::body::{BoxError, ResponseBody};
use super::budget::Reservation;
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
    ///
    /// # Polled after completion
    ///
    /// A future must not be polled again once it returned `Ready`; doing so is a bug in the
    /// caller, and the `Future` contract leaves the result open (panic, hang, anything but
    /// undefined behaviour). This one neither panics nor hangs, and it does not make up an
    /// answer that could pass for the real one: it returns at once a `500` response whose
    /// body fails on its first read with an error saying the future was polled after
    /// completion. Served by hyper, that aborts the connection; read by a caller, it surfaces
    /// as a body error. (The error cannot be the service's own error type, which raigate cannot
    /// construct: axum requires it to be `Infallible`.)
    pub struct ResponseFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

/// The error in the body of what a [`ResponseFuture`] returns when polled after completion.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("raigate's ResponseFuture was polled after it completed (a caller bug)")]
pub(crate) struct PolledAfterCompletion;

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
            held: Option<Reservation>,
            kind: BodyLabel,
            labeller: Labeller,
        },
        // Returned `Ready`: every further poll gets the failing response (see the type's docs).
        Done,
    }
}

/// What a finished [`ResponseFuture`] returns if polled again.
fn polled_after_completion<B>() -> Response<ResponseBody<B>> {
    let mut resp = Response::new(ResponseBody::failed(Box::new(PolledAfterCompletion)));
    *resp.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
    resp
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
        let out = std::task::ready!(poll_state(state.as_mut(), cx));
        state.set(State::Done);
        Poll::Ready(out)
    }
}

/// Drive the state machine; `Ready` is the future's output (the caller then moves to `Done`).
fn poll_state<F, B, E>(
    mut state: Pin<&mut State<F, B>>,
    cx: &mut Context<'_>,
) -> Poll<Result<Response<ResponseBody<B>>, E>>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    loop {
        match state.as_mut().project() {
            StateProj::Done => return Poll::Ready(Ok(polled_after_completion())),
            StateProj::Ready { response } => {
                return Poll::Ready(Ok(response
                    .take()
                    .map_or_else(polled_after_completion, |r| r.map(ResponseBody::full))));
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
                    Plan::Buffer(kind, held, declared) => {
                        let (parts, body) = resp.into_parts();
                        state.set(State::Labelling {
                            parts: Some(parts),
                            body: Some(Box::pin(body)),
                            // The declared length, when there is one, is allocated once.
                            buf: BytesMut::with_capacity(declared.unwrap_or(0)),
                            held: Some(held),
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
                held,
                kind,
                labeller,
            } => {
                let (Some(inner), Some(reservation)) = (body.as_mut(), held.as_mut()) else {
                    return Poll::Ready(Ok(polled_after_completion()));
                };
                match ready!(inner.as_mut().poll_frame(cx)) {
                    Some(Ok(frame)) => {
                        // Trailers are dropped: labelled documents are sent whole.
                        let Ok(data) = frame.into_data() else {
                            continue;
                        };
                        let total = buf.len().saturating_add(data.len());
                        let too_long = total > labeller.max_buffer;
                        let no_room = !too_long && !reservation.grow_to(total);
                        if no_room {
                            reservation.budget().note_refusal(total);
                        }
                        buf.extend_from_slice(&data);
                        if too_long || no_room {
                            // Not labelled in the body: send what was read, then the rest,
                            // unchanged (the header label is set already).
                            let prefix = std::mem::take(buf).freeze();
                            let (Some(p), Some(b)) = (parts.take(), body.take()) else {
                                return Poll::Ready(Ok(polled_after_completion()));
                            };
                            let resp = Response::from_parts(
                                p,
                                ResponseBody::boxed(Some(prefix), b, held.take()),
                            );
                            return Poll::Ready(Ok(resp));
                        }
                    }
                    Some(Err(e)) => {
                        let Some(p) = parts.take() else {
                            return Poll::Ready(Ok(polled_after_completion()));
                        };
                        body.take();
                        held.take();
                        let resp = Response::from_parts(p, ResponseBody::failed(e.into()));
                        return Poll::Ready(Ok(resp));
                    }
                    None => {
                        let Some(mut p) = parts.take() else {
                            return Poll::Ready(Ok(polled_after_completion()));
                        };
                        body.take();
                        let original = std::mem::take(buf).freeze();
                        let data = match labeller.rewrite(*kind, &original) {
                            Some(labelled) => Bytes::from(labelled),
                            None => original,
                        };
                        set_length(&mut p.headers, data.len());
                        let mut held = held.take();
                        if let Some(h) = held.as_mut() {
                            h.settle_at(data.len());
                        }
                        return Poll::Ready(Ok(Response::from_parts(
                            p,
                            ResponseBody::full_held(data, held),
                        )));
                    }
                }
            }
        }
    }
}
