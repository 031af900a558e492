//! Compliance queries: filters, stable cursor pagination, streaming export encodings.

use serde::{Deserialize, Serialize};

use super::DecisionRecord;
use super::chain::parse_time_us;

/// Most decisions one page returns.
pub(crate) const MAX_PAGE: u32 = 1000;
/// Decisions per page when no limit is given.
pub(crate) const DEFAULT_PAGE: u32 = 100;

/// Filters of `GET /v1/decisions` (all optional; combined with AND).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionQuery {
    /// Only this tenant.
    pub tenant: Option<String>,
    /// `allow` or `deny`.
    pub outcome: Option<String>,
    /// Only this feature.
    pub feature: Option<String>,
    /// Only this rule.
    pub rule: Option<String>,
    /// Only this pseudonymous subject (`ps_…`).
    pub subject: Option<String>,
    /// From this time on, inclusive (RFC 3339, UTC `Z`).
    pub since: Option<String>,
    /// Before this time, exclusive (RFC 3339, UTC `Z`).
    pub until: Option<String>,
    /// Page size (default 100, at most 1000).
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Export format (`jsonl` or `csv`), for the export route only.
    pub format: Option<String>,
}

/// Why a decision query could not be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{param}: {reason}")]
pub struct QueryError {
    /// The parameter at fault.
    pub param: &'static str,
    /// Why.
    pub reason: String,
}

/// One page of decisions, oldest first: in `seq` order, or in (`time`, `seq`) order when the
/// query has a time range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "admin", derive(utoipa::ToSchema))]
pub struct DecisionPage {
    /// The decisions.
    pub decisions: Vec<DecisionRecord>,
    /// Cursor for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

/// A value bound to a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SqlValue {
    Text(String),
    Int(i64),
}

/// A checked filter, ready to become SQL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Filter {
    pub(crate) tenant: Option<String>,
    pub(crate) outcome: Option<String>,
    pub(crate) feature: Option<String>,
    pub(crate) rule: Option<String>,
    pub(crate) subject: Option<String>,
    pub(crate) since_us: Option<i64>,
    pub(crate) until_us: Option<i64>,
}

/// Where a page starts: after this key, in the filter's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Position {
    /// After this `seq` (order: `seq`).
    Seq(u64),
    /// After this (`ts`, `seq`) (order: `ts, seq`; queries with a time range).
    TsSeq(i64, u64),
}

fn int(v: u64) -> SqlValue {
    SqlValue::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

impl Filter {
    /// Whether pages are ordered by time (the query has a time range): then the `(ts, seq)`
    /// index serves range and order at once, wherever the range lies.
    pub(crate) fn by_time(&self) -> bool {
        self.since_us.is_some() || self.until_us.is_some()
    }

    /// The position before the first record.
    pub(crate) fn start(&self) -> Position {
        if self.by_time() {
            Position::TsSeq(i64::MIN, 0)
        } else {
            Position::Seq(0)
        }
    }

    /// The position of a record (with its stored `ts`) in this filter's order.
    pub(crate) fn position_of(&self, r: &DecisionRecord, ts: i64) -> Position {
        let seq = r.seq.unwrap_or(0);
        if self.by_time() {
            Position::TsSeq(ts, seq)
        } else {
            Position::Seq(seq)
        }
    }

    /// The `ORDER BY` of this filter's pages.
    pub(crate) fn order(&self) -> &'static str {
        if self.by_time() { "ts, seq" } else { "seq" }
    }

    /// `WHERE (position) AND …` and its values (the position first). Placeholders are
    /// `$1…$n`, each used once in order, which SQLite and PostgreSQL both read.
    pub(crate) fn sql(&self, after: Position) -> (String, Vec<SqlValue>) {
        let (mut sql, mut values) = match after {
            Position::Seq(seq) => (String::from("seq > $1"), vec![int(seq)]),
            Position::TsSeq(ts, seq) => (
                String::from("(ts > $1 OR (ts = $2 AND seq > $3))"),
                vec![SqlValue::Int(ts), SqlValue::Int(ts), int(seq)],
            ),
        };
        let mut add = |col: &str, op: &str, v: SqlValue| {
            values.push(v);
            sql.push_str(&format!(" AND {col} {op} ${}", values.len()));
        };
        for (col, v) in [
            ("tenant", &self.tenant),
            ("outcome", &self.outcome),
            ("feature", &self.feature),
            ("rule", &self.rule),
            ("subject", &self.subject),
        ] {
            if let Some(v) = v {
                add(col, "=", SqlValue::Text(v.clone()));
            }
        }
        if let Some(s) = self.since_us {
            add("ts", ">=", SqlValue::Int(s));
        }
        if let Some(u) = self.until_us {
            add("ts", "<", SqlValue::Int(u));
        }
        (sql, values)
    }
}

impl DecisionQuery {
    /// Check the query: times parse, the limit is in range, the cursor is ours.
    /// Returns the filter, the seq to start after and the page size.
    pub(crate) fn compile(&self) -> Result<(Filter, Position, u32), QueryError> {
        let time = |param: &'static str, v: &Option<String>| -> Result<Option<i64>, QueryError> {
            v.as_deref()
                .map(|t| {
                    parse_time_us(t).ok_or_else(|| QueryError {
                        param,
                        reason: format!(
                            "`{t}` is not an RFC 3339 UTC time like 2026-01-31T12:00:00Z"
                        ),
                    })
                })
                .transpose()
        };
        if let Some(o) = &self.outcome
            && o != "allow"
            && o != "deny"
        {
            return Err(QueryError {
                param: "outcome",
                reason: format!("`{o}` is neither allow nor deny"),
            });
        }
        let limit = match self.limit {
            None => DEFAULT_PAGE,
            Some(0) => {
                return Err(QueryError {
                    param: "limit",
                    reason: "must be at least 1".into(),
                });
            }
            Some(n) => n.min(MAX_PAGE),
        };
        let filter = Filter {
            tenant: self.tenant.clone(),
            outcome: self.outcome.clone(),
            feature: self.feature.clone(),
            rule: self.rule.clone(),
            subject: self.subject.clone(),
            since_us: time("since", &self.since)?,
            until_us: time("until", &self.until)?,
        };
        let after = match &self.cursor {
            None => filter.start(),
            Some(c) => decode_cursor(c)
                .filter(|p| matches!(p, Position::TsSeq(..)) == filter.by_time())
                .ok_or_else(|| QueryError {
                    param: "cursor",
                    reason: "not a cursor this server issued for this query".into(),
                })?,
        };
        Ok((filter, after, limit))
    }
}

/// The opaque cursor after `position`.
pub(crate) fn encode_cursor(position: Position) -> String {
    match position {
        Position::Seq(seq) => hex::encode(format!("rg1:{seq}")),
        Position::TsSeq(ts, seq) => hex::encode(format!("rg2:{ts}:{seq}")),
    }
}

fn decode_cursor(c: &str) -> Option<Position> {
    let raw = String::from_utf8(hex::decode(c).ok()?).ok()?;
    if let Some(seq) = raw.strip_prefix("rg1:") {
        return Some(Position::Seq(seq.parse().ok()?));
    }
    let (ts, seq) = raw.strip_prefix("rg2:")?.split_once(':')?;
    Some(Position::TsSeq(ts.parse().ok()?, seq.parse().ok()?))
}

/// Export encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExportFormat {
    /// JSON Lines: one record per line.
    #[default]
    Jsonl,
    /// CSV with a header row; `obligations` joined with `;`.
    Csv,
}

impl ExportFormat {
    /// Parse `jsonl` or `csv`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "jsonl" | "ndjson" => Some(ExportFormat::Jsonl),
            "csv" => Some(ExportFormat::Csv),
            _ => None,
        }
    }

    /// The `Content-Type` of the export.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Jsonl => "application/jsonl",
            ExportFormat::Csv => "text/csv; charset=utf-8",
        }
    }

    /// What comes before the first record (the CSV header row).
    pub fn header(self) -> Vec<u8> {
        match self {
            ExportFormat::Jsonl => Vec::new(),
            ExportFormat::Csv => {
                let mut s = CSV_COLUMNS.join(",");
                s.push_str("\r\n");
                s.into_bytes()
            }
        }
    }

    /// Append `records` in this format to `out`.
    pub fn encode(self, records: &[DecisionRecord], out: &mut Vec<u8>) {
        for r in records {
            match self {
                ExportFormat::Jsonl => {
                    if serde_json::to_writer(&mut *out, r).is_ok() {
                        out.push(b'\n');
                    }
                }
                ExportFormat::Csv => csv_row(r, out),
            }
        }
    }
}

/// CSV columns: the v0.1.0 columns in their order, then the record fields added since, in
/// record order (appended, so existing readers keep their column positions).
pub const CSV_COLUMNS: [&str; 35] = [
    "id",
    "time",
    "tenant",
    "subject",
    "feature",
    "route",
    "class",
    "purpose",
    "data_class",
    "region",
    "upstream",
    "outcome",
    "shadow",
    "rule",
    "reason",
    "obligations",
    "policy_version",
    "tenant_version",
    "trace_id",
    "latency_us",
    "seq",
    "prev_hash",
    "hash",
    "phase",
    "parent_id",
    "detector",
    "score",
    "view",
    "output_sha256",
    "output_bytes",
    "labels",
    "end",
    "provider",
    "endpoint_class",
    "provider_region",
];

fn csv_row(r: &DecisionRecord, out: &mut Vec<u8>) {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let num = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_default();
    let cells = [
        r.id.clone(),
        r.time.clone(),
        opt(&r.tenant),
        opt(&r.subject),
        opt(&r.feature),
        r.route.clone(),
        r.class.clone(),
        opt(&r.purpose),
        r.data_class.clone(),
        r.region.clone(),
        opt(&r.upstream),
        r.outcome.clone(),
        r.shadow.to_string(),
        opt(&r.rule),
        r.reason.clone(),
        r.obligations.join(";"),
        r.policy_version.clone(),
        num(r.tenant_version),
        opt(&r.trace_id),
        r.latency_us.to_string(),
        num(r.seq),
        opt(&r.prev_hash),
        opt(&r.hash),
        r.phase.as_str().to_owned(),
        opt(&r.parent_id),
        opt(&r.detector),
        r.score.map(|s| s.to_string()).unwrap_or_default(),
        opt(&r.view),
        r.output_sha256.join(";"),
        num(r.output_bytes),
        r.labels.join(";"),
        opt(&r.end),
        opt(&r.provider),
        opt(&r.endpoint_class),
        opt(&r.provider_region),
    ];
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        csv_cell(c, out);
    }
    out.extend_from_slice(b"\r\n");
}

/// RFC 4180 quoting; a cell a spreadsheet would read as a formula gets a leading `'`.
fn csv_cell(c: &str, out: &mut Vec<u8>) {
    let formula = c.starts_with(['=', '+', '-', '@']);
    let quote = formula || c.contains([',', '"', '\n', '\r']);
    if !quote {
        out.extend_from_slice(c.as_bytes());
        return;
    }
    out.push(b'"');
    if formula {
        out.push(b'\'');
    }
    out.extend_from_slice(c.replace('"', "\"\"").as_bytes());
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        assert_eq!(
            decode_cursor(&encode_cursor(Position::Seq(42))),
            Some(Position::Seq(42))
        );
        assert_eq!(
            decode_cursor(&encode_cursor(Position::TsSeq(-5, 42))),
            Some(Position::TsSeq(-5, 42))
        );
        assert_eq!(decode_cursor("zz"), None);
        assert_eq!(decode_cursor(&hex::encode("42")), None);
    }

    #[test]
    fn filters_number_their_placeholders_in_order() {
        let f = Filter {
            tenant: Some("acme".into()),
            rule: Some("r".into()),
            since_us: Some(5),
            ..Filter::default()
        };
        let (sql, values) = f.sql(f.start());
        assert_eq!(
            sql,
            "(ts > $1 OR (ts = $2 AND seq > $3)) AND tenant = $4 AND rule = $5 AND ts >= $6"
        );
        assert_eq!(values.len(), 6);
        assert_eq!(f.order(), "ts, seq");
    }

    #[test]
    fn csv_cells_are_quoted() {
        let mut out = Vec::new();
        csv_cell("a,b", &mut out);
        csv_cell("=1+1", &mut out);
        csv_cell("say \"hi\"", &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap_or_default(),
            "\"a,b\"\"'=1+1\"\"say \"\"hi\"\"\""
        );
    }
}
