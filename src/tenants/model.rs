use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// One tenant's AI settings: **the** tenant document. The store keeps it, the admin API serves
/// and takes it, `[[tenant]]` config entries seed it and the admin client sends it back, all as
/// this one type, so a new setting is one new field here (plus, where a store must index it, a
/// migration).
///
/// In JSON every member but `id` may be left out: `region` and `max_body_bytes` default to
/// `null`, `ai_enabled` to `true`, `opted_out` to `[]`, and `version` is set by the store (it is
/// ignored on input; the precondition of a write is `If-Match`). Unknown members are an error.
/// `max_body_bytes` is written only when set, so the document of a tenant without a cap is
/// `{"id", "region", "ai_enabled", "opted_out", "version"}` as before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "admin", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "admin", schema(example = json!({"id": "acme", "region": "eu", "ai_enabled": true, "opted_out": ["captions"], "version": 3})))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TenantSettings {
    /// Tenant id (in a `PUT` body optional, and then equal to the path's).
    #[serde(default)]
    pub id: String,
    /// Region set the tenant is pinned to; `None` = not pinned.
    #[serde(default)]
    pub region: Option<String>,
    /// AI on or off for the whole tenant.
    #[serde(default = "yes")]
    pub ai_enabled: bool,
    /// Features the tenant turned off.
    #[serde(default)]
    pub opted_out: BTreeSet<String>,
    /// The largest request body (bytes) the tenant's AI requests may carry; `None` = the
    /// instance's `[limits] max_body_bytes` only. Over it: 413 `body-too-large`, rule
    /// `tenant-max-body-bytes`. Left out of the JSON when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_body_bytes: Option<u64>,
    /// Monotonic version, bumped on every change (set by the store).
    #[serde(default)]
    pub version: u64,
}

fn yes() -> bool {
    true
}

impl TenantSettings {
    /// A tenant with AI on, not pinned, nothing opted out, no body cap, version 1.
    #[must_use]
    pub fn new(id: impl Into<String>) -> Self {
        TenantSettings {
            id: id.into(),
            region: None,
            ai_enabled: true,
            opted_out: BTreeSet::new(),
            max_body_bytes: None,
            version: 1,
        }
    }

    /// Pin to a region set.
    #[must_use]
    pub fn region(mut self, set: impl Into<String>) -> Self {
        self.region = Some(set.into());
        self
    }

    /// Turn AI on or off.
    #[must_use]
    pub fn ai_enabled(mut self, on: bool) -> Self {
        self.ai_enabled = on;
        self
    }

    /// Opt out of a feature.
    #[must_use]
    pub fn opt_out(mut self, feature: impl Into<String>) -> Self {
        self.opted_out.insert(feature.into());
        self
    }

    /// Cap the tenant's request bodies at `bytes`.
    #[must_use]
    pub fn max_body_bytes(mut self, bytes: u64) -> Self {
        self.max_body_bytes = Some(bytes);
        self
    }

    /// Set the version (stores set it; tests and seeds may).
    #[must_use]
    pub fn version(mut self, version: u64) -> Self {
        self.version = version;
        self
    }

    /// Whether the tenant opted out of `feature`.
    pub fn is_opted_out(&self, feature: &str) -> bool {
        self.opted_out.contains(feature)
    }

    /// The document as stored: JSON of every setting (the store's `id` and `version` columns
    /// are the truth for those two).
    #[cfg(feature = "store")]
    pub(crate) fn to_stored(&self) -> Result<String, serde_json::Error> {
        let mut doc = serde_json::to_value(self)?;
        if let serde_json::Value::Object(members) = &mut doc {
            members.remove("id");
            members.remove("version");
        }
        serde_json::to_string(&doc)
    }

    /// The document read back from a store row.
    #[cfg(feature = "store")]
    pub(crate) fn from_stored(id: String, version: u64, json: &str) -> Result<Self, String> {
        let mut s: TenantSettings =
            serde_json::from_str(json).map_err(|e| format!("tenant `{id}` settings: {e}"))?;
        s.id = id;
        s.version = version;
        Ok(s)
    }
}
