use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use tokio::sync::broadcast;

use super::api::{
    Applied, BoxFuture, ChangeRecordHook, Mutation, StoreError, StoreEvent, TenantStore,
    check_seed_ids, plan,
};
use crate::tenants::TenantSettings;

/// The tenant table's migrations, numbered by `PRAGMA user_version` and run at open inside
/// one `BEGIN IMMEDIATE` transaction. 1 is the v0.1.0 table (`IF NOT EXISTS`: a v0.1.0 file
/// has it but no count); 2 keeps the settings as one JSON document beside the indexed `id`
/// and `version`, so a new setting needs no new column.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS raigate_tenants (
        id         TEXT PRIMARY KEY NOT NULL,
        region     TEXT,
        ai_enabled INTEGER NOT NULL,
        opted_out  TEXT NOT NULL,
        version    INTEGER NOT NULL
    )",
    "ALTER TABLE raigate_tenants ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
     UPDATE raigate_tenants SET settings = json_object(
         'region', region,
         'ai_enabled', json(CASE WHEN ai_enabled THEN 'true' ELSE 'false' END),
         'opted_out', json(opted_out));
     ALTER TABLE raigate_tenants DROP COLUMN region;
     ALTER TABLE raigate_tenants DROP COLUMN ai_enabled;
     ALTER TABLE raigate_tenants DROP COLUMN opted_out;",
];

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(unavailable)?;
    let done: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(unavailable)?;
    for (n, sql) in MIGRATIONS.iter().enumerate() {
        let version = i64::try_from(n + 1).map_err(unavailable)?;
        if version > done {
            tx.execute_batch(sql).map_err(unavailable)?;
            tx.pragma_update(None, "user_version", version)
                .map_err(unavailable)?;
        }
    }
    tx.commit().map_err(unavailable)
}

/// The embedded SQLite store (`sqlite://FILE`): file and schema created on first open, WAL
/// journal. Calls run on tokio's blocking pool; writes made through this process are announced
/// on [`TenantStore::changes`] at once.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
    events: broadcast::Sender<StoreEvent>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn read_row(row: &Row<'_>) -> rusqlite::Result<(String, String, i64)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}

fn to_settings(
    (id, settings, version): (String, String, i64),
) -> Result<TenantSettings, StoreError> {
    let version = u64::try_from(version)
        .map_err(|_| StoreError::Corrupt(format!("tenant `{id}` has a negative version")))?;
    TenantSettings::from_stored(id, version, &settings).map_err(StoreError::Corrupt)
}

fn get_tx(conn: &Connection, id: &str) -> Result<Option<TenantSettings>, StoreError> {
    conn.query_row(
        "SELECT id, settings, version FROM raigate_tenants WHERE id = ?1",
        params![id],
        read_row,
    )
    .optional()
    .map_err(unavailable)?
    .map(to_settings)
    .transpose()
}

fn write_tx(conn: &Connection, s: &TenantSettings) -> Result<(), StoreError> {
    let settings = s.to_stored().map_err(unavailable)?;
    let version = i64::try_from(s.version).map_err(unavailable)?;
    conn.execute(
        "INSERT INTO raigate_tenants (id, settings, version) VALUES (?1, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET settings = excluded.settings, version = excluded.version",
        params![s.id, settings, version],
    )
    .map_err(unavailable)?;
    Ok(())
}

impl SqliteStore {
    /// Open (or create) the database at `path`; `:memory:` is a private in-memory database.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = if path == Path::new(":memory:") {
            Connection::open_in_memory()
        } else {
            Connection::open(path)
        }
        .map_err(|e| StoreError::Unavailable(format!("{}: {e}", path.display())))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(unavailable)?;
        // WAL lets readers in other processes proceed while one writes.
        let _mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(unavailable)?;
        let mut conn = conn;
        migrate(&mut conn)?;
        let (events, _) = broadcast::channel(256);
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            path: path.to_path_buf(),
            events,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `f` with the connection on the blocking pool.
    fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> BoxFuture<'static, Result<T, StoreError>> {
        let conn = self.conn.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let mut guard = conn.lock().map_err(|_| {
                    StoreError::Unavailable("the connection lock is poisoned".into())
                })?;
                f(&mut guard)
            })
            .await
            .map_err(unavailable)?
        })
    }
}

impl TenantStore for SqliteStore {
    fn list(&self) -> BoxFuture<'_, Result<Vec<TenantSettings>, StoreError>> {
        self.blocking(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT id, settings, version FROM raigate_tenants ORDER BY id")
                .map_err(unavailable)?;
            let rows = stmt
                .query_map([], read_row)
                .map_err(unavailable)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(unavailable)?;
            rows.into_iter().map(to_settings).collect()
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<TenantSettings>, StoreError>> {
        let id = id.to_owned();
        self.blocking(move |conn| get_tx(conn, &id))
    }

    fn apply(
        &self,
        mutation: Mutation,
        audit: Option<ChangeRecordHook>,
    ) -> BoxFuture<'_, Result<Applied, StoreError>> {
        let events = self.events.clone();
        let conn = self.conn.clone();
        Box::pin(async move {
            let handle = tokio::runtime::Handle::current();
            let applied = tokio::task::spawn_blocking(move || {
                let mut guard = conn.lock().map_err(|_| {
                    StoreError::Unavailable("the connection lock is poisoned".into())
                })?;
                let tx = guard
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(unavailable)?;
                let before = get_tx(&tx, &mutation.id)?;
                let Some(after) = plan(&mutation, before.as_ref())? else {
                    let after = before.clone().ok_or_else(|| StoreError::NotFound {
                        id: mutation.id.clone(),
                    })?;
                    return Ok(Applied {
                        before,
                        after,
                        changed: false,
                    });
                };
                write_tx(&tx, &after)?;
                if let Some(hook) = audit {
                    // On a blocking-pool thread: waiting here is allowed. Dropping `tx` on
                    // error rolls the change back.
                    handle
                        .block_on(hook(before.as_ref(), &after))
                        .map_err(StoreError::ChangeRecord)?;
                }
                tx.commit().map_err(unavailable)?;
                Ok(Applied {
                    before,
                    after,
                    changed: true,
                })
            })
            .await
            .map_err(unavailable)??;
            if applied.changed {
                let _ = events.send(StoreEvent::Changed(applied.after.id.clone()));
            }
            Ok(applied)
        })
    }

    fn seed(&self, tenants: Vec<TenantSettings>) -> BoxFuture<'_, Result<usize, StoreError>> {
        if let Err(e) = check_seed_ids(&tenants) {
            return Box::pin(async move { Err(e) });
        }
        let events = self.events.clone();
        let fut = self.blocking(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            let mut created = 0;
            for t in &tenants {
                let settings = t.to_stored().map_err(unavailable)?;
                created += tx
                    .execute(
                        "INSERT INTO raigate_tenants (id, settings, version)
                         VALUES (?1, ?2, 1) ON CONFLICT (id) DO NOTHING",
                        params![t.id, settings],
                    )
                    .map_err(unavailable)?;
            }
            tx.commit().map_err(unavailable)?;
            Ok(created)
        });
        Box::pin(async move {
            let created = fut.await?;
            if created > 0 {
                let _ = events.send(StoreEvent::Resync);
            }
            Ok(created)
        })
    }

    fn changes(&self) -> broadcast::Receiver<StoreEvent> {
        self.events.subscribe()
    }
}
