//! The web console of `imglake serve`, at `/`: upload through the presigned-POST flow, a live
//! list of images and their details, and the BI queries and data-quality checks of `sql/` as
//! charts over the lake. The page and its scripts are embedded in the binary (no CDN, works
//! offline); everything it calls is on this origin:
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /` | the console (one page; `#/upload`, `#/images`, `#/images/{id}`, `#/dashboard`) |
//! | `GET /console/assets/{file}` | its script, style sheet and the vendored Chart.js |
//! | `GET /console/api/config` | limits, rejection codes → HTTP status, flush settings |
//! | `GET /console/api/images?status&source&tenant&limit&after` | a page of images, newest first |
//! | `GET /console/api/facets` | image counts by status, source and tenant |
//! | `GET /console/api/images/{id}` | the item (as `GET /images/{id}`), variants, lake history |
//! | `GET /console/files/{id}/{content}/{variant file}` | a variant's bytes (thumbnails, links; `{content}` is absent from keys of items written before variants were keyed by content) |
//! | `GET /console/api/lake` | feed cursor, changes waiting, files in the lake |
//! | `GET /console/api/queries` | the names and descriptions of sql/queries and sql/checks |
//! | `GET /console/api/queries/{name}` | one query of sql/queries over the lake (DataFusion) |
//! | `GET /console/api/checks` | every check of sql/checks over the lake |
//!
//! The upload API itself (`/images`, `/upload/{bucket}`) is unchanged; [`cors`] lets pages of
//! other origins call it.

pub mod cors;
mod dashboard;
mod images;
mod static_files;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, MethodRouter};
use axum::Router;
use datafusion::prelude::SessionContext;

use crate::conn::json_error as error;
use crate::local::Local;

/// What the console shows of serve's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub flush_records: u64,
    pub flush_age: Duration,
    pub compact_files: usize,
}

/// How long a dashboard result is reused while the feed has not moved (a check such as
/// events_in_future also depends on the clock).
const RESULT_REUSE: Duration = Duration::from_secs(60);

/// The console's state: the data directory's stores and its lake.
pub struct Console {
    local: Arc<Local>,
    settings: Settings,
    /// Dashboard results by query, with the feed position they were computed at: every open
    /// dashboard, and any client polling it, share one computation per flush.
    results: std::sync::Mutex<HashMap<String, Computed>>,
}

struct Computed {
    cursor: u64,
    at: Instant,
    body: serde_json::Value,
}

impl Console {
    /// The console over `local`; adds the metadata store's listing index.
    pub async fn new(local: Arc<Local>, settings: Settings) -> anyhow::Result<Arc<Console>> {
        local.pipeline.store.prepare_listing().await?;
        Ok(Arc::new(Console {
            local,
            settings,
            results: std::sync::Mutex::new(HashMap::new()),
        }))
    }

    /// The result of `key` computed at feed position `cursor`, if it is recent.
    fn reuse(&self, key: &str, cursor: u64) -> Option<serde_json::Value> {
        let results = self.results.lock().ok()?;
        results
            .get(key)
            .filter(|c| c.cursor == cursor && c.at.elapsed() < RESULT_REUSE)
            .map(|c| c.body.clone())
    }

    /// Keeps `body`, computed from the lake when the feed was at `cursor` (read before the
    /// query ran, so a result is never kept under a later position than it has seen).
    fn keep(&self, key: &str, cursor: u64, body: &serde_json::Value) {
        if let Ok(mut results) = self.results.lock() {
            results.insert(
                key.to_owned(),
                Computed {
                    cursor,
                    at: Instant::now(),
                    body: body.clone(),
                },
            );
        }
    }

    /// A DataFusion session over the lake, as `imglake query` makes one. A new one per
    /// request: a session caches the lake's file listing for its lifetime, and the exporter
    /// adds files every few seconds.
    async fn session(&self) -> anyhow::Result<SessionContext> {
        crate::engine::session(&self.local.lake).await
    }
}

/// The console's routes, to merge into serve's router.
pub fn router<S>(console: Arc<Console>) -> Router<S> {
    Router::new()
        .route("/", page(static_files::index))
        .route("/console/assets/{file}", page(static_files::asset))
        .route("/console/api/config", page(images::config))
        .route("/console/api/images", page(images::list))
        .route("/console/api/facets", page(images::facets))
        .route("/console/api/images/{id}", page(images::detail))
        .route("/console/files/{id}/{file}", page(images::file))
        .route(
            "/console/files/{id}/{content}/{file}",
            page(images::content_file),
        )
        .route("/console/api/lake", page(dashboard::lake))
        .route("/console/api/queries", page(dashboard::catalog))
        .route("/console/api/queries/{name}", page(dashboard::query))
        .route("/console/api/checks", page(dashboard::checks))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(console)
}

/// A console route: GET (and HEAD); other methods get 405 with `Allow`.
fn page<H, T>(handler: H) -> MethodRouter<Arc<Console>>
where
    H: axum::handler::Handler<T, Arc<Console>>,
    T: 'static,
{
    get(handler).fallback(|| async {
        let mut response = error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "the console's routes take GET",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        response
    })
}

/// What every console response carries: no sniffing, no referrer, no framing.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// A failure inside the console: logged whole, answered with its message.
fn internal(what: &str, err: &anyhow::Error) -> Response {
    tracing::error!(error = format!("{err:#}"), "console: {what} failed");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "console_error",
        format!("{what} failed: {err:#}"),
    )
}
