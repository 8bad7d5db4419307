//! Pixel work for one variant: geometric ops, the resize (fast_image_resize, Lanczos3), tonal
//! ops. Sizes are planned first ([`plan`]) so that no mode ever upscales.

use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::DynamicImage;

use super::recipe::{Op, Resize};

/// The output size of a resize and whether the source is centre-cropped to its aspect ratio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub width: u32,
    pub height: u32,
    pub crop_to_fill: bool,
}

/// Output size for `resize` of a `src_w`×`src_h` image; never larger than the source on
/// either side, never 0.
pub fn plan(resize: Resize, src_w: u32, src_h: u32) -> Plan {
    let (bw, bh) = resize.size();
    let (sw, sh) = (f64::from(src_w), f64::from(src_h));
    let (fw, fh) = (f64::from(bw), f64::from(bh));
    match resize {
        Resize::Fit { .. } => {
            let scale = (fw / sw).min(fh / sh).min(1.0);
            Plan {
                width: scaled(sw, scale, src_w),
                height: scaled(sh, scale, src_h),
                crop_to_fill: false,
            }
        }
        Resize::Cover { .. } => {
            // Shrink the box (keeping its aspect) until it fits inside the source.
            let k = (sw / fw).min(sh / fh).min(1.0);
            Plan {
                width: scaled(fw, k, bw).min(src_w),
                height: scaled(fh, k, bh).min(src_h),
                crop_to_fill: true,
            }
        }
        Resize::Exact { .. } => Plan {
            width: bw.min(src_w),
            height: bh.min(src_h),
            crop_to_fill: false,
        },
    }
}

/// How many times smaller the source of `plan` (a `src_w`×`src_h` image) could be and
/// still be resized *down* to it: the smaller per-axis ratio of the region the resize reads
/// (the whole image, or the centred region of the plan's aspect ratio for a cover) to the
/// plan's size. At least 1, since no plan upscales.
pub fn shrink_room(plan: Plan, src_w: u32, src_h: u32) -> f64 {
    let (sw, sh) = (f64::from(src_w), f64::from(src_h));
    let (pw, ph) = (f64::from(plan.width), f64::from(plan.height));
    let (read_w, read_h) = if plan.crop_to_fill && sw * ph > sh * pw {
        (sh * pw / ph, sh)
    } else if plan.crop_to_fill {
        (sw, sw * ph / pw)
    } else {
        (sw, sh)
    };
    (read_w / pw).min(read_h / ph).max(1.0)
}

/// `round(side × scale)`, at least 1 and at most `max`.
fn scaled(side: f64, scale: f64, max: u32) -> u32 {
    let value = (side * scale).round();
    if value < 1.0 {
        1
    } else if value >= f64::from(max) {
        max
    } else {
        // In 1..max, so the cast is exact.
        value as u32
    }
}

/// Resamples `src` to `plan`'s size with Lanczos3 (SIMD where the CPU has it). The source
/// must be RGB8, RGBA8, L8 or LA8.
pub fn resize(
    resizer: &mut Resizer,
    src: &DynamicImage,
    plan: Plan,
) -> Result<DynamicImage, fast_image_resize::ResizeError> {
    let same_aspect = u64::from(plan.width) * u64::from(src.height())
        == u64::from(plan.height) * u64::from(src.width());
    if plan.width == src.width() && plan.height == src.height() {
        return Ok(src.clone());
    }
    let mut dst = DynamicImage::new(plan.width, plan.height, src.color());
    let mut options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    if plan.crop_to_fill && !same_aspect {
        options = options.fit_into_destination(Some((0.5, 0.5)));
    }
    resizer.resize(src, &mut dst, &options)?;
    Ok(dst)
}

/// Why a geometric op could not be applied to this image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpOutOfBounds {
    pub op: String,
    pub width: u32,
    pub height: u32,
}

/// Applies one op; only a crop can fail (it must lie inside the image).
pub fn apply(image: DynamicImage, op: Op) -> Result<DynamicImage, OpOutOfBounds> {
    Ok(match op {
        Op::Rotate90 => image.rotate90(),
        Op::Rotate180 => image.rotate180(),
        Op::Rotate270 => image.rotate270(),
        Op::FlipH => image.fliph(),
        Op::FlipV => image.flipv(),
        Op::Crop {
            x,
            y,
            width,
            height,
        } => {
            let inside = u64::from(x) + u64::from(width) <= u64::from(image.width())
                && u64::from(y) + u64::from(height) <= u64::from(image.height());
            if !inside {
                return Err(OpOutOfBounds {
                    op: op.label(),
                    width: image.width(),
                    height: image.height(),
                });
            }
            image.crop_imm(x, y, width, height)
        }
        Op::Grayscale => {
            if image.color().has_alpha() {
                DynamicImage::ImageLumaA8(image.to_luma_alpha8())
            } else {
                DynamicImage::ImageLuma8(image.to_luma8())
            }
        }
        Op::Blur { sigma } => image.blur(sigma),
        Op::Sharpen { sigma, threshold } => image.unsharpen(sigma, threshold),
        Op::Brightness { delta } => image.brighten(delta),
        Op::Contrast { delta } => image.adjust_contrast(delta),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fit(width: u32, height: u32) -> Resize {
        Resize::Fit { width, height }
    }
    fn cover(width: u32, height: u32) -> Resize {
        Resize::Cover { width, height }
    }

    #[test]
    fn plans_never_upscale() {
        assert_eq!(plan(fit(1024, 1024), 4000, 3000).width, 1024);
        assert_eq!(plan(fit(1024, 1024), 4000, 3000).height, 768);
        let small = plan(fit(1024, 1024), 300, 200);
        assert_eq!((small.width, small.height), (300, 200));
        let c = plan(cover(256, 256), 4000, 3000);
        assert_eq!((c.width, c.height), (256, 256));
        let c = plan(cover(256, 256), 100, 300);
        assert_eq!((c.width, c.height), (100, 100));
        let c = plan(cover(256, 128), 200, 1000);
        assert_eq!((c.width, c.height), (200, 100));
        let e = plan(
            Resize::Exact {
                width: 500,
                height: 50,
            },
            300,
            200,
        );
        assert_eq!((e.width, e.height), (300, 50));
        let tiny = plan(fit(10, 10), 10_000, 1);
        assert_eq!((tiny.width, tiny.height), (10, 1));
    }
}
