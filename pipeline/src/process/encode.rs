//! Encoding a variant's pixels. Encoders are given pixels only, so outputs carry no EXIF,
//! XMP, ICC or GPS: re-encoding is the metadata strip.
//!
//! JPEG goes through the jpeg-encoder crate: baseline, libjpeg's standard quality scaling and
//! Huffman tables, 4:2:0 chroma below quality 90 (box-averaged, as libjpeg does) and 4:4:4
//! from 90 up. It is several times faster than the `image` crate's encoder and its 4:2:0
//! output is about a fifth smaller at the same quality.

use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::error::{EncodingError, ImageFormatHint};
use image::{DynamicImage, ImageError, Rgb, RgbImage};
use jpeg_encoder::{ChromaSubsamplingMethod, ColorType};

use super::recipe::OutputFormat;

/// Encodes `image` as `format`; `quality` (1..=100) applies to JPEG and lossy WebP.
pub fn encode(
    image: &DynamicImage,
    format: OutputFormat,
    quality: u8,
) -> Result<Vec<u8>, ImageError> {
    let mut out = Vec::new();
    match format {
        OutputFormat::Jpeg => {
            let quality = quality.clamp(1, 100);
            match image {
                DynamicImage::ImageRgb8(rgb) => jpeg(&mut out, quality, rgb, ColorType::Rgb)?,
                DynamicImage::ImageLuma8(luma) => jpeg(&mut out, quality, luma, ColorType::Luma)?,
                DynamicImage::ImageLumaA8(_) if !has_transparency(image) => {
                    jpeg(&mut out, quality, &image.to_luma8(), ColorType::Luma)?
                }
                _ => jpeg(&mut out, quality, &flatten_on_white(image), ColorType::Rgb)?,
            }
        }
        OutputFormat::Png => image.write_with_encoder(PngEncoder::new(&mut out))?,
        OutputFormat::Webp => webp_lossy(&mut out, image, quality)?,
        OutputFormat::WebpLossless => {
            let encoder = WebPEncoder::new_lossless(&mut out);
            match image {
                DynamicImage::ImageRgb8(_)
                | DynamicImage::ImageRgba8(_)
                | DynamicImage::ImageLuma8(_)
                | DynamicImage::ImageLumaA8(_) => image.write_with_encoder(encoder)?,
                other => DynamicImage::ImageRgba8(other.to_rgba8()).write_with_encoder(encoder)?,
            }
        }
    }
    Ok(out)
}

/// Appends a lossy WebP (libwebp, default method) at `quality`; alpha is kept, in lossy
/// alpha compression, only when some pixel is not opaque.
fn webp_lossy(out: &mut Vec<u8>, image: &DynamicImage, quality: u8) -> Result<(), ImageError> {
    let failed = |message: String| {
        let hint = ImageFormatHint::Exact(image::ImageFormat::WebP);
        ImageError::Encoding(EncodingError::new(hint, message))
    };
    let (width, height) = (image.width(), image.height());
    // WebP's limit; libwebp would refuse it too, with a less telling code.
    if width > WEBP_MAX_SIDE || height > WEBP_MAX_SIDE {
        return Err(failed(format!(
            "{width}x{height} is over WebP's limit of {WEBP_MAX_SIDE} pixels a side (resize the variant)"
        )));
    }
    let mut config = webp::WebPConfig::new()
        .map_err(|()| failed("libwebp refused its default configuration".to_owned()))?;
    config.lossless = 0;
    config.alpha_compression = 1;
    config.quality = f32::from(quality.clamp(1, 100));
    let rgb;
    let rgba;
    let encoder = match image {
        DynamicImage::ImageRgb8(pixels) => webp::Encoder::from_rgb(pixels.as_raw(), width, height),
        _ if !has_transparency(image) => {
            rgb = image.to_rgb8();
            webp::Encoder::from_rgb(rgb.as_raw(), width, height)
        }
        _ => {
            rgba = image.to_rgba8();
            webp::Encoder::from_rgba(rgba.as_raw(), width, height)
        }
    };
    let encoded = encoder
        .encode_advanced(&config)
        .map_err(|code| failed(format!("libwebp could not encode: {code:?}")))?;
    out.extend_from_slice(&encoded);
    Ok(())
}

/// Largest width or height a WebP image can have.
const WEBP_MAX_SIDE: u32 = 16_383;

/// Appends a baseline JPEG of `pixels` (RGB8 or L8 as `color` says) to `out`.
fn jpeg<P: image::Pixel<Subpixel = u8>>(
    out: &mut Vec<u8>,
    quality: u8,
    pixels: &image::ImageBuffer<P, Vec<u8>>,
    color: ColorType,
) -> Result<(), ImageError> {
    let too_large = || {
        let hint = ImageFormatHint::Exact(image::ImageFormat::Jpeg);
        ImageError::Encoding(EncodingError::new(
            hint,
            "wider or taller than 65535 pixels",
        ))
    };
    let width = u16::try_from(pixels.width()).map_err(|_| too_large())?;
    let height = u16::try_from(pixels.height()).map_err(|_| too_large())?;
    let mut encoder = jpeg_encoder::Encoder::new(out, quality);
    encoder.set_chroma_subsampling_method(ChromaSubsamplingMethod::Average);
    encoder
        .encode(pixels.as_raw(), width, height, color)
        .map_err(|error| {
            let hint = ImageFormatHint::Exact(image::ImageFormat::Jpeg);
            ImageError::Encoding(EncodingError::new(hint, error))
        })
}

/// Whether any pixel is not fully opaque.
pub fn has_transparency(image: &DynamicImage) -> bool {
    match image {
        DynamicImage::ImageRgba8(buf) => buf.pixels().any(|p| p.0[3] < u8::MAX),
        DynamicImage::ImageLumaA8(buf) => buf.pixels().any(|p| p.0[1] < u8::MAX),
        other if other.color().has_alpha() => other.to_rgba8().pixels().any(|p| p.0[3] < u8::MAX),
        _ => false,
    }
}

/// RGB over a white background (JPEG has no alpha).
fn flatten_on_white(image: &DynamicImage) -> RgbImage {
    let rgba = image.to_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let a = u32::from(a);
        let blend = |c: u8| ((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
        Rgb([blend(r), blend(g), blend(b)])
    })
}
