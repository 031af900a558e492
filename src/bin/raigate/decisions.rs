//! `raigate decisions list|get|export`: the decision trace, read through the admin API with a
//! token from `RAIGATE_TOKEN` (the default: a compliance reviewer needs a token, not the
//! database), or straight from the store named in a config file with `--config`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use raigate::admin::AdminClient;
use raigate::gateway::GatewayConfig;
use raigate::trace::{
    DecisionPage, DecisionQuery, DecisionRecord, ExportFormat, Pseudonymizer, TraceStore,
};

use crate::{admin_client, fail, open_trace, runtime};

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

/// Where the decisions are read from.
#[derive(Debug, Clone, Args)]
pub(crate) struct SourceArgs {
    /// Read the store named in this config file (TOML) directly, instead of the admin API.
    #[arg(long, short, conflicts_with = "admin")]
    config: Option<PathBuf>,
    /// Admin API base URL (token from the environment: RAIGATE_TOKEN).
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    admin: String,
}

/// An open source of decisions.
pub(crate) enum Source {
    Store(Box<GatewayConfig>, TraceStore),
    Api(AdminClient),
}

impl SourceArgs {
    pub(crate) fn open(self) -> Result<Source, String> {
        match self.config {
            Some(config) => open_trace(&config).map(|(c, s)| Source::Store(Box::new(c), s)),
            None => admin_client(&self.admin).map(Source::Api),
        }
    }
}

impl Source {
    async fn list(&self, q: &DecisionQuery) -> Result<DecisionPage, String> {
        match self {
            Source::Store(_, store) => store.list(q).await.map_err(|e| e.to_string()),
            Source::Api(api) => api.decisions(q).await.map_err(|e| e.to_string()),
        }
    }

    async fn get(&self, id: &str) -> Result<Option<DecisionRecord>, String> {
        match self {
            Source::Store(_, store) => store.get(id).await.map_err(|e| e.to_string()),
            Source::Api(api) => api.decision(id).await.map_err(|e| e.to_string()),
        }
    }
}

/// `raigate decisions …`.
#[derive(Debug, Subcommand)]
pub(crate) enum DecisionsCommand {
    /// One page of decisions, oldest first.
    List {
        #[command(flatten)]
        source: SourceArgs,
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
        #[command(flatten)]
        source: SourceArgs,
        /// The decision id.
        id: String,
        /// Print compact JSON.
        #[arg(long)]
        json: bool,
    },
    /// Every matching decision, streamed as JSON Lines or CSV.
    Export {
        #[command(flatten)]
        source: SourceArgs,
        /// Filters.
        #[command(flatten)]
        filter: FilterArgs,
        /// A data subject's raw user id: it is pseudonymised with the configured key, and
        /// only that subject's decisions are exported (GDPR access request). Needs
        /// `--config`: the pseudonym key never leaves the deployment.
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
                source,
                filter,
                limit,
                cursor,
                json,
            } => {
                let source = match source.open() {
                    Ok(s) => s,
                    Err(e) => return fail(e),
                };
                let q = DecisionQuery {
                    limit: Some(limit),
                    cursor,
                    ..query(filter)
                };
                let page = match source.list(&q).await {
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
            DecisionsCommand::Get { source, id, json } => {
                let source = match source.open() {
                    Ok(s) => s,
                    Err(e) => return fail(e),
                };
                match source.get(&id).await {
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
                source,
                filter,
                subject,
                format,
                output,
            } => {
                let Some(format) = ExportFormat::parse(&format) else {
                    return fail("--format: use jsonl or csv");
                };
                let source = match source.open() {
                    Ok(s) => s,
                    Err(e) => return fail(e),
                };
                let mut q = query(filter);
                if let Some(user) = subject {
                    let Source::Store(cfg, _) = &source else {
                        return fail(
                            "--subject needs --config: the raw user id is pseudonymised with the \
                             deployment's key, which the admin API never receives",
                        );
                    };
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
                match &source {
                    Source::Store(_, store) => match store.export_to(&q, format, &mut out).await {
                        Ok(n) => {
                            eprintln!("exported {n} decision(s)");
                            ExitCode::SUCCESS
                        }
                        Err(e) => fail(e),
                    },
                    Source::Api(api) => match api.export_to(&q, format, &mut out).await {
                        Ok(n) => {
                            eprintln!("exported {n} byte(s)");
                            ExitCode::SUCCESS
                        }
                        Err(e) => fail(e),
                    },
                }
            }
        }
    })
}
