//! DynamoDB Streams records as Lambda delivers them and as the GetRecords API (and the AWS
//! CLI) returns them, and the input formats that carry them.
//!
//! Records are kept as raw JSON until mapped, so that one malformed record can be quarantined
//! with its original text while the rest of the batch goes on.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::attr::Item;

/// A stream record as received: its original JSON text.
pub type RawRecord = Box<RawValue>;

/// A Lambda DynamoDB event, or a GetRecords response: both carry `Records`.
#[derive(Debug, Deserialize)]
pub struct RecordBatch {
    #[serde(rename = "Records")]
    pub records: Vec<RawRecord>,
}

/// The fields of a stream record that the exporter reads. Unknown fields are ignored:
/// Lambda adds `eventSourceARN`, GetRecords does not; both add `awsRegion`, `eventVersion`.
#[derive(Debug, Deserialize)]
pub struct StreamRecord {
    #[serde(rename = "eventID")]
    pub event_id: Option<String>,
    #[serde(rename = "eventName")]
    pub event_name: Option<String>,
    #[serde(rename = "eventSourceARN")]
    pub event_source_arn: Option<String>,
    #[serde(rename = "userIdentity")]
    pub user_identity: Option<UserIdentity>,
    pub dynamodb: Option<StreamData>,
}

/// Who made the change; DynamoDB TTL deletions carry the DynamoDB service principal.
#[derive(Debug, Deserialize)]
pub struct UserIdentity {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(rename = "principalId")]
    pub principal_id: Option<String>,
}

impl UserIdentity {
    /// True for deletions made by DynamoDB's time-to-live process.
    pub fn is_dynamodb_service(&self) -> bool {
        self.kind.as_deref() == Some("Service")
            && self.principal_id.as_deref() == Some("dynamodb.amazonaws.com")
    }
}

/// The `dynamodb` part of a stream record.
#[derive(Debug, Deserialize)]
pub struct StreamData {
    /// Epoch seconds (integer from Lambda, fractional from some servers), or an ISO-8601
    /// string as the AWS CLI v2 prints it.
    #[serde(rename = "ApproximateCreationDateTime")]
    pub approximate_creation_date_time: Option<serde_json::Value>,
    #[serde(rename = "Keys")]
    pub keys: Option<Item>,
    #[serde(rename = "NewImage")]
    pub new_image: Option<Item>,
    #[serde(rename = "OldImage")]
    pub old_image: Option<Item>,
    #[serde(rename = "SequenceNumber")]
    pub sequence_number: Option<String>,
    #[serde(rename = "StreamViewType")]
    pub stream_view_type: Option<String>,
}

/// One unit of input: a record's JSON, or a line that was not JSON at all (kept so that it
/// can be quarantined and counted).
#[derive(Debug)]
pub enum InputRecord {
    Json(RawRecord),
    Unparsable { text: String, error: String },
}

/// Why an input file could not be read as records at all.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The input is neither `{"Records": [...]}`, a JSON array of records, nor JSON Lines.
    #[error("input is not a DynamoDB event ({{\"Records\": [...]}}), a JSON array of stream records, or JSON Lines: {0}")]
    Format(String),
}

/// Splits an input file into records. Accepts a Lambda DynamoDB event or GetRecords response
/// (`{"Records": [...]}`), a JSON array of records, or JSON Lines of records (a line that is
/// not JSON becomes [`InputRecord::Unparsable`] and is quarantined, not fatal).
pub fn split_input(bytes: &[u8]) -> Result<Vec<InputRecord>, InputError> {
    let trimmed = bytes.trim_ascii_start();
    if trimmed.is_empty() {
        return Ok(Vec::new());
    }
    if trimmed[0] == b'[' {
        let records: Vec<RawRecord> =
            serde_json::from_slice(trimmed).map_err(|e| InputError::Format(e.to_string()))?;
        return Ok(records.into_iter().map(InputRecord::Json).collect());
    }
    if let Ok(batch) = serde_json::from_slice::<RecordBatch>(trimmed) {
        return Ok(batch.records.into_iter().map(InputRecord::Json).collect());
    }
    let mut out = Vec::new();
    for line in trimmed.split(|b| *b == b'\n') {
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        match serde_json::from_slice::<RawRecord>(line) {
            Ok(raw) => out.push(InputRecord::Json(raw)),
            Err(e) => out.push(InputRecord::Unparsable {
                text: String::from_utf8_lossy(line).into_owned(),
                error: e.to_string(),
            }),
        }
    }
    if out.len() == 1
        && matches!(out[0], InputRecord::Unparsable { .. })
        && !trimmed.contains(&b'\n')
    {
        // A single document that is not JSON: a wrong file rather than one bad record.
        if let InputRecord::Unparsable { error, .. } = &out[0] {
            return Err(InputError::Format(error.clone()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(bytes: &str) -> usize {
        split_input(bytes.as_bytes()).unwrap().len()
    }

    #[test]
    fn accepts_event_array_and_json_lines() {
        assert_eq!(count(r#"{"Records":[{"eventID":"a"},{"eventID":"b"}]}"#), 2);
        assert_eq!(count(r#"{"Records":[],"NextShardIterator":"x"}"#), 0);
        assert_eq!(count(r#"[{"eventID":"a"}]"#), 1);
        assert_eq!(count("{\"eventID\":\"a\"}\n\n{\"eventID\":\"b\"}\n"), 2);
        assert_eq!(count("  \n"), 0);
    }

    #[test]
    fn a_bad_line_is_kept_for_quarantine() {
        let recs = split_input(b"{\"eventID\":\"a\"}\nnot json\n{\"eventID\":\"b\"}").unwrap();
        assert_eq!(recs.len(), 3);
        assert!(matches!(&recs[1], InputRecord::Unparsable { text, .. } if text == "not json"));
    }

    #[test]
    fn a_file_that_is_not_json_is_an_error() {
        let err = split_input(b"PK\x03\x04 zip").unwrap_err();
        assert!(err.to_string().contains("JSON Lines"), "{err}");
    }

    #[test]
    fn ttl_identity_is_the_dynamodb_service() {
        let ttl: UserIdentity =
            serde_json::from_str(r#"{"type":"Service","principalId":"dynamodb.amazonaws.com"}"#)
                .unwrap();
        assert!(ttl.is_dynamodb_service());
        let user: UserIdentity =
            serde_json::from_str(r#"{"type":"Service","principalId":"someone.example.com"}"#)
                .unwrap();
        assert!(!user.is_dynamodb_service());
    }
}
