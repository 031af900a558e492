//! Run with `cargo run --example mock_upstream` — two fake OpenAI-compatible upstreams for
//! trying the gateway (`examples/gateway.toml`): "us" on 127.0.0.1:9000 and "eu" on 127.0.0.1:9001.
//!
//! `/v1/chat/completions` answers a chat completion (SSE with `"stream": true`), `/v1/captions`
//! answers WebVTT, `/v1/summaries` JSON, anything else a JSON echo. Every answer names the
//! upstream in `x-upstream`, so you can see where the gateway sent a request.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use axum::routing::any;
use serde_json::{Value, json};

fn upstream(name: &'static str) -> Router {
    Router::new().fallback(any(move |uri: axum::http::Uri, _h: HeaderMap, body: Bytes| async move {
        let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let tag = [("x-upstream", name)];
        match uri.path() {
            "/v1/captions" => (tag, [(header::CONTENT_TYPE, "text/vtt")], "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nHello.\n").into_response(),
            "/v1/chat/completions" if req.get("stream") == Some(&Value::Bool(true)) => (
                tag,
                [(header::CONTENT_TYPE, "text/event-stream")],
                "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: [DONE]\n\n",
            )
                .into_response(),
            "/v1/chat/completions" => (
                tag,
                axum::Json(json!({"object": "chat.completion", "model": req.get("model"), "choices": [{"index": 0, "message": {"role": "assistant", "content": format!("Hello from {name}.")}}]})),
            )
                .into_response(),
            "/v1/summaries" => (tag, axum::Json(json!({"summary": "A short summary."}))).into_response(),
            path => (tag, axum::Json(json!({"upstream": name, "path": path}))).into_response(),
        }
    }))
}

#[tokio::main]
async fn main() {
    let us = tokio::net::TcpListener::bind("127.0.0.1:9000")
        .await
        .expect("bind :9000");
    let eu = tokio::net::TcpListener::bind("127.0.0.1:9001")
        .await
        .expect("bind :9001");
    println!("mock upstreams: us on http://127.0.0.1:9000, eu on http://127.0.0.1:9001");
    let (a, b) = tokio::join!(
        axum::serve(us, upstream("ai-us")),
        axum::serve(eu, upstream("ai-eu"))
    );
    a.expect("us upstream");
    b.expect("eu upstream");
}
