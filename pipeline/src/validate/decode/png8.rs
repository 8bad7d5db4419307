//! PNG decoded straight into what processing works on: 8 bits per sample (16-bit samples are
//! reduced as each row is decoded, by the png crate's `STRIP_16`), palette and transparency
//! expanded, gray widened to RGB and gray + alpha to RGBA row by row. The largest buffer is
//! the RGB8 / RGBA8 image itself: a 7000×7000 16-bit RGBA PNG takes 196 MB, not the 392 MB
//! of its 16-bit pixels plus the 196 MB of their 8-bit copy.
//!
//! Interlaced images arrive in seven passes, so they are decoded whole in their own channels
//! first and widened after (the memory budget counts both buffers for them).

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use image::{DynamicImage, RgbImage, RgbaImage};
use png::{BitDepth, ColorType, DecodingError, Transformations};

use super::super::{Probe, RejectCode, Rejection};

/// What the png crate may allocate besides the image (row buffers, chunk data).
const PNG_DECODER_BYTES: usize = 64 * 1024 * 1024;

/// Decodes a validated PNG into RGB8 (no alpha channel) or RGBA8.
pub(super) fn decode(bytes: &[u8], probe: &Probe) -> Result<DynamicImage, Rejection> {
    // A decoder bug on hostile input must become a rejection, not take down the worker.
    match catch_unwind(AssertUnwindSafe(|| decode_inner(bytes, probe))) {
        Ok(result) => result,
        Err(_) => Err(Rejection::new(
            RejectCode::DecodeFailed,
            "PNG data could not be decoded (decoder failure)",
        )),
    }
}

fn decode_inner(bytes: &[u8], probe: &Probe) -> Result<DynamicImage, Rejection> {
    let mut decoder = png::Decoder::new_with_limits(
        Cursor::new(bytes),
        png::Limits {
            bytes: PNG_DECODER_BYTES,
        },
    );
    decoder.set_transformations(Transformations::EXPAND | Transformations::STRIP_16);
    // Text and ICC profiles are not used (outputs carry no metadata); skipping them also
    // skips their decompression.
    decoder.set_ignore_text_chunk(true);
    decoder.set_ignore_iccp_chunk(true);
    let mut reader = decoder.read_info().map_err(rejection)?;
    let (width, height, interlaced) = {
        let info = reader.info();
        (info.width, info.height, info.interlaced)
    };
    if (width, height) != (probe.width, probe.height) {
        return Err(Rejection::new(
            RejectCode::DecodeFailed,
            format!(
                "PNG decodes as {width}×{height} but its header declares {}×{}",
                probe.width, probe.height
            ),
        ));
    }
    let (color, depth) = reader.output_color_type();
    let channels: usize = match (color, depth) {
        (ColorType::Grayscale, BitDepth::Eight) => 1,
        (ColorType::GrayscaleAlpha, BitDepth::Eight) => 2,
        (ColorType::Rgb, BitDepth::Eight) => 3,
        (ColorType::Rgba, BitDepth::Eight) => 4,
        _ => {
            return Err(Rejection::new(
                RejectCode::DecodeFailed,
                format!("PNG decodes to {color:?} at {depth:?} bits, not 8-bit samples"),
            ))
        }
    };
    let target = if channels.is_multiple_of(2) { 4 } else { 3 };
    let w = usize::try_from(width).map_err(|_| too_large(probe))?;
    let h = usize::try_from(height).map_err(|_| too_large(probe))?;
    let mut pixels = zeroed(w * h * target, probe)?;
    if interlaced {
        let size = reader
            .output_buffer_size()
            .ok_or_else(|| too_large(probe))?;
        let mut native = zeroed(size, probe)?;
        reader.next_frame(&mut native).map_err(rejection)?;
        widen(&native, channels, &mut pixels, target);
    } else {
        let line = reader
            .output_line_size(width)
            .ok_or_else(|| too_large(probe))?;
        let mut row = vec![0u8; line];
        for out in pixels.chunks_exact_mut(w * target) {
            match reader.read_row(&mut row).map_err(rejection)? {
                Some(_) => widen(&row[..w * channels], channels, out, target),
                None => {
                    return Err(Rejection::new(
                        RejectCode::Truncated,
                        "PNG data is truncated: it ends before the image does",
                    ))
                }
            }
        }
        // The end of the image data (its checksum) and of the file, as a whole decode reads.
        reader.finish().map_err(rejection)?;
    }
    let image = if target == 3 {
        RgbImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgb8)
    } else {
        RgbaImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgba8)
    };
    image.ok_or_else(|| too_large(probe))
}

/// A zeroed buffer of `len` bytes, or a rejection when the allocator refuses it.
fn zeroed(len: usize, probe: &Probe) -> Result<Vec<u8>, Rejection> {
    let mut buffer = Vec::new();
    buffer
        .try_reserve_exact(len)
        .map_err(|_| too_large(probe))?;
    buffer.resize(len, 0);
    Ok(buffer)
}

/// Copies pixels of `channels` samples into pixels of `target` (3 or 4) samples: gray is
/// repeated into R, G and B; a missing alpha is opaque.
fn widen(from: &[u8], channels: usize, to: &mut [u8], target: usize) {
    if channels == target {
        to.copy_from_slice(&from[..to.len()]);
        return;
    }
    for (src, dst) in from.chunks_exact(channels).zip(to.chunks_exact_mut(target)) {
        match channels {
            1 => dst.copy_from_slice(&[src[0], src[0], src[0]]),
            2 => dst.copy_from_slice(&[src[0], src[0], src[0], src[1]]),
            _ => {}
        }
    }
}

fn too_large(probe: &Probe) -> Rejection {
    Rejection::new(
        RejectCode::PixelBudgetExceeded,
        format!(
            "decoding this {}×{} PNG needs more memory than its size allows",
            probe.width, probe.height
        ),
    )
}

fn rejection(error: DecodingError) -> Rejection {
    match error {
        DecodingError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            Rejection::new(
                RejectCode::Truncated,
                "PNG data is truncated: it ends before the image does",
            )
        }
        DecodingError::LimitsExceeded => Rejection::new(
            RejectCode::PixelBudgetExceeded,
            "decoding this PNG needs more memory than its size allows",
        ),
        other => {
            let text = other.to_string();
            let detail: String = text.chars().take(200).collect();
            Rejection::new(
                RejectCode::DecodeFailed,
                format!("PNG data could not be decoded: {detail}"),
            )
        }
    }
}
