//! Config and command-line errors that say what is wrong and where, and the one tenant-id
//! grammar across config, admin API and proxy: the gateway binary over real sockets.

use std::process::Command;

use http::Method;
use serde_json::json;

use crate::support::*;

/// Run `raigate serve` on `config` expecting it to refuse to start; its stderr.
fn refused(config: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_raigate"))
        .arg("serve")
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert!(!out.status.success(), "the gateway started");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn base(dir: &std::path::Path) -> GatewayToml {
    GatewayToml::new(
        dir,
        "eu-central-1",
        &[("ai-eu", "127.0.0.1:9".parse().unwrap(), "eu-central-1")],
    )
}

#[test]
fn a_toml_error_keeps_its_line_column_and_caret() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("raigate.toml");
    std::fs::write(
        &file,
        "[server]\nregion = \"eu-central-1\"\n\n[limits]\nmax_body_bytes = \"lots\"\n",
    )
    .unwrap();
    let err = refused(&file);
    assert!(err.contains("line 5, column 18"), "{err}");
    assert!(
        err.contains("5 | max_body_bytes = \"lots\"\n"),
        "the line itself, on its own line: {err}"
    );
    assert!(
        err.contains("  |                  ^^^^^^"),
        "the caret: {err}"
    );
}

#[test]
fn an_instance_region_in_no_region_set_stops_the_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let err = refused(&base(dir.path()).set("server.region", "mars-1").write());
    assert!(
        err.contains("server.region")
            && err.contains("`mars-1` is in none of the policy's region sets"),
        "{err}"
    );
    assert!(
        err.contains("allow_region_outside_sets"),
        "says the way out: {err}"
    );
}

#[test]
fn otlp_over_https_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let err = refused(
        &base(dir.path())
            .set("trace.otlp_endpoint", "https://collector.example.com:4318")
            .write(),
    );
    assert!(
        err.contains("trace.otlp_endpoint") && err.contains("is not an http:// URL"),
        "{err}"
    );
}

#[test]
fn tenant_ids_outside_the_grammar_stop_the_start() {
    for bad in ["Kø", "a b", &"t".repeat(129)] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = base(dir.path())
            .merge(&format!("[[tenant]]\nid = {}\n", toml::Value::from(bad)))
            .write();
        let err = refused(&cfg);
        assert!(
            err.contains("tenant[5].id")
                && err.contains("must be 1-128 characters of A-Z a-z 0-9 - _ . :"),
            "{bad:?}: {err}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let err = refused(
        &base(dir.path())
            .merge("[[upstream]]\nname = \"ai-eu\"\nurl = \"http://127.0.0.1:10\"\nregion = \"eu-west-1\"\n")
            .write(),
    );
    assert!(
        err.contains("upstream[1].name") && err.contains("unique"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_name_listen_address_and_a_region_outside_every_set_on_request() {
    let eu = upstream("ai-eu").await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = GatewayToml::new(
        dir.path(),
        "eu-west-2",
        &[("ai-eu", eu.addr, "eu-central-1")],
    )
    .set("server.listen", "localhost:0")
    .set("server.allow_region_outside_sets", true)
    .write();
    let gw = gateway(&cfg);
    assert!(gw.addr.ip().is_loopback(), "{}", gw.addr);
    // London serves tenants that are not pinned, and refuses the EU-pinned one.
    let r = post_json(
        &gw.url("/v1/chat/completions"),
        &[("x-tenant-id", "acme")],
        &chat("hi"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let before = eu.hits.count();
    post_json(
        &gw.url("/v1/chat/completions"),
        &[("x-tenant-id", "globex")],
        &chat("hi"),
    )
    .await
    .problem(403, "region-pinned");
    assert_eq!(eu.hits.count(), before, "nothing forwarded");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_api_takes_only_ids_the_proxy_can_match_and_413s_big_bodies() {
    let eu = upstream("ai-eu").await;
    let dir = tempfile::tempdir().unwrap();
    let token = "op-token-for-grammar-tests";
    let cfg = GatewayToml::new(
        dir.path(),
        "eu-central-1",
        &[("ai-eu", eu.addr, "eu-central-1")],
    )
    .merge(&format!(
        "[[admin.token]]\nsha256 = \"{}\"\nrole = \"operator\"\n",
        hex::encode(raigate::admin::token_sha256(token))
    ))
    .write();
    let gw = gateway(&cfg);
    let admin = gw.admin.unwrap();
    let auth = format!("Bearer {token}");
    let put = |id: &str| {
        let url = format!("http://{admin}/v1/tenants/{id}");
        let auth = auth.clone();
        async move {
            send(
                Method::PUT,
                &url,
                &[
                    ("authorization", &auth),
                    ("content-type", "application/json"),
                ],
                json!({"ai_enabled": true}).to_string(),
            )
            .await
        }
    };
    // `Kø`, `a b`, `acme ` (trailing space) and 150 characters: refused, naming the grammar.
    for id in ["K%C3%B8", "a%20b", "acme%20", &"t".repeat(150)] {
        let p = put(id).await.problem(422, "invalid-settings");
        assert!(
            p["detail"]
                .as_str()
                .unwrap()
                .contains("must be 1-128 characters of A-Z a-z 0-9 - _ . :"),
            "{id}: {p}"
        );
    }
    // An id at the limit is created, and the proxy matches it.
    let longest = "t".repeat(128);
    assert_eq!(put(&longest).await.status, 201);
    let r = post_json(
        &gw.url("/v1/chat/completions"),
        &[("x-tenant-id", &longest)],
        &chat("hi"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());

    // A body over the admin API's 2 MB limit: 413, not 400.
    let big = format!(
        "{{\"ai_enabled\": true, \"pad\": \"{}\"}}",
        "x".repeat(3 << 20)
    );
    let p = send(
        Method::PUT,
        &format!("http://{admin}/v1/tenants/acme"),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        big,
    )
    .await
    .problem(413, "body-too-large");
    assert!(p["detail"].as_str().unwrap().contains("2097152"), "{p}");
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_urls_that_cannot_work_get_messages_that_say_why() {
    let eu = upstream("ai-eu").await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = GatewayToml::new(
        dir.path(),
        "eu-central-1",
        &[("ai-eu", eu.addr, "eu-central-1")],
    )
    .write();
    let gw = gateway(&cfg);
    let cli = |admin: String| {
        let out = Command::new(env!("CARGO_BIN_EXE_raigate"))
            .args(["tenants", "list", "--admin", &admin])
            .env("RAIGATE_TOKEN", "any")
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // No scheme.
    let admin = gw.admin.unwrap();
    let err = cli(admin.to_string());
    assert!(
        err.contains(&format!("has no scheme: write http://{admin}")),
        "{err}"
    );
    // The proxy's port instead of the admin API's.
    let err = cli(format!("http://{}", gw.addr));
    assert!(
        err.contains("is not raigate's admin API") && err.contains("admin_listen"),
        "{err}"
    );
    // Nothing listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let err = cli(format!("http://{closed}"));
    assert!(
        err.contains("Connection refused") && err.contains("is `raigate serve` running"),
        "{err}"
    );
}
