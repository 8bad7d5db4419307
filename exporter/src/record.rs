//! DynamoDB Streams records as Lambda delivers them and as the GetRecords API (and the AWS
//! CLI) returns them, and the input formats that carry them.
//!
//! Records are kept as raw JSON until mapped, so that one malformed record can be quarantined
//! with its original text while the rest of the batch goes on.

use std::borrow::Cow;
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::attr::{AttributeValue, Item, Text};
use crate::schema::{column_index, Origin, COLUMNS};

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
pub struct StreamRecord<'a> {
    #[serde(rename = "eventID", borrow)]
    pub event_id: Option<Text<'a>>,
    #[serde(rename = "eventName", borrow)]
    pub event_name: Option<Text<'a>>,
    #[serde(rename = "eventSourceARN", borrow)]
    pub event_source_arn: Option<Text<'a>>,
    #[serde(rename = "userIdentity")]
    pub user_identity: Option<UserIdentity>,
    #[serde(borrow)]
    pub dynamodb: Option<StreamData<'a>>,
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
pub struct StreamData<'a> {
    /// Epoch seconds (integer from Lambda, fractional from some servers), or an ISO-8601
    /// string as the AWS CLI v2 prints it.
    #[serde(rename = "ApproximateCreationDateTime", borrow)]
    pub approximate_creation_date_time: Option<&'a RawValue>,
    #[serde(rename = "Keys", borrow)]
    pub keys: Option<Item<'a>>,
    #[serde(rename = "NewImage", borrow)]
    pub new_image: Option<ColumnItem<'a>>,
    /// Kept raw: most records only need its `status`; REMOVE records map all of it
    /// ([`ColumnItem`]).
    #[serde(rename = "OldImage", borrow)]
    pub old_image: Option<&'a RawValue>,
    #[serde(rename = "SequenceNumber", borrow)]
    pub sequence_number: Option<Text<'a>>,
}

/// An item image split by the lake schema while it is parsed: attributes that are image
/// columns land in their slot (indexed like [`COLUMNS`]), all others in `extras`, losslessly.
#[derive(Debug, Default)]
pub struct ColumnItem<'a> {
    pub slots: Vec<Option<AttributeValue<'a>>>,
    pub extras: Vec<(Text<'a>, AttributeValue<'a>)>,
}

impl<'de: 'a, 'a> Deserialize<'de> for ColumnItem<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ItemVisitor;
        impl<'de> Visitor<'de> for ItemVisitor {
            type Value = ColumnItem<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a DynamoDB item (map of attribute values)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut item = ColumnItem {
                    slots: vec![None; COLUMNS.len()],
                    extras: Vec::new(),
                };
                while let Some(name) = map.next_key::<Text<'de>>()? {
                    let value: AttributeValue<'de> = map.next_value()?;
                    match column_index(&name) {
                        Some(i) if COLUMNS[i].origin == Origin::Image => {
                            item.slots[i] = Some(value)
                        }
                        _ => item.extras.push((name, value)),
                    }
                }
                Ok(item)
            }
        }
        d.deserialize_map(ItemVisitor)
    }
}

/// One unit of input: a record's JSON (borrowed from the input buffer, or owned as Lambda
/// hands it over), or a line that was not JSON at all (kept so that it can be quarantined and
/// counted).
#[derive(Debug)]
pub enum InputRecord<'a> {
    Json(Cow<'a, RawValue>),
    /// A line that is not JSON: its text (invalid UTF-8 replaced by U+FFFD), and its exact
    /// bytes when that replacement changed them, so the quarantine loses nothing.
    Unparsable {
        text: String,
        original: Option<Vec<u8>>,
        error: String,
    },
}

/// `{"Records": [...]}` with the records borrowed from the input.
#[derive(Deserialize)]
struct BorrowedBatch<'a> {
    #[serde(rename = "Records", borrow)]
    records: Vec<&'a RawValue>,
}

/// Whether `split_input` reads `text` as a `{"Records": [...]}` batch (rather than as JSON
/// Lines): the one pass must not read such a document as lines either.
pub fn is_batch(text: &str) -> bool {
    let trimmed = text.trim_ascii_start();
    trimmed.starts_with('{') && serde_json::from_str::<BorrowedBatch<'_>>(trimmed).is_ok()
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
pub fn split_input(bytes: &[u8]) -> Result<Vec<InputRecord<'_>>, InputError> {
    fn borrowed(raw: &RawValue) -> InputRecord<'_> {
        InputRecord::Json(Cow::Borrowed(raw))
    }
    let trimmed = bytes.trim_ascii_start();
    if trimmed.is_empty() {
        return Ok(Vec::new());
    }
    if trimmed[0] == b'[' {
        let records: Vec<&RawValue> =
            serde_json::from_slice(trimmed).map_err(|e| InputError::Format(e.to_string()))?;
        return Ok(records.into_iter().map(borrowed).collect());
    }
    if let Ok(batch) = serde_json::from_slice::<BorrowedBatch<'_>>(trimmed) {
        return Ok(batch.records.into_iter().map(borrowed).collect());
    }
    let mut out = Vec::new();
    let (mut lines, mut objects) = (0usize, 0usize);
    for line in trimmed.split(|b| *b == b'\n') {
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        lines += 1;
        if is_event_line(line) {
            if let Ok(batch) = serde_json::from_slice::<BorrowedBatch<'_>>(line) {
                objects += 1;
                out.extend(batch.records.into_iter().map(borrowed));
                continue;
            }
        }
        match serde_json::from_slice::<&RawValue>(line) {
            Ok(raw) => {
                objects += usize::from(is_non_empty_object(raw.get()));
                out.push(borrowed(raw))
            }
            Err(e) => {
                let text = String::from_utf8_lossy(line);
                out.push(InputRecord::Unparsable {
                    original: matches!(text, Cow::Owned(_)).then(|| line.to_vec()),
                    text: text.into_owned(),
                    error: e.to_string(),
                })
            }
        }
    }
    if objects == 0 {
        // One record, pretty-printed (as a saved test event often is).
        if let Ok(record) = serde_json::from_slice::<&RawValue>(trimmed) {
            if is_non_empty_object(record.get()) {
                return Ok(vec![borrowed(record)]);
            }
        }
        // Not one line is a record: one document that does not parse (a pretty-printed
        // event with a syntax error, a stray byte, trailing text) or no records at all.
        // Quarantining each of its lines as a record would count lines as records. A
        // damaged JSON Lines file with some good records is still read, its bad lines
        // quarantined.
        let error = match std::str::from_utf8(trimmed) {
            Err(e) => {
                let valid = &trimmed[..e.valid_up_to()];
                let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
                let line_start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
                format!(
                    "not UTF-8 text: byte 0x{:02X} at line {line} column {} (JSON is UTF-8; \
                     convert the file, for example with iconv)",
                    trimmed[e.valid_up_to()],
                    e.valid_up_to() - line_start + 1
                )
            }
            Ok(text) => match serde_json::from_str::<serde::de::IgnoredAny>(text) {
                Err(e) => e.to_string(),
                Ok(_) => "a JSON document but not stream records".to_owned(),
            },
        };
        return Err(InputError::Format(if lines > 1 {
            format!("{error}; read as JSON Lines, none of its {lines} lines is a stream record")
        } else {
            error
        }));
    }
    Ok(out)
}

/// `{` with at least one member: what every stream record is.
fn is_non_empty_object(json: &str) -> bool {
    json.strip_prefix('{')
        .is_some_and(|rest| !rest.trim_ascii_start().starts_with('}'))
}

/// A JSON Lines line that is a whole Lambda event, `{"Records": [...]}`, as an event logger
/// writes one per line: its records are read, not the event as one record. Recognised by
/// `Records` as the first key, so that ordinary record lines cost nothing extra.
pub fn is_event_line(line: &[u8]) -> bool {
    line.strip_prefix(b"{")
        .map(|rest| rest.trim_ascii_start().starts_with(b"\"Records\""))
        .unwrap_or(false)
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
    fn a_broken_pretty_printed_event_is_an_error_not_a_record_per_line() {
        let event = "{\n  \"Records\": [\n    {\n      \"eventID\": \"a\"\n    }\n  ]\n}\nxyz\n";
        let err = split_input(event.as_bytes()).unwrap_err().to_string();
        assert!(
            err.contains("trailing characters at line 8 column 1"),
            "{err}"
        );
        assert!(
            err.contains("none of its 8 lines is a stream record"),
            "{err}"
        );
        // A stray Latin-1 byte names its place too.
        let err = split_input(b"{\n \"Records\": [{\"eventID\": \"caf\xe9\"}]\n}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("byte 0xE9 at line 2 column 30"), "{err}");
        // One line that is not JSON, with its newline, is a wrong file too.
        let err = split_input(b"hello\n").unwrap_err().to_string();
        assert!(err.contains("expected value at line 1 column 1"), "{err}");
        // A damaged JSON Lines file with one good record is read, the rest quarantined.
        let damaged = split_input(b"{\"eventID\":\"a\"}\n{\"eventID\n[]\n{}\n").unwrap();
        assert_eq!(damaged.len(), 4);
    }

    #[test]
    fn one_pretty_printed_record_is_one_record() {
        let record =
            "{\n  \"eventID\": \"a\",\n  \"dynamodb\": {\n    \"SequenceNumber\": \"1\"\n  }\n}\n";
        let records = split_input(record.as_bytes()).unwrap();
        assert_eq!(records.len(), 1);
        assert!(
            matches!(&records[0], InputRecord::Json(raw) if raw.get().contains("\"eventID\": \"a\""))
        );
    }

    #[test]
    fn json_lines_of_whole_events_are_read_record_by_record() {
        let lines = "{\"Records\":[{\"eventID\":\"a\"},{\"eventID\":\"b\"}]}\n{ \"Records\": [{\"eventID\":\"c\"}]}\n{\"eventID\":\"d\"}\n";
        let ids: Vec<String> = split_input(lines.as_bytes())
            .unwrap()
            .iter()
            .map(|r| match r {
                InputRecord::Json(raw) => raw.get().to_owned(),
                InputRecord::Unparsable { text, .. } => text.clone(),
            })
            .collect();
        assert_eq!(
            ids,
            [
                r#"{"eventID":"a"}"#,
                r#"{"eventID":"b"}"#,
                r#"{"eventID":"c"}"#,
                r#"{"eventID":"d"}"#
            ]
        );
        // Event lines alone are JSON Lines too, with a bad record or a line that is not JSON.
        let events_only =
            "{\"Records\":[{\"eventID\":\"a\"}]}\n{\"Records\":[{\"eventID\":1}]}\nnot json\n";
        assert_eq!(split_input(events_only.as_bytes()).unwrap().len(), 3);
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
