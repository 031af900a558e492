use std::fmt;
use std::time::Duration;

use http::HeaderMap;
use http::request::Parts;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::resolver::{
    ContextResolver, HeaderNames, HeaderResolver, RequestContext, ResolveError, ResolveErrorKind,
    id_token,
};

/// The one signature algorithm a [`JwtResolver`] accepts. It is fixed by configuration, never
/// taken from the token's header, so a token cannot pick how it is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    /// HMAC with SHA-256 and a shared secret of at least 32 bytes.
    Hs256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 and an RSA public key.
    Rs256,
    /// ECDSA on P-256 with SHA-256 and an EC public key.
    Es256,
}

impl JwtAlgorithm {
    /// The JOSE name: `HS256`, `RS256` or `ES256`.
    pub fn as_str(self) -> &'static str {
        match self {
            JwtAlgorithm::Hs256 => "HS256",
            JwtAlgorithm::Rs256 => "RS256",
            JwtAlgorithm::Es256 => "ES256",
        }
    }

    /// Parse a JOSE name (exactly as written in RFC 7518: `HS256`, `RS256`, `ES256`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "HS256" => Some(JwtAlgorithm::Hs256),
            "RS256" => Some(JwtAlgorithm::Rs256),
            "ES256" => Some(JwtAlgorithm::Es256),
            _ => None,
        }
    }

    fn jose(self) -> Algorithm {
        match self {
            JwtAlgorithm::Hs256 => Algorithm::HS256,
            JwtAlgorithm::Rs256 => Algorithm::RS256,
            JwtAlgorithm::Es256 => Algorithm::ES256,
        }
    }
}

impl fmt::Display for JwtAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a JWT verification key could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtKeyError {
    /// An HS256 secret shorter than the 256 bits RFC 7518 §3.2 requires.
    #[error("an HS256 secret must be at least {MIN_SECRET_BYTES} bytes; this one has {0}")]
    SecretTooShort(usize),
    /// HS256 takes a shared secret, not a PEM public key.
    #[error("HS256 verifies with a shared secret, not a public key")]
    SecretExpected,
    /// The PEM text is not a public key for the algorithm.
    #[error("not a PEM public key for {algorithm}: {reason}")]
    BadPublicKey {
        /// The algorithm the key was meant for.
        algorithm: JwtAlgorithm,
        /// Why.
        reason: String,
    },
}

const MIN_SECRET_BYTES: usize = 32;
const MIN_RSA_BYTES: usize = 256;
/// Longest bearer token read; longer ones are refused before any parsing.
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The key tokens must be signed with, and with it the one algorithm accepted.
#[derive(Clone)]
pub struct JwtKey {
    algorithm: JwtAlgorithm,
    key: DecodingKey,
}

impl fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl JwtKey {
    /// An HS256 shared secret (at least 32 bytes).
    pub fn hs256(secret: &[u8]) -> Result<Self, JwtKeyError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(JwtKeyError::SecretTooShort(secret.len()));
        }
        Ok(JwtKey {
            algorithm: JwtAlgorithm::Hs256,
            key: DecodingKey::from_secret(secret)
                .map_err(|_| JwtKeyError::SecretTooShort(secret.len()))?,
        })
    }

    /// An RS256 public key in PEM (`BEGIN PUBLIC KEY` or `BEGIN RSA PUBLIC KEY`).
    pub fn rs256_pem(pem: &[u8]) -> Result<Self, JwtKeyError> {
        Self::public_key_pem(JwtAlgorithm::Rs256, pem)
    }

    /// An ES256 (P-256) public key in PEM (`BEGIN PUBLIC KEY`).
    pub fn es256_pem(pem: &[u8]) -> Result<Self, JwtKeyError> {
        Self::public_key_pem(JwtAlgorithm::Es256, pem)
    }

    /// A PEM public key for `algorithm` (RS256 or ES256), parsed and checked in full: an RSA
    /// key of at least 2048 bits, or a point on P-256. Private keys are refused: the verifier
    /// never needs one, and it should not sit on the gateway's disk.
    pub fn public_key_pem(algorithm: JwtAlgorithm, pem: &[u8]) -> Result<Self, JwtKeyError> {
        use p256::elliptic_curve::sec1::ToSec1Point as _;
        use p256::pkcs8::DecodePublicKey as _;
        use rsa::pkcs1::DecodeRsaPublicKey as _;
        use rsa::traits::PublicKeyParts as _;

        let bad = |reason: &str| JwtKeyError::BadPublicKey {
            algorithm,
            reason: reason.to_owned(),
        };
        let text = std::str::from_utf8(pem).map_err(|_| bad("the file is not PEM text"))?;
        let label = text
            .lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix("-----BEGIN ")?.strip_suffix("-----"))
            .ok_or_else(|| bad("no `-----BEGIN …-----` line"))?;
        let key = match (algorithm, label) {
            (JwtAlgorithm::Hs256, _) => return Err(JwtKeyError::SecretExpected),
            (_, l) if l.contains("PRIVATE") => {
                return Err(bad("this is a private key; give the public key"));
            }
            (JwtAlgorithm::Rs256, "PUBLIC KEY" | "RSA PUBLIC KEY") => {
                let key = if label == "PUBLIC KEY" {
                    rsa::PublicKey::from_public_key_pem(text).map_err(|e| e.to_string())
                } else {
                    rsa::PublicKey::from_pkcs1_pem(text).map_err(|e| e.to_string())
                }
                .map_err(|e| bad(&format!("not an RSA public key ({e})")))?;
                if key.size() < MIN_RSA_BYTES {
                    return Err(bad(&format!(
                        "an RSA key of {} bits is too weak; at least {} are needed",
                        key.size() * 8,
                        MIN_RSA_BYTES * 8
                    )));
                }
                // Big-endian, fixed width: leading zero bytes are not part of the number.
                let unpadded = |b: &[u8]| {
                    let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
                    b.get(first..).unwrap_or_default().to_vec()
                };
                DecodingKey::from_rsa_raw_components(
                    &unpadded(&key.n().to_be_bytes()),
                    &unpadded(&key.e().to_be_bytes()),
                )
            }
            (JwtAlgorithm::Es256, "PUBLIC KEY") => {
                let key = p256::PublicKey::from_public_key_pem(text)
                    .map_err(|e| bad(&format!("not a P-256 public key ({e})")))?;
                DecodingKey::from_ec_der(key.to_sec1_point(false).as_bytes())
            }
            (_, l) => return Err(bad(&format!("unexpected PEM block `{l}`"))),
        };
        Ok(JwtKey { algorithm, key })
    }

    /// The algorithm tokens must use.
    pub fn algorithm(&self) -> JwtAlgorithm {
        self.algorithm
    }
}

/// Takes the tenant and the user from a verified JWT bearer token, and everything else
/// (purpose, data class, consent, oversight) from the same headers as [`HeaderResolver`].
///
/// - The token comes from `Authorization: Bearer <jwt>`. Its signature must verify with the
///   configured key, under the configured algorithm only (the token's `alg` header must name
///   that algorithm; `none` and every other algorithm are refused). `iss` and `aud` must match,
///   `exp` must be present and in the future, and `nbf`, if present, in the past, each with a
///   leeway (default 30 s) for clock skew.
/// - The tenant is the string claim named by [`JwtResolver::tenant_claim`] (default
///   `tenant_id`), checked like the `x-tenant-id` header; the user is the `sub` claim (optional).
/// - A missing or invalid token is [`ResolveErrorKind::MissingCredentials`] or
///   [`ResolveErrorKind::Unauthenticated`]: the layer answers `unauthenticated` (401) with a
///   `WWW-Authenticate: Bearer` challenge, and nothing is forwarded.
/// - Client-sent identity headers (`x-tenant-id`, `x-user-id`, or the names set with
///   [`JwtResolver::header_names`]) are ignored, and [`ContextResolver::strip`] removes them
///   before the request is forwarded, so neither raigate nor the service behind it can be told
///   a different tenant than the token's. `Authorization` is forwarded unchanged, so the service
///   can verify the token itself.
///
/// ```
/// use raigate::context::{ContextResolver, JwtKey, JwtResolver};
///
/// let key = JwtKey::hs256(b"a shared secret of at least 32 bytes!!").unwrap();
/// let resolver = JwtResolver::new(key, "https://auth.example.com/", "raigate");
///
/// // A forged tenant header without a token is refused (401), not believed.
/// let req = http::Request::builder().header("x-tenant-id", "acme").body(()).unwrap();
/// let (parts, _) = req.into_parts();
/// let err = resolver.resolve(&parts).unwrap_err();
/// assert!(err.is_unauthenticated());
/// ```
#[derive(Debug, Clone)]
pub struct JwtResolver {
    key: JwtKey,
    validation: Validation,
    tenant_claim: String,
    headers: HeaderResolver,
}

impl JwtResolver {
    /// The claim holding the tenant id unless [`JwtResolver::tenant_claim`] says otherwise.
    pub const DEFAULT_TENANT_CLAIM: &'static str = "tenant_id";
    /// Clock-skew leeway for `exp` and `nbf` unless [`JwtResolver::leeway`] says otherwise.
    pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

    /// Accept tokens signed with `key`, issued by `issuer` for `audience`.
    pub fn new(key: JwtKey, issuer: &str, audience: &str) -> Self {
        let mut validation = Validation::new(key.algorithm.jose());
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.leeway = Self::DEFAULT_LEEWAY.as_secs();
        JwtResolver {
            key,
            validation,
            tenant_claim: Self::DEFAULT_TENANT_CLAIM.to_owned(),
            headers: HeaderResolver::default(),
        }
    }

    /// Read the tenant id from this claim.
    #[must_use]
    pub fn tenant_claim(mut self, claim: &str) -> Self {
        claim.clone_into(&mut self.tenant_claim);
        self
    }

    /// Leeway for `exp` and `nbf` (whole seconds).
    #[must_use]
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.validation.leeway = leeway.as_secs();
        self
    }

    /// Header names: the declared items are read from these, and the `tenant` and `user`
    /// headers are the ones ignored and stripped.
    #[must_use]
    pub fn header_names(mut self, names: HeaderNames) -> Self {
        self.headers = HeaderResolver::with_names(names);
        self
    }

    /// The algorithm tokens must use.
    pub fn algorithm(&self) -> JwtAlgorithm {
        self.key.algorithm
    }

    fn verify(&self, token: &str) -> Result<Map<String, Value>, ResolveError> {
        jsonwebtoken::decode::<Map<String, Value>>(token, &self.key.key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| unauthenticated(self.describe(e.kind())))
    }

    fn describe(&self, kind: &ErrorKind) -> String {
        match kind {
            ErrorKind::ExpiredSignature => "the token has expired".to_owned(),
            ErrorKind::ImmatureSignature => "the token is not valid yet (`nbf`)".to_owned(),
            ErrorKind::InvalidSignature => "the token's signature does not verify".to_owned(),
            ErrorKind::InvalidAudience => "the token is not meant for this audience".to_owned(),
            ErrorKind::InvalidIssuer => "the token is not from the trusted issuer".to_owned(),
            ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => format!(
                "the token is not signed with {}, the only accepted algorithm",
                self.key.algorithm
            ),
            ErrorKind::MissingRequiredClaim(c) => format!("the token has no `{c}` claim"),
            ErrorKind::InvalidClaimFormat(c) => format!("the token's `{c}` claim is malformed"),
            _ => format!(
                "the token is not a well-formed JWT signed with {}",
                self.key.algorithm
            ),
        }
    }
}

const AUTHORIZATION: &str = "authorization";

fn unauthenticated(reason: impl Into<String>) -> ResolveError {
    ResolveError::unauthenticated(AUTHORIZATION, reason)
}

/// The token of the one `Authorization: Bearer` header.
fn bearer(headers: &HeaderMap) -> Result<&str, ResolveError> {
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(ResolveError {
            header: AUTHORIZATION.to_owned(),
            reason: "no bearer token was given".to_owned(),
            kind: ResolveErrorKind::MissingCredentials,
        });
    };
    if values.next().is_some() {
        return Err(unauthenticated("sent more than once"));
    }
    let value = value
        .to_str()
        .map_err(|_| unauthenticated("not visible ASCII"))?;
    let token = value
        .trim()
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or_else(|| unauthenticated("the scheme must be `Bearer`"))?;
    let well_formed = !token.is_empty()
        && token.len() <= MAX_TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if well_formed {
        Ok(token)
    } else {
        Err(unauthenticated("the bearer token is not a compact JWT"))
    }
}

impl ContextResolver for JwtResolver {
    fn resolve(&self, parts: &Parts) -> Result<RequestContext, ResolveError> {
        // The token first: an unauthenticated caller learns nothing about its other headers.
        let claims = self.verify(bearer(&parts.headers)?)?;
        let claim = &self.tenant_claim;
        let tenant = match claims.get(claim) {
            Some(Value::String(s)) if !s.is_empty() => id_token(claim, s)
                .map_err(|e| unauthenticated(format!("claim `{claim}`: {}", e.reason)))?,
            Some(_) => {
                return Err(unauthenticated(format!(
                    "the token's `{claim}` claim is not a non-empty string"
                )));
            }
            None => return Err(unauthenticated(format!("the token has no `{claim}` claim"))),
        };
        let user = match claims.get("sub") {
            None => None,
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(_) => {
                return Err(unauthenticated(
                    "the token's `sub` claim is not a non-empty string",
                ));
            }
        };
        // Purpose, data class, consent and oversight: the same headers, the same parsing.
        Ok(RequestContext {
            tenant: Some(tenant),
            user,
            ..self.headers.resolve_declared(parts)?
        })
    }

    fn strip(&self, parts: &mut Parts) {
        let names = self.headers.names();
        parts.headers.remove(&names.tenant);
        parts.headers.remove(&names.user);
    }
}
