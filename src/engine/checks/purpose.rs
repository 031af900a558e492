//! Check 4: purpose rules. The declared purpose (`x-ai-purpose`) may be prohibited, need
//! explicit consent (`x-ai-consent`), or need an attestation of human oversight
//! (`x-human-oversight: attested`); a `notice` purpose adds the human-review notice.
//!
//! Data: the bundle's `purposes.toml` and the request's declarations. Rules: each purpose
//! rule's own id (may be shadowed).

use std::sync::Arc;

use super::Verdict;
use crate::engine::{DecisionInput, ProhibitedUse};
use crate::policy::{CompiledPolicy, PurposeRuleKind};
use crate::tenants::TenantSettings;

/// The purpose needs explicit consent that was not declared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the purpose `{purpose}` needs explicit consent (x-ai-consent: {purpose})")]
#[non_exhaustive]
pub struct ConsentRequired {
    /// The purpose.
    pub purpose: Arc<str>,
}

/// The purpose needs an attestation of human oversight.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the purpose `{purpose}` may not be the sole basis of a decision without human oversight (x-human-oversight: attested)"
)]
#[non_exhaustive]
pub struct HumanOversightRequired {
    /// The purpose.
    pub purpose: Arc<str>,
}

/// Whether the declared purpose asks for the human-review notice.
pub(crate) fn notice(input: &DecisionInput<'_>, policy: &CompiledPolicy) -> bool {
    input
        .ctx
        .purpose
        .as_deref()
        .and_then(|p| policy.purpose(p))
        .is_some_and(|r| r.kind == PurposeRuleKind::Notice)
}

/// Deny a prohibited purpose, or one whose consent or oversight was not declared.
pub(crate) fn check(
    input: &DecisionInput<'_>,
    _tenant: &TenantSettings,
    policy: &CompiledPolicy,
) -> Verdict {
    let ctx = input.ctx;
    let rule = policy.purpose(ctx.purpose.as_deref()?)?;
    let purpose = &rule.purpose;
    let denial = match rule.kind {
        PurposeRuleKind::ProhibitedUse => {
            ProhibitedUse::by_purpose(purpose.clone(), purpose.clone()).into()
        }
        PurposeRuleKind::ConsentRequired if !ctx.has_consent_for(purpose) => ConsentRequired {
            purpose: purpose.clone(),
        }
        .into(),
        PurposeRuleKind::HumanOversightRequired if !ctx.human_oversight => HumanOversightRequired {
            purpose: purpose.clone(),
        }
        .into(),
        PurposeRuleKind::ConsentRequired
        | PurposeRuleKind::HumanOversightRequired
        | PurposeRuleKind::Notice => return None,
    };
    Some((rule.rule.clone(), denial))
}
