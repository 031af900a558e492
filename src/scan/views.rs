//! The views of a text that content rules scan. A match in any view is a match; the decision
//! record names the view ([`View::as_str`]), never the text.
//!
//! | view | what it is | catches |
//! |---|---|---|
//! | `normalized` | every string, normalised (NFKC, case folded, invisible characters removed) | the plain request, full-width and styled letters, zero-width characters, mixed case |
//! | `conversation` | the system, user and tool turns of a chat, in order, joined | an intent split across messages or content parts |
//! | `skeleton` | look-alike letters of other scripts as the Latin letters they imitate (UTS #39) | Cyrillic and Greek homoglyphs |
//! | `diacritics` | accents and strokes removed (`é` → `e`, `ł` → `l`) | accents sprinkled on letters |
//! | `leet` | leetspeak inside words (`k1ll` → `kill`, `c10n3` → `clone`: `1` read as the rules' words need it) | leetspeak |
//! | `separators` | spelled-out letters joined (`i.g.n.o.r.e`), emphasis inside words removed | separators, markdown |
//! | `decoded-base64` | base64 and base64url runs that decode to text | base64 |
//! | `decoded-rot13` | rot13 of every letter | rot13 |
//! | `decoded-percent` | `%XX` decoded | percent-encoding |
//! | `decoded-html` | HTML character references decoded | HTML entities |
//! | `decoded-unicode-escapes` | literal `\uXXXX` decoded | unicode escapes |
//!
//! Each view is built in one linear pass and is at most a small multiple of the normalised text
//! (itself bounded by the body limit); a view that adds nothing (an ASCII text has no skeleton
//! of its own) is not built and not scanned.

use super::matcher::Scanner;
use super::normalize::normalize_into;
use super::text::ScanText;
use super::{decode, fold};

/// A view of the text (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum View {
    /// Every string, normalised.
    Normalized,
    /// The conversation's turns joined in order.
    Conversation,
    /// Confusable look-alikes as Latin letters.
    Skeleton,
    /// Diacritics removed.
    Diacritics,
    /// Leetspeak folded inside words.
    Leet,
    /// Separators joined, emphasis removed.
    Separators,
    /// base64 and base64url decoded.
    DecodedBase64,
    /// rot13.
    DecodedRot13,
    /// Percent-encoding decoded.
    DecodedPercent,
    /// HTML character references decoded.
    DecodedHtml,
    /// Literal unicode escapes decoded.
    DecodedUnicodeEscapes,
}

impl View {
    /// Every view, in the order they are scanned (and so reported).
    pub const ALL: [View; 11] = [
        View::Normalized,
        View::Conversation,
        View::Skeleton,
        View::Diacritics,
        View::Leet,
        View::Separators,
        View::DecodedBase64,
        View::DecodedRot13,
        View::DecodedPercent,
        View::DecodedHtml,
        View::DecodedUnicodeEscapes,
    ];

    /// The name in decision records (`view`).
    pub fn as_str(self) -> &'static str {
        match self {
            View::Normalized => "normalized",
            View::Conversation => "conversation",
            View::Skeleton => "skeleton",
            View::Diacritics => "diacritics",
            View::Leet => "leet",
            View::Separators => "separators",
            View::DecodedBase64 => "decoded-base64",
            View::DecodedRot13 => "decoded-rot13",
            View::DecodedPercent => "decoded-percent",
            View::DecodedHtml => "decoded-html",
            View::DecodedUnicodeEscapes => "decoded-unicode-escapes",
        }
    }

    /// Build this view of `text` into `out` (cleared first), for the rules of `scanner` (the
    /// leetspeak view reads ambiguous characters as the rules' words need). `false` when the
    /// view adds nothing to scan; the `normalized` view is [`ScanText::as_str`] and never built.
    pub fn build(self, text: &ScanText, scanner: &Scanner, out: &mut String) -> bool {
        out.clear();
        let norm = text.as_str();
        match self {
            View::Normalized => false,
            View::Conversation => text.conversation_into(out),
            View::Skeleton => each_raw_folded(text, out, fold::skeleton),
            View::Diacritics => fold::diacritics(norm, out),
            View::Leet => fold::leetspeak(norm, &|w| scanner.knows_word(w), out),
            View::Separators => fold::separators(norm, out),
            View::DecodedRot13 => fold_free(norm) && decode::rot13(norm, out),
            View::DecodedBase64 => each_raw(text, out, decode::base64),
            View::DecodedPercent => each_raw(text, out, decode::percent),
            View::DecodedHtml => each_raw(text, out, decode::html),
            View::DecodedUnicodeEscapes => each_raw(text, out, decode::unicode_escapes),
        }
    }
}

/// Whether there is any ASCII letter to rotate.
fn fold_free(norm: &str) -> bool {
    norm.bytes().any(|b| b.is_ascii_alphabetic())
}

/// Fold the raw text of every segment and normalise what changed into one segment each.
fn each_raw_folded(text: &ScanText, out: &mut String, fold: fn(&str, &mut String) -> bool) -> bool {
    let mut folded = String::new();
    let mut any = false;
    for seg in text.raw_segments() {
        folded.clear();
        if fold(&seg.raw, &mut folded) {
            if !out.is_empty() {
                out.push('\n');
            }
            normalize_into(&folded, out);
            any = true;
        }
    }
    any
}

/// Run a decoder over the raw text of every segment.
fn each_raw(text: &ScanText, out: &mut String, decoder: fn(&str, &mut String) -> bool) -> bool {
    let mut any = false;
    for seg in text.raw_segments() {
        any |= decoder(&seg.raw, out);
    }
    any
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_prose_builds_only_the_views_it_needs() {
        let t = ScanText::from_text("Please summarise the meeting notes for Monday.");
        let scanner = Scanner::new(&[]).unwrap_or_else(|e| panic!("{e}"));
        let mut out = String::new();
        let built: Vec<&str> = View::ALL
            .iter()
            .filter(|v| v.build(&t, &scanner, &mut out))
            .map(|v| v.as_str())
            .collect();
        assert_eq!(built, ["decoded-rot13"]);
    }

    #[test]
    fn every_view_has_a_distinct_name() {
        let mut names: Vec<&str> = View::ALL.iter().map(|v| v.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), View::ALL.len());
    }
}
