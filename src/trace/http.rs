//! The compliance routes of the decision trace: `GET /v1/decisions` (list), `/v1/decisions/{id}`,
//! `/v1/decisions/export` and `/v1/audit/verify`, as an axum [`Router`] fragment. Who may read
//! what is the caller's decision: the admin API plugs its bearer tokens in through
//! [`TraceAccess`].

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use ed25519_dalek::VerifyingKey;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};

use super::query::{DecisionQuery, ExportFormat};
use super::{TraceError, TraceStore, verify};
use crate::problem::Problem;

/// What a caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Every tenant's decisions (compliance, operator).
    All,
    /// Only this tenant's decisions (tenant-admin).
    Tenant(String),
}

/// What a request to the compliance routes asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceAction {
    /// List, get or export decisions.
    ReadDecisions,
    /// Verify the chain (needs [`Access::All`]).
    Verify,
}

/// Decides who may read the decision trace through [`admin_routes`]. `Err` is the response to
/// send (401, 403, …).
pub trait TraceAccess: Send + Sync + 'static {
    /// Authorise a request with `headers` for `action`.
    // A response as the error is the axum idiom; its size does not matter on this path.
    #[allow(clippy::result_large_err)]
    fn authorize(&self, headers: &HeaderMap, action: TraceAction)
    -> Result<Access, Response<Body>>;
}

impl<F> TraceAccess for F
where
    F: Fn(&HeaderMap, TraceAction) -> Result<Access, Response<Body>> + Send + Sync + 'static,
{
    #[allow(clippy::result_large_err)]
    fn authorize(
        &self,
        headers: &HeaderMap,
        action: TraceAction,
    ) -> Result<Access, Response<Body>> {
        self(headers, action)
    }
}

#[derive(Clone)]
pub(crate) struct Ctx {
    store: TraceStore,
    auth: Arc<dyn TraceAccess>,
    trusted: Option<VerifyingKey>,
}

/// `GET /v1/decisions`, `GET /v1/decisions/{id}`, `GET /v1/decisions/export?format=jsonl|csv`
/// and `GET /v1/audit/verify` over `store`. Checkpoints must be signed by `trusted` (the
/// public key of the configured checkpoint key) when given.
pub fn admin_routes(
    store: TraceStore,
    auth: Arc<dyn TraceAccess>,
    trusted: Option<VerifyingKey>,
) -> Router {
    Router::new()
        .route("/v1/decisions", get(list))
        .route("/v1/decisions/export", get(export))
        .route("/v1/decisions/{id}", get(one))
        .route("/v1/audit/verify", get(audit_verify))
        .with_state(Ctx {
            store,
            auth,
            trusted,
        })
}

fn problem_response(status: StatusCode, kind: &str, title: &str, detail: &str) -> Response<Body> {
    Problem::new(status, kind, title.to_owned(), detail)
        .into_response()
        .map(Body::from)
}

fn error_response(e: &TraceError) -> Response<Body> {
    match e {
        TraceError::Query(q) => problem_response(
            StatusCode::BAD_REQUEST,
            "malformed-request",
            "Malformed request",
            &q.to_string(),
        ),
        other => {
            tracing::error!(error = %other, "decision store query failed");
            problem_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "store-unavailable",
                "Decision store unavailable",
                "the decision store could not be read",
            )
        }
    }
}

fn json_response(v: &impl serde::Serialize) -> Response<Body> {
    let bytes = serde_json::to_vec(v).unwrap_or_default();
    let mut r = Response::new(Body::from(bytes));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Parse the query string; apply the caller's tenant restriction.
#[allow(clippy::result_large_err)]
fn scoped_query(raw: Option<String>, access: &Access) -> Result<DecisionQuery, Response<Body>> {
    let raw = raw.unwrap_or_default();
    let mut q: DecisionQuery = serde_urlencoded_query(&raw).map_err(|detail| {
        problem_response(
            StatusCode::BAD_REQUEST,
            "malformed-request",
            "Malformed request",
            &detail,
        )
    })?;
    if let Access::Tenant(t) = access {
        match &q.tenant {
            Some(asked) if asked != t => {
                return Err(problem_response(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "Forbidden",
                    "a tenant admin sees only its own tenant's decisions",
                ));
            }
            _ => q.tenant = Some(t.clone()),
        }
    }
    Ok(q)
}

fn serde_urlencoded_query(raw: &str) -> Result<DecisionQuery, String> {
    let uri: http::Uri = format!("/?{raw}")
        .parse()
        .map_err(|e| format!("bad query string: {e}"))?;
    axum::extract::Query::<DecisionQuery>::try_from_uri(&uri)
        .map(|q| q.0)
        .map_err(|e| e.body_text())
}

/// One page of decisions, oldest first.
#[utoipa::path(get, path = "/v1/decisions", tag = "decisions",
    params(
        ("tenant" = Option<String>, Query, description = "Only this tenant (a tenant-admin's own tenant is implied)"),
        ("outcome" = Option<String>, Query, description = "`allow` or `deny`"),
        ("feature" = Option<String>, Query, description = "Only this feature"),
        ("rule" = Option<String>, Query, description = "Only this rule"),
        ("subject" = Option<String>, Query, description = "Only this pseudonymous subject (`ps_…`)"),
        ("since" = Option<String>, Query, description = "From this time on, inclusive (RFC 3339)"),
        ("until" = Option<String>, Query, description = "Before this time, exclusive (RFC 3339)"),
        ("limit" = Option<u32>, Query, description = "Page size (default 100, at most 1000)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of decisions", body = super::DecisionPage),
        (status = 400, description = "Bad filter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Another tenant's decisions", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn list(
    State(c): State<Ctx>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response<Body> {
    let access = match c.auth.authorize(&headers, TraceAction::ReadDecisions) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let q = match scoped_query(raw, &access) {
        Ok(q) => q,
        Err(r) => return r,
    };
    match c.store.list(&q).await {
        Ok(page) => json_response(&page),
        Err(e) => error_response(&e),
    }
}

/// One decision by id.
#[utoipa::path(get, path = "/v1/decisions/{id}", tag = "decisions",
    params(("id" = String, Path, description = "Decision id (UUIDv7)")),
    responses(
        (status = 200, description = "The decision", body = super::DecisionRecord),
        (status = 401, description = "No or unknown token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No decision with this id is visible to the caller", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn one(
    State(c): State<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response<Body> {
    let access = match c.auth.authorize(&headers, TraceAction::ReadDecisions) {
        Ok(a) => a,
        Err(r) => return r,
    };
    match c.store.get(&id).await {
        Ok(Some(r))
            if access == Access::All
                || matches!(&access, Access::Tenant(t) if r.tenant.as_ref() == Some(t)) =>
        {
            json_response(&r)
        }
        Ok(_) => problem_response(
            StatusCode::NOT_FOUND,
            "decision-not-found",
            "Decision not found",
            "no decision with this id is visible to you",
        ),
        Err(e) => error_response(&e),
    }
}

/// Every matching decision, streamed as JSON Lines or CSV.
#[utoipa::path(get, path = "/v1/decisions/export", tag = "decisions",
    params(
        ("tenant" = Option<String>, Query, description = "Only this tenant (a tenant-admin's own tenant is implied)"),
        ("outcome" = Option<String>, Query, description = "`allow` or `deny`"),
        ("feature" = Option<String>, Query, description = "Only this feature"),
        ("rule" = Option<String>, Query, description = "Only this rule"),
        ("subject" = Option<String>, Query, description = "Only this pseudonymous subject (`ps_…`)"),
        ("since" = Option<String>, Query, description = "From this time on, inclusive (RFC 3339)"),
        ("until" = Option<String>, Query, description = "Before this time, exclusive (RFC 3339)"),
        ("format" = Option<String>, Query, description = "`jsonl` (default) or `csv`"),
    ),
    responses(
        (status = 200, description = "JSON Lines (one record per line) or CSV with a header row", content((String = "application/x-ndjson"), (String = "text/csv"))),
        (status = 400, description = "Bad filter or format", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Another tenant's decisions", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn export(
    State(c): State<Ctx>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response<Body> {
    let access = match c.auth.authorize(&headers, TraceAction::ReadDecisions) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let q = match scoped_query(raw, &access) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let format = match q.format.as_deref().map(ExportFormat::parse) {
        None => ExportFormat::Jsonl,
        Some(Some(f)) => f,
        Some(None) => {
            return problem_response(
                StatusCode::BAD_REQUEST,
                "malformed-request",
                "Malformed request",
                "format: use jsonl or csv",
            );
        }
    };
    match c.store.export_stream(&q, format) {
        Ok(stream) => {
            let mut r = Response::new(Body::from_stream(stream));
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            let name = match format {
                ExportFormat::Jsonl => "attachment; filename=\"decisions.jsonl\"",
                ExportFormat::Csv => "attachment; filename=\"decisions.csv\"",
            };
            h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static(name));
            r
        }
        Err(e) => error_response(&e),
    }
}

/// Verify the hash chain and signed checkpoints.
#[utoipa::path(get, path = "/v1/audit/verify", tag = "decisions",
    responses(
        (status = 200, description = "The verification report (`ok` false when the chain is broken)", body = super::VerifyReport),
        (status = 401, description = "No or unknown token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Needs the compliance or operator role", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn audit_verify(State(c): State<Ctx>, headers: HeaderMap) -> Response<Body> {
    match c.auth.authorize(&headers, TraceAction::Verify) {
        Ok(Access::All) => {}
        Ok(Access::Tenant(_)) => {
            return problem_response(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Forbidden",
                "verifying the trace needs the compliance or operator role",
            );
        }
        Err(r) => return r,
    }
    match verify(&c.store, c.trusted.as_ref()).await {
        Ok(report) => json_response(&report),
        Err(e) => error_response(&e),
    }
}
