//! Check 2: region pinning. A tenant pinned to a region set is served only by an instance in
//! the set, and forwarded only to an upstream in it.
//!
//! Data: the tenant's `region` (a region set id), the policy's region sets, the placement
//! (instance region, candidate upstreams). Rule: the core rule `region-pinned` (may be
//! shadowed). The check also picks the upstream.

use std::sync::Arc;

use super::Verdict;
use crate::engine::DecisionInput;
use crate::policy::CompiledPolicy;
use crate::tenants::TenantSettings;

/// Why a region-pinned tenant cannot be served here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegionPinnedCause {
    /// The tenant's region set is not defined by the policy.
    UnknownRegionSet,
    /// This instance runs outside the set.
    Instance,
    /// No upstream runs inside the set.
    NoUpstream,
}

/// The tenant is pinned to a region set this instance or every upstream lies outside.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", match .cause {
    RegionPinnedCause::UnknownRegionSet => format!("the tenant is pinned to region set `{}`, which the policy does not define", .required_region),
    RegionPinnedCause::Instance => format!("the tenant is pinned to region set `{}`; this instance runs in `{}`", .required_region, .instance_region),
    RegionPinnedCause::NoUpstream => format!("the tenant is pinned to region set `{}`; no upstream runs there", .required_region),
})]
#[non_exhaustive]
pub struct RegionPinned {
    /// The tenant's region set.
    pub required_region: Arc<str>,
    /// This instance's region.
    pub instance_region: Arc<str>,
    /// Which part of the placement is outside the set.
    pub cause: RegionPinnedCause,
}

fn in_set(policy: &CompiledPolicy, set: &str, region: &str) -> bool {
    policy.region_set_of(region).is_some_and(|s| &**s == set)
}

/// The upstream to forward to: the first one in the tenant's region set (any, if not
/// pinned); `None` when there are no upstreams (the service answers itself).
pub(crate) fn upstream(
    input: &DecisionInput<'_>,
    tenant: &TenantSettings,
    policy: &CompiledPolicy,
) -> Option<usize> {
    let upstreams = input.placement.upstreams;
    if upstreams.is_empty() {
        return None;
    }
    let eligible = tenant.region.as_deref().and_then(|set| {
        upstreams
            .iter()
            .position(|u| in_set(policy, set, &u.region))
    });
    Some(eligible.unwrap_or(0))
}

/// Deny when the instance, or every upstream, is outside the tenant's region set.
pub(crate) fn check(
    input: &DecisionInput<'_>,
    tenant: &TenantSettings,
    policy: &CompiledPolicy,
) -> Verdict {
    let required = tenant.region.as_deref()?;
    let instance = input.placement.instance_region;
    let upstreams = input.placement.upstreams;
    let cause = if !policy.has_region_set(required) {
        RegionPinnedCause::UnknownRegionSet
    } else if !in_set(policy, required, instance) {
        RegionPinnedCause::Instance
    } else if !upstreams.is_empty()
        && !upstreams
            .iter()
            .any(|u| in_set(policy, required, &u.region))
    {
        RegionPinnedCause::NoUpstream
    } else {
        return None;
    };
    Some((
        policy.core().region_pinned.clone(),
        RegionPinned {
            required_region: Arc::from(required),
            instance_region: instance.clone(),
            cause,
        }
        .into(),
    ))
}
