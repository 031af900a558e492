use std::time::{Instant, SystemTime};

use axum::Json;
use axum::Router;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Serialize;
use serde_json::json;
use utoipa::{OpenApi, ToSchema};

use super::auth::{Principal, authenticate};
use super::error::AdminError;
use super::state::AdminState;
use crate::problem::Problem;
use crate::tenants::TenantSettings;
use crate::tenants::store::{ChangeRecordHook, Edit, Expect, Mutation};
use crate::trace::{DecisionRecord, Phase};

/// The admin API: tenant routes, `/healthz`, `/readyz` and `/openapi.json`.
///
/// | route | who |
/// |---|---|
/// | `GET /v1/tenants` | operator, compliance: all; tenant-admin: its own |
/// | `GET /v1/tenants/{id}` | operator, compliance, tenant-admin of `id` |
/// | `PUT /v1/tenants/{id}` | operator, tenant-admin of `id` |
/// | `PUT`/`DELETE /v1/tenants/{id}/opt-outs/{feature}` | operator, tenant-admin of `id` |
/// | `GET /healthz`, `/readyz`, `/openapi.json` | anyone (no token) |
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/v1/tenants", get(list_tenants))
        .route("/v1/tenants/{id}", get(get_tenant).put(put_tenant))
        .route(
            "/v1/tenants/{id}/opt-outs/{feature}",
            put(opt_out).delete(opt_in),
        )
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(openapi))
        .fallback(|| async { AdminError::NoRoute })
        .method_not_allowed_fallback(|| async { AdminError::MethodNotAllowed })
        .with_state(state)
}

/// The OpenAPI 3 document of the admin API, generated from the handlers.
#[derive(OpenApi)]
#[openapi(
    info(title = "raigate admin API", description = "Tenant AI settings (read, replace, opt out of and back into features) and the decision trace (list, get, export, verify)."),
    paths(list_tenants, get_tenant, put_tenant, opt_out, opt_in, healthz, readyz,
        crate::trace::http::list, crate::trace::http::one, crate::trace::http::export,
        crate::trace::http::audit_verify),
    components(schemas(TenantSettings, TenantList, Problem, crate::trace::DecisionRecord,
        crate::trace::DecisionPage, crate::trace::VerifyReport, crate::trace::Phase)),
    modifiers(&BearerAuth),
    tags((name = "tenants", description = "Tenant settings"), (name = "decisions", description = "The decision trace, for compliance"), (name = "health", description = "Probes"))
)]
pub struct AdminApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// `GET /v1/tenants` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantList {
    /// The tenants the caller may read, ordered by id.
    pub tenants: Vec<TenantSettings>,
}

/// Path and body extraction failures answer as problems too.
fn path<T>(p: Result<Path<T>, PathRejection>) -> Result<T, AdminError> {
    p.map(|Path(v)| v)
        .map_err(|e| AdminError::Malformed(format!("bad path: {}", e.body_text())))
}

fn auth(state: &AdminState, headers: &HeaderMap) -> Result<Principal, AdminError> {
    authenticate(&state.tokens, headers).ok_or(AdminError::Unauthorized)
}

fn may_read(p: &Principal, id: &str) -> Result<(), AdminError> {
    if p.can_read(id) {
        Ok(())
    } else {
        Err(AdminError::Forbidden(
            "this token may not read that tenant".into(),
        ))
    }
}

fn may_write(p: &Principal, id: &str) -> Result<(), AdminError> {
    if p.can_write(id) {
        Ok(())
    } else {
        Err(AdminError::Forbidden(format!(
            "a {} token may not change that tenant",
            p.role.as_str()
        )))
    }
}

/// `If-Match: "3"` (also `W/"3"` or `3`) → `Some(3)`.
fn if_match(headers: &HeaderMap) -> Result<Option<u64>, AdminError> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let s = v.to_str().unwrap_or("").trim();
    let s = s.strip_prefix("W/").unwrap_or(s);
    s.trim_matches('"').parse::<u64>().map(Some).map_err(|_| {
        AdminError::Malformed(
            "If-Match must be the quoted version from the ETag, e.g. \"3\"".into(),
        )
    })
}

fn document(status: StatusCode, settings: &TenantSettings) -> Response {
    let mut resp = (status, Json(settings)).into_response();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", settings.version)) {
        resp.headers_mut().insert(header::ETAG, etag);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The change's record, made durable inside the write before it commits (an admin record:
/// `phase` and `class` `admin`).
fn change_record(
    state: &AdminState,
    who: &Principal,
    route: &'static str,
    rule: &'static str,
    feature: Option<String>,
    started: Instant,
) -> ChangeRecordHook {
    let sink = state.sink.clone();
    let region = state.region.to_string();
    let policy_version = state.policy.current().version().to_string();
    let subject = who.token_id.clone();
    Box::new(move |before, after| {
        let now = SystemTime::now();
        let mut record = DecisionRecord::new(
            Phase::Admin,
            crate::trace::decision_id(now).to_string(),
            humantime::format_rfc3339_micros(now).to_string(),
        );
        record.tenant = Some(after.id.clone());
        record.subject = Some(subject);
        record.feature = feature;
        record.route = route.to_owned();
        record.class = "admin".to_owned();
        record.data_class = "none".to_owned();
        record.region = region;
        record.outcome = "allow".to_owned();
        record.rule = Some(rule.to_owned());
        record.reason = json!({"before": before, "after": after}).to_string();
        record.policy_version = policy_version;
        record.tenant_version = Some(after.version);
        record.latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let submitted = sink.submit(record);
        Box::pin(async move {
            match submitted {
                Ok(commit) => commit.await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            }
        })
    })
}

/// Apply a mutation with its change record; publish the result into the live view at once.
async fn apply(
    state: &AdminState,
    who: &Principal,
    mutation: Mutation,
    hook: ChangeRecordHook,
    had_if_match: bool,
) -> Result<crate::tenants::store::Applied, AdminError> {
    let id = mutation.id.clone();
    let applied = state
        .store
        .apply(mutation, Some(hook))
        .await
        .map_err(|e| {
            if let crate::tenants::StoreError::ChangeRecord(_) = &e {
                tracing::error!(tenant = %id, error = %e, "admin change refused: its record is not durable");
            }
            AdminError::from_store(e, had_if_match)
        })?;
    if applied.changed {
        tracing::info!(tenant = %id, token_id = %who.token_id, version = applied.after.version, "tenant settings changed");
        if let Some(view) = &state.view {
            view.upsert_newer(applied.after.clone());
        }
    }
    Ok(applied)
}

/// List tenants.
#[utoipa::path(get, path = "/v1/tenants", tag = "tenants",
    responses(
        (status = 200, description = "Tenants the caller may read", body = TenantList),
        (status = 401, description = "No or unknown token", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Store unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn list_tenants(
    State(state): State<AdminState>,
    headers: HeaderMap,
) -> Result<Response, AdminError> {
    let who = auth(&state, &headers)?;
    let tenants = state
        .store
        .list()
        .await
        .map_err(|e| AdminError::from_store(e, false))?
        .into_iter()
        .filter(|t| who.can_read(&t.id))
        .collect();
    let mut resp = Json(TenantList { tenants }).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// Read one tenant; the `ETag` is its quoted version.
#[utoipa::path(get, path = "/v1/tenants/{id}", tag = "tenants",
    params(("id" = String, Path, description = "Tenant id")),
    responses(
        (status = 200, description = "The tenant; ETag = quoted version", body = TenantSettings),
        (status = 401, description = "No or unknown token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Another tenant's admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn get_tenant(
    State(state): State<AdminState>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, AdminError> {
    let who = auth(&state, &headers)?;
    let id = path(id)?;
    may_read(&who, &id)?;
    match state
        .store
        .get(&id)
        .await
        .map_err(|e| AdminError::from_store(e, false))?
    {
        Some(t) => Ok(document(StatusCode::OK, &t)),
        None => Err(AdminError::TenantNotFound(id)),
    }
}

/// Create (no `If-Match`, 201) or replace (`If-Match: "<version>"`, 200) a tenant.
///
/// Replacing without `If-Match` is 428 (`precondition-required`); a stale `If-Match`, or one
/// for a tenant that does not exist, is 412 (`precondition-failed`). Both carry
/// `current_version`.
#[utoipa::path(put, path = "/v1/tenants/{id}", tag = "tenants",
    params(
        ("id" = String, Path, description = "Tenant id"),
        ("If-Match" = Option<String>, Header, description = "Quoted version from the ETag; required to replace"),
    ),
    request_body = TenantSettings,
    responses(
        (status = 200, description = "Replaced", body = TenantSettings),
        (status = 201, description = "Created", body = TenantSettings),
        (status = 400, description = "Not JSON, or bad If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Compliance, or another tenant's admin", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Stale If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over the admin API's limit (2 MB)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown region set or feature, id mismatch, id outside the tenant-id grammar", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "Replace without If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Store or decision trace unavailable; nothing changed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn put_tenant(
    State(state): State<AdminState>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AdminError> {
    let started = Instant::now();
    let who = auth(&state, &headers)?;
    let id = path(id)?;
    may_write(&who, &id)?;
    let expected = if_match(&headers)?;
    let body = body.map_err(body_rejected)?;
    let input: TenantSettings = serde_json::from_slice(&body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => AdminError::Invalid(e.to_string()),
        _ => AdminError::Malformed(format!("the body is not JSON: {e}")),
    })?;
    if !input.id.is_empty() && input.id != id {
        return Err(AdminError::Invalid(
            "`id` in the body differs from the path".into(),
        ));
    }
    // The proxy's grammar (header, JWT claim): a tenant it could never match is not created.
    crate::tenants::check_tenant_id(&id).map_err(|e| AdminError::Invalid(e.to_string()))?;
    let policy = state.policy.current();
    if let Some(r) = &input.region
        && !policy.has_region_set(r)
    {
        return Err(AdminError::Invalid(format!(
            "`{r}` is not a region set of the policy"
        )));
    }
    if let Some(f) = input.opted_out.iter().find(|f| policy.feature(f).is_none()) {
        return Err(AdminError::Invalid(format!(
            "`{f}` is not a feature of the policy"
        )));
    }
    drop(policy);
    // The store sets the version; the precondition is If-Match.
    let settings = TenantSettings {
        id: id.clone(),
        ..input
    };
    let (expect, rule) = match expected {
        Some(v) => (Expect::Version(v), "admin-tenant-update"),
        None => (Expect::Absent, "admin-tenant-create"),
    };
    let hook = change_record(&state, &who, "PUT /v1/tenants/{id}", rule, None, started);
    let mutation = Mutation {
        id,
        expect,
        edit: Edit::Replace(settings),
    };
    let applied = apply(&state, &who, mutation, hook, expected.is_some()).await?;
    let status = if applied.before.is_none() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(document(status, &applied.after))
}

/// A body that could not be read: over the admin API's limit (axum's default, 2 MB) is 413
/// `body-too-large`, anything else 400.
fn body_rejected(e: BytesRejection) -> AdminError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        AdminError::BodyTooLarge(ADMIN_BODY_LIMIT)
    } else {
        AdminError::Malformed(e.body_text())
    }
}

/// The largest request body the admin API reads (axum's default body limit, stated here so the
/// problem can name it).
pub(crate) const ADMIN_BODY_LIMIT: usize = 2 * 1024 * 1024;

async fn toggle(
    state: AdminState,
    ids: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    opted_out: bool,
) -> Result<Response, AdminError> {
    let started = Instant::now();
    let who = auth(&state, &headers)?;
    let (id, feature) = path(ids)?;
    may_write(&who, &id)?;
    if state.policy.current().feature(&feature).is_none() {
        return Err(AdminError::FeatureNotFound(feature));
    }
    let expected = if_match(&headers)?;
    let (route, rule) = if opted_out {
        ("PUT /v1/tenants/{id}/opt-outs/{feature}", "admin-opt-out")
    } else {
        ("DELETE /v1/tenants/{id}/opt-outs/{feature}", "admin-opt-in")
    };
    let hook = change_record(&state, &who, route, rule, Some(feature.clone()), started);
    let mutation = Mutation {
        id,
        expect: expected.map_or(Expect::Any, Expect::Version),
        edit: Edit::OptOut { feature, opted_out },
    };
    let applied = apply(&state, &who, mutation, hook, expected.is_some()).await?;
    Ok(document(StatusCode::OK, &applied.after))
}

/// Opt the tenant out of a feature (idempotent; bumps the version when it changes anything).
#[utoipa::path(put, path = "/v1/tenants/{id}/opt-outs/{feature}", tag = "tenants",
    params(
        ("id" = String, Path, description = "Tenant id"),
        ("feature" = String, Path, description = "Feature of the policy catalogue"),
        ("If-Match" = Option<String>, Header, description = "Optional quoted version"),
    ),
    responses(
        (status = 200, description = "The tenant after the change", body = TenantSettings),
        (status = 401, description = "No or unknown token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Compliance, or another tenant's admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or feature", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Stale If-Match", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn opt_out(
    State(state): State<AdminState>,
    ids: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, AdminError> {
    toggle(state, ids, headers, true).await
}

/// Opt the tenant back into a feature.
#[utoipa::path(delete, path = "/v1/tenants/{id}/opt-outs/{feature}", tag = "tenants",
    params(
        ("id" = String, Path, description = "Tenant id"),
        ("feature" = String, Path, description = "Feature of the policy catalogue"),
        ("If-Match" = Option<String>, Header, description = "Optional quoted version"),
    ),
    responses(
        (status = 200, description = "The tenant after the change", body = TenantSettings),
        (status = 401, description = "No or unknown token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Compliance, or another tenant's admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or feature", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn opt_in(
    State(state): State<AdminState>,
    ids: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, AdminError> {
    toggle(state, ids, headers, false).await
}

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "Alive")))]
async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// Readiness: 503 `policy-unavailable` while the tenant snapshot is older than its bound.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready"),
        (status = 503, description = "Tenant settings stale", body = Problem, content_type = "application/problem+json"),
    ))]
async fn readyz(State(state): State<AdminState>) -> Response {
    let age = state
        .view
        .as_ref()
        .and_then(crate::tenants::TenantView::staleness);
    let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    match age {
        Some(age) if age > state.max_staleness => AdminError::PolicyUnavailable(format!(
            "tenant settings have not been refreshed for {} ms (bound {} ms); AI requests are refused",
            ms(age),
            ms(state.max_staleness)
        ))
        .into_response(),
        _ => Json(json!({"status": "ready", "stale_for_ms": age.map(ms)})).into_response(),
    }
}

async fn openapi() -> Response {
    Json(AdminApiDoc::openapi()).into_response()
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi;

    #[test]
    fn the_openapi_document_lists_every_route() {
        let doc = serde_json::to_value(super::AdminApiDoc::openapi()).unwrap_or_default();
        let paths = doc.get("paths").and_then(|p| p.as_object());
        let mut names: Vec<&str> = paths
            .map(|p| p.keys().map(String::as_str).collect())
            .unwrap_or_default();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "/healthz",
                "/readyz",
                "/v1/audit/verify",
                "/v1/decisions",
                "/v1/decisions/export",
                "/v1/decisions/{id}",
                "/v1/tenants",
                "/v1/tenants/{id}",
                "/v1/tenants/{id}/opt-outs/{feature}"
            ]
        );
    }
}
