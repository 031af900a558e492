//! The decision store's schema, shared by both dialects: numbered migrations, the column list,
//! and the one mapping from a row to a [`DecisionRecord`].
//!
//! Migrations run when a store opens, in one transaction under a lock (SQLite: `BEGIN
//! IMMEDIATE`; PostgreSQL: an advisory lock per schema), each exactly once: SQLite counts them
//! in `PRAGMA user_version`, PostgreSQL in `raigate_trace_migrations`. Migration 1 is the
//! v0.1.0 schema written with `IF NOT EXISTS`, so a database created by v0.1.0 (which had no
//! migration count) takes it as a no-op and goes on from there.

use crate::trace::DecisionRecord;

/// The SQL dialect a statement is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    #[cfg_attr(not(feature = "store-sqlite"), allow(dead_code))]
    Sqlite,
    #[cfg_attr(not(feature = "store-postgres"), allow(dead_code))]
    Postgres,
}

impl Dialect {
    fn int(self) -> &'static str {
        match self {
            Dialect::Sqlite => "INTEGER",
            Dialect::Postgres => "BIGINT",
        }
    }
    fn boolean(self) -> &'static str {
        match self {
            Dialect::Sqlite => "INTEGER",
            Dialect::Postgres => "BOOLEAN",
        }
    }
    fn real(self) -> &'static str {
        match self {
            Dialect::Sqlite => "REAL",
            Dialect::Postgres => "DOUBLE PRECISION",
        }
    }
}

/// The migrations, in order; migration `n` is `migrations(d)[n - 1]`, a list of statements.
pub(crate) fn migrations(d: Dialect) -> Vec<Vec<String>> {
    let (int, boolean, real) = (d.int(), d.boolean(), d.real());
    let v1 = vec![
        format!(
            "CREATE TABLE IF NOT EXISTS raigate_decisions (
    seq {int} PRIMARY KEY,
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
    shadow {boolean} NOT NULL,
    rule TEXT,
    reason TEXT NOT NULL,
    obligations TEXT NOT NULL,
    policy_version TEXT NOT NULL,
    tenant_version {int},
    trace_id TEXT,
    latency_us {int} NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    ts {int} NOT NULL
)"
        ),
        "CREATE TABLE IF NOT EXISTS raigate_chain_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq {int} NOT NULL,
    hash TEXT NOT NULL
)"
        .replace("{int}", int),
        format!(
            "CREATE TABLE IF NOT EXISTS raigate_checkpoints (
    seq {int} PRIMARY KEY,
    hash TEXT NOT NULL,
    time TEXT NOT NULL,
    ts {int} NOT NULL,
    public_key TEXT NOT NULL,
    signature TEXT NOT NULL
)"
        ),
        "CREATE INDEX IF NOT EXISTS raigate_decisions_tenant ON raigate_decisions (tenant, seq)".into(),
        "CREATE INDEX IF NOT EXISTS raigate_decisions_outcome ON raigate_decisions (outcome, seq)".into(),
        "CREATE INDEX IF NOT EXISTS raigate_decisions_tenant_outcome ON raigate_decisions (tenant, outcome, seq)".into(),
        "CREATE INDEX IF NOT EXISTS raigate_decisions_feature ON raigate_decisions (feature, seq)".into(),
        "CREATE INDEX IF NOT EXISTS raigate_decisions_rule ON raigate_decisions (rule, seq)".into(),
        "CREATE INDEX IF NOT EXISTS raigate_decisions_subject ON raigate_decisions (subject, seq)".into(),
        "CREATE INDEX IF NOT EXISTS raigate_decisions_ts ON raigate_decisions (ts, seq)".into(),
    ];
    // The record fields of the response, egress and detector work (every record carries them,
    // null or empty where they do not apply). Records written before have no phase column
    // value of their own: `request`, or `admin` for admin changes.
    let mut v2: Vec<String> = [
        "phase TEXT NOT NULL DEFAULT 'request'".to_owned(),
        "parent_id TEXT".to_owned(),
        "detector TEXT".to_owned(),
        format!("score {real}"),
        "view TEXT".to_owned(),
        "output_sha256 TEXT NOT NULL DEFAULT '[]'".to_owned(),
        format!("output_bytes {int}"),
        "labels TEXT NOT NULL DEFAULT '[]'".to_owned(),
        "\"end\" TEXT".to_owned(),
        "provider TEXT".to_owned(),
        "endpoint_class TEXT".to_owned(),
        "provider_region TEXT".to_owned(),
    ]
    .into_iter()
    .map(|col| format!("ALTER TABLE raigate_decisions ADD COLUMN {col}"))
    .collect();
    v2.push("UPDATE raigate_decisions SET phase = 'admin' WHERE class = 'admin'".into());
    v2.push(
        "CREATE INDEX IF NOT EXISTS raigate_decisions_parent ON raigate_decisions (parent_id)"
            .into(),
    );
    vec![v1, v2]
}

/// Columns of `raigate_decisions` in select and insert order (both dialects).
pub(crate) const COLUMNS: &str = "seq, id, time, tenant, subject, feature, route, class, purpose, \
data_class, region, upstream, outcome, shadow, rule, reason, obligations, policy_version, \
tenant_version, trace_id, latency_us, prev_hash, hash, ts, phase, parent_id, detector, score, \
view, output_sha256, output_bytes, labels, \"end\", provider, endpoint_class, provider_region";

/// How many columns [`COLUMNS`] names.
#[cfg(feature = "store-postgres")]
pub(crate) const COLUMN_COUNT: usize = 36;

/// A JSON list column (`obligations`, `output_sha256`, `labels`).
pub(crate) fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".to_owned())
}

/// `(DecisionRecord, ts)` from a row in [`COLUMNS`] order; `$get` is the driver's typed
/// getter (`get` for rusqlite, `try_get` for tokio-postgres): the drivers share no trait, so
/// the mapping is written once as a macro.
macro_rules! record_from_row {
    ($r:expr, $get:ident) => {{
        let r = $r;
        let list = |s: String| serde_json::from_str::<Vec<String>>(&s).unwrap_or_else(|_| vec![s]);
        let count = |v: i64| u64::try_from(v).unwrap_or(0);
        let mut rec = DecisionRecord::new(
            $crate::trace::Phase::parse(&r.$get::<_, String>(24)?).unwrap_or_default(),
            r.$get::<_, String>(1)?,
            r.$get::<_, String>(2)?,
        );
        rec.seq = Some(count(r.$get::<_, i64>(0)?));
        rec.tenant = r.$get(3)?;
        rec.subject = r.$get(4)?;
        rec.feature = r.$get(5)?;
        rec.route = r.$get(6)?;
        rec.class = r.$get(7)?;
        rec.purpose = r.$get(8)?;
        rec.data_class = r.$get(9)?;
        rec.region = r.$get(10)?;
        rec.upstream = r.$get(11)?;
        rec.outcome = r.$get(12)?;
        rec.shadow = r.$get(13)?;
        rec.rule = r.$get(14)?;
        rec.reason = r.$get(15)?;
        rec.obligations = list(r.$get(16)?);
        rec.policy_version = r.$get(17)?;
        rec.tenant_version = r.$get::<_, Option<i64>>(18)?.map(count);
        rec.trace_id = r.$get(19)?;
        rec.latency_us = count(r.$get::<_, i64>(20)?);
        rec.prev_hash = Some(r.$get(21)?);
        rec.hash = Some(r.$get(22)?);
        rec.parent_id = r.$get(25)?;
        rec.detector = r.$get(26)?;
        rec.score = r.$get(27)?;
        rec.view = r.$get(28)?;
        rec.output_sha256 = list(r.$get(29)?);
        rec.output_bytes = r.$get::<_, Option<i64>>(30)?.map(count);
        rec.labels = list(r.$get(31)?);
        rec.end = r.$get(32)?;
        rec.provider = r.$get(33)?;
        rec.endpoint_class = r.$get(34)?;
        rec.provider_region = r.$get(35)?;
        Ok((rec, r.$get(23)?))
    }};
}
pub(crate) use record_from_row;

/// A record's `ts` column (µs since the epoch).
pub(crate) fn ts_of(r: &DecisionRecord) -> i64 {
    crate::trace::chain::parse_time_us(&r.time).unwrap_or(0)
}
