//! Reading a bundle from disk: TOML → JSON → JSON-Schema validation → typed documents.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::model::{Bundle, BundleDoc, ContentDoc, CuesDoc, FeaturesDoc, PurposesDoc, RegionsDoc};

/// One problem found in a bundle: which file, where in it (a JSON pointer), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyIssue {
    /// The file, as given (bundle dir joined with the document name).
    pub file: PathBuf,
    /// JSON pointer into the document (`""` for the whole file).
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for PolicyIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        write!(f, "{}: {}: {}", self.file.display(), path, self.reason)
    }
}

/// A bundle that cannot be used, with every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyError {
    /// The problems, in file order.
    pub issues: Vec<PolicyIssue>,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid policy bundle ({} problem(s))",
            self.issues.len()
        )?;
        for issue in &self.issues {
            write!(f, "\n  {issue}")?;
        }
        Ok(())
    }
}

impl PolicyError {
    pub(crate) fn single(
        file: PathBuf,
        path: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        PolicyError {
            issues: vec![PolicyIssue {
                file,
                path: path.into(),
                reason: reason.into(),
            }],
        }
    }
}

/// The documents of a bundle, their schemas (compiled into the binary, so a bundle cannot
/// weaken its own schema) and their order in the version hash.
pub(crate) const DOCUMENTS: [(&str, &str); 5] = [
    (
        "bundle.toml",
        include_str!("../../policies/schemas/bundle.schema.json"),
    ),
    (
        "content.toml",
        include_str!("../../policies/schemas/content.schema.json"),
    ),
    (
        "features.toml",
        include_str!("../../policies/schemas/features.schema.json"),
    ),
    (
        "purposes.toml",
        include_str!("../../policies/schemas/purposes.schema.json"),
    ),
    (
        "regions.toml",
        include_str!("../../policies/schemas/regions.schema.json"),
    ),
];

/// The optional document of cue lexicons (`docs/content.md`); hashed into the version only
/// when present, so bundles without it keep their version.
pub(crate) const CUES: (&str, &str) = (
    "cues.toml",
    include_str!("../../policies/schemas/cues.schema.json"),
);

/// A bundle read and schema-checked, with its version, not yet compiled.
#[derive(Debug, Clone)]
pub struct LoadedBundle {
    /// The typed documents.
    pub bundle: Bundle,
    /// sha-256 hex of the canonical bundle.
    pub version: String,
    /// The directory it came from.
    pub dir: PathBuf,
}

/// Read every document of the bundle in `dir`, validate each against its schema and parse it.
pub fn load_dir(dir: &Path) -> Result<LoadedBundle, PolicyError> {
    let mut issues = Vec::new();
    let mut values: Vec<Option<Value>> = Vec::with_capacity(DOCUMENTS.len());
    let mut hasher = Sha256::new();
    for (name, schema) in DOCUMENTS {
        let file = dir.join(name);
        match read_document(&file, schema) {
            Ok(value) => {
                hasher.update(name.as_bytes());
                hasher.update([0u8]);
                // serde_json's map is a BTreeMap here: keys come out sorted, so this is canonical.
                hasher.update(value.to_string().as_bytes());
                hasher.update([0u8]);
                values.push(Some(value));
            }
            Err(mut errs) => {
                issues.append(&mut errs);
                values.push(None);
            }
        }
    }
    let cues_file = dir.join(CUES.0);
    let cues = if cues_file.exists() {
        match read_document(&cues_file, CUES.1) {
            Ok(value) => {
                hasher.update(CUES.0.as_bytes());
                hasher.update([0u8]);
                hasher.update(value.to_string().as_bytes());
                hasher.update([0u8]);
                Some(value)
            }
            Err(mut errs) => {
                issues.append(&mut errs);
                None
            }
        }
    } else {
        None
    };
    if !issues.is_empty() {
        return Err(PolicyError { issues });
    }
    let mut docs = values.into_iter().flatten();
    let (Some(b), Some(c), Some(f), Some(p), Some(r)) = (
        docs.next(),
        docs.next(),
        docs.next(),
        docs.next(),
        docs.next(),
    ) else {
        return Err(PolicyError::single(
            dir.to_path_buf(),
            "",
            "bundle incomplete",
        ));
    };
    let bundle = Bundle {
        bundle: typed::<BundleDoc>(dir, "bundle.toml", b)?,
        content: typed::<ContentDoc>(dir, "content.toml", c)?,
        features: typed::<FeaturesDoc>(dir, "features.toml", f)?,
        purposes: typed::<PurposesDoc>(dir, "purposes.toml", p)?,
        regions: typed::<RegionsDoc>(dir, "regions.toml", r)?,
        cues: match cues {
            Some(c) => typed::<CuesDoc>(dir, CUES.0, c)?,
            None => CuesDoc::default(),
        },
    };
    Ok(LoadedBundle {
        bundle,
        version: hex::encode(hasher.finalize()),
        dir: dir.to_path_buf(),
    })
}

fn typed<T: DeserializeOwned>(dir: &Path, name: &str, value: Value) -> Result<T, PolicyError> {
    serde_json::from_value(value)
        .map_err(|e| PolicyError::single(dir.join(name), "", e.to_string()))
}

fn read_document(file: &Path, schema: &str) -> Result<Value, Vec<PolicyIssue>> {
    let issue = |path: String, reason: String| PolicyIssue {
        file: file.to_path_buf(),
        path,
        reason,
    };
    let text = std::fs::read_to_string(file)
        .map_err(|e| vec![issue(String::new(), format!("cannot read: {e}"))])?;
    let value: Value = toml::from_str(&text).map_err(|e| {
        let reason = match e.span() {
            Some(span) => {
                let (line, col) = line_col(&text, span.start);
                format!("TOML syntax at line {line}, column {col}: {}", e.message())
            }
            None => format!("TOML syntax: {}", e.message()),
        };
        vec![issue(String::new(), reason)]
    })?;
    let schema: Value = serde_json::from_str(schema).map_err(|e| {
        vec![issue(
            String::new(),
            format!("built-in schema unreadable: {e}"),
        )]
    })?;
    let validator = jsonschema::validator_for(&schema).map_err(|e| {
        vec![issue(
            String::new(),
            format!("built-in schema invalid: {e}"),
        )]
    })?;
    let errors: Vec<PolicyIssue> = validator
        .iter_errors(&value)
        .map(|e| issue(e.instance_path().to_string(), e.to_string()))
        .collect();
    if errors.is_empty() {
        Ok(value)
    } else {
        Err(errors)
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}
