//! Pure mapping of one stream record to one lake row (cells in [`COLUMNS`] order), or to the
//! reason it cannot be one.

use std::borrow::Cow;

use chrono::DateTime;
use serde_json::value::RawValue;
use thiserror::Error;

use crate::attr::{AttributeValue, Item, Text};
use crate::layout::Partition;
use crate::number::{self, NumberError};
use crate::record::{OldForm, StreamRecord};
use crate::schema::{Column, Kind, Origin, COLUMNS, HASH_KEY, SEQUENCE_NUMBER_WIDTH};

/// Earliest and latest timestamps we write (0001-01-01 .. 9999-12-31T23:59:59.999 UTC):
/// every engine that reads the lake can represent them.
const MIN_TIMESTAMP_MS: i64 = -62_135_596_800_000;
const MAX_TIMESTAMP_MS: i64 = 253_402_300_799_999;

/// One cell of a row, typed by its column's [`Kind`]; strings borrow from the input record.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    Null,
    Str(Cow<'a, str>),
    I32(i32),
    I64(i64),
    F64(f64),
    Bool(bool),
    /// Epoch milliseconds, UTC.
    Timestamp(i64),
    List(Vec<Cow<'a, str>>),
}

/// Why a record cannot become a row. The record is quarantined with this reason.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum MapError {
    /// The record is not valid JSON of a stream record (wrong field type, unknown attribute
    /// type tag, …); `path` locates the problem.
    #[error("malformed stream record at `{path}`: {message}")]
    Malformed { path: String, message: String },
    /// A field the lake needs is absent.
    #[error("missing `{0}`")]
    Missing(&'static str),
    /// `eventName` is not INSERT, MODIFY or REMOVE.
    #[error("eventName `{0}` is not INSERT, MODIFY or REMOVE")]
    EventName(String),
    /// `SequenceNumber` is not 1 to 40 decimal digits.
    #[error("SequenceNumber `{0}` is not 1 to 40 decimal digits")]
    SequenceNumber(String),
    /// `ApproximateCreationDateTime` is not a usable time.
    #[error("ApproximateCreationDateTime `{0}` is not a time from 1970 to 9999 as epoch seconds or ISO-8601 (partitions are by event time, UTC)")]
    EventTime(String),
    /// The hash key is absent from `Keys` or is not a non-empty string.
    #[error("Keys.{HASH_KEY} must be a non-empty S, got {0}")]
    HashKey(String),
    /// A table export's `Metadata.WriteTimestampMicros` is not a time.
    #[error("Metadata.WriteTimestampMicros `{0}` is not a time in microseconds since 1970")]
    WriteTimestamp(String),
    /// The image's hash key differs from the record's `Keys`.
    #[error("image {HASH_KEY} `{image}` differs from Keys.{HASH_KEY} `{key}`")]
    HashKeyMismatch { key: String, image: String },
    /// An attribute has a type its column cannot hold.
    #[error("attribute `{attribute}` is {found}, expected {expected}")]
    WrongType {
        attribute: &'static str,
        found: &'static str,
        expected: &'static str,
    },
    /// A number does not fit its column.
    #[error("attribute `{attribute}`: {source}")]
    Number {
        attribute: &'static str,
        source: NumberError,
    },
    /// A timestamp attribute is outside years 1..9999.
    #[error("attribute `{attribute}`: {value} is outside years 1..9999")]
    TimestampRange { attribute: &'static str, value: i64 },
    /// The row's text is larger than any DynamoDB item can make it.
    #[error("the row would hold {bytes} bytes of text; DynamoDB items are at most 400 KB, so this is not a stream record of the table")]
    TooLarge { bytes: usize },
}

/// Most text one row may hold: far above what a DynamoDB item (at most 400 KB, its two images
/// in one record, strings escaped in JSON) can carry, and far below Arrow's 2 GiB per column
/// of a file.
pub const MAX_ROW_TEXT_BYTES: usize = 16 << 20;

impl MapError {
    /// A short, stable code for the reason, for metrics and the quarantine file.
    pub fn code(&self) -> &'static str {
        match self {
            MapError::Malformed { .. } => "malformed_record",
            MapError::Missing(_) => "missing_field",
            MapError::EventName(_) => "bad_event_name",
            MapError::SequenceNumber(_) => "bad_sequence_number",
            MapError::EventTime(_) | MapError::WriteTimestamp(_) => "bad_event_time",
            MapError::HashKey(_) => "bad_hash_key",
            MapError::HashKeyMismatch { .. } => "hash_key_mismatch",
            MapError::WrongType { .. } => "wrong_attribute_type",
            MapError::Number {
                source: NumberError::Syntax(_),
                ..
            } => "bad_number",
            MapError::Number {
                source: NumberError::NotIntegral(_),
                ..
            } => "number_not_integral",
            MapError::Number { .. } => "number_out_of_range",
            MapError::TimestampRange { .. } => "timestamp_out_of_range",
            MapError::TooLarge { .. } => "record_too_large",
        }
    }
}

/// Settings that are the same for every record of a batch.
#[derive(Debug, Clone, Copy)]
pub struct MapContext {
    /// Value of `exported_at`, epoch milliseconds.
    pub exported_at_ms: i64,
}

/// Position of a column in [`COLUMNS`], checked when compiling.
const fn index_of(name: &str) -> usize {
    let mut i = 0;
    while i < COLUMNS.len() {
        let (a, b) = (COLUMNS[i].name.as_bytes(), name.as_bytes());
        if a.len() == b.len() {
            let mut j = 0;
            while j < a.len() && a[j] == b[j] {
                j += 1;
            }
            if j == a.len() {
                return i;
            }
        }
        i += 1;
    }
    panic!("not a column of COLUMNS")
}

const EVENT_ID: usize = index_of("event_id");
const EVENT_NAME: usize = index_of("event_name");
const EVENT_TIME: usize = index_of("event_time");
/// Column of the zero-padded sequence number.
pub const SEQUENCE_NUMBER: usize = index_of("sequence_number");
const IS_TTL_EXPIRY: usize = index_of("is_ttl_expiry");
const PREVIOUS_STATUS: usize = index_of("previous_status");
const EXPORTED_AT: usize = index_of("exported_at");
const IMAGE_ID: usize = index_of(HASH_KEY);
const STATUS: usize = index_of("status");
const EXTRA_ATTRIBUTES: usize = index_of("extra_attributes");
const EXPIRES_AT: usize = index_of("expires_at");

/// Where a mapped row goes; its cells are in the buffer passed to [`map`].
#[derive(Debug)]
pub struct RowPlace<'a> {
    /// `eventSourceARN`, which names the stream (Lambda sets it; GetRecords does not).
    pub event_source_arn: Option<Text<'a>>,
    pub partition: Partition,
    /// Sequence number exactly as received (what Lambda's batch response must name).
    pub source_sequence_number: Cow<'a, str>,
    /// Bytes of text in the row's cells (at most [`MAX_ROW_TEXT_BYTES`]).
    pub text_bytes: usize,
}

/// An attribute value as DynamoDB JSON for a quarantine reason, cut at 100 characters.
fn wire_form(value: &AttributeValue<'_>) -> String {
    let text = serde_json::to_string(value).unwrap_or_else(|_| value.type_tag().to_owned());
    match text.char_indices().nth(100) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// Maps one record into `cells` (in [`COLUMNS`] order, replacing what was there), or says
/// why it cannot be a row. Takes what it keeps out of `record`, which is scratch space.
pub fn map<'a>(
    record: &mut StreamRecord<'a>,
    ctx: MapContext,
    cells: &mut Vec<Cell<'a>>,
) -> Result<RowPlace<'a>, MapError> {
    let event_id = record
        .event_id
        .take()
        .filter(|s| !s.is_empty())
        .ok_or(MapError::Missing("eventID"))?
        .into_cow();
    let event_name = record
        .event_name
        .take()
        .ok_or(MapError::Missing("eventName"))?
        .into_cow();
    // A table export's item is the state at the export time: SNAPSHOT.
    let snapshot = record.export.is_some() && event_name == "SNAPSHOT";
    if !snapshot && !matches!(&*event_name, "INSERT" | "MODIFY" | "REMOVE") {
        return Err(MapError::EventName(event_name.into_owned()));
    }
    if !record.has_dynamodb {
        return Err(MapError::Missing("dynamodb"));
    }
    let source_sequence_number = record
        .sequence_number
        .take()
        .ok_or(MapError::Missing("dynamodb.SequenceNumber"))?
        .into_cow();
    let sequence_number = pad_sequence_number(&source_sequence_number)?;
    let event_time_ms = match &record.export {
        Some(export) => export.event_time_ms,
        None => event_time_millis(
            record
                .creation_time
                .as_ref()
                .ok_or(MapError::Missing("dynamodb.ApproximateCreationDateTime"))?,
        )?,
    };
    let partition = Partition::of_millis(event_time_ms)
        .ok_or_else(|| MapError::EventTime(event_time_ms.to_string()))?;

    if !record.has_keys {
        return Err(MapError::Missing("dynamodb.Keys"));
    }
    // A repeated key name counts once, the last one, as in any JSON object.
    let image_id = match record.keys.iter().rposition(|(n, _)| &**n == HASH_KEY) {
        Some(i) => match record.keys.remove(i).1 {
            AttributeValue::S(s) if !s.is_empty() => s.into_cow(),
            other => return Err(MapError::HashKey(wire_form(&other))),
        },
        None => return Err(MapError::HashKey("nothing".into())),
    };

    let is_remove = event_name == "REMOVE";
    let old_part = |e: serde_json::Error| MapError::Malformed {
        path: "dynamodb.OldImage".to_owned(),
        message: e.to_string(),
    };
    let image = &mut record.new_image;
    let (previous, has_image) = if is_remove {
        // REMOVE maps the whole OldImage; its status is also the previous status.
        image.clear();
        if record.old_form == OldForm::Slots {
            std::mem::swap(image, &mut record.old_slots);
        }
        for (name, raw) in record.old_image.drain(..) {
            let value: AttributeValue<'a> = serde_json::from_str(raw.get()).map_err(old_part)?;
            image.insert(name, value);
        }
        (image.slots[STATUS].clone(), record.has_old_image)
    } else {
        // Only the status of the OldImage matters (the last one, if repeated).
        let previous = match record.old_form {
            OldForm::Status => record.old_status.take(),
            OldForm::Slots => record
                .old_slots
                .slots
                .get_mut(STATUS)
                .and_then(Option::take),
            OldForm::Raw => match record
                .old_image
                .iter()
                .rev()
                .find(|(n, _)| &**n == "status")
            {
                Some((_, raw)) => Some(serde_json::from_str(raw.get()).map_err(old_part)?),
                None => None,
            },
        };
        (previous, record.has_new_image)
    };
    let previous_status = match previous {
        None | Some(AttributeValue::Null(_)) => Cell::Null,
        Some(AttributeValue::S(s)) => Cell::Str(s.into_cow()),
        Some(other) => {
            return Err(MapError::WrongType {
                attribute: "previous_status",
                found: other.type_tag(),
                expected: "S",
            })
        }
    };
    let is_ttl_expiry = is_remove
        && record
            .user_identity
            .as_ref()
            .is_some_and(|u| u.is_dynamodb_service());

    if let Some(found) = image.slots[IMAGE_ID].take() {
        match found {
            AttributeValue::S(s) if *s == *image_id => {}
            AttributeValue::S(s) => {
                return Err(MapError::HashKeyMismatch {
                    key: image_id.into_owned(),
                    image: s.to_string(),
                })
            }
            other => return Err(MapError::HashKey(wire_form(&other))),
        }
    }
    // Built in column order, each cell once: the image columns from their slots, the others
    // null until they are set below.
    cells.clear();
    for (i, column) in COLUMNS.iter().enumerate() {
        cells.push(if column.origin == Origin::Image && i != IMAGE_ID {
            image_cell(column, image.slots[i].take())?
        } else {
            Cell::Null
        });
    }
    cells[EVENT_ID] = Cell::Str(event_id);
    cells[EVENT_NAME] = Cell::Str(event_name);
    cells[EVENT_TIME] = Cell::Timestamp(event_time_ms);
    cells[SEQUENCE_NUMBER] = Cell::Str(Cow::Owned(sequence_number));
    // A table export names no principal: a removal is taken for a TTL expiry when the item's
    // expires_at had passed at the time of the change.
    let is_ttl_expiry = match record.export {
        Some(_) => {
            is_remove && matches!(cells[EXPIRES_AT], Cell::Timestamp(ms) if ms <= event_time_ms)
        }
        None => is_ttl_expiry,
    };
    cells[IS_TTL_EXPIRY] = Cell::Bool(is_ttl_expiry);
    cells[PREVIOUS_STATUS] = previous_status;
    cells[EXPORTED_AT] = Cell::Timestamp(ctx.exported_at_ms);
    cells[IMAGE_ID] = Cell::Str(image_id);
    // Key attributes other than the hash key only matter when no image carries them.
    let keyless = !has_image && !record.keys.is_empty();
    if !image.extras.is_empty() || keyless {
        let mut extras: Item<'_> = image.extras.drain(..).collect();
        if !has_image {
            extras.extend(record.keys.drain(..).filter(|(n, _)| &**n != HASH_KEY));
        }
        if !extras.is_empty() {
            cells[EXTRA_ATTRIBUTES] = Cell::Str(Cow::Owned(extra_json(&extras)));
        }
    }

    let text_bytes: usize = cells
        .iter()
        .map(|cell| match cell {
            Cell::Str(s) => s.len(),
            Cell::List(items) => items.iter().map(|i| i.len()).sum(),
            _ => 0,
        })
        .sum();
    if text_bytes > MAX_ROW_TEXT_BYTES {
        return Err(MapError::TooLarge { bytes: text_bytes });
    }

    Ok(RowPlace {
        event_source_arn: record.event_source_arn.take(),
        partition,
        source_sequence_number,
        text_bytes,
    })
}

fn extra_json(extra: &Item<'_>) -> String {
    // Serializing a BTreeMap of plain enums cannot fail; fall back to an empty object anyway
    // rather than panic inside a batch.
    serde_json::to_string(extra).unwrap_or_else(|_| "{}".to_owned())
}

/// Converts one image attribute to its column's cell.
fn image_cell<'a>(
    column: &Column,
    value: Option<AttributeValue<'a>>,
) -> Result<Cell<'a>, MapError> {
    let attribute = column.name;
    let wrong = |found: &AttributeValue<'_>, expected: &'static str| MapError::WrongType {
        attribute,
        found: found.type_tag(),
        expected,
    };
    let number = |source: NumberError| MapError::Number { attribute, source };
    let Some(value) = value else {
        return Ok(Cell::Null);
    };
    if let AttributeValue::Null(_) = value {
        return Ok(Cell::Null);
    }
    Ok(match (column.kind, value) {
        (Kind::Str, AttributeValue::S(s)) => Cell::Str(s.into_cow()),
        (Kind::Int32, AttributeValue::N(n)) => Cell::I32(number::parse_i32(&n).map_err(number)?),
        (Kind::Int64, AttributeValue::N(n)) => Cell::I64(number::parse_i64(&n).map_err(number)?),
        (Kind::Float64, AttributeValue::N(n)) => Cell::F64(number::parse_f64(&n).map_err(number)?),
        (Kind::Bool, AttributeValue::Bool(b)) => Cell::Bool(b),
        (Kind::TimestampMillis, AttributeValue::N(n)) => {
            let ms = number::parse_i64(&n).map_err(number)?;
            Cell::Timestamp(check_timestamp(attribute, ms)?)
        }
        (Kind::TimestampSeconds, AttributeValue::N(n)) => {
            let secs = number::parse_i64(&n).map_err(number)?;
            let ms = secs.checked_mul(1000).ok_or(MapError::TimestampRange {
                attribute,
                value: secs,
            })?;
            Cell::Timestamp(check_timestamp(attribute, ms)?)
        }
        (Kind::StrList, AttributeValue::Ss(items)) => {
            Cell::List(items.into_iter().map(Text::into_cow).collect())
        }
        (Kind::StrList, AttributeValue::L(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    AttributeValue::S(s) => out.push(s.into_cow()),
                    other => return Err(wrong(&other, "L of S, or SS")),
                }
            }
            Cell::List(out)
        }
        (kind, other) => return Err(wrong(&other, expected_type(kind))),
    })
}

fn expected_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Str => "S",
        Kind::Int32 => "N (int32)",
        Kind::Int64 => "N (int64)",
        Kind::Float64 => "N (double)",
        Kind::Bool => "BOOL",
        Kind::TimestampMillis => "N (epoch milliseconds)",
        Kind::TimestampSeconds => "N (epoch seconds)",
        Kind::StrList => "L of S, or SS",
    }
}

fn check_timestamp(attribute: &'static str, ms: i64) -> Result<i64, MapError> {
    if (MIN_TIMESTAMP_MS..=MAX_TIMESTAMP_MS).contains(&ms) {
        Ok(ms)
    } else {
        Err(MapError::TimestampRange {
            attribute,
            value: ms,
        })
    }
}

/// Left-pads a sequence number to [`SEQUENCE_NUMBER_WIDTH`] digits.
pub fn pad_sequence_number(seq: &str) -> Result<String, MapError> {
    if seq.is_empty()
        || seq.len() > SEQUENCE_NUMBER_WIDTH
        || !seq.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(MapError::SequenceNumber(seq.to_owned()));
    }
    let mut padded = String::with_capacity(SEQUENCE_NUMBER_WIDTH);
    padded.extend(std::iter::repeat_n('0', SEQUENCE_NUMBER_WIDTH - seq.len()));
    padded.push_str(seq);
    Ok(padded)
}

/// Event time in epoch milliseconds from `ApproximateCreationDateTime`: epoch seconds as a
/// JSON number (integral or fractional) or numeric string, or an RFC 3339 string.
pub fn event_time_millis(value: &RawValue) -> Result<i64, MapError> {
    let text = value.get().trim();
    let bad = || MapError::EventTime(text.to_owned());
    let seconds = |s: &str| number::floor_scaled_non_negative(s, 3).ok();
    let ms = if text.starts_with('"') {
        let s: std::borrow::Cow<'_, str> = serde_json::from_str(text).map_err(|_| bad())?;
        match seconds(&s) {
            Some(ms) => ms,
            None => DateTime::parse_from_rfc3339(&s)
                .map_err(|_| bad())?
                .timestamp_millis(),
        }
    } else {
        // A JSON number, read from its text: no rounding through f64.
        seconds(text).ok_or_else(bad)?
    };
    if (0..=MAX_TIMESTAMP_MS).contains(&ms) {
        Ok(ms)
    } else {
        Err(bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::framing::{self, Framed};
    use crate::reader::{exact, explain};
    use crate::schema::column_index;

    /// A record mapped to a row, with where it goes.
    #[derive(Debug, Clone, PartialEq)]
    struct MappedRow<'a> {
        event_source_arn: Option<Text<'a>>,
        partition: Partition,
        sequence_number: String,
        source_sequence_number: String,
        cells: Vec<Cell<'a>>,
    }

    /// One record's text through the exact reader and the mapping.
    fn map_record(raw: &str) -> Result<MappedRow<'_>, MapError> {
        let mut record = StreamRecord::default();
        if exact::read(raw, &mut record).is_err() {
            return Err(explain::malformed(raw));
        }
        let mut cells = Vec::new();
        let place = map(&mut record, ctx(), &mut cells)?;
        let sequence_number = match &cells[SEQUENCE_NUMBER] {
            Cell::Str(s) => s.to_string(),
            _ => String::new(),
        };
        Ok(MappedRow {
            event_source_arn: place.event_source_arn,
            partition: place.partition,
            sequence_number,
            source_sequence_number: place.source_sequence_number.into_owned(),
            cells,
        })
    }

    const LIFECYCLE: &str = include_str!("../tests/fixtures/lambda_lifecycle.json");
    const GET_RECORDS: &str = include_str!("../tests/fixtures/get_records.json");
    const BAD: &str = include_str!("../tests/fixtures/bad_records.jsonl");
    const NOW: i64 = 1_795_600_000_000;

    fn ctx() -> MapContext {
        MapContext {
            exported_at_ms: NOW,
        }
    }

    fn split(input: &str) -> Vec<Framed<'_>> {
        framing::split(input.as_bytes()).unwrap()
    }

    fn map_all<'a>(records: &'a [Framed<'a>]) -> Vec<Result<MappedRow<'a>, MapError>> {
        records
            .iter()
            .map(|r| match r {
                Framed::Json(raw) => map_record(raw),
                Framed::NotJson { error, .. } => Err(MapError::Malformed {
                    path: String::new(),
                    message: error.clone(),
                }),
            })
            .collect()
    }

    fn cell<'a>(row: &'a MappedRow<'_>, name: &str) -> &'a Cell<'a> {
        &row.cells[column_index(name).unwrap()]
    }

    fn s(v: &str) -> Cell<'static> {
        Cell::Str(Cow::Owned(v.to_owned()))
    }

    #[test]
    fn lifecycle_maps_every_record_with_typed_columns() {
        let records = split(LIFECYCLE);
        let rows: Vec<MappedRow<'_>> = map_all(&records).into_iter().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 7);
        let processed = &rows[3];
        assert_eq!(cell(processed, "event_name"), &s("MODIFY"));
        assert_eq!(cell(processed, "status"), &s("PROCESSED"));
        assert_eq!(cell(processed, "previous_status"), &s("PROCESSING"));
        assert_eq!(cell(processed, "width"), &Cell::I32(4000));
        assert_eq!(cell(processed, "size_bytes"), &Cell::I64(2_481_923));
        assert_eq!(cell(processed, "mean_luma"), &Cell::F64(118.25));
        assert_eq!(cell(processed, "has_alpha"), &Cell::Bool(false));
        assert_eq!(
            cell(processed, "error_code"),
            &Cell::Null,
            "NULL attribute is null"
        );
        assert_eq!(
            cell(processed, "operations"),
            &Cell::List(vec![
                "orient".into(),
                "strip".into(),
                "resize:thumb".into(),
                "resize:display".into()
            ])
        );
        // received_at is epoch millis; expires_at is epoch seconds in the item.
        let Cell::Timestamp(received) = *cell(processed, "received_at") else {
            panic!()
        };
        let Cell::Timestamp(expires) = *cell(processed, "expires_at") else {
            panic!()
        };
        assert_eq!(received % 1000, 123);
        assert_eq!(expires, (received / 1000 + 7 * 86_400) * 1000);
        assert_eq!(cell(processed, "exported_at"), &Cell::Timestamp(NOW));
        assert_eq!(processed.partition.path(), "dt=2026-11-24/hour=10");
        assert_eq!(processed.sequence_number.len(), SEQUENCE_NUMBER_WIDTH);
        assert!(processed
            .sequence_number
            .ends_with(&processed.source_sequence_number));
        assert!(processed.event_source_arn.is_some());
        // Every change column of a full record is set.
        for (i, column) in COLUMNS.iter().enumerate() {
            if column.origin == Origin::Change {
                assert_ne!(processed.cells[i], Cell::Null, "{}", column.name);
            }
        }
    }

    #[test]
    fn unknown_attributes_are_kept_losslessly_as_dynamodb_json() {
        let records = split(LIFECYCLE);
        let rows: Vec<MappedRow<'_>> = map_all(&records).into_iter().map(Result::unwrap).collect();
        let Cell::Str(extra) = cell(&rows[3], "extra_attributes") else {
            panic!("no extras")
        };
        let value: serde_json::Value = serde_json::from_str(extra).unwrap();
        assert_eq!(
            value["huge_counter"]["N"],
            "12345678901234567890123456789012345678"
        );
        assert_eq!(value["tags"]["SS"], serde_json::json!(["beach", "sunset"]));
        assert_eq!(
            value["focal_lengths"]["NS"],
            serde_json::json!(["23", "56.0"])
        );
        assert_eq!(value["thumbhash"]["B"], "3OcRJYB4d3h/iIeHeEh3eIhw+j3A");
        assert_eq!(
            value["checksums"]["BS"],
            serde_json::json!(["AAEC", "AwQF"])
        );
        assert_eq!(value["note"]["NULL"], true);
        assert_eq!(value["reviewed"]["BOOL"], false);
        assert_eq!(value["client_hints"]["M"]["viewport"]["L"][0]["N"], "1280");
        assert_eq!(
            value.as_object().unwrap().len(),
            8,
            "known columns are not repeated: {extra}"
        );
        assert_eq!(cell(&rows[0], "extra_attributes"), &Cell::Null);
    }

    #[test]
    fn ttl_removal_is_flagged_and_user_removal_is_not() {
        let records = split(LIFECYCLE);
        let rows: Vec<MappedRow<'_>> = map_all(&records).into_iter().map(Result::unwrap).collect();
        let ttl = &rows[5];
        assert_eq!(cell(ttl, "event_name"), &s("REMOVE"));
        assert_eq!(cell(ttl, "is_ttl_expiry"), &Cell::Bool(true));
        assert_eq!(
            cell(ttl, "status"),
            &s("PROCESSED"),
            "REMOVE maps the OldImage"
        );
        assert_eq!(cell(ttl, "previous_status"), &s("PROCESSED"));
        assert_eq!(ttl.partition.path(), "dt=2026-12-01/hour=09");
        let user = &rows[6];
        assert_eq!(cell(user, "is_ttl_expiry"), &Cell::Bool(false));
        assert_eq!(cell(user, "error_code"), &s("unsupported_format"));
    }

    #[test]
    fn get_records_shapes_and_view_types_map() {
        let records = split(GET_RECORDS);
        let rows: Vec<MappedRow<'_>> = map_all(&records).into_iter().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 3);
        // KEYS_ONLY: only the key; fractional seconds are floored to milliseconds.
        assert_eq!(cell(&rows[0], "image_id"), &s("01JDFY9X0000000000000000KO"));
        assert_eq!(cell(&rows[0], "status"), &Cell::Null);
        assert_eq!(cell(&rows[0], "extra_attributes"), &Cell::Null);
        let Cell::Timestamp(t) = *cell(&rows[0], "event_time") else {
            panic!()
        };
        assert_eq!(t % 1000, 417);
        assert!(
            rows[0].event_source_arn.is_none(),
            "no eventSourceARN in GetRecords"
        );
        // NEW_IMAGE: no OldImage, so no previous status.
        assert_eq!(cell(&rows[1], "status"), &s("PROCESSING"));
        assert_eq!(cell(&rows[1], "previous_status"), &Cell::Null);
        // 12:59:59.9996 stays in hour 12.
        assert_eq!(rows[2].partition.path(), "dt=2026-11-24/hour=12");
    }

    #[test]
    fn bad_records_get_precise_reasons() {
        let records = split(BAD);
        let results = map_all(&records);
        let codes: Vec<&str> = results
            .iter()
            .map(|r| r.as_ref().map(|_| "ok").unwrap_or_else(MapError::code))
            .collect();
        assert_eq!(
            codes,
            [
                "ok",
                "number_out_of_range",
                "wrong_attribute_type",
                "bad_hash_key",
                "malformed_record",
                "missing_field",
                "malformed_record",
                "bad_event_name",
                "ok"
            ]
        );
        let msg = |i: usize| results[i].as_ref().unwrap_err().to_string();
        assert_eq!(
            msg(1),
            "attribute `width`: `99999999999` does not fit int32"
        );
        assert_eq!(msg(2), "attribute `height` is S, expected N (int32)");
        assert!(msg(6).contains("dynamodb.NewImage.weird"), "{}", msg(6));
        assert_eq!(msg(5), "missing `dynamodb.SequenceNumber`");
    }

    #[test]
    fn event_time_accepts_seconds_and_iso_strings() {
        let ms = |json: &str| {
            let raw = RawValue::from_string(json.to_owned()).expect("json");
            event_time_millis(&raw)
        };
        assert_eq!(ms("1700000000"), Ok(1_700_000_000_000));
        assert_eq!(ms("1700000000.25"), Ok(1_700_000_000_250));
        assert_eq!(ms(r#""1700000000""#), Ok(1_700_000_000_000));
        assert_eq!(
            ms(r#""2023-11-14T22:13:20.5+00:00""#),
            Ok(1_700_000_000_500)
        );
        // Exact: f64 would round these up into the next hour, and lose the millisecond.
        assert_eq!(ms("1795517999.999999999"), Ok(1_795_517_999_999));
        assert_eq!(ms(r#""1795517999.999999999""#), Ok(1_795_517_999_999));
        assert_eq!(ms("1.001"), Ok(1_001));
        for bad in [
            "-1",
            r#""yesterday""#,
            "null",
            "1e300",
            "true",
            r#""1960-01-01T00:00:00Z""#,
        ] {
            assert!(ms(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sequence_numbers_pad_to_sortable_strings() {
        let a = pad_sequence_number("999").unwrap();
        let b = pad_sequence_number("1000").unwrap();
        assert!(a < b);
        assert_eq!(b.len(), SEQUENCE_NUMBER_WIDTH);
        assert!(pad_sequence_number("12a").is_err());
        assert!(pad_sequence_number("").is_err());
        assert!(pad_sequence_number(&"1".repeat(41)).is_err());
    }

    #[test]
    fn attribute_values_without_one_type_key_are_named() {
        let reason = |value: &str| {
            let raw = RawValue::from_string(format!(
                r#"{{"eventID":"e","eventName":"INSERT","dynamodb":{{"ApproximateCreationDateTime":1700000000,"SequenceNumber":"1","Keys":{{"image_id":{{"S":"a"}}}},"NewImage":{{"image_id":{{"S":"a"}},"meta":{{"M":{{"inner":{value}}}}}}}}}}}"#
            ))
            .expect("json");
            map_record(raw.get()).unwrap_err().to_string()
        };
        assert_eq!(
            reason(r#"{"S":"x","N":"1"}"#),
            "malformed stream record at `dynamodb.NewImage.meta.M.inner`: an attribute value \
             has 2 type keys (`N`, `S`): it needs exactly one"
        );
        assert!(
            reason("{}").ends_with(
                "has no type key: it needs exactly one of S, N, B, BOOL, NULL, M, L, SS, NS, BS"
            ),
            "{}",
            reason("{}")
        );
        // Other problems keep serde's own words.
        assert!(reason(r#"{"Q":"1"}"#).contains("unknown variant `Q`"));
        // The hash key's wrong type is shown as DynamoDB JSON.
        let raw = RawValue::from_string(
            r#"{"eventID":"e","eventName":"INSERT","dynamodb":{"ApproximateCreationDateTime":1700000000,"SequenceNumber":"1","Keys":{"image_id":{"N":"1"}}}}"#.into(),
        )
        .unwrap();
        assert_eq!(
            map_record(raw.get()).unwrap_err().to_string(),
            r#"Keys.image_id must be a non-empty S, got {"N":"1"}"#
        );
    }

    #[test]
    fn image_hash_key_must_agree_with_keys() {
        let raw = serde_json::value::RawValue::from_string(
            r#"{"eventID":"e","eventName":"INSERT","dynamodb":{"ApproximateCreationDateTime":1700000000,"SequenceNumber":"1","Keys":{"image_id":{"S":"a"}},"NewImage":{"image_id":{"S":"b"}}}}"#.into(),
        )
        .unwrap();
        assert_eq!(
            map_record(raw.get()).unwrap_err().code(),
            "hash_key_mismatch"
        );
    }
}
