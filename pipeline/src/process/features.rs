//! Analytics features of an image: computed from the oriented pixels (on a copy of at most
//! 512 px per side) and the original bytes, plus what EXIF says about the camera. Location is
//! never read.

use fast_image_resize::Resizer;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::exif_meta::ExifMeta;
use super::recipe::Resize;
use super::transform;
use super::Source;
use crate::validate::ImageFormat;

/// Longest side of the copy the pixel statistics are computed on.
pub const ANALYSIS_SIDE: u32 = 512;
/// Bits kept per channel in the dominant-colour histogram (4 → 4096 bins).
const HISTOGRAM_BITS: u32 = 4;

/// What is recorded about an image on its metadata item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Features {
    /// Width after EXIF orientation.
    pub width: u32,
    /// Height after EXIF orientation.
    pub height: u32,
    /// Input format (from magic bytes).
    pub format: ImageFormat,
    /// Input length in bytes.
    pub size_bytes: u64,
    /// Hex SHA-256 of the original bytes.
    pub sha256: String,
    /// `#rrggbb`: the mean colour of the most populated bin of a 4-bit-per-channel histogram
    /// (transparent pixels ignored).
    pub dominant_color: String,
    /// Mean Rec.601 luma, 0..=255 (alpha ignored).
    pub mean_luma: f64,
    /// Variance of the 4-neighbour Laplacian of the luma; 0 for a flat image, larger when
    /// sharper (noise counts too).
    pub sharpness: f64,
    /// The image has an alpha channel and at least one pixel that is not opaque.
    pub has_alpha: bool,
    /// EXIF orientation that was applied (1 when none).
    pub orientation: u8,
    /// EXIF `Make`.
    pub camera_make: Option<String>,
    /// EXIF `Model`.
    pub camera_model: Option<String>,
    /// EXIF `DateTimeOriginal` in epoch milliseconds (UTC when EXIF gives no offset).
    pub captured_at: Option<i64>,
}

/// Computes the features of the oriented image (RGB8 or RGBA8 pixels, possibly decoded at
/// reduced size) decoded from `bytes`.
pub(super) fn compute(
    resizer: &mut Resizer,
    source: Source<'_>,
    bytes: &[u8],
    format: ImageFormat,
    exif: &ExifMeta,
    has_alpha: bool,
) -> Result<Features, fast_image_resize::ResizeError> {
    let small_plan = transform::plan(
        Resize::Fit {
            width: ANALYSIS_SIDE,
            height: ANALYSIS_SIDE,
        },
        source.width,
        source.height,
    );
    let small = transform::resize(resizer, source.image, small_plan)?.to_rgba8();
    let (w, h) = small.dimensions();
    let luma: Vec<f64> = small
        .pixels()
        .map(|p| {
            let [r, g, b, _] = p.0;
            0.299 * f64::from(r) + 0.587 * f64::from(g) + 0.114 * f64::from(b)
        })
        .collect();
    let mean_luma = if luma.is_empty() {
        0.0
    } else {
        luma.iter().sum::<f64>() / luma.len() as f64
    };
    Ok(Features {
        width: source.width,
        height: source.height,
        format,
        size_bytes: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
        sha256: sha256_hex(bytes),
        dominant_color: dominant_color(small.pixels().map(|p| p.0)),
        mean_luma: round3(mean_luma.clamp(0.0, 255.0)),
        sharpness: round3(laplacian_variance(&luma, w as usize, h as usize)),
        has_alpha,
        orientation: exif.orientation.unwrap_or(1),
        camera_make: exif.camera_make.clone(),
        camera_model: exif.camera_model.clone(),
        captured_at: exif.captured_at,
    })
}

/// Three decimals are plenty and keep the lake's doubles short.
fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

/// Mean colour of the fullest histogram bin; ties go to the lower bin; white when every
/// pixel is transparent.
fn dominant_color(pixels: impl Iterator<Item = [u8; 4]>) -> String {
    let shift = 8 - HISTOGRAM_BITS;
    let bins = 1usize << (3 * HISTOGRAM_BITS);
    let mut count = vec![0u64; bins];
    let mut sums = vec![[0u64; 3]; bins];
    for [r, g, b, a] in pixels {
        if a < 128 {
            continue;
        }
        let bin = (usize::from(r >> shift) << (2 * HISTOGRAM_BITS))
            | (usize::from(g >> shift) << HISTOGRAM_BITS)
            | usize::from(b >> shift);
        count[bin] += 1;
        sums[bin][0] += u64::from(r);
        sums[bin][1] += u64::from(g);
        sums[bin][2] += u64::from(b);
    }
    let best = (0..bins).fold(0, |best, i| if count[i] > count[best] { i } else { best });
    if count[best] == 0 {
        return "#ffffff".into();
    }
    let n = count[best];
    let [r, g, b] = sums[best].map(|s| (s + n / 2) / n);
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// Variance of the 4-neighbour Laplacian over interior pixels (0 below 3×3).
fn laplacian_variance(luma: &[f64], w: usize, h: usize) -> f64 {
    if w < 3 || h < 3 {
        return 0.0;
    }
    let (mut sum, mut sum_sq, mut n) = (0.0, 0.0, 0.0);
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let i = y * w + x;
            let v = luma[i - 1] + luma[i + 1] + luma[i - w] + luma[i + w] - 4.0 * luma[i];
            sum += v;
            sum_sq += v * v;
            n += 1.0;
        }
    }
    let mean = sum / n;
    (sum_sq / n - mean * mean).max(0.0)
}

/// The SHA-256 of `bytes` as lowercase hex: the item's `sha256` of an image's raw bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
