//! One DynamoDB Streams record as the reader hands it over: the fields the lake needs,
//! NewImage attributes in their column slot, OldImage read as far as the event name needs
//! (only `status`, or all of it for a REMOVE). Strings borrow from the input (`'r`) unless
//! they had escapes.
//!
//! A [`StreamRecord`] is scratch space reused across the records of a batch: no per-record
//! maps, vectors or trees. Both readers ([`crate::reader`]) fill it; [`crate::row`] maps it.

use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::attr::{AttributeValue, Text};
use crate::schema::{Origin, COLUMNS};

/// Who made the change; DynamoDB TTL deletions carry the DynamoDB service principal.
#[derive(Debug, Clone, Deserialize)]
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

/// The parts of one stream record, borrowed from its JSON (`'r`).
#[derive(Debug, Default)]
pub struct StreamRecord<'r> {
    pub event_id: Option<Text<'r>>,
    pub event_name: Option<Text<'r>>,
    pub event_source_arn: Option<Text<'r>>,
    pub user_identity: Option<UserIdentity>,
    /// The record has a (non-null) `dynamodb` object.
    pub has_dynamodb: bool,
    /// `ApproximateCreationDateTime` as written: read exactly by [`crate::row::event_time_millis`].
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
    /// Set for a line of a DynamoDB table export (see `reader::export_line`): what a
    /// stream record would say differently.
    pub export: Option<ExportFacts>,
}

/// What a line of a table export tells that a stream record tells in other fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportFacts {
    /// The change's time: `WriteTimestampMicros` of an incremental export's line, the export
    /// time of a full export's item, in epoch milliseconds.
    pub event_time_ms: i64,
}

/// How the `OldImage` of a record was read. Lambda puts `eventName` before `dynamodb`, so the
/// reader usually knows what the mapping will need and reads only that, in the same pass.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum OldForm {
    /// `eventName` came later (as in JSON re-serialized with sorted keys): attributes kept raw.
    #[default]
    Raw,
    /// Every attribute parsed into [`StreamRecord::old_slots`]: a REMOVE (or, in the
    /// scanner, a record whose event name was not yet known and that had no NewImage before
    /// its OldImage).
    Slots,
    /// Not a REMOVE: only `status` parsed, into [`StreamRecord::old_status`]. (The scanner
    /// also reads it so when a NewImage came first and the event name later, since a REMOVE
    /// has no NewImage; if it is a REMOVE all the same, it reads the OldImage again into its
    /// slots.)
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

impl StreamRecord<'_> {
    /// Forgets the last record (keeping the memory of its buffers).
    pub fn clear(&mut self) {
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
        self.export = None;
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
