//! The item's lifecycle, written once: each status an image reaches is a method that returns
//! the item as it must be stored at that step. The handlers (upload, Kafka, worker) call these
//! and only decide *when*; what a RECEIVED, PROCESSING, REJECTED, FAILED or PROCESSED item
//! carries is decided here.
//!
//! ```text
//! received ─► accepted (raw bytes stored) ─► processing ─► processed
//!     │                                          ├──────► failed
//!     └──────────────► rejected ◄────────────────┘
//! ```

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ImageItem, Status};

/// Longest `error_message` recorded (the item stays far below DynamoDB's 400 KB).
pub const MAX_ERROR_MESSAGE: usize = 1000;

/// One processed variant as the item's `variants_json` lists it (a JSON array of these).
/// The fields are declared in name order, so the stored JSON keeps its keys sorted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variant {
    /// Size of the encoded file in bytes.
    pub bytes: u64,
    /// Its encoding: `jpeg`, `png` or `webp` (lossy and lossless WebP are both `webp`).
    pub format: String,
    /// Height in pixels.
    pub height: u32,
    /// Object key of the encoded file in the processed store: `<image_id>/<name>.<ext>`.
    pub key: String,
    /// The variant's name in the recipe, e.g. `thumb`.
    pub name: String,
    /// Width in pixels.
    pub width: u32,
}

/// What validation read of an accepted image, in the item's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    /// MIME type detected from magic bytes.
    pub content_type: &'a str,
    /// `jpeg | png | webp | gif | tiff`.
    pub format: &'a str,
    /// Displayed width: after EXIF orientation (orientations 5..=8 swap the stored sides).
    pub width: u32,
    /// Displayed height, likewise.
    pub height: u32,
}

/// What processing measured, in the item's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome<'a> {
    /// The header as processing read it (the same image, so the same values as at ingest).
    pub header: Header<'a>,
    pub size_bytes: u64,
    pub sha256: &'a str,
    pub dominant_color: &'a str,
    pub mean_luma: f64,
    pub sharpness: f64,
    pub has_alpha: bool,
    pub camera_make: Option<&'a str>,
    pub camera_model: Option<&'a str>,
    pub captured_at: Option<i64>,
    /// The stored variants, in recipe order.
    pub variants: &'a [Variant],
    /// What was done, in order.
    pub operations: &'a [String],
    /// Wall time of processing.
    pub processing_ms: u128,
}

fn to_i32(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `text` cut to at most `max` bytes on a character boundary, with `…` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

impl ImageItem {
    /// The arrival's bytes: their size and SHA-256, recorded before validation so that a
    /// refused image says what was refused.
    pub fn with_content(mut self, size_bytes: u64, sha256: String) -> ImageItem {
        self.size_bytes = Some(to_i64(size_bytes));
        self.sha256 = Some(sha256);
        self
    }

    /// An image still to be uploaded (a presigned form was issued): the key its raw bytes
    /// will be stored under. RECEIVED; processing starts when they arrive.
    pub fn awaiting_upload(mut self, raw_key: String) -> ImageItem {
        self.raw_key = Some(raw_key);
        self
    }

    /// An accepted image: what its header says and where its raw bytes are stored. Still
    /// RECEIVED (processing follows).
    pub fn accepted(mut self, header: Header<'_>, raw_key: String) -> ImageItem {
        self.set_header(header);
        self.raw_key = Some(raw_key);
        self
    }

    fn set_header(&mut self, header: Header<'_>) {
        self.content_type = Some(header.content_type.to_owned());
        self.format = Some(header.format.to_owned());
        self.width = Some(to_i32(header.width));
        self.height = Some(to_i32(header.height));
    }

    /// RECEIVED → PROCESSING: a worker claimed it.
    pub fn processing(&self) -> ImageItem {
        ImageItem {
            status: Status::Processing,
            ..self.clone()
        }
    }

    /// → REJECTED: the input is not an acceptable image (permanent), with its reason.
    pub fn rejected(&self, code: &str, message: &str, now: DateTime<Utc>) -> ImageItem {
        self.refused(Status::Rejected, code, message, now)
    }

    /// → FAILED: processing could not be done (after the retries), with its reason.
    pub fn failed(&self, code: &str, message: &str, now: DateTime<Utc>) -> ImageItem {
        self.refused(Status::Failed, code, message, now)
    }

    fn refused(&self, status: Status, code: &str, message: &str, now: DateTime<Utc>) -> ImageItem {
        ImageItem {
            status,
            error_code: Some(code.to_owned()),
            error_message: Some(truncate(message, MAX_ERROR_MESSAGE)),
            processed_at: Some(now.timestamp_millis()),
            ..self.clone()
        }
    }

    /// PROCESSING → PROCESSED: the features, the stored variants and what was done.
    pub fn processed(&self, outcome: &Outcome<'_>, now: DateTime<Utc>) -> ImageItem {
        let mut item = ImageItem {
            status: Status::Processed,
            size_bytes: Some(to_i64(outcome.size_bytes)),
            sha256: Some(outcome.sha256.to_owned()),
            dominant_color: Some(outcome.dominant_color.to_owned()),
            mean_luma: Some(outcome.mean_luma),
            sharpness: Some(outcome.sharpness),
            has_alpha: Some(outcome.has_alpha),
            camera_make: outcome.camera_make.map(str::to_owned),
            camera_model: outcome.camera_model.map(str::to_owned),
            captured_at: outcome.captured_at,
            variant_count: Some(i32::try_from(outcome.variants.len()).unwrap_or(i32::MAX)),
            variants_json: Some(variants_json(outcome.variants)),
            processed_bytes: Some(to_i64(outcome.variants.iter().map(|v| v.bytes).sum())),
            operations: Some(outcome.operations.to_vec()),
            processing_ms: Some(i32::try_from(outcome.processing_ms).unwrap_or(i32::MAX)),
            error_code: None,
            error_message: None,
            processed_at: Some(now.timestamp_millis()),
            ..self.clone()
        };
        item.set_header(outcome.header);
        item
    }

    /// The variants of a PROCESSED item; empty when it has none or `variants_json` is not
    /// the documented array.
    pub fn variants(&self) -> Vec<Variant> {
        self.variants_json
            .as_deref()
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_default()
    }
}

/// The `variants_json` text of `variants`.
fn variants_json(variants: &[Variant]) -> String {
    // A list of plain structs of strings and integers always serializes.
    serde_json::to_string(variants).unwrap_or_else(|_| "[]".to_owned())
}
