//! Labelling caption files (WebVTT and SubRip) with a visible notice cue.
//!
//! Why hand-written: the WebVTT and SRT crates parse and re-render a file, which would break
//! this module's promise that every byte of the original is kept; these editors only insert
//! the notice cue (and renumber SRT cues), and give up (`None`) rather than risk a change.
//!
//! A WebVTT `NOTE` would be invisible to viewers, so both formats get a real
//! cue carrying the notice, inserted before the first existing cue.
//!
//! # Timing of the notice cue
//!
//! The notice cue always starts at `00:00:00.000`. Its end is chosen from the
//! earliest start time of the existing cues:
//!
//! * if the earliest cue starts at 2 s or later, the notice ends when that cue
//!   starts, but lasts at most 5 s, so it never overlaps real captions;
//! * otherwise (or when there are no cues, or no start time can be read) the
//!   notice lasts 4 s and overlaps the first caption(s). Overlapping cues are
//!   allowed in both formats; players show them stacked.
//!
//! # What is preserved
//!
//! * WebVTT: every byte of the original file is kept; the notice cue (plus a
//!   separating blank line) is inserted before the first cue block, so the
//!   `WEBVTT` line, header text, `STYLE` / `REGION` blocks and `NOTE` blocks
//!   stay where they were (and in particular before the first cue, where
//!   `STYLE` and `REGION` blocks must be).
//! * SRT: the file is re-emitted with cues renumbered `1..=n+1` (notice first);
//!   timing lines and text lines of the original cues are copied verbatim.
//!   Blank-line separation between cues is normalised.
//! * Both: a leading UTF-8 byte order mark and the file's line-ending style
//!   (CRLF, LF or CR, taken from the first line break) are kept; a missing
//!   trailing newline is tolerated.

use super::body::{one_line, split_bom};

/// A caption notice suitable for captions when the caller has none configured.
/// Also used when the given notice is empty after sanitising.
pub const DEFAULT_CAPTION_NOTICE: &str =
    "This content was automatically generated and may require human review for accuracy.";

/// Earliest first-cue start that lets the notice end before the first cue.
const NOTICE_MIN_GAP_MS: u64 = 2_000;
/// Longest notice when it does not overlap the first cue.
const NOTICE_MAX_MS: u64 = 5_000;
/// Notice duration when it overlaps the first cue.
const NOTICE_OVERLAP_MS: u64 = 4_000;

/// Inserts a visible notice cue before the first cue of a WebVTT file.
///
/// Returns `None` (leave the body unchanged) when the body does not start with
/// the `WEBVTT` signature (after an optional byte order mark). A file with no
/// cues gets the notice as its only cue. The notice is put on one line and
/// `&`, `<`, `>` are escaped, so it can neither end the cue nor inject markup.
pub fn label_webvtt(body: &[u8], notice: &str) -> Option<Vec<u8>> {
    let (bom, text) = split_bom(body);
    let after_magic = text.strip_prefix(b"WEBVTT")?;
    if !matches!(
        after_magic.first(),
        None | Some(b' ' | b'\t' | b'\r' | b'\n')
    ) {
        return None;
    }
    let eol = detect_eol(text);
    let lines = split_lines(text);

    // The signature line and the header text after it run until the first
    // blank line; a timing line ends the header early (as in the WebVTT
    // parser), starting a cue.
    let mut i = 1;
    while lines
        .get(i)
        .is_some_and(|l| !l.content.is_empty() && !contains_arrow(l.content))
    {
        i += 1;
    }

    // Walk the blocks as the WebVTT parser does: a block is a cue when its
    // first line, or its second line (the first being the identifier),
    // contains "-->"; any later "-->" line starts a new block.
    let mut first_cue: Option<usize> = None;
    let mut earliest: Option<u64> = None;
    loop {
        while lines.get(i).is_some_and(|l| l.content.is_empty()) {
            i += 1;
        }
        if i >= lines.len() {
            break;
        }
        let block_start = i;
        let mut count = 0;
        let mut seen_arrow = false;
        while let Some(line) = lines.get(i) {
            if line.content.is_empty() {
                break;
            }
            count += 1;
            if contains_arrow(line.content) {
                if count == 1 || (count == 2 && !seen_arrow) {
                    seen_arrow = true;
                    first_cue.get_or_insert(block_start);
                    if let Some(start) = vtt_cue_start(line.content) {
                        earliest = Some(earliest.map_or(start, |e| e.min(start)));
                    }
                } else {
                    break;
                }
            }
            i += 1;
        }
    }

    let mut cue = Vec::with_capacity(128);
    cue.extend_from_slice(format_timestamp(0, b'.').as_bytes());
    cue.extend_from_slice(b" --> ");
    cue.extend_from_slice(format_timestamp(notice_end_ms(earliest), b'.').as_bytes());
    cue.extend_from_slice(eol);
    cue.extend_from_slice(vtt_notice_text(notice).as_bytes());
    cue.extend_from_slice(eol);

    let mut out = Vec::with_capacity(body.len() + cue.len() + 3 * eol.len());
    out.extend_from_slice(bom);
    match first_cue.and_then(|idx| lines.get(idx).map(|line| (idx, line))) {
        Some((idx, line)) => {
            let (head, tail) = text.split_at_checked(line.start)?;
            out.extend_from_slice(head);
            // The previous line is not blank when a cue follows the header (or
            // another block) without the required blank line.
            if idx
                .checked_sub(1)
                .and_then(|prev| lines.get(prev))
                .is_some_and(|prev| !prev.content.is_empty())
            {
                out.extend_from_slice(eol);
            }
            out.extend_from_slice(&cue);
            out.extend_from_slice(eol);
            out.extend_from_slice(tail);
        }
        None => {
            out.extend_from_slice(text);
            match lines.last() {
                Some(last) if !last.terminated => {
                    out.extend_from_slice(eol);
                    out.extend_from_slice(eol);
                }
                Some(last) if !last.content.is_empty() => out.extend_from_slice(eol),
                _ => {}
            }
            out.extend_from_slice(&cue);
        }
    }
    Some(out)
}

/// Inserts a visible notice cue as cue 1 of a SubRip file and renumbers the
/// original cues `2..=n+1`.
///
/// Returns `None` (leave the body unchanged) when the body cannot be parsed
/// as SRT: every cue must be an index line (digits; may be missing), a timing
/// line `HH:MM:SS,mmm --> HH:MM:SS,mmm` (`.` is accepted for `,`, hours may
/// have any number of digits, coordinates after the end time are kept) and
/// text lines up to a blank line. Cues not separated by a blank line are
/// split where a new index + timing line pair starts. An empty (or all-blank)
/// body yields a file holding only the notice cue.
pub fn label_srt(body: &[u8], notice: &str) -> Option<Vec<u8>> {
    let (bom, text) = split_bom(body);
    let eol = detect_eol(text);
    let lines = split_lines(text);
    let cues = parse_srt(&lines)?;

    let earliest = cues.iter().map(|c| c.start_ms).min();
    let mut out = Vec::with_capacity(body.len() + 8 * cues.len() + 160);
    out.extend_from_slice(bom);
    out.extend_from_slice(b"1");
    out.extend_from_slice(eol);
    out.extend_from_slice(format_timestamp(0, b',').as_bytes());
    out.extend_from_slice(b" --> ");
    out.extend_from_slice(format_timestamp(notice_end_ms(earliest), b',').as_bytes());
    out.extend_from_slice(eol);
    out.extend_from_slice(srt_notice_text(notice).as_bytes());
    out.extend_from_slice(eol);
    out.extend_from_slice(eol);
    for (n, cue) in (2u64..).zip(&cues) {
        out.extend_from_slice(n.to_string().as_bytes());
        out.extend_from_slice(eol);
        out.extend_from_slice(cue.timing);
        out.extend_from_slice(eol);
        for line in &cue.text {
            out.extend_from_slice(line);
            out.extend_from_slice(eol);
        }
        out.extend_from_slice(eol);
    }
    Some(out)
}

/// One line of a caption file, without its terminator.
struct Line<'a> {
    /// Byte offset of the line in the (BOM-less) text.
    start: usize,
    /// The line's bytes, without the terminator.
    content: &'a [u8],
    /// Whether a line terminator follows.
    terminated: bool,
}

/// Splits on CRLF, LF or CR. A final line without terminator is included if
/// it is not empty.
fn split_lines(text: &[u8]) -> Vec<Line<'_>> {
    let mut lines = Vec::new();
    let mut pos = 0;
    while let Some(rest) = text.get(pos..).filter(|r| !r.is_empty()) {
        match rest.iter().position(|b| matches!(b, b'\r' | b'\n')) {
            Some(i) => {
                let crlf = rest.get(i) == Some(&b'\r') && rest.get(i + 1) == Some(&b'\n');
                lines.push(Line {
                    start: pos,
                    content: rest.get(..i).unwrap_or_default(),
                    terminated: true,
                });
                pos += i + if crlf { 2 } else { 1 };
            }
            None => {
                lines.push(Line {
                    start: pos,
                    content: rest,
                    terminated: false,
                });
                break;
            }
        }
    }
    lines
}

/// The file's line ending style: that of its first line break (LF if none).
fn detect_eol(text: &[u8]) -> &'static [u8] {
    match text.iter().position(|b| matches!(b, b'\r' | b'\n')) {
        Some(i) if text.get(i) == Some(&b'\r') => {
            if text.get(i + 1) == Some(&b'\n') {
                b"\r\n"
            } else {
                b"\r"
            }
        }
        _ => b"\n",
    }
}

fn notice_end_ms(earliest_start: Option<u64>) -> u64 {
    match earliest_start {
        Some(start) if start >= NOTICE_MIN_GAP_MS => start.min(NOTICE_MAX_MS),
        _ => NOTICE_OVERLAP_MS,
    }
}

/// `HH:MM:SS<sep>mmm`.
fn format_timestamp(ms: u64, sep: u8) -> String {
    format!(
        "{:02}:{:02}:{:02}{}{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1_000 % 60,
        char::from(sep),
        ms % 1_000
    )
}

fn caption_text(notice: &str) -> String {
    let text = one_line(notice);
    if text.is_empty() {
        DEFAULT_CAPTION_NOTICE.to_owned()
    } else {
        text
    }
}

/// One line with WebVTT cue-text markup characters escaped (which also rules
/// out `-->`).
fn vtt_notice_text(notice: &str) -> String {
    let text = caption_text(notice);
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

/// One line without `-->`, which some SRT parsers treat as a timing line.
fn srt_notice_text(notice: &str) -> String {
    let mut text = caption_text(notice);
    while text.contains("-->") {
        text = text.replace("-->", "->");
    }
    text
}

fn contains_arrow(line: &[u8]) -> bool {
    line.windows(3).any(|w| w == b"-->")
}

/// Splits a timing line at its first `-->`.
fn split_arrow(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = line.windows(3).position(|w| w == b"-->")?;
    let (left, right) = line.split_at_checked(at)?;
    Some((left, right.get(3..)?))
}

/// Start time of a WebVTT timing line (`[HH:]MM:SS.mmm --> …`).
fn vtt_cue_start(line: &[u8]) -> Option<u64> {
    let (left, _) = split_arrow(line)?;
    let ts = left.trim_ascii();
    let (hms, millis) = split_last(ts, b'.')?;
    let fields: Vec<&[u8]> = hms.split(|b| *b == b':').collect();
    let (hours, minutes, seconds) = match fields.as_slice() {
        [m, s] => (0, *m, *s),
        [h, m, s] => (number(h, 1, 9)?, *m, *s),
        _ => return None,
    };
    to_ms(hours, minutes, seconds, millis)
}

/// Start and end of an SRT timing line (`H+:MM:SS,mmm --> H+:MM:SS,mmm [X1:…]`).
fn srt_timing(line: &[u8]) -> Option<(u64, u64)> {
    let (left, right) = split_arrow(line)?;
    let start = srt_timestamp(left.trim_ascii())?;
    let right = right.trim_ascii_start();
    let end_len = right
        .iter()
        .position(|b| b.is_ascii_whitespace())
        .unwrap_or(right.len());
    let end = srt_timestamp(right.get(..end_len)?)?;
    Some((start, end))
}

fn srt_timestamp(ts: &[u8]) -> Option<u64> {
    let sep = ts.iter().rposition(|b| matches!(b, b',' | b'.'))?;
    let (hms, millis) = ts.split_at_checked(sep)?;
    let millis = millis.get(1..)?;
    let fields: Vec<&[u8]> = hms.split(|b| *b == b':').collect();
    match fields.as_slice() {
        [h, m, s] => to_ms(number(h, 1, 9)?, m, s, millis),
        _ => None,
    }
}

fn to_ms(hours: u64, minutes: &[u8], seconds: &[u8], millis: &[u8]) -> Option<u64> {
    let minutes = number(minutes, 2, 2).filter(|m| *m < 60)?;
    let seconds = number(seconds, 2, 2).filter(|s| *s < 60)?;
    let millis = number(millis, 3, 3)?;
    hours
        .checked_mul(3_600_000)?
        .checked_add(minutes * 60_000 + seconds * 1_000 + millis)
}

/// Decimal digits only, between `min` and `max` of them.
fn number(digits: &[u8], min: usize, max: usize) -> Option<u64> {
    if digits.len() < min || digits.len() > max || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        digits
            .iter()
            .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0')),
    )
}

fn split_last(s: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let at = s.iter().rposition(|b| *b == sep)?;
    let (left, right) = s.split_at_checked(at)?;
    Some((left, right.get(1..)?))
}

/// A parsed SRT cue, borrowing from the input.
struct SrtCue<'a> {
    start_ms: u64,
    timing: &'a [u8],
    text: Vec<&'a [u8]>,
}

fn is_blank(line: &[u8]) -> bool {
    line.trim_ascii().is_empty()
}

fn is_index(line: &[u8]) -> bool {
    let t = line.trim_ascii();
    !t.is_empty() && t.iter().all(u8::is_ascii_digit)
}

fn parse_srt<'a>(lines: &[Line<'a>]) -> Option<Vec<SrtCue<'a>>> {
    let is_timing = |i: usize| {
        lines
            .get(i)
            .is_some_and(|l| srt_timing(l.content).is_some())
    };
    let mut cues = Vec::new();
    let mut i = 0;
    loop {
        while lines.get(i).is_some_and(|l| is_blank(l.content)) {
            i += 1;
        }
        let Some(first) = lines.get(i) else {
            break;
        };
        if is_index(first.content) {
            i += 1;
        }
        let timing = lines.get(i)?.content;
        let (start_ms, _end) = srt_timing(timing)?;
        i += 1;
        let mut text = Vec::new();
        while let Some(line) = lines.get(i) {
            let next_cue = is_timing(i) || (is_index(line.content) && is_timing(i + 1));
            if is_blank(line.content) || next_cue {
                break;
            }
            text.push(line.content);
            i += 1;
        }
        cues.push(SrtCue {
            start_ms,
            timing: timing.trim_ascii(),
            text,
        });
    }
    Some(cues)
}

#[cfg(test)]
mod tests {

    use super::*;

    const NOTICE: &str =
        "This content was automatically generated and may require human review for accuracy.";

    // ---------------------------------------------------------------- helpers

    /// Splits like the WebVTT / SRT parsers: CRLF, CR or LF; no phantom last
    /// line after a final terminator.
    fn lines_of(text: &str) -> Vec<String> {
        let norm = text.replace("\r\n", "\n").replace('\r', "\n");
        let mut lines: Vec<String> = norm.split('\n').map(str::to_owned).collect();
        if norm.ends_with('\n') {
            lines.pop();
        }
        lines
    }

    /// Asserts that every line break in `out` is `eol`.
    fn assert_line_endings(out: &[u8], eol: &str) {
        let text = std::str::from_utf8(out).unwrap();
        let breaks = text.matches(['\r', '\n']).count();
        let expected = text.matches(eol).count() * eol.len();
        assert_eq!(breaks, expected, "mixed line endings in {text:?}");
    }

    #[derive(Debug, Clone, PartialEq)]
    struct VttCue {
        id: Option<String>,
        start: u64,
        end: u64,
        timing_line: String,
        payload: Vec<String>,
    }

    #[derive(Debug, Default)]
    struct Vtt {
        /// Signature line followed by header lines.
        header: Vec<String>,
        /// STYLE and REGION blocks (all before the first cue).
        styles_and_regions: Vec<Vec<String>>,
        /// NOTE blocks, anywhere.
        notes: Vec<Vec<String>>,
        cues: Vec<VttCue>,
    }

    /// `(HH+:)?MM:SS.mmm` as the WebVTT syntax requires.
    fn vtt_ts(s: &str) -> Result<u64, String> {
        let err = || format!("bad timestamp {s:?}");
        let (hms, ms) = s.rsplit_once('.').ok_or_else(err)?;
        let parts: Vec<&str> = hms.split(':').collect();
        let (h, m, sec) = match parts.as_slice() {
            [m, s] => ("0", *m, *s),
            [h, m, s] if h.len() >= 2 => (*h, *m, *s),
            _ => return Err(err()),
        };
        let digits = |x: &str, n: usize| x.len() == n && x.bytes().all(|b| b.is_ascii_digit());
        if !(h.bytes().all(|b| b.is_ascii_digit())
            && digits(m, 2)
            && digits(sec, 2)
            && digits(ms, 3))
        {
            return Err(err());
        }
        let (h, m, sec, ms): (u64, u64, u64, u64) = (
            h.parse().unwrap(),
            m.parse().unwrap(),
            sec.parse().unwrap(),
            ms.parse().unwrap(),
        );
        if m > 59 || sec > 59 {
            return Err(err());
        }
        Ok(((h * 60 + m) * 60 + sec) * 1000 + ms)
    }

    /// A strict WebVTT validator following the file syntax of the W3C spec.
    fn parse_vtt(bytes: &[u8]) -> Result<Vtt, String> {
        let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let lines = lines_of(text);
        let mut vtt = Vtt::default();
        let sig = lines.first().ok_or("empty file")?;
        if !(sig == "WEBVTT" || sig.starts_with("WEBVTT ") || sig.starts_with("WEBVTT\t")) {
            return Err(format!("bad signature {sig:?}"));
        }
        let mut i = 0;
        while i < lines.len() && !lines[i].is_empty() {
            if lines[i].contains("-->") {
                return Err(format!("'-->' in header line {:?}", lines[i]));
            }
            vtt.header.push(lines[i].clone());
            i += 1;
        }
        let mut prev_start = 0;
        while i < lines.len() {
            // At least one blank line before every block (guaranteed here).
            while i < lines.len() && lines[i].is_empty() {
                i += 1;
            }
            let mut block = Vec::new();
            while i < lines.len() && !lines[i].is_empty() {
                block.push(lines[i].clone());
                i += 1;
            }
            if block.is_empty() {
                break;
            }
            let first = block[0].as_str();
            let no_arrow = |b: &[String]| b.iter().all(|l| !l.contains("-->"));
            if first == "NOTE" || first.starts_with("NOTE ") || first.starts_with("NOTE\t") {
                if !no_arrow(&block) {
                    return Err(format!("'-->' in NOTE block {block:?}"));
                }
                vtt.notes.push(block);
            } else if first.trim_end() == "STYLE" || first.trim_end() == "REGION" {
                if !vtt.cues.is_empty() {
                    return Err(format!("{first} block after the first cue"));
                }
                if !no_arrow(&block) {
                    return Err(format!("'-->' in {first} block"));
                }
                vtt.styles_and_regions.push(block);
            } else {
                let (id, timing_at) = if first.contains("-->") {
                    (None, 0)
                } else {
                    (Some(first.to_owned()), 1)
                };
                let timing = block
                    .get(timing_at)
                    .ok_or_else(|| format!("block without timing: {block:?}"))?;
                let (left, right) = timing
                    .split_once("-->")
                    .ok_or_else(|| format!("block without timing: {block:?}"))?;
                if !left.ends_with([' ', '\t']) || !right.starts_with([' ', '\t']) {
                    return Err(format!("no whitespace around '-->' in {timing:?}"));
                }
                let start = vtt_ts(left.trim_matches([' ', '\t']))?;
                let right = right.trim_start_matches([' ', '\t']);
                let end_str = right.split([' ', '\t']).next().unwrap();
                let end = vtt_ts(end_str)?;
                if end <= start {
                    return Err(format!("cue ends before it starts: {timing:?}"));
                }
                if start < prev_start {
                    return Err(format!("cues out of order at {timing:?}"));
                }
                prev_start = start;
                let payload = block[timing_at + 1..].to_vec();
                if !no_arrow(&payload) {
                    return Err(format!("'-->' in payload {payload:?}"));
                }
                vtt.cues.push(VttCue {
                    id,
                    start,
                    end,
                    timing_line: timing.clone(),
                    payload,
                });
            }
        }
        Ok(vtt)
    }

    #[derive(Debug, Clone, PartialEq)]
    struct SrtCue {
        index: usize,
        start: u64,
        end: u64,
        timing_line: String,
        text: Vec<String>,
    }

    /// `HH:MM:SS,mmm`.
    fn srt_ts(s: &str) -> Result<u64, String> {
        let b = s.as_bytes();
        let shape = b.len() == 12
            && b[2] == b':'
            && b[5] == b':'
            && b[8] == b','
            && [0, 1, 3, 4, 6, 7, 9, 10, 11]
                .iter()
                .all(|&i| b[i].is_ascii_digit());
        if !shape {
            return Err(format!("bad SRT timestamp {s:?}"));
        }
        let n = |r: std::ops::Range<usize>| s[r].parse::<u64>().unwrap();
        if n(3..5) > 59 || n(6..8) > 59 {
            return Err(format!("bad SRT timestamp {s:?}"));
        }
        Ok(((n(0..2) * 60 + n(3..5)) * 60 + n(6..8)) * 1000 + n(9..12))
    }

    /// A strict SRT validator: index lines 1..n in order, timing line,
    /// at least one text line, blank line between cues.
    fn parse_srt_strict(bytes: &[u8]) -> Result<Vec<SrtCue>, String> {
        let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let lines = lines_of(text);
        let mut cues = Vec::new();
        let mut i = 0;
        while i < lines.len() {
            let expected = cues.len() + 1;
            if lines[i] != expected.to_string() {
                return Err(format!("expected index {expected}, got {:?}", lines[i]));
            }
            let timing = lines
                .get(i + 1)
                .ok_or_else(|| format!("cue {expected} has no timing"))?;
            let (l, r) = timing
                .split_once(" --> ")
                .ok_or_else(|| format!("bad timing line {timing:?}"))?;
            let (start, end) = (srt_ts(l)?, srt_ts(r)?);
            if end <= start {
                return Err(format!("cue {expected} ends before it starts"));
            }
            i += 2;
            let mut text = Vec::new();
            while i < lines.len() && !lines[i].is_empty() {
                text.push(lines[i].clone());
                i += 1;
            }
            if text.is_empty() {
                return Err(format!("cue {expected} has no text"));
            }
            cues.push(SrtCue {
                index: expected,
                start,
                end,
                timing_line: timing.clone(),
                text,
            });
            // Exactly one blank line between cues; the last may lack it.
            if i < lines.len() {
                i += 1;
            }
        }
        Ok(cues)
    }

    fn vtt(input: &str) -> (String, Vtt) {
        let out = label_webvtt(input.as_bytes(), NOTICE).expect("labelled");
        let parsed = parse_vtt(&out)
            .unwrap_or_else(|e| panic!("invalid output ({e}):\n{}", String::from_utf8_lossy(&out)));
        (String::from_utf8(out).unwrap(), parsed)
    }

    fn assert_notice_cue(cue: &VttCue, end: u64) {
        assert_eq!(cue.id, None);
        assert_eq!(cue.start, 0);
        assert_eq!(cue.end, end);
        assert_eq!(cue.payload, [NOTICE]);
    }

    // ------------------------------------------------------------------ WebVTT

    const SAMPLE_VTT: &str = "WEBVTT - Interview transcript\n\
        \n\
        intro\n\
        00:00:01.000 --> 00:00:04.000 line:90% align:center\n\
        <v Alice>Hello &amp; welcome.\n\
        Second line.\n\
        \n\
        00:04.500 --> 00:07.250\n\
        No identifier, short timestamps.\n\
        \n\
        01:02:03.004 --> 01:02:05.000\n\
        Last.\n";

    #[test]
    fn vtt_notice_is_first_cue_and_originals_are_preserved() {
        let original = parse_vtt(SAMPLE_VTT.as_bytes()).unwrap();
        let (out, labelled) = vtt(SAMPLE_VTT);
        assert_eq!(labelled.header, ["WEBVTT - Interview transcript"]);
        assert_eq!(labelled.cues.len(), original.cues.len() + 1);
        // First cue starts at 1 s (< 2 s): notice overlaps, lasting 4 s.
        assert_notice_cue(&labelled.cues[0], 4_000);
        assert_eq!(labelled.cues[1..], original.cues[..]);
        assert_eq!(
            out,
            SAMPLE_VTT.replacen(
                "\nintro\n",
                &format!("\n00:00:00.000 --> 00:00:04.000\n{NOTICE}\n\nintro\n"),
                1
            )
        );
    }

    #[test]
    fn vtt_notice_ends_before_a_late_first_cue() {
        let input = "WEBVTT\n\n00:00:03.000 --> 00:00:04.000\nlate\n";
        let (_, parsed) = vtt(input);
        assert_notice_cue(&parsed.cues[0], 3_000);

        let input = "WEBVTT\n\n00:01:00.000 --> 00:01:04.000\nmuch later\n";
        let (_, parsed) = vtt(input);
        assert_notice_cue(&parsed.cues[0], 5_000);
        assert_eq!(parsed.cues[1].payload, ["much later"]);
    }

    #[test]
    fn vtt_crlf_stays_crlf() {
        let input = SAMPLE_VTT.replace('\n', "\r\n");
        let original = parse_vtt(input.as_bytes()).unwrap();
        let (out, labelled) = vtt(&input);
        assert_line_endings(out.as_bytes(), "\r\n");
        assert_notice_cue(&labelled.cues[0], 4_000);
        assert_eq!(labelled.cues[1..], original.cues[..]);
    }

    #[test]
    fn vtt_cr_only_stays_cr() {
        let input = SAMPLE_VTT.replace('\n', "\r");
        let (out, labelled) = vtt(&input);
        assert_line_endings(out.as_bytes(), "\r");
        assert_eq!(labelled.cues.len(), 4);
    }

    #[test]
    fn vtt_header_metadata_style_and_region_blocks_stay_before_cues() {
        let input = "WEBVTT\n\
            Kind: captions\n\
            Language: en\n\
            \n\
            REGION\n\
            id:fred\n\
            width:40%\n\
            \n\
            STYLE\n\
            ::cue {\n  color: yellow;\n}\n\
            \n\
            NOTE style and region blocks must come first\n\
            \n\
            1\n\
            00:00:00.500 --> 00:00:02.000 region:fred\n\
            First.\n\
            \n\
            2\n\
            00:00:02.000 --> 00:00:03.000\n\
            Second.\n";
        let original = parse_vtt(input.as_bytes()).unwrap();
        let (out, labelled) = vtt(input);
        assert_eq!(
            labelled.header,
            ["WEBVTT", "Kind: captions", "Language: en"]
        );
        assert_eq!(labelled.styles_and_regions, original.styles_and_regions);
        assert_eq!(labelled.styles_and_regions.len(), 2);
        assert_eq!(labelled.notes, original.notes);
        assert_notice_cue(&labelled.cues[0], 4_000);
        assert_eq!(labelled.cues[1..], original.cues[..]);
        // The notice cue comes after the style block, right before cue "1".
        let style_at = out.find("STYLE").unwrap();
        let notice_at = out.find(NOTICE).unwrap();
        let first_cue_at = out.find("\n1\n").unwrap();
        assert!(style_at < notice_at && notice_at < first_cue_at);
    }

    #[test]
    fn vtt_bom_is_kept() {
        let input = format!("\u{feff}{SAMPLE_VTT}");
        let (out, labelled) = vtt(&input);
        assert!(out.starts_with("\u{feff}WEBVTT - Interview transcript\n"));
        assert_eq!(labelled.cues.len(), 4);
    }

    #[test]
    fn vtt_note_blocks_are_preserved() {
        let input = "WEBVTT\n\n\
            NOTE\nThis file was produced by a model.\n\n\
            00:00:05.000 --> 00:00:06.000\nOne\n\n\
            NOTE between cues\n\n\
            00:00:07.000 --> 00:00:08.000\nTwo\n";
        let original = parse_vtt(input.as_bytes()).unwrap();
        let (out, labelled) = vtt(input);
        assert_eq!(labelled.notes.len(), 2);
        assert_eq!(labelled.notes, original.notes);
        assert_notice_cue(&labelled.cues[0], 5_000);
        assert_eq!(labelled.cues[1..], original.cues[..]);
        assert!(out.contains("NOTE\nThis file was produced by a model.\n\n00:00:00.000 --> "));
    }

    #[test]
    fn vtt_missing_trailing_newline() {
        let input = SAMPLE_VTT.trim_end();
        let original = parse_vtt(input.as_bytes()).unwrap();
        let (out, labelled) = vtt(input);
        assert!(out.ends_with("Last."));
        assert_eq!(labelled.cues[1..], original.cues[..]);
    }

    #[test]
    fn vtt_without_cues_gets_a_notice_cue() {
        for input in [
            "WEBVTT",
            "WEBVTT\n",
            "WEBVTT\n\n",
            "WEBVTT\n\nNOTE nothing yet",
            "WEBVTT\r\n\r\n",
        ] {
            let out = label_webvtt(input.as_bytes(), NOTICE).unwrap();
            let parsed = parse_vtt(&out).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(parsed.cues.len(), 1, "{input:?}");
            assert_notice_cue(&parsed.cues[0], 4_000);
            assert!(out.starts_with(input.as_bytes()));
        }
    }

    #[test]
    fn vtt_cue_right_after_header_gets_a_blank_line() {
        // Non-conforming but accepted by the WebVTT parser: no blank line
        // between the signature and the first cue.
        let input = "WEBVTT\n00:00:05.000 --> 00:00:06.000\nHi\n";
        let (out, labelled) = vtt(input);
        assert_eq!(
            out,
            format!(
                "WEBVTT\n\n00:00:00.000 --> 00:00:05.000\n{NOTICE}\n\n00:00:05.000 --> 00:00:06.000\nHi\n"
            )
        );
        assert_eq!(labelled.cues[1].payload, ["Hi"]);
    }

    #[test]
    fn vtt_without_signature_is_rejected() {
        for input in [
            "",
            "00:00:01.000 --> 00:00:02.000\nHi\n",
            "WEBVTTX\n\n00:00:01.000 --> 00:00:02.000\nHi\n",
            "webvtt\n",
            " WEBVTT\n",
            "1\n00:00:01,000 --> 00:00:02,000\nHi\n",
        ] {
            assert_eq!(label_webvtt(input.as_bytes(), NOTICE), None, "{input:?}");
        }
    }

    #[test]
    fn vtt_notice_cannot_break_the_cue() {
        let evil = "Line one\n\n00:00:00.000 --> 00:09:00.000\n<b>AI</b> & co -->\r\nend";
        let out = label_webvtt(SAMPLE_VTT.as_bytes(), evil).unwrap();
        let parsed = parse_vtt(&out).unwrap();
        assert_eq!(parsed.cues.len(), 4);
        assert_eq!(
            parsed.cues[0].payload,
            ["Line one 00:00:00.000 --&gt; 00:09:00.000 &lt;b&gt;AI&lt;/b&gt; &amp; co --&gt; end"]
        );
    }

    #[test]
    fn vtt_empty_notice_uses_default_text() {
        let out = label_webvtt(b"WEBVTT\n", " \n ").unwrap();
        let parsed = parse_vtt(&out).unwrap();
        assert_eq!(parsed.cues[0].payload, [DEFAULT_CAPTION_NOTICE]);
    }

    #[test]
    fn vtt_arbitrary_bytes_do_not_panic() {
        let inputs: [&[u8]; 6] = [
            b"WEBVTT\n\n-->\n-->\n\n-->",
            b"WEBVTT\r\r\r-->\r\n",
            b"WEBVTT \xff\xfe\n\n99999999999999999999:00:00.000 --> x\n",
            b"WEBVTT\n\nid\n00:00:00.000 --> 00:00:01.000\n00:00:01.000 --> 00:00:02.000\n",
            b"\xEF\xBB\xBFWEBVTT",
            b"WEBVTT\n\n\xEF\xBB\n",
        ];
        for input in inputs {
            let out = label_webvtt(input, NOTICE).unwrap();
            assert!(out.len() > input.len());
        }
    }

    // --------------------------------------------------------------------- SRT

    const SAMPLE_SRT: &str = "1\n\
        00:00:01,000 --> 00:00:04,000\n\
        Hello <i>there</i>.\n\
        Second line.\n\
        \n\
        2\n\
        00:00:04,500 --> 00:00:07,250\n\
        Next.\n\
        \n\
        3\n\
        01:02:03,004 --> 01:02:05,000\n\
        Last.\n";

    fn srt(input: &str) -> (String, Vec<SrtCue>) {
        let out = label_srt(input.as_bytes(), NOTICE).expect("labelled");
        let parsed = parse_srt_strict(&out)
            .unwrap_or_else(|e| panic!("invalid output ({e}):\n{}", String::from_utf8_lossy(&out)));
        (String::from_utf8(out).unwrap(), parsed)
    }

    /// Asserts cue 1 is the notice and cues 2.. are `original` renumbered.
    fn assert_srt_labelled(labelled: &[SrtCue], original: &[SrtCue], notice_end: u64) {
        assert_eq!(labelled.len(), original.len() + 1);
        assert_eq!(labelled[0].index, 1);
        assert_eq!(labelled[0].start, 0);
        assert_eq!(labelled[0].end, notice_end);
        assert_eq!(labelled[0].text, [NOTICE]);
        for (n, (new, old)) in labelled[1..].iter().zip(original).enumerate() {
            assert_eq!(new.index, n + 2);
            assert_eq!(new.timing_line, old.timing_line);
            assert_eq!((new.start, new.end), (old.start, old.end));
            assert_eq!(new.text, old.text);
        }
    }

    #[test]
    fn srt_notice_is_cue_one_and_originals_are_renumbered() {
        let original = parse_srt_strict(SAMPLE_SRT.as_bytes()).unwrap();
        let (out, labelled) = srt(SAMPLE_SRT);
        assert_srt_labelled(&labelled, &original, 4_000);
        assert!(out.starts_with(&format!(
            "1\n00:00:00,000 --> 00:00:04,000\n{NOTICE}\n\n2\n00:00:01,000 --> "
        )));
    }

    #[test]
    fn srt_notice_ends_before_a_late_first_cue() {
        let input = "1\n00:00:02,500 --> 00:00:03,000\nA\n\n2\n00:00:09,000 --> 00:00:10,000\nB\n";
        let (_, labelled) = srt(input);
        assert_srt_labelled(
            &labelled,
            &parse_srt_strict(input.as_bytes()).unwrap(),
            2_500,
        );
    }

    #[test]
    fn srt_out_of_sequence_indices_are_renumbered() {
        let input = "7\n00:00:10,000 --> 00:00:11,000\nA\n\n3\n00:00:12,000 --> 00:00:13,000\nB\n\n\n\n42\n00:00:14,000 --> 00:00:15,000\nC\n";
        let (_, labelled) = srt(input);
        let texts: Vec<_> = labelled
            .iter()
            .map(|c| (c.index, c.text[0].as_str()))
            .collect();
        assert_eq!(texts, [(1, NOTICE), (2, "A"), (3, "B"), (4, "C")]);
        assert_eq!(labelled[0].end, 5_000);
    }

    #[test]
    fn srt_crlf_stays_crlf() {
        let input = SAMPLE_SRT.replace('\n', "\r\n");
        let original = parse_srt_strict(input.as_bytes()).unwrap();
        let (out, labelled) = srt(&input);
        assert_line_endings(out.as_bytes(), "\r\n");
        assert_srt_labelled(&labelled, &original, 4_000);
    }

    #[test]
    fn srt_missing_trailing_newline() {
        let input = SAMPLE_SRT.trim_end();
        let original = parse_srt_strict(input.as_bytes()).unwrap();
        let (out, labelled) = srt(input);
        assert_srt_labelled(&labelled, &original, 4_000);
        assert!(out.ends_with("Last.\n\n"));
    }

    #[test]
    fn srt_bom_is_kept() {
        let input = format!("\u{feff}{SAMPLE_SRT}");
        let (out, labelled) = srt(&input);
        assert!(out.starts_with("\u{feff}1\n00:00:00,000 --> "));
        assert_eq!(labelled.len(), 4);
    }

    #[test]
    fn srt_tolerates_common_sloppiness() {
        // Leading blank lines, whitespace-only separators, trailing spaces,
        // a missing blank line between cues and a missing index.
        let input = "\n\n1  \n00:00:05,000 --> 00:00:06,000  \nA\n \n2\n00:00:07,000 --> 00:00:08,000\nB\n3\n00:00:09,000 --> 00:00:10,000\nC\n\n00:00:11,000 --> 00:00:12,000\nD\n";
        let (_, labelled) = srt(input);
        let texts: Vec<_> = labelled
            .iter()
            .map(|c| (c.index, c.text[0].as_str()))
            .collect();
        assert_eq!(texts, [(1, NOTICE), (2, "A"), (3, "B"), (4, "C"), (5, "D")]);
        assert_eq!(labelled[1].timing_line, "00:00:05,000 --> 00:00:06,000");
    }

    #[test]
    fn srt_keeps_non_standard_timing_lines_verbatim() {
        let input = "1\n00:00:05.000 --> 00:00:06.000 X1:10 X2:20 Y1:30 Y2:40\nA\n";
        let out = String::from_utf8(label_srt(input.as_bytes(), NOTICE).unwrap()).unwrap();
        assert!(
            out.ends_with("\n\n2\n00:00:05.000 --> 00:00:06.000 X1:10 X2:20 Y1:30 Y2:40\nA\n\n")
        );
    }

    #[test]
    fn srt_garbage_is_rejected() {
        for input in [
            "hello world",
            "{\"a\":1}",
            "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nHi\n",
            "1\nHi\n",
            "1\n00:00:01,000 -> 00:00:02,000\nHi\n",
            "1\n00:00:01,000 --> 00:00:02\nHi\n",
            "1\n00:61:01,000 --> 00:62:02,000\nHi\n",
            "1\n00:00:01,000 --> 00:00:02,000\nHi\n\nnot a cue\n",
            "1\n",
        ] {
            assert_eq!(label_srt(input.as_bytes(), NOTICE), None, "{input:?}");
        }
    }

    #[test]
    fn srt_empty_body_gets_only_the_notice() {
        for input in ["", "\n\n", "\r\n"] {
            let (_, labelled) = srt(input);
            assert_srt_labelled(&labelled, &[], 4_000);
        }
    }

    #[test]
    fn srt_notice_is_a_single_safe_line() {
        let evil = "A\n\n2\n00:00:00,000 --> 00:09:00,000\r\nB";
        let out = label_srt(SAMPLE_SRT.as_bytes(), evil).unwrap();
        let labelled = parse_srt_strict(&out).unwrap();
        assert_eq!(labelled.len(), 4);
        assert_eq!(labelled[0].text, ["A 2 00:00:00,000 -> 00:09:00,000 B"]);
    }

    #[test]
    fn srt_arbitrary_bytes_do_not_panic() {
        let inputs: [&[u8]; 5] = [
            b"1\n99999999999:00:00,000 --> 1:00:00,000\nA\n",
            b"1\n-->\n",
            b"\xff\xfe\x00",
            b"1\r\r\r00:00:01,000 --> 00:00:02,000\r\xff\r",
            b"\xEF\xBB\xBF",
        ];
        for input in inputs {
            let _ = label_srt(input, NOTICE);
        }
        let out = label_srt(b"1\r00:00:01,000 --> 00:00:02,000\r\xff\r", NOTICE).unwrap();
        assert!(out.ends_with(b"2\r00:00:01,000 --> 00:00:02,000\r\xff\r\r"));
    }

    #[test]
    fn timestamps_parse_and_format() {
        assert_eq!(vtt_cue_start(b"01:02.003 --> 01:03.000"), Some(62_003));
        assert_eq!(vtt_cue_start(b"100:00:00.000 --> x"), Some(360_000_000));
        assert_eq!(vtt_cue_start(b"1:60.000 --> x"), None);
        assert_eq!(
            srt_timing(b"1:00:00,001 --> 1:00:01,000"),
            Some((3_600_001, 3_601_000))
        );
        assert_eq!(format_timestamp(3_723_004, b','), "01:02:03,004");
        assert_eq!(format_timestamp(4_000, b'.'), "00:00:04.000");
    }
}
