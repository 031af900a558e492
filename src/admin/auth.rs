use http::HeaderMap;
use sha2::{Digest, Sha256};

/// What a token may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Every tenant, read and write.
    Operator,
    /// One tenant, read and write; anything else is 403.
    TenantAdmin(String),
    /// Every tenant, read only.
    Compliance,
}

impl Role {
    /// `operator`, `tenant-admin` or `compliance`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::TenantAdmin(_) => "tenant-admin",
            Role::Compliance => "compliance",
        }
    }
}

/// A `[[admin.token]]` entry that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// `sha256` is not 64 hex digits.
    #[error("sha256 must be 64 hex digits (the sha-256 of the token), not the token itself")]
    BadHash,
    /// Unknown role.
    #[error("role `{0}` is none of operator, tenant-admin, compliance")]
    UnknownRole(String),
    /// A tenant-admin without a tenant.
    #[error("a tenant-admin token needs `tenant`")]
    MissingTenant,
    /// A tenant on a role that spans all tenants.
    #[error("only a tenant-admin token takes `tenant`")]
    UnexpectedTenant,
}

/// An admin bearer token, kept only as its sha-256.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken {
    hash: [u8; 32],
    role: Role,
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminToken")
            .field("id", &self.id())
            .field("role", &self.role)
            .finish()
    }
}

/// sha-256 of a token.
pub fn token_sha256(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl AdminToken {
    /// A token from its config entry: sha-256 hex, role name, tenant (tenant-admin only).
    pub fn from_config(
        sha256_hex: &str,
        role: &str,
        tenant: Option<&str>,
    ) -> Result<Self, TokenError> {
        let bytes = hex::decode(sha256_hex.trim()).map_err(|_| TokenError::BadHash)?;
        let hash: [u8; 32] = bytes.try_into().map_err(|_| TokenError::BadHash)?;
        let role = match (role, tenant) {
            ("operator", None) => Role::Operator,
            ("compliance", None) => Role::Compliance,
            ("tenant-admin", Some(t)) => Role::TenantAdmin(t.to_owned()),
            ("tenant-admin", None) => return Err(TokenError::MissingTenant),
            ("operator" | "compliance", Some(_)) => return Err(TokenError::UnexpectedTenant),
            (other, _) => return Err(TokenError::UnknownRole(other.to_owned())),
        };
        Ok(AdminToken { hash, role })
    }

    /// A token from its secret (hashed at once; the secret is not kept).
    pub fn from_secret(secret: &str, role: Role) -> Self {
        AdminToken {
            hash: token_sha256(secret),
            role,
        }
    }

    /// The token id written to records: the first 12 hex digits of its sha-256.
    pub fn id(&self) -> String {
        token_id(&self.hash)
    }

    /// The role.
    pub fn role(&self) -> &Role {
        &self.role
    }
}

fn token_id(hash: &[u8; 32]) -> String {
    let mut id = hex::encode(hash);
    id.truncate(12);
    id
}

/// Compare two hashes without an early exit.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b.iter()) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

/// Who is calling: an authenticated token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Token id (first 12 hex digits of the token's sha-256), never the token.
    pub token_id: String,
    /// The role.
    pub role: Role,
}

impl Principal {
    /// May read `tenant`.
    pub fn can_read(&self, tenant: &str) -> bool {
        match &self.role {
            Role::Operator | Role::Compliance => true,
            Role::TenantAdmin(t) => t == tenant,
        }
    }

    /// May change `tenant`.
    pub fn can_write(&self, tenant: &str) -> bool {
        match &self.role {
            Role::Operator => true,
            Role::Compliance => false,
            Role::TenantAdmin(t) => t == tenant,
        }
    }
}

/// Find the token in `Authorization: Bearer …` among `tokens`. Every token is compared (in
/// constant time) so the timing tells nothing about which one came close.
pub(crate) fn authenticate(tokens: &[AdminToken], headers: &HeaderMap) -> Option<Principal> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    if token.is_empty() {
        return None;
    }
    let hash = token_sha256(token);
    let mut found = None;
    for t in tokens {
        if constant_time_eq(&t.hash, &hash) && found.is_none() {
            found = Some(t);
        }
    }
    found.map(|t| Principal {
        token_id: token_id(&t.hash),
        role: t.role.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_matched_by_hash_only() {
        let tokens = [
            AdminToken::from_secret("op-secret", Role::Operator),
            AdminToken::from_config(
                &hex::encode(token_sha256("acme-secret")),
                "tenant-admin",
                Some("acme"),
            )
            .unwrap_or_else(|_| AdminToken::from_secret("x", Role::Compliance)),
        ];
        let mut h = HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_static("Bearer acme-secret"),
        );
        let p = authenticate(&tokens, &h);
        assert_eq!(
            p.map(|p| p.role),
            Some(Role::TenantAdmin("acme".to_owned()))
        );
        h.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_static("Bearer acme-secreT"),
        );
        assert_eq!(authenticate(&tokens, &h), None);
        assert_eq!(
            AdminToken::from_config("abc", "operator", None),
            Err(TokenError::BadHash)
        );
    }
}
