//! Change records in the exact DynamoDB Streams JSON shape Lambda delivers
//! (StreamViewType NEW_AND_OLD_IMAGES), built purely from an already-encoded item.

use chrono::{DateTime, Utc};
use imglake_exporter::schema::HASH_KEY;
use serde::Serialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

/// Region and account of the embedded stream's ARN.
const REGION: &str = "local";
const ACCOUNT: &str = "000000000000";

/// Sequence numbers are zero-padded to this many digits (DynamoDB's have 21 to 40), so they
/// sort as strings too.
pub(super) const SEQUENCE_DIGITS: usize = 21;

/// `eventName` of a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EventName {
    Insert,
    Modify,
    Remove,
}

impl EventName {
    fn as_str(self) -> &'static str {
        match self {
            EventName::Insert => "INSERT",
            EventName::Modify => "MODIFY",
            EventName::Remove => "REMOVE",
        }
    }
}

/// One change of one item. Images are DynamoDB JSON (`{"attr": {"S": …}, …}`), as stored.
#[derive(Debug, Clone, Copy)]
pub(super) struct Change<'a> {
    pub event: EventName,
    pub image_id: &'a str,
    pub old_image: Option<&'a RawValue>,
    pub new_image: Option<&'a RawValue>,
    /// A deletion by the TTL process: the record names the DynamoDB service as its user.
    pub by_ttl: bool,
}

/// The stream ARN of a table whose stream was created at `created`, in DynamoDB's form
/// (`…:table/<table>/stream/<created, ISO-8601 with milliseconds>`).
pub(super) fn stream_arn(table: &str, created: DateTime<Utc>) -> String {
    format!(
        "arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}/stream/{}",
        created.format("%Y-%m-%dT%H:%M:%S%.3f")
    )
}

/// The sequence number of the `seq`-th change, zero-padded.
pub(super) fn sequence_number(seq: u64) -> String {
    format!("{seq:0>SEQUENCE_DIGITS$}")
}

/// A unique event id: 32 hex digits (DynamoDB's form) of the hash of stream and sequence.
fn event_id(stream_arn: &str, seq: u64) -> String {
    let digest = Sha256::new()
        .chain_update(stream_arn.as_bytes())
        .chain_update(b"\n")
        .chain_update(seq.to_string().as_bytes())
        .finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Serialize)]
struct Record<'a> {
    #[serde(rename = "eventID")]
    event_id: String,
    #[serde(rename = "eventName")]
    event_name: &'static str,
    #[serde(rename = "eventVersion")]
    event_version: &'static str,
    #[serde(rename = "eventSource")]
    event_source: &'static str,
    #[serde(rename = "awsRegion")]
    aws_region: &'static str,
    dynamodb: Data<'a>,
    #[serde(rename = "eventSourceARN")]
    event_source_arn: &'a str,
    #[serde(rename = "userIdentity", skip_serializing_if = "Option::is_none")]
    user_identity: Option<UserIdentity>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Data<'a> {
    approximate_creation_date_time: i64,
    keys: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    new_image: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    old_image: Option<&'a RawValue>,
    sequence_number: String,
    size_bytes: usize,
    stream_view_type: &'static str,
}

#[derive(Serialize)]
struct UserIdentity {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "principalId")]
    principal_id: &'static str,
}

/// The record of `change`, the `seq`-th change of the stream, made at `at` (whole epoch
/// seconds, as Lambda delivers ApproximateCreationDateTime). `SizeBytes` is approximated by
/// the length of keys and images in DynamoDB JSON.
pub(super) fn record_json(
    stream_arn: &str,
    seq: u64,
    at: DateTime<Utc>,
    change: &Change<'_>,
) -> Result<String, serde_json::Error> {
    let keys = serde_json::json!({ HASH_KEY: { "S": change.image_id } });
    let size_bytes = keys.to_string().len()
        + change.old_image.map_or(0, |i| i.get().len())
        + change.new_image.map_or(0, |i| i.get().len());
    let record = Record {
        event_id: event_id(stream_arn, seq),
        event_name: change.event.as_str(),
        event_version: "1.1",
        event_source: "aws:dynamodb",
        aws_region: REGION,
        dynamodb: Data {
            approximate_creation_date_time: at.timestamp(),
            keys,
            new_image: change.new_image,
            old_image: change.old_image,
            sequence_number: sequence_number(seq),
            size_bytes,
            stream_view_type: "NEW_AND_OLD_IMAGES",
        },
        event_source_arn: stream_arn,
        user_identity: change.by_ttl.then_some(UserIdentity {
            kind: "Service",
            principal_id: "dynamodb.amazonaws.com",
        }),
    };
    serde_json::to_string(&record)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::{json, Value};

    use super::*;

    const ARN: &str = "arn:aws:dynamodb:local:000000000000:table/t/stream/2026-11-01T00:00:00.000";

    fn raw(v: &str) -> &RawValue {
        serde_json::from_str(v).unwrap()
    }

    #[test]
    fn record_has_the_lambda_shape() {
        let at = Utc.timestamp_opt(1_795_514_290, 0).single().unwrap();
        let old = raw(r#"{"image_id":{"S":"a"},"status":{"S":"RECEIVED"}}"#);
        let new = raw(r#"{"image_id":{"S":"a"},"status":{"S":"PROCESSING"}}"#);
        let change = Change {
            event: EventName::Modify,
            image_id: "a",
            old_image: Some(old),
            new_image: Some(new),
            by_ttl: false,
        };
        let record: Value =
            serde_json::from_str(&record_json(ARN, 7, at, &change).unwrap()).unwrap();
        assert_eq!(record["eventName"], "MODIFY");
        assert_eq!(record["eventVersion"], "1.1");
        assert_eq!(record["eventSource"], "aws:dynamodb");
        assert_eq!(record["awsRegion"], "local");
        assert_eq!(record["eventSourceARN"], ARN);
        assert_eq!(record["eventID"].as_str().unwrap().len(), 32);
        assert!(record.get("userIdentity").is_none());
        let data = &record["dynamodb"];
        assert_eq!(data["ApproximateCreationDateTime"], json!(1_795_514_290));
        assert_eq!(data["Keys"], json!({"image_id": {"S": "a"}}));
        assert_eq!(data["OldImage"]["status"]["S"], "RECEIVED");
        assert_eq!(data["NewImage"]["status"]["S"], "PROCESSING");
        assert_eq!(data["SequenceNumber"], "000000000000000000007");
        assert_eq!(data["StreamViewType"], "NEW_AND_OLD_IMAGES");
        assert!(data["SizeBytes"].as_u64().unwrap() > 0);
    }

    #[test]
    fn ttl_removal_names_the_dynamodb_service() {
        let at = Utc.timestamp_opt(0, 0).single().unwrap();
        let change = Change {
            event: EventName::Remove,
            image_id: "a",
            old_image: Some(raw(r#"{"image_id":{"S":"a"}}"#)),
            new_image: None,
            by_ttl: true,
        };
        let record: Value =
            serde_json::from_str(&record_json(ARN, 1, at, &change).unwrap()).unwrap();
        assert_eq!(
            record["userIdentity"],
            json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"})
        );
        assert!(record["dynamodb"].get("NewImage").is_none());
    }

    #[test]
    fn sequence_numbers_and_event_ids_are_ordered_and_unique() {
        assert!(sequence_number(9) < sequence_number(10));
        assert_eq!(sequence_number(u64::MAX).len(), 21);
        assert_ne!(event_id(ARN, 1), event_id(ARN, 2));
        assert_ne!(event_id(ARN, 1), event_id("other", 1));
        let arn = stream_arn(
            "imglake-images",
            Utc.timestamp_opt(1_795_514_290, 5_000_000)
                .single()
                .unwrap(),
        );
        assert_eq!(
            arn,
            "arn:aws:dynamodb:local:000000000000:table/imglake-images/stream/2026-11-24T09:58:10.005"
        );
    }
}
