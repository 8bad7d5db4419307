//! Lines of a DynamoDB table export (DYNAMODB_JSON), read as the stream records they stand
//! for, so that they take the same mapping, batches and files as stream records.
//!
//! A full export's line is `{"Item": {…}}`: the item as it was at the export time. An
//! incremental export's line is `{"Metadata": {"WriteTimestampMicros": …}, "Keys": {…},
//! "NewImage": {…}, "OldImage": {…}}`: an item's net change over the export's window (the
//! export is compacted to one line per item), `NewImage` absent for a deletion and `OldImage`
//! absent for an item created in the window or with the `NEW_IMAGE` view. In the lake:
//!
//! | field | full export | incremental export |
//! | --- | --- | --- |
//! | `event_name` | `SNAPSHOT` | `INSERT` (no OldImage, NEW_AND_OLD_IMAGES view), `MODIFY` (NewImage), `REMOVE` (no NewImage) |
//! | `event_time` | the export time | `WriteTimestampMicros` (DynamoDB's clock), floored to ms |
//! | `sequence_number` | the export time in µs | `WriteTimestampMicros` |
//! | `event_id` | `export:<export id>:<image_id>` | the same |
//! | `is_ttl_expiry` | false | a REMOVE whose OldImage's `expires_at` had passed (inferred) |
//!
//! A µs timestamp has 16 digits, and DynamoDB's stream sequence numbers at least 21: padded to
//! 40 digits, an export's row sorts below every stream row. Ordered by
//! [`crate::schema::RECENCY_ORDER`] (as the views and reconcile do), an export row falls among
//! an image's stream rows at its time (a full export's SNAPSHOT before the stream rows of its
//! second), and a stream row of the same millisecond comes after it. The event id makes a replay
//! of the same export rewrite, and the views and compaction drop, its own rows only.

use std::borrow::Cow;

use crate::attr::{AttributeValue, Text};
use crate::record::{ExportFacts, StreamRecord};
use crate::row::MapError;
use crate::schema::{column_index, HASH_KEY};

/// What is known of the export a line comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportContext {
    /// `exportArn` of the manifest: the stream label of the export's files derives from it.
    pub export_arn: String,
    /// The last segment of the ARN, e.g. `01234567890123-a1b2c3d4`: in every row's event id.
    pub export_id: String,
    pub kind: ExportKind,
}

/// Full or incremental.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    /// A snapshot at `export_time_ms`.
    Full { export_time_ms: i64 },
    /// Net changes over a window.
    Incremental { view: ExportView },
}

/// What an incremental export's lines hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportView {
    /// `NewImage` and, for items that existed when the window opened, `OldImage`.
    NewAndOldImages,
    /// `NewImage` only: a created item cannot be told from a changed one.
    NewImage,
}

impl ExportContext {
    /// The id at the end of an export ARN (`…/export/<id>`), or the ARN itself.
    pub fn id_of(export_arn: &str) -> &str {
        export_arn.rsplit('/').next().unwrap_or(export_arn)
    }
}

/// Which shape a line had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineShape {
    /// `{"Item": …}`.
    Item,
    /// `{"Metadata": …, "Keys": …, "NewImage": …, "OldImage": …}`.
    Change,
}

/// Fills in what a stream record would have said, from a line read into `record` (its images
/// and keys in place, `WriteTimestampMicros` in `sequence_number`), or says why the line is
/// not one of this export's.
pub fn complete(
    record: &mut StreamRecord<'_>,
    shape: LineShape,
    context: &ExportContext,
) -> Result<(), MapError> {
    record.has_dynamodb = true;
    record.event_source_arn = Some(Text(Cow::Owned(context.export_arn.clone())));
    let event_time_ms = match (shape, context.kind) {
        (LineShape::Item, ExportKind::Full { export_time_ms }) => {
            record.event_name = Some(Text(Cow::Borrowed("SNAPSHOT")));
            record.sequence_number = Some(Text(Cow::Owned(
                export_time_ms.saturating_mul(1000).to_string(),
            )));
            // A full export's line carries no Keys: the item's own hash key is its key.
            if let Some(id) = hash_key_slot().and_then(|i| record.new_image.slots[i].clone()) {
                record.keys.push((Text(Cow::Borrowed(HASH_KEY)), id));
                record.has_keys = true;
            }
            export_time_ms
        }
        (LineShape::Change, ExportKind::Incremental { view }) => {
            let name = match (record.has_new_image, record.has_old_image, view) {
                (false, _, _) => "REMOVE",
                (true, false, ExportView::NewAndOldImages) => "INSERT",
                (true, _, _) => "MODIFY",
            };
            record.event_name = Some(Text(Cow::Borrowed(name)));
            let micros = record
                .sequence_number
                .as_deref()
                .ok_or(MapError::Missing("Metadata.WriteTimestampMicros"))?;
            let micros = crate::number::parse_i64(micros)
                .ok()
                .filter(|m| *m >= 0)
                .ok_or_else(|| MapError::WriteTimestamp(micros.to_owned()))?;
            // Written as the digits, whichever way the line wrote the number.
            record.sequence_number = Some(Text(Cow::Owned(micros.to_string())));
            micros / 1000
        }
        (LineShape::Change, ExportKind::Full { .. }) => {
            return Err(MapError::Malformed {
                path: ".".to_owned(),
                message: "a line of an incremental export (Keys, NewImage, OldImage) in a full \
                          export, whose lines are {\"Item\": …}"
                    .to_owned(),
            })
        }
        (LineShape::Item, ExportKind::Incremental { .. }) => {
            return Err(MapError::Malformed {
                path: ".".to_owned(),
                message: "a line of a full export ({\"Item\": …}) in an incremental export"
                    .to_owned(),
            })
        }
    };
    let image_id = record
        .keys
        .iter()
        .rev()
        .find(|(name, _)| &**name == HASH_KEY)
        .map(|(_, value)| match value {
            AttributeValue::S(id) => id.to_string(),
            _ => String::new(),
        });
    record.event_id = Some(Text(Cow::Owned(format!(
        "export:{}:{}",
        context.export_id,
        image_id.unwrap_or_default()
    ))));
    record.export = Some(ExportFacts { event_time_ms });
    Ok(())
}

fn hash_key_slot() -> Option<usize> {
    column_index(HASH_KEY)
}
