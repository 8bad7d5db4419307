//! The `stream-export` Lambda: configuration from the environment and the handler. The
//! binary's `main` only wires these to `lambda_runtime`.

use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use thiserror::Error;

use crate::export::{ExportError, ExportOptions, Exporter};
use crate::lake::{Lake, LakeError};
use crate::parquet_file::Compression;
use crate::record::{InputRecord, RecordBatch};

/// Environment variable naming the lake, e.g. `s3://my-lake-bucket/lake`.
pub const ENV_LAKE_URL: &str = "IMGLAKE_LAKE_URL";
/// Environment variable selecting the Parquet compression: `zstd` (default) or `snappy`.
pub const ENV_COMPRESSION: &str = "IMGLAKE_PARQUET_COMPRESSION";

/// A configuration problem at start-up; the message names the variable to fix.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{ENV_LAKE_URL} is not set: set it to the lake location, e.g. s3://bucket/lake")]
    MissingLake,
    #[error("{ENV_COMPRESSION}: {0}")]
    Compression(String),
    #[error("{ENV_LAKE_URL}: {0}")]
    Lake(#[from] LakeError),
}

/// Validated configuration of the Lambda.
#[derive(Debug, Clone)]
pub struct Config {
    pub lake_url: String,
    pub compression: Compression,
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
        Ok(Config {
            lake_url,
            compression,
        })
    }

    /// Opens the lake and builds the exporter.
    pub fn exporter(&self) -> Result<Exporter, ConfigError> {
        let lake = Lake::open(&self.lake_url)?;
        let options = ExportOptions {
            compression: self.compression,
            ..ExportOptions::default()
        };
        Ok(Exporter::new(lake.store, lake.root, options))
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

/// Handles one DynamoDB Streams batch. Records whose object could not be written are
/// returned as `batchItemFailures` so that Lambda retries from the first of them; records that
/// cannot be mapped are quarantined and never block the shard.
pub async fn handle(
    exporter: &Exporter,
    batch: RecordBatch,
    now_ms: i64,
) -> Result<DynamoDbEventResponse, ExportError> {
    let records: Vec<InputRecord> = batch.records.into_iter().map(InputRecord::Json).collect();
    let report = exporter.export(&records, now_ms).await?;
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
}
