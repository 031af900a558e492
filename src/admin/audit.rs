//! The compliance routes of the decision trace, behind the admin API's bearer tokens.

use axum::body::Body;
use axum::response::IntoResponse;
use http::{HeaderMap, Response};

use super::auth::{Role, authenticate};
use super::{AdminError, AdminState};
use crate::trace::{Access, AuditAction, AuditAuth};

impl AuditAuth for AdminState {
    fn authorize(
        &self,
        headers: &HeaderMap,
        action: AuditAction,
    ) -> Result<Access, Response<Body>> {
        let Some(who) = authenticate(&self.tokens, headers) else {
            return Err(AdminError::Unauthorized.into_response());
        };
        match (who.role, action) {
            (Role::Operator | Role::Compliance, _) => Ok(Access::All),
            (Role::TenantAdmin(tenant), AuditAction::ReadDecisions) => Ok(Access::Tenant(tenant)),
            (Role::TenantAdmin(_), AuditAction::Verify) => Err(AdminError::Forbidden(
                "verifying the whole trace needs an operator or compliance token".to_owned(),
            )
            .into_response()),
        }
    }
}
