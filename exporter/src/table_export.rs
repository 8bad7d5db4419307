//! DynamoDB table exports (export to S3, DYNAMODB_JSON) as a source of lake rows: backfill
//! writes their lines through the exporter's door ([`crate::Source::ExportLines`]), reconcile
//! compares a full export with the lake.
//!
//! An export is the folder `<prefix>/AWSDynamoDB/<export id>/` holding `manifest-summary.json`
//! (what was exported: the table, the export time or window, the format) and
//! `manifest-files.json` (JSON Lines: each data file's key, item count and MD5), each beside
//! its `.checksum` (the manifest's MD5). The data
//! files are gzipped JSON Lines: a full export's under `<export id>/data/`, an incremental
//! export's in the shared `AWSDynamoDB/data/` folder. [`Export::open`] reads both manifests,
//! checks them against their `.checksum` objects (when present) and the data files' item
//! counts against the summary's `itemCount`, so that a truncated or altered manifest cannot
//! leave a data file out;
//! [`Export::data_files`] opens each data file after checking its MD5, so that a corrupt or
//! missing file is an error naming it before any of its lines is used.

mod backfill;
mod reconcile;

use std::io::{BufRead, Read, Write};
use std::sync::Arc;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use md5::{Digest, Md5};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::Deserialize;
use thiserror::Error;

pub use crate::reader::export_line::{ExportContext, ExportKind, ExportView};
pub use backfill::{backfill, BackfillError, BackfillOptions, BackfillReport};
pub use reconcile::{reconcile, Difference, ReconcileError, ReconcileOptions, ReconcileReport};

/// Longest line of a data file read: a DynamoDB item is at most 400 KB, and its JSON with
/// every character escaped about six times that; a longer line is not an item of the table.
pub const MAX_LINE_BYTES: usize = 8 << 20;

/// Why an export cannot be read.
#[derive(Debug, Error)]
pub enum ExportError {
    #[error("{location} is not a table export location: {reason} (give the export's folder, PATH or s3://bucket/prefix/AWSDynamoDB/<export-id>)")]
    Location { location: String, reason: String },
    #[error("cannot read {what} of the export at {location}: {source}")]
    Read {
        what: String,
        location: String,
        source: object_store::Error,
    },
    #[error("cannot write {what} beside the export at {location}: {source}")]
    Write {
        what: String,
        location: String,
        source: object_store::Error,
    },
    #[error("{what} of the export at {location} is not valid: {reason}")]
    Manifest {
        what: &'static str,
        location: String,
        reason: String,
    },
    #[error("{what} of the export at {location} cannot be read: S3 refused it (403), which it also answers for a missing object to a reader without s3:ListBucket; grant s3:ListBucket on the export's bucket and prefix (and s3:GetObject under it), then run again")]
    Refused {
        what: &'static str,
        location: String,
    },
    #[error("the export's format is {0}; only DYNAMODB_JSON exports can be read (export again with --export-format DYNAMODB_JSON)")]
    Format(String),
    #[error("data file {file} is missing from the export ({reason})")]
    MissingFile { file: String, reason: String },
    #[error("data file {file} is corrupt: its MD5 is {actual}, the manifest says {expected}")]
    Checksum {
        file: String,
        expected: String,
        actual: String,
    },
    #[error("data file {file} cannot be read: {reason}")]
    DataFile { file: String, reason: String },
    #[error("{what} of the export at {location} does not match {checksum}: its MD5 is {actual}, the checksum file says {expected}; the manifest was altered or cut short: copy the export again from its S3 folder, or export the table again")]
    ManifestChecksum {
        what: &'static str,
        checksum: &'static str,
        location: String,
        expected: String,
        actual: String,
    },
    #[error("the data files of the export at {location} hold {listed} items by manifest-files.json, manifest-summary.json says {summary}: the manifest is truncated or altered (a data file's line is missing); copy the export again from its S3 folder, or export the table again")]
    ManifestItemCount {
        location: String,
        listed: u64,
        summary: u64,
    },
    #[error("data file {file} holds {actual} items, the manifest says {expected}")]
    ItemCount {
        file: String,
        expected: u64,
        actual: u64,
    },
}

/// `manifest-summary.json`, the fields imglake reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub export_arn: String,
    #[serde(default)]
    pub table_arn: Option<String>,
    /// When DynamoDB finished writing the export.
    #[serde(default)]
    pub end_time: Option<DateTime<Utc>>,
    /// A full export's point in time.
    #[serde(default)]
    pub export_time: Option<DateTime<Utc>>,
    /// An incremental export's window.
    #[serde(default)]
    pub export_from_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub export_to_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub item_count: Option<u64>,
    #[serde(default)]
    pub output_format: Option<String>,
    /// `NEW_AND_OLD_IMAGES` or `NEW_IMAGE` (incremental exports).
    #[serde(default)]
    pub output_view: Option<String>,
    /// `FULL_EXPORT` or `INCREMENTAL_EXPORT`; absent in full exports' summaries.
    #[serde(default)]
    pub export_type: Option<String>,
}

/// One line of `manifest-files.json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataFile {
    pub item_count: u64,
    /// Base64 MD5 of the gzipped file.
    pub md5_checksum: String,
    #[serde(default)]
    pub etag: Option<String>,
    pub data_file_s3_key: String,
}

/// An export, its manifests read.
#[derive(Debug, Clone)]
pub struct Export {
    store: Arc<dyn ObjectStore>,
    /// The folder holding `AWSDynamoDB/`: data file keys resolve against it.
    base: Path,
    /// The export's folder, `…/AWSDynamoDB/<export id>`.
    folder: Path,
    /// How to name it in messages.
    pub location: String,
    pub summary: Summary,
    pub files: Vec<DataFile>,
    pub context: ExportContext,
}

impl Export {
    /// Opens the export at `location`: a local folder or `s3://bucket/prefix/AWSDynamoDB/<id>`
    /// (S3 from the standard AWS environment, as for the lake), and reads its manifests.
    pub async fn open(location: &str) -> Result<Export, ExportError> {
        let bad = |reason: String| ExportError::Location {
            location: location.to_owned(),
            reason,
        };
        let (store, folder): (Arc<dyn ObjectStore>, Path) =
            if let Some(rest) = location.strip_prefix("s3://") {
                let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
                let store = crate::lake::s3_builder(bucket)
                    .build()
                    .map_err(|e| bad(e.to_string()))?;
                (Arc::new(store), Path::from(key.trim_end_matches('/')))
            } else {
                let dir = std::fs::canonicalize(location).map_err(|e| bad(e.to_string()))?;
                let folder = Path::from_absolute_path(&dir).map_err(|e| bad(e.to_string()))?;
                (
                    Arc::new(object_store::local::LocalFileSystem::new()),
                    folder,
                )
            };
        let parts: Vec<&str> = folder.as_ref().split('/').collect();
        let base = match parts.as_slice() {
            [prefix @ .., "AWSDynamoDB", _id] => Path::from(prefix.join("/")),
            _ => {
                return Err(bad(
                    "its path does not end with AWSDynamoDB/<export-id>".to_owned()
                ))
            }
        };
        let read = |what: &'static str| {
            let key = Path::from(format!("{folder}/{what}"));
            let store = store.clone();
            let location = location.to_owned();
            async move {
                let bytes = store
                    .get(&key)
                    .await
                    .map_err(|source| ExportError::Read {
                        what: what.to_owned(),
                        location: location.clone(),
                        source,
                    })?
                    .bytes()
                    .await
                    .map_err(|source| ExportError::Read {
                        what: what.to_owned(),
                        location,
                        source,
                    })?;
                Ok::<_, ExportError>(bytes)
            }
        };
        let manifest = |what: &'static str, reason: String| ExportError::Manifest {
            what,
            location: location.to_owned(),
            reason,
        };
        // Each manifest's `.checksum` object, when the export has it (DynamoDB writes both;
        // simplified exports such as moto's do not): the MD5 of the manifest's bytes.
        let verify = |what: &'static str, checksum: &'static str, bytes: &[u8]| {
            let store = store.clone();
            let key = Path::from(format!("{folder}/{checksum}"));
            let location = location.to_owned();
            let digest = Md5::digest(bytes);
            async move {
                let expected = match store.get(&key).await {
                    Ok(got) => got.bytes().await.map_err(|source| ExportError::Read {
                        what: checksum.to_owned(),
                        location: location.clone(),
                        source,
                    })?,
                    Err(object_store::Error::NotFound { .. }) => return Ok(()),
                    // S3 answers a missing key with 403, not 404, to a reader without
                    // s3:ListBucket: whether the checksum is absent or refused is unknown.
                    Err(object_store::Error::PermissionDenied { .. }) => {
                        return Err(ExportError::Refused {
                            what: checksum,
                            location,
                        })
                    }
                    Err(source) => {
                        return Err(ExportError::Read {
                            what: checksum.to_owned(),
                            location,
                            source,
                        })
                    }
                };
                let expected = String::from_utf8_lossy(&expected).trim().to_owned();
                let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
                let base64 = base64::engine::general_purpose::STANDARD.encode(digest);
                if expected.eq_ignore_ascii_case(&hex) || expected == base64 {
                    Ok(())
                } else {
                    Err(ExportError::ManifestChecksum {
                        what,
                        checksum,
                        location,
                        expected,
                        actual: hex,
                    })
                }
            }
        };
        let summary_bytes = read("manifest-summary.json").await?;
        verify(
            "manifest-summary.json",
            "manifest-summary.checksum",
            &summary_bytes,
        )
        .await?;
        let summary: Summary = serde_json::from_slice(&summary_bytes)
            .map_err(|e| manifest("manifest-summary.json", e.to_string()))?;
        if let Some(format) = &summary.output_format {
            if format != "DYNAMODB_JSON" {
                return Err(ExportError::Format(format.clone()));
            }
        }
        let files_text = read("manifest-files.json").await?;
        verify(
            "manifest-files.json",
            "manifest-files.checksum",
            &files_text,
        )
        .await?;
        let mut files = Vec::new();
        for (i, line) in files_text.split(|b| *b == b'\n').enumerate() {
            if line.trim_ascii().is_empty() {
                continue;
            }
            let file: DataFile = serde_json::from_slice(line)
                .map_err(|e| manifest("manifest-files.json", format!("line {}: {e}", i + 1)))?;
            files.push(file);
        }
        // A line missing from manifest-files.json (with its checksum file gone too) leaves a
        // data file out: the summary's count of items tells.
        let listed: u64 = files.iter().map(|f| f.item_count).sum();
        if let Some(count) = summary.item_count {
            if count != listed {
                return Err(ExportError::ManifestItemCount {
                    location: location.to_owned(),
                    listed,
                    summary: count,
                });
            }
        }
        let context =
            context_of(&summary).map_err(|reason| manifest("manifest-summary.json", reason))?;
        Ok(Export {
            store,
            base,
            folder,
            location: location.to_owned(),
            summary,
            files,
            context,
        })
    }

    /// The `exported_at` of the rows a backfill writes from this export: when DynamoDB
    /// finished it (its end time; else its point in time or window end). Not the backfill's
    /// clock: the same export backfilled again writes the same bytes.
    pub fn exported_at_ms(&self) -> i64 {
        let s = &self.summary;
        s.end_time
            .or(s.export_time)
            .or(s.export_to_time)
            .map_or(0, |t| t.timestamp_millis())
    }

    /// Items (full export) or changed items (incremental export) the export holds.
    pub fn item_count(&self) -> u64 {
        self.files.iter().map(|f| f.item_count).sum()
    }

    /// Where data file `file` is: its key, from `AWSDynamoDB/` on, under the export's base.
    fn data_path(&self, file: &DataFile) -> Path {
        let key = file.data_file_s3_key.as_str();
        let suffix = match key.find("AWSDynamoDB/") {
            Some(at) => &key[at..],
            None => key,
        };
        if self.base.as_ref().is_empty() {
            Path::from(suffix)
        } else {
            Path::from(format!("{}/{suffix}", self.base))
        }
    }

    /// The export's folder.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// The object `name` in the export's folder (such as a report imglake wrote beside it), if
    /// there is one.
    pub async fn read_beside(&self, name: &str) -> Result<Option<Vec<u8>>, ExportError> {
        let key = Path::from(format!("{}/{name}", self.folder));
        let failed = |source| ExportError::Read {
            what: name.to_owned(),
            location: self.location.clone(),
            source,
        };
        match self.store.get(&key).await {
            Ok(got) => Ok(Some(got.bytes().await.map_err(failed)?.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(failed(e)),
        }
    }

    /// Writes the object `name` in the export's folder.
    pub async fn write_beside(&self, name: &str, bytes: Vec<u8>) -> Result<(), ExportError> {
        let key = Path::from(format!("{}/{name}", self.folder));
        self.store
            .put(&key, bytes.into())
            .await
            .map_err(|source| ExportError::Write {
                what: name.to_owned(),
                location: self.location.clone(),
                source,
            })?;
        Ok(())
    }

    /// Opens data file `file` for reading its lines, once its MD5 matches the manifest's: its
    /// gzipped bytes are copied to a temporary file (checked as they arrive), then read from
    /// there. `progress` is told the compressed bytes as they pass.
    pub async fn open_data_file(
        &self,
        file: &DataFile,
        progress: &mut dyn FnMut(u64),
    ) -> Result<DataLines, ExportError> {
        let path = self.data_path(file);
        let name = file.data_file_s3_key.clone();
        let missing = |e: object_store::Error| ExportError::MissingFile {
            file: name.clone(),
            reason: e.to_string(),
        };
        let unreadable = |reason: String| ExportError::DataFile {
            file: name.clone(),
            reason,
        };
        let mut stream = self.store.get(&path).await.map_err(missing)?.into_stream();
        let mut copy = tempfile::tempfile().map_err(|e| unreadable(e.to_string()))?;
        let mut md5 = Md5::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| unreadable(e.to_string()))?;
            md5.update(&chunk);
            copy.write_all(&chunk)
                .map_err(|e| unreadable(format!("copying it aside: {e}")))?;
            progress(chunk.len() as u64);
        }
        let actual = base64::engine::general_purpose::STANDARD.encode(md5.finalize());
        if actual != file.md5_checksum {
            return Err(ExportError::Checksum {
                file: name,
                expected: file.md5_checksum.clone(),
                actual,
            });
        }
        use std::io::Seek;
        copy.rewind().map_err(|e| unreadable(e.to_string()))?;
        Ok(DataLines {
            reader: std::io::BufReader::new(flate2::read::MultiGzDecoder::new(
                std::io::BufReader::new(copy),
            )),
            file: name,
            expected: file.item_count,
            lines: 0,
        })
    }
}

/// What the summary says of the export, for its rows.
fn context_of(summary: &Summary) -> Result<ExportContext, String> {
    let export_id = ExportContext::id_of(&summary.export_arn).to_owned();
    let incremental = match summary.export_type.as_deref() {
        None | Some("FULL_EXPORT") => {
            summary.export_from_time.is_some() && summary.export_time.is_none()
        }
        Some("INCREMENTAL_EXPORT") => true,
        Some(other) => {
            return Err(format!(
                "exportType `{other}` is not FULL_EXPORT or INCREMENTAL_EXPORT"
            ))
        }
    };
    let kind = if incremental {
        let view = match summary.output_view.as_deref() {
            None | Some("NEW_AND_OLD_IMAGES") => ExportView::NewAndOldImages,
            Some("NEW_IMAGE") | Some("NEW_IMAGES") => ExportView::NewImage,
            Some(other) => {
                return Err(format!(
                    "outputView `{other}` is not NEW_AND_OLD_IMAGES or NEW_IMAGE"
                ))
            }
        };
        ExportKind::Incremental { view }
    } else {
        let time = summary
            .export_time
            .ok_or("a full export's exportTime is missing")?;
        ExportKind::Full {
            export_time_ms: time.timestamp_millis(),
        }
    };
    Ok(ExportContext {
        export_arn: summary.export_arn.clone(),
        export_id,
        kind,
    })
}

/// The lines of one data file, decompressed as they are read.
pub struct DataLines {
    reader: std::io::BufReader<flate2::read::MultiGzDecoder<std::io::BufReader<std::fs::File>>>,
    pub file: String,
    /// Items the manifest says the file holds.
    pub expected: u64,
    /// Non-blank lines read so far.
    pub lines: u64,
}

impl DataLines {
    /// The next non-blank line, into `line` (cleared first); `false` at the end. A line longer
    /// than [`MAX_LINE_BYTES`] is an error naming the file: it is no item of a table.
    pub fn next_line(&mut self, line: &mut Vec<u8>) -> Result<bool, ExportError> {
        loop {
            line.clear();
            let limit = MAX_LINE_BYTES as u64 + 1;
            let n = (&mut self.reader)
                .take(limit)
                .read_until(b'\n', line)
                .map_err(|e| ExportError::DataFile {
                    file: self.file.clone(),
                    reason: format!("after {} lines: {e}", self.lines),
                })?;
            if n == 0 {
                return Ok(false);
            }
            if line.len() > MAX_LINE_BYTES {
                return Err(ExportError::DataFile {
                    file: self.file.clone(),
                    reason: format!(
                        "line {} is longer than {MAX_LINE_BYTES} bytes, far more than any DynamoDB item",
                        self.lines + 1
                    ),
                });
            }
            if line.trim_ascii().is_empty() {
                continue;
            }
            self.lines += 1;
            return Ok(true);
        }
    }

    /// Checks, at the end, that the file held as many items as the manifest says.
    pub fn finish(&self) -> Result<(), ExportError> {
        if self.lines != self.expected {
            return Err(ExportError::ItemCount {
                file: self.file.clone(),
                expected: self.expected,
                actual: self.lines,
            });
        }
        Ok(())
    }
}
