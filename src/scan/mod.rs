//! TEMPORARY placeholder with the agreed API; replaced by the real module.
#![allow(missing_docs, unreachable_pub)]
use std::fmt;
#[derive(Debug, Default, Clone)]
pub struct ScanText {
    text: String,
    model: Option<String>,
}
impl ScanText {
    pub fn as_str(&self) -> &str {
        &self.text
    }
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }
    pub fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }
    pub fn from_normalized(s: String) -> Self {
        ScanText {
            text: s,
            model: None,
        }
    }
}
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("invalid utf-8")]
    InvalidUtf8 { valid_up_to: usize },
}
pub enum BodyFormat {
    Json,
    Text,
    Opaque,
}
impl BodyFormat {
    pub fn from_content_type(_ct: Option<&str>) -> Self {
        BodyFormat::Text
    }
}
pub fn extract_text(_f: BodyFormat, body: &[u8]) -> Result<ScanText, ExtractError> {
    let s = std::str::from_utf8(body).map_err(|e| ExtractError::InvalidUtf8 {
        valid_up_to: e.valid_up_to(),
    })?;
    Ok(ScanText::from_normalized(s.to_lowercase()))
}
pub fn normalize(s: &str) -> String {
    s.to_lowercase()
}
pub struct RuleSpec<'a> {
    pub phrases: &'a [String],
    pub patterns: &'a [String],
}
#[derive(Debug, thiserror::Error)]
pub enum ScanBuildError {
    #[error("x")]
    InvalidPattern {
        rule: usize,
        pattern: usize,
        reason: String,
    },
    #[error("x")]
    EmptyPhrase { rule: usize, phrase: usize },
    #[error("{0}")]
    Build(String),
}
#[derive(Debug)]
pub struct Scanner {
    rules: Vec<Vec<String>>,
}
impl Scanner {
    pub fn new(rules: &[RuleSpec<'_>]) -> Result<Scanner, ScanBuildError> {
        Ok(Scanner {
            rules: rules
                .iter()
                .map(|r| r.phrases.iter().map(|p| p.to_lowercase()).collect())
                .collect(),
        })
    }
    pub fn scan(&self, text: &str) -> RuleMatches {
        RuleMatches(
            self.rules
                .iter()
                .enumerate()
                .filter(|(_, ps)| ps.iter().any(|p| text.contains(p.as_str())))
                .map(|(i, _)| i)
                .collect(),
        )
    }
}
pub struct RuleMatches(Vec<usize>);
impl RuleMatches {
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().copied()
    }
}
impl fmt::Debug for RuleMatches {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
