//! The few EXIF fields processing uses: orientation, camera make/model, capture time.
//!
//! Read with kamadak-exif from the original bytes (JPEG APP1, PNG eXIf, WebP EXIF, TIFF).
//! Only the tags named here are ever read; GPS and every other tag are ignored, and outputs
//! are re-encoded from pixels so no metadata reaches them. A missing or corrupt EXIF block
//! is not an error: the image is processed as if it had none.

use std::io::Cursor;

use chrono::{NaiveDate, NaiveDateTime};
use exif::{Exif, In, Tag, Value};
use image::metadata::Orientation;

/// Longest make or model string kept (longer values are cut at a character boundary).
const MAX_TEXT_CHARS: usize = 64;

/// What processing takes from EXIF.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExifMeta {
    /// EXIF Orientation 1..=8, when present and valid.
    pub orientation: Option<u8>,
    /// `Make`, trimmed.
    pub camera_make: Option<String>,
    /// `Model`, trimmed.
    pub camera_model: Option<String>,
    /// `DateTimeOriginal` as epoch milliseconds: with `OffsetTimeOriginal` when present,
    /// otherwise read as UTC. `SubSecTimeOriginal` adds milliseconds.
    pub captured_at: Option<i64>,
}

impl ExifMeta {
    /// Reads the fields from an image file's bytes; never fails.
    pub fn read(bytes: &[u8]) -> ExifMeta {
        match exif::Reader::new().read_from_container(&mut Cursor::new(bytes)) {
            Ok(exif) => ExifMeta::from_exif(&exif),
            Err(error) => {
                tracing::debug!(%error, "no usable EXIF");
                ExifMeta::default()
            }
        }
    }

    fn from_exif(exif: &Exif) -> ExifMeta {
        let orientation = exif
            .get_field(Tag::Orientation, In::PRIMARY)
            .and_then(|f| f.value.get_uint(0))
            .and_then(|v| u8::try_from(v).ok())
            .filter(|v| (1..=8).contains(v));
        ExifMeta {
            orientation,
            camera_make: ascii(exif, Tag::Make),
            camera_model: ascii(exif, Tag::Model),
            captured_at: captured_at(exif),
        }
    }

    /// The orientation to apply to the decoded pixels (identity when absent).
    pub fn image_orientation(&self) -> Orientation {
        self.orientation
            .and_then(Orientation::from_exif)
            .unwrap_or(Orientation::NoTransforms)
    }
}

/// The first ASCII value of a primary-IFD tag, trimmed of NULs and blanks, if not empty.
fn ascii(exif: &Exif, tag: Tag) -> Option<String> {
    let field = exif.get_field(tag, In::PRIMARY)?;
    let Value::Ascii(values) = &field.value else {
        return None;
    };
    let raw = values.first()?;
    let text = String::from_utf8_lossy(raw);
    let text = text.trim_matches(|c: char| c == '\0' || c.is_whitespace() || c.is_control());
    if text.is_empty() {
        return None;
    }
    Some(text.chars().take(MAX_TEXT_CHARS).collect())
}

/// `DateTimeOriginal` (+ offset, + subseconds) as epoch milliseconds.
fn captured_at(exif: &Exif) -> Option<i64> {
    let field = exif.get_field(Tag::DateTimeOriginal, In::PRIMARY)?;
    let Value::Ascii(values) = &field.value else {
        return None;
    };
    let mut dt = exif::DateTime::from_ascii(values.first()?).ok()?;
    if let Some(Value::Ascii(sub)) = exif
        .get_field(Tag::SubSecTimeOriginal, In::PRIMARY)
        .map(|f| &f.value)
    {
        if let Some(sub) = sub.first() {
            // Ignore a malformed value rather than the whole timestamp.
            let _ = dt.parse_subsec(sub);
        }
    }
    if let Some(Value::Ascii(offset)) = exif
        .get_field(Tag::OffsetTimeOriginal, In::PRIMARY)
        .map(|f| &f.value)
    {
        if let Some(offset) = offset.first() {
            let _ = dt.parse_offset(offset);
        }
    }
    let naive: NaiveDateTime =
        NaiveDate::from_ymd_opt(i32::from(dt.year), u32::from(dt.month), u32::from(dt.day))?
            .and_hms_opt(
                u32::from(dt.hour),
                u32::from(dt.minute),
                u32::from(dt.second),
            )?;
    let millis = i64::from(dt.nanosecond.unwrap_or(0) / 1_000_000);
    let offset_ms = i64::from(dt.offset.unwrap_or(0)) * 60_000;
    Some(naive.and_utc().timestamp_millis() + millis - offset_ms)
}
