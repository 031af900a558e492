//! RFC 9457 problem details: the one body every refusal and error of raigate is written as.
//!
//! [`Problem`] is a typed struct that both writes the `application/problem+json` response
//! ([`Problem::into_response`], always with `Cache-Control: no-store`) and, with the `admin`
//! feature, documents it in the admin API's OpenAPI document (`utoipa::ToSchema`), so the two
//! cannot drift apart.
//!
//! [`Problem::for_denial`] is **the** table from a [`Denial`] to its problem type, status, title
//! and extra members: one exhaustive `match`, no wildcard arm, so a new denial kind does not
//! compile until it has its row. The module imports nothing of the crate but the engine's
//! `Denial` (the bottom of the module graph); the layer, the admin API, the compliance routes
//! and the gateway all write their problems through it.
//!
//! ```
//! use raigate::problem::Problem;
//!
//! let resp = Problem::new(http::StatusCode::NOT_FOUND, "route-not-found", "Route not found",
//!     "no AI route is configured for this method and path").into_response();
//! assert_eq!(resp.status(), 404);
//! assert_eq!(resp.headers()["content-type"], "application/problem+json");
//! let body: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
//! assert_eq!(body["type"], "https://raigate.dev/problems/route-not-found");
//! ```

use std::borrow::Cow;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response, StatusCode, header};
use serde::Serialize;

use crate::engine::{Denial, RegionPinnedCause};

/// Base URI of problem types; the last path segment is the type name.
pub const PROBLEM_BASE: &str = "https://raigate.dev/problems/";

/// Header carrying the decision id on every response to a guarded route.
pub const DECISION_ID: HeaderName = HeaderName::from_static("raigate-decision-id");

/// An RFC 9457 problem: `type`, `title`, `status`, `detail`, and the extension members
/// raigate defines. Members that do not apply are left out of the JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "admin", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct Problem {
    /// `https://raigate.dev/problems/<type>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// A short summary of the problem type.
    pub title: Cow<'static, str>,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request (never quotes request content or credentials).
    pub detail: String,
    /// The decision's id (denials of AI requests; also in `Raigate-Decision-Id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_id: Option<String>,
    /// The rule that decided (denials of AI requests).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The prohibited-use category (`prohibited-use`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The region set the tenant is pinned to (`region-pinned`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_region: Option<String>,
    /// The region this instance runs in (`region-pinned`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_region: Option<String>,
    /// The tenant's current version (admin API 412 and 428; `null` when it does not exist).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "admin", schema(value_type = Option<u64>))]
    pub current_version: Option<Option<u64>>,
    /// Extra response header: `WWW-Authenticate` for 401 answers.
    #[serde(skip)]
    #[cfg_attr(feature = "admin", schema(ignore))]
    www_authenticate: Option<&'static str>,
}

impl Problem {
    /// A problem of type `kind` (the last path segment of its `type` URI).
    #[must_use]
    pub fn new(
        status: StatusCode,
        kind: &str,
        title: impl Into<Cow<'static, str>>,
        detail: impl Into<String>,
    ) -> Self {
        Problem {
            type_uri: format!("{PROBLEM_BASE}{kind}"),
            title: title.into(),
            status: status.as_u16(),
            detail: detail.into(),
            decision_id: None,
            rule: None,
            category: None,
            required_region: None,
            instance_region: None,
            current_version: None,
            www_authenticate: None,
        }
    }

    /// The problem type: the last path segment of the `type` URI.
    pub fn problem_type(&self) -> &str {
        self.type_uri
            .strip_prefix(PROBLEM_BASE)
            .unwrap_or(&self.type_uri)
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// Set the decision id and the rule that decided.
    #[must_use]
    pub fn decided(mut self, decision_id: &str, rule: Option<&str>) -> Self {
        self.decision_id = Some(decision_id.to_owned());
        self.rule = rule.map(str::to_owned);
        self
    }

    /// Set `current_version` (admin API preconditions).
    #[must_use]
    pub fn current_version(mut self, version: Option<u64>) -> Self {
        self.current_version = Some(version);
        self
    }

    /// Send `WWW-Authenticate: <challenge>` with the answer.
    #[must_use]
    pub fn challenge(mut self, challenge: &'static str) -> Self {
        self.www_authenticate = Some(challenge);
        self
    }

    /// The problem of a denial: **the** table from [`Denial`] to type, status, title and
    /// extra members. `detail` is the denial's `Display`.
    pub fn for_denial(denial: &Denial) -> Self {
        use StatusCode as S;
        let row = |status, kind, title| Problem::new(status, kind, title, denial.to_string());
        match denial {
            Denial::UnknownTenant(_) => row(S::FORBIDDEN, "unknown-tenant", "Unknown tenant"),
            Denial::AiOptedOut(_) => row(
                S::FORBIDDEN,
                "ai-opted-out",
                "AI turned off for this tenant",
            ),
            Denial::FeatureOptedOut(_) => row(
                S::FORBIDDEN,
                "feature-opted-out",
                "AI feature turned off for this tenant",
            ),
            Denial::RegionPinned(r) => {
                let mut p = row(
                    S::FORBIDDEN,
                    "region-pinned",
                    "Tenant pinned to another region",
                );
                p.required_region = Some(r.required_region.to_string());
                p.instance_region = Some(r.instance_region.to_string());
                // Every cause answers the same; the detail tells them apart.
                match r.cause {
                    RegionPinnedCause::UnknownRegionSet
                    | RegionPinnedCause::Instance
                    | RegionPinnedCause::NoUpstream => p,
                }
            }
            Denial::TrainingDataBlocked(_) => row(
                S::FORBIDDEN,
                "training-data-blocked",
                "Customer data may not be used for training",
            ),
            Denial::ProhibitedUse(p) => {
                let mut problem = row(S::FORBIDDEN, "prohibited-use", "Prohibited use of AI");
                problem.category = Some(p.category.to_string());
                problem
            }
            Denial::ConsentRequired(_) => row(
                S::FORBIDDEN,
                "consent-required",
                "Explicit consent required",
            ),
            Denial::HumanOversightRequired(_) => row(
                S::FORBIDDEN,
                "human-oversight-required",
                "Human oversight required",
            ),
            Denial::BodyTooLarge(_) => row(
                S::PAYLOAD_TOO_LARGE,
                "body-too-large",
                "Request body too large",
            ),
            Denial::MalformedRequest(_) => {
                row(S::BAD_REQUEST, "malformed-request", "Malformed request")
            }
            Denial::PolicyUnavailable(_) => row(
                S::SERVICE_UNAVAILABLE,
                "policy-unavailable",
                "Policy unavailable",
            ),
            Denial::UnsupportedMediaType(_) => row(
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            ),
            // RFC 6750 §3: no error code when no credentials were sent at all.
            Denial::Unauthenticated(u) => row(
                S::UNAUTHORIZED,
                "unauthenticated",
                "Authentication required",
            )
            .challenge(if u.missing {
                "Bearer"
            } else {
                r#"Bearer error="invalid_token""#
            }),
        }
    }

    /// The `route-not-found` problem: the path is not a guarded route, so nothing is forwarded
    /// and no decision is recorded.
    pub fn route_not_found() -> Self {
        Problem::new(
            StatusCode::NOT_FOUND,
            "route-not-found",
            "Route not found",
            "no AI route is configured for this method and path",
        )
    }

    /// The `application/problem+json` response, with `Cache-Control: no-store` and, for a
    /// decided problem, `Raigate-Decision-Id`.
    pub fn into_response(self) -> Response<Bytes> {
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut resp = Response::new(Bytes::from(body));
        *resp.status_mut() = self.status();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(id) = self
            .decision_id
            .as_deref()
            .and_then(|id| HeaderValue::from_str(id).ok())
        {
            h.insert(DECISION_ID, id);
        }
        if let Some(challenge) = self.www_authenticate {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{BodyTooLarge, RegionPinned, Unauthenticated};
    use std::sync::Arc;

    #[test]
    fn denials_answer_with_their_row() {
        let d: Denial = RegionPinned {
            required_region: Arc::from("eu"),
            instance_region: Arc::from("us-east-1"),
            cause: RegionPinnedCause::Instance,
        }
        .into();
        let resp = Problem::for_denial(&d)
            .decided("id-1", Some("region-pinned"))
            .into_response();
        assert_eq!(resp.status(), 403);
        assert_eq!(resp.headers()[DECISION_ID.as_str()], "id-1");
        let body: serde_json::Value = serde_json::from_slice(resp.body()).unwrap_or_default();
        assert_eq!(body["required_region"], "eu");
        assert_eq!(body["instance_region"], "us-east-1");
        assert_eq!(body["rule"], "region-pinned");
        assert!(body.get("category").is_none());

        let p = Problem::for_denial(&BodyTooLarge { limit: 3 }.into());
        assert_eq!((p.status, p.problem_type()), (413, "body-too-large"));

        let missing = Unauthenticated {
            detail: "no token".into(),
            missing: true,
        };
        let resp = Problem::for_denial(&missing.into()).into_response();
        assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    }

    #[test]
    fn a_missing_version_is_written_as_null() {
        let p = Problem::new(
            StatusCode::PRECONDITION_FAILED,
            "precondition-failed",
            "t",
            "d",
        )
        .current_version(None);
        let v = serde_json::to_value(&p).unwrap_or_default();
        assert!(
            v.get("current_version")
                .is_some_and(serde_json::Value::is_null)
        );
    }
}
