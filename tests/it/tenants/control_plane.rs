//! The tenant control plane over real sockets: admin API roles and isolation, versions and
//! preconditions, admin records, live propagation between two replicas over PostgreSQL, fail
//! closed on a stale snapshot, and the gateway binary serving the admin API.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::*;
use axum::Router;
use axum::routing::post;
use http::Method;
use raigate::RaigateLayer;
use raigate::admin::{AdminState, AdminToken, Role, router, token_sha256};
use raigate::context::RouteSpec;
use raigate::policy::PolicyHandle;
use raigate::tenants::{TenantSettings, TenantSync, store};
use raigate::trace::{Commit, DecisionRecord, DecisionSink, MemorySink, SinkError};
use serde_json::{Value, json};

const OP: &str = "op-secret-token-0001";
const ACME_ADMIN: &str = "acme-admin-secret-0002";
const COMPLIANCE: &str = "compliance-secret-0003";

fn policy() -> PolicyHandle {
    PolicyHandle::load(&repo_path("policies")).unwrap()
}

fn token_id(secret: &str) -> String {
    hex::encode(token_sha256(secret))[..12].to_owned()
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// One replica: a tenant sync, a layer-guarded AI route and the admin API, on real sockets.
struct Replica {
    sync: TenantSync,
    app: SocketAddr,
    admin: SocketAddr,
    /// Runs of the AI handler: a denied request must never reach it.
    handled: Arc<AtomicUsize>,
}

impl Replica {
    async fn start(
        url: &str,
        seeds: Vec<TenantSettings>,
        sink: Arc<dyn DecisionSink>,
        max_staleness: Duration,
        resync: Duration,
    ) -> Self {
        let sync = TenantSync::builder(store::connect(url).await.unwrap())
            .seed(seeds)
            .resync(resync)
            .start()
            .await
            .unwrap();
        let layer = RaigateLayer::new(policy(), sync.view(), sink.clone())
            .max_staleness(max_staleness)
            .route(
                RouteSpec::new(Method::POST, "/v1/summaries")
                    .unwrap()
                    .feature("summarization"),
            )
            .unwrap();
        let handled = Arc::new(AtomicUsize::new(0));
        let count = handled.clone();
        let app = Router::new()
            .route(
                "/v1/summaries",
                post(move || {
                    count.fetch_add(1, Ordering::SeqCst);
                    async { axum::Json(json!({"summary": "ok"})) }
                }),
            )
            .route_layer(layer);
        let admin = AdminState::new(sync.store(), policy(), sink)
            .view(sync.view())
            .max_staleness(max_staleness)
            .token(AdminToken::from_secret(OP, Role::Operator))
            .token(AdminToken::from_secret(
                ACME_ADMIN,
                Role::TenantAdmin("acme".into()),
            ))
            .token(AdminToken::from_secret(COMPLIANCE, Role::Compliance));
        Replica {
            app: serve(app).await,
            admin: serve(router(admin)).await,
            sync,
            handled,
        }
    }

    /// One AI request; a refused one is also checked not to have reached the handler.
    async fn summarize(&self, tenant: &str) -> Resp {
        let before = self.handled.load(Ordering::SeqCst);
        let resp = post_json(
            &format!("http://{}/v1/summaries", self.app),
            &[("x-tenant-id", tenant)],
            &json!({"text": "Summarise the meeting."}),
        )
        .await;
        if !resp.status.is_success() {
            assert_eq!(
                self.handled.load(Ordering::SeqCst),
                before,
                "a refused request ({}) reached the handler",
                resp.status
            );
        }
        resp
    }

    async fn admin(&self, method: Method, path: &str, token: Option<&str>, body: &str) -> Resp {
        self.admin_with(method, path, token, &[], body).await
    }

    async fn admin_with(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        extra: &[(&str, &str)],
        body: &str,
    ) -> Resp {
        let auth = token.map(bearer);
        let mut headers: Vec<(&str, &str)> = vec![("content-type", "application/json")];
        if let Some(a) = &auth {
            headers.push(("authorization", a));
        }
        headers.extend_from_slice(extra);
        send(
            method,
            &format!("http://{}{path}", self.admin),
            &headers,
            body.to_owned(),
        )
        .await
    }
}

fn seeds() -> Vec<TenantSettings> {
    vec![TenantSettings::new("acme"), TenantSettings::new("globex")]
}

async fn sqlite_replica(dir: &tempfile::TempDir, sink: Arc<dyn DecisionSink>) -> Replica {
    let url = format!("sqlite://{}", dir.path().join("tenants.db").display());
    Replica::start(
        &url,
        seeds(),
        sink,
        Duration::from_secs(30),
        Duration::from_secs(10),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_admins_cannot_touch_other_tenants_and_compliance_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let sink = MemorySink::new();
    let r = sqlite_replica(&dir, Arc::new(sink.clone())).await;
    let store = r.sync.store();
    let globex = store.get("globex").await.unwrap().unwrap();
    let doc = r#"{"region": null, "ai_enabled": false, "opted_out": []}"#;

    // Tenant-admin of acme against every globex route: 403, nothing changes.
    for (method, path, extra) in [
        (Method::GET, "/v1/tenants/globex", None),
        (Method::PUT, "/v1/tenants/globex", Some("\"1\"")),
        (Method::PUT, "/v1/tenants/globex", None),
        (Method::PUT, "/v1/tenants/globex/opt-outs/captions", None),
        (Method::DELETE, "/v1/tenants/globex/opt-outs/captions", None),
        (Method::PUT, "/v1/tenants/newco", None),
    ] {
        let headers: Vec<(&str, &str)> = extra.map(|v| ("if-match", v)).into_iter().collect();
        let resp = r
            .admin_with(method.clone(), path, Some(ACME_ADMIN), &headers, doc)
            .await;
        resp.problem(403, "forbidden");
    }
    let list = r
        .admin(Method::GET, "/v1/tenants", Some(ACME_ADMIN), "")
        .await;
    assert_eq!(list.status, 200);
    assert_eq!(
        list.json()["tenants"],
        json!([store.get("acme").await.unwrap().unwrap()])
    );

    // Compliance reads everything and writes nothing.
    let list = r
        .admin(Method::GET, "/v1/tenants", Some(COMPLIANCE), "")
        .await;
    assert_eq!(list.json()["tenants"].as_array().unwrap().len(), 2);
    let got = r
        .admin(Method::GET, "/v1/tenants/globex", Some(COMPLIANCE), "")
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.header("etag"), Some("\"1\""));
    for (method, path) in [
        (Method::PUT, "/v1/tenants/globex"),
        (Method::PUT, "/v1/tenants/acme/opt-outs/captions"),
        (Method::DELETE, "/v1/tenants/acme/opt-outs/captions"),
        (Method::PUT, "/v1/tenants/newco"),
    ] {
        r.admin_with(
            method,
            path,
            Some(COMPLIANCE),
            &[("if-match", "\"1\"")],
            doc,
        )
        .await
        .problem(403, "forbidden");
    }

    // No token, a wrong token, another scheme: 401 with a Bearer challenge.
    for auth in [None, Some("Bearer not-a-token"), Some("Basic b3A6c2VjcmV0")] {
        let mut headers = vec![];
        if let Some(a) = auth {
            headers.push(("authorization", a));
        }
        for (method, path) in [
            (Method::GET, "/v1/tenants"),
            (Method::GET, "/v1/tenants/acme"),
            (Method::PUT, "/v1/tenants/acme/opt-outs/captions"),
        ] {
            let resp = send(method, &format!("http://{}{path}", r.admin), &headers, "").await;
            resp.problem(401, "unauthorized");
            assert!(
                resp.header("www-authenticate")
                    .unwrap()
                    .starts_with("Bearer")
            );
        }
    }

    assert_eq!(store.get("globex").await.unwrap().unwrap(), globex);
    assert_eq!(store.get("newco").await.unwrap(), None);
    assert!(sink.records().is_empty(), "refused calls record nothing");

    // The probes and the OpenAPI document need no token.
    assert_eq!(r.admin(Method::GET, "/healthz", None, "").await.status, 200);
    assert_eq!(r.admin(Method::GET, "/readyz", None, "").await.status, 200);
    let api = r.admin(Method::GET, "/openapi.json", None, "").await.json();
    assert!(api["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v1/tenants",
        "/v1/tenants/{id}",
        "/v1/tenants/{id}/opt-outs/{feature}",
        "/readyz",
    ] {
        assert!(
            api["paths"][path].is_object(),
            "{path} missing from OpenAPI"
        );
    }
    assert!(api["components"]["securitySchemes"]["bearer"].is_object());
    r.admin(Method::GET, "/v1/nothing", Some(OP), "")
        .await
        .problem(404, "not-found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_preconditions_and_admin_records() {
    let dir = tempfile::tempdir().unwrap();
    let sink = MemorySink::new();
    let r = sqlite_replica(&dir, Arc::new(sink.clone())).await;
    let doc = r#"{"region": "eu", "ai_enabled": true, "opted_out": ["clips"]}"#;

    let created = r
        .admin(Method::PUT, "/v1/tenants/newco", Some(OP), doc)
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(created.header("etag"), Some("\"1\""));
    assert_eq!(
        created.json(),
        json!({"id": "newco", "region": "eu", "ai_enabled": true, "opted_out": ["clips"], "version": 1})
    );
    let p = r
        .admin(Method::PUT, "/v1/tenants/newco", Some(OP), doc)
        .await
        .problem(428, "precondition-required");
    assert_eq!(p["current_version"], 1);
    let p = r
        .admin_with(
            Method::PUT,
            "/v1/tenants/newco",
            Some(OP),
            &[("if-match", "\"7\"")],
            doc,
        )
        .await
        .problem(412, "precondition-failed");
    assert_eq!(p["current_version"], 1);
    r.admin_with(
        Method::PUT,
        "/v1/tenants/ghost",
        Some(OP),
        &[("if-match", "\"1\"")],
        doc,
    )
    .await
    .problem(412, "precondition-failed");
    let replaced = r
        .admin_with(
            Method::PUT,
            "/v1/tenants/newco",
            Some(OP),
            &[("if-match", "\"1\"")],
            r#"{"region": null, "ai_enabled": false, "opted_out": []}"#,
        )
        .await;
    assert_eq!(replaced.status, 200);
    assert_eq!(replaced.header("etag"), Some("\"2\""));
    assert_eq!(replaced.json()["ai_enabled"], false);

    // Bad input.
    r.admin(
        Method::PUT,
        "/v1/tenants/x1",
        Some(OP),
        r#"{"region": "mars"}"#,
    )
    .await
    .problem(422, "invalid-settings");
    r.admin(
        Method::PUT,
        "/v1/tenants/x1",
        Some(OP),
        r#"{"opted_out": ["nonsense"]}"#,
    )
    .await
    .problem(422, "invalid-settings");
    r.admin(
        Method::PUT,
        "/v1/tenants/x1",
        Some(OP),
        r#"{"colour": "red"}"#,
    )
    .await
    .problem(422, "invalid-settings");
    r.admin(Method::PUT, "/v1/tenants/x1", Some(OP), r#"{"id": "x2"}"#)
        .await
        .problem(422, "invalid-settings");
    r.admin(Method::PUT, "/v1/tenants/x1", Some(OP), "not json")
        .await
        .problem(400, "malformed-request");
    r.admin(
        Method::PUT,
        "/v1/tenants/acme/opt-outs/nonsense",
        Some(OP),
        "",
    )
    .await
    .problem(404, "feature-not-found");
    r.admin(
        Method::PUT,
        "/v1/tenants/ghost/opt-outs/captions",
        Some(OP),
        "",
    )
    .await
    .problem(404, "tenant-not-found");
    r.admin(Method::GET, "/v1/tenants/ghost", Some(OP), "")
        .await
        .problem(404, "tenant-not-found");
    r.admin(Method::GET, "/v1/tenants/%FF", Some(OP), "")
        .await
        .problem(400, "malformed-request");
    r.admin(Method::POST, "/v1/tenants/acme", Some(OP), "")
        .await
        .problem(405, "method-not-allowed");

    // The tenant admin turns summarization off; the layer enforces it at once (same process).
    assert_eq!(r.summarize("acme").await.status, 200);
    let off = r
        .admin(
            Method::PUT,
            "/v1/tenants/acme/opt-outs/summarization",
            Some(ACME_ADMIN),
            "",
        )
        .await;
    assert_eq!(off.status, 200);
    assert_eq!(off.header("etag"), Some("\"2\""));
    r.summarize("acme").await.problem(403, "feature-opted-out");
    let on = r
        .admin(
            Method::DELETE,
            "/v1/tenants/acme/opt-outs/summarization",
            Some(ACME_ADMIN),
            "",
        )
        .await;
    assert_eq!(on.json()["version"], 3);
    assert_eq!(r.summarize("acme").await.status, 200);

    // One admin record per change: who (token id), what, before/after, version; no token.
    let admin: Vec<DecisionRecord> = sink
        .records()
        .into_iter()
        .filter(|d| d.class == "admin")
        .collect();
    let rules: Vec<_> = admin.iter().map(|d| d.rule.clone().unwrap()).collect();
    assert_eq!(
        rules,
        [
            "admin-tenant-create",
            "admin-tenant-update",
            "admin-opt-out",
            "admin-opt-in"
        ]
    );
    let all = serde_json::to_string(&sink.records()).unwrap();
    for secret in [OP, ACME_ADMIN, COMPLIANCE] {
        assert!(!all.contains(secret), "a token reached the trace");
    }
    assert_eq!(admin[0].subject.as_deref(), Some(token_id(OP).as_str()));
    assert_eq!(
        admin[2].subject.as_deref(),
        Some(token_id(ACME_ADMIN).as_str())
    );
    assert_eq!(admin[2].tenant.as_deref(), Some("acme"));
    assert_eq!(admin[2].feature.as_deref(), Some("summarization"));
    assert_eq!(admin[2].route, "PUT /v1/tenants/{id}/opt-outs/{feature}");
    assert_eq!(admin[2].tenant_version, Some(2));
    assert_eq!(admin[2].outcome, "allow");
    let reason: Value = serde_json::from_str(&admin[1].reason).unwrap();
    assert_eq!(reason["before"]["version"], 1);
    assert_eq!(reason["before"]["region"], "eu");
    assert_eq!(reason["after"]["version"], 2);
    assert_eq!(reason["after"]["ai_enabled"], false);
    assert!(reason["before"].is_object() && admin[0].reason.contains("\"before\":null"));
}

/// A sink that cannot write.
struct BrokenSink;

impl DecisionSink for BrokenSink {
    fn submit(&self, _record: DecisionRecord) -> Result<Commit, SinkError> {
        let (tx, commit) = Commit::pair();
        let _ = tx.send(Err(SinkError::Io("disk full".into())));
        Ok(commit)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_whose_record_cannot_be_written_is_not_applied() {
    let dir = tempfile::tempdir().unwrap();
    let r = sqlite_replica(&dir, Arc::new(BrokenSink)).await;
    r.admin(
        Method::PUT,
        "/v1/tenants/acme/opt-outs/captions",
        Some(OP),
        "",
    )
    .await
    .problem(503, "policy-unavailable");
    r.admin(Method::PUT, "/v1/tenants/newco", Some(OP), "{}")
        .await
        .problem(503, "policy-unavailable");
    let store = r.sync.store();
    assert_eq!(store.get("acme").await.unwrap().unwrap().version, 1);
    assert_eq!(store.get("newco").await.unwrap(), None);
    assert!(
        !r.sync
            .view()
            .snapshot()
            .get("acme")
            .unwrap()
            .is_opted_out("captions")
    );
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Poll `r` until the request for acme answers `status`; the time it took.
async fn until_status(r: &Replica, status: u16, since: Instant) -> Duration {
    loop {
        if r.summarize("acme").await.status.as_u16() == status {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < Duration::from_secs(5),
            "no propagation after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_toggle_through_replica_a_is_enforced_by_replica_b_within_a_second() {
    let Some(schema) = crate::support::pg::schema().await else {
        return;
    };
    let sink: Arc<dyn DecisionSink> = Arc::new(MemorySink::new());
    let start = |sink: Arc<dyn DecisionSink>| {
        let url = schema.url();
        async move {
            Replica::start(
                &url,
                seeds(),
                sink,
                Duration::from_secs(30),
                Duration::from_secs(10),
            )
            .await
        }
    };
    let a = start(sink.clone()).await;
    let b = start(sink.clone()).await;
    assert_eq!(b.summarize("acme").await.status, 200);

    let mut latencies = Vec::new();
    for i in 0..20 {
        let opt_out = i % 2 == 0;
        let method = if opt_out { Method::PUT } else { Method::DELETE };
        // Measured from before the call to A, so the write itself is included.
        let written = Instant::now();
        let resp = a
            .admin(
                method,
                "/v1/tenants/acme/opt-outs/summarization",
                Some(ACME_ADMIN),
                "",
            )
            .await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        let took = until_status(&b, if opt_out { 403 } else { 200 }, written).await;
        assert!(took < Duration::from_secs(1), "toggle {i} took {took:?}");
        latencies.push(took);
    }
    assert_eq!(
        b.summarize("acme").await.status,
        200,
        "allowed again after the last opt-in"
    );
    latencies.sort();
    println!(
        "propagation A -> B over PostgreSQL LISTEN/NOTIFY, {} toggles: p50 {:?}, p99 {:?}, max {:?}",
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().unwrap()
    );
    drop((a, b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_settings_fail_closed_and_recover() {
    let Some(schema) = crate::support::pg::schema().await else {
        return;
    };
    let sink = MemorySink::new();
    let r = Replica::start(
        &schema.url(),
        seeds(),
        Arc::new(sink.clone()),
        Duration::from_secs(1),
        Duration::from_millis(200),
    )
    .await;
    assert_eq!(r.summarize("acme").await.status, 200);
    assert_eq!(r.admin(Method::GET, "/readyz", None, "").await.status, 200);

    // The store goes away: the snapshot ages past the bound and AI requests are refused.
    schema.drop_schema().await;
    let gone = Instant::now();
    loop {
        let resp = r.summarize("acme").await;
        if resp.status == 503 {
            let p = resp.problem(503, "policy-unavailable");
            assert_eq!(p["rule"], "policy-unavailable");
            break;
        }
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert!(
            gone.elapsed() < Duration::from_secs(5),
            "still allowed after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        gone.elapsed() >= Duration::from_millis(700),
        "refused before the bound"
    );
    r.admin(Method::GET, "/readyz", None, "")
        .await
        .problem(503, "policy-unavailable");
    let refused = sink
        .records()
        .into_iter()
        .filter(|d| d.rule.as_deref() == Some("policy-unavailable"))
        .count();
    assert_eq!(refused, 1, "one decision record for the refused request");

    // The store comes back: the next resync refreshes the snapshot and requests pass again.
    let back = store::connect(&schema.url()).await.unwrap();
    back.seed(seeds()).await.unwrap();
    let since = Instant::now();
    while r.summarize("acme").await.status != 200 {
        assert!(
            since.elapsed() < Duration::from_secs(5),
            "no recovery after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(r.admin(Method::GET, "/readyz", None, "").await.status, 200);
}

/// Start the gateway binary; (process, proxy address, admin address).
fn gateway_with_admin(config: &std::path::Path) -> (Proc, SocketAddr) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_raigate"))
        .arg("serve")
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            for (kind, marker) in [
                ("gateway", "gateway listening on http://"),
                ("admin", "admin listening on http://"),
            ] {
                if let Some(rest) = line.split(marker).nth(1) {
                    let addr: SocketAddr = rest.split_whitespace().next().unwrap().parse().unwrap();
                    let _ = tx.send((kind, addr));
                }
            }
        }
    });
    let (mut gw, mut admin) = (None, None);
    while gw.is_none() || admin.is_none() {
        let (kind, addr) = rx.recv_timeout(Duration::from_secs(60)).expect("addresses");
        if kind == "gateway" {
            gw = Some(addr);
        } else {
            admin = Some(addr);
        }
    }
    (
        Proc {
            child,
            addr: gw.unwrap(),
            admin,
        },
        admin.unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_serves_the_admin_api_and_records_changes_in_its_trace() {
    let us = upstream("ai-us").await;
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "\n[store]\nurl = \"sqlite://tenants.db\"\nmax_staleness_secs = 30\nresync_secs = 5\n\n[[admin.token]]\nsha256 = \"{}\"\nrole = \"tenant-admin\"\ntenant = \"acme\"\n",
        hex::encode(token_sha256(ACME_ADMIN))
    );
    let cfg = gateway_config(
        dir.path(),
        "us-east-1",
        &[("ai-us", us.addr, "us-east-1")],
        &extra,
    );
    let (gw, admin) = gateway_with_admin(&cfg);
    let chat_req = chat("Summarise our meeting notes.");
    let url = gw.url("/v1/chat/completions");
    assert_eq!(
        post_json(&url, &[("x-tenant-id", "acme")], &chat_req)
            .await
            .status,
        200
    );

    let auth = bearer(ACME_ADMIN);
    let resp = send(
        Method::PUT,
        &format!("http://{admin}/v1/tenants/acme/opt-outs/assistant"),
        &[("authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let forwarded = us.hits.count();
    post_json(&url, &[("x-tenant-id", "acme")], &chat_req)
        .await
        .problem(403, "feature-opted-out");
    assert_eq!(
        us.hits.count(),
        forwarded,
        "the denied request was forwarded"
    );
    let resp = send(
        Method::GET,
        &format!("http://{admin}/v1/tenants/globex"),
        &[("authorization", &auth)],
        "",
    )
    .await;
    resp.problem(403, "forbidden");

    let text = std::fs::read_to_string(dir.path().join("decisions.jsonl")).unwrap();
    assert!(!text.contains(ACME_ADMIN), "the token reached the trace");
    let admin_records: Vec<Value> = records(&dir.path().join("decisions.jsonl"))
        .into_iter()
        .filter(|r| r["class"] == "admin")
        .collect();
    assert_eq!(admin_records.len(), 1);
    assert_eq!(admin_records[0]["subject"], token_id(ACME_ADMIN));
    assert_eq!(admin_records[0]["rule"], "admin-opt-out");
    assert_eq!(admin_records[0]["tenant_version"], 2);

    // Restart on the same file: the admin's change survives the seed.
    drop(gw);
    let (gw, _admin) = gateway_with_admin(&cfg);
    post_json(
        &gw.url("/v1/chat/completions"),
        &[("x-tenant-id", "acme")],
        &chat_req,
    )
    .await
    .problem(403, "feature-opted-out");
    assert_eq!(
        us.hits.count(),
        forwarded,
        "the denied request was forwarded"
    );
}

/// A TCP proxy to PostgreSQL that can be switched off (it cuts every connection and closes new
/// ones at once, as a database that went away) or frozen (bytes stop flowing, connections stay
/// open, as a silent network).
struct Switch {
    addr: SocketAddr,
    up: Arc<std::sync::atomic::AtomicBool>,
    frozen: tokio::sync::watch::Sender<bool>,
    conns: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

/// Copy bytes from `from` to `to`, holding them while frozen.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut frozen: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while *frozen.borrow_and_update() {
            if frozen.changed().await.is_err() {
                return;
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

impl Switch {
    async fn start(target: &str) -> Self {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (frozen, frozen_rx) = tokio::sync::watch::channel(false);
        let conns = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (u, c, target) = (up.clone(), conns.clone(), target.to_owned());
        tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    continue;
                };
                if !u.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let (target, f1, f2) = (target.clone(), frozen_rx.clone(), frozen_rx.clone());
                c.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(outbound) = tokio::net::TcpStream::connect(&target).await {
                        let (ir, iw) = inbound.into_split();
                        let (or, ow) = outbound.into_split();
                        tokio::select! {
                            () = pump(ir, ow, f1) => {},
                            () = pump(or, iw, f2) => {},
                        }
                    }
                }));
            }
        });
        Switch {
            addr,
            up,
            frozen,
            conns,
        }
    }

    fn set(&self, on: bool) {
        self.up.store(on, std::sync::atomic::Ordering::SeqCst);
        if !on {
            for c in self.conns.lock().unwrap().drain(..) {
                c.abort();
            }
        }
    }

    fn freeze(&self, frozen: bool) {
        let _ = self.frozen.send(frozen);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_fails_closed_and_the_store_reconnects() {
    let Some(schema) = crate::support::pg::schema().await else {
        return;
    };
    let switch = Switch::start("127.0.0.1:5432").await;
    let via_switch = format!(
        "postgres://postgres@{}/test?schema={}&connect_timeout=1",
        switch.addr, schema.name
    );
    let sink: Arc<dyn DecisionSink> = Arc::new(MemorySink::new());
    let a = Replica::start(
        &via_switch,
        seeds(),
        sink.clone(),
        Duration::from_secs(1),
        Duration::from_millis(200),
    )
    .await;
    let b = Replica::start(
        &schema.url(),
        seeds(),
        sink,
        Duration::from_secs(30),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(a.summarize("acme").await.status, 200);

    switch.set(false);
    let down = Instant::now();
    while a.summarize("acme").await.status != 503 {
        assert!(
            down.elapsed() < Duration::from_secs(5),
            "still allowed after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.admin(Method::GET, "/readyz", None, "")
        .await
        .problem(503, "policy-unavailable");
    a.admin(Method::PUT, "/v1/tenants/acme/opt-outs/clips", Some(OP), "")
        .await
        .problem(503, "store-unavailable");

    switch.set(true);
    let up = Instant::now();
    while a.summarize("acme").await.status != 200 {
        assert!(
            up.elapsed() < Duration::from_secs(10),
            "no recovery after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(a.admin(Method::GET, "/readyz", None, "").await.status, 200);
    // Both of A's connections are back: its writes work, and it hears B's changes.
    let resp = a
        .admin(Method::PUT, "/v1/tenants/acme/opt-outs/clips", Some(OP), "")
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let since = Instant::now();
    let resp = b
        .admin(
            Method::PUT,
            "/v1/tenants/acme/opt-outs/summarization",
            Some(OP),
            "",
        )
        .await;
    assert_eq!(resp.status, 200);
    until_status(&a, 403, since).await;
    assert!(
        since.elapsed() < Duration::from_secs(1),
        "A did not hear B's change within 1 s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_network_fails_closed_and_recovers() {
    let Some(schema) = crate::support::pg::schema().await else {
        return;
    };
    let switch = Switch::start("127.0.0.1:5432").await;
    let via_switch = format!(
        "postgres://postgres@{}/test?schema={}&connect_timeout=1",
        switch.addr, schema.name
    );
    let a = Replica::start(
        &via_switch,
        seeds(),
        Arc::new(MemorySink::new()),
        Duration::from_secs(1),
        Duration::from_millis(200),
    )
    .await;
    assert_eq!(a.summarize("acme").await.status, 200);

    // No RST, no FIN: queries just hang. The bound still holds.
    switch.freeze(true);
    let frozen = Instant::now();
    while a.summarize("acme").await.status != 503 {
        assert!(
            frozen.elapsed() < Duration::from_secs(5),
            "still allowed after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Past the read timeout the hung connection is replaced; the new one hangs too.
    tokio::time::sleep(Duration::from_secs(6)).await;
    a.summarize("acme").await.problem(503, "policy-unavailable");

    switch.freeze(false);
    let thawed = Instant::now();
    while a.summarize("acme").await.status != 200 {
        assert!(
            thawed.elapsed() < Duration::from_secs(10),
            "no recovery after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(a.admin(Method::GET, "/readyz", None, "").await.status, 200);
    let resp = a
        .admin(Method::PUT, "/v1/tenants/acme/opt-outs/clips", Some(OP), "")
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateway_binaries_share_tenant_settings_over_postgres() {
    let Some(schema) = crate::support::pg::schema().await else {
        return;
    };
    let us = upstream("ai-us").await;
    let extra = format!(
        "\n[store]\nurl = \"{}\"\n\n[[admin.token]]\nsha256 = \"{}\"\nrole = \"operator\"\n",
        schema.url(),
        hex::encode(token_sha256(OP))
    );
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let upstreams = [("ai-us", us.addr, "us-east-1")];
    let (gw_a, admin_a) = gateway_with_admin(&gateway_config(
        dir_a.path(),
        "us-east-1",
        &upstreams,
        &extra,
    ));
    let (gw_b, _admin_b) = gateway_with_admin(&gateway_config(
        dir_b.path(),
        "us-east-1",
        &upstreams,
        &extra,
    ));
    let chat_req = chat("Summarise our meeting notes.");
    let url_b = gw_b.url("/v1/chat/completions");
    let ask_b = || post_json(&url_b, &[("x-tenant-id", "acme")], &chat_req);
    assert_eq!(ask_b().await.status, 200);
    let mut allowed = 1;
    // Seeded by both, created once.
    let auth = bearer(OP);
    let acme = send(
        Method::GET,
        &format!("http://{admin_a}/v1/tenants/acme"),
        &[("authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(acme.header("etag"), Some("\"1\""));

    for (method, status) in [(Method::PUT, 403), (Method::DELETE, 200)] {
        let since = Instant::now();
        let resp = send(
            method,
            &format!("http://{admin_a}/v1/tenants/acme/opt-outs/assistant"),
            &[("authorization", &auth)],
            "",
        )
        .await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        loop {
            let got = ask_b().await.status.as_u16();
            if got == 200 {
                allowed += 1;
            }
            if got == status {
                break;
            }
            assert!(
                since.elapsed() < Duration::from_secs(1),
                "B did not follow within 1 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    assert_eq!(
        us.hits.count(),
        allowed,
        "only allowed requests were forwarded"
    );
    drop((gw_a, gw_b));
}
