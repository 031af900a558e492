use std::sync::Arc;

use super::api::{StoreError, TenantStore};
use crate::db_url::DbUrl;

/// Open the store a URL names: `sqlite://FILE` (or `sqlite://:memory:`, with the feature
/// `store-sqlite`) or `postgres://…` / `postgresql://…` with an optional `?schema=NAME` (with
/// the feature `store-postgres`).
pub async fn connect(url: &str) -> Result<Arc<dyn TenantStore>, StoreError> {
    match DbUrl::parse(url).map_err(|e| StoreError::Url(e.to_string()))? {
        #[cfg(feature = "store-sqlite")]
        DbUrl::Sqlite(path) => {
            let store = tokio::task::spawn_blocking(move || {
                super::SqliteStore::open(std::path::Path::new(&path))
            })
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))??;
            Ok(Arc::new(store))
        }
        #[cfg(feature = "store-postgres")]
        DbUrl::Postgres { .. } => Ok(Arc::new(super::PgStore::connect(url).await?)),
        #[allow(unreachable_patterns)]
        other => Err(StoreError::Url(format!(
            "this build has no {} store (enable the store-sqlite or store-postgres feature)",
            match other {
                DbUrl::Sqlite(_) => "SQLite",
                DbUrl::Postgres { .. } => "PostgreSQL",
            }
        ))),
    }
}
