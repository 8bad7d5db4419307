//! The `stream-export` Lambda: configuration from the environment and the handler. The
//! binary's `main` only wires these to `lambda_runtime`.

use aws_lambda_events::event::streams::DynamoDbEventResponse;
use imglake_exporter::export::{ExportError, ExportOptions, Exporter};
use imglake_exporter::lake::{Lake, LakeError};
use imglake_exporter::layout::Partition;
use imglake_exporter::{Compression, ExportInputError, ReadError, Source};
use serde_json::value::RawValue;
use thiserror::Error;

use crate::emf::batch_metrics;
use crate::glue::{GlueCatalog, GlueError};
use crate::responses::stream_response;

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
    Invalid(String),
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

/// A failure of a whole stream batch (Lambda retries it; its writes are idempotent).
#[derive(Debug, Error)]
pub enum HandlerError {
    /// The payload is not a DynamoDB Streams event.
    #[error("the invocation payload is not a DynamoDB Streams event: {0}")]
    Event(ReadError),
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
    let report = exporter
        .export(Source::Event(event.get()), now_ms)
        .await
        .map_err(|e| match e {
            ExportInputError::Read(e) => HandlerError::Event(e),
            ExportInputError::Export(e) => HandlerError::Export(e),
        })?;
    if let Some(catalog) = catalog {
        let partitions: Vec<Partition> = report
            .files
            .iter()
            .filter_map(|f| Partition::of_key(&f.key))
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
    Ok(stream_response(report.failed_sequence_numbers))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn lookup<'a>(
        pairs: &'a [(&'a str, &'a str)],
    ) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    const LIFECYCLE: &[u8] = include_bytes!("../../exporter/tests/fixtures/lambda_lifecycle.json");

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
