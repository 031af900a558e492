use std::str::FromStr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{Mutex, MutexGuard, broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, Client, Config, GenericClient, NoTls, Row};

use super::api::{
    Applied, BoxFuture, ChangeRecordHook, Mutation, StoreError, StoreEvent, TenantStore,
    check_seed_ids, plan,
};
use crate::db_url::{DbUrl, check_schema};
use crate::tenants::TenantSettings;

/// Schema migrations, applied in order once each (tracked in `raigate_migrations`). 2 keeps
/// the settings as one JSON document beside the indexed `id` and `version`, so a new setting
/// needs no new column.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE raigate_tenants (
        id         TEXT PRIMARY KEY,
        region     TEXT,
        ai_enabled BOOLEAN NOT NULL,
        opted_out  TEXT[] NOT NULL DEFAULT '{}',
        version    BIGINT NOT NULL CHECK (version > 0)
    )",
    "ALTER TABLE raigate_tenants ADD COLUMN settings JSONB NOT NULL DEFAULT '{}';
     UPDATE raigate_tenants SET settings = jsonb_build_object(
         'region', region, 'ai_enabled', ai_enabled, 'opted_out', to_jsonb(opted_out));
     ALTER TABLE raigate_tenants DROP COLUMN region, DROP COLUMN ai_enabled,
         DROP COLUMN opted_out;",
];

/// NOTIFY payload asking every replica to reload everything.
const RESYNC_PAYLOAD: &str = "*";

const COLUMNS: &str = "id, settings::text, version";

/// A read that takes longer is abandoned and its connection replaced (a silent network).
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Connecting, handshake included.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Writes wait for the audit record too, so they get longer.
const WRITE_TIMEOUT: Duration = Duration::from_secs(15);

/// The result of an operation run under a time limit; on timeout, forget the connection so
/// that the next call reconnects, otherwise forget it only if it broke.
fn settle<T>(
    guard: &mut MutexGuard<'_, Option<Client>>,
    limit: Duration,
    outcome: Result<Result<T, StoreError>, tokio::time::error::Elapsed>,
) -> Result<T, StoreError> {
    match outcome {
        Ok(result) => {
            reset_if_closed(guard);
            result
        }
        Err(_) => {
            **guard = None;
            Err(StoreError::Unavailable(format!(
                "no answer within {} s",
                limit.as_secs()
            )))
        }
    }
}

/// The PostgreSQL store (`postgres://…`), for many replicas.
///
/// Migrations run on connect, inside a schema of its own (`?schema=NAME` in the URL, default
/// `public`). Every change sends `NOTIFY` with the tenant id as payload on the channel
/// `raigate_tenants_<schema>`; a listener connection turns notifications into
/// [`StoreEvent::Changed`] and reconnects on failure (announcing [`StoreEvent::Resync`]).
/// The query connection reconnects on the next call after it breaks.
#[derive(Debug)]
pub struct PgStore {
    inner: Arc<Inner>,
    listener: JoinHandle<()>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    schema: String,
    channel: String,
    client: Mutex<Option<Client>>,
    events: broadcast::Sender<StoreEvent>,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn db_error(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => StoreError::Unavailable(format!("{}: {}", db.code().code(), db.message())),
        None => StoreError::Unavailable(e.to_string()),
    }
}

fn to_settings(row: &Row) -> Result<TenantSettings, StoreError> {
    let corrupt = |e: tokio_postgres::Error| StoreError::Corrupt(e.to_string());
    let id: String = row.try_get(0).map_err(corrupt)?;
    let settings: String = row.try_get(1).map_err(corrupt)?;
    let version: i64 = row.try_get(2).map_err(corrupt)?;
    let version = u64::try_from(version)
        .map_err(|_| StoreError::Corrupt(format!("tenant `{id}` has a negative version")))?;
    TenantSettings::from_stored(id, version, &settings).map_err(StoreError::Corrupt)
}

async fn open_client(config: &Config, schema: &str) -> Result<Client, StoreError> {
    // `connect_timeout` covers the TCP connect only; bound the handshake as well.
    let (client, connection) = tokio::time::timeout(CONNECT_TIMEOUT, config.connect(NoTls))
        .await
        .map_err(|_| unavailable("connecting timed out"))?
        .map_err(db_error)?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "tenant store connection ended");
        }
    });
    client
        .batch_execute(&format!("SET search_path TO \"{schema}\""))
        .await
        .map_err(db_error)?;
    Ok(client)
}

async fn migrate(client: &mut Client, schema: &str) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(db_error)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext($1))",
        &[&format!("raigate-migrate:{schema}")],
    )
    .await
    .map_err(db_error)?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS \"{schema}\";
         CREATE TABLE IF NOT EXISTS \"{schema}\".raigate_migrations (
             version INTEGER PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    ))
    .await
    .map_err(db_error)?;
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i32::try_from(i + 1).map_err(unavailable)?;
        let done = tx
            .query_opt(
                &format!("SELECT 1 FROM \"{schema}\".raigate_migrations WHERE version = $1"),
                &[&version],
            )
            .await
            .map_err(db_error)?
            .is_some();
        if !done {
            tx.batch_execute(&format!("SET LOCAL search_path TO \"{schema}\"; {sql}"))
                .await
                .map_err(db_error)?;
            tx.execute(
                &format!("INSERT INTO \"{schema}\".raigate_migrations (version) VALUES ($1)"),
                &[&version],
            )
            .await
            .map_err(db_error)?;
        }
    }
    tx.commit().await.map_err(db_error)
}

async fn get_row(
    c: &impl GenericClient,
    id: &str,
    lock: bool,
) -> Result<Option<TenantSettings>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM raigate_tenants WHERE id = $1{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    c.query_opt(&sql, &[&id])
        .await
        .map_err(db_error)?
        .as_ref()
        .map(to_settings)
        .transpose()
}

impl PgStore {
    /// Connect to `url` (`postgres://user@host:port/db[?schema=NAME]`), run migrations and start
    /// listening for changes.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        match DbUrl::parse(url).map_err(|e| StoreError::Url(e.to_string()))? {
            DbUrl::Postgres { url, schema } => {
                let schema = schema.unwrap_or_else(|| "public".to_owned());
                Self::connect_with_schema(&url, &schema).await
            }
            DbUrl::Sqlite(_) => Err(StoreError::Url("not a postgres:// URL".into())),
        }
    }

    /// Like [`PgStore::connect`], with the schema given apart from the URL.
    pub async fn connect_with_schema(url: &str, schema: &str) -> Result<Self, StoreError> {
        check_schema(schema).map_err(|e| StoreError::Url(e.to_string()))?;
        let mut config = Config::from_str(url).map_err(|e| StoreError::Url(e.to_string()))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(3));
        }
        // Notice a silent network on idle connections (the listener's) too.
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(15));
        let mut client = open_client(&config, schema).await?;
        migrate(&mut client, schema).await?;
        let (events, _) = broadcast::channel(1024);
        let inner = Arc::new(Inner {
            config,
            schema: schema.to_owned(),
            channel: format!("raigate_tenants_{schema}"),
            client: Mutex::new(Some(client)),
            events,
        });
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let listener = tokio::spawn(listen(Arc::downgrade(&inner), Some(ready_tx)));
        // Wait (briefly) until LISTEN is in place so that no change made after connect is missed.
        let _ = tokio::time::timeout(Duration::from_secs(5), ready_rx).await;
        Ok(PgStore { inner, listener })
    }

    /// The schema holding the tables.
    pub fn schema(&self) -> &str {
        &self.inner.schema
    }

    /// The query connection, reconnected if it broke.
    async fn client(&self) -> Result<MutexGuard<'_, Option<Client>>, StoreError> {
        let mut guard = self.inner.client.lock().await;
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = None;
            *guard = Some(open_client(&self.inner.config, &self.inner.schema).await?);
        }
        Ok(guard)
    }
}

/// Forget a broken connection so that the next call reconnects.
fn reset_if_closed(guard: &mut MutexGuard<'_, Option<Client>>) {
    if guard.as_ref().is_some_and(Client::is_closed) {
        **guard = None;
    }
}

async fn listen(inner: Weak<Inner>, mut ready: Option<tokio::sync::oneshot::Sender<()>>) {
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let config = strong.config.clone();
        let channel = strong.channel.clone();
        let events = strong.events.clone();
        drop(strong);
        let connected = tokio::time::timeout(CONNECT_TIMEOUT, config.connect(NoTls)).await;
        match connected {
            Err(_) => tracing::warn!("tenant change listener: connecting timed out"),
            Ok(Err(e)) => tracing::warn!(error = %e, "tenant change listener cannot connect"),
            Ok(Ok((client, mut connection))) => {
                let (tx, mut rx) = mpsc::unbounded_channel();
                let driver = tokio::spawn(async move {
                    let mut messages =
                        futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                    while let Some(msg) = messages.next().await {
                        match msg {
                            Ok(AsyncMessage::Notification(n)) => {
                                if tx.send(n.payload().to_owned()).is_err() {
                                    return;
                                }
                            }
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!(error = %e, "tenant change listener lost its connection");
                                return;
                            }
                        }
                    }
                });
                let sql = format!("LISTEN \"{channel}\"");
                let listen = client.batch_execute(&sql);
                match tokio::time::timeout(CONNECT_TIMEOUT, listen).await {
                    Ok(Ok(())) => {
                        if let Some(r) = ready.take() {
                            let _ = r.send(());
                        }
                        // Anything may have changed while we were not listening.
                        let _ = events.send(StoreEvent::Resync);
                        while let Some(payload) = rx.recv().await {
                            let event = if payload == RESYNC_PAYLOAD {
                                StoreEvent::Resync
                            } else {
                                StoreEvent::Changed(payload)
                            };
                            let _ = events.send(event);
                        }
                    }
                    Ok(Err(e)) => tracing::warn!(error = %e, "LISTEN failed"),
                    Err(_) => tracing::warn!("LISTEN timed out"),
                }
                driver.abort();
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

impl TenantStore for PgStore {
    fn list(&self) -> BoxFuture<'_, Result<Vec<TenantSettings>, StoreError>> {
        Box::pin(async move {
            let mut guard = self.client().await?;
            let client = guard.as_ref().ok_or_else(|| unavailable("no connection"))?;
            let outcome = tokio::time::timeout(READ_TIMEOUT, async {
                client
                    .query(
                        &format!("SELECT {COLUMNS} FROM raigate_tenants ORDER BY id"),
                        &[],
                    )
                    .await
                    .map_err(db_error)
            })
            .await;
            settle(&mut guard, READ_TIMEOUT, outcome)?
                .iter()
                .map(to_settings)
                .collect()
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<TenantSettings>, StoreError>> {
        Box::pin(async move {
            let mut guard = self.client().await?;
            let client = guard.as_ref().ok_or_else(|| unavailable("no connection"))?;
            let outcome = tokio::time::timeout(READ_TIMEOUT, get_row(client, id, false)).await;
            settle(&mut guard, READ_TIMEOUT, outcome)
        })
    }

    fn apply(
        &self,
        mutation: Mutation,
        audit: Option<ChangeRecordHook>,
    ) -> BoxFuture<'_, Result<Applied, StoreError>> {
        Box::pin(async move {
            let mut guard = self.client().await?;
            let client = guard.as_mut().ok_or_else(|| unavailable("no connection"))?;
            let outcome = tokio::time::timeout(
                WRITE_TIMEOUT,
                apply_tx(client, &self.inner.channel, mutation, audit),
            )
            .await;
            let result = settle(&mut guard, WRITE_TIMEOUT, outcome);
            drop(guard);
            if let Ok(a) = &result
                && a.changed
            {
                let _ = self
                    .inner
                    .events
                    .send(StoreEvent::Changed(a.after.id.clone()));
            }
            result
        })
    }

    fn seed(&self, tenants: Vec<TenantSettings>) -> BoxFuture<'_, Result<usize, StoreError>> {
        Box::pin(async move {
            check_seed_ids(&tenants)?;
            let mut guard = self.client().await?;
            let client = guard.as_mut().ok_or_else(|| unavailable("no connection"))?;
            let outcome = tokio::time::timeout(
                WRITE_TIMEOUT,
                seed_tx(client, &self.inner.channel, &tenants),
            )
            .await;
            settle(&mut guard, WRITE_TIMEOUT, outcome)
        })
    }

    fn changes(&self) -> broadcast::Receiver<StoreEvent> {
        self.inner.events.subscribe()
    }
}

async fn apply_tx(
    client: &mut Client,
    channel: &str,
    mutation: Mutation,
    audit: Option<ChangeRecordHook>,
) -> Result<Applied, StoreError> {
    let tx = client.transaction().await.map_err(db_error)?;
    let before = get_row(&tx, &mutation.id, true).await?;
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
    let settings = after.to_stored().map_err(unavailable)?;
    let version = i64::try_from(after.version).map_err(unavailable)?;
    let written = match &before {
        None => {
            tx.execute(
                "INSERT INTO raigate_tenants (id, settings, version)
                 VALUES ($1, $2::text::jsonb, $3) ON CONFLICT (id) DO NOTHING",
                &[&after.id, &settings, &version],
            )
            .await
        }
        Some(b) => {
            let old = i64::try_from(b.version).map_err(unavailable)?;
            tx.execute(
                "UPDATE raigate_tenants SET settings = $2::text::jsonb, version = $3
                 WHERE id = $1 AND version = $4",
                &[&after.id, &settings, &version, &old],
            )
            .await
        }
    }
    .map_err(db_error)?;
    if written != 1 {
        // A concurrent creator won the race for a new id.
        drop(tx);
        let current = get_row(&*client, &mutation.id, false).await?;
        return Err(StoreError::Conflict {
            id: mutation.id,
            current: current.map(|c| c.version),
        });
    }
    tx.execute("SELECT pg_notify($1, $2)", &[&channel, &after.id])
        .await
        .map_err(db_error)?;
    if let Some(hook) = audit {
        // Dropping `tx` on error rolls the change back.
        hook(before.as_ref(), &after)
            .await
            .map_err(StoreError::ChangeRecord)?;
    }
    tx.commit().await.map_err(db_error)?;
    Ok(Applied {
        before,
        after,
        changed: true,
    })
}

async fn seed_tx(
    client: &mut Client,
    channel: &str,
    tenants: &[TenantSettings],
) -> Result<usize, StoreError> {
    let tx = client.transaction().await.map_err(db_error)?;
    let mut created = 0;
    for t in tenants {
        let settings = t.to_stored().map_err(unavailable)?;
        created += tx
            .execute(
                "INSERT INTO raigate_tenants (id, settings, version)
                 VALUES ($1, $2::text::jsonb, 1) ON CONFLICT (id) DO NOTHING",
                &[&t.id, &settings],
            )
            .await
            .map_err(db_error)?;
    }
    if created > 0 {
        tx.execute("SELECT pg_notify($1, $2)", &[&channel, &RESYNC_PAYLOAD])
            .await
            .map_err(db_error)?;
    }
    tx.commit().await.map_err(db_error)?;
    usize::try_from(created).map_err(unavailable)
}
