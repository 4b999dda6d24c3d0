//! The client: a node's base URL, a credential and one connection pool;
//! and what every call shares — URLs, the bearer credential, time limits,
//! bounded reads of answers, Beacon's error answers.
//!
//! Plain HTTP only: this crate carries no TLS stack, so an `https://` base
//! URL is refused (reach such a node through a local TLS-terminating proxy
//! or an SSH tunnel).

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ClientError, HttpError};

/// Time to establish a connection before the node counts as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for a whole request, answer included (and for the head of an
/// event stream's answer).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Time for an upload of a plugin component, which the node validates and
/// compiles before it answers.
pub const UPLOAD_TIMEOUT: Duration = Duration::from_secs(300);
/// Largest answer read: a type with 100 contract versions of 64 KiB fits
/// with room.
pub const MAX_ANSWER_BYTES: usize = 32 << 20;
/// Largest error answer read; the rest is left unread (the status and the
/// start of the body say enough).
pub const MAX_ERROR_BYTES: usize = 64 << 10;

/// A client of one Beacon node. Cheap to clone: clones share the
/// connection pool.
#[derive(Debug, Clone)]
pub struct Client {
    base: Url,
    /// Sent as `Authorization: Bearer`: the admin token, a tenant's API
    /// key, or a subscriber token, depending on the calls made.
    token: Option<String>,
    http: reqwest::Client,
    limits: Limits,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub request_timeout: Duration,
    pub upload_timeout: Duration,
    pub max_answer_bytes: usize,
}

/// Settings of a [`Client`]; [`Client::builder`] starts one.
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    base: String,
    token: Option<String>,
    connect_timeout: Duration,
    limits: Limits,
}

impl ClientBuilder {
    /// The credential sent with every call (`Authorization: Bearer`).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Time to establish a connection (default [`CONNECT_TIMEOUT`]).
    pub fn connect_timeout(mut self, limit: Duration) -> Self {
        self.connect_timeout = limit;
        self
    }

    /// Time for a request and its answer (default [`REQUEST_TIMEOUT`]).
    pub fn request_timeout(mut self, limit: Duration) -> Self {
        self.limits.request_timeout = limit;
        self
    }

    /// Time for a plugin upload and its answer (default [`UPLOAD_TIMEOUT`]).
    pub fn upload_timeout(mut self, limit: Duration) -> Self {
        self.limits.upload_timeout = limit;
        self
    }

    /// Largest answer read (default [`MAX_ANSWER_BYTES`]); a larger one
    /// fails the call with [`ClientError::TooLarge`].
    pub fn max_answer_bytes(mut self, bytes: usize) -> Self {
        self.limits.max_answer_bytes = bytes;
        self
    }

    pub fn build(self) -> Result<Client, ClientError> {
        let invalid = |reason: &str| ClientError::Url {
            url: self.base.clone(),
            reason: reason.to_owned(),
        };
        let base = Url::parse(&self.base).map_err(|e| invalid(&e.to_string()))?;
        match base.scheme() {
            "http" => {}
            "https" => {
                return Err(invalid(
                    "this client speaks plain HTTP only; reach an https node through a local \
                     TLS-terminating proxy or an SSH tunnel",
                ));
            }
            _ => return Err(invalid("expected an http:// URL")),
        }
        if base.cannot_be_a_base() {
            return Err(invalid("expected an http:// URL"));
        }
        // No overall timeout on the HTTP client: each call sets its own, and
        // an event stream has none (it is watched for silence instead).
        let http = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .build()
            .map_err(ClientError::Build)?;
        Ok(Client {
            base,
            token: self.token.filter(|t| !t.is_empty()),
            http,
            limits: self.limits,
        })
    }
}

/// A request body.
pub(crate) enum Body {
    /// `application/json`.
    Json(Vec<u8>),
    /// `application/wasm`: a plugin component.
    Wasm(Bytes),
}

impl Body {
    pub(crate) fn json<T: Serialize + ?Sized>(value: &T) -> Result<Body, ClientError> {
        serde_json::to_vec(value)
            .map(Body::Json)
            .map_err(ClientError::Encode)
    }
}

/// One call: method, path segments (each percent-encoded), query, more
/// headers, body.
pub(crate) struct Call<'a> {
    pub method: Method,
    pub path: &'a [&'a str],
    pub query: Vec<(&'static str, String)>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Option<Body>,
}

impl<'a> Call<'a> {
    pub(crate) fn new(method: Method, path: &'a [&'a str]) -> Self {
        Call {
            method,
            path,
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
        }
    }

    pub(crate) fn body(mut self, body: Body) -> Self {
        self.body = Some(body);
        self
    }

    pub(crate) fn query(mut self, name: &'static str, value: Option<impl ToString>) -> Self {
        if let Some(value) = value {
            self.query.push((name, value.to_string()));
        }
        self
    }
}

/// A 2xx answer, read whole.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// `METHOD url`, for errors.
    pub request: String,
}

impl Answer {
    /// The body as `T`.
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T, ClientError> {
        serde_json::from_slice(&self.body).map_err(|source| self.unexpected(source))
    }

    /// `value`, read from the body, as `T`.
    pub(crate) fn read_value<T: DeserializeOwned>(
        &self,
        value: serde_json::Value,
    ) -> Result<T, ClientError> {
        serde_json::from_value(value).map_err(|source| self.unexpected(source))
    }

    fn unexpected(&self, source: serde_json::Error) -> ClientError {
        ClientError::Decode {
            request: self.request.clone(),
            status: self.status,
            source,
        }
    }
}

impl Client {
    /// A client of the node at `base_url` (e.g. `http://127.0.0.1:8080`),
    /// with no credential and default limits.
    pub fn new(base_url: &str) -> Result<Client, ClientError> {
        Client::builder(base_url).build()
    }

    /// Settings for a client of the node at `base_url`.
    pub fn builder(base_url: &str) -> ClientBuilder {
        ClientBuilder {
            base: base_url.to_owned(),
            token: None,
            connect_timeout: CONNECT_TIMEOUT,
            limits: Limits {
                request_timeout: REQUEST_TIMEOUT,
                upload_timeout: UPLOAD_TIMEOUT,
                max_answer_bytes: MAX_ANSWER_BYTES,
            },
        }
    }

    /// The same node and connection pool with another credential: the
    /// admin token, a tenant's API key, or a subscriber token.
    pub fn with_token(&self, token: impl Into<String>) -> Client {
        let token = token.into();
        Client {
            token: (!token.is_empty()).then_some(token),
            ..self.clone()
        }
    }

    /// The node's base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    pub(crate) fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub(crate) fn limits(&self) -> Limits {
        self.limits
    }

    /// The URL of `path` (segments, each percent-encoded) with `query`.
    pub(crate) fn url(&self, path: &[&str], query: &[(impl AsRef<str>, String)]) -> Url {
        let mut url = self.base.clone();
        url.set_query(None);
        url.set_fragment(None);
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend(path);
        }
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (k.as_ref(), v.as_str())));
        }
        url
    }

    /// Makes `call`; a 2xx answer is read whole (at most
    /// [`ClientBuilder::max_answer_bytes`]), any other is the node's
    /// refusal ([`ClientError::Http`]).
    pub(crate) async fn send(&self, call: Call<'_>) -> Result<Answer, ClientError> {
        let (status, headers, body, request) = self.exchange(call).await?;
        if !status.is_success() {
            return Err(HttpError::from_answer(status, &headers, &body).into());
        }
        Ok(Answer {
            status,
            headers,
            body,
            request,
        })
    }

    /// Makes `call` and reads its answer, whatever its status: a 2xx
    /// answer whole (bounded), another one's first [`MAX_ERROR_BYTES`].
    pub(crate) async fn exchange(
        &self,
        call: Call<'_>,
    ) -> Result<(StatusCode, HeaderMap, Bytes, String), ClientError> {
        let url = self.url(call.path, &call.query);
        let request = format!("{} {url}", call.method);
        let mut builder = self.http.request(call.method, url.clone());
        if let Some(token) = &self.token {
            builder = builder.bearer_auth(token);
        }
        for (name, value) in call.headers {
            builder = builder.header(name, value);
        }
        let mut timeout = self.limits.request_timeout;
        match call.body {
            Some(Body::Json(bytes)) => {
                builder = builder.header(CONTENT_TYPE, "application/json").body(bytes);
            }
            Some(Body::Wasm(bytes)) => {
                timeout = self.limits.upload_timeout;
                builder = builder.header(CONTENT_TYPE, "application/wasm").body(bytes);
            }
            None => {}
        }
        let mut response = builder
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| ClientError::transport(self.base.as_str(), e, timeout))?;
        let status = response.status();
        let headers = response.headers().clone();
        let limit = if status.is_success() {
            self.limits.max_answer_bytes
        } else {
            MAX_ERROR_BYTES
        };
        let mut body = Vec::new();
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                // An error answer is best effort: its status says enough.
                Err(_) if !status.is_success() => break,
                Err(e) => return Err(ClientError::reading(request, e, timeout)),
            };
            if body.len() + chunk.len() > limit {
                if !status.is_success() {
                    let room = limit - body.len();
                    body.extend_from_slice(&chunk[..room]);
                    break;
                }
                return Err(ClientError::TooLarge { request, limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, headers, Bytes::from(body), request))
    }

    /// `GET path` answered with `T`.
    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &[&str]) -> Result<T, ClientError> {
        self.send(Call::new(Method::GET, path)).await?.json()
    }

    /// `method path` with a JSON `body`, answered with `T`.
    pub(crate) async fn with_json<T, B>(
        &self,
        method: Method,
        path: &[&str],
        body: &B,
    ) -> Result<T, ClientError>
    where
        T: DeserializeOwned,
        B: Serialize + ?Sized,
    {
        let call = Call::new(method, path).body(Body::json(body)?);
        self.send(call).await?.json()
    }

    /// `DELETE path`, answered without a body.
    pub(crate) async fn delete(&self, path: &[&str]) -> Result<(), ClientError> {
        self.send(Call::new(Method::DELETE, path)).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(url: &str) -> Client {
        Client::new(url).expect("client")
    }

    #[test]
    fn paths_and_queries_are_joined_and_encoded() {
        let none: &[(&str, String)] = &[];
        let c = client("http://localhost:8080/beacon/");
        assert_eq!(
            c.url(&["v1", "schemas", "a b"], none).as_str(),
            "http://localhost:8080/beacon/v1/schemas/a%20b"
        );
        let c = client("http://localhost:8080");
        assert_eq!(
            c.url(&["v1", "schemas"], none).as_str(),
            "http://localhost:8080/v1/schemas"
        );
        assert_eq!(
            c.url(
                &["v1", "plugins", "p", "test"],
                &[
                    ("hook", "convert".to_owned()),
                    ("to_version", "1 2".to_owned())
                ]
            )
            .as_str(),
            "http://localhost:8080/v1/plugins/p/test?hook=convert&to_version=1+2"
        );
    }

    #[test]
    fn only_plain_http_urls_are_taken() {
        for (url, why) in [
            ("https://example.com", "plain HTTP only"),
            ("ftp://example.com", "expected an http:// URL"),
            ("not a url", "relative URL"),
        ] {
            let error = Client::new(url).expect_err(url).to_string();
            assert!(error.contains(why), "{url}: {error}");
        }
        let c = client("http://localhost:1").with_token("");
        assert_eq!(c.token(), None);
        assert_eq!(c.with_token("t").token(), Some("t"));
    }
}
