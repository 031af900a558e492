//! The gateway binary's connections over real sockets: slowloris and idle connections are
//! closed on time while the admin API and normal requests keep answering, a file-descriptor
//! limit cannot starve the admin API, keep-alive survives an answer that did not read the
//! body, and buffered response bodies stay within their budget.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

const CHAT: &str = "/v1/chat/completions";

/// A chat request for `tenant` over a raw socket, as bytes.
fn chat_request(tenant: &str) -> Vec<u8> {
    let body = chat("hi").to_string();
    format!(
        "POST {CHAT} HTTP/1.1\r\nhost: gw\r\nx-tenant-id: {tenant}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Read one HTTP/1.1 response with a `content-length` body; returns (status, head, body).
async fn read_response(s: &mut TcpStream) -> std::io::Result<(u16, String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "closed before a response head; got {:?}",
                    String::from_utf8_lossy(&buf)
                ),
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status = head[9..12].parse().unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .map_or(0, |v| v.trim().parse().unwrap());
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok((status, head, body))
}

/// Wait until the peer closes `s` (EOF or reset), reading and discarding what it sends.
async fn closed(s: &mut TcpStream) {
    let mut chunk = [0u8; 1024];
    loop {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread")]
async fn slowloris_and_idle_connections_are_closed_while_admin_and_proxy_answer() {
    const SLOW: usize = 500;
    const IDLE: usize = 200;
    let header_timeout = Duration::from_millis(1500);
    let idle_timeout = Duration::from_millis(2500);
    let us = upstream("ai-us").await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = GatewayToml::new(dir.path(), "us-east-1", &[("ai-us", us.addr, "us-east-1")])
        .set(
            "server.header_read_timeout_ms",
            header_timeout.as_millis() as i64,
        )
        .set("server.idle_timeout_ms", idle_timeout.as_millis() as i64)
        .set("server.max_connections", 2000i64)
        .write();
    let gw = gateway(&cfg);
    let admin = gw.admin.unwrap();

    // 500 slowloris clients: a request head, one header line every 300 ms, never finished.
    let started = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..SLOW {
        let addr = gw.addr;
        slow.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let opened = Instant::now();
            s.write_all(format!("POST {CHAT} HTTP/1.1\r\nhost: gw\r\n").as_bytes())
                .await
                .unwrap();
            let mut i = 0u32;
            loop {
                tokio::select! {
                    () = closed(&mut s) => return opened.elapsed(),
                    () = tokio::time::sleep(Duration::from_millis(300)) => {
                        i += 1;
                        if s.write_all(format!("x-slow-{i}: 1\r\n").as_bytes()).await.is_err() {
                            return opened.elapsed();
                        }
                    }
                }
            }
        }));
    }
    // 200 idle keep-alive clients: one request answered, then silence.
    let mut idle = Vec::new();
    for _ in 0..IDLE {
        let addr = gw.addr;
        idle.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(&chat_request("hooli")).await.unwrap();
            let (status, head, _) = read_response(&mut s).await.unwrap();
            assert_eq!(status, 403, "{head}");
            assert!(!head.contains("connection: close"), "{head}");
            let answered = Instant::now();
            closed(&mut s).await;
            answered.elapsed()
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // With all 700 open, the admin API and normal proxy requests answer at once.
    let t = Instant::now();
    let r = send(
        http::Method::GET,
        &format!("http://{admin}/healthz"),
        &[],
        "",
    )
    .await;
    let admin_latency = t.elapsed();
    assert_eq!(r.status, 200);
    let mut proxy_latencies = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let r = post_json(&gw.url(CHAT), &[("x-tenant-id", "acme")], &chat("hi")).await;
        proxy_latencies.push(t.elapsed());
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert!(
        started.elapsed() < header_timeout,
        "the checks ran while the slow connections were still open"
    );
    assert!(
        admin_latency < Duration::from_millis(500),
        "{admin_latency:?}"
    );
    proxy_latencies.sort();

    let mut slow_closed = Vec::new();
    for h in slow {
        slow_closed.push(h.await.unwrap());
    }
    let mut idle_closed = Vec::new();
    for h in idle {
        idle_closed.push(h.await.unwrap());
    }
    slow_closed.sort();
    idle_closed.sort();
    eprintln!(
        "slowloris {SLOW}: closed after min {:?} p50 {:?} max {:?} (header_read_timeout {header_timeout:?}); \
         idle {IDLE}: closed after min {:?} p50 {:?} max {:?} (idle_timeout {idle_timeout:?}); \
         meanwhile admin /healthz {admin_latency:?}, proxy p50 {:?} max {:?}",
        slow_closed[0],
        percentile(&slow_closed, 0.5),
        slow_closed[SLOW - 1],
        idle_closed[0],
        percentile(&idle_closed, 0.5),
        idle_closed[IDLE - 1],
        percentile(&proxy_latencies, 0.5),
        proxy_latencies[9],
    );
    // Trickling header lines does not extend the head's deadline.
    assert!(slow_closed[0] >= header_timeout - Duration::from_millis(100));
    assert!(slow_closed[SLOW - 1] < header_timeout + Duration::from_secs(2));
    // Idle connections get the idle timeout, not the header timeout.
    assert!(idle_closed[0] >= idle_timeout - Duration::from_millis(100));
    assert!(idle_closed[IDLE - 1] < idle_timeout + Duration::from_secs(2));
    // Only the ten allowed requests reached the upstream.
    assert_eq!(us.hits.count(), 10);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn near_the_fd_limit_proxy_connections_cannot_starve_the_admin_api() {
    let us = upstream("ai-us").await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = GatewayToml::new(dir.path(), "us-east-1", &[("ai-us", us.addr, "us-east-1")])
        .set("server.header_read_timeout_ms", 2000i64)
        .write();
    let log = dir.path().join("gateway.log");
    // A hard limit of 420 descriptors: (420 - 256 reserved - 64 admin) / 2 = 50 proxy
    // connections fit, whatever [server] max_connections says.
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(r#"ulimit -n 420 && exec "$0" serve --config "$1" 2>"$2""#)
        .arg(env!("CARGO_BIN_EXE_raigate"))
        .arg(&cfg)
        .arg(&log)
        .env("RUST_LOG", "warn");
    let gw = spawn_listening(cmd);
    let admin = gw.admin.unwrap();

    // 300 silent connections: more than the proxy may hold.
    let mut held = Vec::new();
    for _ in 0..300 {
        held.push(TcpStream::connect(gw.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The refused ones were told why: a 503 and a close.
    let mut refused = 0;
    for s in &mut held {
        let mut buf = [0u8; 64];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(5), s.read(&mut buf)).await
            && buf[..n].starts_with(b"HTTP/1.1 503")
        {
            refused += 1;
        }
    }
    assert!(
        refused >= 200,
        "only {refused} of 300 were refused with 503"
    );

    // The admin API answers, every time.
    for _ in 0..20 {
        let r = send(
            http::Method::GET,
            &format!("http://{admin}/v1/tenants"),
            &[],
            "",
        )
        .await;
        assert_eq!(r.status, 401, "the admin API answered: {}", r.text());
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("RLIMIT_NOFILE"), "{text}");
    assert!(text.contains("connection limit reached"), "{text}");
    assert_eq!(
        text.matches("connection limit reached").count(),
        1,
        "rate-limited to one line per period: {text}"
    );

    // Once the silent ones time out, the proxy serves again.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let r = post_json(&gw.url(CHAT), &[("x-tenant-id", "acme")], &chat("hi")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    drop(held);
}

/// A keep-alive client sends a request head, waits, then sends the body and a second request
/// on the same socket. The first is denied on its headers (AI off for `hooli`).
#[tokio::test(flavor = "multi_thread")]
async fn keep_alive_survives_a_denial_made_before_the_body_arrived() {
    let us = upstream("ai-us").await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = gateway_config(
        dir.path(),
        "us-east-1",
        &[("ai-us", us.addr, "us-east-1")],
        "",
    );
    let gw = gateway(&cfg);
    let body = chat("hi").to_string();
    for round in 0..20 {
        let mut s = TcpStream::connect(gw.addr).await.unwrap();
        s.write_all(
            format!(
                "POST {CHAT} HTTP/1.1\r\nhost: gw\r\nx-tenant-id: hooli\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(50 + round * 10)).await;
        s.write_all(body.as_bytes()).await.unwrap();
        let (status, head, _) = read_response(&mut s).await.unwrap();
        assert_eq!(status, 403, "{head}");
        // The connection stays usable: the second request is answered on it.
        s.write_all(&chat_request("acme")).await.unwrap();
        let (status, head, body2) = read_response(&mut s)
            .await
            .unwrap_or_else(|e| panic!("round {round}: the second request failed: {e}"));
        assert_eq!(status, 200, "{head}");
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&body2).unwrap()["model"],
            "gpt-4o-mini"
        );
    }
    assert_eq!(
        us.hits.count(),
        20,
        "only the allowed requests were forwarded"
    );

    // A chunked body (length unknown) cannot be drained within a bound: the denial says
    // `connection: close`, so the client knows.
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(
        format!("POST {CHAT} HTTP/1.1\r\nhost: gw\r\nx-tenant-id: hooli\r\ntransfer-encoding: chunked\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let (status, head, _) = read_response(&mut s).await.unwrap();
    assert_eq!(status, 403);
    assert!(head.contains("connection: close"), "{head}");
    closed(&mut s).await;
    assert_eq!(us.hits.count(), 20);
}

/// The RSS of a process, from /proc (Linux).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread")]
async fn buffered_response_bodies_stay_within_the_label_budget_and_memory_returns() {
    use axum::routing::post;
    const N: usize = 32;
    const SIZE: usize = 15 * 1024 * 1024;
    // An upstream answering 15 MiB JSON documents.
    let doc = bytes::Bytes::from(format!("{{\"summary\":\"{}\"}}", "x".repeat(SIZE - 14)));
    let app = axum::Router::new().route(
        "/v1/summaries",
        post(move || {
            let doc = doc.clone();
            async move { ([(http::header::CONTENT_TYPE, "application/json")], doc) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let cfg = gateway_config(dir.path(), "us-east-1", &[("ai-us", addr, "us-east-1")], "");
    let gw = gateway(&cfg);
    let pid = gw.child.id();
    let idle = rss_kib(pid);
    // Warm up (one labelled response), then measure.
    let r = post_json(
        &gw.url("/v1/summaries"),
        &[("x-tenant-id", "acme")],
        &json!({}),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.json()["ai_disclosure"]["generated"] == true);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(pid);

    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                peak.fetch_max(rss_kib(pid), std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let mut calls = Vec::new();
    for _ in 0..N {
        let url = gw.url("/v1/summaries");
        calls.push(tokio::spawn(async move {
            post_json(&url, &[("x-tenant-id", "acme")], &json!({})).await
        }));
    }
    let mut labelled = 0;
    for c in calls {
        let r = c.await.unwrap();
        assert_eq!(r.status, 200);
        assert!(
            r.header("ai-disclosure").is_some(),
            "every answer carries the header label"
        );
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            body["summary"].as_str().unwrap().len(),
            SIZE - 14,
            "the body is whole"
        );
        if body.get("ai_disclosure").is_some() {
            labelled += 1;
        }
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    sampler.await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(pid);
    tokio::time::sleep(Duration::from_secs(8)).await;
    let later = rss_kib(pid);
    let peak = peak.load(std::sync::atomic::Ordering::SeqCst);
    eprintln!(
        "RSS: idle {} MiB, after one labelled response {} MiB, peak {} MiB, 2 s after {} MiB, 10 s after {} MiB; {labelled} of {N} bodies labelled in the body",
        idle / 1024,
        before / 1024,
        peak / 1024,
        after / 1024,
        later / 1024,
    );
    assert!(labelled >= 1, "some bodies fit the budget");
    assert!(labelled < N, "not all 32 fit a 64 MiB budget");
    // The budget (64 MiB) plus the labelled copies and streaming buffers; unbounded
    // buffering took 470 MiB.
    assert!(
        peak - idle < 200 * 1024,
        "peak grew by {} MiB",
        (peak - idle) / 1024
    );
    assert!(
        later.saturating_sub(idle) < 64 * 1024,
        "{} MiB still held 10 s after the spike",
        later.saturating_sub(idle) / 1024
    );
}
