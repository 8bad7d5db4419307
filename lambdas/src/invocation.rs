//! What every invocation does around a pipeline handler.

use std::time::Instant;

use imglake_pipeline::handlers::kafka::KafkaReport;
use imglake_pipeline::handlers::metrics::Outcomes;
use thiserror::Error;

use crate::emf::outcome_lines;
use crate::responses::{KafkaItemFailure, KafkaItemIdentifier, KafkaResponse};

/// Prints the invocation's CloudWatch embedded-metric-format lines on stdout, one JSON
/// object per line (namespace `imglake`, dimension `Function`).
pub fn print_metrics(function: &str, outcomes: &Outcomes, started: Instant) {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    for line in outcome_lines(outcomes, function, now_ms, latency_ms) {
        println!("{line}");
    }
}

/// Records a retry warning names: in an outage every record of a batch of thousands fails
/// alike, and the log line should stay readable.
pub const RETRIES_NAMED: usize = 20;

/// Every record of a Kafka batch needs a retry (an outage, most likely): the invocation fails,
/// so that the function's error alarm fires and the mapping retries (and bisects) the batch,
/// as Powertools does when a whole batch fails.
#[derive(Debug, Error)]
#[error("all {total} records of the batch need a retry: {summary}")]
pub struct KafkaRetry {
    pub total: usize,
    /// [`retry_summary`] of the batch.
    pub summary: String,
}

impl From<KafkaRetry> for lambda_runtime::Diagnostic {
    fn from(err: KafkaRetry) -> Self {
        lambda_runtime::Diagnostic {
            error_type: "imglake.KafkaRetry".to_owned(),
            error_message: err.to_string(),
        }
    }
}

/// The Lambda result of a Kafka batch: the response (with the records to retry, if some
/// are), or an error when every record needs a retry.
pub fn kafka_result(report: KafkaReport) -> Result<KafkaResponse, KafkaRetry> {
    let total = report.records.len();
    if total > 0 && report.retries().count() == total {
        return Err(KafkaRetry {
            total,
            summary: retry_summary(&report),
        });
    }
    Ok(kafka_response(report))
}

/// The response to a Kafka batch; a batch with records to retry is also logged as a warning
/// that names their offsets and errors.
pub fn kafka_response(report: KafkaReport) -> KafkaResponse {
    let batch_item_failures: Vec<KafkaItemFailure> = report
        .retries()
        .map(|r| KafkaItemFailure {
            item_identifier: KafkaItemIdentifier {
                partition: format!("{}-{}", r.topic, r.partition),
                offset: r.offset,
            },
        })
        .collect();
    if !batch_item_failures.is_empty() {
        tracing::warn!(
            retries = batch_item_failures.len(),
            records = report.records.len(),
            first = %retry_summary(&report),
            "records of the Kafka batch need a retry; the mapping delivers them again"
        );
    }
    KafkaResponse {
        batch_item_failures,
        report,
    }
}

/// `topic/partition@offset (image id): error` of the first [`RETRIES_NAMED`] retries, and
/// how many more there are.
pub fn retry_summary(report: &KafkaReport) -> String {
    let mut summary = report
        .retries()
        .take(RETRIES_NAMED)
        .map(|r| {
            format!(
                "{}/{}@{} ({}): {}",
                r.topic,
                r.partition,
                r.offset,
                r.image_id,
                r.error.as_deref().unwrap_or("unknown error")
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let more = report.retries().count().saturating_sub(RETRIES_NAMED);
    if more > 0 {
        summary.push_str(&format!("; and {more} more"));
    }
    summary
}

#[cfg(test)]
mod tests {
    use imglake_pipeline::handlers::kafka::RecordOutcome;

    use super::*;

    fn record(offset: i64, outcome: &'static str, error: Option<&str>) -> RecordOutcome {
        RecordOutcome {
            topic: "images".into(),
            partition: 0,
            offset,
            image_id: format!("id-{offset}"),
            outcome,
            error: error.map(str::to_owned),
        }
    }

    #[test]
    fn records_to_retry_are_batch_item_failures_by_topic_partition_and_offset() {
        let mut retry = record(
            16,
            "RETRY",
            Some("metadata store put_new failed: throttled"),
        );
        retry.topic = "images.v2".into();
        retry.partition = 3;
        let report = KafkaReport {
            records: vec![
                record(15, "RECEIVED", None),
                retry,
                record(17, "REJECTED", Some("unknown_type")),
                record(18, "RETRY", Some("throttled")),
            ],
        };
        let summary = retry_summary(&report);
        assert!(
            summary.starts_with("images.v2/3@16 (id-16): metadata store"),
            "{summary}"
        );
        assert!(
            !summary.contains("@15") && !summary.contains("@17"),
            "{summary}"
        );
        let wire = serde_json::to_value(kafka_response(report)).unwrap();
        assert_eq!(
            wire["batchItemFailures"],
            serde_json::json!([
                {"itemIdentifier": {"partition": "images.v2-3", "offset": 16}},
                {"itemIdentifier": {"partition": "images-0", "offset": 18}},
            ])
        );
        assert_eq!(wire["records"][2]["outcome"], "REJECTED");
    }

    #[test]
    fn a_batch_whose_every_record_needs_a_retry_fails_the_invocation() {
        let all = KafkaReport {
            records: vec![
                record(15, "RETRY", Some("throttled")),
                record(16, "RETRY", None),
            ],
        };
        let err = kafka_result(all).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "all 2 records of the batch need a retry: images/0@15 (id-15): throttled"
            ),
            "{err}"
        );
        assert_eq!(
            lambda_runtime::Diagnostic::from(err).error_type,
            "imglake.KafkaRetry"
        );
        let some = KafkaReport {
            records: vec![
                record(15, "RETRY", Some("throttled")),
                record(16, "RECEIVED", None),
            ],
        };
        assert_eq!(kafka_result(some).unwrap().batch_item_failures.len(), 1);
        assert!(kafka_result(KafkaReport::default()).is_ok());
    }

    #[test]
    fn a_batch_that_fails_throughout_names_a_few_records_and_counts_the_rest() {
        let report = KafkaReport {
            records: (0..5000)
                .map(|offset| record(offset, "RETRY", Some("throttled")))
                .collect(),
        };
        let summary = retry_summary(&report);
        assert!(summary.ends_with("; and 4980 more"), "{summary}");
        assert!(summary.len() < 2000, "{} bytes", summary.len());
        assert_eq!(kafka_response(report).batch_item_failures.len(), 5000);
    }

    #[test]
    fn a_batch_without_retries_has_no_failures() {
        let report = KafkaReport {
            records: vec![record(15, "RECEIVED", None), record(16, "DUPLICATE", None)],
        };
        let wire = serde_json::to_value(kafka_response(report)).unwrap();
        assert_eq!(wire["batchItemFailures"], serde_json::json!([]));
        assert_eq!(wire["records"][1]["outcome"], "DUPLICATE");
    }
}
