//! PostgreSQL test support: a throw-away schema per test on the local server.
//!
//! The server is `127.0.0.1:5432`, user `postgres`, database `test` (override with
//! `RAIGATE_TEST_PG`). Unreachable with `CI=true`: the test fails. Unreachable otherwise: a
//! warning and the test returns.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

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

/// A fresh schema, or `None` (with a warning) when PostgreSQL is unreachable and CI is unset.
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
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "PostgreSQL at {} is unreachable with CI=true: {why}",
                    base_url()
                );
            }
            eprintln!(
                "warning: PostgreSQL at {} unreachable ({why}); skipping this PostgreSQL test",
                base_url()
            );
            None
        }
    }
}
