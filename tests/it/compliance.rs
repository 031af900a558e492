//! The compliance routes on the gateway's admin listener, behind the admin bearer tokens:
//! list, filter, get, export and verify, each role seeing what it may.

use crate::support::*;
use http::Method;
use serde_json::Value;

fn token_entry(token: &str, role: &str, tenant: Option<&str>) -> String {
    let hash = hex::encode(raigate::admin::token_sha256(token));
    let tenant = tenant
        .map(|t| format!("tenant = \"{t}\"\n"))
        .unwrap_or_default();
    format!("\n[[admin.token]]\nsha256 = \"{hash}\"\nrole = \"{role}\"\n{tenant}")
}

#[tokio::test(flavor = "multi_thread")]
async fn compliance_reads_filters_exports_and_verifies_the_trace_over_the_admin_api() {
    let up = upstream("ai-eu").await;
    let dir = tempfile::tempdir().unwrap();
    let extra = [
        token_entry("comp-secret", "compliance", None),
        token_entry("acme-secret", "tenant-admin", Some("acme")),
    ]
    .concat();
    let cfg = gateway_config(
        dir.path(),
        "eu-central-1",
        &[("ai-eu", up.addr, "eu-central-1")],
        &extra,
    );
    let gw = gateway(&cfg);
    let admin = gw.admin.expect("the gateway prints its admin address");
    let api = |path: &str| format!("http://{admin}{path}");
    let comp = ("authorization", "Bearer comp-secret");
    let acme = ("authorization", "Bearer acme-secret");

    let allowed = post_json(
        &gw.url("/v1/chat/completions"),
        &[("x-tenant-id", "acme")],
        &chat("hello"),
    )
    .await;
    assert_eq!(allowed.status, 200);
    let acme_id = allowed.header("raigate-decision-id").unwrap().to_owned();
    post_json(
        &gw.url("/v1/chat/completions"),
        &[("x-tenant-id", "hooli")],
        &chat("hello"),
    )
    .await
    .problem(403, "ai-opted-out");
    post_json(
        &gw.url("/v1/chat/completions"),
        &[("x-tenant-id", "globex")],
        &chat("hello"),
    )
    .await;

    // Compliance sees every decision, with the chain fields.
    let list = send(Method::GET, &api("/v1/decisions"), &[comp], "").await;
    assert_eq!(list.status, 200, "{}", list.text());
    let body = list.json();
    let decisions = body["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 3, "{body}");
    assert!(
        decisions
            .iter()
            .all(|d| d["seq"].is_u64() && d["hash"].as_str().is_some_and(|h| h.len() == 64))
    );
    assert!(body.get("next_cursor").is_some());

    // Filters.
    let denied = send(
        Method::GET,
        &api("/v1/decisions?tenant=hooli&outcome=deny"),
        &[comp],
        "",
    )
    .await
    .json();
    let denied = denied["decisions"].as_array().unwrap();
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0]["rule"], "tenant-ai-opt-out");

    // A tenant-admin sees only its own tenant.
    let own = send(Method::GET, &api("/v1/decisions"), &[acme], "")
        .await
        .json();
    let own: Vec<&Value> = own["decisions"].as_array().unwrap().iter().collect();
    assert!(
        !own.is_empty() && own.iter().all(|d| d["tenant"] == "acme"),
        "{own:?}"
    );
    let other = send(Method::GET, &api("/v1/decisions?tenant=hooli"), &[acme], "").await;
    assert_eq!(other.status, 403, "{}", other.text());

    // One decision by id; export with a CSV header row.
    let one = send(
        Method::GET,
        &api(&format!("/v1/decisions/{acme_id}")),
        &[comp],
        "",
    )
    .await
    .json();
    assert_eq!(one["id"], acme_id.as_str());
    let csv = send(
        Method::GET,
        &api("/v1/decisions/export?format=csv"),
        &[comp],
        "",
    )
    .await
    .text();
    assert!(csv.starts_with("id,"), "{csv}");
    assert_eq!(csv.lines().count(), 4, "header + 3 rows");
    let jsonl = send(
        Method::GET,
        &api("/v1/decisions/export?format=jsonl"),
        &[comp],
        "",
    )
    .await
    .text();
    assert_eq!(jsonl.lines().count(), 3);

    // Verify: compliance may, a tenant-admin may not, nobody without a token.
    let v = send(Method::GET, &api("/v1/audit/verify"), &[comp], "")
        .await
        .json();
    assert_eq!(v["ok"], true, "{v}");
    assert!(v["records"].as_u64().unwrap() >= 3);
    assert!(v["first_bad_seq"].is_null());
    assert_eq!(
        send(Method::GET, &api("/v1/audit/verify"), &[acme], "")
            .await
            .status,
        403
    );
    assert_eq!(
        send(Method::GET, &api("/v1/audit/verify"), &[], "")
            .await
            .status,
        401
    );
    assert_eq!(
        send(
            Method::GET,
            &api("/v1/decisions"),
            &[("authorization", "Bearer wrong")],
            ""
        )
        .await
        .status,
        401
    );
}
