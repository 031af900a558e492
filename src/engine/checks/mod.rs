//! One module per check. Each holds the check's data access, its decision function, its denial
//! type(s) and its rule id, and has the same shape:
//!
//! ```text
//! fn check(input: &DecisionInput, tenant: &TenantSettings, policy: &CompiledPolicy)
//!     -> Option<(RuleRef, Denial)>
//! ```
//!
//! [`super::decide`] runs them in the order of [`ORDER`]; [`Shadow`] applies shadow mode. A
//! check that needs the request body says how much in [`body_needs`], and the layer reads it. The request-level
//! refusals (malformed, unauthenticated, too large, unavailable) live in [`request`]: the layer
//! supplies the facts (a path, a resolver error, a body that did not fit, a snapshot's age) and
//! the engine decides the denial and the rule.
//!
//! Adding a check: a new module here with `check`, one line in [`ORDER`] (and in
//! [`body_needs`] if it reads the body), and, when its denial is new, a variant of
//! [`super::Denial`] and its row in `crate::problem::Problem::for_denial`. See
//! `ARCHITECTURE.md`.

pub(crate) mod body_cap;
pub(crate) mod content;
pub(crate) mod purpose;
pub(crate) mod region;
pub(crate) mod request;
pub(crate) mod tenant;
pub(crate) mod training;

use std::sync::Arc;

use super::{Decision, DecisionInput, Denial};
use crate::context::RouteSpec;
use crate::policy::{CompiledPolicy, RuleRef};
use crate::tenants::TenantSettings;

/// What a check answers: the rule that denies and why, or `None` to go on.
pub(crate) type Verdict = Option<(RuleRef, Denial)>;

/// A check on a request from a known tenant.
pub(crate) type Check = fn(&DecisionInput<'_>, &TenantSettings, &CompiledPolicy) -> Verdict;

/// The checks that run once the tenant is known ([`tenant::find`]), in order.
pub(crate) const ORDER: [Check; 6] = [
    tenant::check,
    body_cap::check,
    region::check,
    training::check,
    purpose::check,
    content::check,
];

/// What the checks need of a request's body before the final decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyNeeds {
    /// Extract the body's text for the content rules.
    pub scan: bool,
    /// Read at most this many bytes (the instance's limit, or less where a check caps it);
    /// `None`: the body is not needed and streams through unread.
    pub limit: Option<usize>,
}

/// How much of the body the checks need on `route` for `tenant` (when known), given the
/// instance's limit on bodies read.
pub fn body_needs(
    route: &RouteSpec,
    policy: &CompiledPolicy,
    tenant: Option<&TenantSettings>,
    instance_limit: usize,
) -> BodyNeeds {
    let scan = content::needs_content(route, policy);
    let capped = [body_cap::read_limit(tenant, instance_limit)]
        .into_iter()
        .flatten()
        .min();
    BodyNeeds {
        scan,
        limit: capped.or(scan.then_some(instance_limit)),
    }
}

/// A rule no bundle names: the built-in refusals, always enforced.
pub(crate) fn builtin(id: &'static str) -> RuleRef {
    RuleRef {
        id: Arc::from(id),
        shadow: false,
    }
}

/// Remembers the first shadowed denial while the checks go on.
#[derive(Debug, Default)]
pub(crate) struct Shadow {
    first: Option<(Arc<str>, Denial)>,
    pub(crate) tenant_version: Option<u64>,
}

impl Shadow {
    /// No shadowed denial yet, deciding with the tenant settings at `tenant_version`.
    pub(crate) fn new(tenant_version: u64) -> Self {
        Shadow {
            first: None,
            tenant_version: Some(tenant_version),
        }
    }

    /// A check's verdict: `Some(decision)` when it is final (an enforced denial), `None` to go
    /// on (no denial, or a shadowed one, which is remembered if it is the first).
    pub(crate) fn apply(&mut self, verdict: Verdict) -> Option<Decision> {
        let (rule, denial) = verdict?;
        if rule.shadow {
            if self.first.is_none() {
                self.first = Some((rule.id, denial));
            }
            None
        } else {
            let mut d = Decision::deny(rule.id, denial);
            d.tenant_version = self.tenant_version;
            Some(d)
        }
    }

    /// The first shadowed denial, if any.
    pub(crate) fn into_first(self) -> Option<(Arc<str>, Denial)> {
        self.first
    }
}
