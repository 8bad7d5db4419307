//! Validation of untrusted image bytes before any full decode.
//!
//! The type comes from magic bytes only ([`sniff`]), never from a file name or a client's
//! content type. [`validate`] checks, in this order: empty input, size, type, the header's
//! dimensions, zero dimensions and the pixel budget, reading nothing past the header, so a
//! decompression bomb is refused before a single pixel is decoded or allocated.
//! [`decode_guarded`] then decodes with the decoder's own limits set from the validated header:
//! memory stays bounded by the pixel budget and bad data becomes a [`Rejection`], never a panic.
//!
//! Every refusal carries a [`RejectCode`] whose [`RejectCode::as_str`] lands in the lake's
//! `error_code` column, and a message that is safe to show the client.

mod decode;
mod header;
mod sniff;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use decode::{decode_guarded, decode_guarded_shrunk, Decoded};
pub(crate) use header::crc32;
pub use sniff::{sniff, Executable, Refused, Sniffed};

/// Default [`Limits::max_bytes`]: 10 MiB, the presigned POST's bound.
pub const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// Default [`Limits::max_pixels`]: 50 megapixels.
pub const DEFAULT_MAX_PIXELS: u64 = 50_000_000;

/// What an input may be: size, pixel budget and whether TIFF is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted input, in bytes.
    pub max_bytes: u64,
    /// Largest accepted width × height declared by the header.
    pub max_pixels: u64,
    /// Whether TIFF input is accepted (off by default).
    pub allow_tiff: bool,
    /// Most scans a JPEG may have. A progressive decoder passes over the whole image once per
    /// scan, so a small file that repeats a scan thousands of times takes minutes or hours
    /// within every other limit; libjpeg's standard progressive script writes 10 scans.
    pub max_jpeg_scans: u32,
}

/// Default [`Limits::max_jpeg_scans`].
pub const DEFAULT_MAX_JPEG_SCANS: u32 = 64;

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_BYTES,
            max_pixels: DEFAULT_MAX_PIXELS,
            allow_tiff: false,
            max_jpeg_scans: DEFAULT_MAX_JPEG_SCANS,
        }
    }
}

/// An accepted image format; its [`name`](Self::name) is the lake's `format` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    /// JPEG (baseline or progressive, 8-bit).
    Jpeg,
    /// PNG (APNG decodes as its default image).
    Png,
    /// WebP, lossy or lossless (animated: first frame).
    Webp,
    /// GIF (first frame).
    Gif,
    /// TIFF, accepted only with [`Limits::allow_tiff`].
    Tiff,
}

impl ImageFormat {
    /// Every format, in a stable order.
    pub const ALL: [ImageFormat; 5] = [Self::Jpeg, Self::Png, Self::Webp, Self::Gif, Self::Tiff];

    /// The MIME type, e.g. `image/jpeg`.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
            Self::Gif => "image/gif",
            Self::Tiff => "image/tiff",
        }
    }

    /// The lake's `format` column value: `jpeg`, `png`, `webp`, `gif` or `tiff`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Jpeg => "jpeg",
            Self::Png => "png",
            Self::Webp => "webp",
            Self::Gif => "gif",
            Self::Tiff => "tiff",
        }
    }

    /// The `image` crate's format, to force a decoder.
    pub fn image_format(self) -> image::ImageFormat {
        match self {
            Self::Jpeg => image::ImageFormat::Jpeg,
            Self::Png => image::ImageFormat::Png,
            Self::Webp => image::ImageFormat::WebP,
            Self::Gif => image::ImageFormat::Gif,
            Self::Tiff => image::ImageFormat::Tiff,
        }
    }

    /// The name people write, for messages.
    fn label(self) -> &'static str {
        match self {
            Self::Jpeg => "JPEG",
            Self::Png => "PNG",
            Self::Webp => "WebP",
            Self::Gif => "GIF",
            Self::Tiff => "TIFF",
        }
    }

    /// Largest decoded pixel size the `image` decoder can produce for this format.
    fn max_bytes_per_pixel(self) -> u64 {
        match self {
            // 8-bit output, up to RGBA.
            Self::Jpeg | Self::Webp | Self::Gif => 4,
            // Up to RGBA at 16 bits per channel.
            Self::Png => 8,
            // Up to RGBA at 32-bit float per channel.
            Self::Tiff => 16,
        }
    }
}

/// What an accepted input declares in its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Probe {
    /// The format found from magic bytes.
    pub format: ImageFormat,
    /// The format's MIME type (the stored object's `Content-Type`).
    pub content_type: &'static str,
    /// Width in pixels, from the header.
    pub width: u32,
    /// Height in pixels, from the header.
    pub height: u32,
    /// Input length in bytes.
    pub size_bytes: u64,
}

impl Probe {
    /// Width × height.
    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// The size as displayed under EXIF `orientation` (1..=8): orientations 5..=8 turn the
    /// image a quarter, so its stored width is the displayed height.
    pub fn displayed_size(&self, orientation: Option<u8>) -> (u32, u32) {
        if orientation.unwrap_or(1) >= 5 {
            (self.height, self.width)
        } else {
            (self.width, self.height)
        }
    }
}

/// Why an input was refused; the stable string is the lake's `error_code` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectCode {
    /// Zero bytes.
    EmptyInput,
    /// More bytes than [`Limits::max_bytes`].
    TooLarge,
    /// A recognised type that is not accepted (SVG, HEIC, PDF, executables, …).
    UnsupportedType,
    /// Not a recognised type.
    UnknownType,
    /// TIFF while [`Limits::allow_tiff`] is off.
    TiffDisabled,
    /// The header is cut short or inconsistent.
    CorruptHeader,
    /// The header declares a zero width or height.
    ZeroDimensions,
    /// Width × height above [`Limits::max_pixels`], or the decoder needed more than that allows.
    PixelBudgetExceeded,
    /// The image data after the header could not be decoded.
    DecodeFailed,
    /// The image data ends before the image does.
    Truncated,
    /// A JPEG with more scans than [`Limits::max_jpeg_scans`].
    TooManyScans,
}

impl RejectCode {
    /// Every code, in a stable order.
    pub const ALL: [RejectCode; 11] = [
        Self::EmptyInput,
        Self::TooLarge,
        Self::UnsupportedType,
        Self::UnknownType,
        Self::TiffDisabled,
        Self::CorruptHeader,
        Self::ZeroDimensions,
        Self::PixelBudgetExceeded,
        Self::DecodeFailed,
        Self::Truncated,
        Self::TooManyScans,
    ];

    /// The stable snake_case code written to the lake's `error_code` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EmptyInput => "empty_input",
            Self::TooLarge => "too_large",
            Self::UnsupportedType => "unsupported_type",
            Self::UnknownType => "unknown_type",
            Self::TiffDisabled => "tiff_disabled",
            Self::CorruptHeader => "corrupt_header",
            Self::ZeroDimensions => "zero_dimensions",
            Self::PixelBudgetExceeded => "pixel_budget_exceeded",
            Self::DecodeFailed => "decode_failed",
            Self::Truncated => "truncated",
            Self::TooManyScans => "too_many_scans",
        }
    }
}

impl std::fmt::Display for RejectCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused input: a stable code and a message safe to show the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Rejection {
    /// The machine-readable reason (the lake's `error_code`).
    pub code: RejectCode,
    /// The human-readable reason, naming the limit when one was hit (`error_message`).
    pub message: String,
}

impl Rejection {
    pub fn new(code: RejectCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// An input over [`Limits::max_bytes`]; `size` is its length in bytes when known.
    pub fn too_large(size: Option<u64>, limits: &Limits) -> Self {
        let limit = format_bytes(limits.max_bytes);
        Self::new(
            RejectCode::TooLarge,
            match size {
                Some(size) => format!("the image is {size} bytes, above the {limit} limit"),
                None => format!("the image is over the {limit} limit"),
            },
        )
    }

    fn corrupt_header(format: ImageFormat, detail: impl std::fmt::Display) -> Self {
        Self::new(
            RejectCode::CorruptHeader,
            format!("{} header is corrupt: {detail}", format.label()),
        )
    }

    fn unsupported(what: impl std::fmt::Display) -> Self {
        Self::new(
            RejectCode::UnsupportedType,
            format!("{what} is not an accepted image type"),
        )
    }
}

/// Checks `bytes` against `limits` from magic bytes and header alone (no pixel is decoded;
/// for a JPEG, its scan markers are counted too).
pub fn validate(bytes: &[u8], limits: &Limits) -> Result<Probe, Rejection> {
    if bytes.is_empty() {
        return Err(Rejection::new(
            RejectCode::EmptyInput,
            "the image is empty (0 bytes)",
        ));
    }
    let size_bytes = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if size_bytes > limits.max_bytes {
        return Err(Rejection::too_large(Some(size_bytes), limits));
    }
    let format = match sniff(bytes) {
        Sniffed::Image(ImageFormat::Tiff) if !limits.allow_tiff => {
            return Err(Rejection::new(
                RejectCode::TiffDisabled,
                format!(
                    "TIFF images are not accepted here; send {}",
                    accepted_list(limits)
                ),
            ))
        }
        Sniffed::Image(format) => format,
        Sniffed::Refused(refused) => return Err(Rejection::unsupported(refused)),
        Sniffed::Unknown => {
            return Err(Rejection::new(
                RejectCode::UnknownType,
                format!(
                    "the data is not a recognised image type; send {}",
                    accepted_list(limits)
                ),
            ))
        }
    };
    let (width, height) = header::dimensions(format, bytes)?;
    if width == 0 || height == 0 {
        return Err(Rejection::new(
            RejectCode::ZeroDimensions,
            format!(
                "{} header declares {width}×{height} pixels; an image needs both sides above 0",
                format.label()
            ),
        ));
    }
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels {
        let (declared, budget) = format_pixel_pair(pixels, limits.max_pixels);
        return Err(Rejection::new(
            RejectCode::PixelBudgetExceeded,
            format!("image declares {width}×{height} = {declared}, above the {budget} budget"),
        ));
    }
    if format == ImageFormat::Jpeg {
        // A progressive decoder passes over the whole image once per scan: a small file that
        // repeats a scan thousands of times is within every other limit and decodes for hours.
        let scans = header::jpeg_scans(bytes);
        if scans > limits.max_jpeg_scans as usize {
            return Err(Rejection::new(
                RejectCode::TooManyScans,
                format!(
                    "JPEG has {scans} scans, above the limit of {}: decoding it would pass over \
                     the image {scans} times (real progressive JPEGs have about 10)",
                    limits.max_jpeg_scans
                ),
            ));
        }
    }
    Ok(Probe {
        format,
        content_type: format.content_type(),
        width,
        height,
        size_bytes,
    })
}

/// "JPEG, PNG, WebP or GIF" (plus TIFF when allowed).
fn accepted_list(limits: &Limits) -> String {
    let labels: Vec<&str> = ImageFormat::ALL
        .iter()
        .filter(|format| limits.allow_tiff || **format != ImageFormat::Tiff)
        .map(|format| format.label())
        .collect();
    match labels.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => labels.concat(),
    }
}

/// A byte limit as people write it: "10 MiB", "512 KiB" or "1000 bytes".
fn format_bytes(n: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * 1024;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else if n >= KIB && n.is_multiple_of(KIB) {
        format!("{} KiB", n / KIB)
    } else {
        format!("{n} bytes")
    }
}

/// A declared pixel count and a budget in short form ("1.6 GP", "50 MP"), exact when the
/// short forms tie; the budget reads as an adjective ("50 MP", "4096-pixel").
fn format_pixel_pair(declared: u64, budget: u64) -> (String, String) {
    let (mut declared_text, mut budget_text) = (format_pixels(declared), format_pixels(budget));
    if declared_text == budget_text {
        (declared_text, budget_text) = (format!("{declared} pixels"), format!("{budget} pixels"));
    }
    if let Some(count) = budget_text.strip_suffix(" pixels") {
        budget_text = format!("{count}-pixel");
    }
    (declared_text, budget_text)
}

/// A pixel count in short form: "1.6 GP", "50 MP", or "4096 pixels" below a megapixel.
fn format_pixels(n: u64) -> String {
    let (value, unit) = if n >= 1_000_000_000 {
        (n as f64 / 1e9, "GP")
    } else if n >= 1_000_000 {
        (n as f64 / 1e6, "MP")
    } else {
        return format!("{n} pixels");
    };
    let text = format!("{value:.1}");
    format!("{} {unit}", text.strip_suffix(".0").unwrap_or(&text))
}
