//! One pass over a whole input document: every record is decoded straight from the input
//! text, with no split into per-record JSON first (which would scan every byte twice).
//!
//! The pass takes only well-formed input. Any record it cannot take (JSON that does not
//! parse, a record whose structure is wrong) makes the whole pass fail; the exporter then
//! falls back to [`split_input`](crate::record::split_input) and record-by-record handling,
//! which quarantines exactly the bad records with their text. Records that parse but cannot
//! become rows (a missing key, a number too large for its column) do not need the fallback:
//! the caller quarantines them and finds their text by index.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::decode::Decoded;

/// The shapes an input document can have; [`split_input`](crate::record::split_input)
/// accepts the same, tried in the same order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// A JSON array of stream records.
    Array,
    /// A Lambda DynamoDB event or GetRecords response: `{"Records": [...]}`.
    Batch,
    /// JSON Lines, one stream record (or one whole `{"Records": [...]}` event) per line;
    /// blank lines are skipped.
    Lines,
}

/// The forms to try, in order, for a document.
pub fn candidate_forms(text: &str) -> &'static [Form] {
    match text.trim_ascii_start().as_bytes().first() {
        Some(b'[') => &[Form::Array],
        Some(b'{') => &[Form::Batch, Form::Lines],
        _ => &[Form::Lines],
    }
}

/// What the pass does with each decoded record, in input order; an `Err` stops the pass.
pub type OnRecord<'a, 'r> = dyn FnMut(&mut Decoded<'r>) -> Result<(), String> + 'a;

/// Decodes every record of `text`, read as `form`, into `decoded` and hands it to
/// `on_record`. On error, records already handed over must be discarded by the caller.
pub fn decode_document<'r>(
    text: &'r str,
    form: Form,
    decoded: &mut Decoded<'r>,
    on_record: &mut OnRecord<'_, 'r>,
) -> Result<(), serde_json::Error> {
    let text = text.trim_ascii_start();
    let mut sink = Sink { decoded, on_record };
    match form {
        Form::Array | Form::Batch => {
            let mut de = serde_json::Deserializer::from_str(text);
            if form == Form::Array {
                RecordsSeed(&mut sink).deserialize(&mut de)?;
            } else {
                BatchSeed(&mut sink).deserialize(&mut de)?;
            }
            de.end()
        }
        Form::Lines => {
            for line in text.split('\n') {
                let line = line.trim_ascii();
                if line.is_empty() {
                    continue;
                }
                let mut de = serde_json::Deserializer::from_str(line);
                if crate::record::is_event_line(line.as_bytes()) {
                    BatchSeed(&mut sink).deserialize(&mut de)?;
                } else {
                    RecordSeed(&mut sink).deserialize(&mut de)?;
                }
                de.end()?;
            }
            Ok(())
        }
    }
}

struct Sink<'s, 'a, 'r> {
    decoded: &'s mut Decoded<'r>,
    on_record: &'s mut OnRecord<'a, 'r>,
}

/// One record: decoded, then handed over.
struct RecordSeed<'x, 's, 'a, 'r>(&'x mut Sink<'s, 'a, 'r>);

impl<'de> DeserializeSeed<'de> for RecordSeed<'_, '_, '_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.0.decoded.decode_from(d)?;
        (self.0.on_record)(self.0.decoded).map_err(de::Error::custom)
    }
}

/// `[record, ...]`.
struct RecordsSeed<'x, 's, 'a, 'r>(&'x mut Sink<'s, 'a, 'r>);

impl<'de> DeserializeSeed<'de> for RecordsSeed<'_, '_, '_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'_, '_, '_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of stream records")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(RecordSeed(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

/// `{"Records": [...], ...}`: other fields are ignored, `Records` must appear exactly once.
struct BatchSeed<'x, 's, 'a, 'r>(&'x mut Sink<'s, 'a, 'r>);

impl<'de> DeserializeSeed<'de> for BatchSeed<'_, '_, '_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for BatchSeed<'_, '_, '_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with Records")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = false;
        while let Some(key) = map.next_key::<crate::attr::Text<'de>>()? {
            if &*key == "Records" {
                if std::mem::replace(&mut seen, true) {
                    return Err(de::Error::duplicate_field("Records"));
                }
                map.next_value_seed(RecordsSeed(&mut *self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if seen {
            Ok(())
        } else {
            Err(de::Error::missing_field("Records"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Event IDs of the records the pass hands over, or the error.
    fn ids(text: &str, form: Form) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        let mut decoded = Decoded::default();
        decode_document(text, form, &mut decoded, &mut |d| {
            out.push(d.event_id.as_deref().unwrap_or("-").to_owned());
            Ok(())
        })
        .map_err(|e| e.to_string())?;
        Ok(out)
    }

    #[test]
    fn reads_every_form_split_input_reads() {
        let batch = r#" {"NextShardIterator":"x","Records":[{"eventID":"a"},{"eventID":"b"}]} "#;
        assert_eq!(ids(batch, Form::Batch).unwrap(), ["a", "b"]);
        assert_eq!(candidate_forms(batch), [Form::Batch, Form::Lines]);
        let array = r#"[{"eventID":"a"},{"eventID":"b","dynamodb":null}]"#;
        assert_eq!(ids(array, Form::Array).unwrap(), ["a", "b"]);
        assert_eq!(candidate_forms(array), [Form::Array]);
        let lines = "{\"eventID\":\"a\"}\n\n  {\"eventID\":\"b\"}\r\n";
        assert_eq!(ids(lines, Form::Lines).unwrap(), ["a", "b"]);
        // The batch form gives up on JSON Lines, so that Lines is tried next.
        assert!(ids(lines, Form::Batch).is_err());
        assert_eq!(ids("  \n", Form::Lines).unwrap(), Vec::<String>::new());
        let events = "{\"Records\":[{\"eventID\":\"a\"}]}\n{\"eventID\":\"b\"}";
        assert_eq!(ids(events, Form::Lines).unwrap(), ["a", "b"]);
    }

    #[test]
    fn gives_up_on_anything_split_input_would_treat_differently() {
        // Records missing, repeated or not an array.
        assert!(ids(r#"{"records":[]}"#, Form::Batch).is_err());
        assert!(ids(r#"{"Records":[],"Records":[]}"#, Form::Batch).is_err());
        assert!(ids(r#"{"Records":null}"#, Form::Batch).is_err());
        // A malformed record or line, and trailing garbage.
        assert!(ids(r#"[{"eventID":1}]"#, Form::Array).is_err());
        assert!(ids("{\"eventID\":\"a\"}\nnot json", Form::Lines).is_err());
        assert!(ids(r#"[{"eventID":"a"}] x"#, Form::Array).is_err());
    }

    #[test]
    fn an_error_from_the_caller_stops_the_pass() {
        let mut seen = 0;
        let mut decoded = Decoded::default();
        let result = decode_document(
            r#"[{"eventID":"a"},{"eventID":"b"}]"#,
            Form::Array,
            &mut decoded,
            &mut |_| {
                seen += 1;
                Err("stop".to_owned())
            },
        );
        assert!(result.unwrap_err().to_string().contains("stop"));
        assert_eq!(seen, 1);
    }
}
