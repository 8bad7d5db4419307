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

/// Encodes `image` as `format`; `quality` (1..=100) applies to JPEG only.
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
        OutputFormat::Webp => {
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
