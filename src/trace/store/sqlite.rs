//! SQLite backend: WAL, one writer connection on the writer thread, read-only connections
//! for queries.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params, params_from_iter};
use tokio::runtime::Runtime;

use super::TraceError;
use super::schema::{COLUMNS, Dialect, json_list, migrations, record_from_row, ts_of};
use super::writer::{AnalyzeSchedule, ChainWriter};
use crate::trace::DecisionRecord;
use crate::trace::chain::{Checkpoint, CheckpointKey, GENESIS, parse_time_us, stamp};
use crate::trace::query::{Filter, Position, SqlValue};

fn db(e: rusqlite::Error) -> String {
    e.to_string()
}

fn connect(path: &Path, read_only: bool) -> Result<Connection, String> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn =
        Connection::open_with_flags(path, flags).map_err(|e| format!("{}: {e}", path.display()))?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(db)?;
    Ok(conn)
}

/// Switch the file to WAL and run the pending migrations (numbered by `PRAGMA user_version`)
/// in one `BEGIN IMMEDIATE` transaction, so two processes opening the file at once migrate it
/// once; then make sure the chain head row exists.
pub(super) fn init(path: &Path) -> Result<(), TraceError> {
    let err = |e: rusqlite::Error| TraceError::Db(e.to_string());
    let mut conn = connect(path, false).map_err(TraceError::Db)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(err)?;
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(err)?;
    let done: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(err)?;
    for (n, statements) in migrations(Dialect::Sqlite).into_iter().enumerate() {
        let version = i64::try_from(n + 1).unwrap_or(i64::MAX);
        if version <= done {
            continue;
        }
        for sql in statements {
            tx.execute_batch(&sql).map_err(err)?;
        }
        tx.pragma_update(None, "user_version", version)
            .map_err(err)?;
    }
    tx.execute(
        "INSERT INTO raigate_chain_head (id, seq, hash) VALUES (1, 0, ?1) ON CONFLICT (id) DO NOTHING",
        params![GENESIS],
    )
    .map_err(err)?;
    tx.commit().map_err(err)
}

pub(super) struct SqliteWriter {
    conn: Connection,
    analyze: AnalyzeSchedule,
}

impl SqliteWriter {
    pub(super) fn open(path: &Path) -> Result<Self, String> {
        let conn = connect(path, false)?;
        // WAL + NORMAL: a commit survives a crash of the process (not necessarily power loss).
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(db)?;
        // Sampled statistics: ANALYZE stays in the milliseconds on millions of rows.
        conn.pragma_update(None, "analysis_limit", 1000)
            .map_err(db)?;
        Ok(SqliteWriter {
            conn,
            analyze: AnalyzeSchedule::new(),
        })
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn head_of(conn: &Connection) -> Result<(u64, String), String> {
    conn.query_row(
        "SELECT seq, hash FROM raigate_chain_head WHERE id = 1",
        [],
        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
    )
    .optional()
    .map_err(db)?
    .map(|(s, h)| (u64::try_from(s).unwrap_or(0), h))
    .ok_or_else(|| "the chain head row is missing".to_owned())
}

impl ChainWriter for SqliteWriter {
    fn append(&mut self, _rt: &Runtime, batch: &mut [DecisionRecord]) -> Result<(), String> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db)?;
        let (mut seq, mut hash) = head_of(&tx)?;
        {
            let mut ins = tx
                .prepare_cached(&format!(
                    "INSERT INTO raigate_decisions ({COLUMNS}) VALUES \
                     (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
                      ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34, ?35, ?36)"
                ))
                .map_err(db)?;
            for r in batch.iter_mut() {
                (seq, hash) = stamp(r, seq, &hash);
                ins.execute(params![
                    to_i64(seq),
                    r.id,
                    r.time,
                    r.tenant,
                    r.subject,
                    r.feature,
                    r.route,
                    r.class,
                    r.purpose,
                    r.data_class,
                    r.region,
                    r.upstream,
                    r.outcome,
                    r.shadow,
                    r.rule,
                    r.reason,
                    json_list(&r.obligations),
                    r.policy_version,
                    r.tenant_version.map(to_i64),
                    r.trace_id,
                    to_i64(r.latency_us),
                    r.prev_hash,
                    r.hash,
                    ts_of(r),
                    r.phase.as_str(),
                    r.parent_id,
                    r.detector,
                    r.score,
                    r.view,
                    json_list(&r.output_sha256),
                    r.output_bytes.map(to_i64),
                    json_list(&r.labels),
                    r.end,
                    r.provider,
                    r.endpoint_class,
                    r.provider_region,
                ])
                .map_err(db)?;
            }
        }
        tx.execute(
            "UPDATE raigate_chain_head SET seq = ?1, hash = ?2 WHERE id = 1",
            params![to_i64(seq), hash],
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;
        if self.analyze.due(batch.len())
            && let Err(e) = self.conn.execute_batch("ANALYZE raigate_decisions")
        {
            tracing::warn!(error = %e, "ANALYZE of the decision table failed");
        }
        Ok(())
    }

    fn checkpoint(
        &mut self,
        _rt: &Runtime,
        key: &CheckpointKey,
    ) -> Result<Option<Checkpoint>, String> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db)?;
        let (seq, hash) = head_of(&tx)?;
        let last: Option<i64> = tx
            .query_row("SELECT MAX(seq) FROM raigate_checkpoints", [], |r| r.get(0))
            .map_err(db)?;
        if last.is_some_and(|l| l >= to_i64(seq)) {
            return Ok(None);
        }
        let cp = key.sign(seq, &hash);
        tx.execute(
            "INSERT INTO raigate_checkpoints (seq, hash, time, ts, public_key, signature) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                to_i64(cp.seq),
                cp.hash,
                cp.time,
                parse_time_us(&cp.time).unwrap_or(0),
                cp.public_key,
                cp.signature
            ],
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(Some(cp))
    }

    fn retain(&mut self, _rt: &Runtime, cutoff_us: i64) -> Result<u64, String> {
        let upto: Option<i64> = self
            .conn
            .query_row(
                "SELECT MAX(seq) FROM raigate_checkpoints WHERE ts < ?1",
                params![cutoff_us],
                |r| r.get(0),
            )
            .map_err(db)?;
        let Some(upto) = upto else {
            return Ok(0);
        };
        let n = self
            .conn
            .execute(
                "DELETE FROM raigate_decisions WHERE seq <= ?1",
                params![upto],
            )
            .map_err(db)?;
        Ok(n as u64)
    }
}

fn record_of(r: &Row<'_>) -> rusqlite::Result<(DecisionRecord, i64)> {
    record_from_row!(r, get)
}

fn read(path: &Path) -> Result<Connection, TraceError> {
    connect(path, true).map_err(TraceError::Db)
}

fn dberr(e: rusqlite::Error) -> TraceError {
    TraceError::Db(e.to_string())
}

pub(super) fn page(
    path: &Path,
    filter: &Filter,
    after: Position,
    limit: u32,
) -> Result<Vec<(DecisionRecord, i64)>, TraceError> {
    let conn = read(path)?;
    let (cond, mut values) = filter.sql(after);
    values.push(SqlValue::Int(i64::from(limit)));
    // Tenant and outcome together are the most common compliance filter and the most
    // selective pair; sampled statistics sometimes lead SQLite to a rule or feature index.
    let hint = if filter.tenant.is_some() && filter.outcome.is_some() && !filter.by_time() {
        " INDEXED BY raigate_decisions_tenant_outcome"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM raigate_decisions{hint} WHERE {cond} ORDER BY {} LIMIT ${}",
        filter.order(),
        values.len()
    );
    let mut stmt = conn.prepare(&sql).map_err(dberr)?;
    let params = values.iter().map(|v| match v {
        SqlValue::Text(s) => rusqlite::types::Value::Text(s.clone()),
        SqlValue::Int(i) => rusqlite::types::Value::Integer(*i),
    });
    let rows = stmt
        .query_map(params_from_iter(params), record_of)
        .map_err(dberr)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(dberr)
}

pub(super) fn get(path: &Path, id: &str) -> Result<Option<DecisionRecord>, TraceError> {
    let conn = read(path)?;
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM raigate_decisions WHERE id = ?1"),
        params![id],
        record_of,
    )
    .optional()
    .map(|r| r.map(|(rec, _)| rec))
    .map_err(dberr)
}

pub(super) fn checkpoints(path: &Path) -> Result<Vec<Checkpoint>, TraceError> {
    let conn = read(path)?;
    let mut stmt = conn
        .prepare(
            "SELECT seq, hash, time, public_key, signature FROM raigate_checkpoints ORDER BY seq",
        )
        .map_err(dberr)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(Checkpoint {
                seq: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                hash: r.get(1)?,
                time: r.get(2)?,
                public_key: r.get(3)?,
                signature: r.get(4)?,
            })
        })
        .map_err(dberr)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(dberr)
}

pub(super) fn head(path: &Path) -> Result<(u64, String), TraceError> {
    let conn = read(path)?;
    head_of(&conn).map_err(TraceError::Db)
}
