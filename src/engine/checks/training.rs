//! Check 3: the training guard. Customer data (the default when undeclared) never reaches a
//! route classed `training`.
//!
//! Data: the route's class and the request's declared data class. Rule: the core rule
//! `training-data-blocked` (may be shadowed).

use super::Verdict;
use crate::context::{DataClass, RouteClass};
use crate::engine::DecisionInput;
use crate::policy::CompiledPolicy;
use crate::tenants::TenantSettings;

/// Customer data headed for a training route.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "customer data may not be sent to a training endpoint (declare x-data-class: public or synthetic for other data)"
)]
#[non_exhaustive]
pub struct TrainingDataBlocked;

/// Deny customer data on a training route.
pub(crate) fn check(
    input: &DecisionInput<'_>,
    _tenant: &TenantSettings,
    policy: &CompiledPolicy,
) -> Verdict {
    (input.route.class == RouteClass::Training && input.ctx.data_class == DataClass::Customer).then(
        || {
            (
                policy.core().training_data_blocked.clone(),
                TrainingDataBlocked.into(),
            )
        },
    )
}
