use serde::{Deserialize, Serialize};

/// One decision, as compliance reads it. Field names are the external contract (DESIGN.md).
///
/// `seq`, `prev_hash` and `hash` are filled in by the durable store ([`super::TraceStore`]) when
/// the record joins the hash chain; they are absent from records that never reached one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// UUIDv7.
    pub id: String,
    /// RFC 3339 time of the decision.
    pub time: String,
    /// Tenant id.
    pub tenant: Option<String>,
    /// Pseudonymous subject (keyed hash of the user id).
    pub subject: Option<String>,
    /// AI feature.
    pub feature: Option<String>,
    /// `METHOD /path-template`.
    pub route: String,
    /// `inference` or `training`.
    pub class: String,
    /// Declared purpose.
    pub purpose: Option<String>,
    /// `customer`, `public` or `synthetic`.
    pub data_class: String,
    /// Region of the instance that decided.
    pub region: String,
    /// Upstream chosen, if any.
    pub upstream: Option<String>,
    /// `allow` or `deny`.
    pub outcome: String,
    /// A shadow-mode rule would have denied.
    pub shadow: bool,
    /// The rule that decided.
    pub rule: Option<String>,
    /// Why.
    pub reason: String,
    /// Obligations put on the response.
    pub obligations: Vec<String>,
    /// sha-256 of the policy bundle.
    pub policy_version: String,
    /// Version of the tenant's settings.
    pub tenant_version: Option<u64>,
    /// W3C trace id.
    pub trace_id: Option<String>,
    /// Time spent deciding, in microseconds.
    pub latency_us: u64,
    /// Position in the hash chain (1, 2, …), gapless.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// `hash` of the record before this one (64 zeros for the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_hash: Option<String>,
    /// sha-256 (hex) over `seq`, `prev_hash` and the canonical encoding of the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
}
