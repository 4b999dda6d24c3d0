//! `POST /v1/tokens`: a tenant mints a subscriber token (API key with the
//! `publish` scope).

use serde::{Deserialize, Serialize};

/// Default token lifetime.
pub const DEFAULT_TTL_S: u64 = 3600;
/// Longest token lifetime: 30 days.
pub const MAX_TTL_S: u64 = 30 * 24 * 3600;
/// Largest `claims` object, as JSON.
pub const MAX_EXTRA_CLAIMS_BYTES: usize = 2048;

/// `POST /v1/tokens`: the claims of a subscriber token to mint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct MintToken {
    /// The subscriber's user id (the `sub` claim, matched against events'
    /// `audience`): 1-128 printable ASCII characters without spaces.
    #[cfg_attr(
        feature = "schema",
        schemars(length(min = 1, max = crate::envelope::MAX_USER_ID_LEN), pattern(r"^[!-~]+$"))
    )]
    pub sub: String,
    /// Lifetime in seconds: default 3600, at most 30 days (2592000).
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(range(min = 1, max = MAX_TTL_S)))]
    pub ttl_s: Option<u64>,
    /// Allow-list of event types the token may receive: exact types,
    /// `prefix.*` wildcards or `*`. Absent: every type.
    #[serde(default)]
    pub types: Option<Vec<String>>,
    /// Allow-list of subjects the token may receive: exact subjects,
    /// `prefix*` wildcards or `*`. Absent: every subject.
    #[serde(default)]
    pub subjects: Option<Vec<String>>,
    /// More claims for the tenant's deliver plugins, e.g. `{"vip": true}`:
    /// a JSON object of at most 2048 bytes, without the reserved names
    /// `sub`, `tenant`, `exp`, `nbf`, `iat`, `types`, `subjects`, `aud`,
    /// `iss`, `jti`.
    #[serde(default)]
    pub claims: Option<serde_json::Map<String, serde_json::Value>>,
}

impl MintToken {
    /// A token for user `sub` with the default lifetime and no allow-lists.
    pub fn new(sub: impl Into<String>) -> Self {
        MintToken {
            sub: sub.into(),
            ttl_s: None,
            types: None,
            subjects: None,
            claims: None,
        }
    }
}

/// A minted subscriber token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Minted {
    /// The JWT (HS256, signed with the tenant's signing secret), sent as
    /// `Authorization: Bearer` or `?access_token=` on `GET /v1/stream`.
    pub token: String,
    /// When the token expires, in Unix seconds (the `exp` claim).
    pub expires_at: u64,
}
