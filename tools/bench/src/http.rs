//! One keep-alive HTTP/1.1 connection for requests with a whole response:
//! set-up calls and publishers. A hyper connection of its own, without a
//! pool, so a publisher costs the same whichever server it talks to; it
//! reconnects when the server closed it.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use bytes::Bytes;
use http::{HeaderValue, Method, Request, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Upper bound for one request/response exchange.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest response body read (answers here are small JSON or text).
const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// A response with its whole body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Bytes,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("status {}: body is not JSON: {}", self.status, self.text()))
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A request to send.
pub struct Call<'a> {
    pub method: Method,
    pub path: &'a str,
    pub bearer: Option<&'a str>,
    pub content_type: Option<&'static str>,
    pub body: Bytes,
}

impl<'a> Call<'a> {
    pub fn get(path: &'a str) -> Self {
        Self {
            method: Method::GET,
            path,
            bearer: None,
            content_type: None,
            body: Bytes::new(),
        }
    }

    /// A POST of a JSON body.
    pub fn post_json(path: &'a str, body: impl Into<Bytes>) -> Self {
        Self {
            method: Method::POST,
            path,
            bearer: None,
            content_type: Some("application/json"),
            body: body.into(),
        }
    }

    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    pub fn bearer(mut self, token: &'a str) -> Self {
        self.bearer = Some(token);
        self
    }

    pub fn content_type(mut self, content_type: &'static str) -> Self {
        self.content_type = Some(content_type);
        self
    }
}

/// A keep-alive connection to one server.
pub struct Conn {
    addr: SocketAddr,
    host: HeaderValue,
    send: Option<http1::SendRequest<Full<Bytes>>>,
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            host: HeaderValue::from_str(&addr.to_string())
                .expect("a socket address is a valid header value"),
            send: None,
        }
    }

    /// Sends one request and reads the whole response, within [`REQUEST_TIMEOUT`].
    pub async fn request(&mut self, call: Call<'_>) -> Result<Response> {
        let what = format!("{} {}", call.method, call.path);
        let result = tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(call))
            .await
            .unwrap_or_else(|_| Err(anyhow!("timed out")))
            .with_context(|| what);
        if result.is_err() {
            self.send = None;
        }
        result
    }

    async fn exchange(&mut self, call: Call<'_>) -> Result<Response> {
        let send = match &mut self.send {
            Some(send) if !send.is_closed() => send,
            _ => self.send.insert(connect(self.addr).await?),
        };
        send.ready().await.context("connection")?;
        let mut request = Request::builder()
            .method(call.method)
            .uri(call.path)
            .header(header::HOST, self.host.clone());
        if let Some(token) = call.bearer {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(content_type) = call.content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let request = request.body(Full::new(call.body))?;
        let response = send.send_request(request).await?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| anyhow!("response body: {e}"))?
            .to_bytes();
        Ok(Response { status, body })
    }
}

async fn connect(addr: SocketAddr) -> Result<http1::SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connect {addr}"))?;
    stream.set_nodelay(true)?;
    let (send, conn) = http1::handshake(TokioIo::new(stream)).await?;
    // The connection's own task; it ends when `send` is dropped or the
    // server closes the connection.
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(send)
}
