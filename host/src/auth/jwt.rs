//! Subscriber tokens: JWTs signed HS256 with the tenant's signing secret,
//! or EdDSA / RS256 with a private key whose public half the tenant
//! registered (so its backend mints tokens without sharing a secret).
//!
//! The tenant is read from the unverified claims only to choose the key.
//! The token is then fully verified: HS256 only ever with the tenant's
//! secret; EdDSA and RS256 only with a registered key of that algorithm and
//! the token's `kid`. So `alg: none` and algorithm confusion (an HS256
//! token "signed" with a public key) are refused.

pub(crate) use beacon_protocol::api::keys::KeyAlg;
use jsonwebtoken::jwk::{Jwk, JwkSet};
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
    /// Optional allow-list of type patterns the subscriber may receive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub types: Option<Vec<String>>,
    /// Optional allow-list of subject patterns the subscriber may receive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subjects: Option<Vec<String>>,
    /// Every other claim (`iat`, or the tenant's own such as `"vip": true`):
    /// kept so deliver plugins can decide on them.
    #[serde(flatten, default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Signs claims with a tenant's secret (never empty: an empty HMAC key is
/// refused).
pub(crate) fn sign(claims: &Claims, secret: &str) -> Result<String, AuthError> {
    let key = EncodingKey::from_secret(secret.as_bytes()).map_err(|_| AuthError::Invalid)?;
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key)
        .map_err(|_| AuthError::Invalid)
}

/// Reads the `tenant` claim without verifying anything, to pick the key.
pub(crate) fn unverified_tenant(token: &str) -> Result<String, AuthError> {
    #[derive(Deserialize)]
    struct TenantOnly {
        tenant: String,
    }
    jsonwebtoken::dangerous::insecure_decode_claims::<TenantOnly>(token)
        .map(|c| c.tenant)
        .map_err(|_| AuthError::Invalid)
}

/// Most public keys one tenant may register.
pub(crate) const MAX_PUBLIC_KEYS: usize = 10;
/// Largest PEM accepted, in bytes.
pub(crate) const MAX_KEY_BYTES: usize = 8 * 1024;

/// The `jsonwebtoken` algorithm of a registered key's algorithm.
fn algorithm(alg: KeyAlg) -> Algorithm {
    match alg {
        KeyAlg::EdDSA => Algorithm::EdDSA,
        KeyAlg::RS256 => Algorithm::RS256,
    }
}

/// A public key a tenant registered, as stored: a PEM (SPKI) or a JWK.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKey {
    /// Matched against the token header's `kid`.
    pub kid: String,
    pub alg: KeyAlg,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pem: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwk: Option<serde_json::Value>,
}

/// Why a key cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key {kid:?}: {reason}")]
pub struct KeyError {
    pub kid: String,
    pub reason: String,
}

impl PublicKey {
    /// A key from a PEM; checks that it parses for its algorithm.
    pub fn from_pem(kid: String, alg: KeyAlg, pem: String) -> Result<PublicKey, KeyError> {
        let key = PublicKey {
            kid,
            alg,
            pem: Some(pem),
            jwk: None,
        };
        key.decoding_key()?;
        Ok(key)
    }

    /// Every key of a JWKS document (each needs `kid` and an `alg` of
    /// EdDSA or RS256).
    pub fn from_jwks(jwks: &serde_json::Value) -> Result<Vec<PublicKey>, KeyError> {
        let fail = |kid: &str, reason: String| KeyError {
            kid: kid.to_owned(),
            reason,
        };
        let set: JwkSet = serde_json::from_value(jwks.clone())
            .map_err(|e| fail("", format!("not a JWKS document: {e}")))?;
        let mut out = Vec::with_capacity(set.keys.len());
        for jwk in &set.keys {
            let kid = jwk
                .common
                .key_id
                .clone()
                .ok_or_else(|| fail("", "every key needs a `kid`".into()))?;
            let alg = match jwk.common.key_algorithm.map(|a| a.to_string()).as_deref() {
                Some("EdDSA") => KeyAlg::EdDSA,
                Some("RS256") => KeyAlg::RS256,
                other => {
                    return Err(fail(
                        &kid,
                        format!("`alg` must be EdDSA or RS256, not {other:?}"),
                    ));
                }
            };
            let value = serde_json::to_value(jwk).map_err(|e| fail(&kid, e.to_string()))?;
            let key = PublicKey {
                kid,
                alg,
                pem: None,
                jwk: Some(value),
            };
            key.decoding_key()?;
            out.push(key);
        }
        Ok(out)
    }

    fn decoding_key(&self) -> Result<DecodingKey, KeyError> {
        let fail = |reason: String| KeyError {
            kid: self.kid.clone(),
            reason,
        };
        match (&self.pem, &self.jwk) {
            (Some(pem), None) => {
                if pem.len() > MAX_KEY_BYTES {
                    return Err(fail(format!("larger than {MAX_KEY_BYTES} bytes")));
                }
                match self.alg {
                    KeyAlg::EdDSA => DecodingKey::from_ed_pem(pem.as_bytes()),
                    KeyAlg::RS256 => DecodingKey::from_rsa_pem(pem.as_bytes()),
                }
                .map_err(|e| fail(format!("not a {:?} public key in PEM form: {e}", self.alg)))
            }
            (None, Some(jwk)) => {
                let jwk: Jwk =
                    serde_json::from_value(jwk.clone()).map_err(|e| fail(e.to_string()))?;
                DecodingKey::from_jwk(&jwk).map_err(|e| fail(e.to_string()))
            }
            _ => Err(fail("give either `pem` or a JWK".into())),
        }
    }
}

/// Verifies a token against a tenant's secret or registered public keys,
/// chosen by the token header's `alg` (and `kid`).
pub(crate) fn verify_for_tenant(
    token: &str,
    secret: &str,
    keys: &[PublicKey],
) -> Result<Claims, AuthError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid)?;
    match header.alg {
        Algorithm::HS256 => verify(token, secret),
        Algorithm::EdDSA | Algorithm::RS256 => {
            let kid = header.kid.as_deref().ok_or(AuthError::Invalid)?;
            let key = keys
                .iter()
                .find(|k| k.kid == kid && algorithm(k.alg) == header.alg)
                .ok_or(AuthError::Invalid)?;
            let decoding = key.decoding_key().map_err(|_| AuthError::Invalid)?;
            verify_with(token, &decoding, header.alg)
        }
        _ => Err(AuthError::Invalid),
    }
}

/// Verifies an HS256 token's signature, expiry and not-before. No token
/// verifies with an empty secret.
pub(crate) fn verify(token: &str, secret: &str) -> Result<Claims, AuthError> {
    let key = DecodingKey::from_secret(secret.as_bytes()).map_err(|_| AuthError::Invalid)?;
    verify_with(token, &key, Algorithm::HS256)
}

fn verify_with(token: &str, key: &DecodingKey, alg: Algorithm) -> Result<Claims, AuthError> {
    let mut validation = Validation::new(alg);

    validation.set_required_spec_claims(&["exp", "sub"]);
    validation.validate_nbf = true;
    validation.leeway = 5;
    jsonwebtoken::decode::<Claims>(token, key, &validation)
        .map(|data| data.claims)
        .map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => AuthError::Expired,
            ErrorKind::ImmatureSignature => AuthError::NotYetValid,
            _ => AuthError::Invalid,
        })
}

/// Unix seconds now.
pub(crate) fn now_s() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// Key pairs for tests (generated for them; never used elsewhere).
#[cfg(test)]
pub(crate) mod test_keys {
    pub(crate) const ED_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIM+M9rwfOt5nQgFxuLgp8Gmgu2YrXJZBI22ODSSWW7oG\n-----END PRIVATE KEY-----";
    pub(crate) const ED_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA2aDz5gIWr7FkUQUbVXvLJ08huxpRJ/ZQ8cAO5wDzrIc=\n-----END PUBLIC KEY-----";
    pub(crate) const RSA_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDAr88FsEHKZqJu\n0UlWjdr5g77NBEPHjBqIxFnXWlibHiQJ63ENL1Q1bO+kh1+7KF4Ty9qn+43IzxmK\nrP59Bi9PD+g2jsLEEGtx9O4GPn0IJ7m5oRPjq7rVErz4A9UXnlI8A7IwIs6S6med\nhzFGePx9oBPzpnz7kLDbY3349tlevYFIlU2k4Y1cGTkmaeaJ9Mg29caLYGSE++Ts\nqlZfnnW65QXOrzD3d233Tu4VIpnyJbCNvXb/FqoeotFX9gUUaf/1K7QL/J9/rCiI\nUKGd2dH4QaiR90rkQt2SN/27sP2Xfh53dEq0nBp3ibO0o4oKJafyoyOpeUzOPfa9\njLHIZ9BDAgMBAAECggEAGba8gq6pW6MuX78yhshKeyF058jUahT31jLsfFvfAYsD\nAIc4yyt66jWd62Ucxjirs/+bL+9W1f/75sY8S0n1K/Cxqqo1h/2wS6uwd16FHVP+\nfy0QSZc5c8WFjfbQ9qRsUVGlngffF7sMAHkx/wzBQTCIyRX5jYbFxe6f49wUA7Dn\ngEg/Hcjel535jMEPpq7Q/zRNT/A9VzcwNjHCjYfmcYy/QPIh2sh0t+z3hru/zrxm\nE6Fm8c27vjhQbvT88I89fd3iXW4TG9AI6t2u7CYpT5WkRHRYvIbMI2v2wKNPw8h+\nb1WBLBfzX+/Wl8ZqeGG4oQebG1u9aSSfgufwuSyHdQKBgQDe+jasmQbR6FyjsJ4r\nvQy2qsyPKmhO29CffXBGKOuYyAuNavEbaat7wFv08Bc4jfFwo/edfL+53TJvGAOq\nH5UDsIMSmVLtM6dsJhq6uru1kel/Hp3cgYAalhJQYAJSv2Lb3V7tBZwbDVYJvlNx\nxOSZDJvJ6oonm2TA0AalR1HvDQKBgQDdOS4NQ/UuqJkn80hW5pzDb+Ba8OS6bxWo\nGxkBES8tmMgbx6/kwHDxO48LDEDoAnKBRk8iOiRkDupaFcE2UT2KTFEVdaK6lD7d\ny2rpw/nB5qpSBvmGFt1g/lvpUSSQelf4xUeTT2qjWJCLiVOdYv4p6I3E5ge5or23\nOONo+R5ojwKBgBLKfV8QSl3YOi5lTP8coHyoajLKfR3gMnWuaY7QFgK7IRYa5BTO\nU/BK5rT+osZWV/mJJ+3yvGmadYydNnnYzYMRFgq0NyPcTYi0sV35LKaBlG7tEpqp\nozUaXpK9dJSqolcrEbvh1CUHe6+4hWm6ERXA1UQv6tKpqtUA8v5swz/lAoGBANcO\nZSRkMg+fuvPJX0OLgE3FjpcZo2FR5/26Cf6tk+2BntbSsr1wDtuUCKS2zso8xs/B\nZ+BgIUxb65qTl3aUV30AX7q61u0GfG7k9xQ1fbDv6hc/zIZ7584It5UDWsZRCQA/\n2Crugz40NKBRacWQnIBlIJyO+meOO1vIo9pCgzslAoGAaDZ+ul0i+PtXm5+uFjTq\nlsq/3I4b/K9KSolHr5J7IRY+NtyH22GtB9bshB7cAGCVJLNy0HDA08PYfJH7aPGI\nY2MPvpyuOpZmvYry468Mee60VHVTcWz/z7zlIMIt4ux3BDOi62X0Gm2isgtAOg+1\nk/yeAoBp9Bfpx6LOW2SubCY=\n-----END PRIVATE KEY-----";
    pub(crate) const RSA_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAwK/PBbBBymaibtFJVo3a\n+YO+zQRDx4waiMRZ11pYmx4kCetxDS9UNWzvpIdfuyheE8vap/uNyM8Ziqz+fQYv\nTw/oNo7CxBBrcfTuBj59CCe5uaET46u61RK8+APVF55SPAOyMCLOkupnnYcxRnj8\nfaAT86Z8+5Cw22N9+PbZXr2BSJVNpOGNXBk5JmnmifTINvXGi2BkhPvk7KpWX551\nuuUFzq8w93dt907uFSKZ8iWwjb12/xaqHqLRV/YFFGn/9Su0C/yff6woiFChndnR\n+EGokfdK5ELdkjf9u7D9l34ed3RKtJwad4mztKOKCiWn8qMjqXlMzj32vYyxyGfQ\nQwIDAQAB\n-----END PUBLIC KEY-----";
}

#[cfg(test)]
mod tests {
    use super::test_keys::*;
    use super::*;

    fn claims(exp: u64) -> Claims {
        Claims {
            sub: "42".into(),
            tenant: "acme".into(),
            exp,
            nbf: None,
            types: None,
            subjects: None,
            extra: Default::default(),
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

    /// An HS256 token with this header and valid claims, signed with `key`
    /// by hand (jsonwebtoken refuses to sign some of these).
    fn hs256_by_hand(header: &[u8], key: &[u8]) -> String {
        use base64::Engine;
        use hmac::{KeyInit, Mac};
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(header);
        let body = b64.encode(serde_json::to_vec(&claims(now_s() + 60)).unwrap());
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
        mac.update(format!("{header}.{body}").as_bytes());
        let signature = b64.encode(mac.finalize().into_bytes());
        format!("{header}.{body}.{signature}")
    }

    #[test]
    fn an_empty_secret_neither_signs_nor_verifies() {
        assert_eq!(sign(&claims(now_s() + 60), ""), Err(AuthError::Invalid));
        let token = hs256_by_hand(br#"{"alg":"HS256","typ":"JWT"}"#, b"");
        assert_eq!(verify(&token, ""), Err(AuthError::Invalid));
    }

    #[test]
    fn unknown_critical_extensions_are_refused() {
        let plain = hs256_by_hand(br#"{"alg":"HS256","typ":"JWT"}"#, b"s3cret");
        assert!(verify(&plain, "s3cret").is_ok());
        let critical = hs256_by_hand(
            br#"{"alg":"HS256","typ":"JWT","crit":["exp-ext"],"exp-ext":1}"#,
            b"s3cret",
        );
        assert_eq!(verify(&critical, "s3cret"), Err(AuthError::Invalid));
    }

    fn signed(alg: Algorithm, kid: Option<&str>, key: &EncodingKey) -> String {
        let mut header = Header::new(alg);
        header.kid = kid.map(Into::into);
        jsonwebtoken::encode(&header, &claims(now_s() + 60), key).unwrap()
    }

    fn registered() -> Vec<PublicKey> {
        vec![
            PublicKey::from_pem("ed-1".into(), KeyAlg::EdDSA, ED_PUBLIC.into()).unwrap(),
            PublicKey::from_pem("rsa-1".into(), KeyAlg::RS256, RSA_PUBLIC.into()).unwrap(),
        ]
    }

    #[test]
    fn registered_keys_verify_eddsa_and_rs256_tokens() {
        let ed = EncodingKey::from_ed_pem(ED_PRIVATE.as_bytes()).unwrap();
        let rsa = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap();
        let keys = registered();
        assert_eq!(
            verify_for_tenant(&signed(Algorithm::EdDSA, Some("ed-1"), &ed), "s", &keys)
                .unwrap()
                .sub,
            "42"
        );
        assert_eq!(
            verify_for_tenant(&signed(Algorithm::RS256, Some("rsa-1"), &rsa), "s", &keys)
                .unwrap()
                .sub,
            "42"
        );
        let hs = sign(&claims(now_s() + 60), "s").unwrap();
        assert!(
            verify_for_tenant(&hs, "s", &keys).is_ok(),
            "HS256 still works with the secret"
        );
    }

    #[test]
    fn unknown_kids_wrong_keys_and_algorithm_confusion_are_refused() {
        let ed = EncodingKey::from_ed_pem(ED_PRIVATE.as_bytes()).unwrap();
        let rsa = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap();
        let keys = registered();
        let refused = |token: String| {
            assert_eq!(
                verify_for_tenant(&token, "s", &keys),
                Err(AuthError::Invalid)
            )
        };
        refused(signed(Algorithm::EdDSA, None, &ed));
        refused(signed(Algorithm::EdDSA, Some("nope"), &ed));
        // The kid of a key of another algorithm.
        refused(signed(Algorithm::EdDSA, Some("rsa-1"), &ed));
        // HS256 "signed" with the RSA public key as the secret: HS256 is only
        // ever checked against the tenant's own secret.
        refused(signed(
            Algorithm::HS256,
            Some("rsa-1"),
            &EncodingKey::from_secret(RSA_PUBLIC.as_bytes()).unwrap(),
        ));
        // No registered keys: asymmetric tokens are refused.
        assert_eq!(
            verify_for_tenant(&signed(Algorithm::RS256, Some("rsa-1"), &rsa), "s", &[]),
            Err(AuthError::Invalid)
        );
    }

    #[test]
    fn keys_are_checked_when_registered() {
        assert!(PublicKey::from_pem("a".into(), KeyAlg::EdDSA, RSA_PUBLIC.into()).is_err());
        assert!(PublicKey::from_pem("a".into(), KeyAlg::RS256, "not a pem".into()).is_err());
        let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
        let jwks = serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "j1", "alg": "EdDSA", "x": x}]});
        let keys = PublicKey::from_jwks(&jwks).unwrap();
        assert_eq!((keys[0].kid.as_str(), keys[0].alg), ("j1", KeyAlg::EdDSA));
        let no_kid =
            serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "x": x}]});
        assert!(PublicKey::from_jwks(&no_kid).is_err());
        assert!(PublicKey::from_jwks(&serde_json::json!({"keys": 3})).is_err());
    }
}
