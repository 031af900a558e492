//! The one place that maps denial reasons to HTTP responses (RFC 9457 problem details).

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use serde_json::{Map, Value, json};

use crate::engine::Denial;

/// Base URI of problem types; the last path segment is the type name.
pub const PROBLEM_BASE: &str = "https://raigate.dev/problems/";

/// Header carrying the decision id on every response to a guarded route.
pub const DECISION_ID: http::HeaderName = http::HeaderName::from_static("raigate-decision-id");

/// HTTP status and title for a denial.
pub fn status_and_title(denial: &Denial) -> (StatusCode, &'static str) {
    match denial {
        Denial::UnknownTenant(_) => (StatusCode::FORBIDDEN, "Unknown tenant"),
        Denial::AiOptedOut(_) => (StatusCode::FORBIDDEN, "AI turned off for this tenant"),
        Denial::FeatureOptedOut(_) => (
            StatusCode::FORBIDDEN,
            "AI feature turned off for this tenant",
        ),
        Denial::RegionPinned(_) => (StatusCode::FORBIDDEN, "Tenant pinned to another region"),
        Denial::TrainingDataBlocked(_) => (
            StatusCode::FORBIDDEN,
            "Customer data may not be used for training",
        ),
        Denial::ProhibitedUse(_) => (StatusCode::FORBIDDEN, "Prohibited use of AI"),
        Denial::ConsentRequired(_) => (StatusCode::FORBIDDEN, "Explicit consent required"),
        Denial::HumanOversightRequired(_) => (StatusCode::FORBIDDEN, "Human oversight required"),
        Denial::BodyTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "Request body too large"),
        Denial::MalformedRequest(_) => (StatusCode::BAD_REQUEST, "Malformed request"),
        Denial::PolicyUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "Policy unavailable"),
        Denial::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "Authentication required"),
    }
}

/// The problem response for a denial.
pub fn denial_response(denial: &Denial, decision_id: &str, rule: Option<&str>) -> Response<Bytes> {
    let (status, title) = status_and_title(denial);
    let mut extra = Map::new();
    extra.insert("decision_id".into(), Value::from(decision_id));
    extra.insert("rule".into(), rule.map_or(Value::Null, Value::from));
    match denial {
        Denial::RegionPinned(r) => {
            extra.insert("required_region".into(), Value::from(&*r.required_region));
            extra.insert("instance_region".into(), Value::from(&*r.instance_region));
        }
        Denial::ProhibitedUse(p) => {
            extra.insert("category".into(), Value::from(&*p.category));
        }
        _ => {}
    }
    let mut resp = problem(
        status,
        denial.problem_type(),
        title,
        &denial.to_string(),
        extra,
    );
    if let Ok(v) = HeaderValue::from_str(decision_id) {
        resp.headers_mut().insert(DECISION_ID, v);
    }
    if let Denial::Unauthenticated(u) = denial {
        // RFC 6750 §3: no error code when no credentials were sent at all.
        let challenge = if u.missing {
            "Bearer"
        } else {
            r#"Bearer error="invalid_token""#
        };
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
    }
    resp
}

/// The `route-not-found` problem: the path is not a guarded route, so nothing is forwarded.
pub fn route_not_found() -> Response<Bytes> {
    problem(
        StatusCode::NOT_FOUND,
        "route-not-found",
        "Route not found",
        "no AI route is configured for this method and path",
        Map::new(),
    )
}

/// A problem+json response with `Cache-Control: no-store`.
pub fn problem(
    status: StatusCode,
    kind: &str,
    title: &str,
    detail: &str,
    extra: Map<String, Value>,
) -> Response<Bytes> {
    let mut body = json!({
        "type": format!("{PROBLEM_BASE}{kind}"),
        "title": title,
        "status": status.as_u16(),
        "detail": detail,
    });
    if let Value::Object(obj) = &mut body {
        obj.extend(extra);
    }
    let bytes = Bytes::from(body.to_string());
    let mut resp = Response::new(bytes);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
