//! Layer overhead: a trivial service alone and wrapped in raigate (header-only route), measured
//! in the same run so the difference is the layer's cost (context, decision, record, labelling).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Method, Request, Response};
use http_body_util::Full;
use raigate::RaigateLayer;
use raigate::context::RouteSpec;
use raigate::policy::PolicyHandle;
use raigate::tenants::{TenantSettings, TenantView};
use raigate::trace::{Commit, DecisionRecord, DecisionSink, SinkError};
use tower::{Layer, Service, ServiceExt, service_fn};

/// Accepts and drops records: isolates the layer's own cost from any storage.
struct NullSink;
impl DecisionSink for NullSink {
    fn submit(&self, record: DecisionRecord) -> Result<Commit, SinkError> {
        std::hint::black_box(record);
        Ok(Commit::done())
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let inner = service_fn(|_req: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
    });
    let layer = RaigateLayer::new(
        PolicyHandle::load(concat!(env!("CARGO_MANIFEST_DIR"), "/policies").as_ref()).unwrap(),
        TenantView::from_settings((0..1000).map(|i| TenantSettings::new(format!("t{i}")))),
        Arc::new(NullSink),
    )
    .region("eu-central-1")
    // Text-to-speech takes an id of stored text here: a header-only route (GET, no body).
    .route(
        RouteSpec::new(Method::GET, "/v1/speech/*")
            .unwrap()
            .feature("text-to-speech"),
    )
    .unwrap();
    let wrapped = layer.layer(inner);
    let req = || {
        Request::builder()
            .method(Method::GET)
            .uri("/v1/speech/42")
            .header("x-tenant-id", "t7")
            .header("x-user-id", "user-9")
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    let check = rt.block_on(wrapped.clone().oneshot(req())).unwrap();
    assert!(check.headers().contains_key("ai-disclosure"));

    let mut group = c.benchmark_group("layer");
    group.bench_function("bare_service", |b| {
        b.iter(|| {
            rt.block_on(async {
                inner
                    .clone()
                    .ready()
                    .await
                    .unwrap()
                    .call(req())
                    .await
                    .unwrap()
            })
        })
    });
    group.bench_function("with_raigate_header_only", |b| {
        b.iter(|| {
            rt.block_on(async {
                wrapped
                    .clone()
                    .ready()
                    .await
                    .unwrap()
                    .call(req())
                    .await
                    .unwrap()
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
