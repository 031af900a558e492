//! The guard stage of the layer: after the engine allowed a request on a route that scans
//! content (deterministic rules, then the semantic stage), the external guards are asked
//! ([`crate::guard::GuardSet::ask`]) and their reports turned into the final decision.
//!
//! In configuration order: the first enforced flag denies (403 `prohibited-use`, the content
//! rule of the mapped category or `guard-flagged`); else the first enforced guard that was not
//! heard with `on_error = "deny"` refuses (503 `policy-unavailable`, rule `guard-unavailable`);
//! else the request goes on, and the record's `reason` names every guard that was not heard and
//! every shadow guard that flagged. A definite flag wins over a guard that was not heard.

use std::sync::Arc;

use crate::engine::{Decision, Denial, Outcome, PolicyUnavailable, ProhibitedUse};
use crate::guard::{Flag, GuardReport, GuardVerdict, OnError};
use crate::policy::CompiledPolicy;

/// The rule of a 503 because a guard with `on_error = "deny"` was not heard.
pub const RULE_GUARD_UNAVAILABLE: &str = "guard-unavailable";
/// The rule of a guard's flag whose category no content rule of the policy has.
pub const RULE_GUARD_FLAGGED: &str = "guard-flagged";

/// What the record says about the guard that decided: `detector = "guard:<name>"`, its score.
#[derive(Debug, Clone)]
pub(super) struct GuardMark {
    pub(super) detector: String,
    pub(super) score: Option<f64>,
}

/// The decision after the guards, and what the record adds.
pub(super) struct Stage {
    pub(super) decision: Decision,
    pub(super) note: Option<String>,
    pub(super) mark: Option<GuardMark>,
}

fn mark(r: &GuardReport, score: Option<f64>) -> GuardMark {
    GuardMark {
        detector: format!("guard:{}", r.name),
        score,
    }
}

/// The rule a flag of `category` is recorded under, and its denial.
fn flagged(policy: &CompiledPolicy, flag: &Flag) -> (Arc<str>, Denial) {
    let rule = policy
        .content_rules()
        .iter()
        .find(|c| c.category == flag.category)
        .map_or_else(|| Arc::from(RULE_GUARD_FLAGGED), |c| c.rule.id.clone());
    // A prohibited use by content whose detector (a guard) the record names; no view.
    let mut p = ProhibitedUse::by_purpose(flag.category.clone(), flag.category.clone());
    p.purpose = None;
    (rule, Denial::ProhibitedUse(p))
}

fn flag_note(r: &GuardReport, flag: &Flag) -> String {
    format!(
        "{}guard `{}` flagged {}{}",
        if r.shadow { "shadow " } else { "" },
        r.name,
        if flag.labels.is_empty() {
            "the request".to_owned()
        } else {
            flag.labels.join(",")
        },
        if r.cached { " (cached verdict)" } else { "" }
    )
}

/// Turn the guards' reports into the final decision on an allowed request.
pub(super) fn apply(reports: &[GuardReport], policy: &CompiledPolicy, current: Decision) -> Stage {
    for r in reports.iter().filter(|r| !r.shadow) {
        if let Ok(GuardVerdict::Flagged(flag)) = &r.result {
            let (rule, denial) = flagged(policy, flag);
            let mut d = Decision::deny(rule, denial);
            d.tenant_version = current.tenant_version;
            return Stage {
                decision: d,
                note: Some(flag_note(r, flag)),
                mark: Some(mark(r, flag.score)),
            };
        }
    }
    for r in reports
        .iter()
        .filter(|r| !r.shadow && r.on_error == OnError::Deny)
    {
        if let Err(e) = &r.result {
            let detail = format!(
                "guard `{}` {e}; its on_error is deny, so the request is refused",
                r.name
            );
            let mut d = Decision::deny(
                Arc::from(RULE_GUARD_UNAVAILABLE),
                PolicyUnavailable { detail }.into(),
            );
            d.tenant_version = current.tenant_version;
            return Stage {
                decision: d,
                note: None,
                mark: Some(mark(r, None)),
            };
        }
    }
    let mut d = current;
    let mut notes = Vec::new();
    let mut guard_mark = None;
    for r in reports {
        match &r.result {
            Ok(GuardVerdict::Flagged(flag)) => {
                notes.push(flag_note(r, flag));
                if d.denial.is_none() && d.outcome == Outcome::Allow {
                    let (rule, denial) = flagged(policy, flag);
                    d.shadow = true;
                    d.rule = Some(rule);
                    d.denial = Some(denial);
                    guard_mark = Some(mark(r, flag.score));
                }
            }
            Ok(_) => {}
            Err(e) => notes.push(format!(
                "guard `{}` not heard: {e}; allowed by its {}",
                r.name,
                if r.shadow {
                    "shadow mode"
                } else {
                    "on_error = allow"
                }
            )),
        }
    }
    Stage {
        decision: d,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
        mark: guard_mark,
    }
}
