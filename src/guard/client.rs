//! Asking the guards: [`GuardSet`] holds the configured guards and one HTTP client (hyper-util's
//! pooled client, as the gateway's proxy uses; plain HTTP, TLS in a sidecar). Each guard call is
//! bounded by the guard's timeout (waiting for a slot included), its concurrency limit and its
//! circuit breaker, and is skipped when a cached verdict for the same request body exists.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderName};
use http::{HeaderValue, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sha2::{Digest, Sha256};

use super::breaker::Breaker;
use super::cache::VerdictCache;
use super::spec::{GuardConfigError, GuardKind, GuardSpec, OnError};
use super::wire::{self, GuardInput, GuardVerdict};
use crate::policy::CompiledPolicy;
use crate::scan::ScanText;

/// The most bytes of a guard's answer read; a longer answer is malformed.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// Why a guard gave no verdict. The text never says what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GuardError {
    /// The tenant is pinned to a region set the guard runs outside of: it was not sent the text.
    #[error("may not be asked: it runs in `{region}`, outside the tenant's region set `{set}`")]
    NotAllowed {
        /// The guard's region.
        region: Arc<str>,
        /// The tenant's region set.
        set: String,
    },
    /// The circuit is open after failures in a row; it was not asked.
    #[error("not asked: its circuit is open after repeated failures")]
    CircuitOpen,
    /// No answer within the timeout (milliseconds).
    #[error("timed out after {0} ms")]
    Timeout(u64),
    /// No connection, or the connection failed.
    #[error("cannot be reached: {0}")]
    Unreachable(String),
    /// A non-2xx answer.
    #[error("answered HTTP {0}")]
    Status(u16),
    /// An answer that is not the service's format.
    #[error("gave an unreadable answer: {0}")]
    Malformed(String),
}

/// One guard's part in a request's decision.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GuardReport {
    /// The guard's name.
    pub name: Arc<str>,
    /// What a missing verdict means.
    pub on_error: OnError,
    /// Whether the guard is in shadow mode.
    pub shadow: bool,
    /// The verdict, or why there is none.
    pub result: Result<GuardVerdict, GuardError>,
    /// The verdict came from the cache (no call was made).
    pub cached: bool,
    /// Time spent on this guard.
    pub elapsed: Duration,
}

struct Guard {
    spec: GuardSpec,
    uri: Uri,
    key: Option<(HeaderName, HeaderValue)>,
    cache: VerdictCache,
    breaker: Breaker,
    slots: tokio::sync::Semaphore,
}

/// The configured guards and the HTTP client they share. Cheap to clone.
#[derive(Clone)]
pub struct GuardSet {
    guards: Vec<Arc<Guard>>,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl std::fmt::Debug for GuardSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.guards.iter().map(|g| &g.spec))
            .finish()
    }
}

impl Default for GuardSet {
    fn default() -> Self {
        Self::new()
    }
}

impl GuardSet {
    /// No guards yet.
    pub fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.enforce_http(true);
        GuardSet {
            guards: Vec::new(),
            client: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(30))
                .build(connector),
        }
    }

    /// Add a guard, checking its values; names are unique.
    pub fn add(&mut self, spec: GuardSpec) -> Result<(), GuardConfigError> {
        let uri = spec.validate()?;
        if self.guards.iter().any(|g| g.spec.name == spec.name) {
            return Err(GuardConfigError::new(
                &spec.name,
                "name",
                "names an earlier guard too; names are unique",
            ));
        }
        let key = spec.api_key.as_deref().and_then(|k| {
            let (name, value) = match spec.kind {
                GuardKind::AzurePromptShields => (
                    HeaderName::from_static("ocp-apim-subscription-key"),
                    HeaderValue::from_str(k).ok()?,
                ),
                _ => (
                    AUTHORIZATION,
                    HeaderValue::from_str(&format!("Bearer {k}")).ok()?,
                ),
            };
            let mut value = value;
            value.set_sensitive(true);
            Some((name, value))
        });
        let guard = Guard {
            uri,
            key,
            cache: VerdictCache::new(spec.cache_entries, spec.cache_ttl),
            breaker: Breaker::new(
                spec.breaker_failures,
                spec.breaker_cooldown,
                spec.timeout.saturating_mul(2),
            ),
            slots: tokio::sync::Semaphore::new(spec.max_concurrency),
            spec,
        };
        self.guards.push(Arc::new(guard));
        Ok(())
    }

    /// Whether there are no guards.
    pub fn is_empty(&self) -> bool {
        self.guards.is_empty()
    }

    /// The guards' names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.guards.iter().map(|g| &*g.spec.name)
    }

    /// Ask every guard about `text`, all at once; one report per guard, in configuration
    /// order. `pinned` is the tenant's region set, if it is pinned: a guard whose region is
    /// outside it is not sent the text. A guard with nothing to ask about (no text it takes)
    /// reports `Clean` without a call.
    pub async fn ask(
        &self,
        text: &ScanText,
        pinned: Option<&str>,
        policy: &CompiledPolicy,
    ) -> Vec<GuardReport> {
        let input = GuardInput::from_text(text);
        let calls = self
            .guards
            .iter()
            .map(|g| g.ask(&self.client, &input, pinned, policy));
        futures_util::future::join_all(calls).await
    }
}

impl Guard {
    async fn ask(
        &self,
        client: &Client<HttpConnector, Full<Bytes>>,
        input: &GuardInput<'_>,
        pinned: Option<&str>,
        policy: &CompiledPolicy,
    ) -> GuardReport {
        let started = Instant::now();
        let (result, cached) = self.verdict(client, input, pinned, policy).await;
        let elapsed = started.elapsed();
        tracing::debug!(
            guard = %self.spec.name,
            cached,
            elapsed_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            outcome = match &result {
                Ok(GuardVerdict::Clean) => "clean",
                Ok(GuardVerdict::Flagged(_)) => "flagged",
                Err(_) => "not heard",
            },
            "guard"
        );
        if let Err(e) = &result
            && !matches!(e, GuardError::NotAllowed { .. })
        {
            tracing::warn!(guard = %self.spec.name, error = %e, "guard not heard");
        }
        GuardReport {
            name: self.spec.name.clone(),
            on_error: self.spec.on_error,
            shadow: self.spec.shadow,
            result,
            cached,
            elapsed,
        }
    }

    async fn verdict(
        &self,
        client: &Client<HttpConnector, Full<Bytes>>,
        input: &GuardInput<'_>,
        pinned: Option<&str>,
        policy: &CompiledPolicy,
    ) -> (Result<GuardVerdict, GuardError>, bool) {
        if let Some(set) = pinned
            && policy.region_set_of(&self.spec.region).map(|s| &**s) != Some(set)
        {
            let e = GuardError::NotAllowed {
                region: self.spec.region.clone(),
                set: set.to_owned(),
            };
            return (Err(e), false);
        }
        let Some(body) = wire::request_body(self.spec.kind, self.spec.model.as_deref(), input)
        else {
            return (Ok(GuardVerdict::Clean), false);
        };
        let key: [u8; 32] = Sha256::digest(&body).into();
        if let Some(v) = self.cache.get(&key) {
            return (Ok(v), true);
        }
        if !self.breaker.admit() {
            return (Err(GuardError::CircuitOpen), false);
        }
        let timeout = self.spec.timeout;
        let result = match tokio::time::timeout(timeout, self.call(client, body)).await {
            Ok(r) => r,
            Err(_) => Err(GuardError::Timeout(
                u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            )),
        };
        match &result {
            Ok(v) => {
                self.breaker.success();
                self.cache.put(key, v.clone());
            }
            Err(_) => self.breaker.failure(),
        }
        (result, false)
    }

    async fn call(
        &self,
        client: &Client<HttpConnector, Full<Bytes>>,
        body: Vec<u8>,
    ) -> Result<GuardVerdict, GuardError> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| GuardError::Unreachable("the guard is shutting down".into()))?;
        let mut req = Request::post(self.uri.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json");
        if let Some((name, value)) = &self.key {
            req = req.header(name, value);
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| GuardError::Unreachable(e.to_string()))?;
        let resp = client
            .request(req)
            .await
            .map_err(|e| GuardError::Unreachable(error_chain(&e)))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(GuardError::Status(status.as_u16()));
        }
        let bytes = Limited::new(resp.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| GuardError::Malformed(format!("the answer could not be read ({e})")))?
            .to_bytes();
        wire::parse_response(self.spec.kind, &bytes).map_err(GuardError::Malformed)
    }
}

/// An error and its sources, one line (connect errors hide the cause in the source).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
