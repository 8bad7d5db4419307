//! Kafka ingest: MSK and self-managed Kafka event-source batches.
//!
//! A record's value (base64 in the event) is either the image bytes or a JSON claim-check
//! `{"bucket": …, "key": …}` naming an object of up to the size limit in an allowed bucket,
//! for images larger than Kafka's message limit. Headers (byte arrays in the event):
//! `image-id` (optional id of the producer's choosing), `tenant`.
//!
//! The image id is derived from topic/partition/offset (or taken from `image-id`), so a
//! redelivered batch lands on the same items and changes nothing. Every record ends in an
//! outcome: RECEIVED, REJECTED with a reason (bad records are recorded, never swallowed),
//! DUPLICATE, or a retryable failure (RETRY), which the Lambda reports as a batch item failure
//! so that the record is delivered again (failing the invocation when every record needs one).

use aws_lambda_events::kafka::{KafkaEvent, KafkaRecord};
use base64::Engine as _;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::metrics::Outcomes;
use super::{
    hashed_ulid, is_valid_image_id, is_valid_tenant, Arrival, Ingested, Pipeline, DEFAULT_TENANT,
};
use crate::blob::BlobError;
use crate::model::Source;
use crate::store::MetadataStore;

/// What became of one Kafka record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordOutcome {
    pub topic: String,
    pub partition: i64,
    pub offset: i64,
    /// The image id the record maps to.
    pub image_id: String,
    /// `RECEIVED`, `REJECTED`, `DUPLICATE`, or `RETRY` (a failure of ours; redeliver).
    pub outcome: &'static str,
    /// The rejection code, or the retryable error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The outcome of every record of a batch, in event order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KafkaReport {
    pub records: Vec<RecordOutcome>,
}

impl KafkaReport {
    /// Records that must be delivered again.
    pub fn retries(&self) -> impl Iterator<Item = &RecordOutcome> {
        self.records.iter().filter(|r| r.outcome == "RETRY")
    }
}

/// A claim-check value.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimCheck {
    bucket: String,
    key: String,
    /// Producers may say what they sent; the type still comes from the bytes.
    #[serde(default)]
    #[allow(dead_code)]
    content_type: Option<String>,
}

/// The id of a record without an `image-id` header: a ULID whose time is the record's
/// timestamp and whose random part is a hash of topic/partition/offset (time-ordered, and
/// the same on every delivery).
pub fn derived_image_id(topic: &str, partition: i64, offset: i64, timestamp_ms: i64) -> String {
    let ms = u64::try_from(timestamp_ms).unwrap_or(0);
    hashed_ulid(ms, &format!("{topic}/{partition}/{offset}"))
}

fn header(record: &KafkaRecord, name: &str) -> Option<Vec<u8>> {
    record
        .headers
        .iter()
        .flat_map(|h| h.iter())
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| {
            v.iter()
                .map(|b| u8::from_ne_bytes(b.to_ne_bytes()))
                .collect()
        })
}

/// How many headers of the record are named `name` (any case).
fn header_count(record: &KafkaRecord, name: &str) -> usize {
    record
        .headers
        .iter()
        .flat_map(|h| h.keys())
        .filter(|k| k.eq_ignore_ascii_case(name))
        .count()
}

/// A header's value as text. Bytes that are not UTF-8 become U+FFFD, which no id or tenant
/// accepts: a present but undecodable header is refused, not read as absent.
fn header_str(record: &KafkaRecord, name: &str) -> Option<String> {
    header(record, name).map(|v| String::from_utf8_lossy(&v).into_owned())
}

/// A record's value once read: image bytes, or why it was refused.
enum Value {
    Bytes(Bytes),
    Refused { code: &'static str, message: String },
}

impl<M: MetadataStore> Pipeline<M> {
    /// Handles one Kafka batch; records are taken in topic-partition then offset order.
    pub async fn handle_kafka(&self, event: &KafkaEvent, outcomes: &mut Outcomes) -> KafkaReport {
        let mut partitions: Vec<_> = event.records.iter().collect();
        partitions.sort_by(|a, b| a.0.cmp(b.0));
        let mut report = KafkaReport::default();
        for (_, records) in partitions {
            for record in records {
                outcomes.records_in += 1;
                let outcome = self.kafka_record(record, outcomes).await;
                report.records.push(outcome);
            }
        }
        report
    }

    async fn kafka_record(&self, record: &KafkaRecord, outcomes: &mut Outcomes) -> RecordOutcome {
        let topic = record.topic.clone().unwrap_or_default();
        let source_ref = format!("{topic}/{}/{}", record.partition, record.offset);
        let mut outcome = RecordOutcome {
            topic: topic.clone(),
            partition: record.partition,
            offset: record.offset,
            image_id: derived_image_id(
                &topic,
                record.partition,
                record.offset,
                record.timestamp.0.timestamp_millis(),
            ),
            outcome: "RETRY",
            error: None,
        };
        let mut refusal = None;
        // A record naming two tenants (or two ids) is ambiguous: neither is picked.
        for name in ["tenant", "image-id"] {
            if header_count(record, name) > 1 {
                refusal.get_or_insert((
                    "repeated_header",
                    format!("header {name} appears more than once; a record names one"),
                ));
            }
        }
        let repeated = |name| header_count(record, name) > 1;
        if let Some(id) = header_str(record, "image-id").filter(|_| !repeated("image-id")) {
            if is_valid_image_id(&id) {
                outcome.image_id = id;
            } else {
                refusal.get_or_insert((
                    "invalid_record",
                    "header image-id must be 1 to 64 of A-Z a-z 0-9 _ -".to_owned(),
                ));
            }
        }
        let tenant = match header_str(record, "tenant") {
            _ if repeated("tenant") => DEFAULT_TENANT.to_owned(),
            Some(t) if is_valid_tenant(&t) => t,
            Some(_) => {
                refusal.get_or_insert((
                    "invalid_record",
                    "header tenant must be 1 to 64 of a-z A-Z 0-9 _ - .".to_owned(),
                ));
                DEFAULT_TENANT.to_owned()
            }
            None => DEFAULT_TENANT.to_owned(),
        };
        let arrival = Arrival {
            image_id: outcome.image_id.clone(),
            source: Source::Kafka,
            source_ref,
            tenant,
        };
        let value = match refusal {
            Some((code, message)) => Value::Refused { code, message },
            None => match self.record_value(record).await {
                Ok(value) => value,
                Err(err) => {
                    tracing::warn!(error = %err, image_id = %outcome.image_id, "kafka: claim-check read failed; batch will be retried");
                    outcome.error = Some(err.to_string());
                    outcomes.retries += 1;
                    return outcome;
                }
            },
        };
        let result = match value {
            Value::Bytes(bytes) => self.ingest(arrival, bytes).await,
            Value::Refused { code, message } => self.refuse_arrival(arrival, code, &message).await,
        };
        match result {
            Ok(Ingested::Received(_)) => {
                outcomes.received += 1;
                outcome.outcome = "RECEIVED";
            }
            Ok(Ingested::Duplicate(_)) => {
                outcomes.duplicates += 1;
                outcome.outcome = "DUPLICATE";
            }
            Ok(Ingested::Rejected(item)) => {
                let code = item.error_code.unwrap_or_default();
                outcomes.reject(&code);
                outcome.outcome = "REJECTED";
                outcome.error = Some(code);
            }
            Err(err) => {
                tracing::warn!(error = %err, image_id = %outcome.image_id, "kafka: record not stored; batch will be retried");
                outcomes.retries += 1;
                outcome.error = Some(err.to_string());
            }
        }
        outcome
    }

    /// The record's image bytes: inline, or fetched through a claim-check.
    async fn record_value(&self, record: &KafkaRecord) -> Result<Value, BlobError> {
        let limit = self.config.limits.max_bytes;
        let Some(encoded) = record.value.as_deref().filter(|v| !v.is_empty()) else {
            return Ok(Value::Refused {
                code: "empty_input",
                message: "the record has no value (tombstone or empty message)".into(),
            });
        };
        if (encoded.len() as u64 / 4).saturating_mul(3) > limit.saturating_add(3) {
            return Ok(Value::Refused {
                code: "too_large",
                message: format!("the record value is larger than the {limit}-byte limit"),
            });
        }
        let bytes = match base64::engine::general_purpose::STANDARD.decode(encoded) {
            Ok(bytes) => bytes,
            Err(e) => {
                return Ok(Value::Refused {
                    code: "invalid_record",
                    message: format!("the record value is not base64 as Lambda delivers it: {e}"),
                })
            }
        };
        if bytes.first() != Some(&b'{') {
            return Ok(Value::Bytes(Bytes::from(bytes)));
        }
        let claim: ClaimCheck = match serde_json::from_slice(&bytes) {
            Ok(claim) => claim,
            Err(e) => {
                return Ok(Value::Refused {
                    code: "invalid_claim_check",
                    message: format!(
                        "the value is JSON but not a claim-check {{\"bucket\", \"key\"}}: {e}"
                    ),
                })
            }
        };
        let Some(store) = self.claim_checks.get(&claim.bucket) else {
            return Ok(Value::Refused {
                code: "claim_check_bucket_not_allowed",
                message: format!(
                    "claim-check bucket `{}` is not one this pipeline reads (IMGLAKE_CLAIM_CHECK_BUCKETS)",
                    claim.bucket
                ),
            });
        };
        // The raw bucket holds every tenant's stored images: a claim-check naming one would
        // ingest another tenant's image under this record's id and tenant.
        if self.raw.bucket() == Some(claim.bucket.as_str())
            && claim.key.starts_with(super::RAW_PREFIX)
        {
            return Ok(Value::Refused {
                code: "claim_check_key_not_allowed",
                message: format!(
                    "claim-check key `{}` names a stored image of the raw bucket; put \
                     claim-checked objects under another prefix",
                    claim.key
                ),
            });
        }
        match store.get(&claim.key, limit).await {
            Ok(bytes) => Ok(Value::Bytes(bytes)),
            Err(BlobError::TooLarge { size, limit, .. }) => Ok(Value::Refused {
                code: "too_large",
                message: format!(
                    "the claim-checked object is {size} bytes, above the {limit}-byte limit"
                ),
            }),
            Err(BlobError::NotFound { .. }) => Ok(Value::Refused {
                code: "claim_check_missing",
                message: format!(
                    "the claim-checked object s3://{}/{} does not exist",
                    claim.bucket, claim.key
                ),
            }),
            Err(BlobError::Key { reason, .. }) => Ok(Value::Refused {
                code: "invalid_claim_check",
                message: format!("claim-check key is not valid: {reason}"),
            }),
            // The key itself cannot be read (runs under an existing object, names a
            // directory, too long…): reading it again fails the same way, so it is the
            // record's fault, not a failure to retry.
            Err(err) => match err.key_unusable() {
                Some(reason) => Ok(Value::Refused {
                    code: "invalid_claim_check",
                    message: format!(
                        "claim-check key `{}` cannot be read from bucket `{}`: {reason}",
                        claim.key, claim.bucket
                    ),
                }),
                None => Err(err),
            },
        }
    }

    /// Records an arrival refused before validation (bad record, missing claim-check): a
    /// redelivery of an already recorded id changes nothing.
    async fn refuse_arrival(
        &self,
        arrival: Arrival,
        code: &str,
        message: &str,
    ) -> Result<Ingested, super::HandlerError> {
        if let Some(existing) = self.store.get(&arrival.image_id).await? {
            if super::is_half_refused(&existing) {
                return self.finish_refusal(existing, code, message).await;
            }
            return Ok(Ingested::Duplicate(existing));
        }
        let item = self.received_item(&arrival);
        self.record_refusal(item, code, message).await
    }
}
