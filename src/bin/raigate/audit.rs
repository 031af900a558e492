//! `raigate audit verify|public-key`: the decision trace's hash chain and signed checkpoints.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use raigate::gateway::GatewayConfig;
use raigate::trace::{CheckpointKey, VerifyReport, decode_public_key, verify};

use crate::{admin_client, fail, open_trace, runtime};

/// `raigate audit …`.
#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Verify the hash chain and checkpoints; exits non-zero when it is broken. Through the
    /// admin API (`GET /v1/audit/verify`, token from RAIGATE_TOKEN) by default, or on the
    /// store of a config file with `--config`.
    Verify {
        /// Verify the store named in this config file (TOML) directly.
        #[arg(long, short, conflicts_with = "admin")]
        config: Option<PathBuf>,
        /// Admin API base URL (token from the environment: RAIGATE_TOKEN).
        #[arg(long, default_value = "http://127.0.0.1:8081")]
        admin: String,
        /// Trust checkpoints signed by this ed25519 public key (hex) instead of the
        /// configured checkpoint key's (with `--config`).
        #[arg(long, requires = "config")]
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
            admin,
            public_key,
            json,
        } => {
            let rt = match runtime() {
                Ok(rt) => rt,
                Err(e) => return fail(e),
            };
            rt.block_on(async move {
                let Some(config) = config else {
                    let api = match admin_client(&admin) {
                        Ok(api) => api,
                        Err(e) => return fail(e),
                    };
                    return match api.verify().await {
                        Ok(report) => print_report(&report, json),
                        Err(e) => fail(e),
                    };
                };
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
                print_report(&report, json)
            })
        }
    }
}

/// Print a verification report; the exit code says whether the chain is intact.
fn print_report(report: &VerifyReport, json: bool) -> ExitCode {
    if json {
        println!("{}", serde_json::to_string(report).unwrap_or_default());
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
}
