//! A tenant's credentials (admin token): API keys with scopes
//! (`POST/GET /v1/tenants/{id}/keys`, `DELETE /v1/tenants/{id}/keys/{key_id}`)
//! and the public keys it signs its own subscriber tokens with
//! (`PUT /v1/tenants/{id}/jwt-keys`).

use serde::{Deserialize, Serialize};

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Publish events and mint subscriber tokens.
    Publish,
    /// Manage the tenant's plugins.
    Plugins,
    /// Read dead letters, stats and presence.
    Read,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Publish, Scope::Plugins, Scope::Read];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Publish => "publish",
            Scope::Plugins => "plugins",
            Scope::Read => "read",
        }
    }
}

/// `POST /v1/tenants/{id}/keys`: a new API key, optionally rotating an old one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// What the key may do (default: every scope).
    #[serde(default)]
    pub scopes: Option<Vec<Scope>>,
    /// The id of a key this one replaces: it keeps working for
    /// `overlap_s` seconds, then stops.
    #[serde(default)]
    pub rotate: Option<String>,
    /// With `rotate`: how long the old key still works (default 3600, at
    /// most 30 days; 0 revokes it at once).
    #[serde(default)]
    pub overlap_s: Option<u64>,
}

/// A new API key: the only time the key itself is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CreatedKey {
    /// The key's public id (`k_...`).
    pub id: String,
    /// The key (`bk_...`). Stored hashed: it cannot be shown again.
    pub api_key: String,
    pub scopes: Vec<Scope>,
    /// With `rotate`: when the replaced key stops working (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotated_key_expires_at: Option<u64>,
}

/// An API key without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct KeyInfo {
    pub id: String,
    pub scopes: Vec<Scope>,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds after which the key no longer works, if set.
    pub expires_at: Option<u64>,
}

/// `GET /v1/tenants/{id}/keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct KeyList {
    pub keys: Vec<KeyInfo>,
}

/// Asymmetric algorithms a tenant may register keys for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum KeyAlg {
    EdDSA,
    RS256,
}

/// `PUT /v1/tenants/{id}/jwt-keys`: the public keys the tenant signs its own
/// subscriber tokens with. Replaces the registered set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SetJwtKeys {
    /// Keys in PEM form (SPKI `-----BEGIN PUBLIC KEY-----`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<PemKey>,
    /// And/or a JWKS document (`{"keys": [...]}`), each key with `kid` and
    /// `alg` EdDSA or RS256.
    #[serde(default)]
    pub jwks: Option<serde_json::Value>,
}

/// One public key in PEM form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PemKey {
    /// Matched against the `kid` header of the tenant's tokens.
    #[cfg_attr(feature = "schema", schemars(length(min = 1, max = 128)))]
    pub kid: String,
    pub alg: KeyAlg,
    pub pem: String,
}

/// The registered keys (public halves: safe to show).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct JwtKeys {
    pub keys: Vec<JwtKeyInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct JwtKeyInfo {
    pub kid: String,
    pub alg: KeyAlg,
}
