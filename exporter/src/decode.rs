//! One pass over a stream record's JSON into reusable buffers: the fields the lake needs,
//! NewImage attributes in their column slot, OldImage attributes kept raw until the event
//! name says how much of it is needed (only `status`, or all of it for REMOVE).
//!
//! It accepts exactly what [`StreamRecord`](crate::record::StreamRecord) accepts, so that a
//! failure can be explained by parsing again with that type and path tracking. A [`Decoded`]
//! is reused across the records of a batch: no per-record maps, vectors or trees.

use std::fmt;
use std::sync::OnceLock;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::attr::{AttributeValue, Text};
use crate::record::UserIdentity;
use crate::schema::{Origin, COLUMNS};

/// The parts of one stream record, borrowed from its JSON (`'r`).
#[derive(Debug, Default)]
pub struct Decoded<'r> {
    pub event_id: Option<Text<'r>>,
    pub event_name: Option<Text<'r>>,
    pub event_source_arn: Option<Text<'r>>,
    pub user_identity: Option<UserIdentity>,
    /// The record has a (non-null) `dynamodb` object.
    pub has_dynamodb: bool,
    /// `ApproximateCreationDateTime` as written: read exactly by [`crate::map::event_time_millis`].
    pub creation_time: Option<&'r RawValue>,
    /// `Keys`, in input order; `None` when absent or null.
    pub has_keys: bool,
    pub keys: Vec<(Text<'r>, AttributeValue<'r>)>,
    pub has_new_image: bool,
    pub new_image: ImageSlots<'r>,
    pub has_old_image: bool,
    /// How `OldImage` was read: it depends on whether `eventName` came first.
    pub old_form: OldForm,
    /// `OldImage` attributes, in input order, values unparsed ([`OldForm::Raw`]).
    pub old_image: Vec<(Text<'r>, &'r RawValue)>,
    /// `OldImage` of a REMOVE, in its column slots ([`OldForm::Slots`]).
    pub old_slots: ImageSlots<'r>,
    /// The last `status` of `OldImage` ([`OldForm::Status`]).
    pub old_status: Option<AttributeValue<'r>>,
    pub sequence_number: Option<Text<'r>>,
}

/// How the `OldImage` of a record was read. Lambda puts `eventName` before `dynamodb`, so the
/// decoder usually knows what the mapping will need and reads only that, in the same pass.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum OldForm {
    /// `eventName` came later (as in JSON re-serialized with sorted keys): attributes kept raw.
    #[default]
    Raw,
    /// Every attribute parsed into [`Decoded::old_slots`]: a REMOVE (or, in the
    /// [`fast`](crate::fast) reader, a record whose event name was not yet known and that had
    /// no NewImage before its OldImage).
    Slots,
    /// Not a REMOVE: only `status` parsed, into [`Decoded::old_status`]. (The
    /// [`fast`](crate::fast) reader also reads it so when a NewImage came first and the event
    /// name later, since a REMOVE has no NewImage; if it is a REMOVE all the same, it reads
    /// the OldImage again into its slots.)
    Status,
}

/// An item image split by the lake schema: image-column attributes in their slot (indexed
/// like [`COLUMNS`]), all others in `extras`, in input order.
#[derive(Debug, Default)]
pub struct ImageSlots<'r> {
    pub slots: Vec<Option<AttributeValue<'r>>>,
    pub extras: Vec<(Text<'r>, AttributeValue<'r>)>,
}

impl<'r> ImageSlots<'r> {
    /// Empties the slots (keeping their memory). The mapping takes every slot it reads, so
    /// usually only the `None` checks remain to be done.
    pub fn clear(&mut self) {
        if self.slots.len() == COLUMNS.len() {
            for slot in &mut self.slots {
                if slot.is_some() {
                    *slot = None;
                }
            }
        } else {
            self.slots.clear();
            self.slots.resize(COLUMNS.len(), None);
        }
        self.extras.clear();
    }

    /// Puts one attribute where it belongs; a repeated name replaces the earlier value.
    pub fn insert(&mut self, name: Text<'r>, value: AttributeValue<'r>) {
        match image_slot(&name) {
            Some(i) => self.slots[i] = Some(value),
            None => self.extras.push((name, value)),
        }
    }
}

impl<'r> Decoded<'r> {
    /// Parses `raw` into `self`, replacing what an earlier record left.
    pub fn decode(&mut self, raw: &'r RawValue) -> Result<(), serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(raw.get());
        self.decode_from(&mut de)?;
        de.end()
    }

    /// Parses the record a deserializer is at (one element of a whole input document, see
    /// [`document`](crate::document)), replacing what an earlier record left.
    pub fn decode_from<D: Deserializer<'r>>(&mut self, d: D) -> Result<(), D::Error> {
        self.clear();
        RecordSeed(self).deserialize(d)
    }

    pub(crate) fn clear(&mut self) {
        self.event_id = None;
        self.event_name = None;
        self.event_source_arn = None;
        self.user_identity = None;
        self.has_dynamodb = false;
        self.creation_time = None;
        self.has_keys = false;
        self.keys.clear();
        self.has_new_image = false;
        self.new_image.clear();
        self.has_old_image = false;
        if self.old_form == OldForm::Slots {
            self.old_slots.clear();
        }
        self.old_form = OldForm::Raw;
        self.old_image.clear();
        self.old_status = None;
        self.sequence_number = None;
    }
}

/// Slot of an image-column attribute name in [`COLUMNS`]: a small open-addressing table
/// built once from the schema.
pub fn image_slot(name: &str) -> Option<usize> {
    const SIZE: usize = 128;
    fn hash(name: &[u8]) -> usize {
        // The length and three bytes (first, middle, last): a few instructions whatever the
        // name's length, and the schema's 29 image names take 26 home slots of the 128.
        let byte = |i: usize| u32::from(name.get(i).copied().unwrap_or(0));
        let len = name.len();
        let h = (len as u32).wrapping_mul(0x9e37_79b1)
            ^ byte(0).wrapping_mul(0x85eb_ca77)
            ^ byte(len / 2).wrapping_mul(0xc2b2_ae3d)
            ^ byte(len.wrapping_sub(1)).wrapping_mul(0x27d4_eb2f);
        (h >> 16) as usize % SIZE
    }
    static TABLE: OnceLock<[u8; SIZE]> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut table = [u8::MAX; SIZE];
        for (i, column) in COLUMNS.iter().enumerate() {
            if column.origin != Origin::Image {
                continue;
            }
            let mut at = hash(column.name.as_bytes());
            while table[at] != u8::MAX {
                at = (at + 1) % SIZE;
            }
            table[at] = u8::try_from(i).unwrap_or(u8::MAX);
        }
        table
    });
    let mut at = hash(name.as_bytes());
    loop {
        let i = usize::from(table[at]);
        if i == usize::from(u8::MAX) {
            return None;
        }
        if COLUMNS[i].name == name {
            return Some(i);
        }
        at = (at + 1) % SIZE;
    }
}

fn duplicate<E: de::Error>(seen: &mut bool, field: &'static str) -> Result<(), E> {
    if std::mem::replace(seen, true) {
        Err(E::duplicate_field(field))
    } else {
        Ok(())
    }
}

/// The whole record.
struct RecordSeed<'s, 'r>(&'s mut Decoded<'r>);

impl<'de, 's> DeserializeSeed<'de> for RecordSeed<'s, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_struct("StreamRecord", &[], self)
    }
}

impl<'de, 's> Visitor<'de> for RecordSeed<'s, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a stream record")
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
struct DataSeed<'s, 'r>(&'s mut Decoded<'r>);

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

struct KeysSeed<'s, 'r>(&'s mut Decoded<'r>);

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

struct NewImageSeed<'s, 'r>(&'s mut Decoded<'r>);

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

struct OldImageSeed<'s, 'r>(&'s mut Decoded<'r>);

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::column_index;

    #[test]
    fn image_slots_are_the_image_columns() {
        for (i, column) in COLUMNS.iter().enumerate() {
            let want = (column.origin == Origin::Image).then_some(i);
            assert_eq!(image_slot(column.name), want, "{}", column.name);
        }
        assert_eq!(image_slot("tags"), None);
        assert_eq!(image_slot(""), None);
        assert_eq!(image_slot("statu"), None);
        assert_eq!(image_slot("status"), column_index("status"));
    }

    #[test]
    fn a_decoder_reused_for_the_next_record_keeps_nothing_of_the_last() {
        let first = RawValue::from_string(
            r#"{"eventID":"a","eventName":"REMOVE","dynamodb":{"Keys":{"image_id":{"S":"x"}},"OldImage":{"status":{"S":"OK"},"zz":{"N":"1"}},"SequenceNumber":"1"}}"#.into(),
        )
        .unwrap();
        let second = RawValue::from_string(r#"{"eventID":"b","dynamodb":null}"#.into()).unwrap();
        let mut decoded = Decoded::default();
        decoded.decode(&first).unwrap();
        // eventName came first: the REMOVE's OldImage went straight into its slots.
        assert_eq!(decoded.old_form, OldForm::Slots);
        assert_eq!(
            decoded.old_slots.slots[column_index("status").unwrap()],
            Some(AttributeValue::S(Text("OK".into())))
        );
        assert_eq!(decoded.old_slots.extras.len(), 1);
        assert!(decoded.has_keys && decoded.has_old_image && decoded.has_dynamodb);
        decoded.decode(&second).unwrap();
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
        let mut decoded = Decoded::default();
        decoded.decode(&modify).unwrap();
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
        decoded.decode(&late).unwrap();
        assert_eq!(decoded.old_form, OldForm::Raw);
        assert_eq!(decoded.old_image.len(), 1);
    }

    #[test]
    fn repeated_fields_are_refused_like_the_typed_record() {
        let raw = RawValue::from_string(r#"{"eventID":"a","eventID":"b"}"#.into()).unwrap();
        let err = Decoded::default().decode(&raw).unwrap_err();
        assert!(err.to_string().contains("duplicate field"), "{err}");
    }
}
