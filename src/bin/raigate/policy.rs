//! `raigate policy check DIR`: validate a policy bundle.
//! `raigate policy eval CORPUS.jsonl`: measure its content rules against a labelled corpus.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use raigate::eval::{Corpus, evaluate};
use raigate::policy::CompiledPolicy;

#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// Validate a bundle: schemas, ids, citations, patterns. Exits non-zero on any problem.
    Check {
        /// Bundle directory.
        dir: PathBuf,
    },
    /// Measure a bundle's content rules on a labelled corpus (JSON Lines, one case a line):
    /// recall and false-positive rate overall, per category, language, technique and feature,
    /// evasion recall of caught requests, then misses and false positives by id. Runs the
    /// gateway's own content check in process. Exits 1 when a threshold is not met.
    Eval {
        /// The corpus: `{"id", "expect": "deny"|"allow", "messages": [...]}` or `"text"`, with
        /// optional `category`, `technique`, `lang`, `topic`, `feature`, `of`.
        corpus: PathBuf,
        /// Bundle directory.
        #[arg(long, default_value = "policies")]
        policies: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Fail (exit 1) when recall over all deny cases is below this (0 to 1).
        #[arg(long)]
        min_recall: Option<f64>,
        /// Fail (exit 1) when the false-positive rate over all allow cases is above this (0 to 1).
        #[arg(long)]
        max_fpr: Option<f64>,
        /// Fail (exit 1) when recall on evasions of caught requests is below this (0 to 1).
        #[arg(long)]
        min_evasion_recall: Option<f64>,
        /// A sentence-embedding model directory for the semantic stage (not in this build).
        #[arg(long)]
        semantic_model: Option<PathBuf>,
    },
}

/// Run `raigate policy …`.
pub(crate) fn run(command: PolicyCommand) -> ExitCode {
    match command {
        PolicyCommand::Check { dir } => match CompiledPolicy::load(&dir) {
            Ok(p) => {
                println!(
                    "{}: ok (bundle `{}`, version {})",
                    dir.display(),
                    p.name(),
                    p.version()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        PolicyCommand::Eval {
            corpus,
            policies,
            json,
            min_recall,
            max_fpr,
            min_evasion_recall,
            semantic_model,
        } => {
            if let Some(dir) = semantic_model {
                eprintln!(
                    "--semantic-model {}: this build has no semantic stage; only phrases and patterns are measured",
                    dir.display()
                );
                return ExitCode::from(2);
            }
            let policy = match CompiledPolicy::load(&policies) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            let corpus = match Corpus::load(&corpus) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{}: {e}", corpus.display());
                    return ExitCode::from(2);
                }
            };
            let report = evaluate(&policy, &corpus);
            if json {
                match serde_json::to_string_pretty(&report) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("cannot write the report: {e}");
                        return ExitCode::from(2);
                    }
                }
            } else {
                print!("{}", report.render());
            }
            let mut failed = Vec::new();
            let below = |value: Option<f64>, min: Option<f64>| matches!((value, min), (Some(v), Some(m)) if v < m);
            if below(report.overall.recall(), min_recall) {
                failed.push(format!(
                    "recall is below {}",
                    min_recall.unwrap_or_default()
                ));
            }
            if let (Some(fpr), Some(max)) = (report.overall.fpr(), max_fpr)
                && fpr > max
            {
                failed.push(format!("the false-positive rate is above {max}"));
            }
            if below(report.evasions_of_caught.recall(), min_evasion_recall) {
                failed.push(format!(
                    "evasion recall is below {}",
                    min_evasion_recall.unwrap_or_default()
                ));
            }
            if !report.errors.is_empty() {
                failed.push(format!(
                    "{} case(s) could not be evaluated",
                    report.errors.len()
                ));
            }
            if failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                eprintln!("policy eval failed: {}", failed.join("; "));
                ExitCode::FAILURE
            }
        }
    }
}
