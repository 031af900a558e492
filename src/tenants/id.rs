//! The tenant-id grammar, in one place: 1–128 characters of `A-Z a-z 0-9 - _ . :`.
//!
//! Every way a tenant id enters raigate checks it here: the `x-tenant-id` header and the JWT
//! tenant claim (`context`), `[[tenant]]` seeds and `[[admin.token]] tenant` (the gateway
//! config), the admin API's `PUT /v1/tenants/{id}`, and both stores (`apply` and `seed`). So the
//! admin API cannot create a tenant the proxy could never match (`Kø`, `a b`, `acme ` with a
//! trailing space, a 150-character id), and ids stay short tokens that keep arbitrary text out
//! of decision records and logs.
//!
//! ```
//! use raigate::tenants::check_tenant_id;
//!
//! assert!(check_tenant_id("acme-eu.prod:7").is_ok());
//! assert!(check_tenant_id("acme ").is_err());
//! assert!(check_tenant_id("Kø").is_err());
//! assert!(check_tenant_id(&"a".repeat(129)).is_err());
//! ```

/// The longest tenant id, in bytes (every allowed character is one byte).
pub const MAX_TENANT_ID_LEN: usize = 128;

/// Why a string is not a tenant id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tenant id {shown}: {}", TenantIdGrammar)]
#[non_exhaustive]
pub struct InvalidTenantId {
    /// The rejected id, quoted and escaped, cut to 40 characters (never raw text in a log).
    pub shown: String,
}

/// Displays the grammar (`must be 1-128 characters of …`): the one wording every refusal uses.
struct TenantIdGrammar;

impl std::fmt::Display for TenantIdGrammar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "must be 1-{MAX_TENANT_ID_LEN} characters of A-Z a-z 0-9 - _ . :"
        )
    }
}

/// The grammar as a sentence, for errors that name their own field (`must be 1-128 …`).
pub(crate) fn grammar() -> String {
    TenantIdGrammar.to_string()
}

/// Whether `s` is 1–128 characters of `A-Z a-z 0-9 - _ . :`. The same short-token grammar
/// serves purpose and consent ids, which are tokens of the same shape.
pub(crate) fn is_id_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_TENANT_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Check a tenant id against the grammar.
pub fn check_tenant_id(id: &str) -> Result<(), InvalidTenantId> {
    if is_id_token(id) {
        return Ok(());
    }
    let mut shown: String = id.chars().take(40).collect();
    if shown.len() < id.len() {
        shown.push('…');
    }
    Err(InvalidTenantId {
        shown: format!("{shown:?}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grammar_accepts_short_tokens_and_nothing_else() {
        for ok in ["a", "acme", "ACME-1", "t_1.eu:prod", &"x".repeat(128)] {
            assert!(check_tenant_id(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            " acme",
            "acme ",
            "a b",
            "Kø",
            "a/b",
            "a\n",
            &"x".repeat(129),
        ] {
            assert!(check_tenant_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_refusal_escapes_and_shortens_what_it_shows() {
        let e = check_tenant_id(&format!("{}\u{1b}[31m", "y".repeat(50))).unwrap_err();
        assert!(!e.to_string().contains('\u{1b}'), "{e}");
        assert!(e.shown.ends_with("…\""), "{}", e.shown);
        assert!(
            e.to_string()
                .ends_with("must be 1-128 characters of A-Z a-z 0-9 - _ . :")
        );
    }
}
