//! Run with `cargo run --example ai_service` (then see README "Quick start" for curl calls).
//!
//! A small video-platform AI service with four AI routes: captions (WebVTT), summaries (JSON),
//! an OpenAI-compatible chat endpoint (JSON, or SSE with `"stream": true`) and a fine-tuning
//! endpoint. The AI routes sit behind raigate with `route_layer`; `/healthz` does not.
//!
//! Options: `--listen ADDR` (default 127.0.0.1:3000), `--region REGION` (default eu-central-1),
//! `--trace FILE` (default decisions.jsonl), `--policies DIR` (default: the crate's policies/).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Extension;
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use raigate::context::{RouteClass, RouteSpec};
use raigate::policy::PolicyHandle;
use raigate::tenants::{TenantSettings, TenantView};
use raigate::trace::JsonlSink;
use raigate::{DecisionInfo, RaigateLayer};
use serde_json::{Value, json};

/// The demo tenants.
fn tenants() -> TenantView {
    TenantView::from_settings([
        TenantSettings::new("acme"),
        TenantSettings::new("globex").region("eu"),
        TenantSettings::new("initech").opt_out("captions"),
        TenantSettings::new("hooli").ai_enabled(false),
        TenantSettings::new("umbrella").region("us"),
    ])
}

/// How many times an AI handler ran: a denied request must never reach one.
static HANDLED: AtomicUsize = AtomicUsize::new(0);

/// Counts a handler invocation (as middleware inside raigate, so only allowed requests count).
async fn count(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    HANDLED.fetch_add(1, Ordering::SeqCst);
    next.run(req).await
}

/// The service's routes, wrapped in `raigate`.
fn app(raigate: RaigateLayer) -> Router {
    Router::new()
        .route("/v1/captions", post(captions))
        .route("/v1/summaries", post(summarize))
        .route("/v1/chat/completions", post(chat))
        .route("/v1/fine_tuning/jobs", post(fine_tune))
        .route_layer(axum::middleware::from_fn(count))
        .route_layer(raigate)
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/stats",
            get(|| async { Json(json!({"handled": HANDLED.load(Ordering::SeqCst)})) }),
        )
}

fn layer(
    policies: &str,
    region: &str,
    trace: &str,
) -> Result<RaigateLayer, Box<dyn std::error::Error>> {
    let route = |path: &str| RouteSpec::new(Method::POST, path);
    Ok(RaigateLayer::new(
        PolicyHandle::load(policies.as_ref())?,
        tenants(),
        Arc::new(JsonlSink::open(trace.as_ref())?),
    )
    .region(region)
    .provider("demo-llm")
    .route(route("/v1/captions")?.feature("captions"))?
    .route(route("/v1/summaries")?.feature("summarization"))?
    .route(route("/v1/chat/completions")?.feature("assistant"))?
    .route(route("/v1/fine_tuning/jobs")?.class(RouteClass::Training))?)
}

async fn captions() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/vtt")],
        "WEBVTT\n\n00:00:05.000 --> 00:00:08.000\nWelcome to the quarterly review.\n\n00:00:08.500 --> 00:00:11.000\nLet's look at the numbers.\n",
    )
}

async fn summarize(Extension(decision): Extension<DecisionInfo>) -> Json<Value> {
    // The decision travels in request extensions: the handler can see what was decided.
    Json(json!({
        "summary": "The team reviewed quarterly results and agreed on next steps.",
        "policy_version": &*decision.policy_version,
    }))
}

async fn chat(Json(req): Json<Value>) -> Response {
    let model = req
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("demo-llm-1")
        .to_owned();
    if req.get("stream").and_then(Value::as_bool) == Some(true) {
        let words = ["Hello", " from", " a", " streaming", " model."];
        let stream = async_stream(model, words.map(str::to_owned).to_vec());
        return (
            [(header::CONTENT_TYPE, "text/event-stream")],
            Body::from_stream(stream),
        )
            .into_response();
    }
    Json(json!({
        "id": "chatcmpl-demo",
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello from a model."}, "finish_reason": "stop"}],
    }))
    .into_response()
}

/// OpenAI-style SSE chunks, one every 50 ms, then `[DONE]`.
fn async_stream(
    model: String,
    words: Vec<String>,
) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send {
    futures_util::stream::unfold(0usize, move |i| {
        let model = model.clone();
        let words = words.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let line = match words.get(i) {
                Some(w) => format!(
                    "data: {}\n\n",
                    json!({"object": "chat.completion.chunk", "model": model, "choices": [{"index": 0, "delta": {"content": w}}]})
                ),
                None if i == words.len() => "data: [DONE]\n\n".to_owned(),
                None => return None,
            };
            Some((Ok::<_, Infallible>(Bytes::from(line)), i + 1))
        }
    })
}

async fn fine_tune() -> impl IntoResponse {
    (
        axum::http::StatusCode::CREATED,
        Json(json!({"id": "ftjob-demo", "status": "queued"})),
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut listen = "127.0.0.1:3000".to_owned();
    let mut region = "eu-central-1".to_owned();
    let mut trace = "decisions.jsonl".to_owned();
    let mut policies = concat!(env!("CARGO_MANIFEST_DIR"), "/policies").to_owned();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => listen = value,
            "--region" => region = value,
            "--trace" => trace = value,
            "--policies" => policies = value,
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!(
        "ai_service listening on http://{} (region {region}, decisions -> {trace})",
        listener.local_addr()?
    );
    let app = app(layer(&policies, &region, &trace)?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
