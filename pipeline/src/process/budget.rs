//! The memory processing one image takes, from its header and the recipe, and the budget that
//! workers reserve it from before they decode.
//!
//! [`processing_cost`] adds to the decode's cost ([`decode_cost`]) what [`super::process`]
//! allocates after it: a quarter-turn of the EXIF orientation (a second image), a recipe's
//! geometric ops (a copy and its result), and for each variant the resizer's intermediate
//! rows, its output, a tonal op's copy and the encoded file, which is kept until the variants
//! are stored. [`MemoryBudget`] is one process's budget: workers that share it (`imglake
//! serve`'s) wait until their image's cost is free, so together they stay within it.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::exif_meta::ExifMeta;
use super::recipe::{Recipe, Resize};
use super::transform::plan;
use super::{max_shrink, ANALYSIS_SIDE};
use crate::validate::{
    decode_cost, layout, shrunk_side, validate, ImageFormat, Layout, Limits, Probe, Rejection, MIB,
};

/// The reductions the JPEG decoder can do in the DCT domain, largest first (as
/// `validate::decode_guarded_shrunk` picks them).
const JPEG_SHRINKS: [u32; 3] = [8, 4, 2];

/// What processing `bytes` with `recipe` costs at its peak, in bytes (input included), after
/// validating them against `limits`. The decode is judged at the reduction processing will
/// use. Over `limits.max_memory_bytes` it is a rejection.
pub fn processing_cost(bytes: &[u8], recipe: &Recipe, limits: &Limits) -> Result<u64, Rejection> {
    let probe = validate(bytes, limits)?;
    let exif = ExifMeta::read(bytes);
    let (width, height) = probe.displayed_size(exif.orientation);
    let layout = layout(&probe, bytes);
    let cost = cost_of(
        &probe,
        &layout,
        recipe,
        exif.orientation.unwrap_or(1),
        max_shrink(recipe, width, height),
    );
    if cost > limits.max_memory_bytes {
        return Err(Rejection::over_memory_budget(
            &probe,
            &layout,
            cost,
            limits,
            "processing",
        ));
    }
    Ok(cost)
}

/// The reduction the decoder will use for a `max_shrink` plan.
pub(super) fn decoder_shrink(probe: &Probe, layout: &Layout, max_shrink: u32) -> u32 {
    if probe.format != ImageFormat::Jpeg || layout.channels == 4 {
        return 1;
    }
    JPEG_SHRINKS
        .into_iter()
        .find(|&s| s <= max_shrink)
        .unwrap_or(1)
}

/// [`processing_cost`] of a validated image: `orientation` is its EXIF orientation (1..=8),
/// `max_shrink` what [`max_shrink`] allows for the recipe.
pub(super) fn cost_of(
    probe: &Probe,
    layout: &Layout,
    recipe: &Recipe,
    orientation: u8,
    max_shrink: u32,
) -> u64 {
    let shrink = decoder_shrink(probe, layout, max_shrink);
    let decode = decode_cost(probe, layout, shrink);
    let image = decode.image;
    // The decoded (possibly reduced) image as processing holds it, oriented.
    let (mut width, mut height) = (
        shrunk_side(probe.width, shrink),
        shrunk_side(probe.height, shrink),
    );
    let (full_w, full_h) = probe.displayed_size(Some(orientation));
    if orientation >= 5 {
        (width, height) = (height, width);
    }
    let per_pixel = image / (u64::from(width) * u64::from(height)).max(1);
    let mut cost = decode.peak().saturating_add(probe.size_bytes);
    // A quarter-turn writes a second image (flips are done in place).
    if orientation >= 5 {
        cost = cost.saturating_add(image);
    }
    let geometric = recipe
        .variants
        .iter()
        .any(|v| v.ops.iter().any(|op| op.is_geometric()));
    if geometric {
        // The borrowed image is copied, then the op writes its result.
        cost = cost.saturating_add(image.saturating_mul(2));
    }
    let area = |w: u32, h: u32| u64::from(w) * u64::from(h) * per_pixel;
    // Each step: the resizer's rows (one pass at the output's width over the source's
    // height, or the other way), its output, a tonal op's copy, the encoded file.
    let step = |resize: Option<Resize>, tonal: bool| -> (u64, u64) {
        let (out_w, out_h) = match resize {
            Some(resize) => {
                let p = plan(resize, full_w, full_h);
                (p.width, p.height)
            }
            None => (width, height),
        };
        let rows = if resize.is_some() {
            area(out_w, height).max(area(width, out_h))
        } else {
            0
        };
        let out = area(out_w, out_h);
        let peak = rows
            .saturating_add(out)
            .saturating_add(if tonal { out } else { 0 })
            .saturating_add(out);
        (peak, out)
    };
    let analysis = Resize::Fit {
        width: ANALYSIS_SIDE,
        height: ANALYSIS_SIDE,
    };
    let mut worst = step(Some(analysis), true).0;
    let mut encoded = 0u64;
    for variant in &recipe.variants {
        let tonal = variant.ops.iter().any(|op| !op.is_geometric());
        let (peak, out) = step(variant.resize, tonal);
        worst = worst.max(peak);
        encoded = encoded.saturating_add(out);
    }
    cost.saturating_add(worst).saturating_add(encoded)
}

/// One process's memory budget for images, reserved in whole mebibytes.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    total_mib: u32,
    semaphore: Arc<Semaphore>,
}

/// Memory reserved for one image; given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    _permit: Option<OwnedSemaphorePermit>,
    /// Mebibytes held.
    pub mib: u32,
}

impl MemoryBudget {
    /// A budget of `bytes` (at least 1 MiB).
    pub fn new(bytes: u64) -> MemoryBudget {
        let total_mib = u32::try_from(bytes / MIB).unwrap_or(u32::MAX).max(1);
        MemoryBudget {
            total_mib,
            semaphore: Arc::new(Semaphore::new(total_mib as usize)),
        }
    }

    /// The whole budget in bytes.
    pub fn total_bytes(&self) -> u64 {
        u64::from(self.total_mib) * MIB
    }

    /// What is not reserved now, in bytes.
    pub fn available_bytes(&self) -> u64 {
        self.semaphore.available_permits() as u64 * MIB
    }

    /// Waits until `bytes` (rounded up to mebibytes, at most the whole budget) are free and
    /// reserves them. An image over the whole budget is refused by processing itself; it
    /// reserves everything meanwhile, so it runs alone.
    pub async fn reserve(&self, bytes: u64) -> Reservation {
        let mib = u32::try_from(bytes.div_ceil(MIB))
            .unwrap_or(u32::MAX)
            .min(self.total_mib);
        let permit = self.semaphore.clone().acquire_many_owned(mib).await.ok();
        Reservation {
            _permit: permit,
            mib,
        }
    }
}

impl Default for MemoryBudget {
    fn default() -> Self {
        MemoryBudget::new(crate::validate::DEFAULT_MAX_MEMORY_BYTES)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use image::{DynamicImage, Rgba, RgbaImage};

    use super::*;
    use crate::validate::RejectCode;

    fn rgba16_png(width: u32, height: u32) -> Vec<u8> {
        let image = image::ImageBuffer::<Rgba<u16>, Vec<u16>>::from_fn(width, height, |x, y| {
            let x = u16::try_from(x).unwrap_or(0);
            let y = u16::try_from(y).unwrap_or(0);
            Rgba([x.wrapping_mul(601), y.wrapping_mul(977), 0x8000, u16::MAX])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        DynamicImage::ImageRgba16(image)
            .write_to(&mut out, image::ImageFormat::Png)
            .unwrap();
        out.into_inner()
    }

    #[test]
    fn a_16_bit_png_is_processed_from_8_bit_samples_within_its_cost() {
        let png = rgba16_png(640, 480);
        let recipe = Recipe::default();
        let cost = processing_cost(&png, &recipe, &Limits::default()).unwrap();
        // The RGBA8 image, the resizer's rows and outputs, the headroom: nowhere near the
        // 16-bit image twice over.
        assert!(cost < 640 * 480 * 8 + 40 * MIB, "{cost}");
        let done = super::super::process(&png, &recipe, &Limits::default()).unwrap();
        assert_eq!(done.variants.len(), 2);
        // Within a budget just below its cost it is refused before decoding.
        let tight = Limits {
            max_memory_bytes: cost - 1,
            ..Limits::default()
        };
        let err = super::super::process(&png, &recipe, &tight).unwrap_err();
        assert_eq!(err.code(), RejectCode::MemoryBudgetExceeded.as_str());
        assert!(err
            .to_string()
            .starts_with("processing this 640×480 16-bit RGBA PNG"));
    }

    #[test]
    fn sixteen_bit_samples_keep_their_high_byte() {
        let png = rgba16_png(64, 8);
        let decoded = crate::validate::decode_guarded(&png, &Limits::default()).expect("decodes");
        let reference = image::load_from_memory(&png).unwrap().to_rgba8();
        // Opaque: RGB8, each sample within one step of the image crate's rounding.
        let DynamicImage::ImageRgba8(ours) = decoded else {
            panic!("RGBA8 expected, got {:?}", decoded.color());
        };
        for (a, b) in ours.pixels().zip(reference.pixels()) {
            for c in 0..4 {
                assert!(a.0[c].abs_diff(b.0[c]) <= 1, "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn an_opaque_rgba_image_becomes_rgb_in_its_own_buffer() {
        let rgba = RgbaImage::from_fn(33, 7, |x, y| {
            Rgba([
                u8::try_from(x).unwrap(),
                u8::try_from(y).unwrap(),
                u8::try_from(x + y).unwrap(),
                255,
            ])
        });
        let expected = DynamicImage::ImageRgba8(rgba.clone()).to_rgb8();
        let rgb = super::super::drop_alpha_in_place(rgba);
        assert_eq!(rgb, expected);
        assert_eq!(rgb.as_raw().capacity(), 33 * 7 * 3);
    }

    #[test]
    fn rotation_geometry_and_progressive_coding_cost_more() {
        let jpeg = |progressive: bool| {
            let mut j = crate::samples::jpeg(&crate::samples::photo(400, 300, 1), 85);
            if progressive {
                // Turn SOF0 into SOF2: only the header matters to the cost.
                let at = j.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
                j[at + 1] = 0xC2;
            }
            j
        };
        let probe = validate(&jpeg(false), &Limits::default()).unwrap();
        let plain = layout(&probe, &jpeg(false));
        let progressive = layout(&probe, &jpeg(true));
        let recipe = Recipe::default();
        let base = cost_of(&probe, &plain, &recipe, 1, 1);
        assert!(cost_of(&probe, &progressive, &recipe, 1, 1) > base);
        assert!(cost_of(&probe, &plain, &recipe, 6, 1) > base);
        assert!(
            cost_of(&probe, &plain, &recipe, 1, 4) < base,
            "a 1/4 decode costs less"
        );
    }

    #[tokio::test]
    async fn workers_sharing_a_budget_wait_for_each_other() {
        let budget = MemoryBudget::new(1000 * MIB);
        let first = budget.reserve(600 * MIB).await;
        assert_eq!(first.mib, 600);
        assert_eq!(budget.available_bytes(), 400 * MIB);
        let waiting = tokio::time::timeout(Duration::from_millis(100), budget.reserve(600 * MIB));
        assert!(
            waiting.await.is_err(),
            "600 MiB more cannot fit while 600 are held"
        );
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(1), budget.reserve(600 * MIB))
            .await
            .expect("free again");
        // More than the whole budget holds all of it (processing refuses such an image).
        drop(second);
        assert_eq!(budget.reserve(5000 * MIB).await.mib, 1000);
    }
}
