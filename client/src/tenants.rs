//! Tenants and their credentials, with the admin token: `/v1/tenants`,
//! `/v1/tenants/{id}/keys`, `/v1/tenants/{id}/jwt-keys`.

use beacon_protocol::api::keys::{CreateKey, CreatedKey, JwtKeys, KeyList, SetJwtKeys};
use beacon_protocol::api::tenants::{
    CreateTenant, CreatedTenant, TenantInfo, TenantList, UpdateTenant,
};
use reqwest::Method;

use crate::{Client, ClientError};

impl Client {
    /// `POST /v1/tenants`: a new tenant, with its first API key and its
    /// signing secret (shown this once).
    pub async fn create_tenant(&self, tenant: &CreateTenant) -> Result<CreatedTenant, ClientError> {
        self.with_json(Method::POST, &["v1", "tenants"], tenant)
            .await
    }

    /// `GET /v1/tenants`: every tenant, without secrets.
    pub async fn tenants(&self) -> Result<TenantList, ClientError> {
        self.get(&["v1", "tenants"]).await
    }

    /// `GET /v1/tenants/{id}`.
    pub async fn tenant(&self, id: &str) -> Result<TenantInfo, ClientError> {
        self.get(&["v1", "tenants", id]).await
    }

    /// `PATCH /v1/tenants/{id}`: changes the settings `update` names.
    pub async fn update_tenant(
        &self,
        id: &str,
        update: &UpdateTenant,
    ) -> Result<TenantInfo, ClientError> {
        self.with_json(Method::PATCH, &["v1", "tenants", id], update)
            .await
    }

    /// `DELETE /v1/tenants/{id}`: the tenant and everything it owns.
    pub async fn delete_tenant(&self, id: &str) -> Result<(), ClientError> {
        self.delete(&["v1", "tenants", id]).await
    }

    /// `POST /v1/tenants/{id}/keys`: a new API key (shown this once),
    /// optionally replacing an old one after an overlap.
    pub async fn create_key(
        &self,
        tenant: &str,
        key: &CreateKey,
    ) -> Result<CreatedKey, ClientError> {
        self.with_json(Method::POST, &["v1", "tenants", tenant, "keys"], key)
            .await
    }

    /// `GET /v1/tenants/{id}/keys`: ids, scopes and expiry, never the keys.
    pub async fn keys(&self, tenant: &str) -> Result<KeyList, ClientError> {
        self.get(&["v1", "tenants", tenant, "keys"]).await
    }

    /// `DELETE /v1/tenants/{id}/keys/{key_id}`: revokes a key at once.
    pub async fn revoke_key(&self, tenant: &str, key_id: &str) -> Result<(), ClientError> {
        self.delete(&["v1", "tenants", tenant, "keys", key_id])
            .await
    }

    /// `PUT /v1/tenants/{id}/jwt-keys`: replaces the public keys the tenant
    /// signs its own subscriber tokens with.
    pub async fn set_jwt_keys(
        &self,
        tenant: &str,
        keys: &SetJwtKeys,
    ) -> Result<JwtKeys, ClientError> {
        self.with_json(Method::PUT, &["v1", "tenants", tenant, "jwt-keys"], keys)
            .await
    }
}
