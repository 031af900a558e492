use std::fmt;

use http::HeaderMap;
use http::request::Parts;

/// What kind of data a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DataClass {
    /// Customer data (the default when undeclared).
    #[default]
    Customer,
    /// Public data.
    Public,
    /// Synthetic data.
    Synthetic,
}

impl DataClass {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            DataClass::Customer => "customer",
            DataClass::Public => "public",
            DataClass::Synthetic => "synthetic",
        }
    }

    /// Parse a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "customer" => Some(DataClass::Customer),
            "public" => Some(DataClass::Public),
            "synthetic" => Some(DataClass::Synthetic),
            _ => None,
        }
    }
}

impl fmt::Display for DataClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who asks, for what, with what data: the engine's view of a request. Build one with
/// [`RequestContext::for_tenant`] (or `default()`) and set the fields that apply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestContext {
    /// The tenant id, as set by a trusted hop.
    pub tenant: Option<String>,
    /// The end user, raw. Pseudonymised before it reaches any record; never logged.
    pub user: Option<String>,
    /// The declared purpose.
    pub purpose: Option<String>,
    /// The declared data class.
    pub data_class: DataClass,
    /// Purposes for which explicit consent was obtained.
    pub consent: Vec<String>,
    /// A human reviews the output before it takes effect.
    pub human_oversight: bool,
    /// W3C trace id from `traceparent`, if any.
    pub trace_id: Option<String>,
}

impl RequestContext {
    /// The context of a request from `tenant` that declares nothing else.
    #[must_use]
    pub fn for_tenant(tenant: impl Into<String>) -> Self {
        RequestContext {
            tenant: Some(tenant.into()),
            ..Self::default()
        }
    }

    /// Whether consent was declared for `purpose`.
    pub fn has_consent_for(&self, purpose: &str) -> bool {
        self.consent.iter().any(|c| c == purpose)
    }
}

/// What kind of failure a [`ResolveError`] is, which decides the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ResolveErrorKind {
    /// The request cannot be read: `malformed-request` (400).
    #[default]
    Malformed,
    /// The caller's credentials cannot be verified (expired, wrongly signed, for another
    /// audience, …): `unauthenticated` (401), challenge `Bearer error="invalid_token"`.
    Unauthenticated,
    /// The request carries no credentials at all: `unauthenticated` (401), with a bare
    /// `Bearer` challenge (RFC 6750 §3.1: no error code when no credentials were sent).
    MissingCredentials,
}

/// Why a request's context could not be read. Answered with `malformed-request` (400), or with
/// `unauthenticated` (401) when [`ResolveError::kind`] says so.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("header `{header}`: {reason}")]
pub struct ResolveError {
    /// The header (or claim) at fault.
    pub header: String,
    /// Why.
    pub reason: String,
    /// Malformed or unauthenticated.
    pub kind: ResolveErrorKind,
}

impl ResolveError {
    /// A malformed header: answered with `malformed-request` (400).
    pub fn malformed(header: impl Into<String>, reason: impl Into<String>) -> Self {
        ResolveError {
            header: header.into(),
            reason: reason.into(),
            kind: ResolveErrorKind::Malformed,
        }
    }

    /// Missing or unverifiable credentials: answered with `unauthenticated` (401).
    pub fn unauthenticated(header: impl Into<String>, reason: impl Into<String>) -> Self {
        ResolveError {
            header: header.into(),
            reason: reason.into(),
            kind: ResolveErrorKind::Unauthenticated,
        }
    }

    /// Whether the answer is `unauthenticated` rather than `malformed-request`.
    pub fn is_unauthenticated(&self) -> bool {
        matches!(
            self.kind,
            ResolveErrorKind::Unauthenticated | ResolveErrorKind::MissingCredentials
        )
    }
}

/// Reads a [`RequestContext`] from request parts.
pub trait ContextResolver: Send + Sync + 'static {
    /// Resolve the context. Errors are answered with `malformed-request`, or with
    /// `unauthenticated` when their kind is [`ResolveErrorKind::Unauthenticated`].
    fn resolve(&self, parts: &Parts) -> Result<RequestContext, ResolveError>;

    /// Remove what the service behind the layer must not see, after a successful
    /// [`ContextResolver::resolve`] and before the request is forwarded. The default does
    /// nothing; `JwtResolver` (feature `jwt`) removes the client-supplied identity headers.
    fn strip(&self, parts: &mut http::request::Parts) {
        let _ = parts;
    }
}

/// Header names read by [`HeaderResolver`].
#[derive(Debug, Clone)]
pub struct HeaderNames {
    /// Tenant id header.
    pub tenant: http::HeaderName,
    /// End-user id header.
    pub user: http::HeaderName,
    /// Declared purpose header.
    pub purpose: http::HeaderName,
    /// Data class header.
    pub data_class: http::HeaderName,
    /// Consent list header.
    pub consent: http::HeaderName,
    /// Human-oversight attestation header.
    pub human_oversight: http::HeaderName,
}

impl Default for HeaderNames {
    fn default() -> Self {
        HeaderNames {
            tenant: http::HeaderName::from_static("x-tenant-id"),
            user: http::HeaderName::from_static("x-user-id"),
            purpose: http::HeaderName::from_static("x-ai-purpose"),
            data_class: http::HeaderName::from_static("x-data-class"),
            consent: http::HeaderName::from_static("x-ai-consent"),
            human_oversight: http::HeaderName::from_static("x-human-oversight"),
        }
    }
}

/// The default resolver: reads `x-tenant-id`, `x-user-id`, `x-ai-purpose`, `x-data-class`,
/// `x-ai-consent` and `x-human-oversight` (names configurable with [`HeaderNames`]).
#[derive(Debug, Clone, Default)]
pub struct HeaderResolver {
    names: HeaderNames,
}

impl HeaderResolver {
    /// A resolver reading custom header names.
    pub fn with_names(names: HeaderNames) -> Self {
        HeaderResolver { names }
    }

    /// The header names read.
    pub fn names(&self) -> &HeaderNames {
        &self.names
    }
}

fn single<'a>(
    headers: &'a HeaderMap,
    name: &http::HeaderName,
) -> Result<Option<&'a str>, ResolveError> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    let err = |reason: &str| ResolveError::malformed(name.as_str(), reason);
    if values.next().is_some() {
        return Err(err("sent more than once"));
    }
    let s = first.to_str().map_err(|_| err("not visible ASCII"))?.trim();
    if s.is_empty() {
        return Err(err("empty"));
    }
    Ok(Some(s))
}

/// Ids (tenant, purpose, consent) are short tokens: this keeps arbitrary text out of decision
/// records. The grammar is the tenant id's, defined once in `crate::tenants`.
pub(crate) fn id_token(name: &str, s: &str) -> Result<String, ResolveError> {
    if crate::tenants::is_id_token(s) {
        Ok(s.to_owned())
    } else {
        Err(ResolveError::malformed(
            name,
            crate::tenants::tenant_id_grammar(),
        ))
    }
}

/// The trace id of a W3C `traceparent` header (`00-<32 hex>-<16 hex>-<2 hex>`).
pub(crate) fn trace_id_of(headers: &HeaderMap) -> Option<String> {
    let v = headers.get("traceparent")?.to_str().ok()?;
    let mut parts = v.split('-');
    let _version = parts.next()?;
    let trace = parts.next()?;
    let ok = trace.len() == 32
        && trace.bytes().all(|b| b.is_ascii_hexdigit())
        && trace.bytes().any(|b| b != b'0');
    ok.then(|| trace.to_ascii_lowercase())
}

impl HeaderResolver {
    /// Everything but the identity: purpose, data class, consent, human oversight and the
    /// trace id, from the headers. `tenant` and `user` are left `None`. Resolvers that take the
    /// identity from elsewhere (e.g. `JwtResolver`) share this parsing.
    pub fn resolve_declared(&self, parts: &Parts) -> Result<RequestContext, ResolveError> {
        let h = &parts.headers;
        let n = &self.names;
        let purpose = single(h, &n.purpose)?
            .map(|s| id_token(n.purpose.as_str(), &s.to_ascii_lowercase()))
            .transpose()?;
        let data_class = match single(h, &n.data_class)? {
            None => DataClass::Customer,
            Some(s) => DataClass::parse(&s.to_ascii_lowercase()).ok_or_else(|| {
                ResolveError::malformed(
                    n.data_class.as_str(),
                    "must be one of customer, public, synthetic",
                )
            })?,
        };
        let mut consent = Vec::new();
        for value in h.get_all(&n.consent) {
            let s = value
                .to_str()
                .map_err(|_| ResolveError::malformed(n.consent.as_str(), "not visible ASCII"))?;
            for item in s.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                consent.push(id_token(n.consent.as_str(), &item.to_ascii_lowercase())?);
            }
        }
        let human_oversight = match single(h, &n.human_oversight)? {
            None => false,
            Some(s) if s.eq_ignore_ascii_case("attested") => true,
            Some(_) => {
                return Err(ResolveError::malformed(
                    n.human_oversight.as_str(),
                    "the only accepted value is `attested`",
                ));
            }
        };
        Ok(RequestContext {
            tenant: None,
            user: None,
            purpose,
            data_class,
            consent,
            human_oversight,
            trace_id: trace_id_of(h),
        })
    }
}

impl ContextResolver for HeaderResolver {
    fn resolve(&self, parts: &Parts) -> Result<RequestContext, ResolveError> {
        let h = &parts.headers;
        let n = &self.names;
        let tenant = single(h, &n.tenant)?
            .map(|s| id_token(n.tenant.as_str(), s))
            .transpose()?;
        let user = single(h, &n.user)?.map(str::to_owned);
        Ok(RequestContext {
            tenant,
            user,
            ..self.resolve_declared(parts)?
        })
    }
}
