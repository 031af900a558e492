//! PostgreSQL backend: one writer connection on the writer thread (batch insert with `UNNEST`,
//! one transaction per batch, the head row locked `FOR UPDATE`), one lazily opened connection
//! for queries.

use std::sync::Arc;

use tokio::runtime::Runtime;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row};

use super::TraceError;
use super::schema::{
    COLUMN_COUNT, COLUMNS, Dialect, json_list, migrations, record_from_row, ts_of,
};
use super::writer::{AnalyzeSchedule, ChainWriter};
use crate::trace::DecisionRecord;
use crate::trace::chain::{Checkpoint, CheckpointKey, GENESIS, parse_time_us, stamp};
use crate::trace::query::{Filter, Position, SqlValue};

fn db(e: tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => format!("{}: {}", d.code().code(), d.message()),
        None => e.to_string(),
    }
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Connect, spawn the connection on the current runtime, select `schema`.
async fn connect(url: &str, schema: Option<&str>) -> Result<Client, String> {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.map_err(db)?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::warn!(error = %e, "decision store connection ended");
        }
    });
    if let Some(s) = schema {
        client
            .batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS {q}; SET search_path TO {q}",
                q = quote_ident(s)
            ))
            .await
            .map_err(db)?;
    }
    Ok(client)
}

pub(super) struct PgWriter {
    client: Client,
    analyze: AnalyzeSchedule,
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl PgWriter {
    pub(super) fn connect(rt: &Runtime, url: &str, schema: Option<&str>) -> Result<Self, String> {
        rt.block_on(async {
            // Replicas may race to create the schema; whoever loses tries once more.
            let mut client = match connect(url, schema).await {
                Ok(c) => c,
                Err(_) => connect(url, schema).await?,
            };
            migrate(&mut client, schema).await?;
            Ok(PgWriter {
                client,
                analyze: AnalyzeSchedule::new(),
            })
        })
    }
}

/// Run the pending migrations in one transaction under an advisory lock for the schema, so
/// replicas starting together migrate once; then make sure the chain head row exists.
async fn migrate(client: &mut Client, schema: Option<&str>) -> Result<(), String> {
    let tx = client.transaction().await.map_err(db)?;
    let key = format!("raigate-trace-migrate:{}", schema.unwrap_or(""));
    tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&key])
        .await
        .map_err(db)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS raigate_trace_migrations (
             version INTEGER PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )
    .await
    .map_err(db)?;
    for (n, statements) in migrations(Dialect::Postgres).into_iter().enumerate() {
        let version = i32::try_from(n + 1).map_err(|e| e.to_string())?;
        let done = tx
            .query_opt(
                "SELECT 1 FROM raigate_trace_migrations WHERE version = $1",
                &[&version],
            )
            .await
            .map_err(db)?
            .is_some();
        if done {
            continue;
        }
        for sql in statements {
            tx.batch_execute(&sql).await.map_err(db)?;
        }
        tx.execute(
            "INSERT INTO raigate_trace_migrations (version) VALUES ($1)",
            &[&version],
        )
        .await
        .map_err(db)?;
    }
    tx.execute(
        "INSERT INTO raigate_chain_head (id, seq, hash) VALUES (1, 0, $1) ON CONFLICT (id) DO NOTHING",
        &[&GENESIS],
    )
    .await
    .map_err(db)?;
    tx.commit().await.map_err(db)
}

async fn locked_head(tx: &tokio_postgres::Transaction<'_>) -> Result<(u64, String), String> {
    let row = tx
        .query_opt(
            "SELECT seq, hash FROM raigate_chain_head WHERE id = 1 FOR UPDATE",
            &[],
        )
        .await
        .map_err(db)?
        .ok_or_else(|| "the chain head row is missing".to_owned())?;
    let seq: i64 = row.try_get(0).map_err(db)?;
    Ok((u64::try_from(seq).unwrap_or(0), row.try_get(1).map_err(db)?))
}

impl ChainWriter for PgWriter {
    fn append(&mut self, rt: &Runtime, batch: &mut [DecisionRecord]) -> Result<(), String> {
        rt.block_on(async {
            let tx = self.client.transaction().await.map_err(db)?;
            let (mut seq, mut hash) = locked_head(&tx).await?;
            let n = batch.len();
            let mut seqs = Vec::with_capacity(n);
            let mut ids = Vec::with_capacity(n);
            let mut times = Vec::with_capacity(n);
            let mut tenants = Vec::with_capacity(n);
            let mut subjects = Vec::with_capacity(n);
            let mut features = Vec::with_capacity(n);
            let mut routes = Vec::with_capacity(n);
            let mut classes = Vec::with_capacity(n);
            let mut purposes = Vec::with_capacity(n);
            let mut data_classes = Vec::with_capacity(n);
            let mut regions = Vec::with_capacity(n);
            let mut upstreams = Vec::with_capacity(n);
            let mut outcomes = Vec::with_capacity(n);
            let mut shadows = Vec::with_capacity(n);
            let mut rules = Vec::with_capacity(n);
            let mut reasons = Vec::with_capacity(n);
            let mut obligations = Vec::with_capacity(n);
            let mut policy_versions = Vec::with_capacity(n);
            let mut tenant_versions = Vec::with_capacity(n);
            let mut trace_ids = Vec::with_capacity(n);
            let mut latencies = Vec::with_capacity(n);
            let mut prevs = Vec::with_capacity(n);
            let mut hashes = Vec::with_capacity(n);
            let mut tss = Vec::with_capacity(n);
            let mut phases = Vec::with_capacity(n);
            let mut parents = Vec::with_capacity(n);
            let mut detectors = Vec::with_capacity(n);
            let mut scores = Vec::with_capacity(n);
            let mut views = Vec::with_capacity(n);
            let mut outputs = Vec::with_capacity(n);
            let mut output_bytes = Vec::with_capacity(n);
            let mut labels = Vec::with_capacity(n);
            let mut ends = Vec::with_capacity(n);
            let mut providers = Vec::with_capacity(n);
            let mut endpoint_classes = Vec::with_capacity(n);
            let mut provider_regions = Vec::with_capacity(n);
            for r in batch.iter_mut() {
                (seq, hash) = stamp(r, seq, &hash);
                seqs.push(to_i64(seq));
                ids.push(r.id.clone());
                times.push(r.time.clone());
                tenants.push(r.tenant.clone());
                subjects.push(r.subject.clone());
                features.push(r.feature.clone());
                routes.push(r.route.clone());
                classes.push(r.class.clone());
                purposes.push(r.purpose.clone());
                data_classes.push(r.data_class.clone());
                regions.push(r.region.clone());
                upstreams.push(r.upstream.clone());
                outcomes.push(r.outcome.clone());
                shadows.push(r.shadow);
                rules.push(r.rule.clone());
                reasons.push(r.reason.clone());
                obligations.push(json_list(&r.obligations));
                policy_versions.push(r.policy_version.clone());
                tenant_versions.push(r.tenant_version.map(to_i64));
                trace_ids.push(r.trace_id.clone());
                latencies.push(to_i64(r.latency_us));
                prevs.push(r.prev_hash.clone().unwrap_or_default());
                hashes.push(r.hash.clone().unwrap_or_default());
                tss.push(ts_of(r));
                phases.push(r.phase.as_str());
                parents.push(r.parent_id.clone());
                detectors.push(r.detector.clone());
                scores.push(r.score);
                views.push(r.view.clone());
                outputs.push(json_list(&r.output_sha256));
                output_bytes.push(r.output_bytes.map(to_i64));
                labels.push(json_list(&r.labels));
                ends.push(r.end.clone());
                providers.push(r.provider.clone());
                endpoint_classes.push(r.endpoint_class.clone());
                provider_regions.push(r.provider_region.clone());
            }
            let params: [&(dyn ToSql + Sync); COLUMN_COUNT] = [
                &seqs, &ids, &times, &tenants, &subjects, &features, &routes, &classes,
                &purposes, &data_classes, &regions, &upstreams, &outcomes, &shadows, &rules,
                &reasons, &obligations, &policy_versions, &tenant_versions, &trace_ids,
                &latencies, &prevs, &hashes, &tss, &phases, &parents, &detectors, &scores,
                &views, &outputs, &output_bytes, &labels, &ends, &providers, &endpoint_classes,
                &provider_regions,
            ];
            tx.execute(
                &format!(
                    "INSERT INTO raigate_decisions ({COLUMNS}) SELECT * FROM UNNEST(\
                     $1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
                     $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], \
                     $13::text[], $14::bool[], $15::text[], $16::text[], $17::text[], $18::text[], \
                     $19::bigint[], $20::text[], $21::bigint[], $22::text[], $23::text[], $24::bigint[], \
                     $25::text[], $26::text[], $27::text[], $28::float8[], $29::text[], $30::text[], \
                     $31::bigint[], $32::text[], $33::text[], $34::text[], $35::text[], $36::text[])"
                ),
                &params,
            )
            .await
            .map_err(db)?;
            tx.execute(
                "UPDATE raigate_chain_head SET seq = $1, hash = $2 WHERE id = 1",
                &[&to_i64(seq), &hash],
            )
            .await
            .map_err(db)?;
            tx.commit().await.map_err(db)?;
            if self.analyze.due(n)
                && let Err(e) = self.client.batch_execute("ANALYZE raigate_decisions").await
            {
                tracing::warn!(error = %db(e), "ANALYZE of the decision table failed");
            }
            Ok(())
        })
    }

    fn checkpoint(
        &mut self,
        rt: &Runtime,
        key: &CheckpointKey,
    ) -> Result<Option<Checkpoint>, String> {
        rt.block_on(async {
            let tx = self.client.transaction().await.map_err(db)?;
            let (seq, hash) = locked_head(&tx).await?;
            let last: Option<i64> = tx
                .query_one("SELECT MAX(seq) FROM raigate_checkpoints", &[])
                .await
                .map_err(db)?
                .try_get(0)
                .map_err(db)?;
            if last.is_some_and(|l| l >= to_i64(seq)) {
                return Ok(None);
            }
            let cp = key.sign(seq, &hash);
            tx.execute(
                "INSERT INTO raigate_checkpoints (seq, hash, time, ts, public_key, signature) VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &to_i64(cp.seq),
                    &cp.hash,
                    &cp.time,
                    &parse_time_us(&cp.time).unwrap_or(0),
                    &cp.public_key,
                    &cp.signature,
                ],
            )
            .await
            .map_err(db)?;
            tx.commit().await.map_err(db)?;
            Ok(Some(cp))
        })
    }

    fn retain(&mut self, rt: &Runtime, cutoff_us: i64) -> Result<u64, String> {
        rt.block_on(async {
            let upto: Option<i64> = self
                .client
                .query_one(
                    "SELECT MAX(seq) FROM raigate_checkpoints WHERE ts < $1",
                    &[&cutoff_us],
                )
                .await
                .map_err(db)?
                .try_get(0)
                .map_err(db)?;
            let Some(upto) = upto else {
                return Ok(0);
            };
            self.client
                .execute("DELETE FROM raigate_decisions WHERE seq <= $1", &[&upto])
                .await
                .map_err(db)
        })
    }
}

fn record_of(r: &Row) -> Result<(DecisionRecord, i64), tokio_postgres::Error> {
    record_from_row!(r, try_get)
}

fn to_params(values: &[SqlValue]) -> Vec<&(dyn ToSql + Sync)> {
    values
        .iter()
        .map(|v| match v {
            SqlValue::Text(s) => s as &(dyn ToSql + Sync),
            SqlValue::Int(i) => i as &(dyn ToSql + Sync),
        })
        .collect()
}

/// The query side: one connection, opened on first use (and again if it dropped).
pub(crate) struct PgReader {
    url: String,
    schema: Option<String>,
    client: tokio::sync::Mutex<Option<Arc<Client>>>,
}

fn dberr(e: tokio_postgres::Error) -> TraceError {
    TraceError::Db(db(e))
}

impl PgReader {
    pub(super) fn new(url: &str, schema: Option<String>) -> Self {
        PgReader {
            url: url.to_owned(),
            schema,
            client: tokio::sync::Mutex::new(None),
        }
    }

    async fn client(&self) -> Result<Arc<Client>, TraceError> {
        let mut slot = self.client.lock().await;
        if let Some(c) = slot.as_ref()
            && !c.is_closed()
        {
            return Ok(c.clone());
        }
        let c = Arc::new(
            connect(&self.url, self.schema.as_deref())
                .await
                .map_err(TraceError::Db)?,
        );
        *slot = Some(c.clone());
        Ok(c)
    }

    pub(super) async fn page(
        &self,
        filter: &Filter,
        after: Position,
        limit: u32,
    ) -> Result<Vec<(DecisionRecord, i64)>, TraceError> {
        let client = self.client().await?;
        let (cond, mut values) = filter.sql(after);
        values.push(SqlValue::Int(i64::from(limit)));
        let sql = format!(
            "SELECT {COLUMNS} FROM raigate_decisions WHERE {cond} ORDER BY {} LIMIT ${}",
            filter.order(),
            values.len()
        );
        let rows = client
            .query(&sql, &to_params(&values))
            .await
            .map_err(dberr)?;
        rows.iter().map(|r| record_of(r).map_err(dberr)).collect()
    }

    pub(super) async fn get(&self, id: &str) -> Result<Option<DecisionRecord>, TraceError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {COLUMNS} FROM raigate_decisions WHERE id = $1"),
                &[&id],
            )
            .await
            .map_err(dberr)?;
        row.map(|r| record_of(&r).map(|(rec, _)| rec).map_err(dberr))
            .transpose()
    }

    pub(super) async fn checkpoints(&self) -> Result<Vec<Checkpoint>, TraceError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT seq, hash, time, public_key, signature FROM raigate_checkpoints ORDER BY seq",
                &[],
            )
            .await
            .map_err(dberr)?;
        rows.iter()
            .map(|r| {
                Ok(Checkpoint {
                    seq: u64::try_from(r.try_get::<_, i64>(0).map_err(dberr)?).unwrap_or(0),
                    hash: r.try_get(1).map_err(dberr)?,
                    time: r.try_get(2).map_err(dberr)?,
                    public_key: r.try_get(3).map_err(dberr)?,
                    signature: r.try_get(4).map_err(dberr)?,
                })
            })
            .collect()
    }

    pub(super) async fn head(&self) -> Result<(u64, String), TraceError> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT seq, hash FROM raigate_chain_head WHERE id = 1", &[])
            .await
            .map_err(dberr)?
            .ok_or_else(|| TraceError::Db("the chain head row is missing".into()))?;
        let seq: i64 = row.try_get(0).map_err(dberr)?;
        Ok((
            u64::try_from(seq).unwrap_or(0),
            row.try_get(1).map_err(dberr)?,
        ))
    }
}
