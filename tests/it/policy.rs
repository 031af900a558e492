//! The default bundle and the loader's error reporting.

use std::path::Path;
#[cfg(feature = "cli")]
use std::process::Command;

use crate::support::repo_path;
use raigate::policy::{CompiledPolicy, PurposeRuleKind, load_dir};

fn copy_bundle() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in [
        "bundle.toml",
        "content.toml",
        "cues.toml",
        "features.toml",
        "purposes.toml",
        "regions.toml",
    ] {
        std::fs::copy(repo_path("policies").join(entry), dir.path().join(entry)).unwrap();
    }
    std::fs::create_dir(dir.path().join("sources")).unwrap();
    for e in std::fs::read_dir(repo_path("policies/sources")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.path().join("sources").join(e.file_name())).unwrap();
    }
    dir
}

fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let p = dir.join(file);
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains(from), "{file} has no `{from}`");
    std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn the_default_bundle_encodes_the_responsible_use_policy() {
    let p = CompiledPolicy::load(&repo_path("policies")).unwrap();
    for f in [
        "captions",
        "transcription",
        "translation",
        "summarization",
        "clips",
        "quiz-generation",
        "assistant",
        "text-to-speech",
        "text-to-video",
        "vision-language",
    ] {
        assert!(p.feature(f).is_some(), "feature {f}");
    }
    for f in ["captions", "summarization"] {
        assert!(
            p.feature(f).unwrap().human_review_notice,
            "{f} carries the human-review notice"
        );
    }
    for set in ["eu", "us", "sg", "au", "ca"] {
        assert!(p.has_region_set(set), "region set {set}");
    }
    for (region, set) in [
        ("eu-central-1", "eu"),
        ("europe-west1", "eu"),
        ("us-east-1", "us"),
        ("us-central1", "us"),
        ("ap-southeast-1", "sg"),
        ("asia-southeast1", "sg"),
        ("ap-southeast-2", "au"),
        ("australia-southeast1", "au"),
        ("ca-central-1", "ca"),
        ("northamerica-northeast1", "ca"),
    ] {
        assert_eq!(p.region_set_of(region).map(|s| &**s), Some(set), "{region}");
    }
    assert!(
        p.region_set_of("eu-west-2").is_none(),
        "London is not in the EU set"
    );
    let kind = |id: &str| p.purpose(id).unwrap_or_else(|| panic!("purpose {id}")).kind;
    for id in [
        "emotion-inference-workplace",
        "emotion-inference-education",
        "biometric-identification",
        "surveillance",
        "likeness-synthesis",
    ] {
        assert_eq!(kind(id), PurposeRuleKind::ConsentRequired, "{id}");
    }
    assert_eq!(
        kind("protected-characteristic-inference"),
        PurposeRuleKind::ProhibitedUse
    );
    for id in [
        "employment-decision",
        "educational-assessment",
        "access-to-services",
    ] {
        assert_eq!(kind(id), PurposeRuleKind::HumanOversightRequired, "{id}");
    }
    for id in ["content-moderation", "accessibility-determination"] {
        assert_eq!(kind(id), PurposeRuleKind::Notice, "{id}");
    }
    let categories: Vec<&str> = p.content_rules().iter().map(|r| &*r.category).collect();
    assert!(categories.len() >= 10, "{categories:?}");
    assert_eq!(p.version().len(), 64);
}

#[test]
fn every_citation_is_checked_against_its_source() {
    let dir = copy_bundle();
    edit(
        dir.path(),
        "purposes.toml",
        "quote = \"",
        "quote = \"Words the policy never says. ",
    );
    let err = CompiledPolicy::load(dir.path()).unwrap_err();
    let issue = &err.issues[0];
    assert!(issue.file.ends_with("purposes.toml"));
    assert!(issue.path.starts_with("/purpose/0/cites/quote"), "{issue}");
    assert!(issue.reason.contains("quote not found"), "{issue}");
}

#[test]
fn schema_errors_name_file_path_and_reason() {
    let dir = copy_bundle();
    edit(
        dir.path(),
        "features.toml",
        "[[feature]]",
        "[[feature]]\nunexpected_key = 1",
    );
    edit(
        dir.path(),
        "purposes.toml",
        "rule = \"prohibited-use\"",
        "rule = \"sometimes\"",
    );
    let err = load_dir(dir.path()).unwrap_err();
    let text = err.to_string();
    assert!(
        err.issues.iter().any(|i| i.file.ends_with("features.toml")
            && i.path == "/feature/0"
            && i.reason.contains("unexpected_key")),
        "{text}"
    );
    assert!(
        err.issues
            .iter()
            .any(|i| i.file.ends_with("purposes.toml") && i.path.ends_with("/rule")),
        "{text}"
    );
}

#[test]
fn toml_syntax_errors_give_line_and_column() {
    let dir = copy_bundle();
    std::fs::write(
        dir.path().join("regions.toml"),
        "[[region_set]\nid = \"eu\"\n",
    )
    .unwrap();
    let err = load_dir(dir.path()).unwrap_err();
    let issue = err
        .issues
        .iter()
        .find(|i| i.file.ends_with("regions.toml"))
        .unwrap();
    assert!(issue.reason.contains("line 1"), "{issue}");
}

#[test]
fn semantic_errors_are_caught_at_compile() {
    let dir = copy_bundle();
    // One region in two sets.
    edit(
        dir.path(),
        "regions.toml",
        "\"us-east-1\"",
        "\"us-east-1\", \"eu-central-1\"",
    );
    // An invalid regex.
    let content = dir.path().join("content.toml");
    let mut text = std::fs::read_to_string(&content).unwrap();
    text.push_str("\n[[content_rule]]\nid = \"content-broken\"\ncategory = \"broken\"\ncites = { source = \"rup\", clause = \"Prohibited Uses\", quote = \"Prohibited Uses\" }\npatterns = ['\\b(unclosed']\n");
    std::fs::write(&content, text).unwrap();
    let err = CompiledPolicy::load(dir.path()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("regions.toml") && text.contains("already in set"),
        "{text}"
    );
    assert!(
        err.issues.iter().any(|i| i.file.ends_with("content.toml")
            && i.path.contains("/patterns/0")
            && i.reason.contains("invalid pattern")),
        "{text}"
    );
}

#[test]
fn the_version_tracks_meaning_not_formatting() {
    let base = CompiledPolicy::load(&repo_path("policies"))
        .unwrap()
        .version()
        .clone();
    let dir = copy_bundle();
    let f = dir.path().join("features.toml");
    let text = std::fs::read_to_string(&f).unwrap();
    std::fs::write(
        &f,
        format!("# a comment\n\n{}", text.replace(" = ", "   =   ")),
    )
    .unwrap();
    assert_eq!(
        *CompiledPolicy::load(dir.path()).unwrap().version(),
        base,
        "formatting does not change the version"
    );
    let dir = copy_bundle();
    edit(
        dir.path(),
        "features.toml",
        "id = \"clips\"",
        "id = \"clips2\"",
    );
    assert_ne!(
        *CompiledPolicy::load(dir.path()).unwrap().version(),
        base,
        "a renamed feature changes the version"
    );
}

/// Drives the `raigate` binary, which only exists with the `cli` feature.
#[cfg(feature = "cli")]
#[test]
fn policy_check_cli_exits_non_zero_on_a_bad_bundle() {
    let ok = Command::new(env!("CARGO_BIN_EXE_raigate"))
        .args(["policy", "check"])
        .arg(repo_path("policies"))
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("ok"));

    let dir = copy_bundle();
    edit(
        dir.path(),
        "bundle.toml",
        "mode = \"enforce\"",
        "mode = \"lenient\"",
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_raigate"))
        .args(["policy", "check"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("bundle.toml") && err.contains("/mode"),
        "{err}"
    );
}

#[test]
fn the_cited_sources_are_the_shared_policy_texts() {
    // The bundle carries copies so it is self-contained; they must not drift from the
    // originals kept beside the repository (../shared/policy-sources) where those exist.
    let shared = repo_path("../shared/policy-sources");
    if !shared.is_dir() {
        eprintln!(
            "note: {} not present; copies not compared",
            shared.display()
        );
        return;
    }
    for (copy, original) in [
        ("responsible-use-policy.txt", "003_0da20562c6c6f5b6.txt"),
        ("gdpr-faq.txt", "002_d7c83dd98d4a4c82.txt"),
    ] {
        let a = std::fs::read(repo_path("policies/sources").join(copy)).unwrap();
        let b = std::fs::read(shared.join(original)).unwrap();
        assert!(
            a == b,
            "policies/sources/{copy} differs from shared/policy-sources/{original}"
        );
    }
}
