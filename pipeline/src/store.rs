//! The metadata store: one item per image, conditional writes, and a change feed.
//!
//! [`MetadataStore`] is what handlers use; on AWS it is a DynamoDB table, locally it is
//! [`EmbeddedStore`] (SQLite), whose change feed emits records in the exact DynamoDB Streams
//! JSON shape Lambda delivers, so the exporter cannot tell the two apart.

use std::error::Error as StdError;
use std::future::Future;

use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::model::{ImageItem, ModelError, Status};

mod embedded;
mod stream;
#[cfg(test)]
mod tests;

pub use embedded::listing::{
    ItemFacets, ItemFilter, ItemPage, ListCursor, MAX_PAGE as MAX_LIST_PAGE,
};
pub use embedded::{EmbeddedStore, DEFAULT_TABLE_NAME};

/// The source of "now" for writes (the stream record's ApproximateCreationDateTime). Any
/// `Fn() -> DateTime<Utc>` is a clock: `|| Utc::now()` in binaries, a fixed or stepped time in
/// tests.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

impl<F> Clock for F
where
    F: Fn() -> DateTime<Utc> + Send + Sync,
{
    fn now(&self) -> DateTime<Utc> {
        self()
    }
}

/// What a [`MetadataStore::transition`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The item was replaced by the update (one MODIFY on the stream).
    Applied,
    /// The stored item already equals the update: a duplicate event, nothing written.
    Unchanged,
}

/// Checks a new item before any store is touched: it starts as RECEIVED. Every
/// [`MetadataStore::put_new`] calls this first.
pub fn check_new(item: &ImageItem) -> Result<(), StoreError> {
    if item.status == Status::Received {
        Ok(())
    } else {
        Err(StoreError::InitialStatus {
            image_id: item.image_id.clone(),
            status: item.status,
        })
    }
}

/// Checks a requested transition before any store is touched: the lifecycle allows it and
/// the update is for this item. Every [`MetadataStore`] calls this first.
pub fn check_transition(
    image_id: &str,
    from: Status,
    update: &ImageItem,
) -> Result<(), StoreError> {
    if !from.can_transition_to(update.status) {
        return Err(StoreError::IllegalTransition {
            image_id: image_id.to_owned(),
            from,
            to: update.status,
        });
    }
    if update.image_id != image_id {
        return Err(StoreError::KeyMismatch {
            image_id: image_id.to_owned(),
            update_id: update.image_id.clone(),
        });
    }
    Ok(())
}

/// Checks a requested amendment of a final item before any store is touched: the update keeps
/// the stored status, which must be final, and is for this item. Every [`MetadataStore`]
/// calls this first.
pub fn check_amend(image_id: &str, status: Status, update: &ImageItem) -> Result<(), StoreError> {
    if !status.is_terminal() || update.status != status {
        return Err(StoreError::IllegalTransition {
            image_id: image_id.to_owned(),
            from: status,
            to: update.status,
        });
    }
    if update.image_id != image_id {
        return Err(StoreError::KeyMismatch {
            image_id: image_id.to_owned(),
            update_id: update.image_id.clone(),
        });
    }
    Ok(())
}

/// Whether `item` is what [`MetadataStore::awaiting_upload`] lists with this `cutoff_ms`: RECEIVED
/// from the upload API with no bytes yet (a presigned form's item), received at or before the
/// cutoff. Both stores filter through this (DynamoDB's scan filter says the same).
pub fn is_awaiting_upload(item: &ImageItem, cutoff_ms: i64) -> bool {
    item.status == Status::Received
        && item.size_bytes.is_none()
        && item.raw_key.is_some()
        && item.source == Some(crate::model::Source::Api)
        && item.received_at <= cutoff_ms
}

/// What a transition from `from` to `update` makes of the stored item, when it must not be
/// written: absent (`NotFound`), already equal to the update (a duplicate, `Unchanged`), or
/// in another status (`Conflict`). `None` when the stored item is in `from` and differs: the
/// write goes ahead. Every [`MetadataStore`] decides through this, so they agree.
pub fn settled_transition(
    image_id: &str,
    from: Status,
    update: &ImageItem,
    stored: Option<&ImageItem>,
) -> Option<Result<Transition, StoreError>> {
    match stored {
        None => Some(Err(StoreError::NotFound {
            image_id: image_id.to_owned(),
        })),
        Some(stored) if stored == update => Some(Ok(Transition::Unchanged)),
        Some(stored) if stored.status != from => Some(Err(StoreError::Conflict {
            image_id: image_id.to_owned(),
            expected: from,
            found: stored.status,
        })),
        Some(_) => None,
    }
}

/// DynamoDB's item size limit. Both stores measure the item's DynamoDB JSON
/// ([`EncodedItem::json`]), a slight over-estimate of DynamoDB's own accounting.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// An item as every store writes it: checked against the model's rules and DynamoDB's size
/// limit, as attribute values in name order and as their DynamoDB JSON.
#[derive(Debug, Clone)]
pub struct EncodedItem {
    pub attributes: std::collections::BTreeMap<String, serde_dynamo::AttributeValue>,
    /// The attributes as DynamoDB JSON, names in order: what the embedded store keeps, and
    /// what both stores measure against [`MAX_ITEM_BYTES`].
    pub json: String,
}

/// The one encoding of an item for storage, shared by the embedded store and DynamoDB.
pub fn encode_item(item: &ImageItem) -> Result<EncodedItem, StoreError> {
    let attributes: std::collections::BTreeMap<String, serde_dynamo::AttributeValue> = item
        .to_item()
        .map_err(|source| StoreError::Invalid {
            image_id: item.image_id.clone(),
            source,
        })?
        .into_inner()
        .into_iter()
        .collect();
    let json = serde_json::to_string(&attributes).map_err(|e| StoreError::Corrupt {
        what: format!("image {}", item.image_id),
        reason: e.to_string(),
    })?;
    if json.len() > MAX_ITEM_BYTES {
        return Err(StoreError::TooLarge {
            image_id: item.image_id.clone(),
            bytes: json.len(),
            limit: MAX_ITEM_BYTES,
        });
    }
    Ok(EncodedItem { attributes, json })
}

/// An item read back from a store (`what` names it in the error, e.g. "image X in DynamoDB").
pub fn decode_item(what: &str, attributes: serde_dynamo::Item) -> Result<ImageItem, StoreError> {
    ImageItem::from_item(attributes).map_err(|e| StoreError::Corrupt {
        what: what.to_owned(),
        reason: e.to_string(),
    })
}

/// Errors of a metadata store.
#[derive(Debug, Error)]
pub enum StoreError {
    /// `put_new` found an item with this id: the image was already received (ingest is
    /// idempotent; treat this as success of an earlier delivery).
    #[error("image {image_id} already exists")]
    AlreadyExists { image_id: String },
    /// No item with this id (never received, deleted, or expired by TTL).
    #[error("image {image_id} not found")]
    NotFound { image_id: String },
    /// A new item must start as RECEIVED.
    #[error("image {image_id}: a new item must have status RECEIVED, not {status}")]
    InitialStatus { image_id: String, status: Status },
    /// The lifecycle does not allow `from` → `to` (a bug in the caller, never retried).
    #[error("image {image_id}: {from} → {to} is not a legal transition")]
    IllegalTransition {
        image_id: String,
        from: Status,
        to: Status,
    },
    /// The stored status is not the one the caller expected: another worker changed the item
    /// first. Nothing was written; re-read the item and decide again.
    #[error("image {image_id}: expected status {expected}, found {found} (changed concurrently; re-read and decide again)")]
    Conflict {
        image_id: String,
        expected: Status,
        found: Status,
    },
    /// The update's `image_id` is not the id being transitioned.
    #[error("transition of image {image_id} carries an item for image {update_id}")]
    KeyMismatch { image_id: String, update_id: String },
    /// The item breaks a rule of the model (empty id, unstorable number, missing reason).
    #[error("image {image_id}: {source}")]
    Invalid {
        image_id: String,
        source: ModelError,
    },
    /// The item is larger than DynamoDB's 400 KB item limit.
    #[error("image {image_id}: item is {bytes} bytes, over DynamoDB's limit of {limit} (shorten variants_json or error_message)")]
    TooLarge {
        image_id: String,
        bytes: usize,
        limit: usize,
    },
    /// A stored item or change record cannot be read back.
    #[error("stored data for {what} is unreadable ({reason}); the store file may be corrupt or from another version")]
    Corrupt { what: String, reason: String },
    /// The store cannot be opened as configured.
    #[error("{0}")]
    Config(String),
    /// The storage backend failed (I/O, lock timeout, task failure); retrying may succeed.
    #[error("metadata store {operation} failed: {source}")]
    Backend {
        operation: &'static str,
        source: Box<dyn StdError + Send + Sync>,
    },
}

impl StoreError {
    /// Whether retrying the same call may succeed (Lambda should retry the event). Conflicts
    /// are not retryable as such: the caller must re-read and decide again.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Backend { .. })
    }
}

/// The metadata table as handlers see it. Every write is conditional, so that racing workers
/// cannot lose an update and redelivered events are no-ops.
pub trait MetadataStore: Send + Sync {
    /// Writes a new item (status RECEIVED) unless one with its id exists
    /// ([`StoreError::AlreadyExists`]): the conditional put of idempotent ingest.
    fn put_new(&self, item: &ImageItem) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The item with this id, if any.
    fn get(
        &self,
        image_id: &str,
    ) -> impl Future<Output = Result<Option<ImageItem>, StoreError>> + Send;

    /// Replaces the item by `update` if its stored status is `from` and the lifecycle allows
    /// `from` → `update.status`:
    /// - illegal transition → [`StoreError::IllegalTransition`], checked first;
    /// - stored item equal to `update` → [`Transition::Unchanged`] (a duplicate event);
    /// - stored status ≠ `from` → [`StoreError::Conflict`] (a concurrent change);
    /// - no item → [`StoreError::NotFound`].
    fn transition(
        &self,
        image_id: &str,
        from: Status,
        update: &ImageItem,
    ) -> impl Future<Output = Result<Transition, StoreError>> + Send;

    /// Replaces a final item by `update` in the same `status` (a note about it, such as a
    /// replaced upload), if its stored status is still `status`: equal → `Unchanged`, another
    /// status → `Conflict`, none → `NotFound`, as for [`transition`](Self::transition).
    fn amend(
        &self,
        image_id: &str,
        status: Status,
        update: &ImageItem,
    ) -> impl Future<Output = Result<Transition, StoreError>> + Send;

    /// Up to `limit` items whose presigned upload never arrived and that were received at or
    /// before `cutoff_ms` (epoch milliseconds): [`is_awaiting_upload`].
    fn awaiting_upload(
        &self,
        cutoff_ms: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<ImageItem>, StoreError>> + Send;
}
