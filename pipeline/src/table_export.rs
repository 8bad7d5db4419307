//! The embedded store's DynamoDB table export: what `ExportTableToPointInTime` writes to S3,
//! written to a folder, so that backfill and reconcile run on a laptop against the same reader
//! as production.
//!
//! The layout and formats are DynamoDB's (DYNAMODB_JSON):
//!
//! ```text
//! <out>/AWSDynamoDB/<export id>/manifest-summary.json   the export: ARN, time or window, counts
//! <out>/AWSDynamoDB/<export id>/manifest-files.json     JSON Lines: itemCount, md5Checksum, etag, dataFileS3Key
//! <out>/AWSDynamoDB/<export id>/manifest-{files,summary}.checksum   each manifest's MD5, hex
//! <out>/AWSDynamoDB/<export id>/_started
//! <out>/AWSDynamoDB/<export id>/data/<name>.json.gz     full export: {"Item": …} lines
//! <out>/AWSDynamoDB/data/<name>.json.gz                 incremental export: {"Metadata", "Keys", "NewImage", "OldImage"} lines
//! ```
//!
//! A full export is every item at one instant. An incremental export is, for every item that
//! changed in `[from, to)`, one line: its state at the window's end (`NewImage`, absent when
//! it was deleted), its state at the window's start (`OldImage`, absent when it did not
//! exist), and the time of its last change (`WriteTimestampMicros`). An item created and
//! deleted within the window has no line, as in DynamoDB's.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use md5::{Digest, Md5};
use serde_json::{json, Value};
use thiserror::Error;

use crate::store::{EmbeddedStore, StoreError};

/// Items per data file (DynamoDB writes one or more files per partition).
pub const ITEMS_PER_FILE: usize = 5_000;

/// Full or incremental.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportRequest {
    /// Every item now.
    Full,
    /// Every item that changed in `[from, to)`.
    Incremental {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
}

/// Why the export could not be written.
#[derive(Debug, Error)]
pub enum TableExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the export under {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("change record {seq} of the store is not readable JSON: {reason}")]
    Record { seq: u64, reason: String },
    #[error("the incremental window is empty: --from {from} is not before --to {to}")]
    Window { from: String, to: String },
}

/// What was written.
#[derive(Debug, Clone)]
pub struct WrittenExport {
    /// The export's folder: give it to `imglake backfill` or `imglake reconcile`.
    pub folder: PathBuf,
    pub export_arn: String,
    pub items: usize,
    pub data_files: usize,
}

/// Writes a table export of `store` under `out`, at the store's current time.
pub async fn write_table_export(
    store: &EmbeddedStore,
    table: &str,
    out: &Path,
    request: ExportRequest,
) -> Result<WrittenExport, TableExportError> {
    let (now, lines) = match request {
        ExportRequest::Full => {
            let (at, items) = store.snapshot().await?;
            let lines = items
                .into_iter()
                .map(|item| format!("{{\"Item\":{item}}}"))
                .collect();
            (at, lines)
        }
        ExportRequest::Incremental { from, to } => {
            if from >= to {
                return Err(TableExportError::Window {
                    from: from.to_rfc3339(),
                    to: to.to_rfc3339(),
                });
            }
            (to, incremental_lines(store, from, to).await?)
        }
    };
    let export_id = format!(
        "{:014}-{:08x}",
        now.timestamp_millis(),
        u32::from_be_bytes(
            Md5::digest(format!("{table}{request:?}").as_bytes())[..4]
                .try_into()
                .unwrap_or([0; 4])
        )
    );
    let export_arn =
        format!("arn:aws:dynamodb:local:000000000000:table/{table}/export/{export_id}");
    let folder = out.join("AWSDynamoDB").join(&export_id);
    let data_dir = match request {
        ExportRequest::Full => folder.join("data"),
        ExportRequest::Incremental { .. } => out.join("AWSDynamoDB").join("data"),
    };
    let write_err = |path: &Path| {
        let path = path.to_owned();
        move |source| TableExportError::Write { path, source }
    };
    std::fs::create_dir_all(&data_dir).map_err(write_err(&data_dir))?;
    std::fs::create_dir_all(&folder).map_err(write_err(&folder))?;
    std::fs::write(folder.join("_started"), b"").map_err(write_err(&folder))?;

    let mut manifest_files = String::new();
    let mut data_files = 0;
    for (n, chunk) in lines.chunks(ITEMS_PER_FILE).enumerate() {
        let name = format!("{export_id}-{n:05}.json.gz");
        let path = data_dir.join(&name);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        for line in chunk {
            gz.write_all(line.as_bytes())
                .and_then(|()| gz.write_all(b"\n"))
                .map_err(write_err(&path))?;
        }
        let bytes = gz.finish().map_err(write_err(&path))?;
        std::fs::write(&path, &bytes).map_err(write_err(&path))?;
        let md5 = Md5::digest(&bytes);
        let key_folder = match request {
            ExportRequest::Full => format!("AWSDynamoDB/{export_id}/data"),
            ExportRequest::Incremental { .. } => "AWSDynamoDB/data".to_owned(),
        };
        manifest_files.push_str(
            &json!({
                "itemCount": chunk.len(),
                "md5Checksum": base64::engine::general_purpose::STANDARD.encode(md5),
                "etag": hex::encode(md5),
                "dataFileS3Key": format!("{key_folder}/{name}"),
            })
            .to_string(),
        );
        manifest_files.push('\n');
        data_files += 1;
    }
    let files_path = folder.join("manifest-files.json");
    std::fs::write(&files_path, &manifest_files).map_err(write_err(&files_path))?;
    // As DynamoDB does: each manifest's MD5 (hex) in its `.checksum` object.
    let checksum_path = folder.join("manifest-files.checksum");
    std::fs::write(
        &checksum_path,
        hex::encode(Md5::digest(manifest_files.as_bytes())),
    )
    .map_err(write_err(&checksum_path))?;

    let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    let mut summary = json!({
        "version": "2020-06-30",
        "exportArn": export_arn,
        "startTime": time(now),
        "endTime": time(Utc::now().max(now)),
        "tableArn": format!("arn:aws:dynamodb:local:000000000000:table/{table}"),
        "tableId": export_id,
        "s3Bucket": "local",
        "s3Prefix": Value::Null,
        "s3SseAlgorithm": "AES256",
        "s3SseKmsKeyId": Value::Null,
        "manifestFilesS3Key": format!("AWSDynamoDB/{export_id}/manifest-files.json"),
        "billedSizeBytes": 0,
        "itemCount": lines.len(),
        "outputFormat": "DYNAMODB_JSON",
    });
    match request {
        ExportRequest::Full => summary["exportTime"] = json!(time(now)),
        ExportRequest::Incremental { from, to } => {
            summary["exportFromTime"] = json!(time(from));
            summary["exportToTime"] = json!(time(to));
            summary["outputView"] = json!("NEW_AND_OLD_IMAGES");
            summary["exportType"] = json!("INCREMENTAL_EXPORT");
        }
    }
    let summary_path = folder.join("manifest-summary.json");
    let summary_text = summary.to_string();
    std::fs::write(&summary_path, &summary_text).map_err(write_err(&summary_path))?;
    let checksum_path = folder.join("manifest-summary.checksum");
    std::fs::write(
        &checksum_path,
        hex::encode(Md5::digest(summary_text.as_bytes())),
    )
    .map_err(write_err(&checksum_path))?;
    Ok(WrittenExport {
        folder,
        export_arn,
        items: lines.len(),
        data_files,
    })
}

/// One item's changes in the window: its state when the window opened and when it closed.
struct NetChange {
    keys: Value,
    before: Option<Value>,
    after: Option<Value>,
    /// The record's time of the last change, epoch seconds (the stream's precision).
    last_change_secs: i64,
    first_was_insert: bool,
}

/// The incremental export's lines: the net change of every item changed in `[from, to)`.
async fn incremental_lines(
    store: &EmbeddedStore,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<String>, TableExportError> {
    let (from_s, to_s) = (from.timestamp(), to.timestamp());
    let mut changes: BTreeMap<String, NetChange> = BTreeMap::new();
    let mut cursor = 0;
    loop {
        let page = store.changes_after(cursor, 10_000).await?;
        let Some(last) = page.last().map(|(seq, _)| *seq) else {
            break;
        };
        for (seq, text) in page {
            let record: Value =
                serde_json::from_str(&text).map_err(|e| TableExportError::Record {
                    seq,
                    reason: e.to_string(),
                })?;
            let data = &record["dynamodb"];
            let at = data["ApproximateCreationDateTime"]
                .as_i64()
                .unwrap_or(i64::MIN);
            if at < from_s || at >= to_s {
                continue;
            }
            let Some(id) = data["Keys"]["image_id"]["S"].as_str() else {
                continue;
            };
            let new_image = data.get("NewImage").cloned();
            let entry = changes.entry(id.to_owned()).or_insert_with(|| NetChange {
                keys: data["Keys"].clone(),
                before: data.get("OldImage").cloned(),
                after: None,
                last_change_secs: at,
                first_was_insert: record["eventName"] == "INSERT",
            });
            entry.after = new_image;
            entry.last_change_secs = at;
        }
        cursor = last;
    }
    let mut lines = Vec::with_capacity(changes.len());
    for change in changes.into_values() {
        if change.first_was_insert && change.after.is_none() {
            // Created and deleted within the window: DynamoDB exports nothing for it.
            continue;
        }
        let mut line = json!({
            "Metadata": {"WriteTimestampMicros": {"N": (change.last_change_secs * 1_000_000).to_string()}},
            "Keys": change.keys,
        });
        if let Some(after) = change.after {
            line["NewImage"] = after;
        }
        if let Some(before) = change.before {
            line["OldImage"] = before;
        }
        lines.push(line.to_string());
    }
    Ok(lines)
}
