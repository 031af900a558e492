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

/// Run `raigate ARGS --admin URL` with `token` in `RAIGATE_TOKEN` (none: unset).
async fn cli(admin: &str, token: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_raigate"));
    cmd.args(args).arg("--admin").arg(format!("http://{admin}"));
    match token {
        Some(t) => cmd.env("RAIGATE_TOKEN", t),
        None => cmd.env_remove("RAIGATE_TOKEN"),
    };
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reviewer_reads_exports_and_verifies_with_a_token_and_no_database() {
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
    let admin = gw
        .admin
        .expect("the gateway prints its admin address")
        .to_string();
    let mut acme_id = String::new();
    for tenant in ["acme", "hooli", "globex"] {
        let r = post_json(
            &gw.url("/v1/chat/completions"),
            &[("x-tenant-id", tenant)],
            &chat("hello"),
        )
        .await;
        if tenant == "acme" {
            acme_id = r.header("raigate-decision-id").unwrap().to_owned();
        }
    }

    // `decisions list --json` is the API's page, filters included.
    let out = cli(
        &admin,
        Some("comp-secret"),
        &["decisions", "list", "--json", "--outcome", "deny"],
    )
    .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let page: Value = serde_json::from_slice(&out.stdout).unwrap();
    let denied = page["decisions"].as_array().unwrap();
    assert_eq!(denied.len(), 1, "{page}");
    assert_eq!(denied[0]["tenant"], "hooli");

    // The table, as a tenant-admin: only its own tenant.
    let out = cli(&admin, Some("acme-secret"), &["decisions", "list"]).await;
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(table.contains(&acme_id) && !table.contains("hooli"), "{table}");

    // One decision; an unknown one fails.
    let out = cli(&admin, Some("comp-secret"), &["decisions", "get", &acme_id, "--json"]).await;
    assert!(out.status.success());
    let one: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(one["id"], acme_id.as_str());
    let out = cli(
        &admin,
        Some("comp-secret"),
        &["decisions", "get", "0190f0f0-0000-7000-8000-000000000000"],
    )
    .await;
    assert!(!out.status.success());

    // Export streams CSV to a file.
    let csv = dir.path().join("out.csv");
    let out = cli(
        &admin,
        Some("comp-secret"),
        &["decisions", "export", "--format", "csv", "-o", csv.to_str().unwrap()],
    )
    .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with("id,") && text.lines().count() == 4, "{text}");

    // `--subject` needs the deployment's pseudonym key: refused through the API.
    let out = cli(
        &admin,
        Some("comp-secret"),
        &["decisions", "export", "--subject", "alice@example.com"],
    )
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--config"));

    // The OpenAPI document on the same listener describes every route the CLI used.
    let doc = send(
        Method::GET,
        &format!("http://{admin}/openapi.json"),
        &[],
        "",
    )
    .await
    .json();
    for path in [
        "/v1/decisions",
        "/v1/decisions/{id}",
        "/v1/decisions/export",
        "/v1/audit/verify",
        "/v1/tenants/{id}",
    ] {
        assert!(doc["paths"][path]["get"].is_object(), "{path} missing: {doc}");
    }
    assert!(doc["components"]["schemas"]["DecisionRecord"].is_object());

    // Verify: OK for compliance; a tenant-admin and a missing token get the API's refusal.
    let out = cli(&admin, Some("comp-secret"), &["audit", "verify"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("OK: "));
    let out = cli(&admin, Some("acme-secret"), &["audit", "verify"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("403"));
    let out = cli(&admin, None, &["audit", "verify", "--json"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
}
