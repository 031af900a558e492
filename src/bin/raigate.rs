//! The `raigate` command: run the gateway, check a policy bundle, read and verify the trace.
//!
//! Run with `cargo run -- serve --config examples/gateway.toml`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use raigate::gateway::{Gateway, GatewayConfig, shutdown_signal};
use raigate::policy::CompiledPolicy;

/// Responsible-AI policy enforcement for generative-AI endpoints.
#[derive(Debug, Parser)]
#[command(name = "raigate", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway in front of AI upstreams.
    Serve {
        /// Config file (TOML).
        #[arg(long, short)]
        config: PathBuf,
        /// Override `[server] listen`.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Override `[server] admin_listen`.
        #[arg(long)]
        admin_listen: Option<SocketAddr>,
        /// Override `[server] region`.
        #[arg(long)]
        region: Option<String>,
    },
    /// Policy bundle tools.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Read the decision trace: list, get, export (also a data subject's records).
    Decisions {
        #[command(subcommand)]
        command: raigate::trace::cli::DecisionsCommand,
    },
    /// Verify the decision trace's hash chain and signed checkpoints.
    Audit {
        #[command(subcommand)]
        command: raigate::trace::cli::AuditCommand,
    },
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Validate a bundle: schemas, ids, citations, patterns. Exits non-zero on any problem.
    Check {
        /// Bundle directory.
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match cli.command {
        Command::Decisions { command } => raigate::trace::cli::decisions(command),
        Command::Audit { command } => raigate::trace::cli::audit(command),
        Command::Policy {
            command: PolicyCommand::Check { dir },
        } => match CompiledPolicy::load(&dir) {
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
        Command::Serve {
            config,
            listen,
            admin_listen,
            region,
        } => {
            let mut cfg = match GatewayConfig::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            if let Some(l) = listen {
                cfg.server.listen = l;
            }
            if let Some(a) = admin_listen {
                cfg.server.admin_listen = a;
            }
            if let Some(r) = region {
                cfg.server.region = r;
            }
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let result = runtime.block_on(async move {
                let gateway = Gateway::build(cfg)?;
                gateway.serve(shutdown_signal()).await
            });
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
