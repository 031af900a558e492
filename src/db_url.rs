//! Database URLs (`[store] url`): which backend, where, and in which PostgreSQL schema. The
//! tenant store and the decision trace read the same URL, so both land in the same database and
//! schema; this module is the one place that parses it.
//!
//! | URL | meaning |
//! |---|---|
//! | `sqlite://FILE`, `sqlite://:memory:` | embedded SQLite (the feature `store-sqlite`) |
//! | `postgres://…[?schema=NAME]`, `postgresql://…` | PostgreSQL (the feature `store-postgres`); `schema` is taken out of the URL before it reaches the driver |

/// A parsed store URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DbUrl {
    /// `sqlite://FILE` (the path as written; may be `:memory:`).
    Sqlite(String),
    /// `postgres://…`: the URL for the driver (without `schema`) and the schema, if named.
    Postgres {
        /// The URL without the `schema` parameter.
        url: String,
        /// `?schema=NAME`.
        schema: Option<String>,
    },
}

/// Why a store URL could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DbUrlError {
    /// Neither `sqlite://` nor `postgres://`.
    #[error("the store URL must start with sqlite:// or postgres://")]
    Scheme,
    /// `sqlite://` without a path.
    #[error("sqlite:// needs a file path")]
    NoPath,
    /// The schema name is not a plain identifier.
    #[error("schema `{0}`: use 1 to 40 ASCII letters, digits and `_`, not starting with a digit")]
    Schema(String),
}

impl DbUrl {
    /// Parse a store URL.
    pub(crate) fn parse(url: &str) -> Result<Self, DbUrlError> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(DbUrlError::NoPath);
            }
            return Ok(DbUrl::Sqlite(path.to_owned()));
        }
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(DbUrlError::Scheme);
        }
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut schema = None;
        let mut rest = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.strip_prefix("schema=") {
                Some(s) => schema = Some(s.to_owned()),
                None => rest.push(pair),
            }
        }
        if let Some(s) = &schema {
            check_schema(s)?;
        }
        let url = if rest.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", rest.join("&"))
        };
        Ok(DbUrl::Postgres { url, schema })
    }
}

/// A schema name is interpolated into SQL as a quoted identifier: keep it plain.
pub(crate) fn check_schema(schema: &str) -> Result<(), DbUrlError> {
    let ok = !schema.is_empty()
        && schema.len() <= 40
        && schema
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !schema.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(DbUrlError::Schema(schema.to_owned()))
    }
}

/// The URL without its password, for logs.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let scheme = url.get(..s + 3).unwrap_or("");
            let rest = url.get(at..).unwrap_or("");
            format!("{scheme}…{rest}")
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_is_taken_out_of_the_url() {
        assert_eq!(
            DbUrl::parse("postgres://u@h/db?schema=abc&sslmode=disable"),
            Ok(DbUrl::Postgres {
                url: "postgres://u@h/db?sslmode=disable".to_owned(),
                schema: Some("abc".to_owned())
            })
        );
        assert_eq!(
            DbUrl::parse("postgres://u@h/db"),
            Ok(DbUrl::Postgres {
                url: "postgres://u@h/db".to_owned(),
                schema: None
            })
        );
        assert_eq!(
            DbUrl::parse("postgres://u@h/db?schema=1x"),
            Err(DbUrlError::Schema("1x".into()))
        );
        assert_eq!(DbUrl::parse("sqlite://"), Err(DbUrlError::NoPath));
        assert_eq!(DbUrl::parse("mysql://x"), Err(DbUrlError::Scheme));
        assert_eq!(redact("postgres://u:pw@h/db"), "postgres://…@h/db");
    }
}
