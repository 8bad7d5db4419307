//! The full decode, guarded: limits from the validated header, errors as rejections.

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::{header, validate, Limits, Probe, RejectCode, Rejection};

/// Extra bytes a decoder may allocate beyond the decoded image (tables, row buffers, ICC).
const DECODER_HEADROOM_BYTES: u64 = 32 * 1024 * 1024;
/// Longest decoder detail quoted in a rejection message.
const MAX_DETAIL_CHARS: usize = 200;

/// Validates `bytes`, then fully decodes them with decoder limits set from the header.
///
/// The decoder is forced to the sniffed format and may not exceed the validated width and
/// height, nor allocate more than the decoded image needs plus a fixed headroom. GIF and
/// animated WebP yield their first frame.
pub fn decode_guarded(bytes: &[u8], limits: &Limits) -> Result<image::DynamicImage, Rejection> {
    let probe = validate(bytes, limits)?;
    let format = probe.format;
    if let Some(detail) = header::missing_end(format, bytes) {
        return Err(Rejection::new(
            RejectCode::Truncated,
            format!("{} data is truncated: {detail}", format.label()),
        ));
    }
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_image_width = Some(probe.width);
    decoder_limits.max_image_height = Some(probe.height);
    decoder_limits.max_alloc = Some(
        probe
            .pixels()
            .saturating_mul(format.max_bytes_per_pixel())
            .saturating_add(DECODER_HEADROOM_BYTES),
    );
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), format.image_format());
    reader.limits(decoder_limits);
    // Last line of defence: a decoder bug on hostile input must become a rejection, not take
    // down the worker (and poison its queue). Nothing outlives the closure, so no state is
    // observed after an unwind.
    match catch_unwind(AssertUnwindSafe(move || reader.decode())) {
        Ok(Ok(image)) if image.width() == probe.width && image.height() == probe.height => {
            Ok(image)
        }
        Ok(Ok(image)) => Err(Rejection::new(
            RejectCode::DecodeFailed,
            format!(
                "{} decoded to {}×{} but its header declares {}×{}",
                format.label(),
                image.width(),
                image.height(),
                probe.width,
                probe.height
            ),
        )),
        Ok(Err(error)) => Err(decode_rejection(&probe, &error)),
        Err(_) => Err(Rejection::new(
            RejectCode::DecodeFailed,
            format!(
                "{} data could not be decoded (decoder failure)",
                format.label()
            ),
        )),
    }
}

/// Maps a decoder error to a rejection.
fn decode_rejection(probe: &Probe, error: &image::ImageError) -> Rejection {
    use image::ImageError;
    let label = probe.format.label();
    match error {
        ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            Rejection::new(
                RejectCode::Truncated,
                format!("{label} data is truncated: it ends before the image does"),
            )
        }
        ImageError::Limits(_) => Rejection::new(
            RejectCode::PixelBudgetExceeded,
            format!(
                "decoding this {}×{} {label} needs more memory than its size allows",
                probe.width, probe.height
            ),
        ),
        ImageError::Unsupported(_) => {
            Rejection::unsupported(format!("this {label} variant ({})", detail(error)))
        }
        _ => Rejection::new(
            RejectCode::DecodeFailed,
            format!("{label} data could not be decoded: {}", detail(error)),
        ),
    }
}

/// The decoder's own words, bounded in length.
fn detail(error: &image::ImageError) -> String {
    let text = error.to_string();
    match text.char_indices().nth(MAX_DETAIL_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}
