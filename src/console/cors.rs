//! CORS on the upload API of `imglake serve`, with the semantics of the deployment:
//! terraform's `cors_allow_origins` (API Gateway's `cors_configuration` on the API and the
//! raw bucket's CORS rule for presigned POSTs).
//!
//! - Origins are compared whole (`scheme://host[:port]`, no path); `*` allows every origin
//!   and `http://*` / `https://*` every origin of that scheme, as API Gateway's
//!   `allowOrigins` does. `http://HOST:*` (any port of one host) is this server's addition,
//!   for loopback origins whose port changes from run to run: `http://localhost:*`,
//!   `http://127.0.0.1:*` and `http://[::1]:*` are allowed by default.
//! - A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is answered
//!   here for every API route, as API Gateway answers preflights without an OPTIONS route:
//!   the methods and headers the route takes, `Max-Age` as deployed. A preflight from an
//!   origin that is not allowed gets 403 with the flag that would allow it.
//! - Any other request is handled as without CORS; the response carries
//!   `Access-Control-Allow-Origin` when the origin is allowed. No credentials (cookies)
//!   are allowed, as deployed.
//!
//! Only the upload API (`/images`, `/images/{id}`, `/upload/{bucket}`) takes cross-origin
//! calls; the console and `/healthz` are same-origin.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS,
    ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Origins allowed without any flag: the loopback ones, on any port.
pub const DEFAULT_ORIGINS: [&str; 3] =
    ["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"];

/// What the upload API takes, as terraform's `cors_configuration` lists it
/// (tests/python/test_terraform.py compares the two).
const API_METHODS: &str = "GET, HEAD, POST, PUT";
const API_HEADERS: &str = "authorization, content-type, idempotency-key, x-imglake-tenant";
/// Seconds a browser may cache a preflight: the API's `max_age`, the bucket's `max_age_seconds`.
const API_MAX_AGE: &str = "3600";
const UPLOAD_MAX_AGE: &str = "3000";
/// Response headers a page may read: the bucket rule's `expose_headers`, and `Retry-After`
/// of serve's 429 and 503 (on `/upload/…` too, though the S3 bucket sends none).
const API_EXPOSE: &str = "location, retry-after";
const UPLOAD_EXPOSE: &str = "etag, location, retry-after";

/// One allowed origin, or a family of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginPattern {
    /// `*`: every origin.
    Any,
    /// `http://*`: every origin of a scheme.
    Scheme(String),
    /// `http://localhost:*`: one host on any port (or none).
    AnyPort { scheme: String, host: String },
    /// `https://app.example.com` or `http://localhost:5173`.
    Exact(String),
}

impl OriginPattern {
    fn matches(&self, origin: &str) -> bool {
        match self {
            OriginPattern::Any => true,
            OriginPattern::Scheme(scheme) => origin
                .strip_prefix(scheme.as_str())
                .is_some_and(|rest| rest.starts_with("://")),
            OriginPattern::AnyPort { scheme, host } => {
                let Some(rest) = origin
                    .strip_prefix(scheme.as_str())
                    .and_then(|r| r.strip_prefix("://"))
                    .and_then(|r| r.strip_prefix(host.as_str()))
                else {
                    return false;
                };
                rest.is_empty()
                    || rest.strip_prefix(':').is_some_and(|port| {
                        !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
                    })
            }
            OriginPattern::Exact(exact) => origin == exact,
        }
    }
}

impl fmt::Display for OriginPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OriginPattern::Any => f.write_str("*"),
            OriginPattern::Scheme(s) => write!(f, "{s}://*"),
            OriginPattern::AnyPort { scheme, host } => write!(f, "{scheme}://{host}:*"),
            OriginPattern::Exact(o) => f.write_str(o),
        }
    }
}

impl FromStr for OriginPattern {
    type Err = String;

    /// Parses an origin as browsers send it (`scheme://host[:port]`, lower case, no path),
    /// or a pattern; a trailing `/` is forgiven.
    fn from_str(text: &str) -> Result<OriginPattern, String> {
        let hint = "use an origin like https://app.example.com or http://localhost:5173 \
                    (scheme://host[:port], no path), `http://HOST:*` for any port, \
                    `https://*` for any origin of a scheme, or `*`";
        let text = text.trim();
        let text = text.strip_suffix('/').unwrap_or(text);
        if text == "*" {
            return Ok(OriginPattern::Any);
        }
        let lower = text.to_ascii_lowercase();
        let Some((scheme, rest)) = lower.split_once("://") else {
            return Err(format!("`{text}` is not an origin: {hint}"));
        };
        if scheme.is_empty()
            || !scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            return Err(format!("`{text}` has no valid scheme: {hint}"));
        }
        if rest == "*" {
            return Ok(OriginPattern::Scheme(scheme.to_owned()));
        }
        let (host, port) = split_host_port(rest)
            .ok_or_else(|| format!("`{text}` is not scheme://host[:port]: {hint}"))?;
        let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            v6.parse::<std::net::Ipv6Addr>().is_ok()
        } else {
            !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.'))
        };
        if !host_ok {
            return Err(format!("`{text}` has no valid host: {hint}"));
        }
        match port {
            Some("*") => Ok(OriginPattern::AnyPort {
                scheme: scheme.to_owned(),
                host: host.to_owned(),
            }),
            Some(p) if p.parse::<u16>().is_err() => {
                Err(format!("`{text}` has no valid port: {hint}"))
            }
            // Browsers leave a scheme's default port out of the Origin header.
            Some(p) if (scheme, p) == ("http", "80") || (scheme, p) == ("https", "443") => {
                Ok(OriginPattern::Exact(format!("{scheme}://{host}")))
            }
            Some(p) => Ok(OriginPattern::Exact(format!("{scheme}://{host}:{p}"))),
            None => Ok(OriginPattern::Exact(format!("{scheme}://{host}"))),
        }
    }
}

/// `host[:port]` of an origin (IPv6 in brackets); `None` when a path, query or user follows.
fn split_host_port(rest: &str) -> Option<(&str, Option<&str>)> {
    if rest.contains(['/', '?', '#', '@']) {
        return None;
    }
    if rest.starts_with('[') {
        let end = rest.find(']')?;
        let (host, after) = rest.split_at(end + 1);
        return match after {
            "" => Some((host, None)),
            _ => Some((host, Some(after.strip_prefix(':')?))),
        };
    }
    match rest.split_once(':') {
        Some((host, port)) => Some((host, Some(port))),
        None => Some((rest, None)),
    }
}

/// The origins the API answers cross-origin calls from.
#[derive(Debug, Clone)]
pub struct CorsPolicy {
    origins: Vec<OriginPattern>,
}

impl CorsPolicy {
    /// The loopback defaults plus `extra` (from `--cors-origin`).
    pub fn new(extra: &[OriginPattern]) -> CorsPolicy {
        let mut origins: Vec<OriginPattern> = DEFAULT_ORIGINS
            .iter()
            .filter_map(|o| o.parse().ok())
            .collect();
        for pattern in extra {
            if !origins.contains(pattern) {
                origins.push(pattern.clone());
            }
        }
        CorsPolicy { origins }
    }

    /// Whether a request from `origin` may read the API's answers.
    pub fn allows(&self, origin: &str) -> bool {
        self.origins.iter().any(|p| p.matches(origin))
    }

    /// What `Access-Control-Allow-Origin` says to an allowed `origin`: `*` when only `*`
    /// allows it (as API Gateway answers), else the origin itself.
    fn allow_origin(&self, origin: &str) -> HeaderValue {
        let named = self
            .origins
            .iter()
            .any(|p| *p != OriginPattern::Any && p.matches(origin));
        if named {
            HeaderValue::from_str(origin).unwrap_or_else(|_| HeaderValue::from_static("null"))
        } else {
            HeaderValue::from_static("*")
        }
    }

    /// The allowed origins as a list for the startup line.
    pub fn describe(&self) -> String {
        self.origins
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Which part of the API a path belongs to, for its CORS answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// `/images`, `/images/{id}`: the API Gateway routes.
    Api,
    /// `/upload/{bucket}`: the local stand-in of the raw bucket.
    Upload,
}

fn route_of(path: &str) -> Option<Route> {
    if path == "/images" || path.starts_with("/images/") {
        Some(Route::Api)
    } else if path.starts_with("/upload/") {
        Some(Route::Upload)
    } else {
        None
    }
}

/// The middleware: answers preflights of the upload API and marks its responses.
pub async fn apply(
    State(policy): State<Arc<CorsPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(route) = route_of(request.uri().path()) else {
        return next.run(request).await;
    };
    let origin = request
        .headers()
        .get(ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let Some(origin) = origin else {
        // A cache must not hand this answer to a page of another origin, nor theirs here.
        let mut response = next.run(request).await;
        response
            .headers_mut()
            .append(VARY, HeaderValue::from_static("origin"));
        return response;
    };
    let is_preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(ACCESS_CONTROL_REQUEST_METHOD);
    if is_preflight {
        return preflight(&policy, route, &origin, request.headers());
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.append(VARY, HeaderValue::from_static("origin"));
    if policy.allows(&origin) {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, policy.allow_origin(&origin));
        headers.insert(
            ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(match route {
                Route::Api => API_EXPOSE,
                Route::Upload => UPLOAD_EXPOSE,
            }),
        );
    }
    response
}

fn preflight(policy: &CorsPolicy, route: Route, origin: &str, request: &HeaderMap) -> Response {
    let vary = HeaderValue::from_static(
        "origin, access-control-request-method, access-control-request-headers",
    );
    if !policy.allows(origin) {
        let mut response = crate::conn::json_error(
            StatusCode::FORBIDDEN,
            "cors_origin_not_allowed",
            format!(
                "the origin {origin} may not call this API from a browser; start imglake serve \
                 with --cors-origin {origin} (or IMGLAKE_CORS_ORIGINS) to allow it. Allowed: {}",
                policy.describe()
            ),
        );
        response.headers_mut().insert(VARY, vary);
        return response;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert(VARY, vary);
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, policy.allow_origin(origin));
    match route {
        Route::Api => {
            headers.insert(
                ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(API_METHODS),
            );
            headers.insert(
                ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(API_HEADERS),
            );
            headers.insert(
                ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static(API_MAX_AGE),
            );
        }
        Route::Upload => {
            // The bucket's rule: POST, any request header (`allowed_headers = ["*"]`).
            headers.insert(
                ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("POST"),
            );
            if let Some(asked) = request.get(ACCESS_CONTROL_REQUEST_HEADERS) {
                headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
            }
            headers.insert(
                ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static(UPLOAD_MAX_AGE),
            );
        }
    }
    response
}

/// `--cors-origin` values.
pub fn parse_origin(text: &str) -> Result<OriginPattern, String> {
    text.parse()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(extra: &[&str]) -> CorsPolicy {
        let extra: Vec<OriginPattern> = extra.iter().map(|o| o.parse().unwrap()).collect();
        CorsPolicy::new(&extra)
    }

    #[test]
    fn loopback_origins_on_any_port_are_allowed_by_default() {
        let p = policy(&[]);
        for origin in [
            "http://localhost:5173",
            "http://127.0.0.1:8080",
            "http://localhost",
            "http://[::1]:3000",
        ] {
            assert!(p.allows(origin), "{origin}");
        }
        for origin in [
            "https://localhost:5173",
            "http://localhost.evil.example",
            "http://localhost:5173.evil.example",
            "http://127.0.0.1.nip.io:80",
            "http://localhost:",
            "http://app.test:8080",
            "null",
            "",
        ] {
            assert!(!p.allows(origin), "{origin}");
        }
    }

    #[test]
    fn added_origins_match_whole_like_api_gateway() {
        let p = policy(&["https://app.example.com", "http://app.test:8081/"]);
        assert!(p.allows("https://app.example.com"));
        assert!(p.allows("http://app.test:8081"));
        assert!(!p.allows("https://app.example.com:8443"));
        assert!(!p.allows("http://app.example.com"));
        assert!(!p.allows("https://sub.app.example.com"));
        assert!(!p.allows("http://app.test:8082"));
        assert_eq!(
            p.allow_origin("http://app.test:8081"),
            HeaderValue::from_static("http://app.test:8081")
        );
    }

    #[test]
    fn wildcards_allow_every_origin_or_every_origin_of_a_scheme() {
        let any = policy(&["*"]);
        assert!(any.allows("https://anything.example"));
        assert_eq!(
            any.allow_origin("https://anything.example"),
            HeaderValue::from_static("*")
        );
        // A loopback origin matched by its own pattern is echoed.
        assert_eq!(
            any.allow_origin("http://localhost:1"),
            HeaderValue::from_static("http://localhost:1")
        );
        let https = policy(&["https://*"]);
        assert!(https.allows("https://a.example"));
        assert!(!https.allows("http://a.example"));
        assert!(!https.allows("httpsx://a.example"));
    }

    #[test]
    fn origins_are_normalized_and_bad_ones_name_the_form() {
        assert_eq!(
            "HTTPS://App.Example.com:443".parse::<OriginPattern>(),
            Ok(OriginPattern::Exact("https://app.example.com".into()))
        );
        assert_eq!(
            "http://localhost:80".parse::<OriginPattern>(),
            Ok(OriginPattern::Exact("http://localhost".into()))
        );
        for bad in [
            "app.example.com",
            "https://app.example.com/path",
            "https://user@app.example.com",
            "https://app.example.com:99999",
            "https://",
            "://x",
            "https://[zz]:80",
            "https://a b",
        ] {
            let err = bad.parse::<OriginPattern>().unwrap_err();
            assert!(err.contains("scheme://host[:port]"), "{bad}: {err}");
        }
    }

    #[test]
    fn only_the_upload_api_is_cross_origin() {
        assert_eq!(route_of("/images"), Some(Route::Api));
        assert_eq!(route_of("/images/01ABC"), Some(Route::Api));
        assert_eq!(route_of("/upload/raw"), Some(Route::Upload));
        assert_eq!(route_of("/"), None);
        assert_eq!(route_of("/console/api/images"), None);
        assert_eq!(route_of("/healthz"), None);
        assert_eq!(route_of("/imagesx"), None);
    }
}
