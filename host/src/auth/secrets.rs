//! Random secrets and their at-rest forms.

use rand::RngExt;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Prefix of tenant API keys, so they are recognisable in configs and scanners.
pub(crate) const API_KEY_PREFIX: &str = "bk_";

/// 32 random bytes, hex encoded.
pub(crate) fn random_hex32() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

/// A new tenant API key: `bk_` + 64 hex chars (256 bits).
pub(crate) fn new_api_key() -> String {
    format!("{API_KEY_PREFIX}{}", random_hex32())
}

/// How an API key is stored and looked up: hex SHA-256. The key has 256
/// bits of entropy, so a fast hash is enough (no password hashing needed).
pub(crate) fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Compares two secrets in time independent of where they differ.
pub(crate) fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_prefixed_and_hash_stably() {
        let (a, b) = (new_api_key(), new_api_key());
        assert_ne!(a, b);
        assert!(a.starts_with(API_KEY_PREFIX) && a.len() == 67);
        assert_eq!(hash_api_key(&a), hash_api_key(&a));
        assert_ne!(hash_api_key(&a), hash_api_key(&b));
        assert_ne!(hash_api_key(&a), a);
    }

    #[test]
    fn comparison() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
    }
}
