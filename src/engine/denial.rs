//! [`Denial`]: why a request was (or, in shadow mode, would have been) refused. Each kind's
//! type lives with its check in [`super::checks`]; `crate::problem::Problem::for_denial` maps
//! every kind to its HTTP answer.

use super::checks::content::ProhibitedUse;
use super::checks::purpose::{ConsentRequired, HumanOversightRequired};
use super::checks::region::RegionPinned;
use super::checks::request::{
    BodyTooLarge, MalformedRequest, PolicyUnavailable, Unauthenticated, UnsupportedMediaType,
};
use super::checks::tenant::{AiOptedOut, FeatureOptedOut, UnknownTenant};
use super::checks::training::TrainingDataBlocked;

/// Why a request was (or would have been) refused. The comment on each variant is its
/// problem type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
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
    /// `unsupported-media-type`
    #[error(transparent)]
    UnsupportedMediaType(#[from] UnsupportedMediaType),
}
