use std::sync::Arc;

use super::{
    AiOptedOut, ConsentRequired, Decision, Denial, FeatureOptedOut, HumanOversightRequired,
    Obligations, Outcome, ProhibitedUse, RegionPinned, TrainingDataBlocked, UnknownTenant,
};
use crate::context::{DataClass, RequestContext, RouteClass, RouteSpec};
use crate::policy::{CompiledPolicy, PurposeRuleKind, RuleRef};
use crate::scan::ScanText;
use crate::tenants::TenantSnapshot;

/// An upstream as the engine sees it: only its region matters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamRegion {
    /// Cloud region id the upstream runs in.
    pub region: Arc<str>,
}

/// Where the request would be served: this instance, and the upstreams it may forward to.
#[derive(Debug, Clone, Copy)]
pub struct Placement<'a> {
    /// Cloud region id of this instance.
    pub instance_region: &'a Arc<str>,
    /// Candidate upstreams, in preference order; empty when the service itself answers.
    pub upstreams: &'a [UpstreamRegion],
}

impl<'a> Placement<'a> {
    /// The service answers in-process (library mode): only the instance region counts.
    pub fn local(instance_region: &'a Arc<str>) -> Self {
        Placement {
            instance_region,
            upstreams: &[],
        }
    }
}

/// Everything the decision reads about one request.
#[derive(Debug, Clone, Copy)]
pub struct DecisionInput<'a> {
    /// Who asks, for what.
    pub ctx: &'a RequestContext,
    /// The route.
    pub route: &'a RouteSpec,
    /// Instance and upstream regions.
    pub placement: Placement<'a>,
    /// The request's normalised text; `None` when not (yet) read: content rules are skipped.
    pub content: Option<&'a ScanText>,
}

/// Whether the route's request text must be read for content rules.
pub fn needs_content(route: &RouteSpec, policy: &CompiledPolicy) -> bool {
    policy.has_content_rules()
        && route
            .feature
            .as_deref()
            .and_then(|f| policy.feature(f))
            .is_some_and(|f| f.scan_content)
}

/// Remembers the first shadowed denial while the checks go on.
struct Verdict {
    shadowed: Option<(Arc<str>, Denial)>,
    tenant_version: Option<u64>,
}

impl Verdict {
    /// A denial by `rule`: final when enforced, remembered when shadowed.
    fn deny(&mut self, rule: &RuleRef, denial: impl Into<Denial>) -> Option<Decision> {
        if rule.shadow {
            if self.shadowed.is_none() {
                self.shadowed = Some((rule.id.clone(), denial.into()));
            }
            None
        } else {
            let mut d = Decision::deny(rule.id.clone(), denial.into());
            d.tenant_version = self.tenant_version;
            Some(d)
        }
    }
}

/// Decide one request. Pure: the same input gives the same answer.
pub fn decide(
    input: &DecisionInput<'_>,
    tenants: &TenantSnapshot,
    policy: &CompiledPolicy,
) -> Decision {
    let core = policy.core();
    let ctx = input.ctx;
    let mut v = Verdict {
        shadowed: None,
        tenant_version: None,
    };

    // 1. Tenant known, AI on, feature not opted out.
    let Some(tenant_id) = ctx.tenant.as_deref() else {
        return Decision::deny(
            core.unknown_tenant.id.clone(),
            UnknownTenant { missing: true }.into(),
        );
    };
    let Some(tenant) = tenants.get(tenant_id) else {
        return Decision::deny(
            core.unknown_tenant.id.clone(),
            UnknownTenant { missing: false }.into(),
        );
    };
    v.tenant_version = Some(tenant.version);
    if !tenant.ai_enabled
        && let Some(d) = v.deny(&core.ai_opted_out, AiOptedOut)
    {
        return d;
    }
    let feature = input
        .route
        .feature
        .as_deref()
        .and_then(|f| policy.feature(f));
    if let Some(f) = &input.route.feature
        && tenant.is_opted_out(f)
        && let Some(d) = v.deny(
            &core.feature_opted_out,
            FeatureOptedOut { feature: f.clone() },
        )
    {
        return d;
    }

    // 2. Region pinning: this instance, then the upstream.
    let upstreams = input.placement.upstreams;
    let mut upstream = (!upstreams.is_empty()).then_some(0);
    if let Some(required) = tenant.region.as_deref() {
        let instance = input.placement.instance_region;
        let in_set = |region: &str| {
            policy
                .region_set_of(region)
                .is_some_and(|s| &**s == required)
        };
        let known_set = policy.has_region_set(required);
        let instance_ok = known_set && in_set(instance);
        let eligible = upstreams.iter().position(|u| in_set(&u.region));
        let upstream_ok = upstreams.is_empty() || eligible.is_some();
        if instance_ok && upstream_ok {
            upstream = eligible;
        } else if let Some(d) = v.deny(
            &core.region_pinned,
            RegionPinned {
                required_region: Arc::from(required),
                instance_region: instance.clone(),
                instance_ok,
                known_set,
            },
        ) {
            return d;
        }
    }

    // 3. Training guard.
    if input.route.class == RouteClass::Training
        && ctx.data_class == DataClass::Customer
        && let Some(d) = v.deny(&core.training_data_blocked, TrainingDataBlocked)
    {
        return d;
    }

    // 4. Purpose rules.
    let mut obligations = Obligations {
        ai_disclosure: true,
        human_review_notice: feature.is_some_and(|f| f.human_review_notice),
    };
    if let Some(rule) = ctx.purpose.as_deref().and_then(|p| policy.purpose(p)) {
        let purpose = &rule.purpose;
        let denial: Option<Denial> = match rule.kind {
            PurposeRuleKind::ProhibitedUse => Some(
                ProhibitedUse {
                    purpose: Some(purpose.clone()),
                    category: purpose.clone(),
                }
                .into(),
            ),
            PurposeRuleKind::ConsentRequired => (!ctx.has_consent_for(purpose)).then(|| {
                ConsentRequired {
                    purpose: purpose.clone(),
                }
                .into()
            }),
            PurposeRuleKind::HumanOversightRequired => (!ctx.human_oversight).then(|| {
                HumanOversightRequired {
                    purpose: purpose.clone(),
                }
                .into()
            }),
            PurposeRuleKind::Notice => {
                obligations.human_review_notice = true;
                None
            }
        };
        if let Some(denial) = denial
            && let Some(d) = v.deny(&rule.rule, denial)
        {
            return d;
        }
    }

    // 5. Content rules.
    if let (Some(text), true) = (input.content, feature.is_some_and(|f| f.scan_content)) {
        let matches = policy.scanner().scan(text.as_str());
        for i in matches.iter() {
            let Some(rule) = policy.content_rules().get(i) else {
                continue;
            };
            let denial = ProhibitedUse {
                purpose: None,
                category: rule.category.clone(),
            };
            if let Some(d) = v.deny(&rule.rule, denial) {
                return d;
            }
        }
    }

    // 6. Allow, with obligations.
    let (shadow, rule, denial) = match v.shadowed {
        Some((rule, denial)) => (true, Some(rule), Some(denial)),
        None => (false, None, None),
    };
    Decision {
        outcome: Outcome::Allow,
        shadow,
        rule,
        denial,
        obligations,
        upstream,
        tenant_version: v.tenant_version,
    }
}
