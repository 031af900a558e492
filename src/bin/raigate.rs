//! The `raigate` command: run the gateway, check a policy bundle, manage tenant settings
//! through the admin API, read and verify the decision trace.
//!
//! Run with `cargo run -- serve --config examples/gateway.toml`;
//! `RAIGATE_TOKEN=… cargo run -- tenants list`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use raigate::admin::{AdminClient, ClientError, SettingsChange};
use raigate::gateway::{Gateway, GatewayConfig, shutdown_signal};
use raigate::policy::CompiledPolicy;
use raigate::tenants::TenantSettings;

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
    /// Tenant settings, through the admin API (token from the environment: RAIGATE_TOKEN).
    Tenants {
        /// Admin API base URL.
        #[arg(long, global = true, default_value = "http://127.0.0.1:8081")]
        admin: String,
        /// Print JSON instead of a table.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        command: TenantsCommand,
    },
}

#[derive(Debug, Subcommand)]
enum TenantsCommand {
    /// List the tenants this token may read.
    List,
    /// Show one tenant.
    Get {
        /// Tenant id.
        id: String,
    },
    /// Change region pin or AI switch (read, then write with If-Match; creates a missing tenant).
    Set {
        /// Tenant id.
        id: String,
        /// Pin to a region set of the policy.
        #[arg(long, conflicts_with = "no_region")]
        region: Option<String>,
        /// Remove the region pin.
        #[arg(long)]
        no_region: bool,
        /// Turn AI on or off for the whole tenant.
        #[arg(long)]
        ai: Option<OnOff>,
    },
    /// Turn a feature off for a tenant.
    OptOut {
        /// Tenant id.
        id: String,
        /// Feature of the policy catalogue.
        feature: String,
    },
    /// Turn a feature back on for a tenant.
    OptIn {
        /// Tenant id.
        id: String,
        /// Feature of the policy catalogue.
        feature: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OnOff {
    On,
    Off,
}

/// One table row per tenant.
fn table(tenants: &[TenantSettings]) -> String {
    let rows: Vec<[String; 5]> = tenants
        .iter()
        .map(|t| {
            [
                t.id.clone(),
                t.region.clone().unwrap_or_else(|| "-".to_owned()),
                if t.ai_enabled { "on" } else { "off" }.to_owned(),
                if t.opted_out.is_empty() {
                    "-".to_owned()
                } else {
                    t.opted_out.iter().cloned().collect::<Vec<_>>().join(",")
                },
                t.version.to_string(),
            ]
        })
        .collect();
    let header = ["ID", "REGION", "AI", "OPTED OUT", "VERSION"].map(str::to_owned);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows.iter()) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

async fn tenants(
    api: AdminClient,
    command: TenantsCommand,
    json: bool,
) -> Result<String, ClientError> {
    let one = |t: TenantSettings| {
        if json {
            serde_json::to_string_pretty(&t).unwrap_or_default() + "\n"
        } else {
            table(std::slice::from_ref(&t))
        }
    };
    Ok(match command {
        TenantsCommand::List => {
            let list = api.list().await?;
            if json {
                serde_json::to_string_pretty(&serde_json::json!({ "tenants": list }))
                    .unwrap_or_default()
                    + "\n"
            } else {
                table(&list)
            }
        }
        TenantsCommand::Get { id } => one(api.get(&id).await?),
        TenantsCommand::Set {
            id,
            region,
            no_region,
            ai,
        } => {
            let change = SettingsChange {
                region: if no_region {
                    Some(None)
                } else {
                    region.map(Some)
                },
                ai_enabled: ai.map(|a| matches!(a, OnOff::On)),
            };
            one(api.set(&id, &change).await?)
        }
        TenantsCommand::OptOut { id, feature } => one(api.opt_out(&id, &feature, true).await?),
        TenantsCommand::OptIn { id, feature } => one(api.opt_out(&id, &feature, false).await?),
    })
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
        Command::Tenants {
            admin,
            json,
            command,
        } => {
            let mut api = AdminClient::new(&admin);
            match std::env::var("RAIGATE_TOKEN") {
                Ok(t) if !t.is_empty() => api = api.token(&t),
                _ => eprintln!("warning: RAIGATE_TOKEN is not set; the admin API will answer 401"),
            }
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(tenants(api, command, json)) {
                Ok(out) => {
                    print!("{out}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
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
