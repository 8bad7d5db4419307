//! Processing of raw objects: S3 ObjectCreated events, directly or wrapped in SQS.
//!
//! For each raw object of ours, the item moves RECEIVED → PROCESSING (a conditional write:
//! of two racing workers one wins, the other sees the new status), the bytes are validated
//! and processed, the variants written under deterministic keys, then the item moves to
//! PROCESSED with its features and variants, or to REJECTED (bad input) or FAILED (a
//! permanent processing error, or a retryable one on the last attempt). Events for items in
//! a terminal status are duplicates and change nothing; a retry finds the item in PROCESSING
//! and finishes the work (the outputs are the same bytes under the same keys).
//!
//! Replaced uploads. S3 cannot refuse a second POST of a presigned form before it expires, so
//! a raw key may receive another upload after (or while) its image is handled; the raw
//! bucket is versioned and every upload is its own version with its own event. Each event's
//! version is read exactly (`versionId` of the notification), so the item always describes
//! one version. An event whose version differs in content from what the settled item
//! records (its SHA-256), or any upload to an ABANDONED image, is a stray: the item records
//! it (`error_code` `upload_replaced`, same status), then that version is deleted, which makes
//! the described version current again, and `RawReplaced` counts it. Raw bytes, item,
//! variants and lake rows thus never disagree; `sql/checks/replaced_uploads.sql` lists the
//! images it happened to. A store without versions (a directory) cannot give the described
//! upload back: there the stray stays, the item says so, and `imglake serve`'s upload route
//! refuses a second upload to a used key in the first place.

use std::time::Instant;

use aws_lambda_events::s3::S3Event;
use aws_lambda_events::sqs::SqsEvent;
use bytes::Bytes;

use super::metrics::Outcomes;
use super::{image_id_of_raw_key, variant_key, HandlerError, Pipeline};
use crate::blob::BlobError;
use crate::model::{ImageItem, Status, StrayUpload, Variant};
use crate::process::{process, processing_cost, ProcessError};
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
    /// The event's upload is not the one the final item describes (a presigned form posted
    /// again with other content, which S3 allows until the form expires): the item records
    /// it as `upload_replaced` and that version is removed. Nothing is reprocessed.
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
            Worked::Replaced(_) => outcomes.replaced += 1,
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
                version_id: r.s3.object.version_id.clone().filter(|v| !v.is_empty()),
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
            match self
                .process_upload(&key, record.version_id.as_deref(), attempt)
                .await
            {
                Ok(worked) => worked.count(outcomes),
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// An event for an image already final: a duplicate when its upload is the one the item
    /// describes, else a stray upload to set aside.
    async fn settled_already(
        &self,
        key: &str,
        version: Option<&str>,
        item: ImageItem,
    ) -> Result<Worked, HandlerError> {
        let (bytes, read) = match self
            .raw
            .get_version(key, version, self.config.limits.max_bytes)
            .await
        {
            Ok(read) => read,
            // Removed already (an earlier delivery of this event), or never there.
            Err(BlobError::NotFound { .. }) => return Ok(Worked::Duplicate(item)),
            // The item's own refusal for its size, delivered again.
            Err(BlobError::TooLarge { size, .. })
                if item.size_bytes.and_then(|n| u64::try_from(n).ok()) == Some(size) =>
            {
                return Ok(Worked::Duplicate(item))
            }
            Err(BlobError::TooLarge { size, .. }) => {
                let over = format!("not read: {size} bytes, over the size limit");
                return self.set_aside(key, version, size, &over, item).await;
            }
            Err(err) => return Err(err.into()),
        };
        let version = read.as_deref().or(version);
        self.judge_upload(key, version, &bytes, item).await
    }

    /// Whether `bytes` (of `version` of `key`) are the upload the final `item` describes; a
    /// stray is set aside.
    async fn judge_upload(
        &self,
        key: &str,
        version: Option<&str>,
        bytes: &[u8],
        item: ImageItem,
    ) -> Result<Worked, HandlerError> {
        let stray = match (&item.sha256, item.status) {
            // Nothing was uploaded for an abandoned image: whatever arrives is late.
            (_, Status::Abandoned) => true,
            (Some(described), _) => *described != crate::process::sha256_hex(bytes),
            // A final item that never read its bytes (FAILED before reading them): they may
            // well be its own upload, so nothing is removed.
            (None, _) => false,
        };
        if !stray {
            return Ok(Worked::Duplicate(item));
        }
        let sha = crate::process::sha256_hex(bytes);
        self.set_aside(key, version, bytes.len() as u64, &sha, item)
            .await
    }

    /// Records a stray upload on the final `item`, then deletes its version (S3 makes the
    /// described version current again). The record comes first: a failed delete is retried
    /// by the event's redelivery, and the record is then unchanged.
    async fn set_aside(
        &self,
        key: &str,
        version: Option<&str>,
        size_bytes: u64,
        sha256: &str,
        item: ImageItem,
    ) -> Result<Worked, HandlerError> {
        let handling = if version.is_some() {
            "removed (its version was deleted; the described upload is current again)"
        } else {
            "left in place: this store keeps no earlier version, so the raw object is now \
             the later upload"
        };
        let stray = StrayUpload {
            size_bytes,
            sha256,
            version,
            handling,
        };
        let update = item.upload_replaced(&stray);
        tracing::warn!(
            image_id = %item.image_id,
            key,
            version,
            stray_bytes = size_bytes,
            stray_sha256 = sha256,
            status = %item.status,
            "a later upload to a settled image's key was set aside (a presigned form posted again?)"
        );
        let recorded = match self.store.amend(&item.image_id, item.status, &update).await {
            Ok(_) => update,
            // Expired by TTL in between: nothing left to describe.
            Err(StoreError::NotFound { .. }) => item,
            Err(err) => return Err(err.into()),
        };
        if let Some(version) = version {
            self.raw.delete_version(key, version).await?;
        }
        Ok(Worked::Replaced(recorded))
    }

    /// Processes the raw object `key` (its current version) on delivery `attempt` (1-based).
    pub async fn process_object(&self, key: &str, attempt: u32) -> Result<Worked, HandlerError> {
        self.process_upload(key, None, attempt).await
    }

    /// Processes `version` of the raw object `key` (the current one when `None`: a store
    /// without versions) on delivery `attempt` (1-based).
    pub async fn process_upload(
        &self,
        key: &str,
        version: Option<&str>,
        attempt: u32,
    ) -> Result<Worked, HandlerError> {
        let Some(image_id) = image_id_of_raw_key(key) else {
            tracing::info!(key, "process: not a raw image key; ignored");
            return Ok(Worked::Ignored(format!("`{key}` is not a raw image key")));
        };
        let last_attempt = attempt >= self.config.max_attempts;
        let Some(item) = self.claim(image_id, last_attempt).await? else {
            return Ok(Worked::Ignored(format!("no item for image {image_id}")));
        };
        let item = match item {
            Claimed::Done(item) => return self.settled_already(key, version, item).await,
            Claimed::Processing(item) => item,
        };
        let (bytes, read_version) = match self
            .raw
            .get_version(key, version, self.config.limits.max_bytes)
            .await
        {
            Ok(read) => read,
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
        let read_version = read_version.or_else(|| version.map(str::to_owned));
        let mut written = Vec::new();
        let worked = self
            .render_and_settle(image_id, item, &bytes, last_attempt, &mut written)
            .await?;
        let Worked::Duplicate(current) = worked else {
            return Ok(worked);
        };
        // Another worker settled the image first, perhaps from another upload to the key:
        // variants this one wrote that the item does not list go, and a stray upload is set
        // aside.
        let listed: Vec<String> = current.variants().into_iter().map(|v| v.key).collect();
        for key in written.iter().filter(|k| !listed.contains(k)) {
            self.processed.delete(key).await?;
        }
        self.judge_upload(key, read_version.as_deref(), &bytes, current)
            .await
    }

    /// Processes the claimed `item`'s `bytes`, stores the variants (their keys go to
    /// `written`) and settles the item.
    async fn render_and_settle(
        &self,
        image_id: &str,
        item: ImageItem,
        bytes: &Bytes,
        last_attempt: bool,
        written: &mut Vec<String>,
    ) -> Result<Worked, HandlerError> {
        let recipe = self.config.recipe.clone();
        let limits = self.config.limits;
        // Memory for this image, from its header, before it is decoded: workers sharing the
        // budget wait here. An image that cannot be judged (or is over budget) is refused by
        // `process` from the same header without decoding, so it reserves nothing.
        let _reserved = match processing_cost(bytes, &recipe, &limits) {
            Ok(cost) => Some(self.config.memory.reserve(cost).await),
            Err(_) => None,
        };
        let started = Instant::now();
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
            Err(err) => return self.processing_error(item, bytes, err, last_attempt).await,
        };
        let processing_ms = started.elapsed().as_millis();
        // The variants' bytes move into the store: no copy of the encoded files.
        let mut stored = Vec::with_capacity(done.variants.len());
        let outputs = std::mem::take(&mut done.variants);
        for v in outputs {
            let key = variant_key(
                image_id,
                &done.features.sha256,
                &v.name,
                v.format.extension(),
            );
            let bytes = v.bytes.len() as u64;
            let put = self
                .processed
                .put(&key, Bytes::from(v.bytes), v.format.content_type())
                .await;
            written.push(key.clone());
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
    /// The object version the event is about (a versioned bucket).
    version_id: Option<String>,
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
    #[serde(rename = "versionId", default)]
    version_id: Option<String>,
}

impl From<NotificationRecord> for ObjectEvent {
    fn from(r: NotificationRecord) -> Self {
        let (bucket, key, version_id) = match r.s3 {
            Some(e) => {
                let (key, version) = e
                    .object
                    .map(|o| (o.key.unwrap_or_default(), o.version_id))
                    .unwrap_or_default();
                (
                    e.bucket.and_then(|b| b.name).unwrap_or_default(),
                    key,
                    version,
                )
            }
            None => (String::new(), String::new(), None),
        };
        ObjectEvent {
            event_name: r.event_name.unwrap_or_default(),
            bucket,
            key,
            version_id: version_id.filter(|v| !v.is_empty()),
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
