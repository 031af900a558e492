//! Who may read the decision trace through its compliance routes (`crate::trace::admin_routes`):
//! the admin API's bearer tokens and roles, as a [`TraceAccess`].

use axum::body::Body;
use axum::response::IntoResponse;
use http::{HeaderMap, Response};

use super::auth::{Role, authenticate};
use super::{AdminError, AdminState};
use crate::trace::{Access, TraceAccess, TraceAction};

impl TraceAccess for AdminState {
    fn authorize(
        &self,
        headers: &HeaderMap,
        action: TraceAction,
    ) -> Result<Access, Response<Body>> {
        let Some(who) = authenticate(&self.tokens, headers) else {
            return Err(AdminError::Unauthorized.into_response());
        };
        match (who.role, action) {
            (Role::Operator | Role::Compliance, _) => Ok(Access::All),
            (Role::TenantAdmin(tenant), TraceAction::ReadDecisions) => Ok(Access::Tenant(tenant)),
            (Role::TenantAdmin(_), TraceAction::Verify) => Err(AdminError::Forbidden(
                "verifying the whole trace needs an operator or compliance token".to_owned(),
            )
            .into_response()),
        }
    }
}
