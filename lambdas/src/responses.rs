//! Partial batch responses, the answer of a batch-processing Lambda that names the records
//! to deliver again (the others are done): for DynamoDB Streams (by sequence number), SQS (by
//! message id) and Kafka (by topic-partition and offset). The handlers report what failed in
//! their own terms; these types are the Lambda wire shape.

use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse};
use imglake_pipeline::handlers::kafka::KafkaReport;
use serde::Serialize;

/// A DynamoDB Streams batch: Lambda retries the shard from the lowest sequence number named.
pub fn stream_response(failed_sequence_numbers: Vec<String>) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    response.batch_item_failures = failed_sequence_numbers
        .into_iter()
        .map(|seq| {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(seq);
            failure
        })
        .collect();
    response
}

/// An SQS batch: the queue delivers the named messages again.
pub fn sqs_response(retry_message_ids: Vec<String>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = retry_message_ids
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}

/// The response to a Kafka batch: the records to deliver again, in the partial batch
/// response shape of Kafka event source mappings (`aws_lambda_events` has no type for it), and
/// the outcome of every record. The mapping resumes each topic-partition at its lowest failed
/// offset when `ReportBatchItemFailures` is on (Terraform turns it on); records already
/// stored are duplicates on redelivery and change nothing.
#[derive(Debug, Serialize)]
pub struct KafkaResponse {
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<KafkaItemFailure>,
    #[serde(flatten)]
    pub report: KafkaReport,
}

/// One record to deliver again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KafkaItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: KafkaItemIdentifier,
}

/// A Kafka record's place: `partition` is `<topic>-<partition number>`, as the event's
/// record groups are keyed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KafkaItemIdentifier {
    pub partition: String,
    pub offset: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_and_sqs_responses_name_what_to_deliver_again() {
        let wire = serde_json::to_value(stream_response(vec!["42".into()])).unwrap();
        assert_eq!(
            wire,
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": "42"}]})
        );
        let wire = serde_json::to_value(sqs_response(vec!["m-1".into()])).unwrap();
        assert_eq!(
            wire,
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": "m-1"}]})
        );
        assert_eq!(
            serde_json::to_value(sqs_response(Vec::new())).unwrap(),
            serde_json::json!({"batchItemFailures": []})
        );
    }
}
