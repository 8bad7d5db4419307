//! The scheduled `redrive` Lambda: configuration from the environment and the handler, which
//! goes through the stream export's on-failure queue with [`imglake_exporter::redrive`] and
//! registers the partitions it wrote. The binary's `main` only wires these to
//! `lambda_runtime`.

use imglake_exporter::aws_json::AwsJson;
use imglake_exporter::export::Exporter;
use imglake_exporter::layout::Partition;
use imglake_exporter::redrive::{redrive, RedriveError, RedriveOptions, RedriveReport};
use serde_json::json;

use crate::emf;
use crate::glue::{GlueCatalog, GlueError};
use crate::stream_export::{Config, ConfigError};

/// Environment variable: the on-failure destination queue of the stream's event source mapping.
pub const ENV_QUEUE_URL: &str = "IMGLAKE_REDRIVE_QUEUE_URL";
/// Environment variable: the table's stream; messages of other streams are left alone.
pub const ENV_STREAM_ARN: &str = "IMGLAKE_STREAM_ARN";
/// Environment variable: seconds a received message stays hidden from other runs while this
/// one works on it; terraform sets it to the function's timeout plus a minute, as it sets the
/// queue's own visibility timeout. Default 960: longer than Lambda's 15-minute limit.
pub const ENV_VISIBILITY_TIMEOUT: &str = "IMGLAKE_REDRIVE_VISIBILITY_TIMEOUT";
/// Messages redriven per run at most: a run stays well inside the function's time limit, and
/// the schedule comes back for the rest.
pub const MAX_MESSAGES_PER_RUN: usize = 100;

/// Configuration of the `redrive` Lambda: the lake as `stream-export`'s, and the queue.
#[derive(Debug, Clone)]
pub struct RedriveConfig {
    pub base: Config,
    pub options: RedriveOptions,
}

impl RedriveConfig {
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<RedriveConfig, ConfigError> {
        let base = Config::from_lookup(&var)?;
        let queue_url = var(ENV_QUEUE_URL)
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "{ENV_QUEUE_URL} is not set: set it to the stream export's on-failure queue URL"
                ))
            })?;
        let visibility_timeout_secs = crate::config::number(
            &var,
            ENV_VISIBILITY_TIMEOUT,
            1..=43_200,
            960,
            "seconds from 1 to 43200 (SQS's limit), longer than the function's timeout",
        )
        .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        Ok(RedriveConfig {
            base,
            options: RedriveOptions {
                queue_url,
                stream_arn: var(ENV_STREAM_ARN).filter(|v| !v.is_empty()),
                max_messages: Some(MAX_MESSAGES_PER_RUN),
                visibility_timeout_secs,
            },
        })
    }
}

/// A failed run (the schedule runs it again; redrive is safe to re-run).
#[derive(Debug, thiserror::Error)]
pub enum RedriveFailed {
    #[error(transparent)]
    Redrive(#[from] RedriveError),
    #[error(transparent)]
    Glue(#[from] GlueError),
}

impl From<RedriveFailed> for lambda_runtime::Diagnostic {
    fn from(err: RedriveFailed) -> Self {
        lambda_runtime::Diagnostic {
            error_type: "imglake.RedriveError".to_owned(),
            error_message: err.to_string(),
        }
    }
}

/// One run: redrives what the queue gives, registers the partitions written, prints the
/// metrics (`RedriveBatches`, `RedriveAgedOut`, `RedriveFailed`) and logs every message left
/// in the queue with what to do about it.
pub async fn handle_redrive(
    aws: &AwsJson,
    exporter: &Exporter,
    catalog: Option<&GlueCatalog>,
    config: &RedriveConfig,
    now_ms: i64,
) -> Result<RedriveReport, RedriveFailed> {
    let report = redrive(aws, exporter, &config.options, now_ms).await?;
    if let Some(catalog) = catalog {
        let partitions: Vec<Partition> = report
            .files
            .iter()
            .filter_map(|f| Partition::of_key(&f.key))
            .collect();
        catalog.register(&partitions).await?;
    }
    println!("{}", metrics(&report, now_ms));
    for failed in &report.failed {
        tracing::warn!(message_id = %failed.message_id, reason = %failed.reason, "left in the queue; retried next run");
    }
    if let Some(why) = &report.incomplete {
        tracing::warn!(reason = %why, "the run ended before reaching every message; the next run goes on");
    }
    for aged in &report.aged_out {
        tracing::error!(
            message_id = %aged.message_id,
            shard_id = %aged.batch.shard_id,
            start_sequence_number = %aged.batch.start_sequence_number,
            end_sequence_number = %aged.batch.end_sequence_number,
            first_arrival = ?aged.batch.approximate_arrival_of_first_record,
            last_arrival = ?aged.batch.approximate_arrival_of_last_record,
            reason = %aged.reason,
            "aged out of the stream: backfill its window from an incremental table export (terraform/README.md, recovery runbook), then purge the message"
        );
    }
    tracing::info!(
        messages = report.messages,
        redriven = report.redriven,
        records = report.records,
        rows_written = report.rows_written,
        quarantined = report.quarantined,
        files = report.files.len(),
        other_streams = report.other_streams,
        aged_out = report.aged_out.len(),
        failed = report.failed.len(),
        backfill_window = ?report.backfill_window(),
        "redrive run"
    );
    Ok(report)
}

fn metrics(report: &RedriveReport, now_ms: i64) -> serde_json::Value {
    emf::line(
        now_ms,
        &[("Function", "redrive")],
        &[
            ("RedriveBatches", "Count", json!(report.redriven)),
            ("RedriveRows", "Count", json!(report.rows_written)),
            ("RedriveAgedOut", "Count", json!(report.aged_out.len())),
            ("RedriveFailed", "Count", json!(report.failed.len())),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream_export::tests::lookup;
    use crate::stream_export::ENV_LAKE_URL;

    #[test]
    fn config_names_what_is_missing() {
        let err = RedriveConfig::from_lookup(lookup(&[(ENV_LAKE_URL, "s3://b/l")])).unwrap_err();
        assert!(err.to_string().starts_with(ENV_QUEUE_URL), "{err}");
        let ok = RedriveConfig::from_lookup(lookup(&[
            (ENV_LAKE_URL, "s3://b/l"),
            (ENV_QUEUE_URL, "http://127.0.0.1:1/q"),
            (
                ENV_STREAM_ARN,
                "arn:aws:dynamodb:us-east-1:1:table/t/stream/x",
            ),
        ]))
        .unwrap();
        assert_eq!(ok.options.max_messages, Some(100));
        assert_eq!(ok.options.visibility_timeout_secs, 960);
        let set = |v: &str| {
            RedriveConfig::from_lookup(lookup(&[
                (ENV_LAKE_URL, "s3://b/l"),
                (ENV_QUEUE_URL, "http://127.0.0.1:1/q"),
                (ENV_VISIBILITY_TIMEOUT, v),
            ]))
        };
        assert_eq!(set("360").unwrap().options.visibility_timeout_secs, 360);
        let err = set("0").unwrap_err();
        assert!(err.to_string().starts_with(ENV_VISIBILITY_TIMEOUT), "{err}");
        assert_eq!(
            ok.options.stream_arn.as_deref(),
            Some("arn:aws:dynamodb:us-east-1:1:table/t/stream/x")
        );
    }

    #[test]
    fn the_metrics_line_names_every_count() {
        let report = RedriveReport {
            redriven: 2,
            rows_written: 7,
            ..RedriveReport::default()
        };
        let line = metrics(&report, 1_000);
        assert_eq!(line["RedriveBatches"], 2);
        assert_eq!(line["RedriveRows"], 7);
        assert_eq!(line["RedriveAgedOut"], 0);
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
                .len(),
            4
        );
    }
}
