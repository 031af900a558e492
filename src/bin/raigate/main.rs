//! The `raigate` command: run the gateway, check a policy bundle, manage tenant settings
//! through the admin API, read and verify the decision trace.
//!
//! Run with `cargo run -- serve --config examples/gateway.toml`;
//! `RAIGATE_TOKEN=… cargo run -- tenants list`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use std::path::Path;
use std::time::Duration;

use clap::{Parser, Subcommand};
use raigate::gateway::{Gateway, GatewayConfig, listen_addr, shutdown_signal};
use raigate::trace::{TraceOptions, TraceStore};

/// jemalloc (with its background purging threads) instead of the system allocator: after a
/// burst of large buffered responses glibc's malloc kept 114 MiB of a 129 MiB spike, and
/// mimalloc about as much; jemalloc gives all but 14 MiB back within 2 s. Measured by
/// `tests/it/connections.rs` (figures in BENCHMARKS.md, "Memory after a burst").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod audit;
mod decisions;
mod policy;
mod tenants;

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
        /// Override `[server] listen` (`IP:PORT` or `HOST:PORT`).
        #[arg(long, value_parser = listen_addr)]
        listen: Option<SocketAddr>,
        /// Override `[server] admin_listen` (`IP:PORT` or `HOST:PORT`).
        #[arg(long, value_parser = listen_addr)]
        admin_listen: Option<SocketAddr>,
        /// Override `[server] region`.
        #[arg(long)]
        region: Option<String>,
    },
    /// Policy bundle tools.
    Policy {
        #[command(subcommand)]
        command: policy::PolicyCommand,
    },
    /// Read the decision trace: list, get, export (also a data subject's records).
    Decisions {
        #[command(subcommand)]
        command: decisions::DecisionsCommand,
    },
    /// Verify the decision trace's hash chain and signed checkpoints.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// Tenant settings, through the admin API (token from the environment: RAIGATE_TOKEN).
    Tenants {
        /// Admin API base URL.
        #[arg(long, global = true, default_value = "http://127.0.0.1:8081")]
        admin: String,
        /// Print JSON instead of a table.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        command: tenants::TenantsCommand,
    },
}

pub(crate) fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::FAILURE
}

pub(crate) fn open_trace(config: &Path) -> Result<(GatewayConfig, TraceStore), String> {
    let cfg = GatewayConfig::load(config).map_err(|e| e.to_string())?;
    let options = TraceOptions {
        checkpoint_key: None,
        checkpoint_every: Duration::ZERO,
        retention: None,
        ..TraceOptions::default()
    };
    let store = TraceStore::open(&cfg.trace_store_url(), options).map_err(|e| e.to_string())?;
    Ok((cfg, store))
}

/// A client of the admin API at `admin`, with the token from `RAIGATE_TOKEN` (warns when it
/// is not set). Used by every command that works through the API.
pub(crate) fn admin_client(admin: &str) -> Result<raigate::admin::AdminClient, String> {
    check_admin_url(admin)?;
    let mut api = raigate::admin::AdminClient::new(admin);
    match std::env::var("RAIGATE_TOKEN") {
        Ok(t) if !t.is_empty() => api = api.token(&t),
        _ => eprintln!("warning: RAIGATE_TOKEN is not set; the admin API will answer 401"),
    }
    Ok(api)
}

/// `--admin` must be an `http://HOST[:PORT]` URL; say what is wrong before trying to connect.
fn check_admin_url(admin: &str) -> Result<(), String> {
    let uri: http::Uri = admin
        .parse()
        .map_err(|e| format!("--admin `{admin}` is not a URL ({e}); e.g. http://127.0.0.1:8081"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(format!(
                "--admin `{admin}`: https is not supported by this client; the admin API \
                 serves plain http on [server] admin_listen (put TLS in front of it separately)"
            ));
        }
        Some(other) => return Err(format!("--admin `{admin}`: `{other}` is not http")),
        None => {
            return Err(format!(
                "--admin `{admin}` has no scheme: write http://{admin}"
            ));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("--admin `{admin}` has no host"));
    }
    Ok(())
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

/// Raise the soft file-descriptor limit to the hard one: every connection is a descriptor, and
/// the default soft limit (often 1024) would cap the gateway long before its
/// `[server] max_connections`. The gateway then sizes its connection limits to what it got.
fn raise_fd_limit() {
    #[cfg(unix)]
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => tracing::debug!(nofile = n, "file-descriptor limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the file-descriptor limit"),
    }
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
        Command::Decisions { command } => decisions::run(command),
        Command::Audit { command } => audit::run(command),
        Command::Policy { command } => policy::run(command),
        Command::Tenants {
            admin,
            json,
            command,
        } => tenants::run(&admin, json, command),
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
            raise_fd_limit();
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let result = runtime.block_on(async move {
                let gateway = Gateway::build(cfg).await?;
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
