//! What every invocation does around a pipeline handler.

use std::time::Instant;

use imglake_pipeline::handlers::kafka::KafkaReport;
use imglake_pipeline::handlers::metrics::Outcomes;
use thiserror::Error;

/// Prints the invocation's CloudWatch embedded-metric-format lines on stdout, one JSON
/// object per line (namespace `imglake`, dimension `Function`).
pub fn print_metrics(function: &str, outcomes: &Outcomes, started: Instant) {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    for line in outcomes.emf_lines(function, now_ms, latency_ms) {
        println!("{line}");
    }
}

/// Records of a Kafka batch that must be delivered again: the invocation fails, so that the
/// event source mapping redelivers the batch (records already stored are duplicates then and
/// change nothing).
#[derive(Debug, Error)]
#[error("{} of {total} records need a retry, the batch will be redelivered: {}{}", .retries.len(), .retries.iter().take(RETRIES_NAMED).cloned().collect::<Vec<_>>().join("; "), if .retries.len() > RETRIES_NAMED { format!("; and {} more", .retries.len() - RETRIES_NAMED) } else { String::new() })]
pub struct KafkaRetry {
    /// Records in the batch.
    pub total: usize,
    /// `topic/partition@offset (image id): error` of each record to retry.
    pub retries: Vec<String>,
}

/// Records a [`KafkaRetry`] names in its message: in an outage every record of a batch of
/// thousands fails alike, and the error message is logged and kept by the mapping.
pub const RETRIES_NAMED: usize = 20;

impl From<KafkaRetry> for lambda_runtime::Diagnostic {
    fn from(err: KafkaRetry) -> Self {
        lambda_runtime::Diagnostic {
            error_type: "imglake.KafkaRetry".to_owned(),
            error_message: err.to_string(),
        }
    }
}

/// The Lambda result of a Kafka batch: the report, or an error naming the offsets to retry.
pub fn kafka_result(report: KafkaReport) -> Result<KafkaReport, KafkaRetry> {
    let retries: Vec<String> = report
        .retries()
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
        .collect();
    if retries.is_empty() {
        Ok(report)
    } else {
        Err(KafkaRetry {
            total: report.records.len(),
            retries,
        })
    }
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
    fn a_batch_with_retries_fails_naming_the_offsets() {
        let report = KafkaReport {
            records: vec![
                record(15, "RECEIVED", None),
                record(
                    16,
                    "RETRY",
                    Some("metadata store put_new failed: throttled"),
                ),
                record(17, "REJECTED", Some("unknown_type")),
            ],
        };
        let err = kafka_result(report).unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with("1 of 3 records need a retry"),
            "{message}"
        );
        assert!(
            message.contains("images/0@16 (id-16): metadata store"),
            "{message}"
        );
        assert!(!message.contains("@15"), "{message}");
        let diagnostic = lambda_runtime::Diagnostic::from(err);
        assert_eq!(diagnostic.error_type, "imglake.KafkaRetry");
    }

    #[test]
    fn a_batch_that_fails_throughout_names_a_few_records_and_counts_the_rest() {
        let report = KafkaReport {
            records: (0..5000)
                .map(|offset| record(offset, "RETRY", Some("throttled")))
                .collect(),
        };
        let message = kafka_result(report).unwrap_err().to_string();
        assert!(
            message.starts_with("5000 of 5000 records need a retry"),
            "{message}"
        );
        assert!(message.ends_with("; and 4980 more"), "{message}");
        assert!(message.len() < 2000, "{} bytes", message.len());
    }

    #[test]
    fn a_batch_without_retries_is_the_response() {
        let report = KafkaReport {
            records: vec![record(15, "RECEIVED", None), record(16, "DUPLICATE", None)],
        };
        let ok = kafka_result(report).unwrap();
        let wire = serde_json::to_value(&ok).unwrap();
        assert_eq!(wire["records"][1]["outcome"], "DUPLICATE");
    }
}
