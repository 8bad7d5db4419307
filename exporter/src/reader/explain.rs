//! Why a record cannot be read: the exact reader run again with path tracking, so that the
//! quarantine says where a malformed record goes wrong (`dynamodb.NewImage.width.N: invalid
//! type …`), and what a malformed record still tells (its sequence number).

use serde::de::DeserializeSeed;
use serde_json::value::RawValue;

use super::exact::{ExportLineSeed, RecordSeed};
use crate::record::StreamRecord;
use crate::row::MapError;

/// What the text was meant to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A DynamoDB Streams record.
    StreamRecord,
    /// A line of a DynamoDB table export.
    ExportLine,
}

/// The reason a record the exact reader refuses is malformed.
pub fn malformed(raw: &str) -> MapError {
    malformed_as(raw, Shape::StreamRecord)
}

/// The reason a text the exact reader refuses as `shape` is malformed.
pub fn malformed_as(raw: &str, shape: Shape) -> MapError {
    let mut de = serde_json::Deserializer::from_str(raw);
    let mut track = serde_path_to_error::Track::new();
    let mut record = StreamRecord::default();
    record.clear();
    let tracked = serde_path_to_error::Deserializer::new(&mut de, &mut track);
    let result = match shape {
        Shape::StreamRecord => RecordSeed(&mut record).deserialize(tracked),
        Shape::ExportLine => ExportLineSeed(&mut record).deserialize(tracked).map(drop),
    }
    .and_then(|()| de.end());
    match result {
        Err(e) => {
            let path = track.path();
            MapError::Malformed {
                message: type_key_problem(raw, &path).unwrap_or_else(|| e.to_string()),
                path: path.to_string(),
            }
        }
        Ok(()) => MapError::Malformed {
            path: ".".to_owned(),
            message: match shape {
                Shape::StreamRecord => "not a stream record",
                Shape::ExportLine => "not a line of a table export",
            }
            .to_owned(),
        },
    }
}

/// When the attribute value at `path` is an object with no key or several, says so: serde's
/// own message for an attribute value such as `{}` or `{"S": "a", "N": "1"}` is only
/// "expected value". None when that is not the problem, or `path` is not inside an item.
fn type_key_problem(raw: &str, path: &serde_path_to_error::Path) -> Option<String> {
    use serde_path_to_error::Segment;
    let segments: Vec<&Segment> = path.iter().collect();
    let item = segments.iter().position(|s| {
        matches!(s, Segment::Map { key } if matches!(key.as_str(), "Keys" | "NewImage" | "OldImage"))
    })?;
    if segments.len() <= item + 1 {
        return None;
    }
    let mut value: serde_json::Value = serde_json::from_str(raw).ok()?;
    for segment in segments {
        value = match segment {
            Segment::Map { key } | Segment::Enum { variant: key } => {
                value.as_object_mut()?.remove(key)?
            }
            Segment::Seq { index } => {
                let items = value.as_array_mut()?;
                (*index < items.len()).then(|| items.swap_remove(*index))?
            }
            Segment::Unknown => return None,
        };
    }
    let keys: Vec<&String> = value.as_object()?.keys().collect();
    match keys.as_slice() {
        [] => Some(
            "an attribute value has no type key: it needs exactly one of \
             S, N, B, BOOL, NULL, M, L, SS, NS, BS"
                .to_owned(),
        ),
        [_] => None,
        several => Some(format!(
            "an attribute value has {} type keys ({}): it needs exactly one",
            several.len(),
            several
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The sequence number of a record, read leniently from its JSON, for records that could not
/// be mapped (so that a failed quarantine write can still be reported per record).
pub fn sequence_number(raw: &RawValue) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Outer {
        dynamodb: Option<Inner>,
    }
    #[derive(serde::Deserialize)]
    struct Inner {
        #[serde(rename = "SequenceNumber")]
        sequence_number: Option<String>,
    }
    serde_json::from_str::<Outer>(raw.get())
        .ok()?
        .dynamodb?
        .sequence_number
}
