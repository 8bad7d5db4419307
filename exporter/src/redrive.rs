//! Redrive: stream batches that exhausted their retries, read again from DynamoDB Streams and
//! exported through the exporter's door.
//!
//! When the `stream-export` function keeps failing on a batch, the event source mapping gives
//! up after its retries and sends the on-failure destination (an SQS queue) a message with
//! the batch's place, not its records:
//!
//! ```json
//! {"requestContext": {"condition": "RetryAttemptsExhausted", …}, "version": "1.0", …,
//!  "DDBStreamBatchInfo": {"shardId": "shardId-…", "startSequenceNumber": "…",
//!   "endSequenceNumber": "…", "approximateArrivalOfFirstRecord": "…",
//!   "approximateArrivalOfLastRecord": "…", "batchSize": 1, "streamArn": "arn:…/stream/…"}}
//! ```
//!
//! For each such message, redrive asks the stream for an iterator at the first sequence number
//! and reads records up to the last, exports them (the GetRecords response is a document the
//! door reads; its files are named as the stream's, by the same stream label), and deletes
//! the message only once every object is written. A replay of the same range rewrites the
//! same objects; rows a bisected batch had already landed repeat their event ids, which the
//! `image_events_dedup` view and compaction drop. A message whose records have aged out of
//! the stream (24 hours) stays in the queue, and the report names the time window to backfill
//! from a table export.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::json;
use serde_json::value::RawValue;
use thiserror::Error;

use crate::aws_json::{AwsError, AwsJson, Service};
use crate::export::{ExportOptions, Exporter, WrittenFile};
use crate::layout::stream_label;
use crate::reader::Source;

/// Where a failed batch was in the stream.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchInfo {
    pub shard_id: String,
    pub start_sequence_number: String,
    pub end_sequence_number: String,
    #[serde(default)]
    pub approximate_arrival_of_first_record: Option<String>,
    #[serde(default)]
    pub approximate_arrival_of_last_record: Option<String>,
    #[serde(default)]
    pub batch_size: Option<u64>,
    pub stream_arn: String,
}

#[derive(Debug, Deserialize)]
struct OnFailure {
    #[serde(rename = "DDBStreamBatchInfo")]
    batch: BatchInfo,
}

/// What to redrive.
#[derive(Debug, Clone)]
pub struct RedriveOptions {
    /// The on-failure queue's URL.
    pub queue_url: String,
    /// Only messages of this stream (others are left for their own redrive).
    pub stream_arn: Option<String>,
    /// Stop after this many messages of the stream (`None`: until the queue gives no more).
    /// Other streams' messages do not count: left for their own redrive, they would
    /// otherwise take the place of this stream's.
    pub max_messages: Option<usize>,
    /// How long a received message stays hidden from others while it is redriven.
    pub visibility_timeout_secs: u32,
}

/// A batch whose records the stream no longer has: backfill this window from a table export.
#[derive(Debug, Clone, Serialize)]
pub struct AgedOut {
    pub message_id: String,
    pub batch: BatchInfo,
    /// Why the stream could not give the records.
    pub reason: String,
}

/// A message that could not be redriven this time (it stays in the queue).
#[derive(Debug, Clone, Serialize)]
pub struct Failed {
    pub message_id: String,
    pub reason: String,
}

/// What a redrive did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RedriveReport {
    pub messages: usize,
    /// Messages whose batch was exported; they were deleted.
    pub redriven: usize,
    pub records: usize,
    pub rows_written: usize,
    pub quarantined: usize,
    pub files: Vec<WrittenFile>,
    /// Messages of another stream, left in the queue.
    pub other_streams: usize,
    pub aged_out: Vec<AgedOut>,
    pub failed: Vec<Failed>,
    /// Set when the run ended while the queue still showed messages it had not received
    /// (messages it had gone through kept coming back first): run it again, with a longer
    /// visibility timeout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<String>,
}

impl RedriveReport {
    /// The time window a backfill must cover for the batches that aged out: the earliest and
    /// the latest arrival they name (RFC 3339), if any did.
    pub fn backfill_window(&self) -> Option<(String, String)> {
        let firsts = self
            .aged_out
            .iter()
            .filter_map(|a| a.batch.approximate_arrival_of_first_record.clone());
        let lasts = self
            .aged_out
            .iter()
            .filter_map(|a| a.batch.approximate_arrival_of_last_record.clone());
        // RFC 3339 UTC times of one format sort as text.
        Some((firsts.min()?, lasts.max()?))
    }
}

/// Why redrive stopped before going through the queue.
#[derive(Debug, Error)]
pub enum RedriveError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("{operation} answered something that is not its documented JSON: {reason}")]
    Response {
        operation: &'static str,
        reason: String,
    },
}

#[derive(Debug, Deserialize)]
struct Received {
    #[serde(rename = "Messages", default)]
    messages: Vec<Message>,
}

#[derive(Debug, Deserialize)]
struct Message {
    #[serde(rename = "MessageId")]
    id: String,
    #[serde(rename = "ReceiptHandle")]
    receipt: String,
    #[serde(rename = "Body")]
    body: String,
}

#[derive(Debug, Deserialize)]
struct Records<'a> {
    #[serde(rename = "Records", borrow, default)]
    records: Vec<&'a RawValue>,
    #[serde(rename = "NextShardIterator", default)]
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RecordPlace {
    dynamodb: Option<Place>,
}

#[derive(Debug, Deserialize)]
struct Place {
    #[serde(rename = "SequenceNumber")]
    sequence_number: Option<String>,
}

/// Compares decimal sequence numbers (no leading zeros) as numbers.
fn sequence_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Messages this run went through that may come back in a row, beyond one round of all of
/// them, before the run gives up on reaching others.
const MAX_ONLY_SEEN_SLACK: usize = 30;

/// Empty GetRecords pages read in a row before giving up on reaching the batch's end.
const MAX_EMPTY_PAGES: usize = 20;

fn parse<'a, T: Deserialize<'a>>(
    operation: &'static str,
    bytes: &'a [u8],
) -> Result<T, RedriveError> {
    serde_json::from_slice(bytes).map_err(|e| RedriveError::Response {
        operation,
        reason: e.to_string(),
    })
}

/// Goes through the on-failure queue once: every message it hands out is redriven, left, or
/// reported. `options` of `exporter` are kept but for the stream label, which is each
/// message's stream's.
pub async fn redrive(
    aws: &AwsJson,
    exporter: &Exporter,
    options: &RedriveOptions,
    exported_at_ms: i64,
) -> Result<RedriveReport, RedriveError> {
    let mut report = RedriveReport::default();
    // Messages received in this run, by id: a message handed out again (the run outlasted its
    // visibility timeout) is not gone through twice but hidden again, so that the messages
    // behind it are reached; the run ends when a receive brings nothing.
    let mut seen: HashSet<String> = HashSet::new();
    // Other streams' messages, by id, with their latest receipt: kept hidden while this run
    // lasts (made visible at once, they would come back to every receive of this loop), then
    // handed back to their own stream's redrive at the end.
    let mut foreign: HashMap<String, String> = HashMap::new();
    let result = receive_all(
        aws,
        exporter,
        options,
        exported_at_ms,
        &mut report,
        &mut seen,
        &mut foreign,
    )
    .await;
    for receipt in foreign.into_values() {
        // Best effort: a message not made visible here is visible again after its timeout.
        let _ = aws
            .call(
                Service::Sqs,
                "ChangeMessageVisibility",
                &json!({"QueueUrl": options.queue_url, "ReceiptHandle": receipt, "VisibilityTimeout": 0}),
            )
            .await;
    }
    result.map(|()| report)
}

async fn receive_all(
    aws: &AwsJson,
    exporter: &Exporter,
    options: &RedriveOptions,
    exported_at_ms: i64,
    report: &mut RedriveReport,
    seen: &mut HashSet<String>,
    foreign: &mut HashMap<String, String>,
) -> Result<(), RedriveError> {
    // Messages received in a row that this run had already gone through.
    let mut only_seen = 0;
    loop {
        let ours = report.messages - report.other_streams;
        let wanted = options
            .max_messages
            .map_or(10, |max| max.saturating_sub(ours).min(10));
        if wanted == 0 {
            break;
        }
        let body = aws
            .call(
                Service::Sqs,
                "ReceiveMessage",
                &json!({
                    "QueueUrl": options.queue_url,
                    "MaxNumberOfMessages": wanted,
                    "VisibilityTimeout": options.visibility_timeout_secs,
                    "WaitTimeSeconds": 1,
                }),
            )
            .await?;
        let received: Received = parse("ReceiveMessage", &body)?;
        if received.messages.is_empty() {
            break;
        }
        let all_seen = received.messages.iter().all(|m| seen.contains(&m.id));
        let count = received.messages.len();
        for message in received.messages {
            if !seen.insert(message.id.clone()) {
                // Back after its visibility timeout, and hidden again by this receive, so the
                // next one reaches the messages behind it. Only the latest receipt changes
                // its visibility (the foreign map keeps it for the release at the end).
                if let Some(receipt) = foreign.get_mut(&message.id) {
                    *receipt = message.receipt;
                }
                continue;
            }
            report.messages += 1;
            let batch = match serde_json::from_str::<OnFailure>(&message.body) {
                Ok(m) => m.batch,
                Err(e) => {
                    report.failed.push(Failed {
                        message_id: message.id,
                        reason: format!(
                            "not a DynamoDB Streams on-failure record (no DDBStreamBatchInfo): {e}"
                        ),
                    });
                    continue;
                }
            };
            if options
                .stream_arn
                .as_ref()
                .is_some_and(|arn| *arn != batch.stream_arn)
            {
                report.other_streams += 1;
                // Left for its own stream's redrive: made visible again when this run ends.
                foreign.insert(message.id, message.receipt);
                continue;
            }
            match redrive_batch(aws, exporter, &batch, exported_at_ms, report).await {
                Ok(()) => {
                    aws.call(
                        Service::Sqs,
                        "DeleteMessage",
                        &json!({"QueueUrl": options.queue_url, "ReceiptHandle": message.receipt}),
                    )
                    .await?;
                    report.redriven += 1;
                }
                Err(BatchError::AgedOut(reason)) => report.aged_out.push(AgedOut {
                    message_id: message.id,
                    batch,
                    reason,
                }),
                Err(BatchError::Failed(reason)) => report.failed.push(Failed {
                    message_id: message.id,
                    reason,
                }),
            }
        }
        if all_seen {
            // Everything that came was already gone through. Nothing visible left: done.
            if visible_messages(aws, options).await? == 0 {
                break;
            }
            // One round of them coming back (a receive may bring fewer than ten) is no sign
            // of others out of reach; more is.
            only_seen += count;
            if only_seen > seen.len() + MAX_ONLY_SEEN_SLACK {
                report.incomplete = Some(format!(
                    "messages this run had gone through kept coming back ahead of others (the run \
                     outlasted their {} s visibility timeout); run redrive again, with a longer \
                     --visibility-timeout",
                    options.visibility_timeout_secs
                ));
                break;
            }
        } else {
            only_seen = 0;
        }
    }
    Ok(())
}

/// The queue's visible messages (SQS's approximate count).
async fn visible_messages(aws: &AwsJson, options: &RedriveOptions) -> Result<u64, RedriveError> {
    #[derive(Deserialize)]
    struct Attributes {
        #[serde(rename = "Attributes", default)]
        attributes: HashMap<String, String>,
    }
    let body = aws
        .call(
            Service::Sqs,
            "GetQueueAttributes",
            &json!({"QueueUrl": options.queue_url, "AttributeNames": ["ApproximateNumberOfMessages"]}),
        )
        .await?;
    let attributes: Attributes = parse("GetQueueAttributes", &body)?;
    attributes
        .attributes
        .get("ApproximateNumberOfMessages")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| RedriveError::Response {
            operation: "GetQueueAttributes",
            reason: "no ApproximateNumberOfMessages".to_owned(),
        })
}

enum BatchError {
    /// The stream no longer has the records.
    AgedOut(String),
    Failed(String),
}

impl BatchError {
    /// A failed call to the stream: the records aged out (past the stream's 24 hours, or the
    /// stream itself is gone, as when the table was recreated), or something to try again
    /// (an expired iterator included: the next run asks for a new one).
    fn from_stream(error: AwsError) -> BatchError {
        match error.kind() {
            Some("TrimmedDataAccessException" | "ResourceNotFoundException") => {
                BatchError::AgedOut(error.to_string())
            }
            _ => BatchError::Failed(error.to_string()),
        }
    }
}

/// Reads one batch's records from the stream and exports them.
async fn redrive_batch(
    aws: &AwsJson,
    exporter: &Exporter,
    batch: &BatchInfo,
    exported_at_ms: i64,
    report: &mut RedriveReport,
) -> Result<(), BatchError> {
    let iterator = aws
        .call(
            Service::DynamoDbStreams,
            "GetShardIterator",
            &json!({
                "StreamArn": batch.stream_arn,
                "ShardId": batch.shard_id,
                "ShardIteratorType": "AT_SEQUENCE_NUMBER",
                "SequenceNumber": batch.start_sequence_number,
            }),
        )
        .await
        .map_err(BatchError::from_stream)?;
    #[derive(Deserialize)]
    struct Iterator {
        #[serde(rename = "ShardIterator")]
        iterator: Option<String>,
    }
    let mut next = parse::<Iterator>("GetShardIterator", &iterator)
        .map_err(|e| BatchError::Failed(e.to_string()))?
        .iterator;
    let mut kept: Vec<String> = Vec::new();
    let mut empty = 0;
    let mut reached_end = false;
    while let Some(iterator) = next.take() {
        let page = aws
            .call(
                Service::DynamoDbStreams,
                "GetRecords",
                &json!({"ShardIterator": iterator, "Limit": 1000}),
            )
            .await
            .map_err(BatchError::from_stream)?;
        let records: Records<'_> =
            parse("GetRecords", &page).map_err(|e| BatchError::Failed(e.to_string()))?;
        if records.records.is_empty() {
            empty += 1;
            if empty >= MAX_EMPTY_PAGES {
                break;
            }
        } else {
            empty = 0;
        }
        for raw in &records.records {
            let seq = serde_json::from_str::<RecordPlace>(raw.get())
                .ok()
                .and_then(|r| r.dynamodb?.sequence_number);
            let Some(seq) = seq else {
                // Kept: the exporter quarantines a record without a sequence number.
                kept.push(raw.get().to_owned());
                continue;
            };
            match sequence_cmp(&seq, &batch.end_sequence_number) {
                std::cmp::Ordering::Greater => {
                    reached_end = true;
                    break;
                }
                std::cmp::Ordering::Equal => {
                    kept.push(raw.get().to_owned());
                    reached_end = true;
                    break;
                }
                std::cmp::Ordering::Less => kept.push(raw.get().to_owned()),
            }
        }
        if reached_end {
            break;
        }
        next = records.next;
    }
    // A closed shard ends (no next iterator) with the batch's last record in it; an open one
    // must reach it.
    let last_kept = kept.last().and_then(|raw| {
        serde_json::from_str::<RecordPlace>(raw)
            .ok()
            .and_then(|r| r.dynamodb?.sequence_number)
    });
    if !reached_end && last_kept.as_deref() != Some(batch.end_sequence_number.as_str()) {
        return Err(BatchError::Failed(format!(
            "the stream gave records up to {} but not the batch's last, {}; try again later",
            last_kept.unwrap_or_else(|| "none".to_owned()),
            batch.end_sequence_number
        )));
    }
    let document = format!("{{\"Records\":[{}]}}", kept.join(","));
    let labelled = exporter.with_options(ExportOptions {
        stream_override: Some(stream_label(&batch.stream_arn)),
        ..exporter.options().clone()
    });
    let prepared = labelled
        .prepare(
            Source::Document(document.as_bytes()),
            exported_at_ms,
            usize::MAX,
        )
        .map_err(|e| BatchError::Failed(e.to_string()))?;
    for batch_out in prepared {
        let written = labelled
            .write(batch_out)
            .await
            .map_err(|e| BatchError::Failed(e.to_string()))?;
        if written.failed_records() > 0 {
            return Err(BatchError::Failed(format!(
                "{} records could not be written: {}",
                written.failed_records(),
                written.write_errors.join("; ")
            )));
        }
        report.records += written.received;
        report.rows_written += written.rows_written;
        report.quarantined += written.quarantined;
        report.files.extend(written.files);
    }
    Ok(())
}
