//! `raigate audit verify|public-key`: the decision trace's hash chain and signed checkpoints.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use raigate::gateway::GatewayConfig;
use raigate::trace::{CheckpointKey, decode_public_key, verify};

use crate::{fail, open_trace, runtime};

/// `raigate audit …`.
#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Verify the hash chain and checkpoints; exits non-zero when it is broken.
    Verify {
        /// Config file (TOML).
        #[arg(long, short)]
        config: PathBuf,
        /// Trust checkpoints signed by this ed25519 public key (hex) instead of the
        /// configured checkpoint key's.
        #[arg(long)]
        public_key: Option<String>,
        /// Print `{"ok", "records", "first_bad_seq", "detail"}`.
        #[arg(long)]
        json: bool,
    },
    /// Print the public key that verifies this deployment's checkpoints (hex).
    PublicKey {
        /// Config file (TOML).
        #[arg(long, short)]
        config: PathBuf,
    },
}

/// Run `raigate audit …`.
pub(crate) fn run(cmd: AuditCommand) -> ExitCode {
    match cmd {
        AuditCommand::PublicKey { config } => {
            let cfg = match GatewayConfig::load(&config) {
                Ok(c) => c,
                Err(e) => return fail(e),
            };
            match CheckpointKey::from_key_file(&cfg.checkpoint_key_file()) {
                Ok(k) => {
                    println!("{}", k.public_key_hex());
                    ExitCode::SUCCESS
                }
                Err(e) => fail(format!("{}: {e}", cfg.checkpoint_key_file().display())),
            }
        }
        AuditCommand::Verify {
            config,
            public_key,
            json,
        } => {
            let rt = match runtime() {
                Ok(rt) => rt,
                Err(e) => return fail(e),
            };
            rt.block_on(async move {
                let (cfg, store) = match open_trace(&config) {
                    Ok(s) => s,
                    Err(e) => return fail(e),
                };
                let trusted = match public_key {
                    Some(hex) => match decode_public_key(&hex) {
                        Ok(k) => Some(k),
                        Err(e) => return fail(format!("--public-key: {e}")),
                    },
                    None => {
                        let path = cfg.checkpoint_key_file();
                        if path.exists() {
                            match CheckpointKey::from_key_file(&path) {
                                Ok(k) => Some(k.verifying_key()),
                                Err(e) => return fail(format!("{}: {e}", path.display())),
                            }
                        } else {
                            None
                        }
                    }
                };
                let report = match verify(&store, trusted.as_ref()).await {
                    Ok(r) => r,
                    Err(e) => return fail(e),
                };
                if json {
                    println!("{}", serde_json::to_string(&report).unwrap_or_default());
                } else if report.ok {
                    println!(
                        "OK: {} record(s) verified; {}",
                        report.records, report.detail
                    );
                } else {
                    println!(
                        "BROKEN at seq {}: {} ({} record(s) verified before it)",
                        report.first_bad_seq.unwrap_or(0),
                        report.detail,
                        report.records
                    );
                }
                if report.ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            })
        }
    }
}
