//! A tenant's WebAssembly plugins, with an API key (`plugins` scope):
//! `/v1/plugins/...`.

use beacon_protocol::api::plugins::{
    Activate, Logs, PluginList, PluginView, TestQuery, TestResult, Uploaded,
};
use bytes::Bytes;
use reqwest::{Method, StatusCode};
use serde::Serialize;

use crate::client::{Body, Call};
use crate::{Client, ClientError};

/// The answer to an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub uploaded: Uploaded,
    /// A new version (201); `false` when the same bytes already were one,
    /// which the answer names (200).
    pub created: bool,
}

impl Client {
    /// `POST /v1/plugins/{name}/versions`: uploads a component (built for
    /// `wasm32-wasip2`) as the plugin's next version. The node validates
    /// and compiles it before it answers; a component it refuses comes
    /// back as a 400 or 413 with every reason.
    pub async fn upload_plugin(
        &self,
        name: &str,
        wasm: impl Into<Bytes>,
    ) -> Result<Upload, ClientError> {
        let path = ["v1", "plugins", name, "versions"];
        let call = Call::new(Method::POST, &path).body(Body::Wasm(wasm.into()));
        let answer = self.send(call).await?;
        Ok(Upload {
            uploaded: answer.json()?,
            created: answer.status == StatusCode::CREATED,
        })
    }

    /// `PUT /v1/plugins/{name}`: runs a version (an older one rolls back),
    /// for the types, in the order and with the failure policy given; also
    /// lifts a quarantine.
    pub async fn activate_plugin(
        &self,
        name: &str,
        activation: &Activate,
    ) -> Result<PluginView, ClientError> {
        self.with_json(Method::PUT, &["v1", "plugins", name], activation)
            .await
    }

    /// `GET /v1/plugins`: every plugin of the tenant.
    pub async fn plugins(&self) -> Result<PluginList, ClientError> {
        self.get(&["v1", "plugins"]).await
    }

    /// `GET /v1/plugins/{name}`: versions, activation, quarantine, counters.
    pub async fn plugin(&self, name: &str) -> Result<PluginView, ClientError> {
        self.get(&["v1", "plugins", name]).await
    }

    /// `DELETE /v1/plugins/{name}`: every version and the activation.
    pub async fn remove_plugin(&self, name: &str) -> Result<(), ClientError> {
        self.delete(&["v1", "plugins", name]).await
    }

    /// `GET /v1/plugins/{name}/logs`: the newest `limit` lines (default
    /// 100) on the node that answers, oldest first.
    pub async fn plugin_logs(&self, name: &str, limit: Option<usize>) -> Result<Logs, ClientError> {
        let path = ["v1", "plugins", name, "logs"];
        let call = Call::new(Method::GET, &path).query("limit", limit);
        self.send(call).await?.json()
    }

    /// `POST /v1/plugins/{name}/test`: a dry run of a version on `input`
    /// (an event as `POST /v1/events` takes it; for the deliver hook a
    /// [`DeliverTest`](beacon_protocol::api::plugins::DeliverTest)).
    /// Nothing is stored; a plugin that fails is a result, not an error.
    pub async fn test_plugin<B: Serialize + ?Sized>(
        &self,
        name: &str,
        input: &B,
        query: &TestQuery,
    ) -> Result<TestResult, ClientError> {
        let path = ["v1", "plugins", name, "test"];
        let call = Call::new(Method::POST, &path)
            .body(Body::json(input)?)
            .query("version", query.version)
            .query("hook", query.hook.as_deref())
            .query("to_version", query.to_version);
        self.send(call).await?.json()
    }
}
