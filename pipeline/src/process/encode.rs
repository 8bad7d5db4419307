//! Encoding a variant's pixels. Encoders are given pixels only, so outputs carry no EXIF,
//! XMP, ICC or GPS: re-encoding is the metadata strip.

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{DynamicImage, ImageError, Rgb, RgbImage};

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
            let encoder = JpegEncoder::new_with_quality(&mut out, quality.clamp(1, 100));
            match image {
                DynamicImage::ImageRgb8(_) | DynamicImage::ImageLuma8(_) => {
                    image.write_with_encoder(encoder)?
                }
                DynamicImage::ImageLumaA8(_) if !has_transparency(image) => {
                    DynamicImage::ImageLuma8(image.to_luma8()).write_with_encoder(encoder)?
                }
                _ => {
                    DynamicImage::ImageRgb8(flatten_on_white(image)).write_with_encoder(encoder)?
                }
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
