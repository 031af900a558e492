//! Text scanning for content rules: normalisation, request-body text
//! extraction and phrase/regex matching.
//!
//! The flow for one request:
//!
//! 1. [`BodyFormat::from_content_type`] decides how to read the body;
//! 2. [`extract_text`] turns it into a [`ScanText`]: every JSON string value
//!    (or the whole text body) [`normalize`]d into its own `'\n'`-separated
//!    segment;
//! 3. a [`Scanner`], compiled once per policy from [`RuleSpec`]s, reports the
//!    indices of all matching rules as [`RuleMatches`].
//!
//! Normalisation (NFKC, full case folding, removal of invisible characters,
//! white-space collapsing) is applied to both the text and the policy
//! phrases, so `ＩＧＮＯＲＥ`, `𝐢𝐠𝐧𝐨𝐫𝐞` and `ig\u{200B}nore` all match the
//! phrase `ignore`. Regex patterns are written against normalised text.
//!
//! Nothing in this module panics on untrusted input.

mod extract;
mod matcher;
mod normalize;

pub use extract::{BodyFormat, ExtractError, ScanText, extract_text};
pub use matcher::{RuleMatches, RuleMatchesIter, RuleSpec, ScanBuildError, Scanner};
pub use normalize::{is_ignorable, normalize, normalize_into};
