//! The console's dashboard: the queries of `sql/queries` and the checks of `sql/checks`, run
//! by DataFusion over the lake exactly as `imglake query` and `imglake check` run them (the
//! same embedded SQL, the same session), and the lake's state, which the page polls to
//! refresh its charts when the exporter has flushed.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::scalar::ScalarValue;
use futures::TryStreamExt;
use imglake_exporter::layout::Partition;
use imglake_exporter::layout::{is_quarantine_key, table_prefix};
use serde::Serialize;
use serde_json::{json, Value};

use super::{error, internal, Console};
use crate::engine;
use crate::sql::{SqlFile, CHECKS, QUERIES};

/// Rows a query of `sql/queries` returns to the page at most (they are aggregates).
const MAX_QUERY_ROWS: usize = 10_000;
/// Offending rows shown per failed check, as `imglake check` shows by default.
const CHECK_ROWS: usize = 10;

/// A result as the page gets it: rows as JSON objects, written by arrow's JSON writer as
/// `imglake query --format json` writes them (nulls included).
#[derive(Debug, Default, Serialize)]
pub struct Table {
    pub columns: Vec<ColumnInfo>,
    pub rows: Vec<Value>,
    /// More rows than were sent.
    pub truncated: bool,
}

#[derive(Debug, Serialize)]
pub struct ColumnInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
}

/// Runs a read-only statement over the lake, at most `max_rows` rows back. A statement that
/// fails is tried once more: compaction may have replaced a file between DataFusion's
/// listing and its reading.
pub async fn run_sql(
    console: &Console,
    sql: &str,
    params: Vec<ScalarValue>,
    max_rows: usize,
) -> anyhow::Result<Table> {
    let mut last = None;
    for _attempt in 0..2 {
        let ctx = console.session().await?;
        match run_once(&ctx, sql, params.clone(), max_rows).await {
            Ok(table) => return Ok(table),
            Err(err) => last = Some(err),
        }
    }
    let err = last.unwrap_or_else(|| anyhow::anyhow!("the statement did not run"));
    Err(crate::diagnose::with_lake_problems(&console.local.lake, err).await)
}

async fn run_once(
    ctx: &datafusion::prelude::SessionContext,
    sql: &str,
    params: Vec<ScalarValue>,
    max_rows: usize,
) -> anyhow::Result<Table> {
    let mut df = ctx
        .sql_with_options(sql, engine::read_only())
        .await
        .map_err(engine::explain_refusal)?;
    if !params.is_empty() {
        df = df.with_param_values(params)?;
    }
    let columns = df
        .schema()
        .fields()
        .iter()
        .map(|f| ColumnInfo {
            name: f.name().clone(),
            data_type: f.data_type().to_string(),
        })
        .collect();
    let batches = df.limit(0, Some(max_rows + 1))?.collect().await?;
    let total: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let kept: Vec<RecordBatch> = batches
        .iter()
        .scan(max_rows, |left, b| {
            let take = (*left).min(b.num_rows());
            *left -= take;
            (take > 0).then(|| b.slice(0, take))
        })
        .collect();
    Ok(Table {
        columns,
        rows: json_rows(&kept)?,
        truncated: total > max_rows,
    })
}

/// Batches as JSON objects, one per row, every column present (null as null).
fn json_rows(batches: &[RecordBatch]) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::new();
    {
        let mut writer = datafusion::arrow::json::WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, datafusion::arrow::json::writer::JsonArray>(&mut out);
        for batch in batches {
            writer.write(batch)?;
        }
        writer.finish()?;
    }
    if out.is_empty() {
        return Ok(Vec::new());
    }
    Ok(serde_json::from_slice(&out)?)
}

/// Title and description from a SQL file's leading comment: `-- QuickSight dataset "Ingest
/// overview": per UTC day …` or `-- Check: an event_id stands for …`.
fn describe(file: &SqlFile) -> (String, String) {
    let comment: Vec<&str> = file
        .text
        .lines()
        .map_while(|l| l.trim_start().strip_prefix("--"))
        .map(str::trim)
        .collect();
    let comment = comment.join(" ");
    let fallback = capitalized(&file.name.replace('_', " "));
    if let Some(rest) = comment.strip_prefix("QuickSight dataset \"") {
        if let Some((title, description)) = rest.split_once("\":") {
            return (title.to_owned(), capitalized(description.trim()));
        }
    }
    if let Some(rest) = comment.strip_prefix("Check:") {
        return (fallback, capitalized(rest.trim()));
    }
    (fallback, capitalized(&comment))
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn entry(file: &SqlFile) -> Value {
    let (title, description) = describe(file);
    json!({"name": file.name, "path": file.path, "title": title, "description": description})
}

/// `GET /console/api/queries`: what the dashboard shows.
pub async fn catalog(State(_): State<Arc<Console>>) -> Response {
    Json(json!({
        "queries": QUERIES.iter().map(entry).collect::<Vec<_>>(),
        "checks": CHECKS.iter().map(entry).collect::<Vec<_>>(),
    }))
    .into_response()
}

/// `GET /console/api/queries/{name}`: one query of `sql/queries` over the lake.
pub async fn query(State(console): State<Arc<Console>>, Path(name): Path<String>) -> Response {
    let Some(file) = QUERIES.iter().find(|q| q.name == name) else {
        let names: Vec<&str> = QUERIES.iter().map(|q| q.name).collect();
        return error(
            StatusCode::NOT_FOUND,
            "query_not_found",
            format!("no query {name} in sql/queries: {}", names.join(", ")),
        );
    };
    let key = format!("query:{name}");
    let cursor = console.local.cursor().ok();
    if let Some(body) = cursor.and_then(|c| console.reuse(&key, c)) {
        return Json(reused(body)).into_response();
    }
    let started = Instant::now();
    let sql = file.for_datafusion();
    match run_sql(&console, &sql, Vec::new(), MAX_QUERY_ROWS).await {
        Ok(table) => {
            let mut body = entry(file);
            body["sql"] = json!(sql);
            body["result"] = json!(table);
            body["elapsed_ms"] = json!(started.elapsed().as_secs_f64() * 1000.0);
            body["cursor"] = json!(cursor);
            body["reused"] = json!(false);
            if let Some(c) = cursor {
                console.keep(&key, c, &body);
            }
            Json(body).into_response()
        }
        Err(err) => internal(&format!("the query {name}"), &err),
    }
}

/// A kept result, marked as such.
fn reused(mut body: Value) -> Value {
    body["reused"] = json!(true);
    body
}

/// `GET /console/api/checks`: every check of `sql/checks`, with up to ten offending rows.
pub async fn checks(State(console): State<Arc<Console>>) -> Response {
    let cursor = console.local.cursor().ok();
    if let Some(body) = cursor.and_then(|c| console.reuse("checks", c)) {
        return Json(reused(body)).into_response();
    }
    let started = Instant::now();
    let mut out = Vec::new();
    for check in CHECKS {
        match run_sql(&console, &check.for_datafusion(), Vec::new(), CHECK_ROWS).await {
            Ok(table) => {
                let mut body = entry(check);
                body["ok"] = json!(table.rows.is_empty());
                body["result"] = json!(table);
                out.push(body);
            }
            Err(err) => return internal(&format!("the check {}", check.name), &err),
        }
    }
    let body = json!({
        "checks": out,
        "elapsed_ms": started.elapsed().as_secs_f64() * 1000.0,
        "cursor": cursor,
        "reused": false,
    });
    if let Some(c) = cursor {
        console.keep("checks", c, &body);
    }
    Json(body).into_response()
}

/// `GET /console/api/lake`: how far the exporter has come and what the lake holds.
pub async fn lake(State(console): State<Arc<Console>>) -> Response {
    let lake = &console.local.lake;
    let cursor = match console.local.cursor() {
        Ok(c) => c,
        Err(err) => return internal("reading the feed cursor", &err),
    };
    let pending = match console.local.pending().await {
        Ok(n) => n,
        Err(err) => return internal("counting waiting changes", &err),
    };
    let table = table_prefix(&lake.root);
    let listed: Result<Vec<_>, _> = lake.store.list(Some(&lake.root)).try_collect().await;
    let metas = match listed {
        Ok(m) => m,
        // A lake directory that does not exist yet lists as an error on some stores.
        Err(object_store::Error::NotFound { .. }) => Vec::new(),
        Err(err) => return internal("listing the lake", &err.into()),
    };
    let (mut files, mut bytes, mut quarantined) = (0u64, 0u64, 0u64);
    let mut partitions = BTreeSet::new();
    let mut last_write = None;
    for meta in &metas {
        let key = meta.location.as_ref();
        if is_quarantine_key(&lake.root, key) {
            quarantined += 1;
        } else if key.starts_with(table.as_ref()) && key.ends_with(".parquet") {
            files += 1;
            bytes += meta.size;
            if let Some(p) = Partition::of_key(key) {
                partitions.insert(p.path());
            }
            last_write = last_write.max(Some(meta.last_modified.timestamp_millis()));
        }
    }
    Json(json!({
        "cursor": cursor,
        "pending_changes": pending,
        "files": files,
        "bytes": bytes,
        "partitions": partitions.len(),
        "quarantine_files": quarantined,
        "last_write_ms": last_write,
        "flush_records": console.settings.flush_records,
        "flush_age_ms": u64::try_from(console.settings.flush_age.as_millis()).unwrap_or(u64::MAX),
        "compact_files": console.settings.compact_files,
        "lake": lake.display,
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_query_and_check_has_a_title_and_a_description() {
        let (title, description) = describe(
            QUERIES
                .iter()
                .find(|q| q.name == "ingest_overview")
                .unwrap(),
        );
        assert_eq!(title, "Ingest overview");
        assert!(
            description.starts_with("Per UTC day and source"),
            "{description}"
        );
        for file in QUERIES.iter().chain(CHECKS) {
            let (title, description) = describe(file);
            assert!(!title.is_empty() && description.len() > 20, "{}", file.name);
            assert!(!description.contains("--"), "{}: {description}", file.name);
        }
    }
}
