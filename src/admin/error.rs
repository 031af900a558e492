use axum::response::{IntoResponse, Response};
use http::StatusCode;

use crate::problem::Problem;
use crate::tenants::StoreError;

/// Why an admin API call could not be done. Every variant answers as an RFC 9457 problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// No token, or one that is not configured: 401 `unauthorized`.
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// The token's role does not allow this: 403 `forbidden`.
    #[error("{0}")]
    Forbidden(String),
    /// 404 `tenant-not-found`.
    #[error("tenant `{0}` does not exist")]
    TenantNotFound(String),
    /// 404 `feature-not-found`: not in the policy's feature catalogue.
    #[error("feature `{0}` is not in the policy's feature catalogue")]
    FeatureNotFound(String),
    /// 404 `not-found`: no such route.
    #[error("no admin API route for this path")]
    NoRoute,
    /// 405 `method-not-allowed`.
    #[error("method not allowed on this path")]
    MethodNotAllowed,
    /// 400 `malformed-request`.
    #[error("{0}")]
    Malformed(String),
    /// 413 `body-too-large`: the request body is over the admin API's limit (bytes).
    #[error("the request body is over the admin API's limit of {0} bytes")]
    BodyTooLarge(usize),
    /// 422 `invalid-settings`.
    #[error("{0}")]
    Invalid(String),
    /// 412 `precondition-failed`: `If-Match` names another version (or the tenant is missing).
    #[error("the tenant is at version {}, not the one in If-Match", .current.map_or_else(|| "none (it does not exist)".to_owned(), |v| v.to_string()))]
    PreconditionFailed {
        /// The current version.
        current: Option<u64>,
    },
    /// 428 `precondition-required`: replacing an existing tenant needs `If-Match`.
    #[error(
        "tenant exists (version {current}); replacing it needs If-Match with its quoted version"
    )]
    PreconditionRequired {
        /// The current version.
        current: u64,
    },
    /// 503 `store-unavailable`.
    #[error("{0}")]
    StoreUnavailable(String),
    /// 503 `policy-unavailable`: the audit record could not be written, nothing was changed;
    /// or (on `/readyz`) the settings snapshot is stale.
    #[error("{0}")]
    PolicyUnavailable(String),
}

impl AdminError {
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            AdminError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            AdminError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
            AdminError::TenantNotFound(_) => (
                StatusCode::NOT_FOUND,
                "tenant-not-found",
                "Tenant not found",
            ),
            AdminError::FeatureNotFound(_) => (
                StatusCode::NOT_FOUND,
                "feature-not-found",
                "Feature not found",
            ),
            AdminError::NoRoute => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            AdminError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            AdminError::Malformed(_) => (
                StatusCode::BAD_REQUEST,
                "malformed-request",
                "Malformed request",
            ),
            AdminError::BodyTooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "body-too-large",
                "Request body too large",
            ),
            AdminError::Invalid(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-settings",
                "Invalid tenant settings",
            ),
            AdminError::PreconditionFailed { .. } => (
                StatusCode::PRECONDITION_FAILED,
                "precondition-failed",
                "Version mismatch",
            ),
            AdminError::PreconditionRequired { .. } => (
                StatusCode::PRECONDITION_REQUIRED,
                "precondition-required",
                "If-Match required",
            ),
            AdminError::StoreUnavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "store-unavailable",
                "Tenant store unavailable",
            ),
            AdminError::PolicyUnavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "policy-unavailable",
                "Policy unavailable",
            ),
        }
    }

    /// Map a store error; `had_if_match` tells a stale `If-Match` from a missing one.
    pub(crate) fn from_store(e: StoreError, had_if_match: bool) -> Self {
        match e {
            StoreError::Conflict { current, .. } => match (had_if_match, current) {
                (false, Some(current)) => AdminError::PreconditionRequired { current },
                _ => AdminError::PreconditionFailed { current },
            },
            StoreError::NotFound { id } => AdminError::TenantNotFound(id),
            StoreError::InvalidId(e) => AdminError::Invalid(e.to_string()),
            StoreError::ChangeRecord(d) => AdminError::PolicyUnavailable(format!(
                "the change was not applied: its record could not be written to the decision trace ({d})"
            )),
            other => AdminError::StoreUnavailable(other.to_string()),
        }
    }
}

impl AdminError {
    /// The problem this error answers with.
    pub fn problem(&self) -> Problem {
        let (status, kind, title) = self.parts();
        let p = Problem::new(status, kind, title, self.to_string());
        match self {
            AdminError::PreconditionFailed { current } => p.current_version(*current),
            AdminError::PreconditionRequired { current } => p.current_version(Some(*current)),
            AdminError::Unauthorized => p.challenge("Bearer realm=\"raigate-admin\""),
            _ => p,
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        self.problem().into_response().map(axum::body::Body::from)
    }
}
