//! The shape of a stream record as the scanner reads it: an event's `Records`, each record's
//! fields, its `dynamodb` object, NewImage and OldImage attributes into their slots, and the
//! attribute values themselves.

use serde_json::value::RawValue;

use super::super::export_line::LineShape;
use super::json::Reader;
use super::{Place, RecordSink, Refused, R};
use crate::attr::{AttributeValue, Item, Text};
use crate::record::{OldForm, StreamRecord, UserIdentity};
use crate::schema::COLUMNS;

impl<'r> Reader<'r> {
    /// The start of the input (after a byte order mark, if any): `{"Records": [` of an event,
    /// or a first object with another first field, read as the first line of JSON Lines.
    pub(super) fn head(&mut self) -> R<Place> {
        if self.pos == 0 && self.text.starts_with('\u{feff}') {
            self.pos = '\u{feff}'.len_utf8();
        }
        self.peek();
        let start = self.pos;
        self.eat(b'{')?;
        if &*self.string()? != "Records" {
            self.pos = start;
            return Ok(Place::Lines);
        }
        self.eat(b':')?;
        self.eat(b'[')?;
        Ok(Place::First)
    }

    /// After the records array: another field (not a second `Records`), or the closing `}`.
    pub(super) fn tail_field(&mut self) -> R<Place> {
        match self.peek() {
            Some(b'}') => {
                self.pos += 1;
                Ok(Place::End)
            }
            Some(b',') => {
                self.pos += 1;
                if &*self.string()? == "Records" {
                    return self.refuse();
                }
                self.eat(b':')?;
                self.skip_value()?;
                // A number the buffer cut would pass for a shorter one: only a value with
                // something after it is whole.
                if self.peek().is_none() {
                    return self.refuse();
                }
                Ok(Place::Tail)
            }
            _ => self.refuse(),
        }
    }

    /// `{"Records": [...]}`: other fields are ignored, `Records` must appear once.
    pub(super) fn batch(
        &mut self,
        record: &mut StreamRecord<'r>,
        sink: &mut dyn RecordSink,
    ) -> R<()> {
        let mut seen = false;
        self.object(|r, key| {
            if &*key == "Records" {
                if std::mem::replace(&mut seen, true) {
                    return r.refuse();
                }
                r.records(record, sink)
            } else {
                r.skip_value()
            }
        })?;
        if seen {
            Ok(())
        } else {
            self.refuse()
        }
    }

    /// `[record, ...]`, each handed over with its text as soon as it is read.
    pub(super) fn records(
        &mut self,
        record: &mut StreamRecord<'r>,
        sink: &mut dyn RecordSink,
    ) -> R<()> {
        self.array(|r| {
            r.peek();
            let start = r.pos;
            r.record(record)?;
            let raw = r.text.get(start..r.pos).ok_or(Refused(start))?;
            sink.record(record, raw);
            Ok(())
        })
    }

    /// One stream record into `out` (replacing what an earlier record left).
    pub(super) fn record(&mut self, out: &mut StreamRecord<'r>) -> R<()> {
        out.clear();
        self.old_image_at = None;
        self.record_fields(out)?;
        if let Some((pos, depth)) = self.old_image_at.take() {
            if out.event_name.as_deref() == Some("REMOVE") {
                // Only the status was read, on the guess that a record with a NewImage is no
                // REMOVE; a REMOVE maps its whole OldImage, so read it again into its slots.
                let (end, end_depth) = (self.pos, self.depth);
                (self.pos, self.depth) = (pos, depth);
                self.old_image_slots(out)?;
                (self.pos, self.depth) = (end, end_depth);
            }
        }
        Ok(())
    }

    /// The fields of a stream record.
    pub(super) fn record_fields(&mut self, out: &mut StreamRecord<'r>) -> R<()> {
        let mut seen = [false; 5];
        self.object(|r, key| {
            let field = match &*key {
                "eventID" => 0,
                "eventName" => 1,
                "eventSourceARN" => 2,
                "userIdentity" => 3,
                "dynamodb" => 4,
                other => {
                    r.records_field |= other == "Records";
                    return r.skip_value();
                }
            };
            if std::mem::replace(&mut seen[field], true) {
                return r.refuse();
            }
            match field {
                0 => out.event_id = r.optional_string()?,
                1 => out.event_name = r.optional_string()?,
                2 => out.event_source_arn = r.optional_string()?,
                3 => {
                    // Rare (TTL deletions): the typed struct reads it, from its checked text.
                    let raw = r.raw_value()?;
                    out.user_identity = match serde_json::from_str::<Option<UserIdentity>>(raw) {
                        Ok(identity) => identity,
                        Err(_) => return r.refuse(),
                    };
                }
                _ => {
                    if !r.null()? {
                        r.data(out)?;
                    }
                }
            }
            Ok(())
        })
    }

    /// The `dynamodb` object.
    pub(super) fn data(&mut self, out: &mut StreamRecord<'r>) -> R<()> {
        out.has_dynamodb = true;
        let mut seen = [false; 5];
        self.object(|r, key| {
            let field = match &*key {
                "ApproximateCreationDateTime" => 0,
                "Keys" => 1,
                "NewImage" => 2,
                "OldImage" => 3,
                "SequenceNumber" => 4,
                _ => return r.skip_value(),
            };
            if std::mem::replace(&mut seen[field], true) {
                return r.refuse();
            }
            if field == 4 {
                out.sequence_number = r.optional_string()?;
                return Ok(());
            }
            if r.null()? {
                return Ok(());
            }
            match field {
                0 => {
                    let raw = r.raw_value()?;
                    out.creation_time = match serde_json::from_str::<&RawValue>(raw) {
                        Ok(raw) => Some(raw),
                        Err(_) => return r.refuse(),
                    };
                }
                1 => {
                    out.has_keys = true;
                    r.object(|r, name| {
                        let value = r.attribute()?;
                        out.keys.push((name, value));
                        Ok(())
                    })?;
                }
                2 => {
                    out.has_new_image = true;
                    r.object(|r, name| {
                        let value = r.attribute()?;
                        out.new_image.insert(name, value);
                        Ok(())
                    })?;
                }
                _ => r.old_image(out)?,
            }
            Ok(())
        })
    }

    /// `OldImage`: only its `status` when the event name is known and is not REMOVE, or is
    /// not known yet but a NewImage came first (a REMOVE has none; should it be one all the
    /// same, [`Reader::record`] reads the OldImage again); otherwise every attribute, in its
    /// slot ([`OldForm::Slots`]), which is what a REMOVE maps and where the mapping finds the
    /// status of any other event.
    pub(super) fn old_image(&mut self, out: &mut StreamRecord<'r>) -> R<()> {
        out.has_old_image = true;
        match out.event_name.as_deref() {
            Some(name) if name != "REMOVE" => self.old_image_status(out),
            None if out.has_new_image => {
                self.peek();
                self.old_image_at = Some((self.pos, self.depth));
                self.old_image_status(out)
            }
            _ => self.old_image_slots(out),
        }
    }

    /// `OldImage` as [`OldForm::Status`]: its last `status`; the rest is checked, not kept.
    pub(super) fn old_image_status(&mut self, out: &mut StreamRecord<'r>) -> R<()> {
        out.old_form = OldForm::Status;
        self.object(|r, name| {
            if &*name == "status" {
                out.old_status = Some(r.attribute()?);
                Ok(())
            } else {
                r.skip_attribute()
            }
        })
    }

    /// `OldImage` as [`OldForm::Slots`]: every attribute in its slot.
    pub(super) fn old_image_slots(&mut self, out: &mut StreamRecord<'r>) -> R<()> {
        if out.old_slots.slots.len() != COLUMNS.len() {
            out.old_slots.clear();
        }
        out.old_status = None;
        out.old_form = OldForm::Slots;
        self.object(|r, name| {
            let value = r.attribute()?;
            out.old_slots.insert(name, value);
            Ok(())
        })
    }

    /// One attribute value: an object with exactly one type key. Always inlined, like
    /// [`Reader::string`], so that the value is built where it is kept; the other types take
    /// [`Reader::tagged`].
    #[inline(always)]
    pub(super) fn attribute(&mut self) -> R<AttributeValue<'r>> {
        self.eat(b'{')?;
        self.enter()?;
        // The compact forms of the commonest types, `{"S":"…"}` and `{"N":"…"}`, skip the
        // general read of the type key.
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        let value = if rest.starts_with(b"\"S\":") {
            self.pos += 4;
            AttributeValue::S(self.string()?)
        } else if rest.starts_with(b"\"N\":") {
            self.pos += 4;
            AttributeValue::N(self.string()?)
        } else {
            self.tagged()?
        };
        self.eat(b'}')?;
        self.depth -= 1;
        Ok(value)
    }

    /// An attribute value after its `{`: the type key and its value.
    #[inline(never)]
    pub(super) fn tagged(&mut self) -> R<AttributeValue<'r>> {
        let tag = self.string()?;
        self.eat(b':')?;
        Ok(match tag.as_bytes() {
            b"S" => AttributeValue::S(self.string()?),
            b"N" => AttributeValue::N(self.string()?),
            b"B" => AttributeValue::B(self.string()?),
            b"BOOL" => AttributeValue::Bool(self.boolean()?),
            b"NULL" => AttributeValue::Null(self.boolean()?),
            b"M" => {
                let mut item = Item::new();
                self.object(|r, name| {
                    let value = r.attribute()?;
                    item.insert(name, value);
                    Ok(())
                })?;
                AttributeValue::M(item)
            }
            b"L" => {
                let mut list = Vec::new();
                self.array(|r| {
                    list.push(r.attribute()?);
                    Ok(())
                })?;
                AttributeValue::L(list)
            }
            b"SS" => AttributeValue::Ss(self.strings()?),
            b"NS" => AttributeValue::Ns(self.strings()?),
            b"BS" => AttributeValue::Bs(self.strings()?),
            _ => return self.refuse(),
        })
    }

    pub(super) fn strings(&mut self) -> R<Vec<Text<'r>>> {
        let mut out = Vec::new();
        self.array(|r| {
            out.push(r.string()?);
            Ok(())
        })?;
        Ok(out)
    }

    /// One line of a table export into `out` (replacing what an earlier line left): `Item`
    /// into the NewImage slots, `Keys`, `NewImage`, `OldImage` (every attribute, in its slot)
    /// and `Metadata.WriteTimestampMicros` (into `sequence_number`); which shape it had.
    pub(super) fn export_line(&mut self, out: &mut StreamRecord<'r>) -> R<LineShape> {
        out.clear();
        let mut seen = [false; 5];
        self.object(|r, key| {
            let field = match &*key {
                "Item" => 0,
                "Metadata" => 1,
                "Keys" => 2,
                "NewImage" => 3,
                "OldImage" => 4,
                _ => return r.skip_value(),
            };
            if std::mem::replace(&mut seen[field], true) {
                return r.refuse();
            }
            match field {
                0 | 3 => {
                    if seen[0] && seen[3] {
                        return r.refuse();
                    }
                    out.has_new_image = true;
                    r.object(|r, name| {
                        let value = r.attribute()?;
                        out.new_image.insert(name, value);
                        Ok(())
                    })
                }
                1 => r.object(|r, name| {
                    if &*name == "WriteTimestampMicros" {
                        out.sequence_number = Some(r.micros()?);
                        Ok(())
                    } else {
                        r.skip_value()
                    }
                }),
                2 => {
                    out.has_keys = true;
                    r.object(|r, name| {
                        let value = r.attribute()?;
                        out.keys.push((name, value));
                        Ok(())
                    })
                }
                _ => {
                    out.has_old_image = true;
                    r.old_image_slots(out)
                }
            }
        })?;
        let change = seen[1..].iter().any(|s| *s);
        match (seen[0], change) {
            (true, false) => Ok(LineShape::Item),
            (false, true) => Ok(LineShape::Change),
            _ => self.refuse(),
        }
    }

    /// `WriteTimestampMicros`: `{"N": "…"}` or a bare number; its text.
    fn micros(&mut self) -> R<Text<'r>> {
        if self.peek() == Some(b'{') {
            return match self.attribute()? {
                AttributeValue::N(n) => Ok(n),
                _ => self.refuse(),
            };
        }
        self.peek();
        let start = self.pos;
        self.number()?;
        match self.text.get(start..self.pos) {
            Some(text) => Ok(Text(std::borrow::Cow::Borrowed(text))),
            None => self.refuse(),
        }
    }
}
