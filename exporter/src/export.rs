//! The export of one batch of stream records: map (pure), group by partition, encode (pure),
//! then write every object in one flush. This is the only module here that does I/O.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::{self, StreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::Serialize;
use serde_json::value::RawValue;
use thiserror::Error;

use crate::arrow_rows::rows_to_batch;
use crate::keys;
use crate::map::{self, MapContext, MappedRow, Partition};
use crate::parquet_file::{self, Compression};
use crate::record::InputRecord;

/// Settings of an exporter.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub compression: Compression,
    /// Stream label for object keys instead of the one derived from `eventSourceARN`.
    pub stream_override: Option<String>,
    /// Objects written at the same time.
    pub write_concurrency: usize,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            compression: Compression::Zstd,
            stream_override: None,
            write_concurrency: 8,
        }
    }
}

/// A file the export wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WrittenFile {
    pub key: String,
    pub rows: usize,
    pub bytes: usize,
}

/// What happened to a batch. `rows_written + quarantined + failed_records == received`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExportReport {
    pub received: usize,
    pub rows_written: usize,
    pub quarantined: usize,
    /// Quarantine reasons by code.
    pub quarantine_reasons: BTreeMap<&'static str, usize>,
    pub files: Vec<WrittenFile>,
    /// Sequence numbers (as received) of records whose object could not be written; Lambda
    /// retries from the lowest one.
    pub failed_sequence_numbers: Vec<String>,
    /// The write errors behind `failed_sequence_numbers`, for logs.
    pub write_errors: Vec<String>,
}

impl ExportReport {
    /// Records not written and not quarantined (their write failed; they must be retried).
    pub fn failed_records(&self) -> usize {
        self.received - self.rows_written - self.quarantined
    }
}

/// Errors that fail a whole batch (so that it is retried whole).
#[derive(Debug, Error)]
pub enum ExportError {
    /// Quarantined records without a sequence number could not be written, so they cannot be
    /// reported individually: the batch must be retried.
    #[error("could not write the quarantine file {key} for records without a sequence number (check write access to the lake): {source}")]
    Quarantine {
        key: String,
        source: object_store::Error,
    },
}

/// One quarantined record, as a JSON line.
#[derive(Debug, Serialize)]
struct QuarantineLine<'a> {
    code: &'static str,
    reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<&'a RawValue>,
    /// The input line, when it was not JSON at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    record_text: Option<&'a str>,
}

/// An object ready to be written, with the records it carries.
struct PendingObject {
    key: Path,
    body: Bytes,
    rows: usize,
    /// Sequence numbers as received, to report if the write fails.
    sequence_numbers: Vec<String>,
    /// Records in it that have no sequence number (quarantine only).
    unreported: usize,
    is_quarantine: bool,
}

/// Writes stream records into the lake.
#[derive(Debug, Clone)]
pub struct Exporter {
    store: Arc<dyn ObjectStore>,
    root: Path,
    options: ExportOptions,
}

impl Exporter {
    pub fn new(store: Arc<dyn ObjectStore>, root: Path, options: ExportOptions) -> Self {
        Exporter {
            store,
            root,
            options,
        }
    }

    /// Exports one batch. Records that cannot be mapped are quarantined; records whose object
    /// could not be written are listed in the report for a retry. Replaying the same batch
    /// writes the same keys with the same rows.
    pub async fn export(
        &self,
        records: &[InputRecord<'_>],
        exported_at_ms: i64,
    ) -> Result<ExportReport, ExportError> {
        let ctx = MapContext { exported_at_ms };
        let mut report = ExportReport {
            received: records.len(),
            ..ExportReport::default()
        };
        let (objects, quarantined) = self.prepare(records, ctx, &mut report);
        report.quarantined = quarantined;
        self.flush(objects, &mut report).await?;
        debug_assert_eq!(
            report.rows_written + report.quarantined + report.failed_sequence_numbers.len(),
            report.received
        );
        Ok(report)
    }

    /// Maps and encodes everything (pure); returns the objects to write and the number of
    /// quarantined records.
    fn prepare(
        &self,
        records: &[InputRecord<'_>],
        ctx: MapContext,
        report: &mut ExportReport,
    ) -> (Vec<PendingObject>, usize) {
        // Stream labels by eventSourceARN; a batch almost always has one.
        let mut labels: Vec<(Option<String>, String)> = Vec::new();
        let mut groups: BTreeMap<(usize, Partition), Vec<MappedRow<'_>>> = BTreeMap::new();
        let mut quarantine: Vec<(QuarantineLine<'_>, Option<String>)> = Vec::new();
        for input in records {
            match input {
                InputRecord::Json(raw) => match map::map_record(raw.as_ref(), ctx) {
                    Ok(row) => {
                        let label = self.label_index(&mut labels, row.event_source_arn.as_deref());
                        groups.entry((label, row.partition)).or_default().push(row);
                    }
                    Err(err) => quarantine.push((
                        QuarantineLine {
                            code: err.code(),
                            reason: err.to_string(),
                            record: Some(raw.as_ref()),
                            record_text: None,
                        },
                        map::raw_sequence_number(raw.as_ref()),
                    )),
                },
                InputRecord::Unparsable { text, error } => quarantine.push((
                    QuarantineLine {
                        code: "invalid_json",
                        reason: format!("not JSON: {error}"),
                        record: None,
                        record_text: Some(text),
                    },
                    None,
                )),
            }
        }

        let mut objects = Vec::with_capacity(groups.len() + 1);
        for ((label, partition), mut rows) in groups {
            let stream = &labels[label].1;
            // Stream order within a file, whatever order the input had.
            rows.sort_by(|a, b| a.sequence_number.cmp(&b.sequence_number));
            let (first, last) = match (rows.first(), rows.last()) {
                (Some(f), Some(l)) => (f.sequence_number.clone(), l.sequence_number.clone()),
                _ => continue,
            };
            let key = keys::data_key(&self.root, stream, &partition, &first, &last);
            let sequence_numbers: Vec<String> = rows
                .iter()
                .map(|r| r.source_sequence_number.clone())
                .collect();
            let encoded = rows_to_batch(rows.iter().map(|r| r.cells.as_slice()), rows.len())
                .map_err(|e| e.to_string())
                .and_then(|batch| {
                    parquet_file::encode(&[batch], self.options.compression)
                        .map_err(|e| e.to_string())
                });
            match encoded {
                Ok(body) => objects.push(PendingObject {
                    key,
                    body,
                    rows: rows.len(),
                    sequence_numbers,
                    unreported: 0,
                    is_quarantine: false,
                }),
                Err(e) => {
                    tracing::error!(key = %key, error = %e, "encoding failed; records will be retried");
                    report.write_errors.push(format!("{key}: {e}"));
                    report.failed_sequence_numbers.extend(sequence_numbers);
                }
            }
        }

        let quarantined = quarantine.len();
        if !quarantine.is_empty() {
            let mut body = Vec::new();
            let mut sequence_numbers = Vec::new();
            let mut unreported = 0;
            for (line, seq) in &quarantine {
                *report.quarantine_reasons.entry(line.code).or_default() += 1;
                // Serializing a struct of strings and raw JSON cannot fail.
                if serde_json::to_writer(&mut body, line).is_ok() {
                    body.push(b'\n');
                }
                match seq {
                    Some(s) => sequence_numbers.push(s.clone()),
                    None => unreported += 1,
                }
            }
            objects.push(PendingObject {
                key: keys::quarantine_key(&self.root, &body),
                body: Bytes::from(body),
                rows: quarantined,
                sequence_numbers,
                unreported,
                is_quarantine: true,
            });
        }
        (objects, quarantined)
    }

    /// Index in `labels` of the stream label for a record's `eventSourceARN`: the configured
    /// override, a short hash of the ARN, or a default when the record names no stream.
    fn label_index(&self, labels: &mut Vec<(Option<String>, String)>, arn: Option<&str>) -> usize {
        let arn = arn.filter(|a| !a.is_empty());
        if let Some(i) = labels.iter().position(|(a, _)| a.as_deref() == arn) {
            return i;
        }
        let label = match (&self.options.stream_override, arn) {
            (Some(label), _) => label.clone(),
            (None, Some(arn)) => map::stream_label(arn),
            (None, None) => map::DEFAULT_STREAM_LABEL.to_owned(),
        };
        labels.push((arn.map(str::to_owned), label));
        labels.len() - 1
    }

    /// Writes all objects, a few at a time. Each object is one PUT: readers never see a
    /// partial file (S3 PUT is atomic; the local store writes a temporary file and renames).
    async fn flush(
        &self,
        objects: Vec<PendingObject>,
        report: &mut ExportReport,
    ) -> Result<(), ExportError> {
        let store = &self.store;
        let mut results = stream::iter(objects)
            .map(|obj| async move {
                let bytes = obj.body.len();
                let result = store
                    .put(&obj.key, PutPayload::from(obj.body.clone()))
                    .await;
                (obj, bytes, result)
            })
            .buffer_unordered(self.options.write_concurrency.max(1));
        let mut fatal = None;
        while let Some((obj, bytes, result)) = results.next().await {
            match result {
                Ok(_) => {
                    tracing::info!(key = %obj.key, rows = obj.rows, bytes, "wrote");
                    if !obj.is_quarantine {
                        report.rows_written += obj.rows;
                    }
                    report.files.push(WrittenFile {
                        key: obj.key.to_string(),
                        rows: obj.rows,
                        bytes,
                    });
                }
                Err(source) => {
                    tracing::error!(key = %obj.key, error = %source, "write failed; records will be retried");
                    report.write_errors.push(format!("{}: {source}", obj.key));
                    if obj.is_quarantine {
                        // Not quarantined after all: they go back for a retry.
                        report.quarantined -= obj.rows;
                        if obj.unreported > 0 && fatal.is_none() {
                            fatal = Some(ExportError::Quarantine {
                                key: obj.key.to_string(),
                                source,
                            });
                        }
                    }
                    report.failed_sequence_numbers.extend(obj.sequence_numbers);
                }
            }
        }
        report.files.sort_by(|a, b| a.key.cmp(&b.key));
        match fatal {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::split_input;
    use object_store::memory::InMemory;
    use parquet::basic::{Compression as PqCompression, LogicalType, TimeUnit};
    use parquet::file::reader::{FileReader, SerializedFileReader};

    const LIFECYCLE: &[u8] = include_bytes!("../tests/fixtures/lambda_lifecycle.json");
    const BAD: &[u8] = include_bytes!("../tests/fixtures/bad_records.jsonl");
    const NOW: i64 = 1_795_600_000_000;

    async fn snapshot(store: &dyn ObjectStore) -> BTreeMap<String, Bytes> {
        let metas: Vec<_> = store.list(None).collect().await;
        let mut out = BTreeMap::new();
        for meta in metas {
            let meta = meta.unwrap();
            let bytes = store
                .get(&meta.location)
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            out.insert(meta.location.to_string(), bytes);
        }
        out
    }

    fn exporter(store: Arc<dyn ObjectStore>) -> Exporter {
        Exporter::new(store, Path::from("lake"), ExportOptions::default())
    }

    #[tokio::test]
    async fn retried_batch_rewrites_same_keys_with_same_rows() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let records = split_input(LIFECYCLE).unwrap();
        let first = exporter(store.clone()).export(&records, NOW).await.unwrap();
        let before = snapshot(store.as_ref()).await;
        let second = exporter(store.clone()).export(&records, NOW).await.unwrap();
        let after = snapshot(store.as_ref()).await;
        assert_eq!(first.files, second.files);
        assert_eq!(before, after, "a replay must not add or change objects");
        // Partitions: 09h, 10h, 11h on 11-24 and the TTL expiry on 12-01.
        assert_eq!(before.len(), 4);
        assert!(before
            .keys()
            .all(|k| k.starts_with("lake/image_events/dt=")));
        // A later replay (another exported_at) still lands on the same keys.
        let later = exporter(store.clone())
            .export(&records, NOW + 60_000)
            .await
            .unwrap();
        assert_eq!(
            later.files.iter().map(|f| &f.key).collect::<Vec<_>>(),
            first.files.iter().map(|f| &f.key).collect::<Vec<_>>()
        );
        assert_eq!(snapshot(store.as_ref()).await.len(), 4);
    }

    #[tokio::test]
    async fn every_record_is_written_or_quarantined_with_its_reason() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let records = split_input(BAD).unwrap();
        let report = exporter(store.clone()).export(&records, NOW).await.unwrap();
        assert_eq!(report.received, 9);
        assert_eq!(report.rows_written, 2);
        assert_eq!(report.quarantined, 7);
        assert_eq!(report.rows_written + report.quarantined, report.received);
        assert_eq!(report.quarantine_reasons.get("malformed_record"), Some(&1));
        assert_eq!(report.quarantine_reasons.get("invalid_json"), Some(&1));
        let objects = snapshot(store.as_ref()).await;
        let (key, body) = objects
            .iter()
            .find(|(k, _)| k.starts_with("lake/_quarantine/image_events/"))
            .unwrap();
        assert!(key.ends_with(".jsonl"));
        let lines: Vec<serde_json::Value> = body
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 7);
        assert!(lines
            .iter()
            .all(|l| l["code"].is_string() && l["reason"].is_string()));
        assert_eq!(
            lines[0]["record"]["dynamodb"]["NewImage"]["width"]["N"],
            "99999999999"
        );
        assert!(lines
            .iter()
            .any(|l| l["record_text"] == "{\"eventID\": \"truncated\", \"dynamodb\": {"));
        // Replaying the bad batch adds no quarantine file.
        exporter(store.clone()).export(&records, NOW).await.unwrap();
        assert_eq!(snapshot(store.as_ref()).await.len(), objects.len());
    }

    #[tokio::test]
    async fn failed_write_reports_its_records_and_a_retry_completes_the_lake() {
        let dir = tempfile::tempdir().unwrap();
        let lake = crate::Lake::open(dir.path().to_str().unwrap()).unwrap();
        // A plain file where the 10h partition directory must go: a real I/O failure.
        let blocker = dir.path().join("image_events/dt=2026-11-24/hour=10");
        std::fs::create_dir_all(blocker.parent().unwrap()).unwrap();
        std::fs::write(&blocker, b"not a directory").unwrap();
        let exporter = lake.exporter(ExportOptions::default());
        let records = split_input(LIFECYCLE).unwrap();
        let report = exporter.export(&records, NOW).await.unwrap();
        // Records 3, 4 and 5 (sequence numbers ...7450439391/491/591) are at 10h.
        let mut failed = report.failed_sequence_numbers.clone();
        failed.sort();
        assert_eq!(
            failed,
            [
                "4421584500000000017450439391",
                "4421584500000000017450439491",
                "4421584500000000017450439591"
            ]
        );
        assert_eq!(report.rows_written, 4);
        assert_eq!(report.failed_records(), 3);
        assert_eq!(report.write_errors.len(), 1);
        // The operator fixes the problem; Lambda retries the batch.
        std::fs::remove_file(&blocker).unwrap();
        let retry = exporter.export(&records, NOW).await.unwrap();
        assert!(retry.failed_sequence_numbers.is_empty());
        assert_eq!(retry.rows_written, 7);
        let files: Vec<_> = walk(dir.path());
        assert_eq!(files.len(), 4, "{files:?}");
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
        out
    }

    #[tokio::test]
    async fn parquet_files_carry_the_contracted_physical_layout() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let records = split_input(LIFECYCLE).unwrap();
        exporter(store.clone()).export(&records, NOW).await.unwrap();
        let objects = snapshot(store.as_ref()).await;
        let body = objects.values().next().unwrap().clone();
        let reader = SerializedFileReader::new(body.clone()).unwrap();
        let meta = reader.metadata();
        let schema = meta.file_metadata().schema_descr();
        let event_time = schema.column(crate::schema::column_index("event_time").unwrap());
        assert_eq!(
            event_time.logical_type_ref(),
            Some(&LogicalType::timestamp(true, TimeUnit::MILLIS))
        );
        let rg = meta.row_group(0);
        assert!(rg
            .columns()
            .iter()
            .all(|c| matches!(c.compression(), PqCompression::ZSTD(_))));
        assert!(rg.columns().iter().all(|c| c.statistics().is_some()));
        // Page index (column index + offset index) is written.
        assert!(rg
            .columns()
            .iter()
            .all(|c| c.offset_index_offset().is_some()));
        assert!(rg
            .columns()
            .iter()
            .all(|c| c.column_index_offset().is_some()));
        let image_id = rg.column(crate::schema::column_index("image_id").unwrap());
        assert!(image_id.bloom_filter_offset().is_some());
        // Snappy is selectable.
        let snappy = Arc::new(InMemory::new());
        Exporter::new(
            snappy.clone(),
            Path::from(""),
            ExportOptions {
                compression: Compression::Snappy,
                ..ExportOptions::default()
            },
        )
        .export(&records, NOW)
        .await
        .unwrap();
        let body = snapshot(snappy.as_ref())
            .await
            .into_values()
            .next()
            .unwrap();
        let reader = SerializedFileReader::new(body).unwrap();
        assert_eq!(
            reader.metadata().row_group(0).column(0).compression(),
            PqCompression::SNAPPY
        );
    }
}
