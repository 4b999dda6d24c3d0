//! Operations: `GET /healthz`, `GET /readyz` (no credential) and
//! `GET /v1/stats`.

use beacon_protocol::api::health::{Health, Readiness};
use beacon_protocol::api::stats::{Stats, TenantStats};
use reqwest::{Method, StatusCode};

use crate::client::{Answer, Call};
use crate::error::HttpError;
use crate::{Client, ClientError};

impl Client {
    /// `GET /healthz`: the process is up.
    pub async fn health(&self) -> Result<Health, ClientError> {
        self.get(&["healthz"]).await
    }

    /// `GET /readyz`: whether the node can serve. A node that cannot
    /// (503) answers with what it cannot reach, which is returned too.
    pub async fn readiness(&self) -> Result<Readiness, ClientError> {
        let (status, headers, body, request) =
            self.exchange(Call::new(Method::GET, &["readyz"])).await?;
        let answer = Answer {
            status,
            headers,
            body,
            request,
        };
        match status {
            StatusCode::OK | StatusCode::SERVICE_UNAVAILABLE => answer.json(),
            _ => Err(HttpError::from_answer(status, &answer.headers, &answer.body).into()),
        }
    }

    /// `GET /v1/stats` with the admin token: a summary of the node.
    pub async fn stats(&self) -> Result<Stats, ClientError> {
        self.get(&["v1", "stats"]).await
    }

    /// `GET /v1/stats` with a tenant API key (`read` scope): the tenant's
    /// plugin counters on the node that answers.
    pub async fn tenant_stats(&self) -> Result<TenantStats, ClientError> {
        self.get(&["v1", "stats"]).await
    }
}
