//! `raigate tenants …` against a real admin API: table and JSON output, If-Match on set,
//! errors as non-zero exits.

use std::process::{Command, Output};
use std::sync::Arc;

use raigate::admin::{AdminState, AdminToken, Role, router};
use raigate::policy::PolicyHandle;
use raigate::tenants::{TenantSettings, TenantSync, store};
use raigate::trace::MemorySink;
use serde_json::{Value, json};

async fn cli(admin: &str, token: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_raigate"));
    cmd.arg("tenants").args(args).arg("--admin").arg(admin);
    match token {
        Some(t) => cmd.env("RAIGATE_TOKEN", t),
        None => cmd.env_remove("RAIGATE_TOKEN"),
    };
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_lists_gets_sets_and_toggles_through_the_admin_api() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let sync = TenantSync::builder(store::connect(&url).await.unwrap())
        .seed([
            TenantSettings::new("acme").region("eu"),
            TenantSettings::new("globex"),
        ])
        .start()
        .await
        .unwrap();
    let policy = PolicyHandle::load(&crate::support::repo_path("policies")).unwrap();
    let state = AdminState::new(sync.store(), policy, Arc::new(MemorySink::new()))
        .view(sync.view())
        .token(AdminToken::from_secret("op", Role::Operator))
        .token(AdminToken::from_secret(
            "acme-admin",
            Role::TenantAdmin("acme".into()),
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router(state)).await.unwrap() });

    let table = stdout(&cli(&admin, Some("op"), &["list"]).await);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("ID") && lines[0].contains("OPTED OUT"));
    assert!(lines[1].starts_with("acme") && lines[1].contains("eu"));

    let out = stdout(
        &cli(
            &admin,
            Some("op"),
            &["opt-out", "acme", "captions", "--json"],
        )
        .await,
    );
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        doc,
        json!({"id": "acme", "region": "eu", "ai_enabled": true, "opted_out": ["captions"], "version": 2})
    );
    let out = stdout(
        &cli(
            &admin,
            Some("acme-admin"),
            &["set", "acme", "--no-region", "--ai", "off", "--json"],
        )
        .await,
    );
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["region"], Value::Null);
    assert_eq!(doc["ai_enabled"], false);
    assert_eq!(
        doc["opted_out"],
        json!(["captions"]),
        "set keeps the opt-outs"
    );
    assert_eq!(doc["version"], 3);
    let out = stdout(&cli(&admin, Some("op"), &["opt-in", "acme", "captions"]).await);
    assert!(
        out.contains("acme") && out.contains("off") && out.contains('4'),
        "{out}"
    );

    let list: Value = serde_json::from_str(&stdout(
        &cli(&admin, Some("acme-admin"), &["list", "--json"]).await,
    ))
    .unwrap();
    assert_eq!(list["tenants"].as_array().unwrap().len(), 1);

    let got = stdout(&cli(&admin, Some("op"), &["get", "globex"]).await);
    assert!(got.lines().nth(1).unwrap().starts_with("globex"));

    // Errors: forbidden, unauthorized, unknown feature; non-zero exit, problem on stderr.
    for (token, args, expect) in [
        (
            Some("acme-admin"),
            vec!["opt-out", "globex", "captions"],
            "403",
        ),
        (None, vec!["list"], "401"),
        (Some("op"), vec!["opt-out", "acme", "nonsense"], "404"),
    ] {
        let o = cli(&admin, token, &args).await;
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(expect), "{args:?}: {err}");
    }
    assert_eq!(
        sync.store().get("globex").await.unwrap().unwrap().version,
        1
    );
}
