//! `DynamoStore` against moto's DynamoDB on 127.0.0.1: the conditional writes behave as the
//! embedded store's (the contract of `MetadataStore`), and failures name the table.
//!
//! Needs the test virtualenv with moto (`scripts/test.sh` installs it; `IMGLAKE_VENV`).

use std::time::Duration;

use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use chrono::{TimeZone, Utc};
use imglake_lambdas::dynamodb::DynamoStore;
use imglake_pipeline::model::{ImageItem, Source, Status};
use imglake_pipeline::store::{MetadataStore, StoreError, Transition};

#[path = "../../tests/moto.rs"]
mod moto;
use moto::Moto;

impl Moto {
    async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .load()
            .await
    }
}

async fn create_table(sdk: &aws_config::SdkConfig, table: &str) {
    aws_sdk_dynamodb::Client::new(sdk)
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("image_id")
                .key_type(KeyType::Hash)
                .build()
                .expect("key schema"),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("image_id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute definition"),
        )
        .send()
        .await
        .expect("create table");
}

fn received(id: &str) -> ImageItem {
    let now = Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap();
    let mut item = ImageItem::received(
        id,
        Source::Api,
        "req-1",
        "acme",
        now,
        Duration::from_secs(7 * 86_400),
    );
    item.size_bytes = Some(123_456);
    item.operations = Some(vec!["orient".into()]);
    item
}

#[tokio::test]
async fn conditional_writes_match_the_embedded_store() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    create_table(&sdk, "imglake-images").await;
    let store = DynamoStore::from_sdk_config(&sdk, "imglake-images");

    // put_new is conditional on absence.
    let item = received("img-1");
    store.put_new(&item).await.unwrap();
    let again = store.put_new(&item).await.unwrap_err();
    assert!(matches!(again, StoreError::AlreadyExists { .. }), "{again}");
    assert_eq!(store.get("img-1").await.unwrap(), Some(item.clone()));
    assert_eq!(store.get("img-missing").await.unwrap(), None);

    // A new item must start RECEIVED.
    let mut processing = item.clone();
    processing.status = Status::Processing;
    let err = store.put_new(&processing).await.unwrap_err();
    assert!(matches!(err, StoreError::InitialStatus { .. }), "{err}");

    // transition: applied once, a duplicate after that.
    let applied = store
        .transition("img-1", Status::Received, &processing)
        .await
        .unwrap();
    assert_eq!(applied, Transition::Applied);
    let duplicate = store
        .transition("img-1", Status::Received, &processing)
        .await
        .unwrap();
    assert_eq!(duplicate, Transition::Unchanged);
    assert_eq!(store.get("img-1").await.unwrap(), Some(processing.clone()));

    // A stale `from` that does not match the stored item is a conflict.
    let mut rejected = item.clone();
    rejected.status = Status::Rejected;
    rejected.error_code = Some("unknown_type".into());
    rejected.error_message = Some("not an image".into());
    let conflict = store
        .transition("img-1", Status::Received, &rejected)
        .await
        .unwrap_err();
    assert!(
        matches!(
            conflict,
            StoreError::Conflict {
                expected: Status::Received,
                found: Status::Processing,
                ..
            }
        ),
        "{conflict}"
    );
    assert!(!conflict.is_retryable());

    // No item: not found.
    let mut ghost = rejected.clone();
    ghost.image_id = "img-ghost".into();
    let missing = store
        .transition("img-ghost", Status::Received, &ghost)
        .await
        .unwrap_err();
    assert!(matches!(missing, StoreError::NotFound { .. }), "{missing}");

    // Illegal transitions and mismatched keys are refused before any call.
    let illegal = store
        .transition("img-1", Status::Processed, &processing)
        .await
        .unwrap_err();
    assert!(
        matches!(illegal, StoreError::IllegalTransition { .. }),
        "{illegal}"
    );
    let mismatch = store
        .transition("img-2", Status::Received, &processing)
        .await
        .unwrap_err();
    assert!(
        matches!(mismatch, StoreError::KeyMismatch { .. }),
        "{mismatch}"
    );

    // The item never changed through the refused calls.
    assert_eq!(store.get("img-1").await.unwrap(), Some(processing));
}

#[tokio::test]
async fn failures_are_retryable_backend_errors_naming_the_table() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let store = DynamoStore::from_sdk_config(&sdk, "imglake-no-such-table");
    let err = store.get("img-1").await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    let chain = format!(
        "{err}: {}",
        std::error::Error::source(&err)
            .map(ToString::to_string)
            .unwrap_or_default()
    );
    assert!(chain.contains("imglake-no-such-table"), "{chain}");
    assert!(chain.contains("IMGLAKE_METADATA_TABLE"), "{chain}");
    let err = store.put_new(&received("img-1")).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Backend {
                operation: "put_new",
                ..
            }
        ),
        "{err}"
    );
}
