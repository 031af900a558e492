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

/// Who asks, for what, with what data: the engine's view of a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
    /// Whether consent was declared for `purpose`.
    pub fn has_consent_for(&self, purpose: &str) -> bool {
        self.consent.iter().any(|c| c == purpose)
    }
}

/// A request whose context cannot be read. Maps to `malformed-request` (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("header `{header}`: {reason}")]
pub struct ResolveError {
    /// The header (or claim) at fault.
    pub header: String,
    /// Why.
    pub reason: String,
}

/// Reads a [`RequestContext`] from request parts.
pub trait ContextResolver: Send + Sync + 'static {
    /// Resolve the context. Errors are answered with `malformed-request`.
    fn resolve(&self, parts: &Parts) -> Result<RequestContext, ResolveError>;
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

/// The default resolver: reads the DESIGN.md headers.
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

const MAX_ID_LEN: usize = 128;

fn single<'a>(
    headers: &'a HeaderMap,
    name: &http::HeaderName,
) -> Result<Option<&'a str>, ResolveError> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    let err = |reason: &str| ResolveError {
        header: name.as_str().to_owned(),
        reason: reason.to_owned(),
    };
    if values.next().is_some() {
        return Err(err("sent more than once"));
    }
    let s = first.to_str().map_err(|_| err("not visible ASCII"))?.trim();
    if s.is_empty() {
        return Err(err("empty"));
    }
    Ok(Some(s))
}

/// Ids (tenant, purpose) are short tokens: this keeps arbitrary text out of decision records.
fn id_token(name: &http::HeaderName, s: &str) -> Result<String, ResolveError> {
    let ok = s.len() <= MAX_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    if ok {
        Ok(s.to_owned())
    } else {
        Err(ResolveError {
            header: name.as_str().to_owned(),
            reason: format!("must be 1-{MAX_ID_LEN} characters of A-Z a-z 0-9 - _ . :"),
        })
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

impl ContextResolver for HeaderResolver {
    fn resolve(&self, parts: &Parts) -> Result<RequestContext, ResolveError> {
        let h = &parts.headers;
        let n = &self.names;
        let tenant = single(h, &n.tenant)?
            .map(|s| id_token(&n.tenant, s))
            .transpose()?;
        let user = single(h, &n.user)?.map(str::to_owned);
        let purpose = single(h, &n.purpose)?
            .map(|s| id_token(&n.purpose, &s.to_ascii_lowercase()))
            .transpose()?;
        let data_class = match single(h, &n.data_class)? {
            None => DataClass::Customer,
            Some(s) => DataClass::parse(&s.to_ascii_lowercase()).ok_or_else(|| ResolveError {
                header: n.data_class.as_str().to_owned(),
                reason: "must be one of customer, public, synthetic".to_owned(),
            })?,
        };
        let mut consent = Vec::new();
        for value in h.get_all(&n.consent) {
            let s = value.to_str().map_err(|_| ResolveError {
                header: n.consent.as_str().to_owned(),
                reason: "not visible ASCII".to_owned(),
            })?;
            for item in s.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                consent.push(id_token(&n.consent, &item.to_ascii_lowercase())?);
            }
        }
        let human_oversight = match single(h, &n.human_oversight)? {
            None => false,
            Some(s) if s.eq_ignore_ascii_case("attested") => true,
            Some(_) => {
                return Err(ResolveError {
                    header: n.human_oversight.as_str().to_owned(),
                    reason: "the only accepted value is `attested`".to_owned(),
                });
            }
        };
        Ok(RequestContext {
            tenant,
            user,
            purpose,
            data_class,
            consent,
            human_oversight,
            trace_id: trace_id_of(h),
        })
    }
}
