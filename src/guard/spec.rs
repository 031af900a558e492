//! [`GuardSpec`]: what an operator says about one external guard (pure data), and why it
//! cannot be used ([`GuardConfigError`]).

use std::sync::Arc;
use std::time::Duration;

use http::Uri;
use http::uri::Scheme;

/// Default time a guard has to answer (1 s), from the request's turn to ask it to the last byte.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(1000);
/// Default most calls to one guard in flight at once; more wait (within the timeout).
pub const DEFAULT_MAX_CONCURRENCY: usize = 32;
/// Default verdicts kept per guard.
pub const DEFAULT_CACHE_ENTRIES: usize = 10_000;
/// Default life of a cached verdict (10 min).
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(600);
/// Default failures in a row that open a guard's circuit.
pub const DEFAULT_BREAKER_FAILURES: u32 = 5;
/// Default time an open circuit stays open before one call probes the guard again (10 s).
pub const DEFAULT_BREAKER_COOLDOWN: Duration = Duration::from_secs(10);

/// Which service a guard is; each speaks that service's own wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GuardKind {
    /// OpenAI's moderation API: `POST {url}/moderations`.
    OpenaiModeration,
    /// Llama Guard 3/4 behind an OpenAI-compatible chat endpoint (vLLM, Ollama, TGI):
    /// `POST {url}/chat/completions`.
    LlamaGuard,
    /// Azure AI Content Safety Prompt Shields:
    /// `POST {url}/contentsafety/text:shieldPrompt?api-version=2024-09-01`.
    AzurePromptShields,
    /// raigate's own JSON contract (`docs/guards.md`): `POST {url}`.
    Webhook,
}

impl GuardKind {
    /// Every kind, in the order the docs list them.
    pub const ALL: [GuardKind; 4] = [
        GuardKind::OpenaiModeration,
        GuardKind::LlamaGuard,
        GuardKind::AzurePromptShields,
        GuardKind::Webhook,
    ];

    /// The config name.
    pub fn as_str(self) -> &'static str {
        match self {
            GuardKind::OpenaiModeration => "openai-moderation",
            GuardKind::LlamaGuard => "llama-guard",
            GuardKind::AzurePromptShields => "azure-prompt-shields",
            GuardKind::Webhook => "webhook",
        }
    }

    /// Parse a config name.
    pub fn parse(name: &str) -> Option<Self> {
        GuardKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The path appended to the base URL (with its query).
    pub(crate) fn path(self) -> &'static str {
        match self {
            GuardKind::OpenaiModeration => "/moderations",
            GuardKind::LlamaGuard => "/chat/completions",
            GuardKind::AzurePromptShields => {
                "/contentsafety/text:shieldPrompt?api-version=2024-09-01"
            }
            GuardKind::Webhook => "",
        }
    }
}

impl std::fmt::Display for GuardKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a guard that cannot give a verdict means for the request: it failed, timed out, its
/// circuit is open, or the tenant's region pinning forbids sending it the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnError {
    /// Refuse: 503 `policy-unavailable`, rule `guard-unavailable` (the default: fail closed).
    #[default]
    Deny,
    /// Go on; the record's `reason` says the guard was not heard.
    Allow,
}

impl OnError {
    /// The config name.
    pub fn as_str(self) -> &'static str {
        match self {
            OnError::Deny => "deny",
            OnError::Allow => "allow",
        }
    }

    /// Parse a config name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "deny" => Some(OnError::Deny),
            "allow" => Some(OnError::Allow),
            _ => None,
        }
    }
}

/// Why a guard cannot be used: the key at fault and the reason (never the API key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("guard `{guard}`: {key}: {reason}")]
#[non_exhaustive]
pub struct GuardConfigError {
    /// The guard's name (as given).
    pub guard: String,
    /// The key at fault (`name`, `url`, `model`, `timeout_ms`, …).
    pub key: &'static str,
    /// Why.
    pub reason: String,
}

impl GuardConfigError {
    pub(crate) fn new(guard: &str, key: &'static str, reason: impl Into<String>) -> Self {
        GuardConfigError {
            guard: guard.to_owned(),
            key,
            reason: reason.into(),
        }
    }
}

/// One external guard, as configured: `[[guard]]` in the gateway config, or
/// [`crate::RaigateLayer::guard`] in the library. Checked when the layer takes it.
///
/// ```
/// use raigate::guard::{GuardKind, GuardSpec, OnError};
/// use std::time::Duration;
///
/// let spec = GuardSpec::new("llamaguard-eu", GuardKind::LlamaGuard, "http://127.0.0.1:9300/v1", "eu-central-1")
///     .model("llama-guard-3-8b")
///     .timeout(Duration::from_millis(800))
///     .on_error(OnError::Deny);
/// assert_eq!(spec.name(), "llamaguard-eu");
/// ```
#[derive(Clone)]
#[must_use]
pub struct GuardSpec {
    pub(crate) name: Arc<str>,
    pub(crate) kind: GuardKind,
    pub(crate) url: String,
    pub(crate) region: Arc<str>,
    pub(crate) timeout: Duration,
    pub(crate) on_error: OnError,
    pub(crate) model: Option<String>,
    pub(crate) api_key: Option<String>,
    pub(crate) max_concurrency: usize,
    pub(crate) shadow: bool,
    pub(crate) cache_entries: usize,
    pub(crate) cache_ttl: Duration,
    pub(crate) breaker_failures: u32,
    pub(crate) breaker_cooldown: Duration,
}

impl std::fmt::Debug for GuardSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardSpec")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &self.url)
            .field("region", &self.region)
            .field("timeout", &self.timeout)
            .field("on_error", &self.on_error)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "…"))
            .finish_non_exhaustive()
    }
}

impl GuardSpec {
    /// A guard of `kind` at base URL `url` (as OpenAI clients take it, with `/v1` where the
    /// service has it), running in cloud region `region`. Defaults: 1 s timeout,
    /// `on_error = deny`, no API key, 32 calls in flight, 10 000 cached verdicts for 10 min, the
    /// circuit opening after 5 failures in a row for 10 s.
    pub fn new(name: &str, kind: GuardKind, url: &str, region: &str) -> Self {
        GuardSpec {
            name: Arc::from(name),
            kind,
            url: url.to_owned(),
            region: Arc::from(region),
            timeout: DEFAULT_TIMEOUT,
            on_error: OnError::Deny,
            model: None,
            api_key: None,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            shadow: false,
            cache_entries: DEFAULT_CACHE_ENTRIES,
            cache_ttl: DEFAULT_CACHE_TTL,
            breaker_failures: DEFAULT_BREAKER_FAILURES,
            breaker_cooldown: DEFAULT_BREAKER_COOLDOWN,
        }
    }

    /// The guard's name (`guard:<name>` in records).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The guard's kind.
    pub fn kind(&self) -> GuardKind {
        self.kind
    }

    /// The region the guard runs in.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Time the guard has to answer, waiting for a free slot included.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// What a guard that is not heard means (default: deny).
    pub fn on_error(mut self, on_error: OnError) -> Self {
        self.on_error = on_error;
        self
    }

    /// The model to ask for (required by `llama-guard`; optional for `openai-moderation` and
    /// `webhook`; `azure-prompt-shields` takes none).
    pub fn model(mut self, model: &str) -> Self {
        self.model = Some(model.to_owned());
        self
    }

    /// The API key: sent as `Authorization: Bearer …`, or as `Ocp-Apim-Subscription-Key` to
    /// Azure. Never logged.
    pub fn api_key(mut self, key: &str) -> Self {
        self.api_key = Some(key.to_owned());
        self
    }

    /// Most calls in flight at once (default 32); more wait for a slot within the timeout.
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.max_concurrency = n;
        self
    }

    /// Shadow mode: a flag is recorded as a would-be denial (`shadow = true`) and not enforced,
    /// and a guard that is not heard never refuses.
    pub fn shadow(mut self, shadow: bool) -> Self {
        self.shadow = shadow;
        self
    }

    /// Verdicts kept (0: no cache) and how long each is trusted.
    pub fn cache(mut self, entries: usize, ttl: Duration) -> Self {
        self.cache_entries = entries;
        self.cache_ttl = ttl;
        self
    }

    /// Failures in a row that open the circuit, and how long it stays open before one call
    /// probes the guard again. While open, the guard is not asked (`on_error` applies at once).
    pub fn breaker(mut self, failures: u32, cooldown: Duration) -> Self {
        self.breaker_failures = failures;
        self.breaker_cooldown = cooldown;
        self
    }

    /// Check the values; the parsed request URL (base URL plus the kind's path).
    pub(crate) fn validate(&self) -> Result<Uri, GuardConfigError> {
        let name = &*self.name;
        let err = |key, reason: String| GuardConfigError::new(name, key, reason);
        let name_ok = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !name_ok {
            return Err(err(
                "name",
                "1 to 64 characters of A-Z a-z 0-9 - _ . (it is recorded as `guard:<name>`)".into(),
            ));
        }
        if self.region.is_empty() {
            return Err(err(
                "region",
                "required: a guard is a sub-processor, and region-pinned tenants are only sent to guards in their region set".into(),
            ));
        }
        if self.timeout.is_zero() {
            return Err(err("timeout_ms", "must be at least 1".into()));
        }
        if self.max_concurrency == 0 {
            return Err(err("max_concurrency", "must be at least 1".into()));
        }
        if self.breaker_failures == 0 {
            return Err(err("breaker_failures", "must be at least 1".into()));
        }
        match (self.kind, &self.model) {
            (GuardKind::LlamaGuard, None) => {
                return Err(err(
                    "model",
                    "required for kind `llama-guard`: the model the chat endpoint serves (e.g. `llama-guard-3-8b`)".into(),
                ));
            }
            (GuardKind::AzurePromptShields, Some(_)) => {
                return Err(err(
                    "model",
                    "kind `azure-prompt-shields` takes no model".into(),
                ));
            }
            _ => {}
        }
        if let Some(key) = &self.api_key
            && http::HeaderValue::from_str(key).is_err()
        {
            return Err(err(
                "api_key_env",
                "the API key is not a valid header value".into(),
            ));
        }
        request_uri(self.kind, &self.url).map_err(|r| err("url", r))
    }
}

/// The request URL of a `kind` guard at base URL `base`.
fn request_uri(kind: GuardKind, base: &str) -> Result<Uri, String> {
    let uri: Uri = base
        .parse()
        .map_err(|e| format!("`{base}` is not a URL: {e}"))?;
    match uri.scheme() {
        Some(s) if *s == Scheme::HTTP => {}
        Some(s) if *s == Scheme::HTTPS => {
            return Err(format!(
                "`{base}`: only http:// guards are supported; terminate TLS in a sidecar (as for upstreams)"
            ));
        }
        _ => return Err(format!("`{base}` is not an http:// URL")),
    }
    if uri.authority().is_none_or(|a| a.host().is_empty()) {
        return Err(format!("`{base}` has no host"));
    }
    if uri.query().is_some() {
        return Err(format!("`{base}` may not have a query"));
    }
    let full = format!("{}{}", base.trim_end_matches('/'), kind.path());
    full.parse()
        .map_err(|e| format!("`{full}` is not a URL: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_urls_append_the_kinds_path() {
        let cases = [
            (
                GuardKind::OpenaiModeration,
                "http://h:1/v1",
                "http://h:1/v1/moderations",
            ),
            (
                GuardKind::LlamaGuard,
                "http://h:1/v1/",
                "http://h:1/v1/chat/completions",
            ),
            (
                GuardKind::AzurePromptShields,
                "http://h:1",
                "http://h:1/contentsafety/text:shieldPrompt?api-version=2024-09-01",
            ),
            (
                GuardKind::Webhook,
                "http://h:1/hooks/guard",
                "http://h:1/hooks/guard",
            ),
        ];
        for (kind, base, want) in cases {
            assert_eq!(request_uri(kind, base).unwrap().to_string(), want);
        }
    }

    #[test]
    fn bad_values_name_their_key() {
        let ok = GuardSpec::new(
            "g",
            GuardKind::Webhook,
            "http://127.0.0.1:1/x",
            "eu-central-1",
        );
        assert!(ok.validate().is_ok());
        let key = |s: GuardSpec| s.validate().unwrap_err().key;
        assert_eq!(
            key(GuardSpec::new("a b", GuardKind::Webhook, "http://h", "r")),
            "name"
        );
        assert_eq!(
            key(GuardSpec::new("g", GuardKind::Webhook, "https://h", "r")),
            "url"
        );
        assert_eq!(
            key(GuardSpec::new("g", GuardKind::Webhook, "h:80", "r")),
            "url"
        );
        assert_eq!(
            key(GuardSpec::new(
                "g",
                GuardKind::Webhook,
                "http://h/?a=b",
                "r"
            )),
            "url"
        );
        assert_eq!(
            key(GuardSpec::new("g", GuardKind::LlamaGuard, "http://h", "r")),
            "model"
        );
        assert_eq!(
            key(GuardSpec::new("g", GuardKind::AzurePromptShields, "http://h", "r").model("m")),
            "model"
        );
        assert_eq!(key(ok.clone().timeout(Duration::ZERO)), "timeout_ms");
        assert_eq!(
            key(GuardSpec::new("g", GuardKind::Webhook, "http://h", "")),
            "region"
        );
        let https = GuardSpec::new("g", GuardKind::Webhook, "https://h", "r").validate();
        assert!(https.unwrap_err().to_string().contains("sidecar"));
    }
}
