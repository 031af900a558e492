use std::sync::Arc;

use super::Denial;

/// What happened to the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Forwarded.
    Allow,
    /// Refused.
    Deny,
}

impl Outcome {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
        }
    }
}

/// What an allowed response must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Obligations {
    /// Label as AI-generated (header and body).
    pub ai_disclosure: bool,
    /// Add the "automatically generated, may require human review" notice.
    pub human_review_notice: bool,
}

impl Obligations {
    /// Names, as written in decision records.
    pub fn names(&self) -> Vec<&'static str> {
        let mut v = Vec::with_capacity(2);
        if self.ai_disclosure {
            v.push("ai-disclosure");
        }
        if self.human_review_notice {
            v.push("human-review-notice");
        }
        v
    }
}

/// The answer for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Decision {
    /// Allow or deny, as enforced.
    pub outcome: Outcome,
    /// A shadow-mode rule would have denied (the request was allowed).
    pub shadow: bool,
    /// The rule that decided (or would have, in shadow mode); `None` for a plain allow.
    pub rule: Option<Arc<str>>,
    /// Why it was denied (or would have been).
    pub denial: Option<Denial>,
    /// What an allowed response must carry.
    pub obligations: Obligations,
    /// Index of the chosen upstream in [`super::Placement::upstreams`].
    pub upstream: Option<usize>,
    /// Version of the tenant settings used.
    pub tenant_version: Option<u64>,
}

impl Decision {
    /// A denial by `rule`.
    pub fn deny(rule: Arc<str>, denial: Denial) -> Self {
        Decision {
            outcome: Outcome::Deny,
            shadow: false,
            rule: Some(rule),
            denial: Some(denial),
            obligations: Obligations::default(),
            upstream: None,
            tenant_version: None,
        }
    }

    /// Whether the request goes through.
    pub fn is_allowed(&self) -> bool {
        self.outcome == Outcome::Allow
    }

    /// One line for the record: the denial's detail, or why it was allowed.
    pub fn reason(&self) -> String {
        match (&self.denial, self.outcome) {
            (Some(d), Outcome::Deny) => d.to_string(),
            (Some(d), Outcome::Allow) => format!("shadow: would deny: {d}"),
            (None, _) => "allowed".to_owned(),
        }
    }
}
