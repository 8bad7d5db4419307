//! The full decode, guarded: limits from the validated header, errors as rejections.
//!
//! [`decode_guarded`] decodes every pixel. [`decode_guarded_shrunk`] may decode a JPEG at
//! 1/2, 1/4 or 1/8 of its size instead (jpeg-decoder's DCT-domain scaling: the reduced
//! inverse DCT of each 8×8 block, so the full-size image never exists), which is what makes
//! thumbnails of camera photographs cheap. Both run behind the same checks and the same
//! unwind guard; whatever the reduced decoder cannot do, or fails on, is left to the full
//! decoder, so a rejection is always the full decoder's.

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use image::{DynamicImage, GrayImage, RgbImage};
use jpeg_decoder::{CodingProcess, PixelFormat};

use super::budget::{shrunk_side, DECODER_HEADROOM_BYTES};
use super::{header, validate, ImageFormat, Limits, Probe, RejectCode, Rejection};

mod png8;

/// Longest decoder detail quoted in a rejection message.
const MAX_DETAIL_CHARS: usize = 200;
/// Bytes per source pixel a reduced JPEG decode may hold: a progressive JPEG keeps every DCT
/// coefficient (2 bytes) of up to three full-resolution components until its last scan.
const SHRUNK_JPEG_BYTES_PER_PIXEL: u64 = 6;
/// The reductions the JPEG decoder can do in the DCT domain, largest first.
const JPEG_SHRINKS: [u32; 3] = [8, 4, 2];

/// A decoded image and how much smaller than the stored image it was decoded.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The pixels: `ceil(width / shrink)` × `ceil(height / shrink)` of the stored image.
    pub image: DynamicImage,
    /// 1 (every pixel), or 2, 4 or 8 for a JPEG decoded at reduced size.
    pub shrink: u32,
}

/// Validates `bytes`, then fully decodes them with decoder limits set from the header.
///
/// The decoder is forced to the sniffed format and may not exceed the validated width and
/// height, nor allocate more than the decoded image needs plus a fixed headroom. GIF and
/// animated WebP yield their first frame.
pub fn decode_guarded(bytes: &[u8], limits: &Limits) -> Result<DynamicImage, Rejection> {
    let probe = validate(bytes, limits)?;
    check_complete(bytes, &probe)?;
    decode_full(bytes, &probe)
}

/// Like [`decode_guarded`], but a JPEG may be decoded at 1/2, 1/4 or 1/8 of its size: the
/// largest of those that is at most `max_shrink`, so each side of the result is at least
/// its stored side divided by `max_shrink`. Other formats, `max_shrink` below 2, and JPEGs
/// the reduced decoder does not handle (CMYK, 12-bit, lossless, arithmetic-coded, corrupt)
/// are decoded in full.
///
/// The reduced decoder reads the frame header first and refuses any frame whose size is not
/// the validated one; its allocations are then bounded by the validated pixel count
/// (at most 6 bytes per pixel for a progressive JPEG's coefficients, plus the reduced image).
pub fn decode_guarded_shrunk(
    bytes: &[u8],
    limits: &Limits,
    max_shrink: u32,
) -> Result<Decoded, Rejection> {
    let probe = validate(bytes, limits)?;
    check_complete(bytes, &probe)?;
    if probe.format == ImageFormat::Jpeg {
        if let Some(shrink) = JPEG_SHRINKS.into_iter().find(|&s| s <= max_shrink) {
            if let Some(image) = decode_jpeg_shrunk(bytes, &probe, shrink) {
                return Ok(Decoded { image, shrink });
            }
        }
    }
    decode_full(bytes, &probe).map(|image| Decoded { image, shrink: 1 })
}

/// A file whose data ends before the image does is refused before any decoder runs.
fn check_complete(bytes: &[u8], probe: &Probe) -> Result<(), Rejection> {
    match header::missing_end(probe, bytes) {
        Some(detail) => Err(Rejection::new(
            RejectCode::Truncated,
            format!("{} data is truncated: {detail}", probe.format.label()),
        )),
        None => Ok(()),
    }
}

/// The full decode of validated bytes, with the `image` crate's decoder limits.
fn decode_full(bytes: &[u8], probe: &Probe) -> Result<DynamicImage, Rejection> {
    let format = probe.format;
    if format == ImageFormat::Png {
        // 8 bits per sample as the rows are decoded: a 16-bit RGBA PNG never exists at
        // 8 bytes a pixel.
        return png8::decode(bytes, probe);
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
        Ok(Err(error)) => Err(decode_rejection(probe, &error)),
        Err(_) => Err(Rejection::new(
            RejectCode::DecodeFailed,
            format!(
                "{} data could not be decoded (decoder failure)",
                format.label()
            ),
        )),
    }
}

/// The JPEG decoded at `1/shrink` of its size by jpeg-decoder, or `None` when this decoder
/// should not or could not do it (the full decoder then decides).
fn decode_jpeg_shrunk(bytes: &[u8], probe: &Probe, shrink: u32) -> Option<DynamicImage> {
    let (width, height) = (
        shrunk_side(probe.width, shrink),
        shrunk_side(probe.height, shrink),
    );
    // Same unwind guard as the full decode; nothing outlives the closure.
    let decoded = catch_unwind(AssertUnwindSafe(|| {
        let mut decoder = jpeg_decoder::Decoder::new(bytes);
        decoder.read_info().ok()?;
        let info = decoder.info()?;
        let channels: u64 = match info.pixel_format {
            PixelFormat::L8 => 1,
            PixelFormat::RGB24 => 3,
            PixelFormat::L16 | PixelFormat::CMYK32 => return None,
        };
        let dct = matches!(
            info.coding_process,
            CodingProcess::DctSequential | CodingProcess::DctProgressive
        );
        let declared = (u32::from(info.width), u32::from(info.height));
        if !dct || declared != (probe.width, probe.height) {
            return None;
        }
        // Everything this decode may hold, against a budget from the validated pixel count.
        let padded = |side: u32| u64::from(side) + 32;
        let coefficients = if info.coding_process == CodingProcess::DctProgressive {
            channels * 2 * padded(probe.width) * padded(probe.height)
        } else {
            0
        };
        let output = channels * u64::from(width) * u64::from(height);
        let planes = channels * padded(width) * padded(height);
        let budget = probe
            .pixels()
            .saturating_mul(SHRUNK_JPEG_BYTES_PER_PIXEL)
            .saturating_add(DECODER_HEADROOM_BYTES);
        if coefficients + planes + output > budget {
            return None;
        }
        let requested = (u16::try_from(width).ok()?, u16::try_from(height).ok()?);
        let scaled = decoder.scale(requested.0, requested.1).ok()?;
        if (u32::from(scaled.0), u32::from(scaled.1)) != (width, height) {
            return None;
        }
        decoder.set_max_decoding_buffer_size(usize::try_from(output).ok()?);
        let pixels = decoder.decode().ok()?;
        match info.pixel_format {
            PixelFormat::RGB24 => RgbImage::from_raw(width, height, pixels).map(DynamicImage::from),
            _ => GrayImage::from_raw(width, height, pixels).map(DynamicImage::from),
        }
    }));
    match decoded {
        Ok(image) => image,
        Err(_) => {
            tracing::debug!("reduced JPEG decoder panicked; decoding in full instead");
            None
        }
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

#[cfg(test)]
mod tests;
