//! Check 1b: the tenant's own cap on request bodies (`max_body_bytes` in the tenant settings).
//!
//! Data: [`TenantSettings::max_body_bytes`] (`None`: only the instance limit applies) and the
//! body's length as the layer read it. Rule: `tenant-max-body-bytes` (built in, never
//! shadowed). Denial: the same `body-too-large` (413) as the instance limit, with the tenant's
//! limit. A capped tenant's bodies are read (up to the smaller of the two limits) on every AI
//! route, not only on routes that scan content, so the cap holds for streamed uploads too.

use super::{Verdict, builtin};
use crate::engine::{BodyTooLarge, DecisionInput};
use crate::policy::CompiledPolicy;
use crate::tenants::TenantSettings;

/// Rule id of a body over the tenant's own cap.
pub(crate) const RULE_TENANT_MAX_BODY: &str = "tenant-max-body-bytes";

/// How many bytes of the body the layer reads for this tenant: the smaller of the instance
/// limit and the tenant's cap, or `None` when the tenant sets no cap.
pub(crate) fn read_limit(tenant: Option<&TenantSettings>, instance: usize) -> Option<usize> {
    let cap = tenant?.max_body_bytes?;
    Some(usize::try_from(cap).map_or(instance, |cap| cap.min(instance)))
}

/// Deny a body longer than the tenant's cap.
pub(crate) fn check(
    input: &DecisionInput<'_>,
    tenant: &TenantSettings,
    _policy: &CompiledPolicy,
) -> Verdict {
    let cap = tenant.max_body_bytes?;
    let len = input.body_len?;
    (len > cap).then(|| {
        (
            builtin(RULE_TENANT_MAX_BODY),
            BodyTooLarge {
                limit: usize::try_from(cap).unwrap_or(usize::MAX),
            }
            .into(),
        )
    })
}
