//! Verification of the hash chain against the signed checkpoints.

use std::collections::BTreeMap;

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use super::chain::{Checkpoint, GENESIS, parse_time_us, record_hash};
use super::query::{Filter, Position};
use super::{DecisionRecord, TraceError, TraceStore};

/// The answer of `GET /v1/audit/verify` and `raigate audit verify` (see `docs/admin-api.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "admin", derive(utoipa::ToSchema))]
pub struct VerifyReport {
    /// The chain is intact.
    pub ok: bool,
    /// Records checked.
    pub records: u64,
    /// The first seq that is missing, altered, inserted or out of order.
    pub first_bad_seq: Option<u64>,
    /// What was found (or what was checked, when ok).
    pub detail: String,
}

impl VerifyReport {
    fn bad(records: u64, seq: u64, detail: String) -> Self {
        VerifyReport {
            ok: false,
            records,
            first_bad_seq: Some(seq),
            detail,
        }
    }
}

/// Walks records in seq order and finds the first one that breaks the chain.
#[derive(Debug)]
struct ChainVerifier {
    checkpoints: BTreeMap<u64, Checkpoint>,
    expected: u64,
    prev: String,
    records: u64,
    bad: Option<(u64, String)>,
}

impl ChainVerifier {
    /// A verifier anchored at the checkpoints (already signature-checked).
    fn new(checkpoints: Vec<Checkpoint>, first_seq: u64) -> Result<Self, (u64, String)> {
        let checkpoints: BTreeMap<u64, Checkpoint> =
            checkpoints.into_iter().map(|c| (c.seq, c)).collect();
        let (expected, prev) = if first_seq <= 1 {
            (1, GENESIS.to_owned())
        } else {
            match checkpoints.get(&(first_seq - 1)) {
                Some(c) => (first_seq, c.hash.clone()),
                None => {
                    let covered = checkpoints
                        .range(..first_seq)
                        .next_back()
                        .map_or(0, |(s, _)| *s);
                    return Err((
                        covered + 1,
                        format!(
                            "records {}..{} are missing and no checkpoint covers them",
                            covered + 1,
                            first_seq - 1
                        ),
                    ));
                }
            }
        };
        Ok(ChainVerifier {
            checkpoints,
            expected,
            prev,
            records: 0,
            bad: None,
        })
    }

    /// Check the next record (with its stored `ts`); `false` once a bad one was found.
    fn feed(&mut self, r: &DecisionRecord, ts: i64) -> bool {
        if self.bad.is_some() {
            return false;
        }
        let seq = r.seq.unwrap_or(0);
        let fail = |why: String| Some((self.expected.min(seq.max(1)), why));
        let problem = if seq != self.expected {
            if seq > self.expected {
                Some((
                    self.expected,
                    format!("seq {} is missing (next stored is {seq})", self.expected),
                ))
            } else {
                Some((seq, format!("seq {seq} appears out of order")))
            }
        } else if r.prev_hash.as_deref() != Some(self.prev.as_str()) {
            fail(format!(
                "seq {seq}: prev_hash does not link to the record before it (inserted, removed or reordered)"
            ))
        } else if r.hash.as_deref() != Some(record_hash(seq, &self.prev, r).as_str()) {
            fail(format!(
                "seq {seq}: hash does not match the record (modified)"
            ))
        } else if parse_time_us(&r.time).unwrap_or(0) != ts {
            fail(format!("seq {seq}: the indexed time column was altered"))
        } else if let Some(c) = self
            .checkpoints
            .get(&seq)
            .filter(|c| Some(c.hash.as_str()) != r.hash.as_deref())
        {
            fail(format!(
                "seq {seq}: differs from the signed checkpoint of {} (chain rewritten)",
                c.time
            ))
        } else {
            None
        };
        match problem {
            Some(p) => {
                self.bad = Some(p);
                false
            }
            None => {
                self.records += 1;
                self.expected = seq + 1;
                self.prev = r.hash.clone().unwrap_or_default();
                true
            }
        }
    }

    fn finish(self, head: (u64, String)) -> VerifyReport {
        if let Some((seq, detail)) = self.bad {
            return VerifyReport::bad(self.records, seq, detail);
        }
        let last = self.expected - 1;
        if let Some(c) = self.checkpoints.range(last + 1..).next().map(|(_, c)| c) {
            return VerifyReport::bad(
                self.records,
                last + 1,
                format!(
                    "records after seq {last} are missing: a checkpoint signed seq {}",
                    c.seq
                ),
            );
        }
        if head.0 > last {
            return VerifyReport::bad(
                self.records,
                last + 1,
                format!(
                    "records after seq {last} are missing: the head is at seq {}",
                    head.0
                ),
            );
        }
        if head.0 < last {
            return VerifyReport::bad(
                self.records,
                head.0 + 1,
                format!(
                    "seq {} and later were not written by the writer (inserted)",
                    head.0 + 1
                ),
            );
        }
        if last > 0 && head.1 != self.prev {
            return VerifyReport::bad(
                self.records,
                last,
                format!("seq {last}: does not match the chain head"),
            );
        }
        let signed = self.checkpoints.keys().next_back().copied().unwrap_or(0);
        VerifyReport {
            ok: true,
            records: self.records,
            first_bad_seq: None,
            detail: format!(
                "chain intact up to seq {last}; {} checkpoint(s), the last signs seq {signed}",
                self.checkpoints.len()
            ),
        }
    }
}

/// Verify the whole stored chain: every record links to the one before, hashes to its
/// `hash`, agrees with the signed checkpoints and the head; records dropped by retention are
/// covered by the checkpoint they were dropped behind. Checkpoints must be signed by
/// `trusted` when given (else by the key they name).
pub async fn verify(
    store: &TraceStore,
    trusted: Option<&VerifyingKey>,
) -> Result<VerifyReport, TraceError> {
    let checkpoints = store.checkpoints().await?;
    for c in &checkpoints {
        if let Err(why) = c.check(trusted) {
            return Ok(VerifyReport::bad(0, c.seq, why));
        }
    }
    let head = store.head().await?;
    let all = Filter::default();
    let mut page = store.page_ts(&all, Position::Seq(0), PAGE).await?;
    let first = page.first().and_then(|(r, _)| r.seq).unwrap_or(head.0 + 1);
    let mut v = match ChainVerifier::new(checkpoints, first) {
        Ok(v) => v,
        Err((seq, detail)) => return Ok(VerifyReport::bad(0, seq, detail)),
    };
    while let Some(last) = page.last().and_then(|(r, _)| r.seq) {
        for (r, ts) in &page {
            if !v.feed(r, *ts) {
                return Ok(v.finish(head));
            }
        }
        if page.len() < PAGE as usize {
            break;
        }
        page = store.page_ts(&all, Position::Seq(last), PAGE).await?;
    }
    Ok(v.finish(head))
}

const PAGE: u32 = 5000;
