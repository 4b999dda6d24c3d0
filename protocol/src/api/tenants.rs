//! Tenants (admin token): `POST/GET /v1/tenants`,
//! `GET/PATCH/DELETE /v1/tenants/{id}`, and a tenant's own limits.

use serde::{Deserialize, Serialize};

/// Longest tenant id.
pub const MAX_TENANT_ID_LEN: usize = 63;
/// Most browser origins one tenant may list in `cors_origins`.
pub const MAX_CORS_ORIGINS: usize = 50;
/// Longest origin a tenant may list (a host name is at most 253 characters).
pub const MAX_ORIGIN_LEN: usize = 253;

/// `POST /v1/tenants`: a new tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    /// The tenant id: 1-63 characters of `a-z 0-9 -`, starting with a
    /// letter or digit.
    #[cfg_attr(
        feature = "schema",
        schemars(length(min = 1, max = MAX_TENANT_ID_LEN), pattern(r"^[a-z0-9][a-z0-9-]*$"))
    )]
    pub id: String,
    /// Accept events whose type has no contract; they are stored
    /// unchecked (default false).
    #[serde(default)]
    pub allow_unregistered_types: bool,
    /// The tenant's own limits; absent ones take the server defaults.
    #[serde(default)]
    pub limits: Option<TenantLimits>,
    /// Browser origins (`scheme://host[:port]`, e.g.
    /// `https://app.example.com`) whose pages may read the tenant's stream
    /// with the `beacon_token` cookie, besides the server's own list. No
    /// wildcards; at most 50 (default none).
    #[serde(default)]
    #[cfg_attr(
        feature = "schema",
        schemars(length(max = MAX_CORS_ORIGINS), inner(length(min = 1, max = MAX_ORIGIN_LEN)))
    )]
    pub cors_origins: Vec<String>,
    /// Append `presence.joined` / `presence.left` events to the tenant's
    /// stream, for subscribers that ask with `types=presence.*` (default
    /// false: each costs a log entry).
    #[serde(default)]
    pub presence_events: bool,
}

impl CreateTenant {
    /// A tenant `id` with every setting at its default.
    pub fn new(id: impl Into<String>) -> Self {
        CreateTenant {
            id: id.into(),
            allow_unregistered_types: false,
            limits: None,
            cors_origins: Vec::new(),
            presence_events: false,
        }
    }
}

/// Returned once, at creation: the only time the secrets are shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CreatedTenant {
    /// The tenant id.
    pub id: String,
    /// The tenant's API key (`bk_...`), sent as `Authorization: Bearer`
    /// to publish and mint subscriber tokens. Stored hashed: it cannot be
    /// shown again.
    pub api_key: String,
    /// The id of that first key (it has every scope).
    pub key_id: String,
    /// The HS256 secret subscriber tokens of this tenant are signed with.
    pub signing_secret: String,
}

/// A tenant, without its secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TenantInfo {
    /// The tenant id.
    pub id: String,
    /// When the tenant was created, in Unix seconds.
    pub created_at: u64,
    /// Whether events of types without a contract are accepted.
    pub allow_unregistered_types: bool,
    /// A disabled tenant can neither publish nor open streams.
    pub disabled: bool,
    /// The tenant's own limits; absent fields take the server's defaults.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<TenantLimits>,
    /// Browser origins whose pages may read the tenant's stream with the
    /// `beacon_token` cookie, besides the server's own list.
    pub cors_origins: Vec<String>,
    /// Whether `presence.joined` / `presence.left` are appended to the
    /// tenant's stream.
    pub presence_events: bool,
}

/// `GET /v1/tenants`: every tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TenantList {
    /// The tenants, without their secrets.
    pub tenants: Vec<TenantInfo>,
}

/// `PATCH /v1/tenants/{id}`: change a tenant's settings. Absent fields stay.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateTenant {
    /// Disable (`true`) or re-enable (`false`) the tenant. A disabled
    /// tenant's publishes and new streams are refused at once (403
    /// `tenant_disabled`); streams already open end when their token expires.
    #[serde(default)]
    pub disabled: Option<bool>,
    /// Accept events whose type has no contract.
    #[serde(default)]
    pub allow_unregistered_types: Option<bool>,
    /// Replaces the tenant's limits (`{}` returns every limit to the
    /// server's default). Caps and rates apply to the next connection or
    /// publish; plugin limits to the next plugin call.
    #[serde(default)]
    pub limits: Option<TenantLimits>,
    /// Replaces the browser origins whose pages may read the tenant's
    /// stream with the `beacon_token` cookie (`[]` removes them all). At
    /// once for new streams.
    #[serde(default)]
    #[cfg_attr(
        feature = "schema",
        schemars(length(max = MAX_CORS_ORIGINS), inner(length(min = 1, max = MAX_ORIGIN_LEN)))
    )]
    pub cors_origins: Option<Vec<String>>,
    /// Turn `presence.joined` / `presence.left` events on or off, for
    /// changes from then on.
    #[serde(default)]
    pub presence_events: Option<bool>,
}

/// A tenant's own limits (`limits` in `POST /v1/tenants`); each absent
/// field takes the server's default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TenantLimits {
    /// Open streams per user (`sub`), on all nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(range(min = 1)))]
    pub max_connections_per_user: Option<u32>,
    /// What happens to a user's connection above their cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_cap_policy: Option<CapPolicy>,
    /// Open streams of the tenant, on all nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(range(min = 1)))]
    pub max_connections_per_tenant: Option<u32>,
    /// Events published per second, sustained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(range(min = 1)))]
    pub publish_rate: Option<u32>,
    /// Events that may be published at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(range(min = 1)))]
    pub publish_burst: Option<u32>,
    /// Wall time one plugin call may take, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(range(min = 1)))]
    pub plugin_timeout_ms: Option<u64>,
    /// Instructions (wasm fuel) one plugin call may use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(range(min = 1)))]
    pub plugin_fuel: Option<u64>,
    /// Linear memory of one plugin instance, in bytes (at most the node's
    /// `--plugin-memory-bytes`, which sizes the instance pool).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(range(min = 1)))]
    pub plugin_memory_bytes: Option<u64>,
    /// Largest event or answer a plugin may return, in bytes of JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(range(min = 1)))]
    pub plugin_output_bytes: Option<u64>,
}

impl TenantLimits {
    /// Rejects zero values (a zero cap or rate would lock the tenant out).
    pub fn check(&self) -> Result<(), String> {
        let fields = [
            ("max_connections_per_user", self.max_connections_per_user),
            (
                "max_connections_per_tenant",
                self.max_connections_per_tenant,
            ),
            ("publish_rate", self.publish_rate),
            ("publish_burst", self.publish_burst),
        ];
        for (name, value) in fields {
            if value == Some(0) {
                return Err(format!("limits.{name} must be at least 1"));
            }
        }
        let plugin_fields = [
            ("plugin_timeout_ms", self.plugin_timeout_ms),
            ("plugin_fuel", self.plugin_fuel),
            ("plugin_memory_bytes", self.plugin_memory_bytes),
            ("plugin_output_bytes", self.plugin_output_bytes),
        ];
        for (name, value) in plugin_fields {
            if value == Some(0) {
                return Err(format!("limits.{name} must be at least 1"));
            }
        }
        Ok(())
    }
}

/// What happens when a user opens one connection more than their cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum CapPolicy {
    /// The new connection is refused (429 `too_many_connections`).
    #[default]
    RefuseNewest,
    /// The user's oldest connection is closed (`beacon.closed`,
    /// reason `replaced`) and the new one admitted.
    CloseOldest,
}

impl CapPolicy {
    /// Every policy, in the order of the documentation.
    pub const ALL: [CapPolicy; 2] = [CapPolicy::RefuseNewest, CapPolicy::CloseOldest];

    /// The wire name, also the command-line value: `refuse-newest`.
    pub fn as_str(self) -> &'static str {
        match self {
            CapPolicy::RefuseNewest => "refuse-newest",
            CapPolicy::CloseOldest => "close-oldest",
        }
    }

    /// What the policy does, for people (the variant's documentation).
    pub fn description(self) -> &'static str {
        match self {
            CapPolicy::RefuseNewest => "The new connection is refused (429 `too_many_connections`)",
            CapPolicy::CloseOldest => {
                "The user's oldest connection is closed (`beacon.closed`, reason `replaced`) and \
                 the new one admitted"
            }
        }
    }

    /// The policy named `name` (its wire name).
    pub fn parse(name: &str) -> Option<CapPolicy> {
        CapPolicy::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

impl std::fmt::Display for CapPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_limits_are_refused_and_policies_read_back() {
        assert!(TenantLimits::default().check().is_ok());
        let zero = TenantLimits {
            plugin_fuel: Some(0),
            ..TenantLimits::default()
        };
        assert_eq!(
            zero.check(),
            Err("limits.plugin_fuel must be at least 1".to_owned())
        );
        for policy in CapPolicy::ALL {
            assert_eq!(CapPolicy::parse(policy.as_str()), Some(policy));
            let json = serde_json::to_string(&policy).unwrap();
            assert_eq!(json, format!("\"{policy}\""));
        }
        assert_eq!(CapPolicy::parse("refuse_newest"), None);
    }
}
