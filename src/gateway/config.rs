//! The gateway's TOML config file (every key is in `docs/config.md`). Unknown keys are errors.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::trace::{CheckpointKey, Durability, TraceOptions};

/// Why a gateway config file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayConfigError {
    /// The file cannot be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown or mistyped keys.
    #[error("{file}: {reason}")]
    Parse {
        /// The file.
        file: PathBuf,
        /// Why (names the key and position).
        reason: String,
    },
    /// The values do not fit together.
    #[error("{file}: {key}: {reason}")]
    Invalid {
        /// The file.
        file: PathBuf,
        /// The key at fault, e.g. `route[2].feature`.
        key: String,
        /// Why.
        reason: String,
    },
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ServerSection {
    /// The proxy's listen address: `IP:PORT` or `HOST:PORT` (resolved at start).
    #[serde(default = "default_listen", deserialize_with = "de_listen")]
    pub listen: SocketAddr,
    /// The admin API's listen address: `IP:PORT` or `HOST:PORT` (resolved at start).
    #[serde(default = "default_admin_listen", deserialize_with = "de_listen")]
    pub admin_listen: SocketAddr,
    /// The cloud region this instance runs in. It must be in one of the policy's region sets,
    /// unless `allow_region_outside_sets` says it is deliberately outside them.
    pub region: String,
    /// Run in a region that is in none of the policy's region sets (such an instance serves
    /// only tenants that are not pinned). Off by default, so a typo (`mars-1`) stops the start.
    #[serde(default)]
    pub allow_region_outside_sets: bool,
    /// A connection must send a complete request head within this many milliseconds: from
    /// accept for its first request, from its first byte for later ones. Slower: closed.
    #[serde(default = "default_header_read_timeout_ms")]
    pub header_read_timeout_ms: u64,
    /// A keep-alive connection with no request in flight is closed after this many
    /// milliseconds without a new request.
    #[serde(default = "default_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
    /// Proxy connections open at once; past it, new ones get 503 and are closed.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Admin API connections open at once, counted apart from the proxy's so that proxy
    /// clients can never take the admin API's connections or file descriptors.
    #[serde(default = "default_admin_max_connections")]
    pub admin_max_connections: usize,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_admin_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8081))
}
fn default_header_read_timeout_ms() -> u64 {
    super::conn::DEFAULT_HEADER_READ_TIMEOUT_MS
}
fn default_idle_timeout_ms() -> u64 {
    super::conn::DEFAULT_IDLE_TIMEOUT_MS
}
fn default_max_connections() -> usize {
    super::conn::DEFAULT_MAX_CONNECTIONS
}
fn default_admin_max_connections() -> usize {
    super::conn::DEFAULT_ADMIN_MAX_CONNECTIONS
}

/// A listen address: `IP:PORT`, or `HOST:PORT` resolved now (`localhost:8080`). A host name
/// with several addresses listens on the first one the resolver gives.
pub fn listen_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!("`{text}` is not HOST:PORT (e.g. 127.0.0.1:8080)"));
    };
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(format!("`{text}` is not HOST:PORT (e.g. 127.0.0.1:8080)"));
    }
    std::net::ToSocketAddrs::to_socket_addrs(text)
        .map_err(|e| format!("cannot resolve `{host}`: {e}"))?
        .next()
        .ok_or_else(|| format!("`{host}` resolves to no address"))
}

fn de_listen<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(d)?;
    listen_addr(&text).map_err(serde::de::Error::custom)
}

/// `[policies]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PoliciesSection {
    /// Bundle directory.
    #[serde(default = "default_policies")]
    pub dir: PathBuf,
}

fn default_policies() -> PathBuf {
    PathBuf::from("policies")
}

impl Default for PoliciesSection {
    fn default() -> Self {
        PoliciesSection {
            dir: default_policies(),
        }
    }
}

/// `[store]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct StoreSection {
    /// `sqlite://FILE` or `postgres://…`.
    #[serde(default = "default_store")]
    pub url: String,
    /// AI requests get 503 `policy-unavailable` once the settings snapshot has not been
    /// refreshed from the store for longer than this (seconds).
    #[serde(default = "default_max_staleness")]
    pub max_staleness_secs: u64,
    /// Period of the full resync behind the change feed (seconds).
    #[serde(default = "default_resync")]
    pub resync_secs: u64,
}

fn default_max_staleness() -> u64 {
    crate::layer::DEFAULT_MAX_STALENESS.as_secs()
}

fn default_resync() -> u64 {
    crate::tenants::DEFAULT_RESYNC.as_secs()
}

fn default_store() -> String {
    "sqlite://raigate.db".to_owned()
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection {
            url: default_store(),
            max_staleness_secs: default_max_staleness(),
            resync_secs: default_resync(),
        }
    }
}

/// `[trace]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TraceSection {
    /// JSON Lines file, one decision per line.
    #[serde(default = "default_trace")]
    pub path: PathBuf,
    /// `fdatasync` after every batch.
    #[serde(default)]
    pub fsync: bool,
    /// Key for user-id pseudonyms; created (random, mode 0600) if absent.
    /// Default: `pseudonym.key` beside the trace file.
    #[serde(default)]
    pub pseudonym_key_file: Option<PathBuf>,
    /// `sync` (default: every request waits for its record's commit) or `async` (denials
    /// wait; allowed requests wait only for the record to be queued).
    #[serde(default)]
    pub durability: Durability,
    /// Records that may wait to be written in the store's queue.
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// Most records per transaction (group commit).
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// How long a request waits for room in a full queue before it is refused with 503.
    #[serde(default = "default_enqueue_timeout_ms")]
    pub enqueue_timeout_ms: u64,
    /// Seconds between signed checkpoints (0: only at shutdown).
    #[serde(default = "default_checkpoint_secs")]
    pub checkpoint_secs: u64,
    /// ed25519 key signing checkpoints; created (random, mode 0600) if absent.
    /// Default: `checkpoint.key` beside the pseudonym key.
    #[serde(default)]
    pub checkpoint_key_file: Option<PathBuf>,
    /// Delete records older than this many days (behind a checkpoint). Omit: keep all.
    #[serde(default)]
    pub retention_days: Option<u64>,
    /// OTLP/HTTP base URL (e.g. `http://127.0.0.1:4318`) for decision spans and metrics.
    /// Omit: use `OTEL_EXPORTER_OTLP_ENDPOINT` if set, else no export.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
}

fn default_queue() -> usize {
    TraceOptions::default().queue
}
fn default_batch() -> usize {
    TraceOptions::default().batch
}
fn default_enqueue_timeout_ms() -> u64 {
    u64::try_from(TraceOptions::default().enqueue_timeout.as_millis()).unwrap_or(1000)
}
fn default_checkpoint_secs() -> u64 {
    TraceOptions::default().checkpoint_every.as_secs()
}

fn default_trace() -> PathBuf {
    PathBuf::from("decisions.jsonl")
}

impl Default for TraceSection {
    fn default() -> Self {
        TraceSection {
            path: default_trace(),
            fsync: false,
            pseudonym_key_file: None,
            durability: Durability::Sync,
            queue: default_queue(),
            batch: default_batch(),
            enqueue_timeout_ms: default_enqueue_timeout_ms(),
            checkpoint_secs: default_checkpoint_secs(),
            checkpoint_key_file: None,
            retention_days: None,
            otlp_endpoint: None,
        }
    }
}

/// `[limits]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct LimitsSection {
    /// Request bodies read for content rules; over it: 413.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// The largest response body buffered to label it (JSON, WebVTT, SRT); longer ones are
    /// labelled by header only.
    #[serde(default = "default_max_label")]
    pub max_label_bytes: usize,
    /// All response bodies being buffered for labelling at once, together; a response that
    /// would go over it is labelled by header only (and logged).
    #[serde(default = "default_label_budget")]
    pub label_budget_bytes: usize,
}

fn default_max_label() -> usize {
    crate::layer::DEFAULT_MAX_LABEL_BYTES
}

fn default_label_budget() -> usize {
    crate::layer::DEFAULT_LABEL_BUDGET_BYTES
}

fn default_max_body() -> usize {
    crate::layer::DEFAULT_MAX_BODY_BYTES
}

impl Default for LimitsSection {
    fn default() -> Self {
        LimitsSection {
            max_body_bytes: default_max_body(),
            max_label_bytes: default_max_label(),
            label_budget_bytes: default_label_budget(),
        }
    }
}

/// `[[upstream]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct UpstreamSection {
    /// Name, recorded in decisions.
    pub name: String,
    /// Base URL (`http://host:port[/base]`).
    pub url: String,
    /// Cloud region it runs in.
    pub region: String,
    /// Provider named in `AI-Disclosure` (default: the name).
    #[serde(default)]
    pub provider: Option<String>,
}

/// `[[guard]]`: an external guard service asked about the text of requests on routes that
/// scan content (`docs/guards.md`). Needs the `guards` feature.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct GuardSection {
    /// Unique name; records say `detector = "guard:<name>"`.
    pub name: String,
    /// `openai-moderation`, `llama-guard`, `azure-prompt-shields` or `webhook`.
    pub kind: String,
    /// Base URL of the service (`http://host:port[/v1]`); the call's path is appended.
    pub url: String,
    /// Cloud region the service runs in: region-pinned tenants use in-set guards only.
    pub region: String,
    /// Time the guard has to answer, in milliseconds (default 1000).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// `deny` (default: 503 `policy-unavailable`) or `allow`, when the guard fails, times out
    /// or may not be asked.
    #[serde(default)]
    pub on_error: Option<String>,
    /// The model to ask for (required by `llama-guard`).
    #[serde(default)]
    pub model: Option<String>,
    /// Environment variable holding the API key (read at start).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Record flags as would-be denials without enforcing them (default false).
    #[serde(default)]
    pub shadow: bool,
    /// Calls in flight at once (default 32).
    #[serde(default)]
    pub max_concurrency: Option<usize>,
    /// Verdicts cached (default 10000; 0: no cache).
    #[serde(default)]
    pub cache_entries: Option<usize>,
    /// Life of a cached verdict in seconds (default 600).
    #[serde(default)]
    pub cache_ttl_secs: Option<u64>,
    /// Failures in a row that open the circuit (default 5).
    #[serde(default)]
    pub breaker_failures: Option<u32>,
    /// Time the circuit stays open, in milliseconds (default 10000).
    #[serde(default)]
    pub breaker_cooldown_ms: Option<u64>,
}

#[cfg(feature = "guards")]
impl GuardSection {
    /// The library's guard: the kind and `on_error` parsed, the API key read from its
    /// environment variable. `Err((key, reason))`.
    pub(crate) fn spec(&self) -> Result<crate::guard::GuardSpec, (&'static str, String)> {
        use crate::guard::{self as g, GuardKind, GuardSpec, OnError};
        use std::time::Duration;
        let kind = GuardKind::parse(&self.kind).ok_or_else(|| {
            let known: Vec<&str> = GuardKind::ALL.iter().map(|k| k.as_str()).collect();
            (
                "kind",
                format!(
                    "unknown kind `{}`; expected one of: {}",
                    self.kind,
                    known.join(", ")
                ),
            )
        })?;
        let mut spec = GuardSpec::new(&self.name, kind, &self.url, &self.region)
            .shadow(self.shadow)
            .timeout(
                self.timeout_ms
                    .map_or(g::DEFAULT_TIMEOUT, Duration::from_millis),
            )
            .max_concurrency(self.max_concurrency.unwrap_or(g::DEFAULT_MAX_CONCURRENCY))
            .cache(
                self.cache_entries.unwrap_or(g::DEFAULT_CACHE_ENTRIES),
                self.cache_ttl_secs
                    .map_or(g::DEFAULT_CACHE_TTL, Duration::from_secs),
            )
            .breaker(
                self.breaker_failures.unwrap_or(g::DEFAULT_BREAKER_FAILURES),
                self.breaker_cooldown_ms
                    .map_or(g::DEFAULT_BREAKER_COOLDOWN, Duration::from_millis),
            );
        if let Some(e) = &self.on_error {
            let on_error = OnError::parse(e)
                .ok_or_else(|| ("on_error", format!("`{e}` is neither `deny` nor `allow`")))?;
            spec = spec.on_error(on_error);
        }
        if let Some(m) = &self.model {
            spec = spec.model(m);
        }
        if let Some(var) = &self.api_key_env {
            match std::env::var(var) {
                Ok(key) if !key.trim().is_empty() => spec = spec.api_key(key.trim()),
                Ok(_) => {
                    return Err((
                        "api_key_env",
                        format!("the environment variable `{var}` is empty"),
                    ));
                }
                Err(_) => {
                    return Err((
                        "api_key_env",
                        format!("the environment variable `{var}` is not set"),
                    ));
                }
            }
        }
        Ok(spec)
    }
}

/// `[[route]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RouteSection {
    /// HTTP method.
    pub method: String,
    /// Exact path, or a prefix ending in `/*`.
    pub path: String,
    /// AI feature (required for inference routes).
    #[serde(default)]
    pub feature: Option<String>,
    /// `inference` (default) or `training`.
    #[serde(default)]
    pub class: Option<String>,
    /// A body content rules cannot read as text: `deny` (default, 415) or `allow` (forwarded
    /// unscanned, and the record says so).
    #[serde(default)]
    pub unscannable: Option<String>,
}

/// `[[admin.token]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TokenSection {
    /// sha-256 hex of the bearer token.
    pub sha256: String,
    /// `operator`, `tenant-admin` or `compliance`.
    pub role: String,
    /// The tenant of a tenant-admin.
    #[serde(default)]
    pub tenant: Option<String>,
}

/// `[admin]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AdminSection {
    /// Bearer tokens.
    #[serde(default)]
    pub token: Vec<TokenSection>,
}

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct GatewayConfig {
    /// `[server]`.
    pub server: ServerSection,
    /// `[policies]`.
    #[serde(default)]
    pub policies: PoliciesSection,
    /// `[store]`.
    #[serde(default)]
    pub store: StoreSection,
    /// `[trace]`.
    #[serde(default)]
    pub trace: TraceSection,
    /// `[limits]`.
    #[serde(default)]
    pub limits: LimitsSection,
    /// `[[tenant]]`: tenant documents created at start when missing (the same document as the
    /// admin API's; `version` is set by the store).
    #[serde(default)]
    pub tenant: Vec<crate::tenants::TenantSettings>,
    /// `[[upstream]]`.
    #[serde(default)]
    pub upstream: Vec<UpstreamSection>,
    /// `[[route]]`.
    #[serde(default)]
    pub route: Vec<RouteSection>,
    /// `[[guard]]`: external guard services, asked in this order (concurrently).
    #[serde(default)]
    pub guard: Vec<GuardSection>,
    /// `[admin]`.
    #[serde(default)]
    pub admin: AdminSection,
    /// `[identity]`: plain headers (default) or a verified JWT.
    #[serde(default)]
    pub identity: super::identity::IdentitySection,
    /// The file this config was read from (for error messages).
    #[serde(skip)]
    pub file: PathBuf,
}

impl GatewayConfig {
    /// Read `file`; relative paths in it resolve against its directory.
    pub fn load(file: &Path) -> Result<Self, GatewayConfigError> {
        let text = std::fs::read_to_string(file).map_err(|source| GatewayConfigError::Read {
            file: file.to_path_buf(),
            source,
        })?;
        let base = file.parent().unwrap_or(Path::new("."));
        Self::parse(&text, file, base)
    }

    /// Parse config text; relative paths resolve against `base`.
    pub fn parse(text: &str, file: &Path, base: &Path) -> Result<Self, GatewayConfigError> {
        let mut config: GatewayConfig =
            toml::from_str(text).map_err(|e| GatewayConfigError::Parse {
                file: file.to_path_buf(),
                // toml's message spans lines: position, the offending line and a caret under
                // the spot. Kept as it is.
                reason: e.to_string().trim_end().to_owned(),
            })?;
        config.file = file.to_path_buf();
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        resolve(&mut config.policies.dir);
        resolve(&mut config.trace.path);
        if let Some(k) = &mut config.trace.pseudonym_key_file {
            resolve(k);
        }
        config.identity.resolve_paths(base);
        if let Some(k) = &mut config.trace.checkpoint_key_file {
            resolve(k);
        }
        if let Some(rest) = config.store.url.strip_prefix("sqlite://") {
            let p = Path::new(rest);
            if p.is_relative() && rest != ":memory:" {
                config.store.url = format!("sqlite://{}", base.join(p).display());
            }
        }
        Ok(config)
    }

    /// The directories the gateway writes its state into: the SQLite databases' (when the
    /// store is SQLite), the trace file's and the two keys'. `raigate serve` creates them.
    pub fn state_dirs(&self) -> Vec<PathBuf> {
        let mut files = vec![
            self.trace.path.clone(),
            self.pseudonym_key_file(),
            self.checkpoint_key_file(),
        ];
        if let Some(db) = self.store.url.strip_prefix("sqlite://")
            && db != ":memory:"
        {
            files.push(PathBuf::from(db));
        }
        let mut dirs: Vec<PathBuf> = files
            .iter()
            .filter_map(|f| f.parent())
            .filter(|d| !d.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .collect();
        dirs.sort();
        dirs.dedup();
        dirs
    }

    /// Where the checkpoint signing key lives.
    pub fn checkpoint_key_file(&self) -> PathBuf {
        self.trace.checkpoint_key_file.clone().unwrap_or_else(|| {
            self.pseudonym_key_file()
                .parent()
                .unwrap_or(Path::new("."))
                .join("checkpoint.key")
        })
    }

    /// The decision store's options from `[trace]` (reads or creates the checkpoint key).
    pub fn trace_options(&self) -> std::io::Result<TraceOptions> {
        let t = &self.trace;
        Ok(TraceOptions {
            durability: t.durability,
            queue: t.queue.max(1),
            batch: t.batch.max(1),
            enqueue_timeout: std::time::Duration::from_millis(t.enqueue_timeout_ms),
            checkpoint_key: Some(CheckpointKey::from_key_file(&self.checkpoint_key_file())?),
            checkpoint_every: std::time::Duration::from_secs(t.checkpoint_secs),
            retention: t
                .retention_days
                .map(|d| std::time::Duration::from_secs(d.saturating_mul(86_400))),
            pg_schema: None,
        })
    }

    /// Where the decision trace lives. PostgreSQL: the same database and schema as the tenant
    /// settings. SQLite: a sibling file (`raigate.db` → `raigate.trace.db`), because SQLite has
    /// one writer per file and an admin change holds the settings' write lock while its audit
    /// record is committed to the trace.
    pub fn trace_store_url(&self) -> String {
        match self.store.url.strip_prefix("sqlite://") {
            Some(path) => {
                let trace = match path.strip_suffix(".db") {
                    Some(stem) => format!("{stem}.trace.db"),
                    None => format!("{path}.trace"),
                };
                format!("sqlite://{trace}")
            }
            None => self.store.url.clone(),
        }
    }

    /// Where the pseudonym key lives.
    pub fn pseudonym_key_file(&self) -> PathBuf {
        self.trace.pseudonym_key_file.clone().unwrap_or_else(|| {
            self.trace
                .path
                .parent()
                .unwrap_or(Path::new("."))
                .join("pseudonym.key")
        })
    }
}
