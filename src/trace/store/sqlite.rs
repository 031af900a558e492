//! SQLite backend: WAL, one writer connection on the writer thread, read-only connections
//! for queries.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params, params_from_iter};
use tokio::runtime::Runtime;

use super::{AnalyzeSchedule, COLUMNS, ChainWriter, INDEXES, TraceError, ts_of};
use crate::trace::DecisionRecord;
use crate::trace::chain::{Checkpoint, CheckpointKey, GENESIS, parse_time_us, stamp};
use crate::trace::query::{Filter, Position, SqlValue};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS raigate_decisions (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    time TEXT NOT NULL,
    tenant TEXT,
    subject TEXT,
    feature TEXT,
    route TEXT NOT NULL,
    class TEXT NOT NULL,
    purpose TEXT,
    data_class TEXT NOT NULL,
    region TEXT NOT NULL,
    upstream TEXT,
    outcome TEXT NOT NULL,
    shadow INTEGER NOT NULL,
    rule TEXT,
    reason TEXT NOT NULL,
    obligations TEXT NOT NULL,
    policy_version TEXT NOT NULL,
    tenant_version INTEGER,
    trace_id TEXT,
    latency_us INTEGER NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    ts INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS raigate_chain_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS raigate_checkpoints (
    seq INTEGER PRIMARY KEY,
    hash TEXT NOT NULL,
    time TEXT NOT NULL,
    ts INTEGER NOT NULL,
    public_key TEXT NOT NULL,
    signature TEXT NOT NULL
);
";

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

/// Create the tables (idempotent) and switch the file to WAL.
pub(super) fn init(path: &Path) -> Result<(), TraceError> {
    let conn = connect(path, false).map_err(TraceError::Db)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(|e| TraceError::Db(e.to_string()))?;
    conn.execute_batch(SCHEMA)
        .map_err(|e| TraceError::Db(e.to_string()))?;
    for ix in INDEXES {
        conn.execute(ix, [])
            .map_err(|e| TraceError::Db(e.to_string()))?;
    }
    conn.execute(
        "INSERT INTO raigate_chain_head (id, seq, hash) VALUES (1, 0, ?1) ON CONFLICT (id) DO NOTHING",
        params![GENESIS],
    )
    .map_err(|e| TraceError::Db(e.to_string()))?;
    Ok(())
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
                     (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)"
                ))
                .map_err(db)?;
            for r in batch.iter_mut() {
                (seq, hash) = stamp(r, seq, &hash);
                let obligations =
                    serde_json::to_string(&r.obligations).map_err(|e| e.to_string())?;
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
                    obligations,
                    r.policy_version,
                    r.tenant_version.map(to_i64),
                    r.trace_id,
                    to_i64(r.latency_us),
                    r.prev_hash,
                    r.hash,
                    ts_of(r),
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
