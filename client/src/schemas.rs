//! Event contracts, with the admin token: `/v1/schemas/...`.

use beacon_protocol::api::schemas::{
    CheckResult, Contract, Deprecated, Mode, ModeSet, Registered, SchemaList, SetMode, TypeInfo,
};
use reqwest::Method;
use serde_json::Value;

use crate::client::Call;
use crate::{Client, ClientError};

impl Client {
    /// `POST /v1/schemas/{type}/versions`: registers `schema` as the type's
    /// next version (or names the newest, when it equals it). A schema that
    /// breaks the type's compatibility mode is refused with 409 and every
    /// reason.
    pub async fn register_schema(
        &self,
        kind: &str,
        schema: &Value,
    ) -> Result<Registered, ClientError> {
        self.with_json(Method::POST, &["v1", "schemas", kind, "versions"], schema)
            .await
    }

    /// `GET /v1/schemas`: one summary per type.
    pub async fn schemas(&self) -> Result<SchemaList, ClientError> {
        self.get(&["v1", "schemas"]).await
    }

    /// `GET /v1/schemas/{type}`: the type's mode and every version.
    pub async fn schema(&self, kind: &str) -> Result<TypeInfo, ClientError> {
        self.get(&["v1", "schemas", kind]).await
    }

    /// `GET /v1/schemas/{type}/versions/{n}`.
    pub async fn schema_version(&self, kind: &str, version: u32) -> Result<Contract, ClientError> {
        let version = version.to_string();
        self.get(&["v1", "schemas", kind, "versions", &version])
            .await
    }

    /// `POST /v1/schemas/{type}/check`: whether `schema` could be
    /// registered now, with every reason it could not; nothing is stored.
    pub async fn check_schema(
        &self,
        kind: &str,
        schema: &Value,
    ) -> Result<CheckResult, ClientError> {
        self.with_json(Method::POST, &["v1", "schemas", kind, "check"], schema)
            .await
    }

    /// `PUT /v1/schemas/{type}/compatibility`.
    pub async fn set_compatibility(&self, kind: &str, mode: Mode) -> Result<ModeSet, ClientError> {
        self.with_json(
            Method::PUT,
            &["v1", "schemas", kind, "compatibility"],
            &SetMode { mode },
        )
        .await
    }

    /// `DELETE /v1/schemas/{type}/versions/{n}`: deprecates the version (it
    /// is kept: subscribers may still ask for its view).
    pub async fn deprecate_schema(
        &self,
        kind: &str,
        version: u32,
    ) -> Result<Deprecated, ClientError> {
        let version = version.to_string();
        let path = ["v1", "schemas", kind, "versions", &version];
        self.send(Call::new(Method::DELETE, &path)).await?.json()
    }
}
