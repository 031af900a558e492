//! `[identity]`: where the gateway takes the tenant and the user from.

use std::path::{Path, PathBuf};
#[cfg(feature = "jwt")]
use std::time::Duration;

use serde::Deserialize;

use super::config::GatewayConfigError;
#[cfg(feature = "jwt")]
use crate::context::{JwtAlgorithm, JwtKey, JwtResolver};

/// Where the tenant and the user come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentityMode {
    /// The plain `x-tenant-id` / `x-user-id` headers, set by a trusted hop in front (default).
    #[default]
    Headers,
    /// A verified JWT in `Authorization: Bearer …`; the plain identity headers are ignored and
    /// stripped before forwarding.
    Jwt,
}

/// `[identity]`.
///
/// ```toml
/// [identity]
/// mode = "jwt"                          # "headers" (default) or "jwt"
/// issuer = "https://auth.example.com/"  # `iss` must equal this
/// audience = "raigate"                  # `aud` must contain this
/// algorithm = "RS256"                   # HS256, RS256 or ES256; the only one accepted
/// public_key_file = "keys/jwt.pem"      # RS256 / ES256: PEM public key
/// # secret_file = "keys/jwt.secret"     # HS256: the shared secret (>= 32 bytes)
/// tenant_claim = "tenant_id"            # the claim holding the tenant id (default tenant_id)
/// leeway_seconds = 30                   # clock skew allowed for exp / nbf (default 30)
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct IdentitySection {
    /// `headers` (default) or `jwt`.
    #[serde(default)]
    pub mode: IdentityMode,
    /// Required `iss`.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Required `aud`.
    #[serde(default)]
    pub audience: Option<String>,
    /// `HS256`, `RS256` or `ES256`.
    #[serde(default)]
    pub algorithm: Option<String>,
    /// HS256 shared secret (trailing line breaks are ignored).
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// RS256 / ES256 public key, PEM.
    #[serde(default)]
    pub public_key_file: Option<PathBuf>,
    /// Claim holding the tenant id (default `tenant_id`).
    #[serde(default)]
    pub tenant_claim: Option<String>,
    /// Leeway for `exp` and `nbf` in seconds (default 30).
    #[serde(default)]
    pub leeway_seconds: Option<u64>,
}

impl IdentitySection {
    /// Resolve relative key paths against `base` (the config file's directory).
    pub(crate) fn resolve_paths(&mut self, base: &Path) {
        for p in [&mut self.secret_file, &mut self.public_key_file]
            .into_iter()
            .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }

    /// Without the `jwt` feature, `mode = "jwt"` is refused naming the key.
    #[cfg(not(feature = "jwt"))]
    pub(crate) fn check_without_jwt(&self, file: &Path) -> Result<(), GatewayConfigError> {
        if self.mode == IdentityMode::Jwt {
            return Err(GatewayConfigError::Invalid {
                file: file.to_path_buf(),
                key: "identity.mode".to_owned(),
                reason: "this build has no JWT identity (the `jwt` feature)".to_owned(),
            });
        }
        Ok(())
    }

    /// The JWT resolver this section asks for, or `None` in `headers` mode. Every problem
    /// names its key.
    #[cfg(feature = "jwt")]
    pub fn jwt_resolver(&self, file: &Path) -> Result<Option<JwtResolver>, GatewayConfigError> {
        let invalid = |key: &str, reason: String| GatewayConfigError::Invalid {
            file: file.to_path_buf(),
            key: format!("identity.{key}"),
            reason,
        };
        if self.mode == IdentityMode::Headers {
            let set = [
                ("issuer", self.issuer.is_some()),
                ("audience", self.audience.is_some()),
                ("algorithm", self.algorithm.is_some()),
                ("secret_file", self.secret_file.is_some()),
                ("public_key_file", self.public_key_file.is_some()),
                ("tenant_claim", self.tenant_claim.is_some()),
                ("leeway_seconds", self.leeway_seconds.is_some()),
            ];
            if let Some((key, _)) = set.iter().find(|(_, is_set)| *is_set) {
                return Err(invalid(
                    key,
                    "only used with mode = \"jwt\" (the mode is \"headers\")".to_owned(),
                ));
            }
            return Ok(None);
        }
        let required = |key: &str, v: &Option<String>| match v.as_deref().map(str::trim) {
            Some(s) if !s.is_empty() => Ok(s.to_owned()),
            _ => Err(invalid(key, "required with mode = \"jwt\"".to_owned())),
        };
        let issuer = required("issuer", &self.issuer)?;
        let audience = required("audience", &self.audience)?;
        let name = required("algorithm", &self.algorithm)?;
        let algorithm = JwtAlgorithm::parse(&name).ok_or_else(|| {
            invalid(
                "algorithm",
                format!("`{name}` is not one of HS256, RS256, ES256"),
            )
        })?;
        let read = |key: &str, path: &Path| {
            std::fs::read(path)
                .map_err(|e| invalid(key, format!("cannot read {}: {e}", path.display())))
        };
        let key = match (algorithm, &self.secret_file, &self.public_key_file) {
            (JwtAlgorithm::Hs256, _, Some(_)) => {
                return Err(invalid(
                    "public_key_file",
                    "HS256 uses secret_file, not a public key".to_owned(),
                ));
            }
            (JwtAlgorithm::Hs256, None, None) => {
                return Err(invalid(
                    "secret_file",
                    "required with algorithm = \"HS256\"".to_owned(),
                ));
            }
            (JwtAlgorithm::Hs256, Some(path), None) => {
                let mut secret = read("secret_file", path)?;
                while secret.last().is_some_and(|b| matches!(b, b'\n' | b'\r')) {
                    secret.pop();
                }
                JwtKey::hs256(&secret)
                    .map_err(|e| invalid("secret_file", format!("{}: {e}", path.display())))?
            }
            (_, Some(_), _) => {
                return Err(invalid(
                    "secret_file",
                    format!("{algorithm} uses public_key_file, not a shared secret"),
                ));
            }
            (_, None, None) => {
                return Err(invalid(
                    "public_key_file",
                    format!("required with algorithm = \"{algorithm}\""),
                ));
            }
            (_, None, Some(path)) => {
                let pem = read("public_key_file", path)?;
                JwtKey::public_key_pem(algorithm, &pem)
                    .map_err(|e| invalid("public_key_file", format!("{}: {e}", path.display())))?
            }
        };
        let mut resolver = JwtResolver::new(key, &issuer, &audience);
        if let Some(claim) = &self.tenant_claim {
            if claim.trim().is_empty() {
                return Err(invalid("tenant_claim", "must not be empty".to_owned()));
            }
            resolver = resolver.tenant_claim(claim.trim());
        }
        if let Some(secs) = self.leeway_seconds {
            if secs > 300 {
                return Err(invalid(
                    "leeway_seconds",
                    format!("{secs} s is too lenient for expired tokens; at most 300"),
                ));
            }
            resolver = resolver.leeway(Duration::from_secs(secs));
        }
        Ok(Some(resolver))
    }
}
