//! The admin HTTP API (axum), served by the gateway on `[server] admin_listen`.
//!
//! Tenant admins turn AI features off and on for their own tenant, operators for every tenant,
//! compliance reviewers read. The routes and status codes (see `docs/admin-api.md`):
//!
//! - `GET /v1/tenants`, `GET /v1/tenants/{id}`: the tenant document
//!   `{"id", "region", "ai_enabled", "opted_out", "version"}`, `ETag` = quoted version;
//! - `PUT /v1/tenants/{id}`: create (201, no `If-Match`) or replace (200, `If-Match` = the
//!   quoted version). Stale `If-Match`: 412 `precondition-failed`. Replacing without
//!   `If-Match`: 428 `precondition-required`. Both carry `current_version`;
//! - `PUT` / `DELETE /v1/tenants/{id}/opt-outs/{feature}`: opt out / back in (the feature must
//!   be in the policy's catalogue, else 404 `feature-not-found`);
//! - `/healthz`, `/readyz` (503 `policy-unavailable` while the settings snapshot is stale) and
//!   `/openapi.json` (generated from the handlers by `utoipa`) need no token.
//!
//! **Auth.** `Authorization: Bearer <token>`; tokens are configured only as sha-256 hex and
//! compared in constant time. Missing or unknown: 401 with `WWW-Authenticate: Bearer`. Roles:
//! `operator` (all tenants), `tenant-admin` (its own tenant only; anything else is 403 and
//! changes nothing), `compliance` (read only; writes are 403). Every error is an RFC 9457
//! problem.
//!
//! **Every change is recorded, fail closed.** Every change is written through the
//! [`crate::trace::DecisionSink`] as an admin record (`phase` and `class` `admin`, the token id
//! as subject, before/after settings as reason, the new version as `tenant_version`). The record is made durable *inside* the
//! store transaction, after the compare-and-set check and before the commit: if the record
//! cannot be written the transaction rolls back and the call answers 503 `policy-unavailable`
//! with nothing changed. (Only a database failure between a durable record and the commit can
//! leave a record of a change that did not happen, and that call then answers 503 as well.)
//!
//! [`AdminClient`] is a small client of this API; `raigate tenants …` uses it.

mod auth;
mod client;
mod error;
mod routes;
mod state;
mod trace_access;

pub use auth::{AdminToken, Principal, Role, TokenError, token_sha256};
pub use client::{AdminClient, ClientError};
pub use error::AdminError;
pub use routes::{AdminApiDoc, TenantList, router};
pub use state::AdminState;
