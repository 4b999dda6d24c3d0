//! Credentials: the admin token, tenant API keys and subscriber tokens.
//!
//! - [`secrets`]: generation and hashing of API keys and signing secrets,
//!   constant-time comparison of the admin token.
//! - [`jwt`]: subscriber tokens (HS256, signed with the tenant's secret).

pub(crate) mod jwt;
pub(crate) mod secrets;

/// Why a credential was refused. Converted to 401/403 at the HTTP edge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing credentials: send `Authorization: Bearer <token>`")]
    Missing,
    #[error("the credentials are not valid")]
    Invalid,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token names an unknown tenant")]
    UnknownTenant,
    #[error("the API key has expired (it was rotated); use its replacement")]
    KeyExpired,
}

/// Extracts the token from an `Authorization: Bearer <token>` header value.
pub(crate) fn bearer(header: Option<&str>) -> Option<&str> {
    let value = header?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens() {
        assert_eq!(bearer(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer(Some("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(Some("Basic abc")), None);
        assert_eq!(bearer(Some("Bearer ")), None);
        assert_eq!(bearer(Some("abc")), None);
        assert_eq!(bearer(None), None);
    }
}
