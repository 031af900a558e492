//! Shared by the decision-trace tests: both backends (SQLite in a temp dir, PostgreSQL in a
//! schema of its own), direct SQL for tamper tests, record factories.

use std::path::PathBuf;

use raigate::trace::{
    CheckpointKey, DecisionRecord, DecisionSink, Phase, TraceOptions, TraceStore,
};

/// A store under test and a way to reach its tables directly.
pub struct Backend {
    pub name: &'static str,
    pub url: String,
    pub db: Db,
    _dir: Option<tempfile::TempDir>,
}

pub enum Db {
    Sqlite(PathBuf),
    Pg { schema: String },
}

impl Backend {
    pub fn open(&self, options: TraceOptions) -> TraceStore {
        let mut options = options;
        if let Db::Pg { schema } = &self.db {
            options.pg_schema = Some(schema.clone());
        }
        TraceStore::open(&self.url, options).unwrap()
    }

    /// Run SQL directly against the store's tables.
    pub async fn exec(&self, sql: &str) {
        match &self.db {
            Db::Sqlite(p) => {
                let conn = rusqlite::Connection::open(p).unwrap();
                conn.execute_batch(sql).unwrap();
            }
            Db::Pg { schema } => {
                let c = pg_client().await.unwrap();
                c.batch_execute(&format!("SET search_path TO \"{schema}\"; {sql}"))
                    .await
                    .unwrap();
            }
        }
    }

    /// Drop the PostgreSQL schema (SQLite files go with the temp dir).
    pub async fn cleanup(self) {
        if let Db::Pg { schema } = &self.db {
            let c = pg_client().await.unwrap();
            c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                .await
                .unwrap();
        }
    }
}

pub async fn pg_client() -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (c, conn) = tokio_postgres::connect(&super::pg::base_url(), tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    Ok(c)
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).unwrap();
    hex::encode(b)
}

pub fn sqlite() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raigate.db");
    Backend {
        name: "sqlite",
        url: format!("sqlite://{}", path.display()),
        db: Db::Sqlite(path),
        _dir: Some(dir),
    }
}

/// PostgreSQL in a fresh schema (see [`super::pg::unreachable`] for an unreachable server).
pub async fn postgres() -> Option<Backend> {
    if let Err(e) = pg_client().await {
        super::pg::unreachable(&e.to_string());
        return None;
    }
    Some(Backend {
        name: "postgres",
        url: super::pg::base_url(),
        db: Db::Pg {
            schema: format!("raigate_test_{}", random_hex(6)),
        },
        _dir: None,
    })
}

/// Both backends (PostgreSQL when reachable, see [`postgres`]).
pub async fn backends() -> Vec<Backend> {
    let mut v = vec![sqlite()];
    v.extend(postgres().await);
    v
}

pub fn options() -> TraceOptions {
    TraceOptions {
        checkpoint_key: Some(CheckpointKey::from_seed([42u8; 32])),
        checkpoint_every: std::time::Duration::ZERO,
        ..TraceOptions::default()
    }
}

pub const TENANTS: [&str; 3] = ["acme", "globex", "initech"];
pub const FEATURES: [&str; 3] = ["assistant", "captions", "summarization"];

/// The i-th synthetic record: tenants, outcomes, features and rules rotate; one second apart
/// from 2026-01-01T00:00:00Z.
pub fn record(i: u64) -> DecisionRecord {
    let deny = i.is_multiple_of(4);
    let secs = 1_767_225_600 + i;
    let time = humantime::format_rfc3339_micros(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs),
    )
    .to_string();
    let mut r = DecisionRecord::new(Phase::Request, uuid::Uuid::now_v7().to_string(), time);
    r.tenant = Some(TENANTS[(i % 3) as usize].to_owned());
    r.subject = Some(format!("ps_{:032x}", i % 7));
    r.feature = Some(FEATURES[(i % 3 + i / 3 % 3) as usize % 3].to_owned());
    r.route = "POST /v1/chat/completions".to_owned();
    r.class = "inference".to_owned();
    r.data_class = "customer".to_owned();
    r.region = "eu-central-1".to_owned();
    r.upstream = Some("ai-eu".to_owned());
    r.outcome = if deny { "deny" } else { "allow" }.to_owned();
    r.rule = deny.then(|| "content-prompt-injection".to_owned());
    r.reason = if deny {
        "prohibited, \"quoted\""
    } else {
        "allowed"
    }
    .to_owned();
    if !deny {
        r.obligations = vec!["ai-disclosure".to_owned()];
    }
    r.policy_version = "a".repeat(64);
    r.tenant_version = Some(3);
    r.latency_us = 17 + i;
    r
}

/// Submit records `from..to` and wait until all are committed.
pub async fn write(store: &TraceStore, from: u64, to: u64) -> Vec<DecisionRecord> {
    let mut commits = Vec::new();
    let mut recs = Vec::new();
    for i in from..to {
        let r = record(i);
        recs.push(r.clone());
        commits.push(store.submit(r).unwrap());
    }
    for c in commits {
        c.await.unwrap();
    }
    recs
}
