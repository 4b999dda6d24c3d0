//! The web console: `GET /` (the page) and `GET /console/{file}` (its
//! scripts, styles and icon), embedded in the binary from `console/` at the
//! repository root, so a node serves it with nothing else installed.
//!
//! Every answer carries a strict `content-security-policy` (only this
//! origin: no inline script or style, no other host), `cache-control:
//! no-cache` with an `etag` (a browser revalidates and gets 304 while the
//! file is unchanged), `x-content-type-options: nosniff` and
//! `referrer-policy: no-referrer`. An unknown file answers the usual 404
//! JSON error. See `docs/console.md`.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use include_dir::{Dir, include_dir};
use sha2::{Digest, Sha256};

use super::ApiError;

/// The console's files.
static CONSOLE: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../console");

/// `(name, contents)` of console files, read with `include_bytes!`.
macro_rules! watched {
    ($($name:literal),* $(,)?) => {
        [$(($name, include_bytes!(concat!("../../../console/", $name)) as &[u8])),*]
    };
}

/// `include_dir!` cannot tell cargo to watch the files on stable Rust;
/// `include_bytes!` does, so an edited file rebuilds the binary. Only the
/// test `every_console_file_is_watched` reads it (it keeps the list complete).
#[cfg_attr(not(test), allow(dead_code))]
const WATCHED: [(&str, &[u8]); 17] = watched![
    "index.html",
    "style.css",
    "favicon.svg",
    "app.js",
    "api.js",
    "dom.js",
    "beacon-client.js",
    "stream.js",
    "live.js",
    "charts.js",
    "prometheus.js",
    "dashboard.js",
    "diff.js",
    "schemas.js",
    "plugins.js",
    "dead_letters.js",
    "signin.js",
];

/// Only this origin, for everything; no inline code; no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; font-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The console's entry page.
const INDEX: &str = "index.html";

/// One embedded file, ready to answer.
struct Asset {
    contents: &'static [u8],
    content_type: &'static str,
    etag: HeaderValue,
}

/// The media type of a console file, by extension; `None` for a file the
/// console does not serve.
pub fn content_type(name: &str) -> Option<&'static str> {
    let (_, extension) = name.rsplit_once('.')?;
    Some(match extension {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "json" => "application/json",
        _ => return None,
    })
}

/// The embedded files by name (top level only: the console is flat).
fn assets() -> &'static HashMap<&'static str, Asset> {
    static ASSETS: OnceLock<HashMap<&'static str, Asset>> = OnceLock::new();
    ASSETS.get_or_init(|| {
        CONSOLE
            .files()
            .filter_map(|file| {
                let name = file.path().to_str()?;
                let content_type = content_type(name)?;
                let digest = Sha256::digest(file.contents());
                let etag = format!("\"{}\"", hex::encode(&digest[..12]));
                Some((
                    name,
                    Asset {
                        contents: file.contents(),
                        content_type,
                        etag: HeaderValue::from_str(&etag).ok()?,
                    },
                ))
            })
            .collect()
    })
}

/// `GET /`: the console page.
pub async fn index(headers: HeaderMap) -> Response {
    serve(INDEX, &headers)
}

/// `GET /console/{file}`: a script, style sheet or icon of the console.
pub async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    serve(&file, &headers)
}

fn serve(name: &str, request: &HeaderMap) -> Response {
    let Some(asset) = assets().get(name) else {
        return ApiError::not_found(format!("the console has no file {name:?}")).into_response();
    };
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|t| t.trim().trim_start_matches("W/") == asset.etag)
        });
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        asset.contents.into_response()
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::ETAG, asset.etag.clone());
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use axum::Router;
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use axum::routing::get;
    use serde_json::Value;
    use tower::ServiceExt;

    use super::*;

    fn app() -> Router {
        Router::new()
            .route("/", get(index))
            .route("/console/{file}", get(asset))
    }

    async fn fetch(uri: &str, etag: Option<&str>) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut request = Request::get(uri);
        if let Some(etag) = etag {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        let response = app()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = to_bytes(response.into_body(), 1 << 22).await.unwrap();
        (status, headers, body.to_vec())
    }

    #[test]
    fn every_console_file_is_watched() {
        let embedded: BTreeSet<&str> = CONSOLE
            .entries()
            .iter()
            .filter_map(|e| e.path().to_str())
            .collect();
        let watched: BTreeSet<&str> = WATCHED.iter().map(|(name, _)| *name).collect();
        assert_eq!(embedded, watched, "console/ and WATCHED differ");
        for (name, bytes) in WATCHED {
            let file = CONSOLE.get_file(name).unwrap();
            assert_eq!(file.contents(), bytes, "{name}");
            assert!(content_type(name).is_some(), "{name} has no media type");
        }
    }

    /// `beacon-client.js` is the JavaScript client (`clients/js`) bundled by
    /// `npm run build` there; its header names the sources and their SHA-256.
    #[test]
    fn the_client_module_is_built_from_the_current_sources() {
        let module = CONSOLE
            .get_file("beacon-client.js")
            .unwrap()
            .contents_utf8();
        let module = module.expect("UTF-8");
        let field = |name: &str| {
            let prefix = format!("// {name}: ");
            module
                .lines()
                .take(5)
                .find_map(|line| line.strip_prefix(&prefix))
                .unwrap_or_else(|| panic!("beacon-client.js has no {name:?} line"))
        };
        let sources: Vec<&str> = field("sources").split(' ').collect();
        for expected in ["src/parser.ts", "src/subscribe.ts"] {
            assert!(sources.contains(&expected), "{sources:?}");
        }
        let client = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../clients/js");
        let mut digest = Sha256::new();
        for source in &sources {
            digest.update(format!("{source}\n"));
            digest.update(std::fs::read(client.join(source)).expect("a client source"));
        }
        assert_eq!(
            hex::encode(digest.finalize()),
            field("sha256"),
            "console/beacon-client.js was built from other sources: run `npm run build` in clients/js"
        );
    }

    #[tokio::test]
    async fn the_page_and_its_files_are_served_with_strict_headers() {
        let (status, headers, body) = fetch("/", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.starts_with("default-src 'self';"), "{csp}");
        assert!(!csp.contains("unsafe"), "{csp}");
        assert!(!csp.contains("http"), "{csp}");
        let page = String::from_utf8(body).unwrap();
        assert!(page.contains("/console/app.js"), "{page}");
        assert!(!page.contains("<script>"), "no inline script");

        for (uri, media) in [
            ("/console/app.js", "text/javascript; charset=utf-8"),
            ("/console/style.css", "text/css; charset=utf-8"),
            ("/console/favicon.svg", "image/svg+xml"),
        ] {
            let (status, headers, body) = fetch(uri, None).await;
            assert_eq!(status, StatusCode::OK, "{uri}");
            assert_eq!(headers[header::CONTENT_TYPE], media, "{uri}");
            assert!(!body.is_empty());
            let etag = headers[header::ETAG].to_str().unwrap().to_owned();
            let (status, headers, body) = fetch(uri, Some(&etag)).await;
            assert_eq!(status, StatusCode::NOT_MODIFIED, "{uri}");
            assert_eq!(headers[header::ETAG], etag.as_str());
            assert!(body.is_empty());
            let (status, _, _) = fetch(uri, Some("\"stale\"")).await;
            assert_eq!(status, StatusCode::OK, "{uri}");
        }
    }

    #[tokio::test]
    async fn every_module_the_page_loads_is_served() {
        let (_, _, page) = fetch("/console/app.js", None).await;
        let app = String::from_utf8(page).unwrap();
        let imports: Vec<&str> = app
            .lines()
            .filter(|l| l.starts_with("import "))
            .filter_map(|l| l.split('"').nth(1))
            .collect();
        assert!(imports.len() >= 5, "{imports:?}");
        for import in imports {
            let name = import.trim_start_matches("./");
            let (status, _, _) = fetch(&format!("/console/{name}"), None).await;
            assert_eq!(status, StatusCode::OK, "{import}");
        }
    }

    #[tokio::test]
    async fn unknown_files_are_a_json_404() {
        for uri in [
            "/console/nope.js",
            "/console/..%2Fsecret",
            "/console/index",
            "/console/%2e%2e",
        ] {
            let (status, headers, body) = fetch(uri, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
            assert_eq!(headers[header::CONTENT_TYPE], "application/json");
            let body: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(body["error"], "not_found", "{uri}");
        }
    }
}
