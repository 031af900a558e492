//! Turning a loaded bundle into the form the engine reads: lookup tables, one scanner, rule ids.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use super::load::{LoadedBundle, PolicyError, PolicyIssue, load_dir};
use super::model::{
    BASE_LANGUAGE, Citation, ContentRuleDoc, CoreRuleDoc, Mode, PurposeRuleKind, QuotedUse,
};
use crate::scan::{CueSpec, Cues, RuleSpec, ScanBuildError, Scanner};

/// A rule as the engine needs it: its id and whether it only records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRef {
    /// Stable rule id.
    pub id: Arc<str>,
    /// Record would-be denials only.
    pub shadow: bool,
}

/// The core rules' ids.
#[derive(Debug, Clone)]
pub struct CoreRuleIds {
    /// Unknown or missing tenant.
    pub unknown_tenant: RuleRef,
    /// AI turned off for the tenant.
    pub ai_opted_out: RuleRef,
    /// Feature turned off for the tenant.
    pub feature_opted_out: RuleRef,
    /// Region pinning.
    pub region_pinned: RuleRef,
    /// Training guard.
    pub training_data_blocked: RuleRef,
    /// Labelling obligation.
    pub ai_disclosure: RuleRef,
    /// Human-review notice obligation.
    pub human_review_notice: RuleRef,
}

/// A feature of the catalogue.
#[derive(Debug, Clone)]
pub struct Feature {
    /// Feature id.
    pub id: Arc<str>,
    /// Outputs carry the human-review notice.
    pub human_review_notice: bool,
    /// Request text is scanned.
    pub scan_content: bool,
    /// The feature's input is someone else's words (read as quoted by content rules).
    pub quoted_input: bool,
}

/// A purpose rule.
#[derive(Debug, Clone)]
pub struct PurposeRule {
    /// Purpose id.
    pub purpose: Arc<str>,
    /// What it demands.
    pub kind: PurposeRuleKind,
    /// Rule id and shadow flag.
    pub rule: RuleRef,
}

/// A content rule (its phrases and patterns live in the scanner).
#[derive(Debug, Clone)]
pub struct ContentRule {
    /// Rule id and shadow flag.
    pub rule: RuleRef,
    /// Prohibited-use category.
    pub category: Arc<str>,
    /// The languages the rule has terms in (`en` for its top-level terms), in bundle order.
    pub languages: Vec<Arc<str>>,
    /// What a match only in someone else's words means.
    pub quoted: QuotedUse,
}

/// Labelling text.
#[derive(Debug, Clone)]
pub struct DisclosureText {
    /// `AI-Disclosure` mode member.
    pub mode: Arc<str>,
    /// Human-review notice.
    pub notice: Arc<str>,
    /// IPTC digital source type.
    pub digital_source_type: Arc<str>,
}

/// A bundle compiled for the engine. Immutable; replaced whole on reload.
#[derive(Debug)]
pub struct CompiledPolicy {
    version: Arc<str>,
    name: String,
    core: CoreRuleIds,
    features: HashMap<String, Feature>,
    region_set_of: HashMap<String, Arc<str>>,
    region_sets: HashSet<String>,
    purposes: HashMap<String, PurposeRule>,
    content_rules: Vec<ContentRule>,
    scanner: Scanner,
    cues: Cues,
    disclosure: DisclosureText,
}

impl CompiledPolicy {
    /// Load, validate and compile the bundle in `dir`.
    pub fn load(dir: &Path) -> Result<Self, PolicyError> {
        Self::compile(load_dir(dir)?)
    }

    /// Compile a loaded bundle, checking what a schema cannot: unique ids, known sources,
    /// quotes that really stand in their source, one set per region, valid patterns.
    pub fn compile(loaded: LoadedBundle) -> Result<Self, PolicyError> {
        let LoadedBundle {
            bundle: b,
            version,
            dir,
        } = loaded;
        let mut issues = Vec::new();
        let mut push = |file: &str, path: String, reason: String| {
            issues.push(PolicyIssue {
                file: dir.join(file),
                path,
                reason,
            });
        };

        // Citations: the source must exist and the quote must stand in it.
        let mut source_texts: HashMap<&str, Option<String>> = HashMap::new();
        for (key, source) in &b.bundle.sources {
            match std::fs::read_to_string(dir.join(&source.file)) {
                Ok(text) => {
                    source_texts.insert(key.as_str(), Some(fold_whitespace(&text)));
                }
                Err(e) => {
                    push(
                        "bundle.toml",
                        format!("/sources/{key}/file"),
                        format!("cannot read source {}: {e}", source.file),
                    );
                    source_texts.insert(key.as_str(), None);
                }
            }
        }
        let mut check_cite = |file: &str, path: String, cite: &Citation| match source_texts
            .get(cite.source.as_str())
        {
            None => push(
                file,
                format!("{path}/source"),
                format!("unknown source `{}`", cite.source),
            ),
            Some(Some(text)) if !text.contains(&fold_whitespace(&cite.quote)) => push(
                file,
                format!("{path}/quote"),
                format!("quote not found in source `{}`", cite.source),
            ),
            Some(_) => {}
        };
        let core_docs: [(&str, &CoreRuleDoc); 7] = [
            ("unknown-tenant", &b.bundle.rules.unknown_tenant),
            ("ai-opted-out", &b.bundle.rules.ai_opted_out),
            ("feature-opted-out", &b.bundle.rules.feature_opted_out),
            ("region-pinned", &b.bundle.rules.region_pinned),
            (
                "training-data-blocked",
                &b.bundle.rules.training_data_blocked,
            ),
            ("ai-disclosure", &b.bundle.rules.ai_disclosure),
            ("human-review-notice", &b.bundle.rules.human_review_notice),
        ];
        for (kind, rule) in core_docs {
            check_cite("bundle.toml", format!("/rules/{kind}/cites"), &rule.cites);
        }
        for (i, f) in b.features.feature.iter().enumerate() {
            if let Some(c) = &f.cites {
                check_cite("features.toml", format!("/feature/{i}/cites"), c);
            }
        }
        for (i, r) in b.regions.region_set.iter().enumerate() {
            check_cite("regions.toml", format!("/region_set/{i}/cites"), &r.cites);
        }
        for (i, p) in b.purposes.purpose.iter().enumerate() {
            check_cite("purposes.toml", format!("/purpose/{i}/cites"), &p.cites);
        }
        for (i, c) in b.content.content_rule.iter().enumerate() {
            check_cite("content.toml", format!("/content_rule/{i}/cites"), &c.cites);
        }

        // Unique rule ids across the bundle.
        let mut rule_ids: HashMap<String, String> = HashMap::new();
        let mut claim = |id: &str, file: &str, path: String| {
            if let Some(prev) = rule_ids.get(id) {
                push(file, path, format!("rule id `{id}` already used at {prev}"));
            } else {
                rule_ids.insert(id.to_owned(), format!("{file}{path}"));
            }
        };
        for (kind, rule) in core_docs {
            claim(&rule.id, "bundle.toml", format!("/rules/{kind}/id"));
        }
        for (i, p) in b.purposes.purpose.iter().enumerate() {
            claim(&p.rule_id, "purposes.toml", format!("/purpose/{i}/rule_id"));
        }
        for (i, c) in b.content.content_rule.iter().enumerate() {
            claim(&c.id, "content.toml", format!("/content_rule/{i}/id"));
        }

        let bundle_shadow = b.bundle.mode == Mode::Shadow;
        let rule_ref = |doc: &CoreRuleDoc, shadowable: bool| RuleRef {
            id: Arc::from(doc.id.as_str()),
            shadow: shadowable && (bundle_shadow || doc.shadow),
        };
        let r = &b.bundle.rules;
        let core = CoreRuleIds {
            unknown_tenant: rule_ref(&r.unknown_tenant, false),
            ai_opted_out: rule_ref(&r.ai_opted_out, false),
            feature_opted_out: rule_ref(&r.feature_opted_out, false),
            region_pinned: rule_ref(&r.region_pinned, true),
            training_data_blocked: rule_ref(&r.training_data_blocked, true),
            ai_disclosure: rule_ref(&r.ai_disclosure, false),
            human_review_notice: rule_ref(&r.human_review_notice, false),
        };

        let mut features = HashMap::new();
        for (i, f) in b.features.feature.iter().enumerate() {
            let feature = Feature {
                id: Arc::from(f.id.as_str()),
                human_review_notice: f.human_review_notice,
                scan_content: f.scan_content,
                quoted_input: f.quoted_input,
            };
            if features.insert(f.id.clone(), feature).is_some() {
                push(
                    "features.toml",
                    format!("/feature/{i}/id"),
                    format!("duplicate feature `{}`", f.id),
                );
            }
        }

        let mut region_set_of: HashMap<String, Arc<str>> = HashMap::new();
        let mut region_sets = HashSet::new();
        for (i, set) in b.regions.region_set.iter().enumerate() {
            if !region_sets.insert(set.id.clone()) {
                push(
                    "regions.toml",
                    format!("/region_set/{i}/id"),
                    format!("duplicate region set `{}`", set.id),
                );
            }
            let id: Arc<str> = Arc::from(set.id.as_str());
            for (j, region) in set.regions.iter().enumerate() {
                if let Some(other) = region_set_of.insert(region.clone(), id.clone()) {
                    push(
                        "regions.toml",
                        format!("/region_set/{i}/regions/{j}"),
                        format!("region `{region}` is already in set `{other}`"),
                    );
                }
            }
        }

        let mut purposes = HashMap::new();
        for (i, p) in b.purposes.purpose.iter().enumerate() {
            let rule = PurposeRule {
                purpose: Arc::from(p.id.as_str()),
                kind: p.rule,
                rule: RuleRef {
                    id: Arc::from(p.rule_id.as_str()),
                    shadow: bundle_shadow || p.shadow,
                },
            };
            if purposes.insert(p.id.clone(), rule).is_some() {
                push(
                    "purposes.toml",
                    format!("/purpose/{i}/id"),
                    format!("duplicate purpose `{}`", p.id),
                );
            }
        }

        let content_rules: Vec<ContentRule> = b
            .content
            .content_rule
            .iter()
            .map(|c| ContentRule {
                rule: RuleRef {
                    id: Arc::from(c.id.as_str()),
                    shadow: bundle_shadow || c.shadow,
                },
                category: Arc::from(c.category.as_str()),
                languages: c.term_sets().map(|(tag, _, _)| Arc::from(tag)).collect(),
                quoted: c.quoted,
            })
            .collect();
        // Every language's terms of a rule go into the one scanner entry of that rule, so a
        // match in any language reports the rule. `TermsOfRule` maps the scanner's indices
        // back to the file's JSON paths for error messages.
        let terms: Vec<TermsOfRule> = b
            .content
            .content_rule
            .iter()
            .map(TermsOfRule::new)
            .collect();
        let specs: Vec<RuleSpec<'_>> = terms
            .iter()
            .map(|t| RuleSpec {
                phrases: &t.phrases,
                patterns: &t.patterns,
            })
            .collect();
        let scanner = match Scanner::new(&specs) {
            Ok(s) => Some(s),
            Err(e) => {
                let (path, reason) = match e {
                    ScanBuildError::InvalidPattern {
                        rule,
                        pattern,
                        reason,
                    } => (
                        TermsOfRule::path(&terms, rule, pattern, "patterns"),
                        format!("invalid pattern: {reason}"),
                    ),
                    ScanBuildError::EmptyPhrase { rule, phrase } => (
                        TermsOfRule::path(&terms, rule, phrase, "phrases"),
                        "phrase is empty after normalisation".to_owned(),
                    ),
                    other => (String::new(), other.to_string()),
                };
                push("content.toml", path, reason);
                None
            }
        };

        let (Some(scanner), true) = (scanner, issues.is_empty()) else {
            return Err(PolicyError { issues });
        };
        Ok(CompiledPolicy {
            version: Arc::from(version.as_str()),
            name: b.bundle.name.clone(),
            core,
            features,
            region_set_of,
            region_sets,
            purposes,
            content_rules,
            scanner,
            cues: Cues::new(
                &b.cues
                    .lang
                    .values()
                    .map(|c| {
                        CueSpec::new(
                            &c.reported,
                            &c.mention_before,
                            &c.mention_after,
                            &c.task,
                            &c.addressed,
                            &c.request,
                            &c.reproduce,
                        )
                    })
                    .collect::<Vec<_>>(),
            ),
            disclosure: DisclosureText {
                mode: Arc::from(b.bundle.disclosure.mode.as_str()),
                notice: Arc::from(b.bundle.disclosure.notice.as_str()),
                digital_source_type: Arc::from(b.bundle.disclosure.digital_source_type.as_str()),
            },
        })
    }

    /// sha-256 hex of the canonical bundle.
    pub fn version(&self) -> &Arc<str> {
        &self.version
    }
    /// Bundle name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The core rules.
    pub fn core(&self) -> &CoreRuleIds {
        &self.core
    }
    /// A feature of the catalogue.
    pub fn feature(&self, id: &str) -> Option<&Feature> {
        self.features.get(id)
    }
    /// The region set a cloud region belongs to.
    pub fn region_set_of(&self, region: &str) -> Option<&Arc<str>> {
        self.region_set_of.get(region)
    }
    /// Whether a region set id is defined.
    pub fn has_region_set(&self, id: &str) -> bool {
        self.region_sets.contains(id)
    }
    /// The rule on a declared purpose.
    pub fn purpose(&self, id: &str) -> Option<&PurposeRule> {
        self.purposes.get(id)
    }
    /// Content rules, in bundle order (indices match the scanner's).
    pub fn content_rules(&self) -> &[ContentRule] {
        &self.content_rules
    }
    /// The compiled matcher.
    pub fn scanner(&self) -> &Scanner {
        &self.scanner
    }

    /// The cue lexicons that tell quoted and reported words from the requester's own
    /// (`cues.toml`).
    pub fn cues(&self) -> &Cues {
        &self.cues
    }

    /// Labelling text.
    pub fn disclosure(&self) -> &DisclosureText {
        &self.disclosure
    }
    /// Whether any content rule exists.
    pub fn has_content_rules(&self) -> bool {
        !self.content_rules.is_empty()
    }
}

/// One content rule's terms in all its languages, flattened for the scanner, with the place
/// each came from (language tag, first index in the flat list) for error paths.
struct TermsOfRule {
    phrases: Vec<String>,
    patterns: Vec<String>,
    /// `(tag, first phrase index, first pattern index)` per term set, in order.
    starts: Vec<(String, usize, usize)>,
}

impl TermsOfRule {
    fn new(rule: &ContentRuleDoc) -> Self {
        let mut t = TermsOfRule {
            phrases: Vec::new(),
            patterns: Vec::new(),
            starts: Vec::new(),
        };
        for (tag, phrases, patterns) in rule.term_sets() {
            t.starts
                .push((tag.to_owned(), t.phrases.len(), t.patterns.len()));
            t.phrases.extend_from_slice(phrases);
            t.patterns.extend_from_slice(patterns);
        }
        t
    }

    /// The JSON path of flat term `index` (a phrase or a pattern, per `kind`) of rule `rule`:
    /// `/content_rule/3/patterns/1` for English, `/content_rule/3/lang/de/patterns/0` otherwise.
    fn path(all: &[TermsOfRule], rule: usize, index: usize, kind: &str) -> String {
        let Some(t) = all.get(rule) else {
            return format!("/content_rule/{rule}");
        };
        let start_of = |(_, phrase, pattern): &(String, usize, usize)| {
            if kind == "phrases" { *phrase } else { *pattern }
        };
        let set = t.starts.iter().rev().find(|s| start_of(s) <= index);
        match set {
            Some(s @ (tag, _, _)) if tag != BASE_LANGUAGE => format!(
                "/content_rule/{rule}/lang/{tag}/{kind}/{}",
                index - start_of(s)
            ),
            _ => format!("/content_rule/{rule}/{kind}/{index}"),
        }
    }
}

fn fold_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
