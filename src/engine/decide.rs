use std::sync::Arc;
use std::time::Duration;

use super::checks::{self, Shadow, request};
use super::{Decision, Obligations, Outcome};
use crate::context::{RequestContext, RouteSpec};
use crate::policy::CompiledPolicy;
use crate::scan::ScanText;
use crate::tenants::TenantSnapshot;

/// An upstream the request may be forwarded to: one entry of the one upstream list. The
/// engine reads only its region; the layer names it in records and [`crate::DecisionInfo`]
/// (the gateway's proxy finds its address by that name) and names its provider in
/// `AI-Disclosure`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Upstream {
    /// Unique name, recorded in decisions.
    pub name: Arc<str>,
    /// Cloud region id the upstream runs in.
    pub region: Arc<str>,
    /// Provider named in `AI-Disclosure`; `None`: the name.
    pub provider: Option<Arc<str>>,
}

impl Upstream {
    /// An upstream called `name` running in `region`.
    pub fn new(name: &str, region: &str) -> Self {
        Upstream {
            name: Arc::from(name),
            region: Arc::from(region),
            provider: None,
        }
    }

    /// The provider named in `AI-Disclosure` (default: the upstream's name).
    #[must_use]
    pub fn provider(mut self, provider: &str) -> Self {
        self.provider = Some(Arc::from(provider));
        self
    }
}

/// Where the request would be served: this instance, and the upstreams it may forward to.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Placement<'a> {
    /// Cloud region id of this instance.
    pub instance_region: &'a Arc<str>,
    /// Candidate upstreams, in preference order; empty when the service itself answers.
    pub upstreams: &'a [Upstream],
}

impl<'a> Placement<'a> {
    /// The service answers in-process (library mode): only the instance region counts.
    pub fn local(instance_region: &'a Arc<str>) -> Self {
        Placement {
            instance_region,
            upstreams: &[],
        }
    }

    /// The request may be forwarded to one of `upstreams`, in preference order.
    pub fn with_upstreams(instance_region: &'a Arc<str>, upstreams: &'a [Upstream]) -> Self {
        Placement {
            instance_region,
            upstreams,
        }
    }
}

/// Everything the decision reads about one request: the facts the layer gathered.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct DecisionInput<'a> {
    /// Who asks, for what.
    pub ctx: &'a RequestContext,
    /// The route.
    pub route: &'a RouteSpec,
    /// Instance and upstream regions.
    pub placement: Placement<'a>,
    /// The request's normalised text; `None` when not (yet) read: content rules are skipped.
    pub content: Option<&'a ScanText>,
    /// The body's length in bytes once read; `None` before. A body that stopped being read
    /// past a limit is reported as one byte over it.
    pub body_len: Option<u64>,
    /// How long ago the tenant snapshot last matched its store (`None`: it has no store).
    pub settings_age: Option<Duration>,
    /// The bound on `settings_age`; older settings refuse the request.
    pub max_staleness: Duration,
}

impl<'a> DecisionInput<'a> {
    /// The input for `ctx` on `route` at `placement`: no content read yet, fresh settings.
    #[must_use]
    pub fn new(ctx: &'a RequestContext, route: &'a RouteSpec, placement: Placement<'a>) -> Self {
        DecisionInput {
            ctx,
            route,
            placement,
            content: None,
            body_len: None,
            settings_age: None,
            max_staleness: Duration::MAX,
        }
    }

    /// The request's text, read and normalised.
    #[must_use]
    pub fn content(mut self, content: Option<&'a ScanText>) -> Self {
        self.content = content;
        self
    }

    /// The body's length in bytes, once read.
    #[must_use]
    pub fn body_len(mut self, len: Option<u64>) -> Self {
        self.body_len = len;
        self
    }

    /// The tenant snapshot's age and its bound (fail closed past it).
    #[must_use]
    pub fn settings_age(mut self, age: Option<Duration>, bound: Duration) -> Self {
        self.settings_age = age;
        self.max_staleness = bound;
        self
    }
}

/// Decide one request. Pure: the same input gives the same answer.
///
/// Order: fresh settings ([`checks::request`]), then the tenant (known, AI on, feature not
/// opted out), the tenant's body cap, region pinning, the training guard, purpose rules,
/// content rules. The first enforced denial decides; a shadowed one is remembered and the
/// request allowed with `shadow = true`.
pub fn decide(
    input: &DecisionInput<'_>,
    tenants: &TenantSnapshot,
    policy: &CompiledPolicy,
) -> Decision {
    if let Some(stale) = request::stale_settings(input.settings_age, input.max_staleness) {
        return stale;
    }
    let tenant = match checks::tenant::find(input, tenants, policy) {
        Ok(t) => t,
        // Never shadowed: without a tenant there is nothing to go on with.
        Err((rule, denial)) => return Decision::deny(rule.id, denial),
    };
    let mut shadow = Shadow::new(tenant.version);
    for check in checks::ORDER {
        if let Some(denied) = shadow.apply(check(input, tenant, policy)) {
            return denied;
        }
    }

    // Allow, with obligations.
    let tenant_version = shadow.tenant_version;
    let (shadowed, rule, denial) = match shadow.into_first() {
        Some((rule, denial)) => (true, Some(rule), Some(denial)),
        None => (false, None, None),
    };
    let feature = input
        .route
        .feature
        .as_deref()
        .and_then(|f| policy.feature(f));
    Decision {
        outcome: Outcome::Allow,
        shadow: shadowed,
        rule,
        denial,
        obligations: Obligations {
            ai_disclosure: true,
            human_review_notice: feature.is_some_and(|f| f.human_review_notice)
                || checks::purpose::notice(input, policy),
        },
        upstream: checks::region::upstream(input, tenant, policy),
        tenant_version,
    }
}
