//! The console's page and assets, embedded in the binary. Each is served with an ETag (a
//! digest of its bytes) and `Cache-Control: no-cache`, so a browser revalidates and a new
//! binary's assets are picked up at once. The page's Content-Security-Policy allows nothing
//! but this origin: no inline script, no other host.

use std::sync::{Arc, LazyLock};

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::{error, Console};

/// What the page may load and call: this origin only (`data:` for the chart library's
/// canvas exports, which it never fetches).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
                   form-action 'self'; frame-ancestors 'none'";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const INDEX: Asset = Asset {
    name: "index.html",
    content_type: "text/html; charset=utf-8",
    body: include_bytes!("assets/index.html"),
};

/// Everything under `/console/assets/`.
const ASSETS: &[Asset] = &[
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/app.js"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("assets/app.css"),
    },
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("assets/icon.svg"),
    },
    // Chart.js, vendored unchanged (assets/vendor/chart.js/README.md: version, source, digest).
    Asset {
        name: "chart.umd.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/vendor/chart.js/chart.umd.min.js"),
    },
    Asset {
        name: "chart.js-LICENSE.md",
        content_type: "text/plain; charset=utf-8",
        body: include_bytes!("assets/vendor/chart.js/LICENSE.md"),
    },
];

/// ETags of the index and the assets, computed once.
static ETAGS: LazyLock<Vec<(&'static str, HeaderValue)>> = LazyLock::new(|| {
    std::iter::once(&INDEX)
        .chain(ASSETS)
        .map(|a| {
            let digest = Sha256::digest(a.body);
            let tag = format!("\"{}\"", hex_prefix(&digest));
            (
                a.name,
                HeaderValue::from_str(&tag).unwrap_or(HeaderValue::from_static("\"0\"")),
            )
        })
        .collect()
});

fn hex_prefix(digest: &[u8]) -> String {
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}

fn serve(asset: &Asset, request: &HeaderMap) -> Response {
    let etag = ETAGS
        .iter()
        .find(|(name, _)| *name == asset.name)
        .map(|(_, tag)| tag.clone());
    if let (Some(tag), Some(asked)) = (&etag, request.get(header::IF_NONE_MATCH)) {
        if asked.as_bytes() == tag.as_bytes() {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            response.headers_mut().insert(header::ETAG, tag.clone());
            return response;
        }
    }
    let mut response = asset.body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Some(tag) = etag {
        headers.insert(header::ETAG, tag);
    }
    response
}

/// `GET /`: the console.
pub async fn index(State(_): State<Arc<Console>>, request: HeaderMap) -> Response {
    let mut response = serve(&INDEX, &request);
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    response
}

/// `GET /console/assets/{file}`.
pub async fn asset(
    State(_): State<Arc<Console>>,
    Path(file): Path<String>,
    request: HeaderMap,
) -> Response {
    match ASSETS.iter().find(|a| a.name == file) {
        Some(asset) => serve(asset, &request),
        None => error(
            StatusCode::NOT_FOUND,
            "asset_not_found",
            format!("the console has no asset {file}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_assets_that_exist() {
        let page = std::str::from_utf8(INDEX.body).unwrap();
        let mut referenced = 0;
        for part in page.split("/console/assets/").skip(1) {
            let name = part.split('"').next().unwrap();
            assert!(
                ASSETS.iter().any(|a| a.name == name),
                "index.html loads {name}, which is not embedded"
            );
            referenced += 1;
        }
        assert!(referenced >= 4, "{referenced}");
        // Nothing from another origin, no inline script.
        assert!(!page.contains("http://") && !page.contains("https://"));
        assert!(!page.contains("<script>"));
    }

    #[test]
    fn the_vendored_chart_library_is_the_recorded_version() {
        let readme = include_str!("assets/vendor/chart.js/README.md");
        let body = ASSETS
            .iter()
            .find(|a| a.name == "chart.umd.min.js")
            .unwrap()
            .body;
        let digest: String = Sha256::digest(body)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(readme.contains(&digest), "README.md must record {digest}");
        let head = std::str::from_utf8(&body[..200]).unwrap();
        let version = head
            .split("Chart.js v")
            .nth(1)
            .and_then(|v| v.split_whitespace().next())
            .unwrap();
        assert!(
            readme.contains(&format!("chart.js@{version}")),
            "README.md must name chart.js@{version}"
        );
    }
}
