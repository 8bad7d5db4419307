//! The metadata item of one image, its statuses and their legal transitions.
//!
//! The item's attribute names are exactly the lake's [`Origin::Image`] column names in
//! `imglake_exporter::schema::COLUMNS` (one schema, one set of names; a test keeps them equal).
//! Items map to and from DynamoDB attribute values with `serde_dynamo`, which serves the
//! embedded store, aws-sdk-dynamodb and aws_lambda_events alike.
//!
//! [`Origin::Image`]: imglake_exporter::schema::Origin::Image

use std::fmt;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use ulid::Ulid;

mod lifecycle;

pub use lifecycle::{
    truncate, Header, Outcome, StrayUpload, Variant, MAX_ERROR_MESSAGE, UPLOAD_EXPIRED,
    UPLOAD_REPLACED,
};

/// How long a metadata item lives before DynamoDB TTL removes it (the raw and processed
/// images have the same 7-day S3 lifecycle).
pub const DEFAULT_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Where an image is in its lifecycle.
///
/// ```text
/// RECEIVED ──► PROCESSING ──► PROCESSED
///     │             ├──────► FAILED    (processing error after retries; terminal)
///     ├─────────────┴──────► REJECTED  (bad input, with error_code / error_message)
///     └────────────────────► ABANDONED (its upload form expired unused: upload_expired)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Received,
    Processing,
    Processed,
    Rejected,
    Failed,
    /// A presigned form was issued and expired without an upload; nothing was stored.
    Abandoned,
}

impl Status {
    /// Every status, in lifecycle order.
    pub const ALL: [Status; 6] = [
        Status::Received,
        Status::Processing,
        Status::Processed,
        Status::Rejected,
        Status::Failed,
        Status::Abandoned,
    ];

    /// Whether an item in this status may move to `next`. Staying in the same status is not a
    /// transition; PROCESSED, REJECTED and FAILED are terminal (retries happen before FAILED).
    pub fn can_transition_to(self, next: Status) -> bool {
        use Status::*;
        matches!(
            (self, next),
            (Received, Processing | Rejected | Abandoned)
                | (Processing, Processed | Failed | Rejected)
        )
    }

    /// No transition leaves this status.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Status::Processed | Status::Rejected | Status::Failed | Status::Abandoned
        )
    }

    /// The attribute value, as stored and as the lake shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Received => "RECEIVED",
            Status::Processing => "PROCESSING",
            Status::Processed => "PROCESSED",
            Status::Rejected => "REJECTED",
            Status::Failed => "FAILED",
            Status::Abandoned => "ABANDONED",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an image entered the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The upload API (presigned POST or direct PUT).
    Api,
    /// A Kafka topic (inline bytes or claim-check).
    Kafka,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Api => "api",
            Source::Kafka => "kafka",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The metadata item of one image. Field names are the DynamoDB attribute names and the lake
/// column names. Absent values are absent attributes (never written as NULL), so an item only
/// carries what is known at its stage.
///
/// Timestamps are epoch milliseconds, except `expires_at`: epoch seconds, as DynamoDB TTL
/// requires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageItem {
    /// Hash key: a time-ordered ULID ([`new_image_id`]) or an id derived from the source.
    pub image_id: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// Upload request id, or `topic/partition/offset` for Kafka.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// MIME type detected from magic bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// `jpeg | png | webp | gif | tiff`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Raw object size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<i64>,
    /// Hex SHA-256 of the raw bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Displayed width in pixels: after EXIF orientation, on every row that has it (RECEIVED
    /// from the header, PROCESSED from the decoded image: the same value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<i32>,
    /// Displayed height in pixels, likewise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<i32>,
    /// Object key of the raw upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant_count: Option<i32>,
    /// JSON array of [`Variant`]s: name, key, format, width, height, bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variants_json: Option<String>,
    /// Total bytes of all variants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processed_bytes: Option<i64>,
    /// Operations applied, in order (DynamoDB `L` of `S`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operations: Option<Vec<String>>,
    /// Machine-readable reason; required for REJECTED, FAILED and ABANDONED
    /// (`upload_expired`). On any final status, `upload_replaced` says that a later upload to
    /// the image's key was set aside (the message keeps the earlier reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Human-readable reason; required with `error_code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// When the image was accepted, epoch milliseconds.
    pub received_at: i64,
    /// When processing finished, epoch milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processed_at: Option<i64>,
    /// DynamoDB TTL, epoch **seconds**.
    pub expires_at: i64,
    /// EXIF DateTimeOriginal, epoch milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured_at: Option<i64>,
    /// Processing wall time in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processing_ms: Option<i32>,
    /// `#rrggbb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dominant_color: Option<String>,
    /// Mean luma, 0..255.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_luma: Option<f64>,
    /// Variance of the Laplacian.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sharpness: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_alpha: Option<bool>,
    /// EXIF Make (location is never recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera_make: Option<String>,
    /// EXIF Model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera_model: Option<String>,
}

/// Why an item cannot be written, or a stored item cannot be read.
#[derive(Debug, Error)]
pub enum ModelError {
    /// The hash key is empty; DynamoDB refuses empty key attributes.
    #[error("image_id is empty: every item needs a non-empty id (use new_image_id)")]
    EmptyImageId,
    /// A number DynamoDB cannot store: NaN, infinite, or outside 1e-130..1e126 in magnitude.
    #[error("attribute `{attribute}` is {value}, which DynamoDB cannot store (finite, magnitude 1e-130..1e126, or 0)")]
    NumberOutOfRange { attribute: &'static str, value: f64 },
    /// REJECTED, FAILED and ABANDONED items must say why.
    #[error("a {status} item needs error_code and error_message (say why the image was refused)")]
    MissingReason { status: Status },
    /// serde_dynamo could not turn the item into attribute values.
    #[error("cannot convert the item to DynamoDB attributes: {0}")]
    Encode(#[source] serde_dynamo::Error),
    /// Attribute values are not an image item (wrong type, missing required attribute).
    #[error("DynamoDB attributes are not an image item: {0}")]
    Decode(#[source] serde_dynamo::Error),
}

impl ImageItem {
    /// A new arrival, RECEIVED: `received_at = now` (milliseconds) and
    /// `expires_at = received_at + ttl` in epoch seconds (whole seconds, floored). The other
    /// steps of the lifecycle are in [`lifecycle`].
    pub fn received(
        image_id: impl Into<String>,
        source: Source,
        source_ref: impl Into<String>,
        tenant: impl Into<String>,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> ImageItem {
        let received_at = now.timestamp_millis();
        let ttl_secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        ImageItem {
            image_id: image_id.into(),
            status: Status::Received,
            source: Some(source),
            source_ref: Some(source_ref.into()),
            tenant: Some(tenant.into()),
            received_at,
            expires_at: received_at.div_euclid(1000).saturating_add(ttl_secs),
            ..ImageItem::empty()
        }
    }

    /// An item with only its required attributes set to neutral values, for struct update
    /// syntax and tests.
    fn empty() -> ImageItem {
        ImageItem {
            image_id: String::new(),
            status: Status::Received,
            source: None,
            source_ref: None,
            tenant: None,
            content_type: None,
            format: None,
            size_bytes: None,
            sha256: None,
            width: None,
            height: None,
            raw_key: None,
            variant_count: None,
            variants_json: None,
            processed_bytes: None,
            operations: None,
            error_code: None,
            error_message: None,
            received_at: 0,
            processed_at: None,
            expires_at: 0,
            captured_at: None,
            processing_ms: None,
            dominant_color: None,
            mean_luma: None,
            sharpness: None,
            has_alpha: None,
            camera_make: None,
            camera_model: None,
        }
    }

    /// Checks what DynamoDB and the lifecycle require of an item before it is written.
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.image_id.is_empty() {
            return Err(ModelError::EmptyImageId);
        }
        for (attribute, value) in [("mean_luma", self.mean_luma), ("sharpness", self.sharpness)] {
            if let Some(value) = value {
                if !is_dynamodb_number(value) {
                    return Err(ModelError::NumberOutOfRange { attribute, value });
                }
            }
        }
        if matches!(
            self.status,
            Status::Rejected | Status::Failed | Status::Abandoned
        ) && (self.error_code.is_none() || self.error_message.is_none())
        {
            return Err(ModelError::MissingReason {
                status: self.status,
            });
        }
        Ok(())
    }

    /// The item as DynamoDB attribute values, after [`validate`](Self::validate).
    pub fn to_item(&self) -> Result<serde_dynamo::Item, ModelError> {
        self.validate()?;
        serde_dynamo::to_item(self).map_err(ModelError::Encode)
    }

    /// An item from DynamoDB attribute values. Attributes no field knows are ignored; NULL
    /// attributes read as absent.
    pub fn from_item(item: serde_dynamo::Item) -> Result<ImageItem, ModelError> {
        serde_dynamo::from_item(item).map_err(ModelError::Decode)
    }
}

/// DynamoDB numbers: up to 38 significant digits, magnitude 1e-130 to below 1e126, or zero.
/// Rust prints an `f64` with at most 17 significant digits, so only the range matters.
fn is_dynamodb_number(value: f64) -> bool {
    value == 0.0 || (value.is_finite() && (1e-130..1e126).contains(&value.abs()))
}

/// A new time-ordered image id: a ULID whose first 48 bits are `now` in milliseconds (ids of
/// different milliseconds sort by time as strings).
pub fn new_image_id(now: DateTime<Utc>) -> String {
    Ulid::from_datetime(SystemTime::from(now)).to_string()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use chrono::TimeZone;
    use imglake_exporter::schema::{Kind, Origin, COLUMNS, HASH_KEY};
    use serde_dynamo::AttributeValue;
    use serde_json::json;

    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(ms).single().unwrap()
    }

    const RECEIVED_MS: i64 = 1_795_514_290_123;

    /// An item with every attribute set.
    fn full_item() -> ImageItem {
        ImageItem {
            status: Status::Processed,
            content_type: Some("image/jpeg".into()),
            format: Some("jpeg".into()),
            size_bytes: Some(2_481_923),
            sha256: Some("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into()),
            width: Some(4000),
            height: Some(2667),
            raw_key: Some("raw/acme/01JDFY2Q4W8Z8H6V3M5N7K9P1A.jpg".into()),
            variant_count: Some(2),
            variants_json: Some(
                r#"[{"name":"thumb","key":"t.webp","width":256,"height":256,"bytes":10240}]"#
                    .into(),
            ),
            processed_bytes: Some(108_544),
            operations: Some(vec!["orient".into(), "strip".into(), "resize:thumb".into()]),
            error_code: Some("none".into()),
            error_message: Some("no error".into()),
            processed_at: Some(RECEIVED_MS + 1850),
            captured_at: Some(1_795_190_531_000),
            processing_ms: Some(412),
            dominant_color: Some("#4a6b8c".into()),
            mean_luma: Some(118.25),
            sharpness: Some(1532.5),
            has_alpha: Some(false),
            camera_make: Some("FUJIFILM".into()),
            camera_model: Some("X-T5".into()),
            ..ImageItem::received(
                "01JDFY2Q4W8Z8H6V3M5N7K9P1A",
                Source::Api,
                "req-7f3a",
                "acme",
                at(RECEIVED_MS),
                DEFAULT_TTL,
            )
        }
    }

    fn image_columns() -> impl Iterator<Item = &'static imglake_exporter::schema::Column> {
        COLUMNS.iter().filter(|c| c.origin == Origin::Image)
    }

    #[test]
    fn item_attributes_are_exactly_the_image_columns() {
        let item = full_item().to_item().unwrap();
        let attributes: BTreeSet<&str> = item.keys().map(String::as_str).collect();
        let columns: BTreeSet<&str> = image_columns().map(|c| c.name).collect();
        assert_eq!(attributes, columns);
        assert!(columns.contains(HASH_KEY));
    }

    #[test]
    fn attribute_types_follow_the_column_kinds() {
        let item = full_item().to_item().unwrap();
        for column in image_columns() {
            let value = &item[column.name];
            let ok = match (column.kind, value) {
                (Kind::Str, AttributeValue::S(_)) => true,
                (
                    Kind::Int32
                    | Kind::Int64
                    | Kind::Float64
                    | Kind::TimestampMillis
                    | Kind::TimestampSeconds,
                    AttributeValue::N(_),
                ) => true,
                (Kind::Bool, AttributeValue::Bool(_)) => true,
                (Kind::StrList, AttributeValue::L(items)) => {
                    items.iter().all(|v| matches!(v, AttributeValue::S(_)))
                }
                _ => false,
            };
            assert!(
                ok,
                "{} is {value:?}, column kind {:?}",
                column.name, column.kind
            );
        }
        assert_eq!(item["status"], AttributeValue::S("PROCESSED".into()));
        assert_eq!(item["source"], AttributeValue::S("api".into()));
        assert_eq!(
            item["received_at"],
            AttributeValue::N(RECEIVED_MS.to_string())
        );
        assert_eq!(item["expires_at"], AttributeValue::N("1796119090".into()));
    }

    #[test]
    fn absent_attributes_stay_absent_and_round_trip() {
        let item = ImageItem::received(
            "id1",
            Source::Kafka,
            "images/3/1042",
            "globex",
            at(0),
            DEFAULT_TTL,
        );
        let attributes = item.to_item().unwrap();
        let mut names: Vec<&str> = attributes.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "expires_at",
                "image_id",
                "received_at",
                "source",
                "source_ref",
                "status",
                "tenant"
            ]
        );
        assert_eq!(ImageItem::from_item(attributes).unwrap(), item);
        let full = full_item();
        assert_eq!(ImageItem::from_item(full.to_item().unwrap()).unwrap(), full);
    }

    #[test]
    fn null_and_unknown_attributes_read_as_absent() {
        let mut attributes = full_item().to_item().unwrap();
        attributes.insert("width".into(), AttributeValue::Null(true));
        attributes.insert("client_hints".into(), AttributeValue::Bool(true));
        let item = ImageItem::from_item(attributes).unwrap();
        assert_eq!(item.width, None);
        let mut attributes = full_item().to_item().unwrap();
        attributes.remove("received_at");
        assert!(matches!(
            ImageItem::from_item(attributes),
            Err(ModelError::Decode(_))
        ));
    }

    #[test]
    fn received_item_expires_after_the_ttl_in_epoch_seconds() {
        let item = ImageItem::received("id", Source::Api, "r", "t", at(RECEIVED_MS), DEFAULT_TTL);
        assert_eq!(item.status, Status::Received);
        assert_eq!(item.received_at, RECEIVED_MS);
        assert_eq!(item.expires_at, 1_795_514_290 + 7 * 86_400);
        let short = ImageItem::received(
            "id",
            Source::Api,
            "r",
            "t",
            at(RECEIVED_MS),
            Duration::from_secs(60),
        );
        assert_eq!(short.expires_at, 1_795_514_350);
    }

    #[test]
    fn legal_transitions_are_exactly_the_lifecycle() {
        use Status::*;
        let legal: BTreeSet<(&str, &str)> = Status::ALL
            .iter()
            .flat_map(|a| Status::ALL.iter().map(move |b| (*a, *b)))
            .filter(|(a, b)| a.can_transition_to(*b))
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let expected: BTreeSet<(&str, &str)> = [
            (Received, Processing),
            (Received, Rejected),
            (Received, Abandoned),
            (Processing, Processed),
            (Processing, Failed),
            (Processing, Rejected),
        ]
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
        assert_eq!(legal, expected);
        for status in Status::ALL {
            let leaves = Status::ALL.iter().any(|n| status.can_transition_to(*n));
            assert_eq!(status.is_terminal(), !leaves, "{status}");
        }
    }

    #[test]
    fn statuses_and_sources_serialize_as_the_lake_spells_them() {
        for status in Status::ALL {
            assert_eq!(json!(status), json!(status.as_str()));
        }
        assert_eq!(json!(Source::Api), json!("api"));
        assert_eq!(json!(Source::Kafka), json!("kafka"));
    }

    #[test]
    fn invalid_items_are_refused_before_writing() {
        let mut item = full_item();
        item.image_id.clear();
        assert!(matches!(item.to_item(), Err(ModelError::EmptyImageId)));
        for bad in [f64::NAN, f64::INFINITY, 1e200, 1e-200] {
            let mut item = full_item();
            item.sharpness = Some(bad);
            assert!(
                matches!(
                    item.to_item(),
                    Err(ModelError::NumberOutOfRange {
                        attribute: "sharpness",
                        ..
                    })
                ),
                "{bad}"
            );
        }
        let mut item = full_item();
        item.mean_luma = Some(0.0);
        assert!(item.to_item().is_ok());
        let mut item = full_item();
        item.status = Status::Rejected;
        item.error_message = None;
        let err = item.to_item().unwrap_err();
        assert!(
            err.to_string().contains("error_code and error_message"),
            "{err}"
        );
    }

    #[test]
    fn image_ids_are_time_ordered_ulids() {
        let a = new_image_id(at(RECEIVED_MS));
        let b = new_image_id(at(RECEIVED_MS + 1));
        assert_eq!(a.len(), 26);
        assert!(a < b);
        let ulid: Ulid = a.parse().unwrap();
        assert_eq!(ulid.timestamp_ms(), RECEIVED_MS as u64);
    }

    /// A stream record carrying `item` as its NewImage, shaped as Lambda delivers it.
    fn insert_record(item: &ImageItem) -> serde_json::Value {
        json!({
            "eventID": "c4ca4238a0b923820dcc509a6f758491",
            "eventName": "INSERT",
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "eu-west-1",
            "dynamodb": {
                "ApproximateCreationDateTime": 1_795_514_292,
                "Keys": { HASH_KEY: { "S": item.image_id } },
                "NewImage": item.to_item().unwrap(),
                "SequenceNumber": "4421584500000000017450439191",
                "SizeBytes": 512,
                "StreamViewType": "NEW_AND_OLD_IMAGES"
            },
            "eventSourceARN": "arn:aws:dynamodb:eu-west-1:123456789012:table/imglake-images/stream/2026-11-01T00:00:00.000"
        })
    }

    #[tokio::test]
    async fn full_item_exports_to_the_expected_lake_row() {
        let item = full_item();
        let event = serde_json::to_string(&json!({ "Records": [insert_record(&item)] })).unwrap();
        let (report, rows) =
            crate::test_lake::export(imglake_exporter::Source::Event(&event), 1_795_600_000_000)
                .await;
        assert_eq!((report.received, report.rows_written), (1, 1));
        assert_eq!(report.quarantined, 0, "{:?}", report.quarantine_reasons);
        let row = &rows[0];
        assert_eq!(row["image_id"], "01JDFY2Q4W8Z8H6V3M5N7K9P1A");
        assert_eq!(row["status"], "PROCESSED");
        assert_eq!(row["source"], "api");
        assert_eq!(row["size_bytes"], "2481923");
        assert_eq!(row["width"], "4000");
        assert_eq!(row["mean_luma"], "118.25");
        assert_eq!(row["has_alpha"], "false");
        assert_eq!(row["received_at"], "2026-11-24T09:58:10.123Z");
        assert_eq!(row["expires_at"], "2026-12-01T09:58:10.000Z");
        assert_eq!(row["operations"], "[orient, strip, resize:thumb]");
        assert_eq!(row["extra_attributes"], "", "every attribute has a column");
        for column in image_columns() {
            assert_ne!(row[column.name], "", "{}", column.name);
        }
    }
}
