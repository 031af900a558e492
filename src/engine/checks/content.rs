//! Check 5: content rules. The request's normalised text is scanned for prohibited-use
//! content on routes whose feature scans content.
//!
//! Data: the bundle's `content.toml`, compiled into one scanner, and the request text the layer
//! read ([`DecisionInput::content`]; `None` until read, then the check is skipped). Rules: each
//! content rule's own id (may be shadowed). A denial by content is a `prohibited-use` with the
//! rule's category.

use std::sync::Arc;

use super::Verdict;
use crate::engine::DecisionInput;
use crate::policy::CompiledPolicy;
use crate::tenants::TenantSettings;

/// A prohibited use, by declared purpose or by content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", match .purpose {
    Some(p) => format!("the purpose `{p}` is a prohibited use of AI features"),
    None => format!("the request matches the prohibited-use category `{}`", .category),
})]
#[non_exhaustive]
pub struct ProhibitedUse {
    /// The declared purpose, when the purpose decided.
    pub purpose: Option<Arc<str>>,
    /// The prohibited-use category.
    pub category: Arc<str>,
}

/// Whether the route's request text must be read for content rules.
pub fn needs_content(route: &crate::context::RouteSpec, policy: &CompiledPolicy) -> bool {
    policy.has_content_rules()
        && route
            .feature
            .as_deref()
            .and_then(|f| policy.feature(f))
            .is_some_and(|f| f.scan_content)
}

/// The first matching enforced rule, else the first matching shadowed one (so that an
/// enforced match is never hidden behind a shadowed one).
pub(crate) fn check(
    input: &DecisionInput<'_>,
    _tenant: &TenantSettings,
    policy: &CompiledPolicy,
) -> Verdict {
    let text = input.content?;
    if !needs_content(input.route, policy) {
        return None;
    }
    let rules = policy.content_rules();
    let mut first = None;
    for rule in policy
        .scanner()
        .scan(text.as_str())
        .iter()
        .filter_map(|i| rules.get(i))
    {
        if !rule.rule.shadow {
            first = Some(rule);
            break;
        }
        first.get_or_insert(rule);
    }
    let rule = first?;
    Some((
        rule.rule.clone(),
        ProhibitedUse {
            purpose: None,
            category: rule.category.clone(),
        }
        .into(),
    ))
}
