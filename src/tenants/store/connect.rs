use std::path::Path;
use std::sync::Arc;

use super::api::{StoreError, TenantStore};
use super::postgres::PgStore;
use super::sqlite::SqliteStore;

/// Open the store a URL names: `sqlite://FILE` (or `sqlite://:memory:`) or
/// `postgres://…` / `postgresql://…` (with an optional `?schema=NAME`).
pub async fn connect(url: &str) -> Result<Arc<dyn TenantStore>, StoreError> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err(StoreError::Url("sqlite:// needs a file path".into()));
        }
        let path = path.to_owned();
        let store = tokio::task::spawn_blocking(move || SqliteStore::open(Path::new(&path)))
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))??;
        Ok(Arc::new(store))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(url).await?))
    } else {
        Err(StoreError::Url(
            "the store URL must start with sqlite:// or postgres://".into(),
        ))
    }
}
