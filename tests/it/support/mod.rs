//! Shared test harness: a real HTTP client, a mock OpenAI-compatible upstream that counts what
//! reaches it, and launchers for the gateway binary and the example service.

pub mod pg;
#[cfg(all(feature = "store-sqlite", feature = "store-postgres"))]
pub mod trace;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use axum::routing::any;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

/// A response read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// Asserts an RFC 9457 problem of `kind` with `status`, and returns it.
    pub fn problem(&self, status: u16, kind: &str) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "status for {kind}; body: {}",
            self.text()
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        assert_eq!(self.header("cache-control"), Some("no-store"));
        let p = self.json();
        assert_eq!(
            p["type"],
            format!("https://raigate.dev/problems/{kind}"),
            "{p}"
        );
        assert_eq!(p["status"], status);
        assert!(p["title"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(p["detail"].as_str().is_some_and(|t| !t.is_empty()));
        p
    }
}

pub fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

/// Send one request and read the whole response.
pub async fn send(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Resp {
    let mut req = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client()
        .request(req.body(Full::new(body.into())).unwrap())
        .await
        .expect("request failed");
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Resp {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// POST JSON.
pub async fn post_json(url: &str, headers: &[(&str, &str)], body: &Value) -> Resp {
    let mut h = vec![("content-type", "application/json")];
    h.extend_from_slice(headers);
    send(Method::POST, url, &h, body.to_string()).await
}

/// A chat request in the OpenAI wire format.
pub fn chat(text: &str) -> Value {
    json!({"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": text}]})
}

/// What reached a mock upstream.
#[derive(Clone, Default)]
pub struct Hits {
    count: Arc<AtomicUsize>,
    last: Arc<Mutex<Option<(String, HeaderMap, Bytes)>>>,
}

impl Hits {
    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
    pub fn last(&self) -> Option<(String, HeaderMap, Bytes)> {
        self.last.lock().unwrap().clone()
    }
}

/// A mock OpenAI-compatible upstream on an ephemeral port.
pub struct Upstream {
    pub addr: SocketAddr,
    pub hits: Hits,
    /// Release the held SSE stream (`/v1/chat/completions` with `"hold": true`).
    pub release: Arc<tokio::sync::Notify>,
}

pub async fn upstream(name: &'static str) -> Upstream {
    let hits = Hits::default();
    let release = Arc::new(tokio::sync::Notify::new());
    let (h, r) = (hits.clone(), release.clone());
    let app = Router::new().fallback(any(move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
        let (hits, release) = (h.clone(), r.clone());
        async move {
            hits.count.fetch_add(1, Ordering::SeqCst);
            *hits.last.lock().unwrap() = Some((uri.path().to_owned(), headers, body.clone()));
            let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let tag = [("x-upstream", name)];
            match uri.path() {
                "/v1/captions" => (tag, [(header::CONTENT_TYPE, "text/vtt")], "WEBVTT\n\n00:00:05.000 --> 00:00:07.000\nHello there.\n\n00:00:07.500 --> 00:00:09.000\nGeneral Kenobi.\n").into_response(),
                "/v1/subtitles" => (tag, [(header::CONTENT_TYPE, "application/x-subrip")], "1\n00:00:05,000 --> 00:00:07,000\nHello there.\n\n2\n00:00:07,500 --> 00:00:09,000\nGeneral Kenobi.\n").into_response(),
                "/v1/chat/completions" if req.get("stream") == Some(&Value::Bool(true)) => {
                    let hold = req.get("hold") == Some(&Value::Bool(true));
                    let stream = futures_util::stream::unfold(0u8, move |i| {
                        let release = release.clone();
                        async move {
                            let chunk = match i {
                                0 => "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n",
                                1 => {
                                    if hold {
                                        release.notified().await;
                                    }
                                    "data: [DONE]\n\n"
                                }
                                _ => return None,
                            };
                            Some((Ok::<_, std::convert::Infallible>(Bytes::from(chunk)), i + 1))
                        }
                    });
                    (tag, [(header::CONTENT_TYPE, "text/event-stream")], Body::from_stream(stream)).into_response()
                }
                "/v1/chat/completions" => (
                    tag,
                    axum::Json(json!({"id": "chatcmpl-1", "object": "chat.completion", "model": req.get("model"), "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello."}, "finish_reason": "stop"}]})),
                )
                    .into_response(),
                path => (tag, axum::Json(json!({"upstream": name, "path": path}))).into_response(),
            }
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Upstream {
        addr,
        hits,
        release,
    }
}

/// A child process killed on drop.
pub struct Proc {
    pub child: Child,
    pub addr: SocketAddr,
    /// The admin API's address, when the process printed one.
    pub admin: Option<SocketAddr>,
}

impl Proc {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `cmd`, wait for its "listening on http://ADDR" line.
pub fn spawn_listening(mut cmd: Command) -> Proc {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<(bool, SocketAddr)>();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        while let Some(Ok(line)) = lines.next() {
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let addr = rest.split_whitespace().next().unwrap().parse().unwrap();
                let _ = tx.send((line.contains("admin listening"), addr));
            }
        }
    });
    let (mut addr, mut admin) = (None, None);
    while addr.is_none() {
        let (is_admin, a) = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("process did not report its address");
        if is_admin {
            admin = Some(a)
        } else {
            addr = Some(a)
        }
    }
    // The admin line, if any, follows at once.
    if admin.is_none()
        && let Ok((true, a)) = rx.recv_timeout(Duration::from_millis(500))
    {
        admin = Some(a);
    }
    Proc {
        child,
        addr: addr.unwrap(),
        admin,
    }
}

/// Copy a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

pub fn repo_path(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// A gateway config file, edited as TOML data (never as text): the tests' common base plus
/// their own tables and keys.
pub struct GatewayToml {
    dir: PathBuf,
    table: toml::Table,
}

impl GatewayToml {
    /// The base config in `dir` routing to the given upstreams (name, addr, region): five
    /// tenants, five routes, a 64 KiB body limit.
    pub fn new(dir: &Path, region: &str, upstreams: &[(&str, SocketAddr, &str)]) -> Self {
        let text = format!(
            r#"[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
region = "{region}"

[policies]
dir = "{policies}"

[trace]
path = "decisions.jsonl"

[limits]
max_body_bytes = 65536

[[tenant]]
id = "acme"

[[tenant]]
id = "globex"
region = "eu"

[[tenant]]
id = "initech"
opted_out = ["captions"]

[[tenant]]
id = "hooli"
ai_enabled = false

[[tenant]]
id = "sg-only"
region = "sg"

[[route]]
method = "POST"
path = "/v1/chat/completions"
feature = "assistant"

[[route]]
method = "POST"
path = "/v1/captions"
feature = "captions"

[[route]]
method = "POST"
path = "/v1/subtitles"
feature = "captions"

[[route]]
method = "POST"
path = "/v1/summaries"
feature = "summarization"

[[route]]
method = "POST"
path = "/v1/fine_tuning/*"
class = "training"
"#,
            policies = repo_path("policies").display()
        );
        let mut table: toml::Table = text.parse().expect("base config is TOML");
        let list = upstreams
            .iter()
            .map(|(name, addr, region)| {
                let mut t = toml::Table::new();
                t.insert("name".into(), (*name).into());
                t.insert("url".into(), format!("http://{addr}").into());
                t.insert("region".into(), (*region).into());
                toml::Value::Table(t)
            })
            .collect::<Vec<_>>();
        if !list.is_empty() {
            table.insert("upstream".into(), toml::Value::Array(list));
        }
        GatewayToml {
            dir: dir.to_path_buf(),
            table,
        }
    }

    /// Merge TOML text in: tables merge key by key, arrays of tables are appended.
    pub fn merge(mut self, extra: &str) -> Self {
        let extra: toml::Table = extra.parse().expect("extra config is TOML");
        merge(&mut self.table, extra);
        self
    }

    /// Set `section.key` (one level of section) to `value`.
    pub fn set(mut self, dotted: &str, value: impl Into<toml::Value>) -> Self {
        let (section, key) = dotted.split_once('.').expect("section.key");
        let t = self
            .table
            .entry(section)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t.as_table_mut()
            .expect("a table")
            .insert(key.to_owned(), value.into());
        self
    }

    /// Write `raigate.toml` in the directory.
    pub fn write(&self) -> PathBuf {
        let file = self.dir.join("raigate.toml");
        std::fs::write(&file, toml::to_string(&self.table).unwrap()).unwrap();
        file
    }
}

fn merge(into: &mut toml::Table, from: toml::Table) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            (Some(toml::Value::Array(a)), toml::Value::Array(b)) => a.extend(b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

/// Write a gateway config in `dir` routing to the given upstreams (name, addr, region), with
/// `extra` TOML merged in.
pub fn gateway_config(
    dir: &Path,
    region: &str,
    upstreams: &[(&str, SocketAddr, &str)],
    extra: &str,
) -> PathBuf {
    GatewayToml::new(dir, region, upstreams)
        .merge(extra)
        .write()
}

/// Start the gateway binary on `config`.
#[cfg(feature = "cli")]
pub fn gateway(config: &Path) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_raigate"));
    cmd.arg("serve")
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "warn");
    spawn_listening(cmd)
}

/// The decision records in a JSON Lines file.
pub fn records(file: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str(l).expect("record is JSON"))
        .collect()
}
