//! Decision trace: group-commit throughput on SQLite (records/s, sync and async durability)
//! and the latency a request gains from the durable store in each mode, against a sink that
//! drops records (same run, same layer, header-only route).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::{Method, Request, Response};
use http_body_util::Full;
use raigate::RaigateLayer;
use raigate::context::RouteSpec;
use raigate::policy::PolicyHandle;
use raigate::tenants::{TenantSettings, TenantView};
use raigate::trace::{
    Commit, DecisionRecord, DecisionSink, Durability, Phase, SinkError, TraceOptions, TraceStore,
};
use tower::{Layer, Service, ServiceExt, service_fn};

struct NullSink;
impl DecisionSink for NullSink {
    fn submit(&self, record: DecisionRecord) -> Result<Commit, SinkError> {
        std::hint::black_box(record);
        Ok(Commit::done())
    }
}

fn record(i: u64) -> DecisionRecord {
    let mut r = DecisionRecord::new(
        Phase::Request,
        uuid::Uuid::now_v7().to_string(),
        humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string(),
    );
    r.tenant = Some(format!("t{}", i % 50));
    r.subject = Some(format!("ps_{:032x}", i % 1000));
    r.feature = Some("assistant".into());
    r.route = "POST /v1/chat/completions".into();
    r.class = "inference".into();
    r.data_class = "customer".into();
    r.region = "eu-central-1".into();
    r.upstream = Some("ai-eu".into());
    r.outcome = "allow".into();
    r.reason = "allowed".into();
    r.obligations = vec!["ai-disclosure".into()];
    r.policy_version = "a".repeat(64);
    r.tenant_version = Some(1);
    r.latency_us = 12;
    r
}

fn store(dir: &std::path::Path, name: &str, durability: Durability) -> TraceStore {
    let url = format!("sqlite://{}", dir.join(name).display());
    TraceStore::open(
        &url,
        TraceOptions {
            durability,
            queue: 65_536,
            ..TraceOptions::default()
        },
    )
    .unwrap()
}

const N: u64 = 4096;

fn group_commit(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("trace_group_commit_sqlite");
    g.throughput(Throughput::Elements(N));
    let sync = store(dir.path(), "sync.db", Durability::Sync);
    // Sync: N concurrent requests, each waiting for its commit (they share transactions).
    g.bench_function("sync", |b| {
        b.iter(|| {
            rt.block_on(async {
                let commits: Vec<Commit> =
                    (0..N).map(|i| sync.submit(record(i)).unwrap()).collect();
                for c in commits {
                    c.await.unwrap();
                }
            })
        })
    });
    let asy = store(dir.path(), "async.db", Durability::Async);
    // Async: records are only queued per request; the flush waits for the writer to catch up.
    g.bench_function("async", |b| {
        b.iter(|| {
            rt.block_on(async {
                for i in 0..N {
                    let mut c = asy.submit(record(i)).unwrap();
                    c.queued().await.unwrap();
                }
                asy.flush().await.unwrap();
            })
        })
    });
    g.finish();
}

fn latency(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let inner = service_fn(|_req: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
    });
    let layer = |sink: Arc<dyn DecisionSink>| {
        RaigateLayer::new(
            PolicyHandle::load(concat!(env!("CARGO_MANIFEST_DIR"), "/policies").as_ref()).unwrap(),
            TenantView::from_settings((0..100).map(|i| TenantSettings::new(format!("t{i}")))),
            sink,
        )
        .region("eu-central-1")
        .route(
            RouteSpec::new(Method::GET, "/v1/speech/*")
                .unwrap()
                .feature("text-to-speech"),
        )
        .unwrap()
        .layer(inner)
    };
    let req = || {
        Request::builder()
            .method(Method::GET)
            .uri("/v1/speech/42")
            .header("x-tenant-id", "t7")
            .header("x-user-id", "user-9")
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    let mut g = c.benchmark_group("trace_request_latency");
    for (name, svc) in [
        ("null_sink", layer(Arc::new(NullSink))),
        (
            "sqlite_sync",
            layer(Arc::new(store(dir.path(), "l-sync.db", Durability::Sync))),
        ),
        (
            "sqlite_async",
            layer(Arc::new(store(dir.path(), "l-async.db", Durability::Async))),
        ),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let r = svc
                        .clone()
                        .ready()
                        .await
                        .unwrap()
                        .call(req())
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200);
                })
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).sample_size(20);
    targets = group_commit, latency
}
criterion_main!(benches);
