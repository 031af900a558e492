//! Labelling server-sent event streams.
//!
//! Event streams are never buffered or rewritten: the caller adds the
//! `AI-Disclosure` header and sends [`sse_preamble`] before the first upstream
//! byte. The preamble is an SSE comment, which `EventSource` clients ignore,
//! followed by a blank line, so the upstream events that follow are parsed
//! exactly as before.
//!
//! An SSE stream may start with a UTF-8 byte order mark, which clients only
//! strip at the very start of the stream; after the preamble it would start the
//! first field name of the first event, and that field would be ignored. The
//! layer's response body drops a leading `EF BB BF` of the upstream stream
//! (`crate::layer::ResponseBody`, tested in the integration suite).

use bytes::Bytes;

use super::body::one_line;
use super::header::MODE_MACHINE_GENERATED;

/// The SSE comment sent before an upstream event stream:
/// `: ai-disclosure: machine-generated; <notice>\n\n` (or
/// `: ai-disclosure: machine-generated\n\n` when `notice` is empty).
///
/// The notice is collapsed onto one line (CR, LF and every other control or
/// line-separator character become spaces), so it cannot end the comment and
/// inject fields or events.
pub fn sse_preamble(notice: &str) -> Bytes {
    let notice = one_line(notice);
    let mut line = String::with_capacity(notice.len() + 40);
    line.push_str(": ai-disclosure: ");
    line.push_str(MODE_MACHINE_GENERATED);
    if !notice.is_empty() {
        line.push_str("; ");
        line.push_str(&notice);
    }
    line.push_str("\n\n");
    Bytes::from(line)
}

#[cfg(test)]
mod tests {

    use super::*;

    /// Splits an SSE stream into lines the way the HTML event-stream parser
    /// does (CRLF, LF or CR), keeping a final empty line.
    fn sse_lines(stream: &str) -> Vec<&str> {
        let mut lines = Vec::new();
        let mut rest = stream;
        while let Some(at) = rest.find(['\r', '\n']) {
            lines.push(&rest[..at]);
            let skip = if rest[at..].starts_with("\r\n") { 2 } else { 1 };
            rest = &rest[at + skip..];
        }
        lines.push(rest);
        lines
    }

    fn assert_comment_only(preamble: &Bytes) {
        let text = std::str::from_utf8(preamble).unwrap();
        assert!(text.ends_with("\n\n"), "{text:?}");
        let lines = sse_lines(text);
        // One comment line, the blank line dispatching nothing, then the
        // (empty) start of whatever follows.
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[0].starts_with(':'), "{lines:?}");
        assert_eq!(&lines[1..], ["", ""]);
    }

    #[test]
    fn preamble_is_a_single_comment_followed_by_a_blank_line() {
        let p = sse_preamble("AI-generated; may require human review.");
        assert_eq!(
            &p[..],
            b": ai-disclosure: machine-generated; AI-generated; may require human review.\n\n"
        );
        assert_comment_only(&p);
    }

    #[test]
    fn empty_notice_gives_the_bare_comment() {
        assert_eq!(
            &sse_preamble("")[..],
            b": ai-disclosure: machine-generated\n\n"
        );
        assert_eq!(
            &sse_preamble(" \r\n ")[..],
            b": ai-disclosure: machine-generated\n\n"
        );
    }

    #[test]
    fn line_breaks_in_the_notice_cannot_inject_events() {
        for evil in [
            "x\ndata: injected\n\n",
            "x\rdata: injected\r\r",
            "x\r\nevent: close\r\ndata: {}\r\n\r\n",
            "\n\nid: 999\n",
            "x\u{85}data: y\u{2028}data: z\u{2029}",
        ] {
            let p = sse_preamble(evil);
            assert_comment_only(&p);
            let text = std::str::from_utf8(&p).unwrap();
            assert_eq!(text.matches(['\r', '\n']).count(), 2, "{text:?}");
        }
    }

    #[test]
    fn upstream_events_after_the_preamble_are_unchanged() {
        let upstream = "data: {\"delta\":\"Hi\"}\n\ndata: [DONE]\n\n";
        let stream = format!(
            "{}{upstream}",
            std::str::from_utf8(&sse_preamble("n")).unwrap()
        );
        assert!(stream.ends_with(upstream));
        let data: Vec<&str> = sse_lines(&stream)
            .into_iter()
            .filter(|l| !l.starts_with(':') && !l.is_empty())
            .collect();
        assert_eq!(data, ["data: {\"delta\":\"Hi\"}", "data: [DONE]"]);
    }
}
