//! Compliance queries: filters, stable cursor pagination, streaming export encodings.

use serde::{Deserialize, Serialize};

use super::DecisionRecord;
use super::chain::parse_time_us;

/// Most decisions one page returns.
pub const MAX_PAGE: u32 = 1000;
/// Decisions per page when no limit is given.
pub const DEFAULT_PAGE: u32 = 100;

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

/// A query that cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{param}: {reason}")]
pub struct QueryError {
    /// The parameter at fault.
    pub param: &'static str,
    /// Why.
    pub reason: String,
}

/// One page of decisions, oldest first (`seq` order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

impl Filter {
    /// `WHERE seq > $1 AND …` and its values (after_seq first). Placeholders are `$1…$n`,
    /// each used once in order, which SQLite and PostgreSQL both read.
    pub(crate) fn sql(&self, after_seq: u64) -> (String, Vec<SqlValue>) {
        let mut sql = String::from("seq > $1");
        let mut values = vec![SqlValue::Int(i64::try_from(after_seq).unwrap_or(i64::MAX))];
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
    pub(crate) fn compile(&self) -> Result<(Filter, u64, u32), QueryError> {
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
        let after = match &self.cursor {
            None => 0,
            Some(c) => decode_cursor(c).ok_or_else(|| QueryError {
                param: "cursor",
                reason: "not a cursor this server issued".into(),
            })?,
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
        Ok((filter, after, limit))
    }
}

/// The opaque cursor after `seq`.
pub(crate) fn encode_cursor(seq: u64) -> String {
    hex::encode(format!("rg1:{seq}"))
}

fn decode_cursor(c: &str) -> Option<u64> {
    let raw = String::from_utf8(hex::decode(c).ok()?).ok()?;
    raw.strip_prefix("rg1:")?.parse().ok()
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

/// CSV columns, in the order of the record contract.
pub const CSV_COLUMNS: [&str; 23] = [
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
        assert_eq!(decode_cursor(&encode_cursor(42)), Some(42));
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
        let (sql, values) = f.sql(7);
        assert_eq!(sql, "seq > $1 AND tenant = $2 AND rule = $3 AND ts >= $4");
        assert_eq!(values.len(), 4);
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
