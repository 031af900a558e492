//! The compliance routes (`trace::admin_routes`) with a pluggable authorisation callback.

use std::sync::Arc;

use axum::body::Body;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::BodyExt;
use raigate::trace::{Access, TraceAction, admin_routes};
use serde_json::Value;
use tower::ServiceExt;

#[allow(clippy::result_large_err)]
/// Tokens: `ops` (all), `acme-admin` (tenant acme), anything else 401.
fn auth(h: &HeaderMap, _: TraceAction) -> Result<Access, Response<Body>> {
    match h.get("authorization").and_then(|v| v.to_str().ok()) {
        Some("Bearer ops") => Ok(Access::All),
        Some("Bearer acme-admin") => Ok(Access::Tenant("acme".into())),
        _ => Err(Response::builder().status(401).body(Body::empty()).unwrap()),
    }
}

async fn get(app: &axum::Router, token: &str, uri: &str) -> (StatusCode, HeaderMap, String) {
    let req = Request::get(uri)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let r = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = r.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn routes_answer_the_design_shapes_and_scope_tenant_admins() {
    for b in crate::support::trace::backends().await {
        let store = b.open(crate::support::trace::options());
        let recs = crate::support::trace::write(&store, 0, 120).await;
        let key = raigate::trace::CheckpointKey::from_seed([42u8; 32]).verifying_key();
        let app = admin_routes(store.clone(), Arc::new(auth), Some(key));

        let (s, _, body) = get(&app, "ops", "/v1/decisions?outcome=deny&limit=10").await;
        assert_eq!(s, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["decisions"].as_array().unwrap().len(), 10);
        let cursor = v["next_cursor"].as_str().unwrap();
        let (s, _, body) = get(
            &app,
            "ops",
            &format!("/v1/decisions?outcome=deny&limit=20&cursor={cursor}"),
        )
        .await;
        assert_eq!(s, 200);
        let v2: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v2["decisions"].as_array().unwrap().len(), 20);
        assert_eq!(
            v2["next_cursor"],
            Value::Null,
            "30 denials: 10 + 20, then the end"
        );

        // A tenant admin sees its own tenant only, and asking for another is refused.
        let (_, _, body) = get(&app, "acme-admin", "/v1/decisions?limit=1000").await;
        let v: Value = serde_json::from_str(&body).unwrap();
        let ds = v["decisions"].as_array().unwrap();
        assert_eq!(ds.len(), 40);
        assert!(ds.iter().all(|d| d["tenant"] == "acme"));
        let (s, h, _) = get(&app, "acme-admin", "/v1/decisions?tenant=globex").await;
        assert_eq!(s, 403);
        assert_eq!(h["content-type"], "application/problem+json");
        let globex = recs
            .iter()
            .find(|r| r.tenant.as_deref() == Some("globex"))
            .unwrap();
        let (s, _, _) = get(&app, "acme-admin", &format!("/v1/decisions/{}", globex.id)).await;
        assert_eq!(s, 404, "another tenant's decision is invisible");
        let (s, _, body) = get(&app, "ops", &format!("/v1/decisions/{}", globex.id)).await;
        assert_eq!(s, 200);
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["id"],
            globex.id.as_str()
        );
        let (s, _, _) = get(&app, "acme-admin", "/v1/audit/verify").await;
        assert_eq!(s, 403);
        let (s, _, _) = get(&app, "nobody", "/v1/decisions").await;
        assert_eq!(s, 401);

        // Bad parameters are problems.
        for bad in [
            "/v1/decisions?since=yesterday",
            "/v1/decisions?cursor=zz",
            "/v1/decisions?bogus=1",
            "/v1/decisions/export?format=xml",
        ] {
            let (s, h, body) = get(&app, "ops", bad).await;
            assert_eq!(s, 400, "{bad}: {body}");
            assert_eq!(h["content-type"], "application/problem+json");
        }

        // Exports stream JSON Lines and CSV.
        let (s, h, body) = get(&app, "acme-admin", "/v1/decisions/export?format=csv").await;
        assert_eq!(s, 200);
        assert_eq!(h["content-type"], "text/csv; charset=utf-8");
        assert_eq!(body.split("\r\n").filter(|l| !l.is_empty()).count(), 41);
        let (s, _, body) = get(
            &app,
            "ops",
            "/v1/decisions/export?format=jsonl&feature=captions",
        )
        .await;
        assert_eq!(s, 200);
        assert!(
            body.lines()
                .all(|l| serde_json::from_str::<Value>(l).unwrap()["feature"] == "captions")
        );

        // Verify answers the documented shape (docs/admin-api.md).
        store.checkpoint().await.unwrap();
        let (s, _, body) = get(&app, "ops", "/v1/audit/verify").await;
        assert_eq!(s, 200);
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["ok"], true);
        assert_eq!(v["records"], 120);
        assert_eq!(v["first_bad_seq"], Value::Null);
        assert!(v["detail"].is_string());
        drop((app, store));
        b.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gateway_builds_the_routes_over_its_own_store_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let policies = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let text = format!(
        "[server]\nregion = \"eu-central-1\"\n[policies]\ndir = \"{}\"\n\
         [[upstream]]\nname = \"ai-eu\"\nurl = \"http://127.0.0.1:9\"\nregion = \"eu-central-1\"\n\
         [[route]]\nmethod = \"POST\"\npath = \"/v1/chat/completions\"\nfeature = \"assistant\"\n",
        policies.display()
    );
    let file = dir.path().join("raigate.toml");
    let cfg = raigate::gateway::GatewayConfig::parse(&text, &file, dir.path()).unwrap();
    let gw = raigate::gateway::Gateway::build(cfg).await.unwrap();
    crate::support::trace::write(gw.trace_store(), 0, 5).await;
    gw.trace_store().checkpoint().await.unwrap();
    let app = gw.trace_routes(Arc::new(auth));
    let (s, _, body) = get(&app, "ops", "/v1/audit/verify").await;
    assert_eq!(s, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["records"], 5);
    assert!(dir.path().join("checkpoint.key").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("checkpoint.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the signing key is private");
    }
}
