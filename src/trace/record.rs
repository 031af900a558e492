use serde::{Deserialize, Serialize};

/// Which part of a request's life a record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "admin", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Phase {
    /// The decision on an AI request (one per request to a guarded route).
    #[default]
    Request,
    /// The response to a mapped route, written when it ends; linked by `parent_id`.
    Response,
    /// A call from the service (or the gateway) to an AI provider; linked by `parent_id`.
    Egress,
    /// A change made through the admin API (`class = "admin"`).
    Admin,
}

impl Phase {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Request => "request",
            Phase::Response => "response",
            Phase::Egress => "egress",
            Phase::Admin => "admin",
        }
    }

    /// Parse a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "request" => Some(Phase::Request),
            "response" => Some(Phase::Response),
            "egress" => Some(Phase::Egress),
            "admin" => Some(Phase::Admin),
            _ => None,
        }
    }

    /// The phase a record of `class` had before records carried a phase: `admin` for admin
    /// changes, `request` for everything else. The hash of a record whose phase is this one
    /// leaves the phase out, so records written before the field existed still verify.
    #[cfg(feature = "store")]
    pub(crate) fn implied_by(class: &str) -> Self {
        if class == "admin" {
            Phase::Admin
        } else {
            Phase::Request
        }
    }
}

/// One decision, as compliance reads it: the same fields in the JSON Lines file, both stores,
/// `/v1/decisions` and the exports (see `docs/records.md`).
///
/// Every record carries every field, `null` (or `[]`) where it does not apply. Build one with
/// [`DecisionRecord::new`] and set what applies; the struct is `#[non_exhaustive]` so later
/// phases can add fields without breaking callers. `seq`, `prev_hash` and `hash` are filled in
/// by the durable store when the record joins the hash chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "admin", derive(utoipa::ToSchema))]
#[non_exhaustive]
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
    /// `inference`, `training` or `admin`.
    pub class: String,
    /// Declared purpose.
    pub purpose: Option<String>,
    /// `customer`, `public`, `synthetic` (`none` for admin changes).
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
    /// `request`, `response`, `egress` or `admin`.
    #[serde(default)]
    pub phase: Phase,
    /// The request decision's `id`, for `response` and `egress` records.
    #[serde(default)]
    pub parent_id: Option<String>,
    /// What detected a content match: `phrase`, `pattern`, `semantic` or `guard:<name>`.
    #[serde(default)]
    pub detector: Option<String>,
    /// The detector's score (null for phrases and patterns).
    #[serde(default)]
    pub score: Option<f64>,
    /// Which text view matched (e.g. `normalized`).
    #[serde(default)]
    pub view: Option<String>,
    /// Response phase: SHA-256 hex digests of the artefacts sent.
    #[serde(default)]
    pub output_sha256: Vec<String>,
    /// Response phase: body bytes sent to the client.
    #[serde(default)]
    pub output_bytes: Option<u64>,
    /// Response phase: label forms applied (`header`, `json`, `caption-cue`, `sse-comment`).
    #[serde(default)]
    pub labels: Vec<String>,
    /// Response phase: how the response ended (`complete`, `filtered`, `client-closed`,
    /// `upstream-error`).
    #[serde(default)]
    pub end: Option<String>,
    /// Egress phase: the provider's catalogue id.
    #[serde(default)]
    pub provider: Option<String>,
    /// Egress phase: `inference` or `training`.
    #[serde(default)]
    pub endpoint_class: Option<String>,
    /// Egress phase: the provider's region.
    #[serde(default)]
    pub provider_region: Option<String>,
}

impl DecisionRecord {
    /// A record of `phase` with id and time; every other field empty (`null`, `[]`, `false`,
    /// `0`). Set the fields that apply.
    ///
    /// ```
    /// use raigate::trace::{DecisionRecord, Phase};
    ///
    /// let mut r = DecisionRecord::new(Phase::Request, "019b…", "2026-12-01T00:00:00Z");
    /// r.outcome = "allow".into();
    /// assert_eq!(serde_json::to_value(&r).unwrap()["phase"], "request");
    /// ```
    #[must_use]
    pub fn new(phase: Phase, id: impl Into<String>, time: impl Into<String>) -> Self {
        DecisionRecord {
            id: id.into(),
            time: time.into(),
            tenant: None,
            subject: None,
            feature: None,
            route: String::new(),
            class: String::new(),
            purpose: None,
            data_class: String::new(),
            region: String::new(),
            upstream: None,
            outcome: String::new(),
            shadow: false,
            rule: None,
            reason: String::new(),
            obligations: Vec::new(),
            policy_version: String::new(),
            tenant_version: None,
            trace_id: None,
            latency_us: 0,
            seq: None,
            prev_hash: None,
            hash: None,
            phase,
            parent_id: None,
            detector: None,
            score: None,
            view: None,
            output_sha256: Vec::new(),
            output_bytes: None,
            labels: Vec::new(),
            end: None,
            provider: None,
            endpoint_class: None,
            provider_region: None,
        }
    }
}

/// Microseconds since the Unix epoch of an RFC 3339 time (`…Z`, fraction optional).
#[cfg(any(feature = "store", feature = "otel"))]
pub(crate) fn parse_time_us(time: &str) -> Option<i64> {
    let t = humantime::parse_rfc3339_weak(time).ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(d.as_micros()).ok()
}
