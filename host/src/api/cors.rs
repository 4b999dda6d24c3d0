//! CORS: the node-wide layer of every route but the stream, and the
//! stream's own answers, decided per tenant.
//!
//! Browsers read `GET /v1/stream` with credentials
//! (`EventSource(url, {withCredentials: true})` sends the `beacon_token`
//! cookie). Which origins may do so is the tenant's choice (its
//! `cors_origins`) on top of the node's (`--cors-origins`), and the tenant
//! is known only once the token is verified: so the stream is not under
//! the node-wide layer and decides its CORS headers itself ([`decide`]).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::cors::{Any, CorsLayer};

use super::ApiError;
use super::auth::TokenSource;
use crate::state::AppState;
use crate::tenants::MAX_ORIGIN_LEN;

/// How long a browser may reuse the stream's preflight answer, in seconds.
const PREFLIGHT_MAX_AGE_S: &str = "600";

/// The node-wide CORS of every route but `/v1/stream`: any origin without
/// credentials by default; with configured origins, exactly those, with
/// credentials.
pub fn layer(origins: &[String]) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("last-event-id"),
            HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([
            HeaderName::from_static("idempotent-replayed"),
            header::RETRY_AFTER,
        ]);
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if allowed.is_empty() {
        layer.allow_origin(Any)
    } else {
        layer.allow_origin(allowed).allow_credentials(true)
    }
}

/// What the stream answers a request's `Origin` with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// No CORS headers: the request has no `Origin` (same origin, or not a
    /// browser), or its origin is not listed while some list exists (the
    /// browser then does not let the page read the answer).
    None,
    /// `Access-Control-Allow-Origin: *`, without credentials: neither the
    /// tenant nor the node lists origins.
    Any,
    /// A listed origin: it may read the answer with credentials.
    Credentials(HeaderValue),
}

fn listed(origin: &HeaderValue, list: &[String]) -> bool {
    list.iter().any(|o| o.as_bytes() == origin.as_bytes())
}

/// The stream's CORS for a request from `origin` whose token came from
/// `source`, given the tenant's and the node's lists. A token from the
/// cookie sent from an origin that is not listed is refused (403
/// `origin_not_allowed`): the browser sends the cookie on its own, so
/// another site's page could otherwise open streams in the user's name
/// (counting against their connection cap). A caller that sends the token
/// itself holds it, so it is never refused for its origin.
pub fn decide(
    origin: Option<&HeaderValue>,
    source: TokenSource,
    tenant: &[String],
    node: &[String],
) -> Result<Grant, ApiError> {
    let Some(origin) = origin else {
        return Ok(Grant::None);
    };
    if listed(origin, tenant) || listed(origin, node) {
        return Ok(Grant::Credentials(origin.clone()));
    }
    if source == TokenSource::Cookie {
        let shown = String::from_utf8_lossy(origin.as_bytes());
        let shown: String = shown.chars().take(MAX_ORIGIN_LEN).collect();
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            format!(
                "the origin {shown:?} may not open this tenant's stream with the `beacon_token` \
                 cookie: list it in the tenant's `cors_origins`, or send the token in the \
                 `Authorization` header or as `access_token`"
            ),
        ));
    }
    Ok(if tenant.is_empty() && node.is_empty() {
        Grant::Any
    } else {
        Grant::None
    })
}

impl Grant {
    /// Adds the grant's headers to an answer.
    pub fn apply(&self, headers: &mut HeaderMap) {
        match self {
            Grant::None => return,
            Grant::Any => {
                headers.insert(
                    header::ACCESS_CONTROL_ALLOW_ORIGIN,
                    HeaderValue::from_static("*"),
                );
            }
            Grant::Credentials(origin) => {
                headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
                headers.insert(
                    header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    HeaderValue::from_static("true"),
                );
                headers.append(header::VARY, HeaderValue::from_static("Origin"));
            }
        }
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("retry-after"),
        );
    }
}

/// Error answers of the stream (400, 401, 403, 429, ...) that carry no CORS
/// headers get the node's: credentialed for an origin of `--cors-origins`,
/// `*` when the node lists none, so that a browser client can read why it
/// was refused. The tenant's own list is not consulted: most of these
/// errors come before the tenant is known.
pub async fn error_headers(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let origin = request.headers().get(header::ORIGIN).cloned();
    let mut response = next.run(request).await;
    let failed = response.status().is_client_error() || response.status().is_server_error();
    let Some(origin) = origin.filter(|_| failed) else {
        return response;
    };
    if response
        .headers()
        .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
    {
        return response;
    }
    // The node's grant: `decide` without a tenant list, for a token the
    // caller sent itself (never refused).
    let node = &state.settings.cors_origins;
    if let Ok(grant) = decide(Some(&origin), TokenSource::Header, &[], node) {
        grant.apply(response.headers_mut());
    }
    response
}

/// `OPTIONS /v1/stream`: the CORS preflight, granted to every origin.
///
/// A preflight carries no credentials, so the tenant (and its list) is not
/// known here. Granting it is safe: the browser lets a page read the
/// stream only if the actual `GET` answer allows its origin, which it does
/// only for listed origins; and a `GET` that comes with the cookie from an
/// origin that is not listed is refused (403 `origin_not_allowed`) before
/// the connection counts anywhere ([`decide`]). A page that passes
/// `Authorization` must hold the token already.
pub async fn preflight(headers: HeaderMap) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let h = response.headers_mut();
    if let Some(origin) = headers.get(header::ORIGIN) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, last-event-id"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(PREFLIGHT_MAX_AGE_S),
    );
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(o: &'static str) -> HeaderValue {
        HeaderValue::from_static(o)
    }

    #[test]
    fn the_origin_the_token_source_and_the_lists_decide() {
        use Grant::{Any, Credentials, None};
        use TokenSource::{Cookie, Header, Query};
        let app = origin("https://app.example.com");
        let evil = origin("https://evil.example");
        let tenant = ["https://app.example.com".to_owned()];
        let node = ["https://node.example".to_owned()];
        let none: [String; 0] = [];
        for source in [Header, Query, Cookie] {
            assert_eq!(decide(Option::None, source, &tenant, &node).unwrap(), None);
            assert_eq!(decide(Option::None, source, &none, &none).unwrap(), None);
            assert_eq!(
                decide(Some(&app), source, &tenant, &none).unwrap(),
                Credentials(app.clone())
            );
            let from_node = origin("https://node.example");
            assert_eq!(
                decide(Some(&from_node), source, &none, &node).unwrap(),
                Credentials(from_node.clone())
            );
        }
        for source in [Header, Query] {
            assert_eq!(decide(Some(&evil), source, &none, &none).unwrap(), Any);
            assert_eq!(decide(Some(&evil), source, &tenant, &none).unwrap(), None);
            assert_eq!(decide(Some(&evil), source, &none, &node).unwrap(), None);
        }
        for (t, n) in [(&none[..], &none[..]), (&tenant, &none), (&none, &node)] {
            let refused = decide(Some(&evil), Cookie, t, n).unwrap_err();
            assert_eq!(
                (refused.status, refused.code),
                (StatusCode::FORBIDDEN, "origin_not_allowed")
            );
            assert!(refused.message.contains("https://evil.example"));
        }
        // `null` (sandboxed frames, files) is never listed.
        let null = origin("null");
        assert!(decide(Some(&null), Cookie, &tenant, &node).is_err());
        // Origins are compared exactly, as browsers send them.
        let prefix = origin("https://app.example.com.evil.example");
        assert!(decide(Some(&prefix), Cookie, &tenant, &node).is_err());
    }
}
