//! The `stream-export` Lambda: configuration from the environment and the handler. The
//! binary's `main` only wires these to `lambda_runtime`.

use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use thiserror::Error;

use crate::compact::{
    compact_partition, parse_size, CompactError, CompactOptions, PartitionReport,
    DEFAULT_TARGET_BYTES,
};
use crate::export::{ExportError, ExportOptions, ExportReport, Exporter};
use crate::glue::{GlueCatalog, GlueError};
use crate::lake::{Lake, LakeError};
use crate::map::Partition;
use crate::parquet_file::Compression;
use crate::record::InputError;
use serde_json::value::RawValue;

/// Environment variable naming the lake, e.g. `s3://my-lake-bucket/lake`.
pub const ENV_LAKE_URL: &str = "IMGLAKE_LAKE_URL";
/// Environment variable selecting the Parquet compression: `zstd` (default) or `snappy`.
pub const ENV_COMPRESSION: &str = "IMGLAKE_PARQUET_COMPRESSION";
/// Environment variables naming the Glue table whose partitions the exporter registers (both
/// or neither; unset: no registration).
pub const ENV_GLUE_DATABASE: &str = "IMGLAKE_GLUE_DATABASE";
pub const ENV_GLUE_TABLE: &str = "IMGLAKE_GLUE_TABLE";

/// A configuration problem at start-up; the message names the variable to fix.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{ENV_LAKE_URL} is not set: set it to the lake location, e.g. s3://bucket/lake")]
    MissingLake,
    #[error("{ENV_COMPRESSION}: {0}")]
    Compression(String),
    #[error("{ENV_LAKE_URL}: {0}")]
    Lake(#[from] LakeError),
    #[error("{0}")]
    Compact(String),
    #[error(
        "set both {ENV_GLUE_DATABASE} and {ENV_GLUE_TABLE} to register partitions, or neither"
    )]
    GlueHalfSet,
}

/// Validated configuration of the Lambda.
#[derive(Debug, Clone)]
pub struct Config {
    pub lake_url: String,
    pub compression: Compression,
    /// Glue (database, table) to register partitions in.
    pub glue: Option<(String, String)>,
}

impl Config {
    /// Reads the configuration through `var` (the process environment in `main`).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let lake_url = var(ENV_LAKE_URL)
            .filter(|v| !v.trim().is_empty())
            .ok_or(ConfigError::MissingLake)?;
        let compression = match var(ENV_COMPRESSION) {
            Some(v) => v.parse().map_err(ConfigError::Compression)?,
            None => Compression::default(),
        };
        let glue = match (var(ENV_GLUE_DATABASE), var(ENV_GLUE_TABLE)) {
            (Some(db), Some(table)) if !db.is_empty() && !table.is_empty() => Some((db, table)),
            (None, None) => None,
            _ => return Err(ConfigError::GlueHalfSet),
        };
        Ok(Config {
            lake_url,
            compression,
            glue,
        })
    }

    /// Opens the lake and builds the exporter.
    pub fn exporter(&self) -> Result<Exporter, ConfigError> {
        let lake = Lake::open(&self.lake_url)?;
        let options = ExportOptions {
            compression: self.compression,
            ..ExportOptions::default()
        };
        Ok(lake.exporter(options))
    }
}

impl From<ExportError> for lambda_runtime::Diagnostic {
    fn from(err: ExportError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: "imglake.ExportError".to_owned(),
            error_message: err.to_string(),
        }
    }
}

/// JSON logs on stdout, as CloudWatch Logs expects from Lambda; `AWS_LAMBDA_LOG_LEVEL` (set by
/// Lambda's logging controls) or `RUST_LOG` choose the level, default `info`.
pub fn init_json_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .without_time()
        .init();
}

/// Environment variable: how many past hours the scheduled `compact` Lambda compacts.
pub const ENV_COMPACT_HOURS: &str = "IMGLAKE_COMPACT_HOURS";
/// Environment variable: target size of compacted files, e.g. `128MB`.
pub const ENV_COMPACT_TARGET_SIZE: &str = "IMGLAKE_COMPACT_TARGET_SIZE";

/// Configuration of the scheduled `compact` Lambda.
#[derive(Debug, Clone)]
pub struct CompactConfig {
    pub lake_url: String,
    /// Partitions of the last `hours` complete hours are compacted on each run.
    pub hours: u32,
    pub options: CompactOptions,
}

impl CompactConfig {
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<CompactConfig, ConfigError> {
        let base = Config::from_lookup(&var)?;
        let hours = match var(ENV_COMPACT_HOURS) {
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|h| (1..=168).contains(h))
                .ok_or_else(|| {
                    ConfigError::Compact(format!("{ENV_COMPACT_HOURS}: `{v}` is not 1..=168"))
                })?,
            None => 3,
        };
        let target_bytes = match var(ENV_COMPACT_TARGET_SIZE) {
            Some(v) => parse_size(&v)
                .map_err(|e| ConfigError::Compact(format!("{ENV_COMPACT_TARGET_SIZE}: {e}")))?,
            None => DEFAULT_TARGET_BYTES,
        };
        Ok(CompactConfig {
            lake_url: base.lake_url,
            hours,
            options: CompactOptions {
                target_bytes,
                compression: base.compression,
            },
        })
    }
}

/// Compacts the partitions of the `hours` complete hours before `now_ms` (the current hour is
/// still being written and is left alone).
pub async fn handle_compact(
    lake: &Lake,
    config: &CompactConfig,
    now_ms: i64,
) -> Result<Vec<PartitionReport>, CompactError> {
    let mut reports = Vec::new();
    for back in 1..=i64::from(config.hours) {
        let Some(partition) = Partition::of_millis(now_ms - back * 3_600_000) else {
            continue;
        };
        let report = compact_partition(&lake.store, &lake.root, partition, config.options).await?;
        tracing::info!(
            partition = %report.partition,
            input_files = report.input_files,
            output_files = report.output_files,
            rows = report.output_rows,
            duplicates_removed = report.duplicates_removed,
            "compacted"
        );
        reports.push(report);
    }
    Ok(reports)
}

impl From<CompactError> for lambda_runtime::Diagnostic {
    fn from(err: CompactError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: "imglake.CompactError".to_owned(),
            error_message: err.to_string(),
        }
    }
}

/// A failure of a whole stream batch (Lambda retries it; its writes are idempotent).
#[derive(Debug, Error)]
pub enum HandlerError {
    /// The payload is not a DynamoDB Streams event.
    #[error("the invocation payload is not a DynamoDB Streams event: {0}")]
    Event(#[from] InputError),
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error(transparent)]
    Glue(#[from] GlueError),
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(err: HandlerError) -> Self {
        let error_type = match err {
            HandlerError::Event(_) => "imglake.EventError",
            HandlerError::Export(_) => "imglake.ExportError",
            HandlerError::Glue(_) => "imglake.GlueError",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.to_owned(),
            error_message: err.to_string(),
        }
    }
}

/// One CloudWatch embedded-metric-format line for a stream batch: the metrics the alarms and
/// the dashboard in terraform/ watch (namespace `imglake`, dimension `Function`).
pub fn batch_metrics(
    report: &ExportReport,
    function: &str,
    now_ms: i64,
    latency_ms: u64,
) -> serde_json::Value {
    use serde_json::json;
    let mut line = crate::emf::line(
        now_ms,
        &[("Function", function)],
        &[
            ("RecordsIn", "Count", json!(report.received)),
            ("RowsWritten", "Count", json!(report.rows_written)),
            ("Quarantined", "Count", json!(report.quarantined)),
            (
                "FailedRecords",
                "Count",
                json!(report.failed_sequence_numbers.len()),
            ),
            ("FilesWritten", "Count", json!(report.files.len())),
            ("BatchLatency", "Milliseconds", json!(latency_ms)),
        ],
    );
    // Quarantine reasons as properties (searchable in Logs Insights), not as metrics.
    for (code, n) in &report.quarantine_reasons {
        line[format!("quarantined_{code}")] = serde_json::json!(n);
    }
    line
}

/// Handles one DynamoDB Streams batch. Records whose object could not be written are
/// returned as `batchItemFailures` so that Lambda retries from the first of them; records that
/// cannot be mapped are quarantined and never block the shard. With a catalog, the partitions
/// written are registered in Glue; if that fails the whole batch is retried.
pub async fn handle(
    exporter: &Exporter,
    catalog: Option<&GlueCatalog>,
    event: &RawValue,
    now_ms: i64,
) -> Result<DynamoDbEventResponse, HandlerError> {
    let started = std::time::Instant::now();
    let prepared = exporter.prepare_event(event.get(), now_ms)?;
    let report = exporter.write(prepared).await?;
    if let Some(catalog) = catalog {
        let partitions: Vec<Partition> = report
            .files
            .iter()
            .filter_map(|f| crate::compact::partition_of(&f.key))
            .collect();
        catalog.register(&partitions).await?;
    }
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    println!(
        "{}",
        batch_metrics(&report, "stream-export", now_ms, latency_ms)
    );
    tracing::info!(
        received = report.received,
        rows_written = report.rows_written,
        quarantined = report.quarantined,
        failed = report.failed_sequence_numbers.len(),
        files = report.files.len(),
        quarantine_reasons = ?report.quarantine_reasons,
        "batch exported"
    );
    let mut response = DynamoDbEventResponse::default();
    response.batch_item_failures = report
        .failed_sequence_numbers
        .into_iter()
        .map(|seq| {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(seq);
            failure
        })
        .collect();
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    const LIFECYCLE: &[u8] = include_bytes!("../tests/fixtures/lambda_lifecycle.json");

    /// An exporter configured as the Lambda is, over a lake in a new temporary directory.
    fn local_exporter() -> (tempfile::TempDir, Exporter) {
        let dir = tempfile::tempdir().unwrap();
        let lake = dir.path().display().to_string();
        let exporter = Config::from_lookup(lookup(&[(ENV_LAKE_URL, &lake)]))
            .unwrap()
            .exporter()
            .unwrap();
        (dir, exporter)
    }

    #[tokio::test]
    async fn handler_returns_failed_writes_as_batch_item_failures() {
        let (dir, exporter) = local_exporter();
        // A plain file where the 09h partition directory must go: its two records fail.
        let blocker = dir.path().join("image_events/dt=2026-11-24/hour=09");
        std::fs::create_dir_all(blocker.parent().unwrap()).unwrap();
        std::fs::write(&blocker, b"x").unwrap();
        // Deserialized exactly as lambda_runtime does with the invocation payload.
        let event: Box<RawValue> = serde_json::from_slice(LIFECYCLE).unwrap();
        let response = handle(&exporter, None, &event, 1_795_600_000_000)
            .await
            .unwrap();
        let wire = serde_json::to_value(&response).unwrap();
        let mut ids: Vec<&str> = wire["batchItemFailures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["itemIdentifier"].as_str().unwrap())
            .collect();
        ids.sort_unstable();
        assert_eq!(
            ids,
            [
                "4421584500000000017450439191",
                "4421584500000000017450439291"
            ]
        );

        std::fs::remove_file(&blocker).unwrap();
        let event: Box<RawValue> = serde_json::from_slice(LIFECYCLE).unwrap();
        let response = handle(&exporter, None, &event, 1_795_600_000_000)
            .await
            .unwrap();
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            serde_json::json!({"batchItemFailures": []})
        );
    }

    #[test]
    fn config_errors_name_the_variable() {
        let err = Config::from_lookup(lookup(&[])).unwrap_err();
        assert!(err.to_string().starts_with(ENV_LAKE_URL), "{err}");
        let err = Config::from_lookup(lookup(&[
            (ENV_LAKE_URL, "s3://b/l"),
            (ENV_COMPRESSION, "lz4"),
        ]))
        .unwrap_err();
        assert!(err.to_string().starts_with(ENV_COMPRESSION), "{err}");
        let ok = Config::from_lookup(lookup(&[
            (ENV_LAKE_URL, "s3://b/l"),
            (ENV_COMPRESSION, "SNAPPY"),
        ]))
        .unwrap();
        assert_eq!(ok.compression, Compression::Snappy);
        let err = CompactConfig::from_lookup(lookup(&[
            (ENV_LAKE_URL, "s3://b/l"),
            (ENV_COMPACT_HOURS, "0"),
        ]))
        .unwrap_err();
        assert!(err.to_string().starts_with(ENV_COMPACT_HOURS), "{err}");
        let ok = CompactConfig::from_lookup(lookup(&[
            (ENV_LAKE_URL, "s3://b/l"),
            (ENV_COMPACT_TARGET_SIZE, "64MB"),
        ]))
        .unwrap();
        assert_eq!((ok.hours, ok.options.target_bytes), (3, 64 << 20));
    }

    #[tokio::test]
    async fn scheduled_compaction_covers_the_previous_hours_only() {
        let dir = tempfile::tempdir().unwrap();
        let lake_url = dir.path().display().to_string();
        let exporter = Config::from_lookup(lookup(&[(ENV_LAKE_URL, &lake_url)]))
            .unwrap()
            .exporter()
            .unwrap();
        // Two exports of the 10h records under different stream labels: duplicates in 2 files.
        let event: Box<RawValue> = serde_json::from_slice(LIFECYCLE).unwrap();
        handle(&exporter, None, &event, 1).await.unwrap();
        let records = crate::record::split_input(LIFECYCLE).unwrap();
        let lake = Lake::open(&lake_url).unwrap();
        let relabelled = lake.exporter(ExportOptions {
            stream_override: Some("replay".into()),
            ..ExportOptions::default()
        });
        relabelled.export(&records, 2).await.unwrap();
        let config = CompactConfig::from_lookup(lookup(&[
            (ENV_LAKE_URL, &lake_url),
            (ENV_COMPACT_HOURS, "1"),
        ]))
        .unwrap();
        // "Now" is 2026-11-24T11:30Z: only the 10h partition is in the window.
        let reports = handle_compact(&lake, &config, 1_795_519_800_000)
            .await
            .unwrap();
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].partition, "dt=2026-11-24/hour=10");
        assert_eq!((reports[0].input_rows, reports[0].output_rows), (6, 3));
        let nine = dir.path().join("image_events/dt=2026-11-24/hour=09");
        assert_eq!(
            std::fs::read_dir(nine).unwrap().count(),
            2,
            "outside the window: untouched"
        );
    }

    #[tokio::test]
    async fn a_payload_that_is_not_an_event_fails_and_a_bad_record_is_quarantined() {
        let (dir, exporter) = local_exporter();
        // A single record or an array is not what Lambda sends: an invocation error.
        for payload in [r#"{"eventID":"a"}"#, "[]", r#"{"Records":null}"#] {
            let raw = RawValue::from_string(payload.to_owned()).unwrap();
            let err = handle(&exporter, None, &raw, 1).await.unwrap_err();
            assert!(matches!(err, HandlerError::Event(_)), "{payload}: {err}");
        }
        // A structurally malformed record takes the record-by-record path: quarantined, and
        // the batch succeeds with nothing to retry.
        let event = r#"{"Records":[{"eventID":"x","eventName":"INSERT","dynamodb":{"Keys":{"image_id":{"X":"1"}}}}]}"#;
        let raw = RawValue::from_string(event.to_owned()).unwrap();
        let response = handle(&exporter, None, &raw, 1).await.unwrap();
        assert!(response.batch_item_failures.is_empty());
        let quarantine = dir.path().join("_quarantine/image_events");
        assert_eq!(std::fs::read_dir(quarantine).unwrap().count(), 1);
    }
}
