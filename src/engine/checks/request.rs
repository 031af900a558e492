//! Request-level refusals: what is refused before (or instead of) the policy's checks, with the
//! built-in rule ids no bundle names.
//!
//! | refusal | denial | rule |
//! |---|---|---|
//! | a path an upstream could resolve elsewhere, a header that cannot be read, a body that is not what its content type says | `malformed-request` (400) | `request-malformed` |
//! | no or an invalid credential (JWT identity) | `unauthenticated` (401) | `request-unauthenticated` |
//! | a body over the instance's `max_body_bytes` | `body-too-large` (413) | `request-body-too-large` |
//! | tenant settings older than their bound, a trace that cannot take the record | `policy-unavailable` (503) | `policy-unavailable` |
//! | a body a content-scanned route cannot read as text (route `unscannable = "deny"`) | `unsupported-media-type` (415) | `request-unsupported-media-type` |
//!
//! The layer supplies the facts (the path, the resolver's error, how the body read ended, the
//! snapshot's age measured with its clock); these functions decide the denial and the rule.

use std::time::Duration;

use super::builtin;
use crate::context::{ResolveError, ResolveErrorKind};
use crate::engine::{Decision, Denial};

/// Rule id of a request that cannot be read.
pub const RULE_MALFORMED: &str = "request-malformed";
/// Rule id of a body over the instance's limit.
pub const RULE_TOO_LARGE: &str = "request-body-too-large";
/// Rule id of a request refused because the policy cannot be applied right now.
pub const RULE_UNAVAILABLE: &str = "policy-unavailable";
/// Rule id of a request without valid credentials.
pub const RULE_UNAUTHENTICATED: &str = "request-unauthenticated";
/// Rule id of a body that a content-scanned route cannot read as text.
pub const RULE_UNSUPPORTED_MEDIA_TYPE: &str = "request-unsupported-media-type";

/// The body cannot be scanned for content rules (a binary media type, an unknown content
/// coding, a charset other than UTF-8), and the route does not let such bodies through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
#[non_exhaustive]
pub struct UnsupportedMediaType {
    /// What cannot be read (a media type or content coding, never content).
    pub detail: String,
}

/// The request body is over the configured limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the request body is larger than the limit of {limit} bytes")]
#[non_exhaustive]
pub struct BodyTooLarge {
    /// The limit in bytes.
    pub limit: usize,
}

/// The request cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
#[non_exhaustive]
pub struct MalformedRequest {
    /// What is wrong (never quotes request content).
    pub detail: String,
}

/// The caller's identity is missing or cannot be verified (e.g. an expired or wrongly signed
/// token when identity comes from a JWT).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
#[non_exhaustive]
pub struct Unauthenticated {
    /// What is wrong (never quotes the credentials).
    pub detail: String,
    /// No credentials were sent at all (the challenge then carries no error code).
    pub missing: bool,
}

/// The policy cannot be applied right now; the request is refused rather than let through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
#[non_exhaustive]
pub struct PolicyUnavailable {
    /// What is unavailable.
    pub detail: String,
}

fn refuse(rule: &'static str, denial: impl Into<Denial>) -> Decision {
    Decision::deny(builtin(rule).id, denial.into())
}

/// A request that cannot be read: `malformed-request`.
pub(crate) fn malformed(detail: impl Into<String>) -> Decision {
    refuse(
        RULE_MALFORMED,
        MalformedRequest {
            detail: detail.into(),
        },
    )
}

/// Paths that an upstream might resolve differently than raigate matches them are refused:
/// dot segments, empty segments, backslashes and encoded separators.
pub(crate) fn check_path(path: &str) -> Option<Decision> {
    let lower = path.to_ascii_lowercase();
    let bad = path.contains("//")
        || path.contains('\\')
        || path.split('/').any(|seg| seg == "." || seg == "..")
        || ["%2e", "%2f", "%5c", "%00"]
            .iter()
            .any(|p| lower.contains(p));
    bad.then(|| {
        malformed("the request path contains dot segments, empty segments or encoded separators")
    })
}

/// A context the resolver could not read: `malformed-request`, or `unauthenticated` when the
/// credentials are missing or invalid.
pub(crate) fn unresolved(e: ResolveError) -> Decision {
    let detail = e.to_string();
    match e.kind {
        ResolveErrorKind::Malformed => malformed(detail),
        ResolveErrorKind::Unauthenticated | ResolveErrorKind::MissingCredentials => refuse(
            RULE_UNAUTHENTICATED,
            Unauthenticated {
                detail,
                missing: e.kind == ResolveErrorKind::MissingCredentials,
            },
        ),
    }
}

/// A body that stopped being read past the instance's `limit`: `body-too-large`.
pub(crate) fn body_too_large(limit: usize) -> Decision {
    refuse(RULE_TOO_LARGE, BodyTooLarge { limit })
}

/// A body that could not be read at all (the client went away, a framing error).
pub(crate) fn body_unreadable() -> Decision {
    malformed("the request body could not be read")
}

/// A body a content-scanned route cannot read, on a route with `unscannable = "deny"`.
pub(crate) fn unsupported_media_type(reason: &impl std::fmt::Display) -> Decision {
    refuse(
        RULE_UNSUPPORTED_MEDIA_TYPE,
        UnsupportedMediaType {
            detail: format!(
                "{reason}; this route scans request text for content rules and refuses bodies it cannot read"
            ),
        },
    )
}

/// Fail closed on stale tenant settings: `age` is how long ago the snapshot last matched its
/// store (`None` for a snapshot without one), `bound` the layer's limit.
pub(crate) fn stale_settings(age: Option<Duration>, bound: Duration) -> Option<Decision> {
    let age = age?;
    (age > bound).then(|| {
        unavailable(format!(
            "tenant settings have not been refreshed for {} s (bound {} s); AI requests are refused until they are",
            age.as_secs(),
            bound.as_secs()
        ))
    })
}

/// The policy cannot be applied (e.g. the decision trace cannot take the record).
pub(crate) fn unavailable(detail: impl Into<String>) -> Decision {
    refuse(
        RULE_UNAVAILABLE,
        PolicyUnavailable {
            detail: detail.into(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::check_path;

    #[test]
    fn paths_an_upstream_could_resolve_elsewhere_are_refused() {
        for bad in [
            "/v1//chat",
            "/v1/fine_tuning/../chat",
            "/v1/./x",
            "/v1/%2e%2e/admin",
            "/v1/a%2Fb",
            "/v1\\x",
        ] {
            assert!(check_path(bad).is_some(), "{bad} should be refused");
        }
        for ok in [
            "/v1/chat/completions",
            "/v1/fine_tuning/jobs",
            "/v1/files.v2",
        ] {
            assert!(check_path(ok).is_none(), "{ok} should pass");
        }
    }
}
