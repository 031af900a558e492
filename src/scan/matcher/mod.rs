//! Phrase and regex matching over normalised text.
//!
//! Why hand-written: the required-literal analysis and the word-start index below find *inner*
//! literals behind anchors (which `regex_syntax`'s prefix/suffix extractor does not) and look
//! phrases and literals up in one pass; they run on top of `aho-corasick` and `regex-automata`
//! and are what brings the default bundle to ~1.2 GiB/s (`BENCHMARKS.md`). The tests compare
//! the scanner with a naive reference on random texts.
//!
//! A [`Scanner`] is compiled once from all content rules and then answers
//! "which rules match this text?" ([`Scanner::scan`]).
//!
//! # Phrases
//!
//! Phrases are normalised with [`normalize`](super::normalize) at build time
//! and match on word boundaries: if a phrase starts (ends) with a word
//! character, the character before (after) the match must not be a word
//! character. A *word character* is an alphanumeric character, except for
//! scripts written without spaces between words (Han, Hiragana, Katakana,
//! Thai, Lao, Khmer, Myanmar, Yi), where a boundary check would make phrases
//! unmatchable inside running text. So `kill` does not match in `skill`, but
//! does in `kill.`, and `<|im_start|>` matches anywhere. Every occurrence is
//! considered (overlapping search), so an occurrence that fails the boundary
//! check never hides a valid one.
//!
//! # Regex patterns
//!
//! Patterns use Rust `regex` syntax and are written for normalised text
//! (lower case, single spaces; authors use `\b` themselves). Matching is over
//! the whole scanned text; note that `\s` and negated classes can cross the
//! `'\n'` separating two JSON string values, while `.` cannot.
//!
//! Running 30 regexes over every request is too slow, so each pattern is
//! analysed at build time for a set of *required literals*: byte strings one
//! of which occurs in every match (a prefix, an inner word, …; chosen
//! heuristically to be rare). When the literal is always preceded by a word
//! boundary or line start in the pattern (`\bignore`), it is looked up only
//! at word starts, in the same pass as the phrases; otherwise it goes into a
//! separate Aho-Corasick pass. The regex itself then runs only when one of
//! its literals occurs:
//!
//! * if the pattern's matches have a bounded length `L`, only on the window
//!   `[hit_end - L, hit_start + L]` around each occurrence (with the rest of
//!   the text as look-around context, so `\b` and `$` behave exactly as in a
//!   full search);
//! * otherwise once over the whole text.
//!
//! Both are exact: a pattern is reported if and only if it matches the text.
//! Patterns with no usable literal (fewer than three bytes, e.g. `\d{3}-\d{4}`
//! or `a.*b`) are compiled into one `regex::RegexSet` that runs over the
//! whole text on every scan; they cost throughput, and
//! [`Scanner::unanchored_patterns`] lists them so a policy compiler can warn.

mod boundary;
mod literals;
#[cfg(test)]
mod tests;
mod word_index;

use super::normalize::normalize;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use boundary::{boundary_after, boundary_before, is_word_char};
use literals::{Anchor, required_literals};
use regex_automata::{Input, meta};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use word_index::WordIndex;

/// One content rule as the policy compiler hands it over.
///
/// `phrases` are natural text (normalised by the scanner at build time);
/// `patterns` are Rust regex syntax written for normalised text.
#[derive(Debug, Clone, Copy)]
pub struct RuleSpec<'a> {
    /// Phrases, matched on word boundaries after normalisation.
    pub phrases: &'a [String],
    /// Regex patterns, matched against normalised text.
    pub patterns: &'a [String],
}

/// Why a [`Scanner`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanBuildError {
    /// A regex pattern failed to parse or compile.
    #[error("rule {rule}: pattern {pattern} is invalid: {reason}")]
    InvalidPattern {
        /// Index of the rule in the slice given to [`Scanner::new`].
        rule: usize,
        /// Index of the pattern within that rule.
        pattern: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A phrase is empty (or only white space / invisible characters).
    #[error("rule {rule}: phrase {phrase} is empty after normalisation")]
    EmptyPhrase {
        /// Index of the rule in the slice given to [`Scanner::new`].
        rule: usize,
        /// Index of the phrase within that rule.
        phrase: usize,
    },
    /// Building the automata failed (e.g. size limits exceeded).
    #[error("failed to build scanner: {0}")]
    Build(String),
}

/// What found a content match. Recorded as the decision record's `detector`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Detector {
    /// One of the rule's phrases.
    Phrase,
    /// One of the rule's regex patterns.
    Pattern,
}

impl Detector {
    /// The name in decision records.
    pub fn as_str(self) -> &'static str {
        match self {
            Detector::Phrase => "phrase",
            Detector::Pattern => "pattern",
        }
    }
}

/// The set of rules that matched a text: indices into the rule slice given
/// to [`Scanner::new`], iterated in ascending order without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleMatches {
    bits: Vec<u64>,
    /// The rules that matched by a phrase.
    phrases: Vec<u64>,
}

impl RuleMatches {
    fn for_rules(n: usize) -> Self {
        RuleMatches {
            bits: vec![0; n.div_ceil(64)],
            phrases: vec![0; n.div_ceil(64)],
        }
    }

    #[inline]
    fn insert(&mut self, i: usize) {
        if let Some(w) = self.bits.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }

    #[inline]
    fn insert_phrase(&mut self, i: usize) {
        self.insert(i);
        if let Some(w) = self.phrases.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }

    /// What matched rule `i`: a phrase if one did, else a pattern; `None` if it did not match.
    pub fn detector(&self, i: usize) -> Option<Detector> {
        if !self.contains(i) {
            return None;
        }
        let phrase = self
            .phrases
            .get(i / 64)
            .is_some_and(|w| (w >> (i % 64)) & 1 == 1);
        Some(if phrase {
            Detector::Phrase
        } else {
            Detector::Pattern
        })
    }

    /// Whether no rule matched.
    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|&w| w == 0)
    }

    /// Number of matched rules.
    pub fn len(&self) -> usize {
        self.bits.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Whether rule `i` matched.
    #[inline]
    pub fn contains(&self, i: usize) -> bool {
        self.bits
            .get(i / 64)
            .is_some_and(|w| (w >> (i % 64)) & 1 == 1)
    }

    /// The matched rule indices, ascending.
    pub fn iter(&self) -> RuleMatchesIter<'_> {
        RuleMatchesIter {
            words: &self.bits,
            base: 0,
            current: self.bits.first().copied().unwrap_or(0),
        }
    }
}

impl<'a> IntoIterator for &'a RuleMatches {
    type Item = usize;
    type IntoIter = RuleMatchesIter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Iterator over matched rule indices in ascending order (see
/// [`RuleMatches::iter`]).
#[derive(Debug, Clone)]
pub struct RuleMatchesIter<'a> {
    words: &'a [u64],
    base: usize,
    current: u64,
}

impl Iterator for RuleMatchesIter<'_> {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        loop {
            if self.current != 0 {
                let bit = self.current.trailing_zeros() as usize;
                self.current &= self.current - 1;
                return Some(self.base * 64 + bit);
            }
            self.base += 1;
            self.current = *self.words.get(self.base)?;
        }
    }
}

/// Size limit for one compiled pattern (NFA), in bytes.
const PATTERN_SIZE_LIMIT: usize = 8 << 20;
/// Size limit for the set of unanchored patterns, in bytes.
const SET_SIZE_LIMIT: usize = 32 << 20;
/// Lazy DFA cache per pattern, in bytes.
const DFA_CACHE: usize = 2 << 20;
/// Nesting limit for pattern syntax.
const NEST_LIMIT: u32 = 100;

/// What a literal occurrence means.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// Phrase of `rule`; `left`/`right`: whether a word boundary is required
    /// before/after the occurrence.
    Phrase { rule: u32, left: bool, right: bool },
    /// Required literal of pattern `pattern` (index into `patterns`).
    Regex { pattern: u32 },
}

#[derive(Debug)]
struct Literal {
    bytes: Box<[u8]>,
    targets: Vec<Target>,
}

#[derive(Debug)]
struct Pattern {
    rule: u32,
    /// Index of the pattern within its rule (for diagnostics).
    index: u32,
    regex: meta::Regex,
    /// Upper bound on the length of a match, if any.
    max_len: Option<usize>,
}

/// Literals that may start anywhere (not only at word starts).
struct Anywhere {
    /// Finds the next position where one of them starts.
    ac: AhoCorasick,
    /// Literal ids, per automaton pattern.
    ids: Vec<u32>,
    /// Literal ids by first byte.
    by_first: Vec<Vec<u32>>,
}

/// The compiled rules, shared by clones of a [`Scanner`].
struct Inner {
    rule_count: usize,
    phrase_count: usize,
    literals: Vec<Literal>,
    word: WordIndex,
    word_literal_count: usize,
    /// Unanchored literals: automaton and, per automaton pattern, literal id.
    anywhere: Option<Anywhere>,
    patterns: Vec<Pattern>,
    /// Patterns without a usable literal: set and, per set member, pattern id.
    fallback: Option<(regex::RegexSet, Vec<u32>)>,
    /// The ASCII words the rules are written with (see [`Scanner::knows_word`]).
    vocabulary: std::collections::HashSet<Box<str>>,
}

/// The words of at least three letters in a phrase or a pattern's source (escapes such as
/// `\b` and `\w` removed first).
fn words_of(source: &str, into: &mut std::collections::HashSet<Box<str>>) {
    let mut word = String::new();
    let mut escaped = false;
    for c in source.chars().chain(std::iter::once(' ')) {
        if escaped {
            escaped = false;
            continue;
        }
        if c == '\\' {
            escaped = true;
        }
        if c.is_alphabetic() {
            word.push(c);
        } else {
            if word.chars().count() >= 3 {
                into.insert(word.as_str().into());
            }
            word.clear();
        }
    }
}

/// Compiled matcher over all content rules (see the module documentation).
///
/// Cheap to clone (shared), `Send + Sync`.
#[derive(Clone)]
pub struct Scanner {
    inner: Arc<Inner>,
}

impl fmt::Debug for Scanner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("Scanner")
            .field("rules", &i.rule_count)
            .field("phrases", &i.phrase_count)
            .field("patterns", &i.patterns.len())
            .field("word_start_literals", &i.word_literal_count)
            .field(
                "anywhere_literals",
                &i.anywhere.as_ref().map_or(0, |a| a.ids.len()),
            )
            .field(
                "unanchored_patterns",
                &i.fallback.as_ref().map_or(0, |(_, ids)| ids.len()),
            )
            .finish()
    }
}

/// Builder-side literal table, deduplicated by (bytes, word-start anchored).
#[derive(Default)]
struct LiteralTable {
    literals: Vec<Literal>,
    anchored: Vec<bool>,
    index: BTreeMap<(Vec<u8>, bool), u32>,
}

impl LiteralTable {
    fn add(
        &mut self,
        bytes: Vec<u8>,
        anchored: bool,
        target: Target,
    ) -> Result<(), ScanBuildError> {
        let key = (bytes, anchored);
        if let Some(&id) = self.index.get(&key) {
            if let Some(lit) = self.literals.get_mut(id as usize) {
                lit.targets.push(target);
            }
            return Ok(());
        }
        let id = u32::try_from(self.literals.len())
            .map_err(|_| ScanBuildError::Build("too many literals".into()))?;
        self.literals.push(Literal {
            bytes: key.0.clone().into_boxed_slice(),
            targets: vec![target],
        });
        self.anchored.push(anchored);
        self.index.insert(key, id);
        Ok(())
    }
}

impl Scanner {
    /// Compile all content rules.
    ///
    /// Errors: [`ScanBuildError::EmptyPhrase`] for a phrase that normalises to
    /// nothing, [`ScanBuildError::InvalidPattern`] (naming the rule and
    /// pattern index) for a pattern that does not parse or exceeds the size
    /// limit, [`ScanBuildError::Build`] if the combined automata cannot be
    /// built.
    pub fn new(rules: &[RuleSpec<'_>]) -> Result<Scanner, ScanBuildError> {
        // The skeleton view's table is built from Unicode data once per process: build it with
        // the policy, not on the first request.
        super::fold::warm_up();
        let to_u32 =
            |n: usize| u32::try_from(n).map_err(|_| ScanBuildError::Build("too many rules".into()));
        let mut table = LiteralTable::default();
        let mut patterns: Vec<Pattern> = Vec::new();
        let mut fallback_sources: Vec<&str> = Vec::new();
        let mut fallback_ids: Vec<u32> = Vec::new();
        let mut phrase_count = 0usize;
        let parser = regex_syntax::ParserBuilder::new()
            .nest_limit(NEST_LIMIT)
            .clone();

        let mut vocabulary = std::collections::HashSet::new();
        for (rule_idx, rule) in rules.iter().enumerate() {
            let rule_id = to_u32(rule_idx)?;
            for source in rule.phrases.iter().chain(rule.patterns) {
                words_of(&normalize(source), &mut vocabulary);
            }
            for (phrase_idx, phrase) in rule.phrases.iter().enumerate() {
                let norm = normalize(phrase);
                let (Some(first), Some(last)) = (norm.chars().next(), norm.chars().next_back())
                else {
                    return Err(ScanBuildError::EmptyPhrase {
                        rule: rule_idx,
                        phrase: phrase_idx,
                    });
                };
                let left = is_word_char(first);
                let right = is_word_char(last);
                // A phrase starting with a word character can only match at a
                // word start, which the word-start pass enumerates.
                table.add(
                    norm.into_bytes(),
                    left,
                    Target::Phrase {
                        rule: rule_id,
                        left,
                        right,
                    },
                )?;
                phrase_count += 1;
            }
            for (pat_idx, source) in rule.patterns.iter().enumerate() {
                let invalid = |reason: String| ScanBuildError::InvalidPattern {
                    rule: rule_idx,
                    pattern: pat_idx,
                    reason,
                };
                let hir = parser
                    .build()
                    .parse(source)
                    .map_err(|e| invalid(e.to_string()))?;
                let regex = meta::Builder::new()
                    .configure(
                        meta::Config::new()
                            .nfa_size_limit(Some(PATTERN_SIZE_LIMIT))
                            .hybrid_cache_capacity(DFA_CACHE),
                    )
                    .build_from_hir(&hir)
                    .map_err(|e| invalid(e.to_string()))?;
                let pattern_id = to_u32(patterns.len())?;
                let max_len = hir.properties().maximum_len();
                match required_literals(&hir) {
                    Some(lits) => {
                        for (bytes, flag) in lits {
                            table.add(
                                bytes,
                                flag == Anchor::Yes,
                                Target::Regex {
                                    pattern: pattern_id,
                                },
                            )?;
                        }
                    }
                    None => {
                        fallback_sources.push(source);
                        fallback_ids.push(pattern_id);
                    }
                }
                patterns.push(Pattern {
                    rule: rule_id,
                    index: to_u32(pat_idx)?,
                    regex,
                    max_len,
                });
            }
        }

        let LiteralTable {
            literals, anchored, ..
        } = table;
        let mut word_ids = Vec::new();
        let mut anywhere_ids = Vec::new();
        for (id, &a) in anchored.iter().enumerate() {
            let id = to_u32(id)?;
            if a {
                word_ids.push(id);
            } else {
                anywhere_ids.push(id);
            }
        }
        let word = WordIndex::new(&literals, &word_ids);
        let anywhere = if anywhere_ids.is_empty() {
            None
        } else {
            let pats = anywhere_ids
                .iter()
                .filter_map(|&id| literals.get(id as usize).map(|l| &l.bytes[..]));
            // Leftmost-first finds the next position where some literal starts with the
            // SIMD prefilter (Teddy); every literal starting there is then compared, and the
            // search resumes one byte later, so overlapping occurrences are all seen.
            let ac = AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostFirst)
                .prefilter(true)
                .build(pats)
                .map_err(|e| ScanBuildError::Build(e.to_string()))?;
            let mut by_first: Vec<Vec<u32>> = vec![Vec::new(); 256];
            for &id in &anywhere_ids {
                if let Some(first) = literals.get(id as usize).and_then(|l| l.bytes.first())
                    && let Some(list) = by_first.get_mut(usize::from(*first))
                {
                    list.push(id);
                }
            }
            Some(Anywhere {
                ac,
                ids: anywhere_ids,
                by_first,
            })
        };
        let fallback = if fallback_sources.is_empty() {
            None
        } else {
            let set = regex::RegexSetBuilder::new(&fallback_sources)
                .size_limit(SET_SIZE_LIMIT)
                .dfa_size_limit(DFA_CACHE)
                .nest_limit(NEST_LIMIT)
                .build()
                .map_err(|e| ScanBuildError::Build(e.to_string()))?;
            Some((set, fallback_ids))
        };
        Ok(Scanner {
            inner: Arc::new(Inner {
                rule_count: rules.len(),
                phrase_count,
                word_literal_count: word_ids.len(),
                literals,
                word,
                anywhere,
                patterns,
                fallback,
                vocabulary,
            }),
        })
    }

    /// Whether `word` (normalised) is one of the words the rules' phrases and patterns
    /// are written with. The leetspeak view uses it to read an ambiguous character the way the
    /// rules would (`c10n3` as `clone`, `v01ce` as `voice`).
    pub fn knows_word(&self, word: &str) -> bool {
        self.inner.vocabulary.contains(word)
    }

    /// Number of rules the scanner was built from.
    pub fn rule_count(&self) -> usize {
        self.inner.rule_count
    }

    /// `(rule, pattern)` indices of patterns that have no usable required
    /// literal and therefore run over the whole text on every scan.
    pub fn unanchored_patterns(&self) -> Vec<(usize, usize)> {
        let inner = &self.inner;
        inner.fallback.as_ref().map_or_else(Vec::new, |(_, ids)| {
            ids.iter()
                .filter_map(|&id| inner.patterns.get(id as usize))
                .map(|p| (p.rule as usize, p.index as usize))
                .collect()
        })
    }

    /// Indices (into the rules given to [`Scanner::new`]) of every rule that
    /// matches `text`, ascending, without duplicates.
    ///
    /// `text` is normally a [`ScanText`](super::ScanText) string (normalised
    /// segments separated by `'\n'`), but any string is accepted.
    pub fn scan(&self, text: &str) -> RuleMatches {
        let inner = &*self.inner;
        let mut state = ScanState {
            inner,
            text,
            matches: RuleMatches::for_rules(inner.rule_count),
            windows: Vec::new(),
            full: Vec::new(),
        };
        inner
            .word
            .scan(&inner.literals, text, |id, s, e| state.on_hit(id, s, e));
        if let Some(any) = &inner.anywhere {
            let bytes = text.as_bytes();
            let mut at = 0;
            while at < bytes.len() {
                let Some(m) = any.ac.find(aho_corasick::Input::new(text).range(at..)) else {
                    break;
                };
                let start = m.start();
                let rest = bytes.get(start..).unwrap_or(&[]);
                let candidates = rest
                    .first()
                    .and_then(|&b| any.by_first.get(usize::from(b)))
                    .map_or(&[][..], Vec::as_slice);
                for &id in candidates {
                    if let Some(lit) = inner.literals.get(id as usize)
                        && rest.starts_with(&lit.bytes)
                    {
                        state.on_hit(id, start, start + lit.bytes.len());
                    }
                }
                at = start + 1;
            }
        }
        state.finish();
        if let Some((set, ids)) = &inner.fallback {
            let pending = ids.iter().any(|&id| {
                inner
                    .patterns
                    .get(id as usize)
                    .is_some_and(|p| !state.matches.contains(p.rule as usize))
            });
            if pending {
                for i in set.matches(text).iter() {
                    if let Some(p) = ids.get(i).and_then(|&id| inner.patterns.get(id as usize)) {
                        state.matches.insert(p.rule as usize);
                    }
                }
            }
        }
        state.matches
    }
}

/// Per-scan bookkeeping.
struct ScanState<'s> {
    inner: &'s Inner,
    text: &'s str,
    matches: RuleMatches,
    /// Per pattern: the current (merged) window still to be verified.
    windows: Vec<Option<(usize, usize)>>,
    /// Per pattern: an unbounded pattern whose literal occurred.
    full: Vec<bool>,
}

impl ScanState<'_> {
    #[inline]
    fn on_hit(&mut self, id: u32, start: usize, end: usize) {
        let Some(lit) = self.inner.literals.get(id as usize) else {
            return;
        };
        for target in &lit.targets {
            match *target {
                Target::Phrase { rule, left, right } => {
                    let rule = rule as usize;
                    if (!left || boundary_before(self.text, start))
                        && (!right || boundary_after(self.text, end))
                    {
                        self.matches.insert_phrase(rule);
                    }
                }
                Target::Regex { pattern } => self.regex_hit(pattern as usize, start, end),
            }
        }
    }

    fn regex_hit(&mut self, pid: usize, start: usize, end: usize) {
        let Some(p) = self.inner.patterns.get(pid) else {
            return;
        };
        if self.matches.contains(p.rule as usize) {
            return;
        }
        let n = self.inner.patterns.len();
        match p.max_len {
            None => {
                if self.full.is_empty() {
                    self.full = vec![false; n];
                }
                if let Some(f) = self.full.get_mut(pid) {
                    *f = true;
                }
            }
            Some(max) => {
                // Any match containing [start, end) lies inside this window.
                let lo = end.saturating_sub(max);
                let hi = start.saturating_add(max).min(self.text.len());
                if self.windows.is_empty() {
                    self.windows = vec![None; n];
                }
                let Some(slot) = self.windows.get_mut(pid) else {
                    return;
                };
                match *slot {
                    Some((a, b)) if lo <= b && a <= hi => {
                        *slot = Some((a.min(lo), b.max(hi)));
                    }
                    Some((a, b)) => {
                        *slot = Some((lo, hi));
                        self.verify(pid, a, b);
                    }
                    None => *slot = Some((lo, hi)),
                }
            }
        }
    }

    /// Run pattern `pid` on `[lo, hi)` (widened to char boundaries), with the
    /// whole text as look-around context.
    fn verify(&mut self, pid: usize, lo: usize, hi: usize) {
        let Some(p) = self.inner.patterns.get(pid) else {
            return;
        };
        if self.matches.contains(p.rule as usize) {
            return;
        }
        let text = self.text;
        let mut lo = lo.min(text.len());
        while !text.is_char_boundary(lo) {
            lo -= 1;
        }
        let mut hi = hi.clamp(lo, text.len());
        while !text.is_char_boundary(hi) {
            hi += 1;
        }
        if p.regex.is_match(Input::new(text).range(lo..hi)) {
            self.matches.insert(p.rule as usize);
        }
    }

    fn finish(&mut self) {
        let windows = std::mem::take(&mut self.windows);
        for (pid, w) in windows.into_iter().enumerate() {
            if let Some((lo, hi)) = w {
                self.verify(pid, lo, hi);
            }
        }
        let full = std::mem::take(&mut self.full);
        for (pid, f) in full.into_iter().enumerate() {
            if f {
                self.verify(pid, 0, self.text.len());
            }
        }
    }
}
