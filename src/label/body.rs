//! Choosing how a response body is labelled from its `Content-Type`, and
//! dispatching to the format-specific labellers.

use http::HeaderValue;

use crate::media::MediaType;

use super::captions::{label_srt, label_webvtt};
use super::header::Disclosure;
use super::json::label_json;

/// The UTF-8 byte order mark.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// How a response body is labelled, from its Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLabel {
    /// A JSON document: objects get a top-level `ai_disclosure` member.
    Json,
    /// WebVTT captions: a visible notice cue is inserted first.
    WebVtt,
    /// SubRip captions: a visible notice cue is inserted first and cues are
    /// renumbered.
    Srt,
    /// A server-sent event stream: a leading comment
    /// ([`sse_preamble`](super::sse_preamble)) is sent before the upstream
    /// bytes, which are passed through unbuffered and unchanged.
    EventStream,
    /// Any other (or no) content type: only the `AI-Disclosure` header is
    /// added.
    HeaderOnly,
}

impl BodyLabel {
    /// `application/json` and `application/*+json` -> `Json`; `text/vtt` ->
    /// `WebVtt`; `application/x-subrip`, `text/srt`, `application/srt`,
    /// `text/x-srt` -> `Srt`; `text/event-stream` -> `EventStream`; anything
    /// else or absent -> `HeaderOnly`. Case-insensitive, parameters ignored.
    pub fn from_content_type(ct: Option<&HeaderValue>) -> BodyLabel {
        let Some(media) = ct.and_then(|v| MediaType::parse(v.as_bytes())) else {
            return BodyLabel::HeaderOnly;
        };
        match media.essence() {
            "text/vtt" => BodyLabel::WebVtt,
            "application/x-subrip" | "text/srt" | "application/srt" | "text/x-srt" => {
                BodyLabel::Srt
            }
            "text/event-stream" => BodyLabel::EventStream,
            _ if media.is_json() => BodyLabel::Json,
            _ => BodyLabel::HeaderOnly,
        }
    }

    /// true when the whole body must be buffered to label it (Json, WebVtt, Srt).
    pub fn needs_buffering(self) -> bool {
        matches!(self, BodyLabel::Json | BodyLabel::WebVtt | BodyLabel::Srt)
    }
}

/// Convenience: dispatch on [`BodyLabel`] for the buffered kinds (None = leave
/// unchanged).
///
/// `Json` uses [`label_json`] with `d`; `WebVtt` and `Srt` use
/// [`label_webvtt`] / [`label_srt`] with `caption_notice` (captions always
/// show a notice); `EventStream` and `HeaderOnly` always return `None`.
pub fn label_body(
    kind: BodyLabel,
    body: &[u8],
    d: &Disclosure<'_>,
    caption_notice: &str,
) -> Option<Vec<u8>> {
    match kind {
        BodyLabel::Json => label_json(body, d),
        BodyLabel::WebVtt => label_webvtt(body, caption_notice),
        BodyLabel::Srt => label_srt(body, caption_notice),
        BodyLabel::EventStream | BodyLabel::HeaderOnly => None,
    }
}

/// Splits a leading UTF-8 byte order mark off `body`: `(bom, rest)`, where
/// `bom` is empty when there is none.
pub(super) fn split_bom(body: &[u8]) -> (&[u8], &[u8]) {
    match body.strip_prefix(UTF8_BOM) {
        Some(rest) => (UTF8_BOM, rest),
        None => (&[], body),
    }
}

/// Makes `text` safe to embed in a single line: every control character
/// (including CR, LF, TAB, NEL) and the Unicode line / paragraph separators
/// become spaces, runs of whitespace collapse to one space, and the ends are
/// trimmed.
pub(super) fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text
        .split(|c: char| c.is_control() || c.is_whitespace())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {

    use super::*;

    fn kind(ct: &str) -> BodyLabel {
        BodyLabel::from_content_type(Some(&HeaderValue::from_str(ct).unwrap()))
    }

    #[test]
    fn content_types_map_to_labels() {
        let cases = [
            ("application/json", BodyLabel::Json),
            ("application/json; charset=utf-8", BodyLabel::Json),
            ("Application/JSON ;charset=UTF-8", BodyLabel::Json),
            ("application/problem+json", BodyLabel::Json),
            ("application/vnd.api+json; ext=x", BodyLabel::Json),
            ("text/vtt", BodyLabel::WebVtt),
            ("TEXT/VTT; charset=utf-8", BodyLabel::WebVtt),
            ("application/x-subrip", BodyLabel::Srt),
            ("text/srt", BodyLabel::Srt),
            ("application/srt", BodyLabel::Srt),
            ("text/x-srt; charset=utf-8", BodyLabel::Srt),
            ("text/event-stream", BodyLabel::EventStream),
            ("Text/Event-Stream; charset=utf-8", BodyLabel::EventStream),
            ("text/plain", BodyLabel::HeaderOnly),
            ("application/x-ndjson", BodyLabel::HeaderOnly),
            ("application/jsonl", BodyLabel::HeaderOnly),
            ("application/+json", BodyLabel::HeaderOnly),
            ("text/json+json", BodyLabel::HeaderOnly),
            ("image/png", BodyLabel::HeaderOnly),
            ("", BodyLabel::HeaderOnly),
            ("garbage", BodyLabel::HeaderOnly),
        ];
        for (ct, expected) in cases {
            assert_eq!(kind(ct), expected, "{ct}");
        }
        assert_eq!(BodyLabel::from_content_type(None), BodyLabel::HeaderOnly);
        let opaque = HeaderValue::from_bytes(b"application/json\xff").unwrap();
        assert_eq!(
            BodyLabel::from_content_type(Some(&opaque)),
            BodyLabel::HeaderOnly
        );
    }

    #[test]
    fn only_rewritten_kinds_need_buffering() {
        assert!(BodyLabel::Json.needs_buffering());
        assert!(BodyLabel::WebVtt.needs_buffering());
        assert!(BodyLabel::Srt.needs_buffering());
        assert!(!BodyLabel::EventStream.needs_buffering());
        assert!(!BodyLabel::HeaderOnly.needs_buffering());
    }

    #[test]
    fn label_body_dispatches_on_kind() {
        let d = Disclosure::new("dec-9", 1);
        let json = label_body(BodyLabel::Json, br#"{"a":1}"#, &d, "n").unwrap();
        assert!(json.starts_with(br#"{"a":1,"ai_disclosure":{"#));

        let vtt = label_body(BodyLabel::WebVtt, b"WEBVTT\n", &d, "caption notice").unwrap();
        assert!(String::from_utf8(vtt).unwrap().contains("caption notice"));

        let srt = b"1\n00:00:05,000 --> 00:00:06,000\nhi\n";
        let out = label_body(BodyLabel::Srt, srt, &d, "caption notice").unwrap();
        assert!(String::from_utf8(out).unwrap().contains("caption notice"));

        for kind in [BodyLabel::EventStream, BodyLabel::HeaderOnly] {
            assert_eq!(label_body(kind, br#"{"a":1}"#, &d, "n"), None);
        }
        // A body that does not match its declared kind is left alone.
        assert_eq!(label_body(BodyLabel::WebVtt, br#"{"a":1}"#, &d, "n"), None);
        assert_eq!(label_body(BodyLabel::Json, b"WEBVTT\n", &d, "n"), None);
    }

    /// Upstream bodies are untrusted: random mixes of format fragments must
    /// never panic, and any labelled caption must contain the notice.
    #[test]
    fn random_bodies_never_panic() {
        const PIECES: [&[u8]; 24] = [
            b"WEBVTT",
            b"\xEF\xBB\xBF",
            b"\n",
            b"\r\n",
            b"\r",
            b" ",
            b"-->",
            b"00:00:01.000",
            b"00:00:01,000",
            b"99999999999:00:00,000",
            b"1",
            b"NOTE",
            b"STYLE",
            b"{",
            b"}",
            b"\"ai_disclosure\"",
            b":",
            b",",
            b"[",
            b"\xff",
            b"\xc3\xa9",
            b"\"a\"",
            b"\0",
            b"data: x",
        ];
        let d = Disclosure::new("dec", 0);
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..3_000 {
            let mut body = Vec::new();
            for _ in 0..next() % 24 {
                body.extend_from_slice(PIECES[(next() % 24) as usize]);
            }
            for kind in [BodyLabel::Json, BodyLabel::WebVtt, BodyLabel::Srt] {
                if let Some(out) = label_body(kind, &body, &d, "NOTICE-TEXT")
                    && kind != BodyLabel::Json
                {
                    let found = out.windows(11).any(|w| w == b"NOTICE-TEXT");
                    assert!(found, "{kind:?} {body:?}");
                }
            }
            let _ = crate::label::sse_preamble(&String::from_utf8_lossy(&body));
        }
    }

    #[test]
    fn one_line_removes_every_line_break() {
        assert_eq!(
            one_line("  a\r\nb\rc\nd\u{85}e\u{2028}f\u{2029}g\tz\u{0}  "),
            "a b c d e f g z"
        );
        assert_eq!(one_line("\n\r\t "), "");
    }

    #[test]
    fn split_bom_only_strips_a_leading_bom() {
        assert_eq!(split_bom(b"\xEF\xBB\xBFx"), (UTF8_BOM, &b"x"[..]));
        assert_eq!(
            split_bom(b"x\xEF\xBB\xBF"),
            (&b""[..], &b"x\xEF\xBB\xBF"[..])
        );
    }
}
