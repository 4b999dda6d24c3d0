//! Reading and forging subscriber tokens (HS256 JWTs).

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::Value;

/// The claims of a token, without verifying it.
pub fn claims(token: &str) -> Value {
    jsonwebtoken::dangerous::insecure_decode::<Value>(token)
        .unwrap_or_else(|e| panic!("{token:?} is not a JWT: {e}"))
        .claims
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The HMAC key bytes behind a tenant's signing secret, found by checking which
/// reading of the secret (raw text, hex, base64) verifies a genuine token.
pub fn signing_key(signing_secret: &str, genuine_token: &str) -> Vec<u8> {
    let mut candidates: Vec<Vec<u8>> = vec![signing_secret.as_bytes().to_vec()];
    if let Some(bytes) = hex_decode(signing_secret) {
        candidates.push(bytes);
    }
    for make in [
        EncodingKey::from_base64_secret,
        EncodingKey::from_urlsafe_base64_secret,
    ] {
        if let Ok(key) = make(signing_secret) {
            candidates.push(key.as_bytes().to_vec());
        }
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    candidates
        .into_iter()
        .find(|key| {
            DecodingKey::from_secret(key)
                .and_then(|key| jsonwebtoken::decode::<Value>(genuine_token, &key, &validation))
                .is_ok()
        })
        .unwrap_or_else(|| {
            panic!(
                "the token {genuine_token:?} is not an HS256 JWT signed with the tenant's signing \
                 secret (tried it as text, hex and base64)"
            )
        })
}

/// An HS256 token with these claims signed with `key`.
pub fn sign(claims: &Value, key: &[u8]) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(key).expect("a non-empty HMAC key"),
    )
    .expect("sign a JWT")
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
