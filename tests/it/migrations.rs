//! Databases written by v0.1.0 (`tests/fixtures/migrations/`, made with the code of commit
//! 44023f9, before numbered migrations) are opened by today's code: every schema migrates at
//! open, no row is lost, settings read back the same, and the hash chain still verifies, also
//! with new records appended after the migration.

use std::path::Path;
use std::process::Command;

use raigate::tenants::{TenantSettings, TenantStore, store};
use raigate::trace::{
    CheckpointKey, DecisionQuery, DecisionSink, TraceOptions, TraceStore, verify,
};

fn fixture(name: &str) -> std::path::PathBuf {
    crate::support::repo_path("tests/fixtures/migrations").join(name)
}

fn options() -> TraceOptions {
    TraceOptions {
        checkpoint_key: Some(CheckpointKey::from_seed([42u8; 32])),
        checkpoint_every: std::time::Duration::ZERO,
        ..TraceOptions::default()
    }
}

/// The v0.1.0 tenants, as the fixtures hold them.
async fn assert_tenants(store: &dyn TenantStore) {
    let tenants = store.list().await.unwrap();
    let ids: Vec<&str> = tenants.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["acme", "globex", "hooli"]);
    let acme = TenantSettings::new("acme").opt_out("captions").version(2);
    let globex = TenantSettings::new("globex")
        .region("eu")
        .opt_out("captions")
        .opt_out("clips");
    let hooli = TenantSettings::new("hooli").ai_enabled(false);
    assert_eq!(tenants, [acme, globex, hooli]);
    // A setting that did not exist in v0.1.0 can be written now.
    let capped = store
        .get("hooli")
        .await
        .unwrap()
        .unwrap()
        .max_body_bytes(4096);
    let after = store.put(capped, Some(1)).await.unwrap();
    assert_eq!((after.version, after.max_body_bytes), (2, Some(4096)));
    assert_eq!(store.get("hooli").await.unwrap(), Some(after));
}

/// Ten records, chain intact; then one more in today's format, chain still intact.
async fn assert_trace(trace: &TraceStore) {
    let trusted = CheckpointKey::from_seed([42u8; 32]).verifying_key();
    let page = trace
        .list(&DecisionQuery {
            limit: Some(100),
            ..DecisionQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.decisions.len(), 10, "no record lost");
    let admin = &page.decisions[4];
    assert_eq!(
        (admin.class.as_str(), admin.phase.as_str()),
        ("admin", "admin")
    );
    assert!(
        page.decisions
            .iter()
            .filter(|r| r.class != "admin")
            .all(|r| r.phase.as_str() == "request")
    );
    let report = verify(trace, Some(&trusted)).await.unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.records, 10);

    let mut r = crate::support::trace::record(11);
    r.labels = vec!["header".into(), "json".into()];
    r.output_bytes = Some(12);
    trace.submit(r).unwrap().await.unwrap();
    trace.checkpoint().await.unwrap();
    let report = verify(trace, Some(&trusted)).await.unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.records, 11);
    let last = trace
        .list(&DecisionQuery::default())
        .await
        .unwrap()
        .decisions
        .pop()
        .unwrap();
    assert_eq!(last.labels, ["header", "json"]);
    assert_eq!(last.output_bytes, Some(12));
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_databases_of_v0_1_0_migrate_without_losing_a_row() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("v0.1.0-raigate.db"), dir.path().join("raigate.db")).unwrap();
    std::fs::copy(
        fixture("v0.1.0-raigate.trace.db"),
        dir.path().join("raigate.trace.db"),
    )
    .unwrap();
    let url = format!("sqlite://{}", dir.path().join("raigate.db").display());
    let tenants = store::connect(&url).await.unwrap();
    assert_tenants(&*tenants).await;
    drop(tenants);
    // Opening again runs no migration twice.
    let tenants = store::connect(&url).await.unwrap();
    assert_eq!(tenants.list().await.unwrap().len(), 3);

    let trace_url = format!("sqlite://{}", dir.path().join("raigate.trace.db").display());
    let trace = TraceStore::open(&trace_url, options()).unwrap();
    assert_trace(&trace).await;
    trace.flush().await.unwrap();
    drop(trace);
    let again = TraceStore::open(&trace_url, options()).unwrap();
    assert!(verify(&again, None).await.unwrap().ok);
    drop(again);

    // `raigate audit verify`, as an operator would run it after the upgrade.
    audit_verify(dir.path(), &url);
}

fn audit_verify(dir: &Path, store_url: &str) {
    let cfg = dir.join("raigate.toml");
    let mut table = toml::Table::new();
    let mut server = toml::Table::new();
    server.insert("region".into(), "eu-central-1".into());
    table.insert("server".into(), server.into());
    let mut store = toml::Table::new();
    store.insert("url".into(), store_url.into());
    table.insert("store".into(), store.into());
    std::fs::write(&cfg, toml::to_string(&table).unwrap()).unwrap();
    let key = CheckpointKey::from_seed([42u8; 32]).public_key_hex();
    let out = Command::new(env!("CARGO_BIN_EXE_raigate"))
        .args([
            "audit",
            "verify",
            "--json",
            "--public-key",
            &key,
            "--config",
        ])
        .arg(&cfg)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert!(out.status.success(), "{report}");
    assert_eq!(report["ok"], true);
    assert_eq!(report["records"], 11);
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_schemas_of_v0_1_0_migrate_without_losing_a_row() {
    let Some(schema) = crate::support::pg::schema().await else {
        return;
    };
    let sql = std::fs::read_to_string(fixture("v0.1.0-postgres.sql"))
        .unwrap()
        .replace("__SCHEMA__", &schema.name);
    schema.exec(&sql).await;

    let tenants = store::connect(&schema.url()).await.unwrap();
    assert_tenants(&*tenants).await;
    drop(tenants);
    let tenants = store::connect(&schema.url()).await.unwrap();
    assert_eq!(tenants.list().await.unwrap().len(), 3);

    let trace = TraceStore::open(&schema.url(), options()).unwrap();
    assert_trace(&trace).await;
    trace.flush().await.unwrap();
    drop(trace);
    let again = TraceStore::open(&schema.url(), options()).unwrap();
    assert!(verify(&again, None).await.unwrap().ok);
}
