//! Media types: the one reading of a `Content-Type` header, on the `mime` crate, shared by the
//! request side (how a body is scanned, [`crate::scan`]) and the response side (how a body is
//! labelled, [`crate::label`]).
//!
//! A header that does not parse as a media type (`garbage`, `application/`, a value that is not
//! visible ASCII) is treated as absent: callers then decide from the body itself (requests) or
//! label by header only (responses).

use mime::Mime;

/// A parsed `Content-Type`: type, subtype, structured-syntax suffix and parameters, compared
/// case-insensitively (`mime` lower-cases type and subtype).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MediaType(Mime);

impl MediaType {
    /// Parse a header value; `None` for anything that is not a media type.
    pub(crate) fn parse(value: &[u8]) -> Option<MediaType> {
        let text = std::str::from_utf8(value).ok()?.trim();
        // RFC 9110 allows white space before `;` (`application/json ;charset=utf-8`); `mime`
        // does not: drop it (outside quoted strings).
        let mut tidy = String::with_capacity(text.len());
        let mut quoted = false;
        let mut escaped = false;
        for c in text.chars() {
            if quoted {
                quoted = escaped || c != '"';
                escaped = !escaped && c == '\\';
            } else if c == '"' {
                quoted = true;
            } else if c == ';' {
                tidy.truncate(tidy.trim_end().len());
            }
            tidy.push(c);
        }
        let mime: Mime = tidy.parse().ok()?;
        // `mime` accepts an empty subtype name before a suffix (`application/+json`); a media
        // type needs a name.
        let name = mime.subtype().as_str();
        if name.is_empty() || name.starts_with('+') {
            return None;
        }
        Some(MediaType(mime))
    }

    /// `type/subtype`, lower case, without parameters.
    pub(crate) fn essence(&self) -> &str {
        self.0.essence_str()
    }

    /// `application/json` or an `application/*+json` structured type.
    pub(crate) fn is_json(&self) -> bool {
        self.0.type_() == mime::APPLICATION
            && (self.0.subtype() == mime::JSON || self.0.suffix() == Some(mime::JSON))
    }

    /// A `text/*` type.
    pub(crate) fn is_text(&self) -> bool {
        self.0.type_() == mime::TEXT
    }

    /// `application/x-www-form-urlencoded`.
    pub(crate) fn is_form_urlencoded(&self) -> bool {
        self.0.type_() == mime::APPLICATION && self.0.subtype() == mime::WWW_FORM_URLENCODED
    }

    /// The `boundary` of a `multipart/*` type.
    pub(crate) fn multipart_boundary(&self) -> Option<&str> {
        if self.0.type_() != mime::MULTIPART {
            return None;
        }
        self.0
            .get_param(mime::BOUNDARY)
            .map(|b| b.as_str())
            .filter(|b| !b.is_empty())
    }

    /// The `charset` parameter, when there is one.
    pub(crate) fn charset(&self) -> Option<&str> {
        self.0.get_param(mime::CHARSET).map(|c| c.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Option<MediaType> {
        MediaType::parse(s.as_bytes())
    }

    #[test]
    fn json_types_with_parameters_and_any_case() {
        for ct in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/vnd.api+json",
            "application/merge-patch+JSON ; q=1",
            "application/problem+json",
        ] {
            assert!(parse(ct).is_some_and(|m| m.is_json()), "{ct}");
        }
        for ct in [
            "text/json+json",
            "application/jsonl",
            "application/x-ndjson",
        ] {
            assert!(!parse(ct).is_some_and(|m| m.is_json()), "{ct}");
        }
    }

    #[test]
    fn malformed_values_are_not_media_types() {
        for ct in ["", "garbage", "application/", "/json", "application/+json"] {
            assert_eq!(parse(ct), None, "{ct:?}");
        }
        assert_eq!(MediaType::parse(b"application/json\xff"), None);
    }

    #[test]
    fn multipart_boundary_and_charset() {
        let m = parse("multipart/form-data; boundary=\"a b\"").unwrap_or_else(|| unreachable!());
        assert_eq!(m.multipart_boundary(), Some("a b"));
        assert_eq!(
            parse("multipart/form-data").and_then(|m| m.multipart_boundary().map(str::to_owned)),
            None
        );
        let t = parse("text/plain; charset=ISO-8859-1").unwrap_or_else(|| unreachable!());
        assert!(t.is_text());
        assert_eq!(t.charset(), Some("iso-8859-1"));
        assert!(parse("application/x-www-form-urlencoded").is_some_and(|m| m.is_form_urlencoded()));
        assert_eq!(
            parse("Text/VTT").map(|m| m.essence().to_owned()).as_deref(),
            Some("text/vtt")
        );
    }
}
