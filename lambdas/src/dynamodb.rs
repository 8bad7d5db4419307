//! [`DynamoStore`]: the metadata table on DynamoDB, with the semantics of the embedded store.
//!
//! - `put_new`: PutItem with `attribute_not_exists(image_id)`; a failed condition is
//!   [`StoreError::AlreadyExists`].
//! - `get`: GetItem with a strongly consistent read.
//! - `transition`: the illegal-transition check first, then PutItem with `#status = :from`;
//!   on a failed condition one consistent re-read decides: an item equal to the update is a
//!   duplicate ([`Transition::Unchanged`]), no item is [`StoreError::NotFound`], anything else
//!   is [`StoreError::Conflict`].
//!
//! Throttling, 5xx and transient network errors are retried by the SDK (standard retry mode,
//! [`MAX_ATTEMPTS`] attempts); what is left after that is [`StoreError::Backend`], which
//! handlers treat as retryable (the event is redelivered).

use std::collections::HashMap;
use std::fmt;

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use imglake_pipeline::model::{ImageItem, Status};
use imglake_pipeline::store::{
    check_new, check_transition, decode_item, encode_item, settled_transition, MetadataStore,
    StoreError, Transition,
};

/// Attempts per DynamoDB call (the first try and its retries) in the SDK's standard mode.
pub const MAX_ATTEMPTS: u32 = 4;

/// The hash key attribute.
const KEY: &str = "image_id";

/// A failed DynamoDB call, with what to check.
#[derive(Debug)]
struct ApiError {
    operation: &'static str,
    table: String,
    detail: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DynamoDB {} on table `{}`: {} (check IMGLAKE_METADATA_TABLE, the function's role and the table's capacity)",
            self.operation, self.table, self.detail
        )
    }
}

impl std::error::Error for ApiError {}

/// The metadata table on DynamoDB (hash key `image_id` S).
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    /// A store over `table` with an existing client (its retry configuration is the caller's).
    pub fn new(client: Client, table: impl Into<String>) -> DynamoStore {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    /// A store over `table` with a client from the shared AWS configuration (region,
    /// credentials, `AWS_ENDPOINT_URL[_DYNAMODB]`) and standard-mode retries.
    pub fn from_sdk_config(sdk: &aws_config::SdkConfig, table: impl Into<String>) -> DynamoStore {
        let config = aws_sdk_dynamodb::config::Builder::from(sdk)
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
            .build();
        DynamoStore::new(Client::from_conf(config), table)
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    fn backend<E, R>(&self, operation: &'static str, err: SdkError<E, R>) -> StoreError
    where
        E: std::error::Error + ProvideErrorMetadata + 'static,
        R: fmt::Debug,
    {
        StoreError::Backend {
            operation,
            source: Box::new(ApiError {
                operation,
                table: self.table.clone(),
                detail: DisplayErrorContext(&err).to_string(),
            }),
        }
    }

    /// The item under `image_id`, read consistently.
    async fn read(
        &self,
        operation: &'static str,
        image_id: &str,
    ) -> Result<Option<ImageItem>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(image_id.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.backend(operation, e))?;
        out.item.map(|item| decode(image_id, item)).transpose()
    }
}

impl MetadataStore for DynamoStore {
    async fn put_new(&self, item: &ImageItem) -> Result<(), StoreError> {
        check_new(item)?;
        let attributes = encode(item)?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(attributes))
            .condition_expression("attribute_not_exists(#key)")
            .expression_attribute_names("#key", KEY)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failed(&err) => Err(StoreError::AlreadyExists {
                image_id: item.image_id.clone(),
            }),
            Err(err) => Err(self.backend("put_new", err)),
        }
    }

    async fn get(&self, image_id: &str) -> Result<Option<ImageItem>, StoreError> {
        self.read("get", image_id).await
    }

    async fn transition(
        &self,
        image_id: &str,
        from: Status,
        update: &ImageItem,
    ) -> Result<Transition, StoreError> {
        check_transition(image_id, from, update)?;
        let attributes = encode(update)?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(attributes))
            .condition_expression("#status = :from")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":from", AttributeValue::S(from.as_str().to_owned()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Transition::Applied),
            Err(err) if is_condition_failed(&err) => {
                let stored = self.read("transition", image_id).await?;
                // The condition failed, so the item was not in `from` when written; if a
                // consistent re-read finds it back in `from`, another writer is mid-race.
                settled_transition(image_id, from, update, stored.as_ref()).unwrap_or(Err(
                    StoreError::Conflict {
                        image_id: image_id.to_owned(),
                        expected: from,
                        found: from,
                    },
                ))
            }
            Err(err) => Err(self.backend("transition", err)),
        }
    }
}

fn is_condition_failed<E, R>(err: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(ProvideErrorMetadata::code)
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

/// The item as SDK attribute values, through the stores' one checked encoding
/// ([`encode_item`]: the model's rules and DynamoDB's item size limit).
pub fn encode(item: &ImageItem) -> Result<HashMap<String, AttributeValue>, StoreError> {
    Ok(encode_item(item)?
        .attributes
        .into_iter()
        .map(|(name, value)| (name, to_sdk(value)))
        .collect())
}

/// An item read from the table.
pub fn decode(
    image_id: &str,
    attributes: HashMap<String, AttributeValue>,
) -> Result<ImageItem, StoreError> {
    let what = format!("image {image_id} in DynamoDB");
    let item: HashMap<String, serde_dynamo::AttributeValue> = attributes
        .into_iter()
        .map(|(name, value)| {
            from_sdk(value)
                .map(|v| (name.clone(), v))
                .ok_or_else(|| StoreError::Corrupt {
                    what: what.clone(),
                    reason: format!("attribute `{name}` has an unknown type"),
                })
        })
        .collect::<Result<_, _>>()?;
    decode_item(&what, serde_dynamo::Item::from(item))
}

/// serde_dynamo's attribute value → the SDK's.
fn to_sdk(value: serde_dynamo::AttributeValue) -> AttributeValue {
    use serde_dynamo::AttributeValue as D;
    match value {
        D::N(n) => AttributeValue::N(n),
        D::S(s) => AttributeValue::S(s),
        D::Bool(b) => AttributeValue::Bool(b),
        D::B(b) => AttributeValue::B(Blob::new(b)),
        D::Null(n) => AttributeValue::Null(n),
        D::M(m) => AttributeValue::M(m.into_iter().map(|(k, v)| (k, to_sdk(v))).collect()),
        D::L(l) => AttributeValue::L(l.into_iter().map(to_sdk).collect()),
        D::Ss(s) => AttributeValue::Ss(s),
        D::Ns(n) => AttributeValue::Ns(n),
        D::Bs(b) => AttributeValue::Bs(b.into_iter().map(Blob::new).collect()),
    }
}

/// The SDK's attribute value → serde_dynamo's; `None` for a type this SDK does not know.
fn from_sdk(value: AttributeValue) -> Option<serde_dynamo::AttributeValue> {
    use serde_dynamo::AttributeValue as D;
    Some(match value {
        AttributeValue::N(n) => D::N(n),
        AttributeValue::S(s) => D::S(s),
        AttributeValue::Bool(b) => D::Bool(b),
        AttributeValue::B(b) => D::B(b.into_inner()),
        AttributeValue::Null(n) => D::Null(n),
        AttributeValue::M(m) => D::M(
            m.into_iter()
                .map(|(k, v)| from_sdk(v).map(|v| (k, v)))
                .collect::<Option<_>>()?,
        ),
        AttributeValue::L(l) => D::L(l.into_iter().map(from_sdk).collect::<Option<_>>()?),
        AttributeValue::Ss(s) => D::Ss(s),
        AttributeValue::Ns(n) => D::Ns(n),
        AttributeValue::Bs(b) => D::Bs(b.into_iter().map(Blob::into_inner).collect()),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::{TimeZone, Utc};
    use imglake_pipeline::model::Source;

    use super::*;

    fn item() -> ImageItem {
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap();
        let mut item = ImageItem::received(
            "01JDQ0000000000000000000AB",
            Source::Api,
            "req-1",
            "acme",
            now,
            Duration::from_secs(7 * 86_400),
        );
        item.operations = Some(vec!["orient".into(), "resize".into()]);
        item.mean_luma = Some(117.25);
        item.has_alpha = Some(false);
        item
    }

    #[test]
    fn items_round_trip_through_sdk_attribute_values() {
        let item = item();
        let attributes = encode(&item).unwrap();
        assert_eq!(
            attributes["status"],
            AttributeValue::S("RECEIVED".to_owned())
        );
        assert!(matches!(attributes["operations"], AttributeValue::L(_)));
        assert_eq!(decode(&item.image_id, attributes).unwrap(), item);
    }

    #[test]
    fn nested_and_set_values_convert_both_ways() {
        use serde_dynamo::AttributeValue as D;
        let value = D::M(HashMap::from([
            ("b".to_owned(), D::B(vec![0, 1, 2])),
            ("bs".to_owned(), D::Bs(vec![vec![3]])),
            (
                "l".to_owned(),
                D::L(vec![D::Null(true), D::Ns(vec!["1".into()])]),
            ),
            ("ss".to_owned(), D::Ss(vec!["x".into()])),
        ]));
        assert_eq!(from_sdk(to_sdk(value.clone())), Some(value));
    }

    #[test]
    fn oversized_items_are_refused_before_any_call() {
        let mut item = item();
        item.variants_json = Some("x".repeat(imglake_pipeline::store::MAX_ITEM_BYTES));
        let err = encode(&item).unwrap_err();
        assert!(matches!(err, StoreError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn items_breaking_the_model_are_invalid_not_retryable() {
        let mut item = item();
        item.status = Status::Rejected;
        let err = encode(&item).unwrap_err();
        assert!(matches!(err, StoreError::Invalid { .. }), "{err}");
        assert!(!err.is_retryable());
    }

    #[test]
    fn unreadable_items_are_corrupt() {
        let attributes = HashMap::from([(KEY.to_owned(), AttributeValue::S("x".into()))]);
        let err = decode("x", attributes).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    }
}
