use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// One tenant's AI settings: the document the admin API serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"id": "acme", "region": "eu", "ai_enabled": true, "opted_out": ["captions"], "version": 3}))]
pub struct TenantSettings {
    /// Tenant id.
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
    /// Monotonic version, bumped on every change.
    #[serde(default)]
    pub version: u64,
}

fn yes() -> bool {
    true
}

impl TenantSettings {
    /// A tenant with AI on, not pinned, nothing opted out, version 1.
    pub fn new(id: impl Into<String>) -> Self {
        TenantSettings {
            id: id.into(),
            region: None,
            ai_enabled: true,
            opted_out: BTreeSet::new(),
            version: 1,
        }
    }

    /// Pin to a region set.
    pub fn region(mut self, set: impl Into<String>) -> Self {
        self.region = Some(set.into());
        self
    }

    /// Turn AI on or off.
    pub fn ai_enabled(mut self, on: bool) -> Self {
        self.ai_enabled = on;
        self
    }

    /// Opt out of a feature.
    pub fn opt_out(mut self, feature: impl Into<String>) -> Self {
        self.opted_out.insert(feature.into());
        self
    }

    /// Whether the tenant opted out of `feature`.
    pub fn is_opted_out(&self, feature: &str) -> bool {
        self.opted_out.contains(feature)
    }
}
