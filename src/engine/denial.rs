//! One error type per denial reason. `crate::layer::problem` is the one place that maps them
//! to HTTP responses.

use std::sync::Arc;

/// The tenant is missing or unknown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", if *.missing { "no tenant was given" } else { "the tenant is not known" })]
pub struct UnknownTenant {
    /// No tenant header at all.
    pub missing: bool,
}

/// The tenant turned AI off.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the tenant has turned AI features off")]
pub struct AiOptedOut;

/// The tenant turned this feature off.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the tenant has turned the AI feature `{feature}` off")]
pub struct FeatureOptedOut {
    /// The feature.
    pub feature: Arc<str>,
}

/// The tenant is pinned to a region set this instance or every upstream lies outside.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", match (.instance_ok, .known_set) {
    (_, false) => format!("the tenant is pinned to region set `{}`, which the policy does not define", .required_region),
    (false, _) => format!("the tenant is pinned to region set `{}`; this instance runs in `{}`", .required_region, .instance_region),
    (true, _) => format!("the tenant is pinned to region set `{}`; no upstream runs there", .required_region),
})]
pub struct RegionPinned {
    /// The tenant's region set.
    pub required_region: Arc<str>,
    /// This instance's region.
    pub instance_region: Arc<str>,
    /// The instance is in the set (so the upstreams were the problem).
    pub instance_ok: bool,
    /// The region set is defined by the policy.
    pub known_set: bool,
}

/// Customer data headed for a training route.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "customer data may not be sent to a training endpoint (declare x-data-class: public or synthetic for other data)"
)]
pub struct TrainingDataBlocked;

/// A prohibited use, by declared purpose or by content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", match .purpose {
    Some(p) => format!("the purpose `{p}` is a prohibited use of AI features"),
    None => format!("the request matches the prohibited-use category `{}`", .category),
})]
pub struct ProhibitedUse {
    /// The declared purpose, when the purpose decided.
    pub purpose: Option<Arc<str>>,
    /// The prohibited-use category.
    pub category: Arc<str>,
}

/// The purpose needs explicit consent that was not declared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the purpose `{purpose}` needs explicit consent (x-ai-consent: {purpose})")]
pub struct ConsentRequired {
    /// The purpose.
    pub purpose: Arc<str>,
}

/// The purpose needs an attestation of human oversight.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the purpose `{purpose}` may not be the sole basis of a decision without human oversight (x-human-oversight: attested)"
)]
pub struct HumanOversightRequired {
    /// The purpose.
    pub purpose: Arc<str>,
}

/// The request body is over the configured limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the request body is larger than the limit of {limit} bytes")]
pub struct BodyTooLarge {
    /// The limit in bytes.
    pub limit: usize,
}

/// The request cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct MalformedRequest {
    /// What is wrong (never quotes request content).
    pub detail: String,
}

/// The caller's identity is missing or cannot be verified (e.g. an expired or wrongly signed
/// token when identity comes from a JWT).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct Unauthenticated {
    /// What is wrong (never quotes the credentials).
    pub detail: String,
    /// No credentials were sent at all (the challenge then carries no error code).
    pub missing: bool,
}

/// The policy cannot be applied right now; the request is refused rather than let through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct PolicyUnavailable {
    /// What is unavailable.
    pub detail: String,
}

/// Why a request was (or would have been) refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    /// `unknown-tenant`
    #[error(transparent)]
    UnknownTenant(#[from] UnknownTenant),
    /// `ai-opted-out`
    #[error(transparent)]
    AiOptedOut(#[from] AiOptedOut),
    /// `feature-opted-out`
    #[error(transparent)]
    FeatureOptedOut(#[from] FeatureOptedOut),
    /// `region-pinned`
    #[error(transparent)]
    RegionPinned(#[from] RegionPinned),
    /// `training-data-blocked`
    #[error(transparent)]
    TrainingDataBlocked(#[from] TrainingDataBlocked),
    /// `prohibited-use`
    #[error(transparent)]
    ProhibitedUse(#[from] ProhibitedUse),
    /// `consent-required`
    #[error(transparent)]
    ConsentRequired(#[from] ConsentRequired),
    /// `human-oversight-required`
    #[error(transparent)]
    HumanOversightRequired(#[from] HumanOversightRequired),
    /// `body-too-large`
    #[error(transparent)]
    BodyTooLarge(#[from] BodyTooLarge),
    /// `malformed-request`
    #[error(transparent)]
    MalformedRequest(#[from] MalformedRequest),
    /// `policy-unavailable`
    #[error(transparent)]
    PolicyUnavailable(#[from] PolicyUnavailable),
    /// `unauthenticated`
    #[error(transparent)]
    Unauthenticated(#[from] Unauthenticated),
}

impl Denial {
    /// The problem type: the last path segment of the RFC 9457 `type` URI.
    pub fn problem_type(&self) -> &'static str {
        match self {
            Denial::UnknownTenant(_) => "unknown-tenant",
            Denial::AiOptedOut(_) => "ai-opted-out",
            Denial::FeatureOptedOut(_) => "feature-opted-out",
            Denial::RegionPinned(_) => "region-pinned",
            Denial::TrainingDataBlocked(_) => "training-data-blocked",
            Denial::ProhibitedUse(_) => "prohibited-use",
            Denial::ConsentRequired(_) => "consent-required",
            Denial::HumanOversightRequired(_) => "human-oversight-required",
            Denial::BodyTooLarge(_) => "body-too-large",
            Denial::MalformedRequest(_) => "malformed-request",
            Denial::PolicyUnavailable(_) => "policy-unavailable",
            Denial::Unauthenticated(_) => "unauthenticated",
        }
    }
}
