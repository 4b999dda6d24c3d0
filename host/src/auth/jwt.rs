//! Subscriber tokens: JWTs signed HS256 with the tenant's signing secret.
//!
//! The tenant is read from the unverified claims only to choose the key;
//! the token is then fully verified with that key, with HS256 as the only
//! accepted algorithm (so `alg: none` and algorithm confusion are refused).

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

use super::AuthError;

/// Claims of a subscriber token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id; matched against an event's audience.
    pub sub: String,
    /// The tenant whose stream the token opens.
    pub tenant: String,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Not before, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Optional allow-list of type patterns the subscriber may request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub types: Option<Vec<String>>,
}

/// Signs claims with a tenant's secret.
pub fn sign(claims: &Claims, secret: &str) -> Result<String, AuthError> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|_| AuthError::Invalid)
}

/// Reads the `tenant` claim without verifying anything, to pick the key.
pub fn unverified_tenant(token: &str) -> Result<String, AuthError> {
    #[derive(Deserialize)]
    struct TenantOnly {
        tenant: String,
    }
    jsonwebtoken::dangerous::insecure_decode_claims::<TenantOnly>(token)
        .map(|c| c.tenant)
        .map_err(|_| AuthError::Invalid)
}

/// Verifies a token's signature, algorithm, expiry and not-before.
pub fn verify(token: &str, secret: &str) -> Result<Claims, AuthError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "sub"]);
    validation.validate_nbf = true;
    validation.leeway = 5;
    jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .map(|data| data.claims)
    .map_err(|e| match e.kind() {
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        _ => AuthError::Invalid,
    })
}

/// Unix seconds now.
pub fn now_s() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: u64) -> Claims {
        Claims {
            sub: "42".into(),
            tenant: "acme".into(),
            exp,
            nbf: None,
            types: None,
        }
    }

    #[test]
    fn round_trip() {
        let c = claims(now_s() + 60);
        let token = sign(&c, "s3cret").unwrap();
        assert_eq!(unverified_tenant(&token).unwrap(), "acme");
        assert_eq!(verify(&token, "s3cret").unwrap(), c);
    }

    #[test]
    fn refuses_wrong_key_expired_future_and_alg_none() {
        let token = sign(&claims(now_s() + 60), "s3cret").unwrap();
        assert_eq!(verify(&token, "other"), Err(AuthError::Invalid));
        let old = sign(&claims(now_s() - 60), "s3cret").unwrap();
        assert_eq!(verify(&old, "s3cret"), Err(AuthError::Expired));
        let mut future = claims(now_s() + 600);
        future.nbf = Some(now_s() + 300);
        assert_eq!(
            verify(&sign(&future, "s3cret").unwrap(), "s3cret"),
            Err(AuthError::NotYetValid)
        );
        // {"alg":"none","typ":"JWT"} with valid claims and no signature.
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = b64.encode(serde_json::to_vec(&claims(now_s() + 60)).unwrap());
        assert_eq!(
            verify(&format!("{header}.{body}."), "s3cret"),
            Err(AuthError::Invalid)
        );
        assert_eq!(verify("not a token", "s3cret"), Err(AuthError::Invalid));
        assert_eq!(unverified_tenant("x.y.z"), Err(AuthError::Invalid));
    }
}
