//! Processing of raw objects: S3 ObjectCreated events, directly or wrapped in SQS.
//!
//! For each raw object of ours, the item moves RECEIVED → PROCESSING (a conditional write:
//! of two racing workers one wins, the other sees the new status), the bytes are validated
//! and processed, the variants written under deterministic keys, then the item moves to
//! PROCESSED with its features and variants, or to REJECTED (bad input) or FAILED (a
//! permanent processing error, or a retryable one on the last attempt). Events for items in
//! a terminal status are duplicates and change nothing; a retry finds the item in PROCESSING
//! and finishes the work (the outputs are the same bytes under the same keys).

use std::time::Instant;

use aws_lambda_events::s3::S3Event;
use aws_lambda_events::sqs::SqsEvent;
use bytes::Bytes;

use super::metrics::Outcomes;
use super::{image_id_of_raw_key, variant_key, HandlerError, Pipeline};
use crate::blob::BlobError;
use crate::model::{ImageItem, Status, Variant};
use crate::process::{process, ProcessError};
use crate::store::{MetadataStore, StoreError, Transition};
use crate::validate::Rejection;

/// What processing one raw object did.
#[derive(Debug, Clone, PartialEq)]
pub enum Worked {
    /// Variants written, item PROCESSED.
    Processed(ImageItem),
    /// The bytes are not an acceptable image: item REJECTED.
    Rejected(ImageItem),
    /// Processing failed for good: item FAILED.
    Failed(ImageItem),
    /// The item was already in a terminal status (a duplicate event).
    Duplicate(ImageItem),
    /// The item was already in a terminal status, but the raw object is no longer the one it
    /// describes (its size differs): a presigned form posted again with other content, which
    /// S3 allows until the form expires. Nothing is reprocessed; it is logged and counted.
    Replaced(ImageItem),
    /// Not an object of ours, or an object whose item no longer exists.
    Ignored(String),
}

impl Worked {
    /// Adds this result to `outcomes` (processed, rejected or failed by code, duplicate,
    /// ignored).
    pub fn count(&self, outcomes: &mut Outcomes) {
        match self {
            Worked::Processed(_) => outcomes.processed += 1,
            Worked::Rejected(item) => outcomes.reject(item.error_code.as_deref().unwrap_or("")),
            Worked::Failed(item) => outcomes.fail(item.error_code.as_deref().unwrap_or("")),
            Worked::Duplicate(_) => outcomes.duplicates += 1,
            Worked::Replaced(_) => {
                outcomes.duplicates += 1;
                outcomes.replaced += 1;
            }
            Worked::Ignored(_) => outcomes.ignored += 1,
        }
    }
}

/// Re-reads after a lost race before giving the event back to the queue.
const CLAIM_ATTEMPTS: usize = 3;

impl<M: MetadataStore> Pipeline<M> {
    /// Handles an SQS batch of S3 notifications; returns the ids of the messages whose
    /// processing should be retried (the Lambda names them in its partial batch response, so
    /// the queue redelivers only those).
    pub async fn handle_sqs(&self, event: &SqsEvent, outcomes: &mut Outcomes) -> Vec<String> {
        let mut retry = Vec::new();
        for message in &event.records {
            outcomes.records_in += 1;
            let attempt = message
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|n| n.parse::<u32>().ok())
                .unwrap_or(1);
            let body = message.body.as_deref().unwrap_or("");
            let result = match serde_json::from_str::<Notification>(body) {
                Ok(n) if !n.records.is_empty() => {
                    let objects: Vec<ObjectEvent> =
                        n.records.into_iter().map(ObjectEvent::from).collect();
                    self.s3_records(&objects, attempt, outcomes).await
                }
                // S3 sends `{"Event": "s3:TestEvent", …}` when a notification is configured.
                _ if body.contains("s3:TestEvent") => {
                    outcomes.ignored += 1;
                    Ok(())
                }
                _ => {
                    tracing::error!(message_id = ?message.message_id, "process: message is not an S3 event notification; dropped");
                    outcomes.ignored += 1;
                    Ok(())
                }
            };
            if let Err(err) = result {
                tracing::warn!(error = %err, message_id = ?message.message_id, attempt, "process: will be retried");
                outcomes.retries += 1;
                retry.push(message.message_id.clone().unwrap_or_default());
            }
        }
        retry
    }

    /// Handles S3 notifications delivered directly (asynchronous invocation: an error makes
    /// Lambda retry the event).
    pub async fn handle_s3(
        &self,
        event: &S3Event,
        attempt: u32,
        outcomes: &mut Outcomes,
    ) -> Result<(), HandlerError> {
        outcomes.records_in += 1;
        let objects: Vec<ObjectEvent> = event
            .records
            .iter()
            .map(|r| ObjectEvent {
                event_name: r.event_name.clone().unwrap_or_default(),
                bucket: r.s3.bucket.name.clone().unwrap_or_default(),
                key: r.s3.object.key.clone().unwrap_or_default(),
            })
            .collect();
        self.s3_records(&objects, attempt, outcomes).await
    }

    async fn s3_records(
        &self,
        objects: &[ObjectEvent],
        attempt: u32,
        outcomes: &mut Outcomes,
    ) -> Result<(), HandlerError> {
        let mut first_error = None;
        for record in objects {
            if !record.event_name.starts_with("ObjectCreated") {
                outcomes.ignored += 1;
                continue;
            }
            let bucket = record.bucket.as_str();
            if let Some(ours) = self.raw.bucket() {
                if bucket != ours {
                    tracing::warn!(bucket, "process: event for another bucket ignored");
                    outcomes.ignored += 1;
                    continue;
                }
            }
            let key = decode_s3_key(&record.key);
            match self.process_object(&key, attempt).await {
                Ok(worked) => worked.count(outcomes),
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// An event for an image already done: a duplicate, unless the raw object now has
    /// another size than the one the item recorded.
    async fn done_already(&self, key: &str, item: ImageItem) -> Result<Worked, HandlerError> {
        let (Some(recorded), Ok(Some(stored))) = (item.size_bytes, self.raw.size(key).await) else {
            return Ok(Worked::Duplicate(item));
        };
        if u64::try_from(recorded).ok() == Some(stored) {
            return Ok(Worked::Duplicate(item));
        }
        tracing::warn!(
            image_id = %item.image_id,
            key,
            recorded_bytes = recorded,
            stored_bytes = stored,
            status = ?item.status,
            "the raw object was replaced after its image was handled; the item describes the earlier upload"
        );
        Ok(Worked::Replaced(item))
    }

    /// Processes the raw object `key` on delivery `attempt` (1-based).
    pub async fn process_object(&self, key: &str, attempt: u32) -> Result<Worked, HandlerError> {
        let Some(image_id) = image_id_of_raw_key(key) else {
            tracing::info!(key, "process: not a raw image key; ignored");
            return Ok(Worked::Ignored(format!("`{key}` is not a raw image key")));
        };
        let last_attempt = attempt >= self.config.max_attempts;
        let Some(item) = self.claim(image_id, last_attempt).await? else {
            return Ok(Worked::Ignored(format!("no item for image {image_id}")));
        };
        let item = match item {
            Claimed::Done(item) => return self.done_already(key, item).await,
            Claimed::Processing(item) => item,
        };
        let bytes = match self.raw.get(key, self.config.limits.max_bytes).await {
            Ok(bytes) => bytes,
            Err(BlobError::TooLarge { size, .. }) => {
                let rejection = Rejection::too_large(Some(size), &self.config.limits);
                return self
                    .finish(
                        item,
                        Status::Rejected,
                        rejection.code.as_str(),
                        &rejection.message,
                    )
                    .await;
            }
            Err(BlobError::NotFound { .. }) => {
                let message = "the raw object disappeared before processing";
                return self
                    .finish(item, Status::Failed, "raw_missing", message)
                    .await;
            }
            Err(err) => {
                return self
                    .retry_or_fail(item, last_attempt, "storage_error", err.into())
                    .await
            }
        };
        let started = Instant::now();
        let recipe = self.config.recipe.clone();
        let limits = self.config.limits;
        let input = bytes.clone();
        let result =
            match tokio::task::spawn_blocking(move || process(&input, &recipe, &limits)).await {
                Ok(result) => result,
                // A panic in a decoder or encoder repeats on every delivery (and on a DLQ
                // redrive): FAILED with the reason now, not PROCESSING forever after the retries.
                Err(err) if err.is_panic() => {
                    tracing::error!(image_id, error = %err, "process: processing panicked");
                    let message = "processing this image crashed the processor (a bug to report \
                               with the image); it will not be retried";
                    return self
                        .finish(item, Status::Failed, "processing_panicked", message)
                        .await;
                }
                Err(err) => return Err(HandlerError::Task(err.to_string())),
            };
        let mut done = match result {
            Ok(done) => done,
            Err(err) => return self.processing_error(item, &bytes, err, last_attempt).await,
        };
        let processing_ms = started.elapsed().as_millis();
        // The variants' bytes move into the store: no copy of the encoded files.
        let mut stored = Vec::with_capacity(done.variants.len());
        let outputs = std::mem::take(&mut done.variants);
        for v in outputs {
            let key = variant_key(image_id, &v.name, v.format.extension());
            let bytes = v.bytes.len() as u64;
            let put = self
                .processed
                .put(&key, Bytes::from(v.bytes), v.format.content_type())
                .await;
            if let Err(err) = put {
                return self
                    .retry_or_fail(item, last_attempt, "storage_error", err.into())
                    .await;
            }
            stored.push(Variant {
                name: v.name,
                key,
                format: v.format.name().to_owned(),
                width: v.width,
                height: v.height,
                bytes,
            });
        }
        let update = item.processed(&done.outcome(&stored, processing_ms), self.clock.now());
        match self.settle(item.clone(), update, Worked::Processed).await {
            // The variants are stored but the result could not be recorded, and this was the
            // last delivery: FAILED with the reason, not PROCESSING until the TTL.
            Err(err) if last_attempt => {
                let message =
                    format!("gave up after the last attempt: recording the result failed: {err}");
                self.finish(item, Status::Failed, "store_error", &message)
                    .await
                    .map_err(|_| err)
            }
            settled => settled,
        }
    }

    /// Gets the item into PROCESSING for this worker. `None` when there is no item (on the
    /// last attempt; before that, a missing item is retried: ingest writes the object first).
    async fn claim(
        &self,
        image_id: &str,
        last_attempt: bool,
    ) -> Result<Option<Claimed>, HandlerError> {
        for _ in 0..CLAIM_ATTEMPTS {
            let Some(item) = self.store.get(image_id).await? else {
                if last_attempt {
                    tracing::error!(image_id, "process: raw object without an item; giving up");
                    return Ok(None);
                }
                return Err(HandlerError::ItemMissing {
                    image_id: image_id.to_owned(),
                });
            };
            match item.status {
                s if s.is_terminal() => return Ok(Some(Claimed::Done(item))),
                Status::Processing => return Ok(Some(Claimed::Processing(item))),
                _ => {
                    let update = item.processing();
                    match self
                        .store
                        .transition(image_id, Status::Received, &update)
                        .await
                    {
                        Ok(_) => return Ok(Some(Claimed::Processing(update))),
                        Err(StoreError::Conflict { .. }) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        Err(StoreError::Conflict {
            image_id: image_id.to_owned(),
            expected: Status::Received,
            found: Status::Processing,
        }
        .into())
    }

    async fn processing_error(
        &self,
        mut item: ImageItem,
        bytes: &[u8],
        err: ProcessError,
        last_attempt: bool,
    ) -> Result<Worked, HandlerError> {
        if item.size_bytes.is_none() {
            item = item.with_content(bytes.len() as u64, crate::process::sha256_hex(bytes));
        }
        let message = err.to_string();
        match err {
            ProcessError::Rejected(r) => {
                self.finish(item, Status::Rejected, r.code.as_str(), &message)
                    .await
            }
            err if err.is_permanent() => {
                self.finish(item, Status::Failed, err.code(), &message)
                    .await
            }
            err => {
                let image_id = item.image_id.clone();
                let code = err.code();
                self.retry_or_fail(
                    item,
                    last_attempt,
                    code,
                    HandlerError::Processing { image_id, message },
                )
                .await
            }
        }
    }

    /// A retryable failure: given back to the queue, or FAILED on the last attempt.
    async fn retry_or_fail(
        &self,
        item: ImageItem,
        last_attempt: bool,
        code: &str,
        err: HandlerError,
    ) -> Result<Worked, HandlerError> {
        if last_attempt {
            let message = format!("gave up after the last attempt: {err}");
            self.finish(item, Status::Failed, code, &message).await
        } else {
            Err(err)
        }
    }

    /// Moves a PROCESSING item to REJECTED or FAILED with its reason.
    async fn finish(
        &self,
        item: ImageItem,
        status: Status,
        code: &str,
        message: &str,
    ) -> Result<Worked, HandlerError> {
        let now = self.clock.now();
        let (update, wrap): (_, fn(ImageItem) -> Worked) = if status == Status::Rejected {
            (item.rejected(code, message, now), Worked::Rejected)
        } else {
            (item.failed(code, message, now), Worked::Failed)
        };
        self.settle(item, update, wrap).await
    }

    /// Writes the final transition from PROCESSING; if another worker finished first, the
    /// event was a duplicate.
    async fn settle(
        &self,
        item: ImageItem,
        update: ImageItem,
        wrap: fn(ImageItem) -> Worked,
    ) -> Result<Worked, HandlerError> {
        match self
            .store
            .transition(&item.image_id, Status::Processing, &update)
            .await
        {
            Ok(Transition::Applied) => Ok(wrap(update)),
            Ok(Transition::Unchanged) => Ok(Worked::Duplicate(update)),
            Err(StoreError::Conflict { found, .. }) if found.is_terminal() => {
                match self.store.get(&item.image_id).await? {
                    Some(current) => Ok(Worked::Duplicate(current)),
                    None => Ok(Worked::Ignored(format!("image {} expired", item.image_id))),
                }
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The fields of an S3 notification record processing needs. Parsed leniently from SQS
/// bodies: S3-compatible servers omit fields AWS always sends (times, identities).
struct ObjectEvent {
    event_name: String,
    bucket: String,
    key: String,
}

#[derive(serde::Deserialize)]
struct Notification {
    #[serde(rename = "Records", default)]
    records: Vec<NotificationRecord>,
}

#[derive(serde::Deserialize)]
struct NotificationRecord {
    #[serde(rename = "eventName", default)]
    event_name: Option<String>,
    #[serde(default)]
    s3: Option<NotificationEntity>,
}

#[derive(serde::Deserialize)]
struct NotificationEntity {
    #[serde(default)]
    bucket: Option<Named>,
    #[serde(default)]
    object: Option<Keyed>,
}

#[derive(serde::Deserialize)]
struct Named {
    #[serde(default)]
    name: Option<String>,
}

#[derive(serde::Deserialize)]
struct Keyed {
    #[serde(default)]
    key: Option<String>,
}

impl From<NotificationRecord> for ObjectEvent {
    fn from(r: NotificationRecord) -> Self {
        let (bucket, key) = match r.s3 {
            Some(e) => (
                e.bucket.and_then(|b| b.name).unwrap_or_default(),
                e.object.and_then(|o| o.key).unwrap_or_default(),
            ),
            None => (String::new(), String::new()),
        };
        ObjectEvent {
            event_name: r.event_name.unwrap_or_default(),
            bucket,
            key,
        }
    }
}

/// An item this worker may process, or one already finished.
enum Claimed {
    Processing(ImageItem),
    Done(ImageItem),
}

/// S3 notification keys are URL-encoded, with `+` for spaces.
pub fn decode_s3_key(key: &str) -> String {
    let plus_decoded = key.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_decoded)
        .decode_utf8_lossy()
        .into_owned()
}
