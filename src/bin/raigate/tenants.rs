//! `raigate tenants list|get|set|opt-out|opt-in`: tenant settings through the admin API.

use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use raigate::admin::{AdminClient, ClientError};
use raigate::tenants::TenantSettings;

use crate::{admin_client, fail, runtime};

#[derive(Debug, Subcommand)]
pub(crate) enum TenantsCommand {
    /// List the tenants this token may read.
    List,
    /// Show one tenant.
    Get {
        /// Tenant id.
        id: String,
    },
    /// Change settings (read, then write the whole document back with If-Match; settings not
    /// named keep their values; creates a missing tenant).
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
        /// Cap the tenant's request bodies at this many bytes.
        #[arg(long, conflicts_with = "no_max_body_bytes")]
        max_body_bytes: Option<u64>,
        /// Remove the tenant's body cap (the instance limit applies).
        #[arg(long)]
        no_max_body_bytes: bool,
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
pub(crate) enum OnOff {
    On,
    Off,
}

/// One table row per tenant.
fn table(tenants: &[TenantSettings]) -> String {
    let rows: Vec<[String; 6]> = tenants
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
                t.max_body_bytes
                    .map_or_else(|| "-".to_owned(), |n| n.to_string()),
                t.version.to_string(),
            ]
        })
        .collect();
    let header = ["ID", "REGION", "AI", "OPTED OUT", "MAX BODY", "VERSION"].map(str::to_owned);
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

async fn call(
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
            max_body_bytes,
            no_max_body_bytes,
        } => one(api
            .set(&id, |doc| {
                if no_region {
                    doc.region = None;
                } else if region.is_some() {
                    doc.region = region;
                }
                if let Some(a) = ai {
                    doc.ai_enabled = matches!(a, OnOff::On);
                }
                if no_max_body_bytes {
                    doc.max_body_bytes = None;
                } else if max_body_bytes.is_some() {
                    doc.max_body_bytes = max_body_bytes;
                }
            })
            .await?),
        TenantsCommand::OptOut { id, feature } => one(api.opt_out(&id, &feature, true).await?),
        TenantsCommand::OptIn { id, feature } => one(api.opt_out(&id, &feature, false).await?),
    })
}

/// Run `raigate tenants …` against the admin API at `admin` (token from `RAIGATE_TOKEN`).
pub(crate) fn run(admin: &str, json: bool, command: TenantsCommand) -> ExitCode {
    let api = match admin_client(admin) {
        Ok(api) => api,
        Err(e) => return fail(e),
    };
    let runtime = match runtime() {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    match runtime.block_on(call(api, command, json)) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e @ ClientError::Http(_)) => fail(format!(
            "{e}\n  is `raigate serve` running, and is --admin {admin} its [server] admin_listen \
             (default http://127.0.0.1:8081)?"
        )),
        Err(e) => fail(e),
    }
}
