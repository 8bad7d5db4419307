//! Recipes: which variants to produce, read from TOML or JSON and validated before use.
//!
//! ```toml
//! [[variants]]
//! name = "thumb"
//! resize = { mode = "cover", width = 256, height = 256 }
//! format = "jpeg"
//! quality = 82
//! ops = [{ op = "sharpen", sigma = 0.8, threshold = 2 }]
//! ```

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Most variants one recipe may name.
pub const MAX_VARIANTS: usize = 16;
/// Largest width or height a variant (or a crop) may ask for.
pub const MAX_SIDE: u32 = 8192;
/// JPEG quality when a variant names none.
pub const DEFAULT_QUALITY: u32 = 82;
/// Longest variant name (it becomes part of an object key).
const MAX_NAME_LEN: usize = 64;
/// Most operations one variant may apply (each is a pass over the image).
pub const MAX_OPS: usize = 16;

/// The variants to produce from one image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// Variants in output order; names are unique.
    pub variants: Vec<Variant>,
}

/// One output image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Unique within the recipe: ASCII letters, digits, `-` and `_` (it names the object).
    pub name: String,
    /// How to size the output; absent keeps the (oriented, cropped) size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize: Option<Resize>,
    /// Extra operations. Geometric ones (rotate, flip, crop) run in order *before* the
    /// resize, in the oriented image's pixels; tonal ones (grayscale, blur, sharpen,
    /// brightness, contrast) run in order *after* it, so their cost and sigma are in output
    /// pixels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ops: Vec<Op>,
    /// Output encoding.
    pub format: OutputFormat,
    /// Quality 1..=100 of JPEG and lossy WebP (ignored by PNG and lossless WebP).
    #[serde(default = "default_quality")]
    pub quality: u32,
}

fn default_quality() -> u32 {
    DEFAULT_QUALITY
}

/// How a variant is sized. None of the modes ever upscales.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum Resize {
    /// Scale to fit inside `width`×`height`, keeping the aspect ratio; an image already
    /// inside the box keeps its size.
    Fit { width: u32, height: u32 },
    /// Scale and centre-crop to fill exactly `width`×`height`. An image smaller than the box
    /// is not enlarged: the output is the largest box of the same aspect ratio that fits in
    /// the image (a 100×300 image for a 256×256 cover becomes 100×100).
    Cover { width: u32, height: u32 },
    /// Stretch to `width`×`height` without keeping the aspect ratio. Each side is clamped to
    /// the source's side, so a side the source is too small for keeps the source's length.
    Exact { width: u32, height: u32 },
}

impl Resize {
    /// The requested box.
    pub fn size(self) -> (u32, u32) {
        match self {
            Resize::Fit { width, height }
            | Resize::Cover { width, height }
            | Resize::Exact { width, height } => (width, height),
        }
    }

    /// `fit`, `cover` or `exact`.
    pub fn mode(self) -> &'static str {
        match self {
            Resize::Fit { .. } => "fit",
            Resize::Cover { .. } => "cover",
            Resize::Exact { .. } => "exact",
        }
    }
}

/// An operation on pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    /// Rotate 90° clockwise.
    Rotate90,
    /// Rotate 180°.
    Rotate180,
    /// Rotate 270° clockwise.
    Rotate270,
    /// Mirror left–right.
    FlipH,
    /// Mirror top–bottom.
    FlipV,
    /// Keep the rectangle at (`x`, `y`) of `width`×`height`; it must lie inside the image.
    Crop {
        x: u32,
        y: u32,
        width: u32,
        height: u32,
    },
    /// Convert to 8-bit gray with Rec.709 weights, as the `image` crate does (alpha kept).
    Grayscale,
    /// Gaussian blur; `sigma` in output pixels, 0 < sigma ≤ 100.
    Blur { sigma: f32 },
    /// Unsharp mask; `sigma` as for blur, `threshold` 0..=255.
    Sharpen { sigma: f32, threshold: i32 },
    /// Add `delta` (-255..=255) to every colour channel.
    Brightness { delta: i32 },
    /// Contrast change in percent, -100..=100.
    Contrast { delta: f32 },
}

impl Op {
    /// Whether the op changes geometry (runs before the resize).
    pub fn is_geometric(self) -> bool {
        matches!(
            self,
            Op::Rotate90 | Op::Rotate180 | Op::Rotate270 | Op::FlipH | Op::FlipV | Op::Crop { .. }
        )
    }

    /// A short label for the item's `operations` list.
    pub fn label(self) -> String {
        match self {
            Op::Rotate90 => "rotate90".into(),
            Op::Rotate180 => "rotate180".into(),
            Op::Rotate270 => "rotate270".into(),
            Op::FlipH => "flip_h".into(),
            Op::FlipV => "flip_v".into(),
            Op::Crop {
                x,
                y,
                width,
                height,
            } => format!("crop {width}x{height}+{x}+{y}"),
            Op::Grayscale => "grayscale".into(),
            Op::Blur { sigma } => format!("blur {sigma}"),
            Op::Sharpen { sigma, threshold } => format!("sharpen {sigma}/{threshold}"),
            Op::Brightness { delta } => format!("brightness {delta}"),
            Op::Contrast { delta } => format!("contrast {delta}"),
        }
    }
}

/// The encoding of a variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// Baseline JPEG at the variant's quality; alpha is flattened onto white.
    Jpeg,
    /// PNG (lossless).
    Png,
    /// Lossy WebP (libwebp) at the variant's quality; transparency is kept.
    Webp,
    /// Lossless WebP; quality is ignored.
    #[serde(rename = "webp_lossless")]
    WebpLossless,
}

impl OutputFormat {
    /// `jpeg`, `png` or `webp` (both WebP encodings).
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Jpeg => "jpeg",
            OutputFormat::Png => "png",
            OutputFormat::Webp | OutputFormat::WebpLossless => "webp",
        }
    }

    /// File extension without the dot: `jpg`, `png` or `webp`.
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Jpeg => "jpg",
            OutputFormat::Png => "png",
            OutputFormat::Webp | OutputFormat::WebpLossless => "webp",
        }
    }

    /// The MIME type.
    pub fn content_type(self) -> &'static str {
        match self {
            OutputFormat::Jpeg => "image/jpeg",
            OutputFormat::Png => "image/png",
            OutputFormat::Webp | OutputFormat::WebpLossless => "image/webp",
        }
    }
}

/// A recipe that could not be read or is not valid.
#[derive(Debug, Error)]
pub enum RecipeError {
    /// The TOML does not parse or does not have the recipe's shape.
    #[error("recipe TOML is invalid: {0}")]
    Toml(#[from] toml::de::Error),
    /// The JSON does not parse or does not have the recipe's shape.
    #[error("recipe JSON is invalid: {0}")]
    Json(#[from] serde_json::Error),
    /// The recipe names no variant.
    #[error("recipe has no variants; add at least one [[variants]] entry")]
    NoVariants,
    /// More than [`MAX_VARIANTS`] variants.
    #[error("recipe has {count} variants; at most {MAX_VARIANTS} are allowed")]
    TooManyVariants { count: usize },
    /// One field of one variant is wrong.
    #[error("variants[{index}] (`{name}`): {field} {problem}")]
    Field {
        /// Position in `variants`.
        index: usize,
        /// The variant's name as written.
        name: String,
        /// Path of the field inside the variant, e.g. `resize.width` or `ops[1].sigma`.
        field: String,
        /// What is wrong and what is allowed.
        problem: String,
    },
}

impl Default for Recipe {
    /// `thumb`: 256×256 cover, JPEG q82; `display`: fit within 1024×1024, JPEG q85.
    ///
    /// JPEG rather than WebP: every browser, notebook and BI tool reads JPEG, and it encodes
    /// faster than lossy WebP. Recipes can ask for `webp` (lossy, at `quality`) or
    /// `webp_lossless`. Transparent inputs are flattened onto white in JPEG.
    fn default() -> Self {
        Recipe {
            variants: vec![
                Variant {
                    name: "thumb".into(),
                    resize: Some(Resize::Cover {
                        width: 256,
                        height: 256,
                    }),
                    ops: Vec::new(),
                    format: OutputFormat::Jpeg,
                    quality: DEFAULT_QUALITY,
                },
                Variant {
                    name: "display".into(),
                    resize: Some(Resize::Fit {
                        width: 1024,
                        height: 1024,
                    }),
                    ops: Vec::new(),
                    format: OutputFormat::Jpeg,
                    quality: 85,
                },
            ],
        }
    }
}

impl Recipe {
    /// Reads and validates a recipe written in TOML.
    pub fn from_toml(text: &str) -> Result<Recipe, RecipeError> {
        let recipe: Recipe = toml::from_str(text)?;
        recipe.validate()?;
        Ok(recipe)
    }

    /// Reads and validates a recipe written in JSON.
    pub fn from_json(text: &str) -> Result<Recipe, RecipeError> {
        let recipe: Recipe = serde_json::from_str(text)?;
        recipe.validate()?;
        Ok(recipe)
    }

    /// Checks names, sizes, quality and op parameters; the first problem found is returned.
    pub fn validate(&self) -> Result<(), RecipeError> {
        if self.variants.is_empty() {
            return Err(RecipeError::NoVariants);
        }
        if self.variants.len() > MAX_VARIANTS {
            return Err(RecipeError::TooManyVariants {
                count: self.variants.len(),
            });
        }
        let mut seen = HashSet::new();
        for (index, variant) in self.variants.iter().enumerate() {
            let fail = |field: &str, problem: String| RecipeError::Field {
                index,
                name: variant.name.clone(),
                field: field.to_owned(),
                problem,
            };
            let name_ok = !variant.name.is_empty()
                && variant.name.len() <= MAX_NAME_LEN
                && variant
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !name_ok {
                return Err(fail(
                    "name",
                    format!("must be 1 to {MAX_NAME_LEN} ASCII letters, digits, '-' or '_'"),
                ));
            }
            // Unique ignoring case: `Thumb` and `thumb` would be one file on a
            // case-insensitive file system.
            if !seen.insert(variant.name.to_ascii_lowercase()) {
                return Err(fail(
                    "name",
                    "is used by an earlier variant; names must be unique (ignoring case)".into(),
                ));
            }
            if variant.ops.len() > MAX_OPS {
                return Err(fail(
                    "ops",
                    format!("has {} operations; at most {MAX_OPS}", variant.ops.len()),
                ));
            }
            if let Some(resize) = variant.resize {
                let (width, height) = resize.size();
                check_side(width).map_err(|p| fail("resize.width", p))?;
                check_side(height).map_err(|p| fail("resize.height", p))?;
            }
            if !(1..=100).contains(&variant.quality) {
                return Err(fail(
                    "quality",
                    format!("is {}; it must be 1..=100", variant.quality),
                ));
            }
            for (i, op) in variant.ops.iter().enumerate() {
                let field = |name: &str| format!("ops[{i}].{name}");
                match *op {
                    Op::Crop { width, height, .. } => {
                        check_side(width).map_err(|p| fail(&field("width"), p))?;
                        check_side(height).map_err(|p| fail(&field("height"), p))?;
                    }
                    Op::Blur { sigma } | Op::Sharpen { sigma, .. }
                        if !(sigma > 0.0 && sigma <= 100.0) =>
                    {
                        return Err(fail(
                            &field("sigma"),
                            format!("is {sigma}; it must be in (0, 100]"),
                        ));
                    }
                    Op::Sharpen { threshold, .. } if !(0..=255).contains(&threshold) => {
                        return Err(fail(
                            &field("threshold"),
                            format!("is {threshold}; it must be 0..=255"),
                        ));
                    }
                    Op::Brightness { delta } if !(-255..=255).contains(&delta) => {
                        return Err(fail(
                            &field("delta"),
                            format!("is {delta}; it must be -255..=255"),
                        ));
                    }
                    Op::Contrast { delta } if !(-100.0..=100.0).contains(&delta) => {
                        return Err(fail(
                            &field("delta"),
                            format!("is {delta}; it must be -100..=100"),
                        ));
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

fn check_side(side: u32) -> Result<(), String> {
    if side == 0 {
        Err("is 0; it must be at least 1".into())
    } else if side > MAX_SIDE {
        Err(format!("is {side}; it must be at most {MAX_SIDE}"))
    } else {
        Ok(())
    }
}
