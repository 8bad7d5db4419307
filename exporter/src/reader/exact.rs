//! The exact reader: one stream record read with serde_json, into a [`StreamRecord`].
//!
//! It is the reference the scanner ([`super::scan`]) must agree with, the reader of every
//! record the scanner leaves to it, and, with path tracking, how a malformed record is
//! explained ([`super::explain`]): one definition of the record's shape, read three ways.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::export_line::LineShape;
use crate::attr::{AttributeValue, Text};
use crate::record::{OldForm, StreamRecord};
use crate::schema::COLUMNS;

/// Reads the record `raw` into `out`, replacing what an earlier record left.
pub fn read<'r>(raw: &'r str, out: &mut StreamRecord<'r>) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(raw);
    read_from(&mut de, out)?;
    de.end()
}

/// Reads the record a deserializer is at into `out`, replacing what an earlier record left.
pub fn read_from<'r, D: Deserializer<'r>>(
    d: D,
    out: &mut StreamRecord<'r>,
) -> Result<(), D::Error> {
    out.clear();
    RecordSeed(out).deserialize(d)
}

fn duplicate<E: de::Error>(seen: &mut bool, field: &'static str) -> Result<(), E> {
    if std::mem::replace(seen, true) {
        Err(E::duplicate_field(field))
    } else {
        Ok(())
    }
}

/// The whole record.
pub(super) struct RecordSeed<'s, 'r>(pub(super) &'s mut StreamRecord<'r>);

impl<'de, 's> DeserializeSeed<'de> for RecordSeed<'s, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_struct("StreamRecord", &[], self)
    }
}

impl<'de, 's> Visitor<'de> for RecordSeed<'s, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("struct StreamRecord")
    }
    /// A JSON array is no record; said as serde's derived structs say it.
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut n = 0;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            n += 1;
        }
        Err(de::Error::invalid_length(
            n,
            &"struct StreamRecord with 5 elements",
        ))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let out = self.0;
        let mut seen = [false; 5];
        while let Some(key) = map.next_key::<Text<'de>>()? {
            match &*key {
                "eventID" => {
                    duplicate(&mut seen[0], "eventID")?;
                    out.event_id = map.next_value()?;
                }
                "eventName" => {
                    duplicate(&mut seen[1], "eventName")?;
                    out.event_name = map.next_value()?;
                }
                "eventSourceARN" => {
                    duplicate(&mut seen[2], "eventSourceARN")?;
                    out.event_source_arn = map.next_value()?;
                }
                "userIdentity" => {
                    duplicate(&mut seen[3], "userIdentity")?;
                    out.user_identity = map.next_value()?;
                }
                "dynamodb" => {
                    duplicate(&mut seen[4], "dynamodb")?;
                    map.next_value_seed(Optional(DataSeed(&mut *out)))?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// `null` or absent is `None`, as for `Option<T>` fields; otherwise the inner seed runs.
struct Optional<S>(S);

impl<'de, S: DeserializeSeed<'de, Value = ()>> DeserializeSeed<'de> for Optional<S> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, S: DeserializeSeed<'de, Value = ()>> Visitor<'de> for Optional<S> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an optional value")
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.0.deserialize(d)
    }
}

/// The `dynamodb` object.
struct DataSeed<'s, 'r>(&'s mut StreamRecord<'r>);

impl<'de, 's> DeserializeSeed<'de> for DataSeed<'s, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_struct("StreamData", &[], self)
    }
}

impl<'de, 's> Visitor<'de> for DataSeed<'s, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("struct StreamData")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let out = self.0;
        out.has_dynamodb = true;
        let mut seen = [false; 5];
        while let Some(key) = map.next_key::<Text<'de>>()? {
            match &*key {
                "ApproximateCreationDateTime" => {
                    duplicate(&mut seen[0], "ApproximateCreationDateTime")?;
                    out.creation_time = map.next_value()?;
                }
                "Keys" => {
                    duplicate(&mut seen[1], "Keys")?;
                    map.next_value_seed(Optional(KeysSeed(&mut *out)))?;
                }
                "NewImage" => {
                    duplicate(&mut seen[2], "NewImage")?;
                    map.next_value_seed(Optional(NewImageSeed(&mut *out)))?;
                }
                "OldImage" => {
                    duplicate(&mut seen[3], "OldImage")?;
                    map.next_value_seed(Optional(OldImageSeed(&mut *out)))?;
                }
                "SequenceNumber" => {
                    duplicate(&mut seen[4], "SequenceNumber")?;
                    out.sequence_number = map.next_value()?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

const ITEM: &str = "a DynamoDB item (map of attribute values)";

struct KeysSeed<'s, 'r>(&'s mut StreamRecord<'r>);

impl<'de, 's> DeserializeSeed<'de> for KeysSeed<'s, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 's> Visitor<'de> for KeysSeed<'s, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let out = self.0;
        out.has_keys = true;
        while let Some((name, value)) = map.next_entry::<Text<'de>, AttributeValue<'de>>()? {
            out.keys.push((name, value));
        }
        Ok(())
    }
}

struct NewImageSeed<'s, 'r>(&'s mut StreamRecord<'r>);

impl<'de, 's> DeserializeSeed<'de> for NewImageSeed<'s, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 's> Visitor<'de> for NewImageSeed<'s, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(ITEM)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let out = self.0;
        out.has_new_image = true;
        while let Some(name) = map.next_key::<Text<'de>>()? {
            let value: AttributeValue<'de> = map.next_value()?;
            out.new_image.insert(name, value);
        }
        Ok(())
    }
}

struct OldImageSeed<'s, 'r>(&'s mut StreamRecord<'r>);

impl<'de, 's> DeserializeSeed<'de> for OldImageSeed<'s, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 's> Visitor<'de> for OldImageSeed<'s, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(ITEM)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let out = self.0;
        out.has_old_image = true;
        match out.event_name.as_deref() {
            None => {
                out.old_form = OldForm::Raw;
                while let Some(entry) = map.next_entry::<Text<'de>, &'de RawValue>()? {
                    out.old_image.push(entry);
                }
            }
            Some("REMOVE") => {
                if out.old_slots.slots.len() != COLUMNS.len() {
                    out.old_slots.clear();
                }
                out.old_form = OldForm::Slots;
                while let Some(name) = map.next_key::<Text<'de>>()? {
                    let value: AttributeValue<'de> = map.next_value()?;
                    out.old_slots.insert(name, value);
                }
            }
            Some(_) => {
                out.old_form = OldForm::Status;
                while let Some(name) = map.next_key::<Text<'de>>()? {
                    if &*name == "status" {
                        out.old_status = Some(map.next_value()?);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Reads one line of a DynamoDB table export into `out` (replacing what an earlier line left),
/// as the scanner's export-line grammar does; which shape it had.
pub fn read_export_line<'r>(
    raw: &'r str,
    out: &mut StreamRecord<'r>,
) -> Result<LineShape, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(raw);
    out.clear();
    let shape = ExportLineSeed(out).deserialize(&mut de)?;
    de.end()?;
    Ok(shape)
}

/// A table export's line: `Item`, or `Metadata`, `Keys`, `NewImage`, `OldImage`.
pub(super) struct ExportLineSeed<'s, 'r>(pub(super) &'s mut StreamRecord<'r>);

impl<'de, 's> DeserializeSeed<'de> for ExportLineSeed<'s, 'de> {
    type Value = LineShape;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<LineShape, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 's> Visitor<'de> for ExportLineSeed<'s, 'de> {
    type Value = LineShape;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a line of a DynamoDB table export")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LineShape, A::Error> {
        let out = self.0;
        let mut seen = [false; 5];
        while let Some(key) = map.next_key::<Text<'de>>()? {
            match &*key {
                "Item" => {
                    duplicate(&mut seen[0], "Item")?;
                    map.next_value_seed(NewImageSeed(&mut *out))?;
                }
                "Metadata" => {
                    duplicate(&mut seen[1], "Metadata")?;
                    map.next_value_seed(MetadataSeed(&mut *out))?;
                }
                "Keys" => {
                    duplicate(&mut seen[2], "Keys")?;
                    map.next_value_seed(KeysSeed(&mut *out))?;
                }
                "NewImage" => {
                    duplicate(&mut seen[3], "NewImage")?;
                    map.next_value_seed(NewImageSeed(&mut *out))?;
                }
                "OldImage" => {
                    duplicate(&mut seen[4], "OldImage")?;
                    // Read whole, as the scanner does: whether it is a REMOVE is known only
                    // at the end of the line.
                    out.event_name = Some(Text(std::borrow::Cow::Borrowed("REMOVE")));
                    let read = map.next_value_seed(OldImageSeed(&mut *out));
                    out.event_name = None;
                    read?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let change = seen[1..].iter().any(|s| *s);
        match (seen[0], change) {
            (true, false) => Ok(LineShape::Item),
            (false, true) => Ok(LineShape::Change),
            (true, true) => Err(de::Error::custom(
                "a line has an Item (full export) and Keys, images or Metadata (incremental export)",
            )),
            (false, false) => Err(de::Error::custom(
                "a line has neither Item nor Keys, NewImage, OldImage",
            )),
        }
    }
}

/// `Metadata`: `WriteTimestampMicros` (`{"N": "…"}` or a bare number) into `sequence_number`.
struct MetadataSeed<'s, 'r>(&'s mut StreamRecord<'r>);

impl<'de, 's> DeserializeSeed<'de> for MetadataSeed<'s, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 's> Visitor<'de> for MetadataSeed<'s, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Text<'de>>()? {
            if &*key == "WriteTimestampMicros" {
                let raw: &'de RawValue = map.next_value()?;
                let text = raw.get();
                self.0.sequence_number = Some(if text.starts_with('{') {
                    match serde_json::from_str::<AttributeValue<'de>>(text) {
                        Ok(AttributeValue::N(n)) => n,
                        Ok(other) => {
                            return Err(de::Error::custom(format!(
                                "WriteTimestampMicros is {}, expected N",
                                other.type_tag()
                            )))
                        }
                        Err(e) => return Err(de::Error::custom(e)),
                    }
                } else if text.starts_with(['-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'])
                {
                    Text(std::borrow::Cow::Borrowed(text))
                } else {
                    return Err(de::Error::custom(format!(
                        "WriteTimestampMicros is {text}, expected a number or {{\"N\": …}}"
                    )));
                });
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::column_index;

    fn decode<'r>(
        record: &mut StreamRecord<'r>,
        raw: &'r RawValue,
    ) -> Result<(), serde_json::Error> {
        read(raw.get(), record)
    }

    #[test]
    fn a_record_reused_for_the_next_one_keeps_nothing_of_the_last() {
        let first = RawValue::from_string(
            r#"{"eventID":"a","eventName":"REMOVE","dynamodb":{"Keys":{"image_id":{"S":"x"}},"OldImage":{"status":{"S":"OK"},"zz":{"N":"1"}},"SequenceNumber":"1"}}"#.into(),
        )
        .unwrap();
        let second = RawValue::from_string(r#"{"eventID":"b","dynamodb":null}"#.into()).unwrap();
        let mut decoded = StreamRecord::default();
        decode(&mut decoded, &first).unwrap();
        // eventName came first: the REMOVE's OldImage went straight into its slots.
        assert_eq!(decoded.old_form, OldForm::Slots);
        assert_eq!(
            decoded.old_slots.slots[column_index("status").unwrap()],
            Some(AttributeValue::S(Text("OK".into())))
        );
        assert_eq!(decoded.old_slots.extras.len(), 1);
        assert!(decoded.has_keys && decoded.has_old_image && decoded.has_dynamodb);
        decode(&mut decoded, &second).unwrap();
        assert_eq!(decoded.event_id.as_deref(), Some("b"));
        assert!(decoded.event_name.is_none() && !decoded.has_dynamodb);
        assert!(decoded.old_image.is_empty() && decoded.keys.is_empty());
        assert!(decoded.new_image.slots.iter().all(Option::is_none));
        assert!(decoded.old_slots.slots.iter().all(Option::is_none));
        assert!(decoded.old_slots.extras.is_empty() && decoded.old_status.is_none());
    }

    #[test]
    fn old_image_is_read_as_far_as_the_event_name_needs() {
        let modify = RawValue::from_string(
            r#"{"eventName":"MODIFY","dynamodb":{"OldImage":{"status":{"S":"A"},"width":{"N":"1"},"status":{"S":"B"}}}}"#.into(),
        )
        .unwrap();
        let mut decoded = StreamRecord::default();
        decode(&mut decoded, &modify).unwrap();
        assert_eq!(decoded.old_form, OldForm::Status);
        assert_eq!(
            decoded.old_status,
            Some(AttributeValue::S(Text("B".into())))
        );
        assert!(decoded.old_image.is_empty());
        // Sorted keys (as any tool that re-serializes JSON sorted writes them): dynamodb
        // before eventName, kept raw.
        let late = RawValue::from_string(
            r#"{"dynamodb":{"OldImage":{"status":{"S":"A"}}},"eventName":"REMOVE"}"#.into(),
        )
        .unwrap();
        decode(&mut decoded, &late).unwrap();
        assert_eq!(decoded.old_form, OldForm::Raw);
        assert_eq!(decoded.old_image.len(), 1);
    }

    #[test]
    fn repeated_fields_are_refused_like_the_typed_record() {
        let raw = RawValue::from_string(r#"{"eventID":"a","eventID":"b"}"#.into()).unwrap();
        let err = decode(&mut StreamRecord::default(), &raw).unwrap_err();
        assert!(err.to_string().contains("duplicate field"), "{err}");
    }
}
