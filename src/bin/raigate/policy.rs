//! `raigate policy check DIR`: validate a policy bundle.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use raigate::policy::CompiledPolicy;

#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// Validate a bundle: schemas, ids, citations, patterns. Exits non-zero on any problem.
    Check {
        /// Bundle directory.
        dir: PathBuf,
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
    }
}
