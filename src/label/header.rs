//! The `AI-Disclosure` response header and the [`Disclosure`] description
//! shared by every labelling format.
//!
//! The header is an RFC 9651 Structured Field *Dictionary*:
//!
//! ```text
//! AI-Disclosure: mode=machine-generated, provider="openai", model="gpt-4o", date=@1767225600
//! ```
//!
//! * `mode` is an sf-token (falls back to `machine-generated` when the
//!   configured value is not a valid token);
//! * `provider` / `model` are sf-strings, omitted when unknown or when
//!   nothing printable is left after sanitising;
//! * `date` is an RFC 9651 Date (`@` followed by integer Unix seconds).

use http::{HeaderName, HeaderValue};

/// Name of the response header carrying the disclosure (`ai-disclosure`).
pub const AI_DISCLOSURE: HeaderName = HeaderName::from_static("ai-disclosure");

/// IPTC digital source type for content created by a trained model.
pub const DIGITAL_SOURCE_TYPE_TRAINED: &str =
    "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia";

/// The default disclosure mode, and the fallback used whenever a configured
/// mode is not a valid RFC 9651 token.
pub const MODE_MACHINE_GENERATED: &str = "machine-generated";

/// Longest `provider` / `model` sf-string written into the header, counted in
/// characters after sanitising; longer values are truncated.
pub const MAX_HEADER_STRING_LEN: usize = 256;

/// Longest `mode` token accepted; longer values fall back to
/// [`MODE_MACHINE_GENERATED`].
const MAX_MODE_LEN: usize = 64;

/// Largest magnitude of an RFC 9651 Integer (and therefore of a Date).
const SF_INTEGER_MAX: i64 = 999_999_999_999_999;

/// What to write into a label.
///
/// All string fields are untrusted as far as the labelling functions are
/// concerned: every writer sanitises or escapes them for its format.
#[derive(Debug, Clone)]
pub struct Disclosure<'a> {
    /// Disclosure mode, normally [`MODE_MACHINE_GENERATED`]. Must be an
    /// RFC 9651 token; otherwise [`MODE_MACHINE_GENERATED`] is written.
    pub mode: &'a str,
    /// Upstream AI provider, when known.
    pub provider: Option<&'a str>,
    /// Upstream model name, when known.
    pub model: Option<&'a str>,
    /// Generation time as Unix seconds.
    pub date_unix: i64,
    /// `Some(..)` when the human-review notice obligation applies; the text is
    /// then included in JSON labels. `None` omits the notice.
    pub notice: Option<&'a str>,
    /// IPTC digital source type URI, normally [`DIGITAL_SOURCE_TYPE_TRAINED`].
    pub digital_source_type: &'a str,
    /// Identifier of the policy decision that allowed the response.
    pub decision_id: &'a str,
}

impl<'a> Disclosure<'a> {
    /// A disclosure with mode [`MODE_MACHINE_GENERATED`], digital source type
    /// [`DIGITAL_SOURCE_TYPE_TRAINED`], no provider, model or notice.
    pub fn new(decision_id: &'a str, date_unix: i64) -> Self {
        Disclosure {
            mode: MODE_MACHINE_GENERATED,
            provider: None,
            model: None,
            date_unix,
            notice: None,
            digital_source_type: DIGITAL_SOURCE_TYPE_TRAINED,
            decision_id,
        }
    }

    /// The mode actually written into labels: [`Disclosure::mode`] when it is
    /// a valid RFC 9651 token (of at most 64 characters), otherwise
    /// [`MODE_MACHINE_GENERATED`].
    pub fn effective_mode(&self) -> &'a str {
        if is_sf_token(self.mode) {
            self.mode
        } else {
            MODE_MACHINE_GENERATED
        }
    }
}

/// Builds the `AI-Disclosure` header value.
///
/// Never fails: `mode` falls back to [`MODE_MACHINE_GENERATED`] when it is not
/// a valid sf-token; in `provider` / `model`, `"` and `\` are escaped, tabs
/// and line breaks become spaces, other control and all non-ASCII characters
/// are dropped, surrounding spaces are trimmed, the result is truncated to
/// [`MAX_HEADER_STRING_LEN`] characters, and the member is omitted when
/// nothing is left. `date` is clamped to the RFC 9651 Integer range
/// (±999,999,999,999,999).
pub fn disclosure_header(d: &Disclosure<'_>) -> HeaderValue {
    let mut value = String::with_capacity(64);
    value.push_str("mode=");
    value.push_str(d.effective_mode());
    if let Some(provider) = d.provider.and_then(sf_string) {
        value.push_str(", provider=");
        value.push_str(&provider);
    }
    if let Some(model) = d.model.and_then(sf_string) {
        value.push_str(", model=");
        value.push_str(&model);
    }
    value.push_str(", date=@");
    value.push_str(
        &d.date_unix
            .clamp(-SF_INTEGER_MAX, SF_INTEGER_MAX)
            .to_string(),
    );
    // Everything written above is visible ASCII or SP, so this cannot fail;
    // the fallback only keeps the function total.
    HeaderValue::from_str(&value)
        .unwrap_or_else(|_| HeaderValue::from_static("mode=machine-generated"))
}

/// RFC 9651 `sf-token`: `( ALPHA / "*" ) *( tchar / ":" / "/" )`.
fn is_sf_token(s: &str) -> bool {
    let mut bytes = s.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'*');
    first_ok && s.len() <= MAX_MODE_LEN && bytes.all(|b| is_tchar(b) || b == b':' || b == b'/')
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// Serialises `raw` as an RFC 9651 `sf-string` (quotes included), or `None`
/// when nothing printable remains.
fn sf_string(raw: &str) -> Option<String> {
    let printable: String = raw
        .chars()
        .filter_map(|c| match c {
            '\t' | '\n' | '\r' => Some(' '),
            ' '..='~' => Some(c),
            _ => None,
        })
        .collect();
    let trimmed = printable.trim_matches(' ');
    if trimmed.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(trimmed.len() + 2);
    out.push('"');
    for c in trimmed.chars().take(MAX_HEADER_STRING_LEN) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Some(out)
}

#[cfg(test)]
mod tests {

    use super::*;
    use sfv::{BareItem, Dictionary, ListEntry, Parser};

    fn parse(v: &HeaderValue) -> Dictionary {
        Parser::new(v.as_bytes())
            .parse::<Dictionary>()
            .unwrap_or_else(|e| panic!("{v:?} is not an RFC 9651 dictionary: {e}"))
    }

    fn bare<'d>(dict: &'d Dictionary, key: &str) -> Option<&'d BareItem> {
        match dict.get(key)? {
            ListEntry::Item(item) => {
                assert!(item.params.is_empty(), "{key} has unexpected parameters");
                Some(&item.bare_item)
            }
            ListEntry::InnerList(_) => panic!("{key} is an inner list"),
        }
    }

    fn token(dict: &Dictionary, key: &str) -> String {
        match bare(dict, key) {
            Some(BareItem::Token(t)) => t.as_str().to_owned(),
            other => panic!("{key} is not a token: {other:?}"),
        }
    }

    fn string(dict: &Dictionary, key: &str) -> Option<String> {
        match bare(dict, key)? {
            BareItem::String(s) => Some(s.as_str().to_owned()),
            other => panic!("{key} is not a string: {other:?}"),
        }
    }

    fn date(dict: &Dictionary, key: &str) -> i64 {
        match bare(dict, key) {
            Some(BareItem::Date(d)) => i64::from(d.unix_seconds()),
            other => panic!("{key} is not a date: {other:?}"),
        }
    }

    fn keys(dict: &Dictionary) -> Vec<&str> {
        dict.keys().map(|k| k.as_str()).collect()
    }

    fn full() -> Disclosure<'static> {
        Disclosure {
            provider: Some("openai"),
            model: Some("gpt-4o-2024-08-06"),
            ..Disclosure::new("dec-1", 1_767_225_600)
        }
    }

    #[test]
    fn header_name_is_lowercase_ai_disclosure() {
        assert_eq!(AI_DISCLOSURE.as_str(), "ai-disclosure");
    }

    #[test]
    fn full_header_has_typed_members_in_order() {
        let v = disclosure_header(&full());
        assert_eq!(
            v.to_str().unwrap(),
            r#"mode=machine-generated, provider="openai", model="gpt-4o-2024-08-06", date=@1767225600"#
        );
        let dict = parse(&v);
        assert_eq!(keys(&dict), ["mode", "provider", "model", "date"]);
        assert_eq!(token(&dict, "mode"), "machine-generated");
        assert_eq!(string(&dict, "provider").as_deref(), Some("openai"));
        assert_eq!(string(&dict, "model").as_deref(), Some("gpt-4o-2024-08-06"));
        assert_eq!(date(&dict, "date"), 1_767_225_600);
    }

    #[test]
    fn unknown_provider_and_model_are_omitted() {
        let v = disclosure_header(&Disclosure::new("dec-1", 0));
        let dict = parse(&v);
        assert_eq!(keys(&dict), ["mode", "date"]);
        assert_eq!(token(&dict, "mode"), "machine-generated");
        assert_eq!(date(&dict, "date"), 0);
    }

    #[test]
    fn quotes_and_backslashes_round_trip() {
        let d = Disclosure {
            provider: Some(r#"acme "labs" \ co"#),
            model: Some(r"C:\models\m1"),
            ..full()
        };
        let dict = parse(&disclosure_header(&d));
        assert_eq!(
            string(&dict, "provider").as_deref(),
            Some(r#"acme "labs" \ co"#)
        );
        assert_eq!(string(&dict, "model").as_deref(), Some(r"C:\models\m1"));
    }

    #[test]
    fn non_ascii_and_control_characters_are_stripped() {
        let d = Disclosure {
            provider: Some("Mistral\u{e9} AI\u{1F916}"),
            model: Some("line1\r\nline2\u{0}\u{7f}x"),
            ..full()
        };
        let v = disclosure_header(&d);
        let dict = parse(&v);
        assert_eq!(string(&dict, "provider").as_deref(), Some("Mistral AI"));
        assert_eq!(string(&dict, "model").as_deref(), Some("line1  line2x"));
        assert!(v.as_bytes().iter().all(|b| (0x20..0x7f).contains(b)));
    }

    #[test]
    fn values_with_nothing_printable_are_omitted() {
        let d = Disclosure {
            provider: Some("\u{65e5}\u{672c}"),
            model: Some("  "),
            ..full()
        };
        let dict = parse(&disclosure_header(&d));
        assert_eq!(keys(&dict), ["mode", "date"]);
    }

    #[test]
    fn long_strings_are_truncated() {
        let long = "\"".repeat(1000);
        let d = Disclosure {
            model: Some(&long),
            ..full()
        };
        let dict = parse(&disclosure_header(&d));
        assert_eq!(string(&dict, "model").unwrap().len(), MAX_HEADER_STRING_LEN);
    }

    #[test]
    fn custom_token_mode_is_kept() {
        let d = Disclosure {
            mode: "ai-assisted",
            ..full()
        };
        assert_eq!(token(&parse(&disclosure_header(&d)), "mode"), "ai-assisted");
    }

    #[test]
    fn invalid_mode_falls_back_to_machine_generated() {
        for mode in [
            "",
            "machine generated",
            "1st",
            "\"quoted\"",
            "m\u{e9}",
            "a,b=c",
        ] {
            let d = Disclosure { mode, ..full() };
            assert_eq!(d.effective_mode(), MODE_MACHINE_GENERATED, "{mode:?}");
            let dict = parse(&disclosure_header(&d));
            assert_eq!(token(&dict, "mode"), "machine-generated", "{mode:?}");
            assert_eq!(keys(&dict), ["mode", "provider", "model", "date"]);
        }
    }

    #[test]
    fn negative_and_out_of_range_dates_stay_valid() {
        for (input, expected) in [
            (-1, -1),
            (i64::MAX, SF_INTEGER_MAX),
            (i64::MIN, -SF_INTEGER_MAX),
        ] {
            let d = Disclosure {
                date_unix: input,
                ..full()
            };
            assert_eq!(date(&parse(&disclosure_header(&d)), "date"), expected);
        }
    }
}
