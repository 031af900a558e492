//! Text normalisation applied to both scanned text and policy phrases.
//!
//! The pipeline, in order:
//!
//! 1. drop *ignorable* code points (see [`is_ignorable`]): general category
//!    `Cf` (format controls such as ZWSP, ZWJ, BOM, bidi overrides, soft
//!    hyphen, tag characters), the invisible fillers and variation selectors
//!    listed as `Default_Ignorable_Code_Point`, and C0/C1 control characters
//!    that are not white space;
//! 2. Unicode NFKC (fullwidth letters, ligatures, mathematical alphanumerics,
//!    superscripts … become their plain forms);
//! 3. Unicode full default case folding (`caseless` semantics: `ß` → `ss`,
//!    `Σ`/`ς` → `σ`, …), with one deliberate addition: `İ` (U+0130) folds to a
//!    plain `i` instead of `i` + U+0307, so that Turkish capital dotted I cannot
//!    be used to dodge an ASCII phrase;
//! 4. NFKC again, so the result is stable (normalising twice gives the same
//!    string) even where folding produced a decomposable sequence;
//! 5. every run of white space (Unicode `White_Space`: `\t \n \r`, NBSP,
//!    U+2000–U+200A, U+2028/9, U+3000, …) becomes one ASCII space, and
//!    leading/trailing white space is dropped.
//!
//! Pure-ASCII runs take a fast path (ASCII is already NFKC and folds to its
//! lowercase; eight bytes are checked at a time), so ordinary English text
//! never touches the Unicode tables, and common non-ASCII letters (Latin-1,
//! Greek, Cyrillic, kana, CJK, Hangul, fullwidth ASCII, emoji) are folded one
//! character at a time without running the NFKC iterators. Both fast paths
//! are tested against the plain pipeline.
//!
//! The ignorable set comes from the Unicode Character Database through ICU4X
//! (`icu_properties`, kept current with each Unicode release): `Default_Ignorable_Code_Point`
//! and general category `Cf`, which is what matters for "invisible character inserted inside a
//! word" evasion.
//!
//! Normalisation is bounded: [`normalize_bounded`] stops as soon as its output would pass a limit
//! (NFKC expands some characters 18-fold, U+FDFA for one), so neither memory nor CPU grows past
//! what the limit allows.
//!
//! Not handled here (the content check's other views are): confusable look-alikes from other
//! scripts (Cyrillic `а` for Latin `a`), diacritics (`ïgnore` stays distinct from `ignore`),
//! leetspeak, separators and encodings.

use caseless::Caseless;
use unicode_normalization::UnicodeNormalization;

/// Whether `c` is removed by normalisation: `Default_Ignorable_Code_Point` (zero-width
/// characters, bidi controls, variation selectors, tag characters, fillers), other format
/// characters (general category `Cf`), and control characters (`Cc`) that are not white space.
pub fn is_ignorable(c: char) -> bool {
    use icu_properties::props::{DefaultIgnorableCodePoint, GeneralCategory};
    use icu_properties::{CodePointMapData, CodePointSetData};
    let cp = u32::from(c);
    if cp < 0x80 {
        return (cp < 0x20 || cp == 0x7F) && !c.is_ascii_whitespace() && cp != 0x0B;
    }
    if (0x80..=0x9F).contains(&cp) {
        // C1 controls; U+0085 (NEL) is white space and kept as such.
        return cp != 0x85;
    }
    if cp < 0xAD {
        return false;
    }
    CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
        || CodePointMapData::<GeneralCategory>::new().get(c) == GeneralCategory::Format
}

/// Appends normalised characters to a `String`, collapsing white space runs
/// into single spaces and trimming leading/trailing white space.
struct Sink<'a> {
    out: &'a mut String,
    /// Whether anything has been written by this normalisation call.
    wrote: bool,
    /// Whether white space was seen since the last written character.
    pending_space: bool,
    /// Scratch buffer for case folding in the Unicode path.
    scratch: String,
    /// The most bytes `out` may hold.
    limit: usize,
    /// `out` went past `limit`: stop.
    over: bool,
    /// `out.len()` when this normalisation started.
    out_start: usize,
}

impl<'a> Sink<'a> {
    fn new(out: &'a mut String, limit: usize) -> Self {
        Sink {
            out,
            wrote: false,
            pending_space: false,
            scratch: String::new(),
            limit,
            over: false,
            out_start: 0,
        }
    }

    #[inline]
    fn check(&mut self) {
        self.over |= self.out.len() > self.limit;
    }

    #[inline]
    fn space(&mut self) {
        self.pending_space = self.wrote;
    }

    #[inline]
    fn flush_space(&mut self) {
        if self.pending_space {
            self.out.push(' ');
            self.pending_space = false;
        }
    }

    /// Push an already-normalised (NFKC + folded) character.
    #[inline]
    fn push_char(&mut self, c: char) {
        if c.is_whitespace() {
            self.space();
        } else if !is_ignorable(c) {
            self.push_visible(c);
        }
    }

    /// Push a character known to be normalised, visible and not white space.
    #[inline]
    fn push_visible(&mut self, c: char) {
        self.flush_space();
        self.out.push(c);
        self.wrote = true;
        self.check();
    }

    /// Push a run of ASCII text that contains no upper-case letters, no
    /// control characters and no white space other than single `' '`
    /// characters between two other characters.
    #[inline]
    fn push_plain(&mut self, run: &str) {
        if run.is_empty() {
            return;
        }
        self.flush_space();
        self.out.push_str(run);
        self.wrote = true;
        self.check();
    }
}

/// Printable ASCII other than space and upper-case letters: copied verbatim.
#[inline]
fn is_plain(b: u8) -> bool {
    matches!(b, b'!'..=b'@' | b'['..=b'~')
}

pub(super) const HI: u64 = 0x8080_8080_8080_8080;
pub(super) const LO7: u64 = 0x7F7F_7F7F_7F7F_7F7F;

pub(super) const fn splat(b: u8) -> u64 {
    (b as u64) * 0x0101_0101_0101_0101
}

/// For lanes below 0x80: high bit of each lane set iff `lo <= lane <= hi`.
#[inline]
pub(super) fn in_range(v: u64, lo: u8, hi: u8) -> u64 {
    let ge = (v | HI).wrapping_sub(splat(lo));
    let le = (splat(hi) | HI).wrapping_sub(v);
    ge & le & HI
}

/// Bit `i` set iff the high bit of byte `i` of `m` is set.
#[inline]
fn gather(m: u64) -> u64 {
    ((m & HI) >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56
}

/// SWAR over eight bytes: bit masks of the plain bytes and of the spaces.
#[inline]
fn plain_and_space(x: u64) -> (u64, u64) {
    let ascii = !x & HI;
    let v = x & LO7;
    let plain = (in_range(v, b'!', b'@') | in_range(v, b'[', b'~')) & ascii;
    let space = in_range(v, b' ', b' ') & ascii;
    (gather(plain), gather(space))
}

/// Bytes that go through the Unicode path: non-ASCII, and ASCII control
/// characters that are not white space (they are removed before NFKC, so
/// they must not separate a character from a following combining mark).
#[inline]
fn needs_unicode(b: u8) -> bool {
    b >= 0x80 || b == 0x7F || (b < 0x20 && !matches!(b, b'\t' | b'\n' | 0x0B | 0x0C | b'\r'))
}

/// Characters whose normalisation does not depend on their neighbours and
/// yields one character: they have canonical combining class 0 and map
/// (by NFKC, then case folding) to a single character that is NFKC, has
/// class 0 and never composes with a neighbour. These are the common letters
/// of Latin-1, Greek, Cyrillic, kana, CJK, Hangul and emoji, fullwidth ASCII
/// and the Unicode space characters (which map to `' '`). A string made only
/// of them is normalised one character at a time.
#[inline]
fn simple_fold(c: char) -> Option<char> {
    let cp = u32::from(c);
    let folded = match cp {
        0x41..=0x5A | 0xC0..=0xD6 | 0xD8..=0xDE | 0x0391..=0x03A1 | 0x03A3..=0x03A9 => cp + 0x20,
        0x0410..=0x042F => cp + 0x20,
        0x0400..=0x040F => cp + 0x50,
        // Fullwidth ASCII: NFKC gives ASCII, then fold.
        0xFF21..=0xFF3A => cp - 0xFEE0 + 0x20,
        0xFF01..=0xFF20 | 0xFF3B..=0xFF5E => cp - 0xFEE0,
        // Spaces that NFKC maps to U+0020.
        0xA0 | 0x2000..=0x200A | 0x202F | 0x205F | 0x3000 => 0x20,
        0x21..=0x40
        | 0x5B..=0x7E
        | 0xD7
        | 0xE0..=0xFF
        | 0x03AC..=0x03AF
        | 0x03B1..=0x03C1
        | 0x03C3..=0x03CE
        | 0x0430..=0x045F
        | 0x3001..=0x3002
        | 0x3041..=0x3096
        | 0x30A1..=0x30FA
        | 0x30FC..=0x30FE
        | 0x4E00..=0x9FFF
        | 0xAC00..=0xD7A3
        | 0x1F300..=0x1F64F
        | 0x1F680..=0x1F6FF
        | 0x1F900..=0x1F9FF => cp,
        _ => return None,
    };
    char::from_u32(folded)
}

/// Normalise a chunk that contains non-ASCII characters.
fn push_unicode(chunk: &str, offset: usize, sink: &mut Sink<'_>) {
    // Fast path: every character is simple (no white space, nothing
    // ignorable, nothing that composes or decomposes).
    let saved = (sink.out.len(), sink.wrote, sink.pending_space);
    let mut all_simple = true;
    for c in chunk.chars() {
        match simple_fold(c) {
            Some(' ') => sink.space(),
            Some(f) => sink.push_visible(f),
            None => {
                all_simple = false;
                break;
            }
        }
    }
    if all_simple {
        return;
    }
    sink.out.truncate(saved.0);
    (sink.wrote, sink.pending_space) = (saved.1, saved.2);

    // The quick check first: it stops at the first character that is not NFKC (U+FDFA), so a
    // long expanding run goes to the full path, and its budget, without a scan of its own.
    if unicode_normalization::is_nfkc_quick(chunk.chars())
        != unicode_normalization::IsNormalized::Yes
        || chunk.chars().any(|c| is_ignorable(c) || c == '\u{130}')
    {
        push_unicode_full(chunk, offset, sink);
        return;
    }
    // The chunk is already NFKC: fold it; only if folding changed something
    // can the result need NFKC again.
    let mut scratch = std::mem::take(&mut sink.scratch);
    scratch.clear();
    let mut changed = false;
    for c in chunk.chars() {
        let mut folded = std::iter::once(c).default_case_fold();
        match (folded.next(), folded.next()) {
            (Some(f), None) => {
                changed |= f != c;
                scratch.push(f);
            }
            (a, b) => {
                changed = true;
                scratch.extend(a.into_iter().chain(b).chain(folded));
            }
        }
    }
    if !changed
        || unicode_normalization::is_nfkc_quick(scratch.chars())
            == unicode_normalization::IsNormalized::Yes
    {
        for c in scratch.chars() {
            sink.push_char(c);
        }
    } else {
        for c in scratch.chars().nfkc() {
            if sink.over {
                break;
            }
            sink.push_char(c);
        }
    }
    sink.scratch = scratch;
}

/// The full pipeline: drop ignorables, NFKC, fold, NFKC.
fn push_unicode_full(chunk: &str, offset: usize, sink: &mut Sink<'_>) {
    // CPU budget: a bounded normalisation stops once this chunk's output is more than
    // [`MAX_EXPANSION`] times the input read so far (NFKC expands U+FDFA 18-fold; text people
    // write stays well under 2), so an expanding body costs microseconds, not the time to fill
    // the whole limit.
    let read = std::cell::Cell::new(offset);
    let bounded = sink.limit != usize::MAX;
    let chars = chunk
        .chars()
        .inspect(|c| read.set(read.get() + c.len_utf8()))
        .filter(|&c| !is_ignorable(c))
        .map(|c| if c == '\u{130}' { 'I' } else { c })
        .nfkc()
        .default_case_fold()
        .nfkc();
    for c in chars {
        if sink.over {
            return;
        }
        sink.push_char(c);
        let written = sink.out.len().saturating_sub(sink.out_start);
        if bounded && written > MAX_EXPANSION * read.get() + EXPANSION_SLACK {
            sink.over = true;
        }
    }
}

/// Most bytes of normalised output per byte of input in a bounded normalisation.
const MAX_EXPANSION: usize = 4;
/// Output allowed beyond [`MAX_EXPANSION`] (a few expanding characters in ordinary text).
const EXPANSION_SLACK: usize = 4096;

/// Normalise `input` and append the result to `out`.
///
/// Steps: drop format / zero-width / invisible characters, Unicode NFKC,
/// full case folding, NFKC again, collapse every run of Unicode white space
/// into one ASCII space, and trim leading/trailing white space (relative to
/// `input`: existing contents of `out` are left untouched). See the module
/// documentation for details. The output never contains `'\n'`.
pub fn normalize_into(input: &str, out: &mut String) {
    let _ = normalize_bounded(input, out, usize::MAX);
}

/// The normalised text would be longer than the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the normalised text is longer than the limit of {limit} bytes")]
#[non_exhaustive]
pub struct TooLong {
    /// The limit on the whole output, in bytes.
    pub limit: usize,
}

/// [`normalize_into`], stopping as soon as `out` would hold more than `limit` bytes in all
/// (what it held before counts), or a run of text expands more than fourfold (plus 4 KiB): NFKC
/// turns one U+FDFA into 18 characters, and filling even a 1 MiB limit with them would cost
/// tens of milliseconds. On `Err`, `out` holds a partial result: discard it. The work done is
/// bounded by a small multiple of the input's length.
pub fn normalize_bounded(input: &str, out: &mut String, limit: usize) -> Result<(), TooLong> {
    out.reserve(input.len().min(limit.saturating_sub(out.len())));
    let out_start = out.len();
    let mut sink = Sink::new(out, limit);
    sink.out_start = out_start;
    let bytes = input.as_bytes();
    // `input[run_start..i]` is a run of plain bytes and single spaces
    // (each followed by a plain byte) not yet written.
    let mut run_start = 0usize;
    let mut i = 0usize;
    while let Some(&b) = bytes.get(i) {
        // Fast path: eight bytes that are all plain or single spaces
        // between plain bytes extend the run at once.
        if let Some(&[b0, b1, b2, b3, b4, b5, b6, b7]) = bytes.get(i..i + 8) {
            let (plain, space) =
                plain_and_space(u64::from_le_bytes([b0, b1, b2, b3, b4, b5, b6, b7]));
            let prev_plain = u64::from(i > run_start);
            let next_plain = u64::from(bytes.get(i + 8).copied().is_some_and(is_plain));
            let good_space =
                space & ((plain << 1) | prev_plain) & ((plain >> 1) | (next_plain << 7));
            let good = plain | good_space;
            if good == 0xFF {
                i += 8;
                continue;
            }
            let skip = (!good & 0xFF).trailing_zeros() as usize;
            if skip > 0 {
                i += skip;
                continue;
            }
        }
        if is_plain(b) {
            i += 1;
            continue;
        }
        if b == b' ' && i > run_start && bytes.get(i + 1).copied().is_some_and(is_plain) {
            i += 2;
            continue;
        }
        if needs_unicode(b) {
            // Non-ASCII text goes through the Unicode pipeline, together
            // with the preceding ASCII character if it is still pending (it
            // may combine with a combining mark under NFKC). The last byte
            // of a pending run is always a plain byte.
            let start = if i > run_start { i - 1 } else { i };
            sink.push_plain(input.get(run_start..start).unwrap_or(""));
            let mut end = i + 1;
            while bytes.get(end).copied().is_some_and(needs_unicode) {
                end += 1;
            }
            // `start` and `end` are char boundaries: ASCII bytes, the first
            // byte after an ASCII byte, or the ends of the input. The chunk
            // may contain ASCII control characters; the Unicode path drops
            // them.
            push_unicode(input.get(start..end).unwrap_or(""), start, &mut sink);
            if sink.over {
                return Err(TooLong { limit });
            }
            i = end;
            run_start = i;
            continue;
        }
        sink.push_plain(input.get(run_start..i).unwrap_or(""));
        if b.is_ascii_uppercase() {
            if bytes.get(i + 1).copied().is_some_and(needs_unicode) {
                // May combine with what follows: let the Unicode path
                // handle it (as the pending run's last character).
                run_start = i;
                i += 1;
                continue;
            }
            sink.flush_space();
            sink.out.push(char::from(b.to_ascii_lowercase()));
            sink.wrote = true;
        } else {
            // White space (everything else was handled above).
            sink.space();
        }
        i += 1;
        run_start = i;
    }
    sink.push_plain(input.get(run_start..).unwrap_or(""));
    sink.check();
    if sink.over {
        Err(TooLong { limit })
    } else {
        Ok(())
    }
}

/// Normalise `input` into a new `String`. See [`normalize_into`].
pub fn normalize(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    normalize_into(input, &mut out);
    out
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    #[test]
    fn ascii_is_lowercased_and_spaces_collapsed() {
        assert_eq!(
            normalize("  IGNORE   Previous\tInstructions\r\n\n"),
            "ignore previous instructions"
        );
        assert_eq!(normalize("Hello, World!"), "hello, world!");
        assert_eq!(normalize(""), "");
        assert_eq!(normalize(" \t\n "), "");
    }

    #[test]
    fn fullwidth_letters_become_ascii() {
        assert_eq!(normalize("ｉｇｎｏｒｅ"), "ignore");
        assert_eq!(
            normalize("ＩＧＮＯＲＥ ｐｒｅｖｉｏｕｓ"),
            "ignore previous"
        );
    }

    #[test]
    fn ligatures_and_math_alphanumerics_become_ascii() {
        assert_eq!(normalize("ﬁle"), "file");
        assert_eq!(normalize("ＦＩ ﬀ ﬃ"), "fi ff ffi");
        assert_eq!(normalize("𝐢𝐠𝐧𝐨𝐫𝐞"), "ignore");
        assert_eq!(normalize("𝐈𝐆𝐍𝐎𝐑𝐄 𝓹𝓻𝓮𝓿𝓲𝓸𝓾𝓼"), "ignore previous");
        // Circled and superscript forms.
        assert_eq!(normalize("ⓘⓖⓝⓞⓡⓔ"), "ignore");
        assert_eq!(normalize("x²"), "x2");
    }

    #[test]
    fn case_folding_is_full() {
        assert_eq!(normalize("IGNORE"), "ignore");
        assert_eq!(normalize("Straße"), "strasse");
        assert_eq!(normalize("STRASSE"), normalize("straße"));
        // Final and non-final sigma fold to the same letter.
        assert_eq!(normalize("ΟΔΥΣΣΕΥΣ"), normalize("οδυσσευς"));
        assert_eq!(normalize("ς"), "σ");
        // Turkish capital dotted I folds to a plain i.
        assert_eq!(normalize("İGNORE"), "ignore");
        // Kelvin sign.
        assert_eq!(normalize("\u{212A}ILL"), "kill");
    }

    #[test]
    fn composed_and_decomposed_forms_agree() {
        assert_eq!(normalize("cafe\u{301}"), "café");
        assert_eq!(normalize("CAFE\u{301}"), normalize("café"));
        assert_eq!(normalize("e\u{200B}\u{301}"), "é");
    }

    #[test]
    fn zero_width_and_format_characters_are_removed() {
        assert_eq!(normalize("ig\u{200B}nore"), "ignore");
        assert_eq!(normalize("ig\u{200D}no\u{200C}re"), "ignore");
        assert_eq!(normalize("\u{FEFF}ignore"), "ignore");
        assert_eq!(normalize("ig\u{2060}nore"), "ignore");
        assert_eq!(normalize("key\u{AD}log\u{AD}ger"), "keylogger");
        assert_eq!(normalize("ig\u{202E}nore\u{202C}"), "ignore");
        assert_eq!(normalize("i\u{FE0F}gnore"), "ignore");
        assert_eq!(normalize("ig\u{E0069}nore"), "ignore");
        assert_eq!(normalize("ig\u{3164}nore"), "ignore");
        assert_eq!(normalize("ig\u{0}no\u{1B}re\u{7F}"), "ignore");
    }

    #[test]
    fn unicode_white_space_collapses_to_one_space() {
        assert_eq!(normalize("a\u{A0}b"), "a b");
        assert_eq!(normalize("a\u{3000}\u{3000}b"), "a b");
        assert_eq!(normalize("a\t\t \n\r\nb"), "a b");
        assert_eq!(normalize("a\u{2003}\u{2029}\u{85}b"), "a b");
        assert_eq!(normalize("\u{3000}a b\u{A0}"), "a b");
        // Invisible characters between spaces do not leave a double space.
        assert_eq!(normalize("a \u{200B} b"), "a b");
        // Zero-width space is not white space: it joins rather than splits.
        assert_eq!(normalize("a\u{200B}b"), "ab");
    }

    #[test]
    fn normalisation_appends_and_trims_relative_to_input() {
        let mut out = String::from("x\n");
        normalize_into("  Hello  ", &mut out);
        assert_eq!(out, "x\nhello");
    }

    #[test]
    fn normalisation_is_idempotent() {
        let samples = [
            "IGNORE ｐｒｅｖｉｏｕｓ Straße ΣΊΣΥΦΟΣ ﬁ 𝐢𝐠𝐧 ",
            "İstanbul \u{1E9E} \u{0345} ᾼ Ǆ \u{2126}",
            "mixed ASCII and 日本語 text with e\u{301} and \u{FB01}",
            "a\u{200B} \u{A0}\tb",
        ];
        for s in samples {
            let once = normalize(s);
            assert_eq!(normalize(&once), once, "input {s:?}");
        }
    }

    #[test]
    fn output_never_contains_newlines_or_control_whitespace() {
        let s = normalize("line one\nline two\r\nthree\u{2028}four\u{B}five\u{C}six");
        assert_eq!(s, "line one line two three four five six");
    }

    /// The whole pipeline applied to the whole string at once, without any
    /// fast path: the specification `normalize` must agree with.
    fn reference(input: &str) -> String {
        let folded: String = input
            .chars()
            .filter(|&c| !is_ignorable(c))
            .map(|c| if c == '\u{130}' { 'I' } else { c })
            .nfkc()
            .default_case_fold()
            .nfkc()
            .filter(|&c| !is_ignorable(c))
            .collect();
        folded.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn fast_paths_agree_with_reference_pipeline() {
        const ALPHABET: &[&str] = &[
            "a",
            "e",
            "E",
            "I",
            "z",
            "Z",
            "0",
            ".",
            "-",
            " ",
            " ",
            "  ",
            "\t",
            "\n",
            "\r\n",
            "\u{0}",
            "\u{7F}",
            "\u{1B}",
            "\u{B}",
            "\u{301}",
            "\u{308}",
            "\u{327}",
            "\u{345}",
            "\u{200B}",
            "\u{200D}",
            "\u{FEFF}",
            "\u{AD}",
            "\u{A0}",
            "\u{3000}",
            "\u{2028}",
            "\u{85}",
            "é",
            "É",
            "ß",
            "ẞ",
            "Σ",
            "ς",
            "ΐ",
            "ﬁ",
            "ﬀ",
            "Ａ",
            "ｚ",
            "𝐀",
            "𝒛",
            "İ",
            "ı",
            "\u{212A}",
            "Ω",
            "\u{2126}",
            "ǅ",
            "ŉ",
            "ᾼ",
            "ﾊ",
            "ﾟ",
            "가",
            "\u{1100}",
            "\u{1161}",
            "日",
            "①",
            "²",
            "½",
            "😀",
            "\u{E0041}",
            "\u{FE0F}",
            "Ж",
            "ж",
            "Ё",
            "ά",
            "ΰ",
            "ガ",
            "\u{3099}",
            "カ",
            "ﾞ",
            "한",
            "\u{11A8}",
            "µ",
            "×",
        ];
        const ASCII_HEAVY: &[&str] = &[
            "ab", "cde", "x", " ", " ", ". ", ",", "Q", "\t", "  ", "é", "\u{301}",
        ];
        // Strings of up to 40 pieces, from the whole alphabet or the ASCII-heavy one (which
        // exercises the eight-byte fast path and its edges).
        let from = |pieces: &'static [&'static str]| {
            proptest::collection::vec(proptest::sample::select(pieces), 0..40)
                .prop_map(|v| v.concat())
        };
        let strings = prop_oneof![from(ALPHABET), from(ASCII_HEAVY)];
        let mut runner = TestRunner::new(Config {
            cases: 20_000,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&strings, |s| {
                let got = normalize(&s);
                prop_assert_eq!(&got, &reference(&s), "{:?}", s);
                prop_assert_eq!(normalize(&got), got.clone(), "not idempotent: {:?}", s);
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn simple_fold_table_agrees_with_full_pipeline() {
        use unicode_normalization::char::canonical_combining_class;
        use unicode_normalization::{IsNormalized, is_nfkc_quick};
        let mut checked = 0;
        for cp in 0..=0x10FFFFu32 {
            let Some(c) = char::from_u32(cp) else {
                continue;
            };
            let Some(f) = simple_fold(c) else { continue };
            assert_eq!(canonical_combining_class(c), 0, "{c:?}");
            assert_eq!(canonical_combining_class(f), 0, "{f:?}");
            assert_eq!(
                is_nfkc_quick(std::iter::once(f)),
                IsNormalized::Yes,
                "{f:?}"
            );
            assert!(!is_ignorable(c), "{c:?}");
            // Same result as the full pipeline, in context.
            assert_eq!(reference(&format!("a{c}b")), format!("a{f}b"), "{c:?}");
            assert_eq!(
                reference(&format!("{c}{c}")),
                format!("{f}{f}").trim(),
                "{c:?}"
            );
            checked += 1;
        }
        assert!(checked > 30_000);
    }

    #[test]
    fn ignorable_characters_come_from_the_unicode_properties() {
        for c in [
            '\u{200B}',
            '\u{200D}',
            '\u{FEFF}',
            '\u{AD}',
            '\u{2060}',
            '\u{202E}',
            '\u{FE0F}',
            '\u{E0069}',
            '\u{E007F}',
            '\u{3164}',
            '\u{115F}',
            '\u{180E}',
            '\u{1BCA0}',
            '\u{0}',
            '\u{7F}',
            '\u{9F}',
            '\u{061C}',
            '\u{0600}',
        ] {
            assert!(is_ignorable(c), "{c:?}");
        }
        for c in [
            'a', ' ', '\n', '\t', 'é', '\u{85}', '\u{A0}', 'ł', '日', '\u{301}',
        ] {
            assert!(!is_ignorable(c), "{c:?}");
        }
        // Every Default_Ignorable_Code_Point is removed.
        use icu_properties::CodePointSetData;
        use icu_properties::props::DefaultIgnorableCodePoint;
        let dicp = CodePointSetData::new::<DefaultIgnorableCodePoint>();
        for range in dicp.iter_ranges() {
            for cp in range {
                if let Some(c) = char::from_u32(cp) {
                    assert!(is_ignorable(c), "{c:?}");
                }
            }
        }
    }

    #[test]
    fn expansion_is_bounded_by_the_limit() {
        // U+FDFA expands to 18 characters under NFKC.
        let input = "\u{FDFA}".repeat(10_000);
        let mut out = String::new();
        assert_eq!(
            normalize_bounded(&input, &mut out, 4096),
            Err(TooLong { limit: 4096 })
        );
        assert!(out.len() < 4096 + 64, "{}", out.len());
        let mut out = String::from("prefix");
        assert_eq!(normalize_bounded("Hello", &mut out, 11), Ok(()));
        assert_eq!(out, "prefixhello");
        let mut out = String::from("prefix");
        assert!(normalize_bounded("Hello!", &mut out, 11).is_err());
        let mut out = String::new();
        assert!(normalize_bounded(&"A".repeat(100), &mut out, 50).is_err());
        // Expansion is bounded well before the limit; ordinary expanding characters are fine.
        let input = "\u{FDFA}".repeat(100_000);
        let mut out = String::new();
        assert!(normalize_bounded(&input, &mut out, 1 << 30).is_err());
        assert!(out.len() < 4096 + 4096, "{}", out.len());
        let mut out = String::new();
        assert!(
            normalize_bounded(&"Grüße ﷺ ﬁne ㍿ words ".repeat(1000), &mut out, 1 << 30).is_ok()
        );
        // Short runs separated by spaces are bounded too.
        let mut out = String::new();
        assert!(normalize_bounded(&"\u{FDFA} ".repeat(100_000), &mut out, 1 << 30).is_err());
    }
}
