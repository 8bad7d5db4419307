//! Processing: validated bytes → oriented pixels → variants and analytics features.
//!
//! [`process`] is a pure function over bytes (no I/O, no clock):
//!
//! 1. [`decode_guarded_shrunk`] validates and decodes with bounded memory (bad input →
//!    [`Rejection`]), once. When every variant (and the analysis copy) is a pure resize to
//!    at most 1/2, 1/4 or 1/8 of the image, a JPEG is decoded at that reduced size in the DCT
//!    domain ([`max_shrink`]): the full-size pixels never exist. Sizes are still planned from
//!    the full image, so outputs have the same dimensions either way.
//! 2. The EXIF orientation (kamadak-exif, from the original bytes) is applied to the pixels
//!    before anything else; pixels become RGB8, or RGBA8 when some pixel is transparent.
//! 3. [`Features`] are computed from the oriented pixels and the original bytes (EXIF camera
//!    make/model and capture time; never location).
//! 4. Each [`Variant`] of the [`Recipe`]: geometric ops, resize with fast_image_resize
//!    (Lanczos3; no mode upscales), tonal ops, encode. Encoders only see pixels, so outputs
//!    carry no EXIF, GPS, XMP or ICC: re-encoding is the metadata strip.
//!
//! Errors are classified by [`ProcessError::is_permanent`]: a permanent error fails the same
//! way on every retry (the image goes to REJECTED or FAILED); a retryable one may not.

mod encode;
mod exif_meta;
mod features;
mod recipe;
#[cfg(test)]
mod tests;
mod transform;

use std::borrow::Cow;

use fast_image_resize::Resizer;
use image::DynamicImage;
use serde::Serialize;
use thiserror::Error;

use crate::model::{self, Header, Outcome};
use crate::validate::{decode_guarded_shrunk, validate, Limits, Probe, Rejection};

pub use exif_meta::ExifMeta;
pub use features::{sha256_hex, Features, ANALYSIS_SIDE};
pub use recipe::{
    Op, OutputFormat, Recipe, RecipeError, Resize, Variant, DEFAULT_QUALITY, MAX_SIDE, MAX_VARIANTS,
};
pub use transform::{plan, Plan};

/// One encoded variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Output {
    /// The variant's name from the recipe.
    pub name: String,
    /// Its encoding.
    pub format: OutputFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The encoded file.
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

/// Everything processing produced for one image.
#[derive(Debug, Clone, PartialEq)]
pub struct Processed {
    /// What validation read from the header (dimensions as stored, before orientation).
    pub probe: Probe,
    /// Analytics features (dimensions after orientation).
    pub features: Features,
    /// The variants, in recipe order.
    pub variants: Vec<Output>,
    /// What was done, in order, for the item's `operations` list, e.g. `orient:6`, `strip`,
    /// `thumb:resize cover 256x256`, `thumb:encode jpeg q82`.
    pub operations: Vec<String>,
    /// How many times smaller than stored the image was decoded (1, or 2, 4, 8 for a JPEG
    /// decoded at reduced size); not recorded on the item.
    pub decode_shrink: u32,
}

impl Processed {
    /// Total bytes of all variants.
    pub fn processed_bytes(&self) -> u64 {
        self.variants.iter().map(|v| v.bytes.len() as u64).sum()
    }

    /// What the item records of this result, once the variants are stored as `variants`.
    pub fn outcome<'a>(
        &'a self,
        variants: &'a [model::Variant],
        processing_ms: u128,
    ) -> Outcome<'a> {
        let f = &self.features;
        Outcome {
            header: Header {
                content_type: f.format.content_type(),
                format: f.format.name(),
                width: f.width,
                height: f.height,
            },
            size_bytes: f.size_bytes,
            sha256: &f.sha256,
            dominant_color: &f.dominant_color,
            mean_luma: f.mean_luma,
            sharpness: f.sharpness,
            has_alpha: f.has_alpha,
            camera_make: f.camera_make.as_deref(),
            camera_model: f.camera_model.as_deref(),
            captured_at: f.captured_at,
            variants,
            operations: &self.operations,
            processing_ms,
        }
    }
}

/// Why an image could not be processed.
#[derive(Debug, Error)]
pub enum ProcessError {
    /// The input is not an acceptable image (validation or decoding). Permanent.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The recipe is not valid. Permanent (fix the recipe and reprocess).
    #[error("the recipe is not valid: {0}")]
    Recipe(#[from] RecipeError),
    /// A crop of `variant` does not fit this image. Permanent for this image and recipe.
    #[error(
        "variant `{variant}`: {op} does not fit inside the {width}×{height} image; change the \
         crop in the recipe"
    )]
    CropOutside {
        variant: String,
        op: String,
        width: u32,
        height: u32,
    },
    /// Resampling failed (an internal error: unsupported pixel layout). Permanent.
    #[error("variant `{variant}`: resizing failed: {source}")]
    Resize {
        variant: String,
        #[source]
        source: fast_image_resize::ResizeError,
    },
    /// The encoder failed. Retryable when it ran out of a resource (memory limits, I/O),
    /// permanent when it refused the pixels.
    #[error("variant `{variant}`: {format} encoding failed: {source}")]
    Encode {
        variant: String,
        format: &'static str,
        #[source]
        source: image::ImageError,
    },
}

impl ProcessError {
    /// Whether retrying the same bytes with the same recipe fails the same way.
    pub fn is_permanent(&self) -> bool {
        match self {
            ProcessError::Encode { source, .. } => !matches!(
                source,
                image::ImageError::Limits(_) | image::ImageError::IoError(_)
            ),
            ProcessError::Rejected(_)
            | ProcessError::Recipe(_)
            | ProcessError::CropOutside { .. }
            | ProcessError::Resize { .. } => true,
        }
    }

    /// The stable snake_case code for the lake's `error_code` (a rejection's own code).
    pub fn code(&self) -> &'static str {
        match self {
            ProcessError::Rejected(rejection) => rejection.code.as_str(),
            ProcessError::Recipe(_) => "invalid_recipe",
            ProcessError::CropOutside { .. } => "crop_outside_image",
            ProcessError::Resize { .. } => "resize_failed",
            ProcessError::Encode { .. } => "encode_failed",
        }
    }
}

/// Validates, decodes, orients, measures and renders `bytes` into `recipe`'s variants.
pub fn process(bytes: &[u8], recipe: &Recipe, limits: &Limits) -> Result<Processed, ProcessError> {
    recipe.validate()?;
    let probe = validate(bytes, limits)?;
    let exif = ExifMeta::read(bytes);
    let orientation = exif.image_orientation();
    let (width, height) = probe.displayed_size(exif.orientation);
    let decoded = decode_guarded_shrunk(bytes, limits, max_shrink(recipe, width, height))?;
    let mut operations = Vec::with_capacity(2 + 3 * recipe.variants.len());

    let mut image = normalize(decoded.image);
    if orientation != image::metadata::Orientation::NoTransforms {
        image.apply_orientation(orientation);
        operations.push(format!("orient:{}", exif.orientation.unwrap_or(1)));
    }
    operations.push("strip".to_owned());
    let has_alpha = image.color().has_alpha();

    let mut resizer = Resizer::new();
    let source = Source {
        image: &image,
        width,
        height,
    };
    let features = features::compute(&mut resizer, source, bytes, probe.format, &exif, has_alpha)
        .map_err(|source| ProcessError::Resize {
        variant: "(features)".into(),
        source,
    })?;

    let mut variants = Vec::with_capacity(recipe.variants.len());
    for variant in &recipe.variants {
        variants.push(render(&mut resizer, source, variant, &mut operations)?);
    }
    Ok(Processed {
        probe,
        features,
        variants,
        operations,
        decode_shrink: decoded.shrink,
    })
}

/// The oriented pixels and the oriented size of the image they stand for: the same unless
/// the image was decoded at reduced size.
#[derive(Clone, Copy)]
struct Source<'a> {
    image: &'a DynamicImage,
    width: u32,
    height: u32,
}

/// The largest whole reduction (1..=8) of the `width`×`height` oriented image from which
/// every variant of `recipe`, and the analysis copy, is still made by shrinking; the decoder
/// rounds it down to 1, 2, 4 or 8. 1 when a variant keeps the full size or has geometric ops
/// (their pixel coordinates are the full image's).
pub fn max_shrink(recipe: &Recipe, width: u32, height: u32) -> u32 {
    let analysis = Resize::Fit {
        width: ANALYSIS_SIDE,
        height: ANALYSIS_SIDE,
    };
    let mut room = transform::shrink_room(transform::plan(analysis, width, height), width, height);
    for variant in &recipe.variants {
        let Some(resize) = variant.resize else {
            return 1;
        };
        if variant.ops.iter().any(|op| op.is_geometric()) {
            return 1;
        }
        let plan = transform::plan(resize, width, height);
        room = room.min(transform::shrink_room(plan, width, height));
    }
    // At least 1 and at most 8 (the decoder's largest reduction), so the cast is exact.
    room.clamp(1.0, 8.0).floor() as u32
}

/// RGBA8 when some pixel is transparent, RGB8 otherwise (16-bit and float inputs reduced to
/// 8 bits): the two layouts every later step handles.
fn normalize(image: DynamicImage) -> DynamicImage {
    if matches!(image, DynamicImage::ImageRgb8(_)) {
        image
    } else if encode::has_transparency(&image) {
        DynamicImage::ImageRgba8(image.into_rgba8())
    } else {
        DynamicImage::ImageRgb8(image.into_rgb8())
    }
}

/// One variant: geometric ops, resize, tonal ops, encode. The oriented image is only
/// copied when an op has to change it.
fn render(
    resizer: &mut Resizer,
    oriented: Source<'_>,
    variant: &Variant,
    operations: &mut Vec<String>,
) -> Result<Output, ProcessError> {
    let name = &variant.name;
    let (geometric, tonal): (Vec<Op>, Vec<Op>) =
        variant.ops.iter().partition(|op| op.is_geometric());
    let mut image = apply_ops(Cow::Borrowed(oriented.image), &geometric, name, operations)?;
    if let Some(resize) = variant.resize {
        // Planned on the size the pixels stand for (max_shrink decodes at reduced size only
        // when there is no geometric op, so after one the pixels are full size).
        let (width, height) = if geometric.is_empty() {
            (oriented.width, oriented.height)
        } else {
            (image.width(), image.height())
        };
        let plan = transform::plan(resize, width, height);
        let resized =
            transform::resize(resizer, &image, plan).map_err(|source| ProcessError::Resize {
                variant: name.clone(),
                source,
            })?;
        let (bw, bh) = resize.size();
        operations.push(format!("{name}:resize {} {bw}x{bh}", resize.mode()));
        image = Cow::Owned(resized);
    }
    let image = apply_ops(image, &tonal, name, operations)?;
    // Recipe::validate keeps quality in 1..=100.
    let quality = u8::try_from(variant.quality.clamp(1, 100)).unwrap_or(100);
    let bytes =
        encode::encode(&image, variant.format, quality).map_err(|source| ProcessError::Encode {
            variant: name.clone(),
            format: variant.format.name(),
            source,
        })?;
    operations.push(match variant.format {
        OutputFormat::Jpeg => format!("{name}:encode jpeg q{quality}"),
        OutputFormat::Webp => format!("{name}:encode webp q{quality}"),
        OutputFormat::WebpLossless => format!("{name}:encode webp lossless"),
        OutputFormat::Png => format!("{name}:encode png"),
    });
    Ok(Output {
        name: name.clone(),
        format: variant.format,
        width: image.width(),
        height: image.height(),
        bytes,
    })
}

/// Applies `ops` in order, recording each as `variant:label`.
fn apply_ops<'a>(
    mut image: Cow<'a, DynamicImage>,
    ops: &[Op],
    variant: &str,
    operations: &mut Vec<String>,
) -> Result<Cow<'a, DynamicImage>, ProcessError> {
    for &op in ops {
        let changed =
            transform::apply(image.into_owned(), op).map_err(|e| ProcessError::CropOutside {
                variant: variant.to_owned(),
                op: e.op,
                width: e.width,
                height: e.height,
            })?;
        image = Cow::Owned(changed);
        operations.push(format!("{variant}:{}", op.label()));
    }
    Ok(image)
}
