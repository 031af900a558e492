//! Check 1: the tenant is known, has AI on, and has not opted out of the route's feature.
//!
//! Data: the tenant snapshot and the route's feature. Rules: the bundle's core rules
//! `unknown-tenant`, `ai-opted-out` and `feature-opted-out` (never shadowed).

use std::sync::Arc;

use super::Verdict;
use crate::engine::{DecisionInput, Denial};
use crate::policy::{CompiledPolicy, RuleRef};
use crate::tenants::{TenantSettings, TenantSnapshot};

/// The tenant is missing or unknown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", if *.missing { "no tenant was given" } else { "the tenant is not known" })]
#[non_exhaustive]
pub struct UnknownTenant {
    /// No tenant was given at all (no header, no claim).
    pub missing: bool,
}

/// The tenant turned AI off.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the tenant has turned AI features off")]
#[non_exhaustive]
pub struct AiOptedOut;

/// The tenant turned this feature off.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the tenant has turned the AI feature `{feature}` off")]
#[non_exhaustive]
pub struct FeatureOptedOut {
    /// The feature.
    pub feature: Arc<str>,
}

/// The tenant's settings, or the `unknown-tenant` denial.
pub(crate) fn find<'t>(
    input: &DecisionInput<'_>,
    tenants: &'t TenantSnapshot,
    policy: &CompiledPolicy,
) -> Result<&'t TenantSettings, (RuleRef, Denial)> {
    let rule = &policy.core().unknown_tenant;
    let Some(id) = input.ctx.tenant.as_deref() else {
        return Err((rule.clone(), UnknownTenant { missing: true }.into()));
    };
    tenants
        .get(id)
        .ok_or_else(|| (rule.clone(), UnknownTenant { missing: false }.into()))
}

/// AI on, and the route's feature not opted out.
pub(crate) fn check(
    input: &DecisionInput<'_>,
    tenant: &TenantSettings,
    policy: &CompiledPolicy,
) -> Verdict {
    let core = policy.core();
    if !tenant.ai_enabled {
        return Some((core.ai_opted_out.clone(), AiOptedOut.into()));
    }
    let feature = input.route.feature.as_ref()?;
    tenant.is_opted_out(feature).then(|| {
        (
            core.feature_opted_out.clone(),
            FeatureOptedOut {
                feature: feature.clone(),
            }
            .into(),
        )
    })
}
