//! `raigate decisions list|get|export`: the decision trace read straight from the store named
//! in the config file.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use raigate::trace::{DecisionQuery, ExportFormat, Pseudonymizer};

use crate::{fail, open_trace, runtime};

/// Filters shared by `list` and `export`.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct FilterArgs {
    /// Only this tenant.
    #[arg(long)]
    tenant: Option<String>,
    /// `allow` or `deny`.
    #[arg(long)]
    outcome: Option<String>,
    /// Only this feature.
    #[arg(long)]
    feature: Option<String>,
    /// Only this rule.
    #[arg(long)]
    rule: Option<String>,
    /// From this time on (RFC 3339, e.g. 2026-01-31T00:00:00Z).
    #[arg(long)]
    since: Option<String>,
    /// Before this time (RFC 3339).
    #[arg(long)]
    until: Option<String>,
}

/// `raigate decisions …`.
#[derive(Debug, Subcommand)]
pub(crate) enum DecisionsCommand {
    /// One page of decisions, oldest first.
    List {
        /// Config file (TOML); the store is `[store] url`.
        #[arg(long, short)]
        config: PathBuf,
        /// Filters.
        #[command(flatten)]
        filter: FilterArgs,
        /// Page size (at most 1000).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Continue after a previous page.
        #[arg(long)]
        cursor: Option<String>,
        /// Print the page as JSON (`{"decisions": […], "next_cursor": …}`).
        #[arg(long)]
        json: bool,
    },
    /// One decision by id.
    Get {
        /// Config file (TOML).
        #[arg(long, short)]
        config: PathBuf,
        /// The decision id.
        id: String,
        /// Print compact JSON.
        #[arg(long)]
        json: bool,
    },
    /// Every matching decision, streamed as JSON Lines or CSV.
    Export {
        /// Config file (TOML).
        #[arg(long, short)]
        config: PathBuf,
        /// Filters.
        #[command(flatten)]
        filter: FilterArgs,
        /// A data subject's raw user id: it is pseudonymised with the configured key, and
        /// only that subject's decisions are exported (GDPR access request).
        #[arg(long)]
        subject: Option<String>,
        /// `jsonl` (default) or `csv`.
        #[arg(long, default_value = "jsonl")]
        format: String,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

fn query(f: FilterArgs) -> DecisionQuery {
    DecisionQuery {
        tenant: f.tenant,
        outcome: f.outcome,
        feature: f.feature,
        rule: f.rule,
        since: f.since,
        until: f.until,
        ..DecisionQuery::default()
    }
}

/// Run `raigate decisions …`.
pub(crate) fn run(cmd: DecisionsCommand) -> ExitCode {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return fail(e),
    };
    rt.block_on(async move {
        match cmd {
            DecisionsCommand::List {
                config,
                filter,
                limit,
                cursor,
                json,
            } => {
                let (_, store) = match open_trace(&config) {
                    Ok(s) => s,
                    Err(e) => return fail(e),
                };
                let q = DecisionQuery {
                    limit: Some(limit),
                    cursor,
                    ..query(filter)
                };
                let page = match store.list(&q).await {
                    Ok(p) => p,
                    Err(e) => return fail(e),
                };
                if json {
                    println!("{}", serde_json::to_string(&page).unwrap_or_default());
                    return ExitCode::SUCCESS;
                }
                println!(
                    "{:>8}  {:<27}  {:<12}  {:<7}  {:<15}  {:<30}  ID",
                    "SEQ", "TIME", "TENANT", "OUTCOME", "FEATURE", "RULE"
                );
                for r in &page.decisions {
                    println!(
                        "{:>8}  {:<27}  {:<12}  {:<7}  {:<15}  {:<30}  {}",
                        r.seq.unwrap_or(0),
                        r.time,
                        r.tenant.as_deref().unwrap_or("-"),
                        r.outcome,
                        r.feature.as_deref().unwrap_or("-"),
                        r.rule.as_deref().unwrap_or("-"),
                        r.id
                    );
                }
                match page.next_cursor {
                    Some(c) => println!(
                        "{} decision(s); more: --cursor {c}",
                        page.decisions.len()
                    ),
                    None => println!("{} decision(s); end of results", page.decisions.len()),
                }
                ExitCode::SUCCESS
            }
            DecisionsCommand::Get { config, id, json } => {
                let (_, store) = match open_trace(&config) {
                    Ok(s) => s,
                    Err(e) => return fail(e),
                };
                match store.get(&id).await {
                    Ok(Some(r)) => {
                        let text = if json {
                            serde_json::to_string(&r)
                        } else {
                            serde_json::to_string_pretty(&r)
                        };
                        println!("{}", text.unwrap_or_default());
                        ExitCode::SUCCESS
                    }
                    Ok(None) => fail(format!("no decision with id {id}")),
                    Err(e) => fail(e),
                }
            }
            DecisionsCommand::Export {
                config,
                filter,
                subject,
                format,
                output,
            } => {
                let Some(format) = ExportFormat::parse(&format) else {
                    return fail("--format: use jsonl or csv");
                };
                let (cfg, store) = match open_trace(&config) {
                    Ok(s) => s,
                    Err(e) => return fail(e),
                };
                let mut q = query(filter);
                if let Some(user) = subject {
                    let key = cfg.pseudonym_key_file();
                    if !key.exists() {
                        return fail(format!(
                            "the pseudonym key {} does not exist: no subject was ever recorded with it",
                            key.display()
                        ));
                    }
                    match Pseudonymizer::from_key_file(&key) {
                        Ok(p) => q.subject = Some(p.pseudonym(&user)),
                        Err(e) => return fail(format!("{}: {e}", key.display())),
                    }
                }
                let mut out: Box<dyn Write + Send> = match &output {
                    Some(path) => match std::fs::File::create(path) {
                        Ok(f) => Box::new(std::io::BufWriter::new(f)),
                        Err(e) => return fail(format!("{}: {e}", path.display())),
                    },
                    None => Box::new(std::io::BufWriter::new(std::io::stdout())),
                };
                match store.export_to(&q, format, &mut out).await {
                    Ok(n) => {
                        eprintln!("exported {n} decision(s)");
                        ExitCode::SUCCESS
                    }
                    Err(e) => fail(e),
                }
            }
        }
    })
}
