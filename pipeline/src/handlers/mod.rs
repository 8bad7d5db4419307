//! The ingestion and processing handlers: pure functions of an event over a [`Pipeline`]
//! (a metadata store, the raw and processed blob stores, a clock and the configuration).
//! The Lambda binaries, `imglake serve` and `imglake demo` all call these same functions;
//! only the stores behind them differ.
//!
//! - [`upload`]: the upload API (API Gateway HTTP API, payload format 2.0).
//! - [`kafka`]: MSK / self-managed Kafka batches (inline bytes or JSON claim-checks).
//! - [`worker`]: processing of raw objects (S3 ObjectCreated events, direct or wrapped in
//!   SQS, with an SQS partial batch response).
//!
//! Object layout: the raw upload of image `id` is `images/<id>` in the raw store; its
//! variants are `<id>/<content>/<variant>.<ext>` in the processed store, `<content>` being the
//! first 16 hex digits of the raw bytes' SHA-256.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::blob::{BlobError, BlobStore};
use crate::model::{Header, ImageItem, Source, Status};
use crate::presign::{Credentials, ServerSideEncryption};
use crate::process::{ExifMeta, MemoryBudget, Recipe};
use crate::store::{Clock, MetadataStore, StoreError};
use crate::validate::{validate, Limits, Probe};

pub mod kafka;
pub mod metrics;
pub mod sweep;
pub mod upload;
pub mod worker;

#[cfg(test)]
mod tests;

/// Prefix of raw objects in the raw store.
pub const RAW_PREFIX: &str = "images/";
/// Tenant recorded when a request names none.
pub const DEFAULT_TENANT: &str = "default";
/// Processing attempts before an image whose processing keeps failing becomes FAILED.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// Largest body `PUT /images` takes. Lambda's synchronous payload limit is 6 MB, and API
/// Gateway sends binary bodies base64-encoded (4/3 larger): larger images use `POST /images`.
pub const DEFAULT_DIRECT_MAX_BYTES: u64 = 4 * 1024 * 1024;

/// The raw object key of an image.
pub fn raw_key(image_id: &str) -> String {
    format!("{RAW_PREFIX}{image_id}")
}

/// The image id of a raw object key, if the key is one of ours.
pub fn image_id_of_raw_key(key: &str) -> Option<&str> {
    key.strip_prefix(RAW_PREFIX)
        .filter(|id| is_valid_image_id(id))
}

/// The processed object key of one variant of the raw bytes whose SHA-256 is `sha256`
/// (hex): `<image_id>/<first 16 hex digits>/<variant>.<ext>`. Variants of different uploads
/// to one key never share a key, so a worker that processed a later upload cannot overwrite
/// the variants the item lists (and each key's content never changes: safe to cache).
pub fn variant_key(image_id: &str, sha256: &str, variant: &str, extension: &str) -> String {
    let content = sha256.get(..16).unwrap_or(sha256);
    format!("{image_id}/{content}/{variant}.{extension}")
}

/// Image ids: 1 to 64 of `A-Z a-z 0-9 _ -` (ULIDs and derived ids; safe in keys and URLs).
pub fn is_valid_image_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Tenants: 1 to 64 of `a-z A-Z 0-9 _ - .`.
pub fn is_valid_tenant(tenant: &str) -> bool {
    (1..=64).contains(&tenant.len())
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// How `POST /images` signs upload forms for the raw bucket.
#[derive(Debug, Clone)]
pub struct PresignConfig {
    /// Bucket the form uploads into (the raw store's bucket).
    pub bucket: String,
    /// Region of the bucket.
    pub region: String,
    /// Credentials that sign the policy (the function's own on Lambda).
    pub credentials: Credentials,
    /// S3-compatible endpoint (path-style), or `None` for AWS.
    pub endpoint: Option<String>,
    /// How long a form stays valid.
    pub expires_in: Duration,
    /// Encryption the upload must request.
    pub server_side_encryption: Option<ServerSideEncryption>,
}

/// What the handlers need to know besides their stores.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Size, pixel and type limits of inputs.
    pub limits: Limits,
    /// The variants to produce.
    pub recipe: Recipe,
    /// Lifetime of items (DynamoDB TTL) and, by the buckets' lifecycle, of images.
    pub ttl: Duration,
    /// Processing attempts before FAILED (the process queue's `maxReceiveCount`).
    pub max_attempts: u32,
    /// Largest direct `PUT /images` body.
    pub direct_max_bytes: u64,
    /// Signing of presigned uploads; `None` makes `POST /images` answer 501.
    pub presign: Option<PresignConfig>,
    /// The memory budget workers reserve an image's processing from before decoding it: one
    /// for every worker of this process ([`PipelineConfig::with_limits`] sizes it).
    pub memory: MemoryBudget,
}

impl PipelineConfig {
    /// These limits, and a memory budget of their `max_memory_bytes` shared by every worker
    /// of this pipeline.
    pub fn with_limits(mut self, limits: Limits) -> PipelineConfig {
        self.memory = MemoryBudget::new(limits.max_memory_bytes);
        self.limits = limits;
        self
    }

    /// What `PUT /images` takes, and where a larger image goes: the hint of every 413 it answers.
    pub fn direct_upload_limit(&self) -> String {
        format!(
            "PUT /images takes at most {} bytes (POST /images returns a presigned upload for images up to {} bytes)",
            self.direct_max_bytes, self.limits.max_bytes
        )
    }
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            limits: Limits::default(),
            recipe: Recipe::default(),
            ttl: crate::model::DEFAULT_TTL,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            direct_max_bytes: DEFAULT_DIRECT_MAX_BYTES,
            presign: None,
            memory: MemoryBudget::default(),
        }
    }
}

/// Everything a handler works over.
pub struct Pipeline<M> {
    /// The metadata table.
    pub store: M,
    /// Raw uploads.
    pub raw: BlobStore,
    /// Variants.
    pub processed: BlobStore,
    /// Buckets Kafka claim-checks may name, by bucket name (the raw store is always one).
    pub claim_checks: HashMap<String, BlobStore>,
    /// Source of "now".
    pub clock: Arc<dyn Clock>,
    /// Limits, recipe, TTL, retries, presigning.
    pub config: PipelineConfig,
}

/// A failure of a handler's own (not of the input): the event should be retried.
#[derive(Debug, Error)]
pub enum HandlerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// The item of a raw object does not exist (yet): its ingest may still be writing it.
    #[error("no metadata item for raw object of image {image_id} yet")]
    ItemMissing { image_id: String },
    /// Processing failed in a way that may not repeat (resources, encoder I/O).
    #[error("processing image {image_id} failed: {message}")]
    Processing { image_id: String, message: String },
    /// A blocking task did not finish (panicked or was cancelled).
    #[error("worker task failed: {0}")]
    Task(String),
}

impl HandlerError {
    /// Whether the event should be delivered again. Everything a handler returns as an error
    /// is retryable except a bug (an illegal transition or invalid item).
    pub fn is_retryable(&self) -> bool {
        match self {
            HandlerError::Store(e) => e.is_retryable() || matches!(e, StoreError::Conflict { .. }),
            HandlerError::Blob(e) => e.is_retryable(),
            HandlerError::ItemMissing { .. }
            | HandlerError::Processing { .. }
            | HandlerError::Task(_) => true,
        }
    }
}

/// Who sent an image and under which id.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub image_id: String,
    pub source: Source,
    /// Request id, or `topic/partition/offset`.
    pub source_ref: String,
    pub tenant: String,
}

/// What became of an arriving image.
#[derive(Debug, Clone, PartialEq)]
pub enum Ingested {
    /// Stored raw and recorded RECEIVED; processing follows.
    Received(ImageItem),
    /// Refused and recorded REJECTED with its reason; nothing stored.
    Rejected(ImageItem),
    /// This id was already recorded (a redelivery): nothing changed.
    Duplicate(ImageItem),
}

impl Ingested {
    /// The item as recorded.
    pub fn item(&self) -> &ImageItem {
        match self {
            Ingested::Received(item) | Ingested::Rejected(item) | Ingested::Duplicate(item) => item,
        }
    }
}

impl<M: MetadataStore> Pipeline<M> {
    /// A pipeline over `store` and the two blob stores with the default configuration; the
    /// raw store is the only claim-check bucket (when it is a bucket).
    pub fn new(store: M, raw: BlobStore, processed: BlobStore, clock: Arc<dyn Clock>) -> Self {
        let mut claim_checks = HashMap::new();
        if let Some(bucket) = raw.bucket() {
            claim_checks.insert(bucket.to_owned(), raw.clone());
        }
        Pipeline {
            store,
            raw,
            processed,
            claim_checks,
            clock,
            config: PipelineConfig::default(),
        }
    }

    /// A new RECEIVED item for `arrival`, now.
    fn received_item(&self, arrival: &Arrival) -> ImageItem {
        ImageItem::received(
            arrival.image_id.clone(),
            arrival.source,
            arrival.source_ref.clone(),
            arrival.tenant.clone(),
            self.clock.now(),
            self.config.ttl,
        )
    }

    /// Validates `bytes` from their header; stores an accepted image raw and records it
    /// RECEIVED, or records a refused one RECEIVED → REJECTED with its reason. A known id is a
    /// redelivery and changes nothing. The blob is written before the item, so an item never
    /// points at a missing object; a crash in between leaves an orphan blob that the retry
    /// finds with the same bytes (and keeps) and the bucket's lifecycle removes otherwise.
    /// The blob is only ever created, never overwritten: of two arrivals with one id and
    /// different bytes, the second is refused (`image_id_conflict`) or finds the first's item.
    pub async fn ingest(&self, arrival: Arrival, bytes: Bytes) -> Result<Ingested, HandlerError> {
        if let Some(existing) = self.store.get(&arrival.image_id).await? {
            if is_half_refused(&existing) {
                if let Err(rejection) = validate(&bytes, &self.config.limits) {
                    return self
                        .finish_refusal(existing, rejection.code.as_str(), &rejection.message)
                        .await;
                }
            }
            return Ok(Ingested::Duplicate(existing));
        }
        let item = self
            .received_item(&arrival)
            .with_content(bytes.len() as u64, crate::process::sha256_hex(&bytes));
        match validate(&bytes, &self.config.limits) {
            Ok(probe) => {
                let key = raw_key(&arrival.image_id);
                let header = displayed_header(&probe, &bytes);
                // Created only where no object is (a conditional put on S3): an image's raw
                // bytes, once there, are never replaced by another arrival's under the same id.
                if !self
                    .raw
                    .put_new(&key, bytes.clone(), probe.content_type)
                    .await?
                {
                    let limit = bytes.len() as u64;
                    let same = match self.raw.get(&key, limit).await {
                        Ok(there) => there == bytes,
                        Err(BlobError::TooLarge { .. }) => false,
                        Err(e) => return Err(e.into()),
                    };
                    if !same {
                        // Another arrival with this id wrote other bytes: its item is (or is
                        // about to be) the image; this one is refused, not merged into it.
                        if let Some(existing) = self.store.get(&arrival.image_id).await? {
                            return Ok(Ingested::Duplicate(existing));
                        }
                        let message = format!(
                            "another arrival stored different bytes under image id `{}`; \
                             an image id names one image (send this one under another id)",
                            arrival.image_id
                        );
                        return self
                            .record_refusal(item, "image_id_conflict", &message)
                            .await;
                    }
                    // The same bytes: ours from an interrupted attempt, or an identical
                    // arrival; either way the object is right.
                }
                let item = item.accepted(header, key);
                match self.store.put_new(&item).await {
                    Ok(()) => Ok(Ingested::Received(item)),
                    Err(StoreError::AlreadyExists { .. }) => self.duplicate(&item.image_id).await,
                    Err(e) => Err(e.into()),
                }
            }
            Err(rejection) => {
                self.record_refusal(item, rejection.code.as_str(), &rejection.message)
                    .await
            }
        }
    }

    /// Records an arrival refused for `code` / `message` (RECEIVED, then REJECTED).
    async fn record_refusal(
        &self,
        item: ImageItem,
        code: &str,
        message: &str,
    ) -> Result<Ingested, HandlerError> {
        match self.store.put_new(&item).await {
            Ok(()) => {}
            Err(StoreError::AlreadyExists { .. }) => return self.duplicate(&item.image_id).await,
            Err(e) => return Err(e.into()),
        }
        self.finish_refusal(item, code, message).await
    }

    /// The second write of a refusal: RECEIVED → REJECTED with the reason. Also what a
    /// redelivery does for an item an interrupted refusal left RECEIVED ([`is_half_refused`]),
    /// which would otherwise stay RECEIVED, without a reason, until TTL.
    async fn finish_refusal(
        &self,
        item: ImageItem,
        code: &str,
        message: &str,
    ) -> Result<Ingested, HandlerError> {
        let rejected = item.rejected(code, message, self.clock.now());
        self.store
            .transition(&rejected.image_id, Status::Received, &rejected)
            .await?;
        Ok(Ingested::Rejected(rejected))
    }

    async fn duplicate(&self, image_id: &str) -> Result<Ingested, HandlerError> {
        match self.store.get(image_id).await? {
            Some(item) => Ok(Ingested::Duplicate(item)),
            // Written and removed in between (TTL): nothing to do either.
            None => Err(StoreError::NotFound {
                image_id: image_id.to_owned(),
            }
            .into()),
        }
    }
}

/// A ULID whose time part is `ms` (clamped to 48 bits) and whose random part is the first
/// 80 bits of SHA-256(`seed`): the same id on every delivery of the same source.
pub fn hashed_ulid(ms: u64, seed: &str) -> String {
    let digest = Sha256::digest(seed.as_bytes());
    let mut random = [0u8; 16];
    random[6..].copy_from_slice(&digest[..10]);
    ulid::Ulid::from_parts(ms.min((1 << 48) - 1), u128::from_be_bytes(random)).to_string()
}

/// What the item records of an accepted image's header: its dimensions as displayed, after
/// the EXIF orientation (5..=8 swap the stored sides), as processing will record them too.
pub fn displayed_header<'p>(probe: &'p Probe, bytes: &[u8]) -> Header<'p> {
    let (width, height) = probe.displayed_size(ExifMeta::read(bytes).orientation);
    Header {
        content_type: probe.content_type,
        format: probe.format.name(),
        width,
        height,
    }
}

/// An item a refusal wrote RECEIVED and did not get to REJECTED (throttled, timed out): an
/// accepted image's item always has its raw object, a refused one never does.
pub(crate) fn is_half_refused(item: &ImageItem) -> bool {
    item.status == Status::Received && item.raw_key.is_none()
}
