//! Compaction: merge a partition's small stream files into files near a target size, without
//! duplicate events.
//!
//! Crash safety comes from ordering and determinism, not from a lock or a manifest: every
//! output is written before any input is deleted, outputs are named by the sequence-number
//! range of their rows, and duplicates (same `event_id`) are dropped on every run. A run that
//! stops at any step leaves a partition whose readers may see duplicates (which the views and
//! the next run remove) but never a missing row; re-running converges.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{Array, StringArray, UInt32Array};
use arrow::compute::{concat_batches, take_record_batch};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Serialize;
use thiserror::Error;

use crate::layout::{self, Partition};
use crate::parquet_file::{self, Compression};
use crate::schema::{arrow_schema, column_index};

/// Default size of compacted files: Athena and Spectrum work best on files of ~128 MB.
pub const DEFAULT_TARGET_BYTES: u64 = 128 * 1024 * 1024;

/// A partition larger than this (in Parquet bytes) is refused rather than loaded: compaction
/// holds one partition in memory.
pub const MAX_PARTITION_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// Why a partition could not be compacted. Nothing has been deleted when this is returned.
#[derive(Debug, Error)]
pub enum CompactError {
    /// Listing, reading, writing or deleting an object failed.
    #[error("object store: {0} (check access to the lake)")]
    Store(#[from] object_store::Error),
    /// A file is not readable Parquet of the lake schema.
    #[error("{key}: {message} (move the file aside, e.g. to _quarantine/, and re-run)")]
    BadFile { key: String, message: String },
    /// The partition is too large to compact in one pass.
    #[error("partition {partition} holds {bytes} bytes, more than the {MAX_PARTITION_BYTES} bytes compaction loads at once")]
    TooLarge { partition: String, bytes: u64 },
    /// Encoding the output failed.
    #[error("encoding compacted file: {0}")]
    Encode(String),
}

/// What compacting one partition did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct PartitionReport {
    pub partition: String,
    pub input_files: usize,
    pub input_rows: usize,
    pub output_files: usize,
    pub output_rows: usize,
    pub duplicates_removed: usize,
    /// True when the partition was already compact (one file) and left alone.
    pub skipped: bool,
}

/// Settings of a compaction run.
#[derive(Debug, Clone, Copy)]
pub struct CompactOptions {
    pub target_bytes: u64,
    pub compression: Compression,
}

impl Default for CompactOptions {
    fn default() -> Self {
        CompactOptions {
            target_bytes: DEFAULT_TARGET_BYTES,
            compression: Compression::Zstd,
        }
    }
}

/// Lists the partitions that hold data files, oldest first.
pub async fn list_partitions(
    store: &dyn ObjectStore,
    root: &Path,
) -> Result<Vec<Partition>, CompactError> {
    let prefix = layout::table_prefix(root);
    let metas: Vec<_> = store.list(Some(&prefix)).try_collect().await?;
    let mut partitions: Vec<Partition> = metas
        .iter()
        .filter(|m| m.location.as_ref().ends_with(".parquet"))
        .filter_map(|m| Partition::of_key(m.location.as_ref()))
        .collect();
    partitions.sort();
    partitions.dedup();
    Ok(partitions)
}

/// Compacts one partition.
pub async fn compact_partition(
    store: &Arc<dyn ObjectStore>,
    root: &Path,
    partition: Partition,
    options: CompactOptions,
) -> Result<PartitionReport, CompactError> {
    let dir = partition.prefix(root);
    let mut inputs: Vec<_> = store
        .list(Some(&dir))
        .try_filter(|m| futures::future::ready(m.location.as_ref().ends_with(".parquet")))
        .try_collect()
        .await?;
    inputs.sort_by(|a, b| a.location.cmp(&b.location));
    let mut report = PartitionReport {
        partition: partition.path(),
        input_files: inputs.len(),
        ..PartitionReport::default()
    };
    let total_bytes: u64 = inputs.iter().map(|m| m.size).sum();
    if total_bytes > MAX_PARTITION_BYTES {
        return Err(CompactError::TooLarge {
            partition: partition.path(),
            bytes: total_bytes,
        });
    }

    let mut batches = Vec::new();
    for meta in &inputs {
        let body = store.get(&meta.location).await?.bytes().await?;
        batches.extend(read_file(meta.location.as_ref(), body)?);
    }
    let all = concat_batches(&arrow_schema(), &batches)
        .map_err(|e| CompactError::Encode(e.to_string()))?;
    report.input_rows = all.num_rows();
    let unique = dedupe_sorted(&all)?;
    // One file without duplicates is already compact; one with duplicates (an input that
    // repeated records in one batch) is rewritten without them.
    if inputs.len() <= 1 && unique.num_rows() == all.num_rows() {
        report.output_files = inputs.len();
        report.output_rows = report.input_rows;
        report.skipped = true;
        return Ok(report);
    }
    report.output_rows = unique.num_rows();
    report.duplicates_removed = report.input_rows - report.output_rows;

    // Rows per file from the observed compressed size per row.
    let bytes_per_row = (total_bytes / report.input_rows.max(1) as u64).max(1);
    let rows_per_file =
        usize::try_from((options.target_bytes / bytes_per_row).max(1)).unwrap_or(usize::MAX);
    let mut outputs = Vec::new();
    let mut offset = 0;
    while offset < unique.num_rows() {
        let len = rows_per_file.min(unique.num_rows() - offset);
        let chunk = unique.slice(offset, len);
        let key = compacted_key(root, &partition, &chunk)?;
        let body = parquet_file::encode(&chunk, options.compression)
            .map_err(|e| CompactError::Encode(e.to_string()))?;
        outputs.push((key, body));
        offset += len;
    }

    // 1. Write every output. 2. Only then delete the inputs that are not outputs.
    for (key, body) in &outputs {
        store.put(key, PutPayload::from(body.clone())).await?;
        tracing::info!(key = %key, bytes = body.len(), "wrote compacted file");
    }
    let output_keys: HashSet<&Path> = outputs.iter().map(|(k, _)| k).collect();
    for meta in &inputs {
        if !output_keys.contains(&meta.location) {
            store.delete(&meta.location).await?;
        }
    }
    report.output_files = outputs.len();
    Ok(report)
}

/// A lake file's rows as batches with the image_events schema; `key` names it in errors.
pub fn read_file(key: &str, body: Bytes) -> Result<Vec<RecordBatch>, CompactError> {
    let bad = |message: String| CompactError::BadFile {
        key: key.to_owned(),
        message,
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(body)
        .and_then(|b| b.build())
        .map_err(|e| bad(e.to_string()))?;
    let schema = arrow_schema();
    reader
        .map(|batch| {
            let batch = batch.map_err(|e| bad(e.to_string()))?;
            RecordBatch::try_new(schema.clone(), batch.columns().to_vec())
                .map_err(|e| bad(format!("not the image_events schema: {e}")))
        })
        .collect()
}

fn string_column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a StringArray, CompactError> {
    column_index(name)
        .and_then(|i| batch.column(i).as_any().downcast_ref::<StringArray>())
        .ok_or_else(|| CompactError::Encode(format!("column {name} is not a string column")))
}

/// Rows in stream order (sequence number, then event id), one per `event_id`.
fn dedupe_sorted(batch: &RecordBatch) -> Result<RecordBatch, CompactError> {
    let seq = string_column(batch, "sequence_number")?;
    let ids = string_column(batch, "event_id")?;
    let mut order: Vec<usize> = (0..batch.num_rows()).collect();
    order.sort_by(|&a, &b| (seq.value(a), ids.value(a)).cmp(&(seq.value(b), ids.value(b))));
    let mut seen = HashSet::with_capacity(order.len());
    let keep: Vec<u32> = order
        .into_iter()
        .filter(|&i| ids.is_null(i) || seen.insert(ids.value(i)))
        .filter_map(|i| u32::try_from(i).ok())
        .collect();
    take_record_batch(batch, &UInt32Array::from(keep))
        .map_err(|e| CompactError::Encode(e.to_string()))
}

/// The key of a compacted file holding `batch` ([`layout::compacted_key`]).
fn compacted_key(
    root: &Path,
    partition: &Partition,
    batch: &RecordBatch,
) -> Result<Path, CompactError> {
    let seq = string_column(batch, "sequence_number")?;
    let ids = string_column(batch, "event_id")?;
    let n = batch.num_rows();
    if n == 0 {
        return Err(CompactError::Encode("empty chunk".into()));
    }
    Ok(layout::compacted_key(
        root,
        partition,
        seq.value(0),
        seq.value(n - 1),
        (0..n).map(|i| ids.value(i)),
    ))
}

/// Parses sizes like `128MB`, `64MiB`, `1GB`, `500000` (bytes). Decimal and binary units are
/// both read as powers of 1024, as storage tools commonly do.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    if unit.starts_with(['.', ',']) {
        return Err(format!(
            "`{text}` is not a whole number: use a smaller unit, like 1536KB for 1.5MB"
        ));
    }
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size like 128MB"))?;
    let mult: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        other => return Err(format!("unknown size unit `{other}`: use B, KB, MB or GB")),
    };
    n.checked_mul(mult)
        .filter(|v| *v > 0)
        .ok_or_else(|| format!("`{text}` is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::{ExportOptions, Exporter};
    use crate::reader::framing::{self, Framed};
    use crate::reader::Source;
    use object_store::memory::InMemory;

    const LIFECYCLE: &[u8] = include_bytes!("../tests/fixtures/lambda_lifecycle.json");

    async fn keys_under(store: &dyn ObjectStore, prefix: &str) -> Vec<String> {
        let mut keys: Vec<String> = store
            .list(Some(&Path::from(prefix)))
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .unwrap();
        keys.sort();
        keys
    }

    async fn rows_in(store: &Arc<dyn ObjectStore>, prefix: &str) -> (usize, usize) {
        let mut rows = 0;
        let mut ids = HashSet::new();
        for key in keys_under(store.as_ref(), prefix).await {
            let body = store
                .get(&Path::from(key.as_str()))
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            for batch in read_file(&key, body).unwrap() {
                rows += batch.num_rows();
                let col = string_column(&batch, "event_id").unwrap();
                for i in 0..batch.num_rows() {
                    ids.insert(col.value(i).to_owned());
                }
            }
        }
        (rows, ids.len())
    }

    /// A lake whose 10h partition holds the same three records in three files, as bisected
    /// and retried Lambda batches leave it.
    async fn lake_with_duplicates() -> (Arc<dyn ObjectStore>, Partition) {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let records: Vec<&str> = framing::split(LIFECYCLE)
            .unwrap()
            .into_iter()
            .map(|r| match r {
                Framed::Json(raw) => raw,
                Framed::NotJson { .. } => unreachable!(),
            })
            .collect();
        let array = |records: &[&str]| format!("[{}]", records.join(","));
        let exporter = |label: &str| {
            Exporter::new(
                store.clone(),
                Path::from("lake"),
                ExportOptions {
                    stream_override: Some(label.to_owned()),
                    ..ExportOptions::default()
                },
            )
        };
        for (label, part, at) in [
            ("a", &records[..], 1),
            ("b", &records[2..4], 2),
            ("c", &records[3..5], 3),
        ] {
            let part = array(part);
            exporter(label)
                .export(Source::Document(part.as_bytes()), at)
                .await
                .unwrap();
        }
        (store, Partition::of_date_hour("2026-11-24", 10).unwrap())
    }

    const P10: &str = "lake/image_events/dt=2026-11-24/hour=10";

    #[tokio::test]
    async fn compaction_merges_files_and_removes_duplicate_events() {
        let (store, p) = lake_with_duplicates().await;
        assert_eq!(keys_under(store.as_ref(), P10).await.len(), 3);
        assert_eq!(rows_in(&store, P10).await, (7, 3));
        let report = compact_partition(&store, &Path::from("lake"), p, CompactOptions::default())
            .await
            .unwrap();
        assert_eq!(report.input_files, 3);
        assert_eq!(report.input_rows, 7);
        assert_eq!(report.output_rows, 3);
        assert_eq!(report.duplicates_removed, 4);
        assert_eq!(report.output_files, 1);
        let keys = keys_under(store.as_ref(), P10).await;
        assert_eq!(keys.len(), 1);
        assert!(keys[0].contains("/compacted-"), "{keys:?}");
        assert_eq!(rows_in(&store, P10).await, (3, 3));
        // Other partitions are untouched.
        assert_eq!(
            keys_under(store.as_ref(), "lake/image_events/dt=2026-11-24/hour=09")
                .await
                .len(),
            1
        );
        // Running again changes nothing.
        let again = compact_partition(&store, &Path::from("lake"), p, CompactOptions::default())
            .await
            .unwrap();
        assert!(again.skipped);
        assert_eq!(keys_under(store.as_ref(), P10).await, keys);
    }

    #[tokio::test]
    async fn small_targets_split_the_output_in_stream_order() {
        let (store, p) = lake_with_duplicates().await;
        let report = compact_one_row_per_file(&store, p).await;
        assert_eq!(report.output_files, 3);
        let keys = keys_under(store.as_ref(), P10).await;
        assert_eq!(keys.len(), 3);
        // Each file's name is its own sequence range: first == last, in stream order.
        for key in &keys {
            let name = key.rsplit('/').next().unwrap();
            let parts: Vec<&str> = name.trim_end_matches(".parquet").split('-').collect();
            assert_eq!(parts[1], parts[2], "{name}");
            assert_eq!(parts.len(), 4, "compacted-first-last-rows: {name}");
        }
        assert_eq!(rows_in(&store, P10).await, (3, 3));
    }

    /// Compacts a partition with a target far below one row's size: one row per file.
    async fn compact_one_row_per_file(
        store: &Arc<dyn ObjectStore>,
        p: Partition,
    ) -> PartitionReport {
        let options = CompactOptions {
            target_bytes: 1,
            ..CompactOptions::default()
        };
        compact_partition(store, &Path::from("lake"), p, options)
            .await
            .unwrap()
    }

    /// A lake holding these records of one hour, (sequence number, stream ARN, event ID),
    /// exported as one batch; its partition and that partition's directory.
    async fn lake_of(rows: &[(u32, &str, &str)]) -> (Arc<dyn ObjectStore>, Partition, String) {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let input = records_of(rows);
        Exporter::new(store.clone(), Path::from("lake"), ExportOptions::default())
            .export(Source::Document(input.as_bytes()), 1)
            .await
            .unwrap();
        let p = Partition::of_millis(1_795_514_290_000).unwrap();
        let dir = format!("lake/image_events/{}", p.path());
        (store, p, dir)
    }

    fn records_of(rows: &[(u32, &str, &str)]) -> String {
        rows.iter()
            .map(|(seq, arn, id)| {
                serde_json::json!({
                    "eventID": id, "eventName": "INSERT", "eventSourceARN": arn,
                    "dynamodb": {
                        "ApproximateCreationDateTime": 1_795_514_290,
                        "SequenceNumber": seq.to_string(),
                        "Keys": {"image_id": {"S": "i"}},
                    }
                })
                .to_string()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[tokio::test]
    async fn chunks_that_start_and_end_alike_keep_their_own_files() {
        // Two streams' records share sequence number 5 in one partition; one row per file.
        let (store, p, dir) =
            lake_of(&[(5, "arnA", "a5"), (5, "arnB", "b5"), (6, "arnA", "a6")]).await;
        let report = compact_one_row_per_file(&store, p).await;
        assert_eq!(report.output_files, 3);
        assert_eq!(keys_under(store.as_ref(), &dir).await.len(), 3);
        assert_eq!(rows_in(&store, &dir).await, (3, 3));
    }

    #[tokio::test]
    async fn one_file_with_duplicate_events_is_rewritten_without_them() {
        let (store, p, dir) =
            lake_of(&[(1, "arnA", "e1"), (2, "arnA", "e2"), (1, "arnA", "e1")]).await;
        assert_eq!(rows_in(&store, &dir).await, (3, 2));
        let report = compact_partition(&store, &Path::from("lake"), p, CompactOptions::default())
            .await
            .unwrap();
        assert!(!report.skipped);
        assert_eq!(report.duplicates_removed, 1);
        assert_eq!(rows_in(&store, &dir).await, (2, 2));
        // Now it is compact.
        let again = compact_partition(&store, &Path::from("lake"), p, CompactOptions::default())
            .await
            .unwrap();
        assert!(again.skipped);
    }

    #[tokio::test]
    async fn a_rerun_after_a_crash_at_any_step_converges() {
        // Crash after writing the outputs, before deleting any input: compact a copy, then put
        // its outputs next to the original inputs.
        let (store, p) = lake_with_duplicates().await;
        let (scratch, _) = lake_with_duplicates().await;
        compact_partition(&scratch, &Path::from("lake"), p, CompactOptions::default())
            .await
            .unwrap();
        for key in keys_under(scratch.as_ref(), P10).await {
            let path = Path::from(key.as_str());
            let body = scratch.get(&path).await.unwrap().bytes().await.unwrap();
            store.put(&path, PutPayload::from(body)).await.unwrap();
        }
        assert_eq!(keys_under(store.as_ref(), P10).await.len(), 4);
        assert_eq!(
            rows_in(&store, P10).await,
            (10, 3),
            "readers see duplicates, no loss"
        );
        // Crash half-way through the deletes: one input is already gone.
        let inputs = keys_under(store.as_ref(), P10).await;
        let stream_file = inputs.iter().find(|k| k.contains("/part-")).unwrap();
        store
            .delete(&Path::from(stream_file.as_str()))
            .await
            .unwrap();
        assert_eq!(rows_in(&store, P10).await.1, 3);

        let report = compact_partition(&store, &Path::from("lake"), p, CompactOptions::default())
            .await
            .unwrap();
        assert_eq!(report.output_rows, 3);
        let keys = keys_under(store.as_ref(), P10).await;
        assert_eq!(
            keys,
            keys_under(scratch.as_ref(), P10).await,
            "same outputs as an uninterrupted run"
        );
        assert_eq!(rows_in(&store, P10).await, (3, 3));
    }

    #[tokio::test]
    async fn partitions_are_listed_from_keys() {
        let (store, _) = lake_with_duplicates().await;
        let parts = list_partitions(store.as_ref(), &Path::from("lake"))
            .await
            .unwrap();
        let paths: Vec<String> = parts.iter().map(Partition::path).collect();
        assert_eq!(
            paths,
            [
                "dt=2026-11-24/hour=09",
                "dt=2026-11-24/hour=10",
                "dt=2026-11-24/hour=11",
                "dt=2026-12-01/hour=09"
            ]
        );
    }

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("128MB"), Ok(128 << 20));
        assert_eq!(parse_size("64 MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1gb"), Ok(1 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("1.5MB")
            .unwrap_err()
            .contains("use a smaller unit, like 1536KB"));
        assert!(parse_size("12XB")
            .unwrap_err()
            .contains("unknown size unit"));
        assert!(parse_size("MB").is_err());
        assert!(parse_size("0").is_err());
    }
}
