//! The console's image endpoints: settings for the upload page, the list of images (a page
//! at a time from the metadata store), one image's details with its history in the lake, and
//! the variants' bytes.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use datafusion::scalar::ScalarValue;
use imglake_pipeline::handlers::upload::{item_view, status_for_rejection, TENANT_HEADER};
use imglake_pipeline::handlers::{is_valid_image_id, is_valid_tenant};
use imglake_pipeline::model::{ImageItem, Source, Status};
use imglake_pipeline::store::{ItemFilter, ListCursor, MetadataStore, MAX_LIST_PAGE as MAX_PAGE};
use imglake_pipeline::validate::RejectCode;
use serde_json::{json, Value};

use super::dashboard::{run_sql, Table};
use super::{error, internal, Console};

/// Images per page when the request names no `limit`.
const DEFAULT_PAGE: usize = 50;

/// Largest variant the console sends (variants are at most 8192 px a side).
const MAX_VARIANT_BYTES: u64 = 256 * 1024 * 1024;

/// `GET /console/api/config`: what the upload page needs to know.
pub async fn config(State(console): State<Arc<Console>>) -> Response {
    let config = &console.local.pipeline.config;
    // The HTTP status each refusal has on `PUT /images`, so the page names the same code
    // for an image refused after a presigned upload.
    let rejections: serde_json::Map<String, Value> = RejectCode::ALL
        .iter()
        .map(|c| {
            (
                c.as_str().to_owned(),
                json!(status_for_rejection(c.as_str())),
            )
        })
        .collect();
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "max_bytes": config.limits.max_bytes,
        "direct_max_bytes": config.direct_max_bytes,
        "max_pixels": config.limits.max_pixels,
        "allow_tiff": config.limits.allow_tiff,
        "tenant_header": TENANT_HEADER,
        "rejections": rejections,
        "flush_records": console.settings.flush_records,
        "flush_age_ms": u64::try_from(console.settings.flush_age.as_millis()).unwrap_or(u64::MAX),
        "compact_files": console.settings.compact_files,
        "lake": console.local.lake.display,
    }))
    .into_response()
}

/// The query of `GET /console/api/images`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    source: Option<String>,
    tenant: Option<String>,
    limit: Option<String>,
    after: Option<String>,
}

/// A filter from the query, or what is wrong with the bad parameter.
fn filter_of(q: &ListQuery) -> Result<(ItemFilter, Option<ListCursor>, usize), String> {
    let given = |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
    let status = match given(&q.status) {
        None => None,
        Some(s) => Some(
            Status::ALL
                .into_iter()
                .find(|st| st.as_str().eq_ignore_ascii_case(&s))
                .ok_or_else(|| {
                    let all: Vec<&str> = Status::ALL.iter().map(|st| st.as_str()).collect();
                    format!("status `{s}` is none of {}", all.join(", "))
                })?,
        ),
    };
    let source = match given(&q.source).as_deref() {
        None => None,
        Some(s) if s.eq_ignore_ascii_case("api") => Some(Source::Api),
        Some(s) if s.eq_ignore_ascii_case("kafka") => Some(Source::Kafka),
        Some(s) => return Err(format!("source `{s}` is neither api nor kafka")),
    };
    let tenant = match given(&q.tenant) {
        Some(t) if !is_valid_tenant(&t) => {
            return Err(format!(
                "tenant `{t}` is not 1 to 64 of a-z A-Z 0-9 _ - . characters"
            ))
        }
        t => t,
    };
    let limit = match given(&q.limit) {
        None => DEFAULT_PAGE,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => return Err(format!("limit `{l}` is not a number from 1 to {MAX_PAGE}")),
        },
    };
    let after = match given(&q.after) {
        None => None,
        Some(a) => Some(ListCursor::decode(&a).ok_or_else(|| {
            format!("after `{a}` is not a cursor this list gave (use the `next` of a page)")
        })?),
    };
    Ok((
        ItemFilter {
            status,
            source,
            tenant,
        },
        after,
        limit,
    ))
}

/// `GET /console/api/images`: a page of images, newest first.
pub async fn list(State(console): State<Arc<Console>>, Query(q): Query<ListQuery>) -> Response {
    let (filter, after, limit) = match filter_of(&q) {
        Ok(f) => f,
        Err(message) => return error(StatusCode::BAD_REQUEST, "invalid_parameter", message),
    };
    let started = std::time::Instant::now();
    let page = match console
        .local
        .pipeline
        .store
        .list_items(&filter, after.as_ref(), limit)
        .await
    {
        Ok(page) => page,
        Err(err) => return internal("listing images", &err.into()),
    };
    Json(json!({
        "images": page.items.iter().map(summary).collect::<Vec<_>>(),
        "total": page.total,
        "next": page.next.map(|c| c.encode()),
        "elapsed_ms": started.elapsed().as_secs_f64() * 1000.0,
    }))
    .into_response()
}

/// `GET /console/api/facets`: counts for the list's filters.
pub async fn facets(State(console): State<Arc<Console>>) -> Response {
    match console.local.pipeline.store.item_facets().await {
        Ok(f) => Json(json!({
            "total": f.total,
            "statuses": f.statuses.iter().map(|(s, n)| json!({"value": s.as_str(), "count": n})).collect::<Vec<_>>(),
            "sources": f.sources.iter().map(|(s, n)| json!({"value": s.as_str(), "count": n})).collect::<Vec<_>>(),
            "tenants": f.tenants.iter().map(|(t, n)| json!({"value": t, "count": n})).collect::<Vec<_>>(),
        }))
        .into_response(),
        Err(err) => internal("counting images", &err.into()),
    }
}

/// The variants of an item, each with the URL the console serves it at.
fn variants(item: &ImageItem) -> Vec<Value> {
    let Some(list) = item
        .variants_json
        .as_deref()
        .and_then(|v| serde_json::from_str::<Vec<Value>>(v).ok())
    else {
        return Vec::new();
    };
    list.into_iter()
        .map(|mut v| {
            // `<id>/<content>/<file>` (variants keyed by the upload's content), or
            // `<id>/<file>` (items written before).
            let url = v["key"]
                .as_str()
                .and_then(|k| k.split_once('/'))
                .filter(|(id, rest)| {
                    *id == item.image_id
                        && match rest.split_once('/') {
                            Some((content, file)) => is_content(content) && is_variant_file(file),
                            None => is_variant_file(rest),
                        }
                })
                .map(|(id, rest)| format!("/console/files/{id}/{rest}"));
            if let (Some(map), Some(url)) = (v.as_object_mut(), url) {
                map.insert("url".to_owned(), Value::String(url));
            }
            v
        })
        .collect()
}

/// The variant to show as a thumbnail: `thumb`, else the smallest.
fn thumbnail(variants: &[Value]) -> Option<String> {
    variants
        .iter()
        .find(|v| v["name"] == "thumb")
        .or_else(|| variants.iter().min_by_key(|v| v["bytes"].as_u64()))
        .and_then(|v| v["url"].as_str().map(str::to_owned))
}

/// One row of the list.
fn summary(item: &ImageItem) -> Value {
    let variants = variants(item);
    json!({
        "image_id": item.image_id,
        "status": item.status,
        "source": item.source,
        "tenant": item.tenant,
        "format": item.format,
        "size_bytes": item.size_bytes,
        "width": item.width,
        "height": item.height,
        "received_at": item.received_at,
        "processed_at": item.processed_at,
        "processing_ms": item.processing_ms,
        "dominant_color": item.dominant_color,
        "error_code": item.error_code,
        "error_message": item.error_message,
        "http_status": rejection_status(item),
        "thumbnail": thumbnail(&variants),
    })
}

/// For a refused image: the status `PUT /images` answers its refusal with.
fn rejection_status(item: &ImageItem) -> Option<u16> {
    (item.status == Status::Rejected)
        .then(|| item.error_code.as_deref().map(status_for_rejection))
        .flatten()
}

/// The lake's history of one image: every change, as the deduplicated view has it.
const HISTORY_SQL: &str = "SELECT sequence_number, event_name, event_time, previous_status, \
     status, is_ttl_expiry, error_code, processing_ms, exported_at, dt, hour \
     FROM image_events_dedup WHERE image_id = $1 ORDER BY sequence_number";

/// `GET /console/api/images/{id}`: the item, its variants and its history in the lake. An
/// image expired by TTL (or deleted) is gone from the store but its history stays.
pub async fn detail(State(console): State<Arc<Console>>, Path(id): Path<String>) -> Response {
    if !is_valid_image_id(&id) {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_image_id",
            "image ids are 1 to 64 of A-Z a-z 0-9 _ -",
        );
    }
    let item = match console.local.pipeline.store.get(&id).await {
        Ok(item) => item,
        Err(err) => return internal("reading the image", &err.into()),
    };
    let history = run_sql(
        &console,
        HISTORY_SQL,
        vec![ScalarValue::Utf8(Some(id.clone()))],
        10_000,
    )
    .await;
    let pending = console.local.pending().await.ok();
    let (history, history_error) = match history {
        Ok(table) => (table, None),
        Err(err) => {
            tracing::warn!(
                image_id = id,
                error = format!("{err:#}"),
                "console: history"
            );
            (Table::default(), Some(format!("{err:#}")))
        }
    };
    if item.is_none() && history.rows.is_empty() {
        return error(
            StatusCode::NOT_FOUND,
            "image_not_found",
            format!("no image {id}: never received, or expired and not in the lake"),
        );
    }
    Json(json!({
        "image_id": id,
        "item": item.as_ref().map(item_view),
        "variants": item.as_ref().map(variants).unwrap_or_default(),
        "http_status": item.as_ref().and_then(rejection_status),
        "history": history,
        "history_error": history_error,
        "pending_changes": pending,
        "flush_age_ms": u64::try_from(console.settings.flush_age.as_millis()).unwrap_or(u64::MAX),
    }))
    .into_response()
}

/// A variant's file name: `<name>.<jpg|png|webp>`, the name as recipes allow it.
fn is_variant_file(file: &str) -> bool {
    let Some((name, ext)) = file.rsplit_once('.') else {
        return false;
    };
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && matches!(ext, "jpg" | "png" | "webp")
}

/// The content segment of a variant key: hex digits of the upload's SHA-256.
fn is_content(segment: &str) -> bool {
    (1..=64).contains(&segment.len()) && segment.bytes().all(|b| b.is_ascii_hexdigit())
}

fn no_such_file() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "file_not_found",
        "no such variant file (GET /console/api/images/{id} lists them)",
    )
}

/// `GET /console/files/{id}/{file}`: a variant's bytes from the processed store (keys of
/// items written before variants were keyed by content).
pub async fn file(
    State(console): State<Arc<Console>>,
    Path((id, file)): Path<(String, String)>,
) -> Response {
    if !is_valid_image_id(&id) || !is_variant_file(&file) {
        return no_such_file();
    }
    variant_bytes(&console, format!("{id}/{file}")).await
}

/// `GET /console/files/{id}/{content}/{file}`: a variant's bytes, keyed by its upload's content.
pub async fn content_file(
    State(console): State<Arc<Console>>,
    Path((id, content, file)): Path<(String, String, String)>,
) -> Response {
    if !is_valid_image_id(&id) || !is_content(&content) || !is_variant_file(&file) {
        return no_such_file();
    }
    variant_bytes(&console, format!("{id}/{content}/{file}")).await
}

async fn variant_bytes(console: &Console, key: String) -> Response {
    let file = key.rsplit('/').next().unwrap_or("").to_owned();
    let processed = &console.local.pipeline.processed;
    match processed.size(&key).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return error(
                StatusCode::NOT_FOUND,
                "file_not_found",
                format!("no variant {key} (not processed, or expired)"),
            )
        }
        Err(err) => return internal("reading a variant", &err.into()),
    }
    let bytes = match processed.get(&key, MAX_VARIANT_BYTES).await {
        Ok(bytes) => bytes,
        Err(err) => return internal("reading a variant", &err.into()),
    };
    let content_type = match file.rsplit_once('.').map(|(_, e)| e) {
        Some("png") => "image/png",
        Some("webp") => "image/webp",
        _ => "image/jpeg",
    };
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // A variant's key is written once per image; the image may expire, so keep it short.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=300"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> ListQuery {
        let mut q = ListQuery::default();
        for (k, v) in pairs {
            let v = Some((*v).to_owned());
            match *k {
                "status" => q.status = v,
                "source" => q.source = v,
                "tenant" => q.tenant = v,
                "limit" => q.limit = v,
                "after" => q.after = v,
                _ => unreachable!(),
            }
        }
        q
    }

    #[test]
    fn list_parameters_are_checked_and_named_when_wrong() {
        let (f, after, limit) = filter_of(&query(&[
            ("status", "processed"),
            ("source", "kafka"),
            ("tenant", "acme"),
            ("limit", "10"),
            ("after", "1795525200000.01ABC"),
        ]))
        .unwrap();
        assert_eq!(f.status, Some(Status::Processed));
        assert_eq!(f.source, Some(Source::Kafka));
        assert_eq!(f.tenant.as_deref(), Some("acme"));
        assert_eq!(limit, 10);
        assert_eq!(after.unwrap().image_id, "01ABC");
        let (f, after, limit) = filter_of(&query(&[("status", ""), ("tenant", "")])).unwrap();
        assert_eq!(f, ItemFilter::default());
        assert!(after.is_none());
        assert_eq!(limit, DEFAULT_PAGE);
        for bad in [
            ("status", "DONE"),
            ("source", "ftp"),
            ("tenant", "a b"),
            ("limit", "0"),
            ("limit", "501"),
            ("limit", "x"),
            ("after", "nope"),
        ] {
            let message = filter_of(&query(&[bad])).unwrap_err();
            assert!(message.contains(bad.0), "{bad:?}: {message}");
        }
    }

    #[test]
    fn variant_files_are_names_the_recipes_allow() {
        assert!(is_content("0123456789abcdef"));
        assert!(!is_content("..") && !is_content("") && !is_content("0123/x"));
        for ok in ["thumb.jpg", "display.webp", "card_2x-b.png"] {
            assert!(is_variant_file(ok), "{ok}");
        }
        for bad in [
            "../x.jpg",
            "thumb.gif",
            "thumb",
            ".jpg",
            "a/b.jpg",
            "thumb.jpg/x",
        ] {
            assert!(!is_variant_file(bad), "{bad}");
        }
    }
}
