//! The tenant store contract, run against both backends by the same test functions:
//! `sqlite::NAME` and `postgres::NAME` (each PostgreSQL test in its own schema).

use std::collections::BTreeSet;
use std::sync::Arc;

use raigate::tenants::TenantSettings;
use raigate::tenants::store::{self, Edit, Expect, Mutation, StoreError, TenantStore};

/// A place a store lives; `open` may be called more than once (a restart, a second replica).
enum Backend {
    Sqlite(tempfile::TempDir),
    Postgres(crate::support::pg::PgSchema),
}

impl Backend {
    fn url(&self) -> String {
        match self {
            Backend::Sqlite(dir) => format!("sqlite://{}", dir.path().join("tenants.db").display()),
            Backend::Postgres(s) => s.url(),
        }
    }

    async fn open(&self) -> Arc<dyn TenantStore> {
        store::connect(&self.url()).await.expect("open store")
    }
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let b = super::Backend::Sqlite(tempfile::tempdir().unwrap());
                    super::$name(&b).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(schema) = crate::support::pg::schema().await else { return };
                    let b = super::Backend::Postgres(schema);
                    super::$name(&b).await;
                }
            )*
        }
    };
}

contract!(
    create_get_list,
    compare_and_set_conflict,
    opt_out_and_back_bump_the_version,
    seed_never_overwrites,
    settings_survive_a_restart,
    concurrent_conflicting_writes_have_one_winner,
    concurrent_retrying_writers_lose_no_update,
);

async fn create_get_list(b: &Backend) {
    let s = b.open().await;
    assert!(s.list().await.unwrap().is_empty());
    let acme = s
        .put(
            TenantSettings::new("acme").region("eu").opt_out("captions"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(acme.version, 1);
    assert_eq!(acme.region.as_deref(), Some("eu"));
    s.put(TenantSettings::new("globex").ai_enabled(false), None)
        .await
        .unwrap();
    let got = s.get("acme").await.unwrap().unwrap();
    assert_eq!(got, acme);
    assert_eq!(
        serde_json::to_value(&got).unwrap(),
        serde_json::json!({"id": "acme", "region": "eu", "ai_enabled": true, "opted_out": ["captions"], "version": 1})
    );
    assert_eq!(s.get("nobody").await.unwrap(), None);
    let ids: Vec<_> = s.list().await.unwrap().into_iter().map(|t| t.id).collect();
    assert_eq!(ids, ["acme", "globex"]);
}

async fn compare_and_set_conflict(b: &Backend) {
    let s = b.open().await;
    s.put(TenantSettings::new("acme"), None).await.unwrap();
    // Creating again conflicts and names the current version.
    assert_eq!(
        s.put(TenantSettings::new("acme"), None).await,
        Err(StoreError::Conflict {
            id: "acme".into(),
            current: Some(1)
        })
    );
    let v2 = s
        .put(TenantSettings::new("acme").region("us"), Some(1))
        .await
        .unwrap();
    assert_eq!(v2.version, 2);
    // A stale expected version changes nothing.
    assert_eq!(
        s.put(TenantSettings::new("acme").region("sg"), Some(1))
            .await,
        Err(StoreError::Conflict {
            id: "acme".into(),
            current: Some(2)
        })
    );
    assert_eq!(s.get("acme").await.unwrap().unwrap(), v2);
    // Replacing a tenant that does not exist conflicts with "no version".
    assert_eq!(
        s.put(TenantSettings::new("ghost"), Some(1)).await,
        Err(StoreError::Conflict {
            id: "ghost".into(),
            current: None
        })
    );
}

async fn opt_out_and_back_bump_the_version(b: &Backend) {
    let s = b.open().await;
    s.put(TenantSettings::new("acme"), None).await.unwrap();
    let out = s.set_opt_out("acme", "captions", true).await.unwrap();
    assert_eq!(out.version, 2);
    assert!(out.is_opted_out("captions"));
    // Idempotent: no change, no new version.
    let again = s.set_opt_out("acme", "captions", true).await.unwrap();
    assert_eq!(again.version, 2);
    let back = s.set_opt_out("acme", "captions", false).await.unwrap();
    assert_eq!(back.version, 3);
    assert!(!back.is_opted_out("captions"));
    assert_eq!(s.get("acme").await.unwrap().unwrap(), back);
    assert_eq!(
        s.set_opt_out("ghost", "captions", true).await,
        Err(StoreError::NotFound { id: "ghost".into() })
    );
    // With an expected version, the toggle is a compare-and-set too.
    let stale = s
        .apply(
            Mutation {
                id: "acme".into(),
                expect: Expect::Version(1),
                edit: Edit::OptOut {
                    feature: "clips".into(),
                    opted_out: true,
                },
            },
            None,
        )
        .await;
    assert_eq!(
        stale,
        Err(StoreError::Conflict {
            id: "acme".into(),
            current: Some(3)
        })
    );
}

async fn seed_never_overwrites(b: &Backend) {
    let s = b.open().await;
    let created = s
        .seed(vec![
            TenantSettings::new("acme"),
            TenantSettings::new("globex"),
        ])
        .await
        .unwrap();
    assert_eq!(created, 2);
    let changed = s.set_opt_out("acme", "assistant", true).await.unwrap();
    // A restart re-applies the seed: the admin's change stays, new seeds are created.
    let created = s
        .seed(vec![
            TenantSettings::new("acme").region("eu"),
            TenantSettings::new("initech"),
        ])
        .await
        .unwrap();
    assert_eq!(created, 1);
    assert_eq!(s.get("acme").await.unwrap().unwrap(), changed);
    assert_eq!(s.get("initech").await.unwrap().unwrap().version, 1);
}

async fn settings_survive_a_restart(b: &Backend) {
    let first = b.open().await;
    first
        .put(TenantSettings::new("acme").region("eu"), None)
        .await
        .unwrap();
    let after = first.set_opt_out("acme", "captions", true).await.unwrap();
    drop(first);
    let second = b.open().await;
    assert_eq!(second.get("acme").await.unwrap().unwrap(), after);
    assert_eq!(
        second.list().await.unwrap(),
        vec![after.clone()],
        "reopening (and re-running migrations) keeps the data"
    );
}

/// 50 writers, same expected version, different content: exactly one wins, the rest conflict
/// and see the winner's version; the stored document is the winner's.
async fn concurrent_conflicting_writes_have_one_winner(b: &Backend) {
    let stores = [b.open().await, b.open().await];
    stores[0]
        .put(TenantSettings::new("acme"), None)
        .await
        .unwrap();
    let features = [
        "captions",
        "transcription",
        "translation",
        "summarization",
        "clips",
    ];
    let mut tasks = Vec::new();
    for i in 0..50usize {
        let s = stores[i % 2].clone();
        let doc = TenantSettings::new("acme")
            .opt_out(features[i % features.len()])
            .region(format!("r{i}"));
        tasks.push(tokio::spawn(async move {
            (s.put(doc.clone(), Some(1)).await, doc)
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            (Ok(after), doc) => winners.push((after, doc)),
            (Err(StoreError::Conflict { current, .. }), _) => assert_eq!(current, Some(2)),
            (Err(e), _) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one writer wins version 2");
    let (after, doc) = &winners[0];
    assert_eq!(after.version, 2);
    let stored = stores[1].get("acme").await.unwrap().unwrap();
    assert_eq!(stored.region, doc.region);
    assert_eq!(stored.opted_out, doc.opted_out);
    assert_eq!(&stored, after);
}

/// 50 writers that retry on conflict: every write lands, each under its own version.
async fn concurrent_retrying_writers_lose_no_update(b: &Backend) {
    let stores = [b.open().await, b.open().await];
    stores[0]
        .put(TenantSettings::new("acme"), None)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..50usize {
        let s = stores[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let cur = s.get("acme").await.unwrap().unwrap();
                let next = TenantSettings::new("acme").region(format!("w{i}"));
                match s.put(next, Some(cur.version)).await {
                    Ok(after) => return after.version,
                    Err(StoreError::Conflict { .. }) => tokio::task::yield_now().await,
                    Err(e) => panic!("unexpected error: {e}"),
                }
            }
        }));
    }
    let mut versions = BTreeSet::new();
    for t in tasks {
        assert!(
            versions.insert(t.await.unwrap()),
            "two writers won one version"
        );
    }
    assert_eq!(versions, (2..=51).collect::<BTreeSet<u64>>());
    assert_eq!(stores[0].get("acme").await.unwrap().unwrap().version, 51);
}
