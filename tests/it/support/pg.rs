//! The one PostgreSQL harness: a throw-away schema per test on the local server.
//!
//! The server is `127.0.0.1:5432`, user `postgres`, database `test` (override with
//! `RAIGATE_TEST_PG`). When it cannot be reached the test **fails**, naming the server and
//! the reason. Outside CI, `RAIGATE_SKIP_PG=1` turns that into a skip: the test prints
//! `SKIPPED <test> …` to the terminal (past the harness's output capture) and returns. `CI=true` ignores `RAIGATE_SKIP_PG`.

use std::io::Write as _;
use std::time::Duration;

pub fn base_url() -> String {
    std::env::var("RAIGATE_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A schema with a random name, dropped when this is dropped.
pub struct PgSchema {
    pub name: String,
}

impl PgSchema {
    /// The store URL for this schema.
    pub fn url(&self) -> String {
        format!("{}?schema={}", base_url(), self.name)
    }

    /// Run SQL on the server (own connection).
    pub async fn exec(&self, sql: &str) {
        let (client, conn) = tokio_postgres::connect(&base_url(), tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        client.batch_execute(sql).await.expect("sql");
    }

    /// Drop the schema and everything in it.
    pub async fn drop_schema(&self) {
        self.exec(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name))
            .await;
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let sql = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name);
        // Drop runs inside the test's runtime: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                if let Ok((client, conn)) =
                    tokio_postgres::connect(&base_url(), tokio_postgres::NoTls).await
                {
                    tokio::spawn(conn);
                    let _ = client.batch_execute(&sql).await;
                }
            });
        })
        .join();
    }
}

/// Fail the test (or, with `RAIGATE_SKIP_PG=1` outside CI, print `SKIPPED` and go on) when
/// PostgreSQL cannot be reached.
pub fn unreachable(why: &str) {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let skip = std::env::var("RAIGATE_SKIP_PG").is_ok_and(|v| v == "1");
    if ci || !skip {
        panic!(
            "PostgreSQL at {} is unreachable: {why}. Start it, or set RAIGATE_SKIP_PG=1 to skip \
             the PostgreSQL tests outside CI",
            base_url()
        );
    }
    // Straight to the terminal: `eprintln!` would be captured by the test harness and shown
    // only for failing tests, and a skip must be seen.
    let test = std::thread::current()
        .name()
        .unwrap_or("a PostgreSQL test")
        .to_owned();
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test} (RAIGATE_SKIP_PG=1): PostgreSQL at {} is unreachable: {why}",
        base_url()
    );
}

/// A fresh schema, or `None` when PostgreSQL is unreachable and `RAIGATE_SKIP_PG=1` (see
/// [`unreachable`]).
pub async fn schema() -> Option<PgSchema> {
    let reachable = tokio::time::timeout(
        Duration::from_secs(3),
        tokio_postgres::connect(&base_url(), tokio_postgres::NoTls),
    )
    .await;
    match reachable {
        Ok(Ok((client, conn))) => {
            tokio::spawn(conn);
            let mut random = [0u8; 6];
            getrandom::fill(&mut random).unwrap();
            let name = format!("rg_test_{}", hex::encode(random));
            client
                .batch_execute(&format!("CREATE SCHEMA \"{name}\""))
                .await
                .expect("create schema");
            Some(PgSchema { name })
        }
        other => {
            let why = match other {
                Ok(Err(e)) => e.to_string(),
                _ => "timed out".to_owned(),
            };
            unreachable(&why);
            None
        }
    }
}
