//! The layer in process, the way tower-http tests its middleware: `RaigateLayer` around a
//! `service_fn`, one request through `oneshot`, no sockets. These cover the labelling branches
//! the socket tests cannot steer: compressed bodies, the label-size overflow, an upstream body
//! that fails while being labelled, and an event stream that starts with a byte order mark.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, header};
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody};
use raigate::RaigateLayer;
use raigate::context::RouteSpec;
use raigate::policy::PolicyHandle;
use raigate::tenants::{TenantSettings, TenantView};
use raigate::trace::MemorySink;
use tower::{Layer, ServiceExt, service_fn};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Chunks =
    StreamBody<futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, BoxError>>>>;

fn layer(max_label_bytes: usize) -> (RaigateLayer, MemorySink) {
    let sink = MemorySink::new();
    let layer = RaigateLayer::new(
        PolicyHandle::load(&crate::support::repo_path("policies")).unwrap(),
        TenantView::from_settings([
            TenantSettings::new("acme"),
            TenantSettings::new("capped").max_body_bytes(16),
        ]),
        Arc::new(sink.clone()),
    )
    .max_label_bytes(max_label_bytes)
    .route(
        RouteSpec::new(Method::POST, "/v1/summaries")
            .unwrap()
            .feature("summarization"),
    )
    .unwrap()
    .route(
        RouteSpec::new(Method::POST, "/v1/captions")
            .unwrap()
            .feature("captions"),
    )
    .unwrap();
    (layer, sink)
}

/// A response body sent in `chunks`; an `Err` chunk fails the body there.
fn chunks(chunks: Vec<Result<&'static [u8], &'static str>>) -> Chunks {
    let frames: Vec<Result<Frame<Bytes>, BoxError>> = chunks
        .into_iter()
        .map(|c| match c {
            Ok(b) => Ok(Frame::data(Bytes::from_static(b))),
            Err(e) => Err(BoxError::from(e)),
        })
        .collect();
    StreamBody::new(futures_util::stream::iter(frames))
}

fn request(path: &str, tenant: &str, body: &'static str) -> Request<Full<Bytes>> {
    Request::post(path)
        .header("x-tenant-id", tenant)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

/// Call the layer around a service answering `content_type` (and `encoding`) with `body`.
async fn call(
    layer: &RaigateLayer,
    req: Request<Full<Bytes>>,
    content_type: &'static str,
    encoding: Option<&'static str>,
    body: Vec<Result<&'static [u8], &'static str>>,
) -> (http::response::Parts, Result<Bytes, BoxError>) {
    let svc = layer.layer(service_fn(move |_req: Request<Full<Bytes>>| {
        let body = chunks(body.clone());
        async move {
            let mut resp = Response::builder().header(header::CONTENT_TYPE, content_type);
            if let Some(e) = encoding {
                resp = resp.header(header::CONTENT_ENCODING, e);
            }
            Ok::<_, Infallible>(resp.body(body).unwrap())
        }
    }));
    let resp = svc.oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    (parts, body.collect().await.map(|c| c.to_bytes()))
}

#[tokio::test]
async fn a_compressed_body_is_labelled_by_its_header_only() {
    let (layer, _) = layer(1 << 20);
    let gz: &'static [u8] = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03not really json";
    let req = request("/v1/summaries", "acme", "{}");
    let (parts, body) = call(&layer, req, "application/json", Some("gzip"), vec![Ok(gz)]).await;
    assert_eq!(parts.status, 200);
    assert!(parts.headers.contains_key("ai-disclosure"));
    assert_eq!(
        body.unwrap(),
        gz,
        "a compressed body is passed through untouched"
    );
}

#[tokio::test]
async fn a_body_over_the_label_limit_goes_out_unchanged() {
    let (layer, _) = layer(8);
    let req = request("/v1/summaries", "acme", "{}");
    let parts_of_body: Vec<Result<&'static [u8], &'static str>> =
        vec![Ok(b"{\"summary\":"), Ok(b"\"a long one\""), Ok(b"}")];
    let (parts, body) = call(&layer, req, "application/json", None, parts_of_body).await;
    assert_eq!(parts.status, 200);
    assert!(parts.headers.contains_key("ai-disclosure"));
    assert_eq!(body.unwrap(), &b"{\"summary\":\"a long one\"}"[..]);
}

#[tokio::test]
async fn an_upstream_body_error_while_labelling_reaches_the_client_as_an_error() {
    let (layer, sink) = layer(1 << 20);
    let req = request("/v1/summaries", "acme", "{}");
    let (parts, body) = call(
        &layer,
        req,
        "application/json",
        None,
        vec![Ok(b"{\"summary\":"), Err("upstream reset")],
    )
    .await;
    assert_eq!(parts.status, 200);
    let err = body.unwrap_err();
    assert!(err.to_string().contains("upstream reset"), "{err}");
    assert_eq!(sink.records().len(), 1, "the decision was recorded");
}

#[tokio::test]
async fn an_event_stream_that_starts_with_a_bom_stays_valid_after_the_comment() {
    let (layer, _) = layer(1 << 20);
    // The BOM arrives split over two chunks, as a proxy may deliver it.
    let events: Vec<Result<&'static [u8], &'static str>> = vec![
        Ok(b"\xEF\xBB"),
        Ok(b"\xBFdata: {\"x\":1}\n\n"),
        Ok(b"data: [DONE]\n\n"),
    ];
    let req = request("/v1/summaries", "acme", "{}");
    let (parts, body) = call(&layer, req, "text/event-stream", None, events).await;
    assert_eq!(parts.status, 200);
    let body = body.unwrap();
    let text = std::str::from_utf8(&body).unwrap();
    assert!(
        text.starts_with(": ai-disclosure: machine-generated"),
        "{text:?}"
    );
    assert!(!text.contains('\u{feff}'), "the BOM is dropped: {text:?}");
    let (comment, events) = text.split_once("\n\n").unwrap();
    assert!(comment.starts_with(':'));
    assert_eq!(events, "data: {\"x\":1}\n\ndata: [DONE]\n\n");

    // A stream without a BOM is unchanged after the comment.
    let req = request("/v1/summaries", "acme", "{}");
    let (_, body) = call(
        &layer,
        req,
        "text/event-stream",
        None,
        vec![Ok(b"data: a\n\n")],
    )
    .await;
    assert!(body.unwrap().ends_with(b"\n\ndata: a\n\n"));
}

#[tokio::test]
async fn a_body_over_the_tenants_own_cap_is_refused_and_not_forwarded() {
    let (layer, sink) = layer(1 << 20);
    let forwarded = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = forwarded.clone();
    let svc = layer.layer(service_fn(move |_req: Request<Full<Bytes>>| {
        seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"{}")))) }
    }));
    // The captions feature does not scan content: the cap holds on such routes too.
    let big = request("/v1/captions", "capped", "{\"text\": \"seventeen bytes+\"}");
    let resp = svc.clone().oneshot(big).await.unwrap();
    assert_eq!(resp.status(), 413);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let p: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(p["type"], "https://raigate.dev/problems/body-too-large");
    assert_eq!(p["rule"], "tenant-max-body-bytes");
    assert_eq!(forwarded.load(std::sync::atomic::Ordering::SeqCst), 0);

    let small = request("/v1/captions", "capped", "{}");
    assert_eq!(svc.clone().oneshot(small).await.unwrap().status(), 200);
    // Another tenant without a cap is not limited by it.
    let other = request("/v1/captions", "acme", "{\"text\": \"seventeen bytes+\"}");
    assert_eq!(svc.oneshot(other).await.unwrap().status(), 200);
    assert_eq!(forwarded.load(std::sync::atomic::Ordering::SeqCst), 2);
    let rules: Vec<Option<String>> = sink.records().into_iter().map(|r| r.rule).collect();
    assert_eq!(
        rules,
        [Some("tenant-max-body-bytes".to_owned()), None, None]
    );
}

#[tokio::test]
async fn past_the_shared_label_budget_a_body_is_labelled_by_its_header_only() {
    // Room for one 40-byte body at a time.
    let (layer, _) = layer(1 << 20);
    let layer = layer.label_budget_bytes(50);
    let doc: &'static [u8] = b"{\"summary\":\"forty bytes of summary text.\"}";
    let svc = layer.layer(service_fn(move |_req: Request<Full<Bytes>>| async move {
        Ok::<_, Infallible>(
            Response::builder()
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::CONTENT_LENGTH, doc.len())
                .body(Full::new(Bytes::from_static(doc)))
                .unwrap(),
        )
    }));
    // Two responses held at once: the first takes the budget, the second gets the header only.
    let first = svc
        .clone()
        .oneshot(request("/v1/summaries", "acme", "{}"))
        .await
        .unwrap();
    let second = svc
        .clone()
        .oneshot(request("/v1/summaries", "acme", "{}"))
        .await
        .unwrap();
    assert!(second.headers().contains_key("ai-disclosure"));
    let second = second.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(second, doc, "over budget: the body is unchanged");
    let first = first.into_body().collect().await.unwrap().to_bytes();
    let first: serde_json::Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(first["ai_disclosure"]["generated"], true);
    // Once the first is sent, its bytes are free again.
    let third = svc
        .oneshot(request("/v1/summaries", "acme", "{}"))
        .await
        .unwrap();
    let third = third.into_body().collect().await.unwrap().to_bytes();
    assert!(third.len() > doc.len(), "labelled in the body again");
}

#[tokio::test]
async fn a_response_future_polled_after_completion_neither_hangs_nor_answers() {
    use std::future::Future;
    use std::task::{Context, Poll};
    let (layer, _) = layer(1 << 20);
    let svc = layer.layer(service_fn(|_req: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"{}"))))
    }));
    // Every state a future can end in: an answer of the layer's own (unmapped path), a call,
    // and a labelled (buffered) body.
    for path in ["/not-mapped", "/v1/captions", "/v1/summaries"] {
        let mut fut = Box::pin(tower::Service::call(
            &mut svc.clone(),
            request(path, "acme", "{}"),
        ));
        let first = (&mut fut).await.unwrap();
        assert!(
            first.status().is_success() || first.status() == 404,
            "{path}"
        );
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let Poll::Ready(again) = fut.as_mut().poll(&mut cx) else {
            panic!("{path}: polled after completion, the future hangs");
        };
        let again = again.unwrap();
        assert_eq!(again.status(), 500, "{path}");
        let err = again.into_body().collect().await.unwrap_err();
        assert!(
            err.to_string().contains("polled after it completed"),
            "{path}: {err}"
        );
    }
}
