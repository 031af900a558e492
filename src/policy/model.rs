//! The bundle's documents as plain data (serde). No behaviour lives here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Whether a rule or bundle enforces its denials or only records them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Denials are enforced.
    #[default]
    Enforce,
    /// Would-be denials are recorded; the request goes through.
    Shadow,
}

/// Where a rule comes from: a clause of one of the bundle's sources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Citation {
    /// Key of an entry in `[sources]`.
    pub source: String,
    /// Human-readable clause name.
    pub clause: String,
    /// Words quoted verbatim from the source.
    pub quote: String,
}

/// A policy text the bundle encodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Title of the document.
    pub title: String,
    /// Path of the text, relative to the bundle directory.
    pub file: String,
    /// When the document was last updated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
}

/// How allowed responses are labelled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisclosureDoc {
    /// The `mode` member of `AI-Disclosure` (an RFC 9651 token).
    pub mode: String,
    /// The human-review notice shown on captions and summaries.
    pub notice: String,
    /// IPTC digital source type URI.
    pub digital_source_type: String,
}

/// A core rule: one whose logic is built into the engine; the bundle names and cites it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoreRuleDoc {
    /// Stable rule id.
    pub id: String,
    /// What the rule does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The clause it encodes.
    pub cites: Citation,
    /// Record would-be denials only (allowed on region and training rules).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shadow: bool,
}

/// The core rules, one per kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CoreRules {
    /// The tenant is missing or not known.
    pub unknown_tenant: CoreRuleDoc,
    /// The tenant turned AI off.
    pub ai_opted_out: CoreRuleDoc,
    /// The tenant turned this feature off.
    pub feature_opted_out: CoreRuleDoc,
    /// The tenant is pinned to a region set this instance or upstream is not in.
    pub region_pinned: CoreRuleDoc,
    /// Customer data headed for a training route.
    pub training_data_blocked: CoreRuleDoc,
    /// The labelling obligation.
    pub ai_disclosure: CoreRuleDoc,
    /// The human-review notice obligation.
    pub human_review_notice: CoreRuleDoc,
}

/// `bundle.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleDoc {
    /// Bundle name.
    pub name: String,
    /// What the bundle is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Enforce or shadow, for the whole bundle.
    #[serde(default)]
    pub mode: Mode,
    /// Cited documents by key.
    pub sources: BTreeMap<String, Source>,
    /// Labelling text.
    pub disclosure: DisclosureDoc,
    /// The core rules.
    pub rules: CoreRules,
}

/// One entry of the feature catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureDoc {
    /// Feature id, e.g. `captions`.
    pub id: String,
    /// What the feature does.
    pub description: String,
    /// Outputs carry the human-review notice.
    #[serde(default)]
    pub human_review_notice: bool,
    /// Request text is scanned by content rules.
    #[serde(default = "default_true")]
    pub scan_content: bool,
    /// The feature's input is someone else's words (speech to caption or transcribe, text to
    /// translate or summarise): user turns and documents are read as quoted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub quoted_input: bool,
    /// Clause behind the notice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cites: Option<Citation>,
}

fn default_true() -> bool {
    true
}

/// `features.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeaturesDoc {
    /// The catalogue.
    pub feature: Vec<FeatureDoc>,
}

/// A named set of cloud regions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionSetDoc {
    /// Set id, e.g. `eu`.
    pub id: String,
    /// What the set covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Cloud region ids.
    pub regions: Vec<String>,
    /// Clause behind the set.
    pub cites: Citation,
}

/// `regions.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionsDoc {
    /// The sets.
    pub region_set: Vec<RegionSetDoc>,
}

/// What a purpose rule demands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PurposeRuleKind {
    /// Always denied.
    ProhibitedUse,
    /// Denied unless `x-ai-consent` names the purpose.
    ConsentRequired,
    /// Denied unless `x-human-oversight: attested`.
    HumanOversightRequired,
    /// Allowed, with the human-review notice.
    Notice,
}

/// A rule on a declared purpose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurposeDoc {
    /// Purpose id, as sent in `x-ai-purpose`.
    pub id: String,
    /// What the purpose is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What it demands.
    pub rule: PurposeRuleKind,
    /// Stable rule id.
    pub rule_id: String,
    /// Clause behind it.
    pub cites: Citation,
    /// Record would-be denials only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shadow: bool,
}

/// `purposes.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurposesDoc {
    /// The purpose rules.
    pub purpose: Vec<PurposeDoc>,
}

/// A prohibited-use content rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentRuleDoc {
    /// Stable rule id.
    pub id: String,
    /// Prohibited-use category.
    pub category: String,
    /// What it catches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Clause behind it.
    pub cites: Citation,
    /// Phrases, matched after normalisation on word boundaries.
    #[serde(default)]
    pub phrases: Vec<String>,
    /// Regex patterns over normalised text.
    #[serde(default)]
    pub patterns: Vec<String>,
    /// Terms in other languages, keyed by language tag (`de`, `fr`, …). The rule's own
    /// `phrases` and `patterns` are its English ([`BASE_LANGUAGE`]) terms.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lang: BTreeMap<String, LanguageTerms>,
    /// Whether a match only in quoted or reported words (news, a transcript, a document to
    /// summarise) is a request for the content.
    #[serde(default, skip_serializing_if = "QuotedUse::is_never")]
    pub quoted: QuotedUse,
    /// Record would-be denials only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shadow: bool,
}

/// What a content rule makes of a match that lies only in someone else's words: a quotation,
/// reported speech, the material of a task (a text to summarise, translate, caption), a tool
/// result. See `docs/content.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QuotedUse {
    /// Still a match: quoting never excuses this content (the default).
    #[default]
    Never,
    /// Not a match: a report of the content is not a request for it.
    Excused,
    /// Not a match, unless the quoted words address the AI (an injection hidden in a document
    /// is still an injection); a quotation marked as an example is excused all the same.
    ExcusedUnlessAddressed,
}

impl QuotedUse {
    fn is_never(&self) -> bool {
        *self == QuotedUse::Never
    }
}

/// `cues.toml`: the words that tell the deterministic stage whose words it is reading, per
/// language. Optional: without it only quotation marks, tool results and the features' own
/// `quoted_input` mark someone else's words.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CuesDoc {
    /// Cue lists by language tag (`en`, `de`, …); all languages apply to every text.
    #[serde(default)]
    pub lang: BTreeMap<String, CueSet>,
}

/// One language's cue lists. Every cue is a phrase matched on word boundaries after
/// normalisation.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CueSet {
    /// A sentence with one of these reports someone else's words (`said`, `according to`).
    #[serde(default)]
    pub reported: Vec<String>,
    /// Right before a quotation, these make it a mention (`for example`, `such as`, `like`).
    #[serde(default)]
    pub mention_before: Vec<String>,
    /// Right after a quotation, these make it a mention (`attacks`, `prompts`).
    #[serde(default)]
    pub mention_after: Vec<String>,
    /// A task on someone else's words (`summarise`, `translate`): what follows its colon, or the
    /// user turns after a system turn that sets it, are material.
    #[serde(default)]
    pub task: Vec<String>,
    /// Words that address the AI (`assistant`, `system prompt`): an injection in quoted words
    /// that has one is still an injection.
    #[serde(default)]
    pub addressed: Vec<String>,
    /// The requester asking in their own voice (`tell me`, `how do i`): a sentence with one is
    /// the requester's own words even when it also has a reported-speech cue.
    #[serde(default)]
    pub request: Vec<String>,
    /// Asks to reproduce or extend the quoted words (`rewrite it`, `make it more convincing`):
    /// then quoting excuses nothing.
    #[serde(default)]
    pub reproduce: Vec<String>,
}

/// The language of a content rule's top-level `phrases` and `patterns`.
pub const BASE_LANGUAGE: &str = "en";

/// A content rule's phrases and patterns in one language (`[content_rule.lang.<tag>]`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanguageTerms {
    /// Phrases, matched after normalisation on word boundaries.
    #[serde(default)]
    pub phrases: Vec<String>,
    /// Regex patterns over normalised text.
    #[serde(default)]
    pub patterns: Vec<String>,
}

impl ContentRuleDoc {
    /// Every term set of the rule, tagged with its language: the English base terms first
    /// (when there are any), then each `lang` table in tag order.
    pub fn term_sets(&self) -> impl Iterator<Item = (&str, &[String], &[String])> + '_ {
        let base = (!self.phrases.is_empty() || !self.patterns.is_empty()).then_some((
            BASE_LANGUAGE,
            self.phrases.as_slice(),
            self.patterns.as_slice(),
        ));
        base.into_iter().chain(
            self.lang
                .iter()
                .map(|(tag, t)| (tag.as_str(), t.phrases.as_slice(), t.patterns.as_slice())),
        )
    }
}

/// `content.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentDoc {
    /// The rules.
    pub content_rule: Vec<ContentRuleDoc>,
}

/// A whole bundle as read from disk, before compilation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// `bundle.toml`.
    pub bundle: BundleDoc,
    /// `features.toml`.
    pub features: FeaturesDoc,
    /// `regions.toml`.
    pub regions: RegionsDoc,
    /// `purposes.toml`.
    pub purposes: PurposesDoc,
    /// `content.toml`.
    pub content: ContentDoc,
    /// `cues.toml` (optional).
    pub cues: CuesDoc,
}
