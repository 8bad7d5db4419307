//! A varied sample set made on the spot, for `imglake demo` and tests: several sizes and
//! formats, EXIF orientations and camera tags, and inputs the pipeline must refuse
//! (truncated, wrong type, empty, a pixel bomb, an oversized file). Deterministic: the same
//! bytes on every run.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};

/// What the pipeline should make of a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Processed into variants.
    Processed,
    /// Refused with this `error_code`.
    Rejected(&'static str),
}

/// One sample input.
#[derive(Debug, Clone)]
pub struct Sample {
    /// File name, with an extension that may lie about the content (as real uploads do).
    pub name: String,
    pub bytes: Vec<u8>,
    pub expect: Expect,
}

/// A synthetic photograph: smooth gradients, a few shapes and fine texture, so resizing,
/// sharpness and dominant colour have something to measure. `seed` varies the palette.
pub fn photo(width: u32, height: u32, seed: u32) -> RgbImage {
    let (w, h) = (width.max(1) as f32, height.max(1) as f32);
    let hue = (seed % 6) as f32 / 6.0;
    RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32 / w, y as f32 / h);
        let r = 255.0 * (0.5 + 0.5 * (std::f32::consts::TAU * (fx + hue)).sin());
        let g = 255.0 * fy;
        let b = 255.0 * (0.5 + 0.5 * (std::f32::consts::TAU * (fx * fy + hue)).cos());
        let (cx, cy) = (fx - 0.5, fy - 0.5);
        let disc = cx * cx + cy * cy < 0.04;
        let texture = if (x / 3 + y / 3) % 2 == 0 {
            12.0
        } else {
            -12.0
        };
        let px = |v: f32| (v + texture).clamp(0.0, 255.0) as u8;
        if disc {
            Rgb([px(240.0), px(220.0 * hue), px(40.0)])
        } else {
            Rgb([px(r), px(g), px(b)])
        }
    })
}

/// `image` as baseline JPEG at `quality`.
pub fn jpeg(image: &RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = JpegEncoder::new_with_quality(&mut out, quality);
    // Encoding an in-memory RGB buffer into a Vec cannot fail.
    if encoder.encode_image(image).is_err() {
        out.clear();
    }
    out
}

fn encode(image: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    if image.write_to(&mut out, format).is_err() {
        return Vec::new();
    }
    out.into_inner()
}

/// Camera tags of a sample JPEG.
#[derive(Debug, Clone, Copy, Default)]
pub struct Exif {
    /// EXIF orientation 1..=8.
    pub orientation: u16,
    pub make: Option<&'static str>,
    pub model: Option<&'static str>,
    /// `YYYY:MM:DD HH:MM:SS`.
    pub taken: Option<&'static str>,
}

/// `jpeg` with an APP1 Exif segment (IFD0: Make, Model, Orientation; Exif IFD:
/// DateTimeOriginal) inserted after SOI.
pub fn with_exif(jpeg: &[u8], exif: &Exif) -> Vec<u8> {
    if jpeg.len() < 2 || jpeg[..2] != [0xFF, 0xD8] {
        return jpeg.to_vec();
    }
    let tiff = exif_tiff(exif);
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend(
        u16::try_from(2 + 6 + tiff.len())
            .unwrap_or(u16::MAX)
            .to_be_bytes(),
    );
    out.extend(b"Exif\0\0");
    out.extend(tiff);
    out.extend(&jpeg[2..]);
    out
}

/// A little-endian TIFF structure holding the tags of `exif`.
fn exif_tiff(exif: &Exif) -> Vec<u8> {
    // (tag, type, count, value bytes)
    let ascii = |s: &str| {
        let mut b = s.as_bytes().to_vec();
        b.push(0);
        b
    };
    let mut ifd0: Vec<(u16, u16, Vec<u8>)> = Vec::new();
    if let Some(make) = exif.make {
        ifd0.push((0x010F, 2, ascii(make)));
    }
    if let Some(model) = exif.model {
        ifd0.push((0x0110, 2, ascii(model)));
    }
    ifd0.push((0x0112, 3, exif.orientation.max(1).to_le_bytes().to_vec()));
    let sub: Vec<(u16, u16, Vec<u8>)> = exif
        .taken
        .map(|t| vec![(0x9003, 2, ascii(t))])
        .unwrap_or_default();
    if !sub.is_empty() {
        ifd0.push((0x8769, 4, vec![0; 4]));
    }
    let ifd0_len = ifd_len(&ifd0);
    let sub_at = 8 + ifd0_len;
    if let Some(entry) = ifd0.iter_mut().find(|e| e.0 == 0x8769) {
        entry.2 = u32::try_from(sub_at).unwrap_or(0).to_le_bytes().to_vec();
    }
    let mut out = b"II*\0".to_vec();
    out.extend(8u32.to_le_bytes());
    write_ifd(&mut out, &ifd0, 8);
    if !sub.is_empty() {
        write_ifd(&mut out, &sub, sub_at);
    }
    out
}

fn ifd_len(entries: &[(u16, u16, Vec<u8>)]) -> usize {
    let data: usize = entries
        .iter()
        .map(|e| {
            if e.2.len() > 4 {
                e.2.len() + e.2.len() % 2
            } else {
                0
            }
        })
        .sum();
    2 + 12 * entries.len() + 4 + data
}

fn write_ifd(out: &mut Vec<u8>, entries: &[(u16, u16, Vec<u8>)], offset: usize) {
    let mut data_at = offset + 2 + 12 * entries.len() + 4;
    let mut data = Vec::new();
    out.extend(u16::try_from(entries.len()).unwrap_or(0).to_le_bytes());
    for (tag, kind, value) in entries {
        let count = if *kind == 2 { value.len() } else { 1 };
        out.extend(tag.to_le_bytes());
        out.extend(kind.to_le_bytes());
        out.extend(u32::try_from(count).unwrap_or(0).to_le_bytes());
        if value.len() <= 4 {
            let mut inline = value.clone();
            inline.resize(4, 0);
            out.extend(inline);
        } else {
            out.extend(u32::try_from(data_at).unwrap_or(0).to_le_bytes());
            data.extend(value);
            if value.len() % 2 == 1 {
                data.push(0);
            }
            data_at += value.len() + value.len() % 2;
        }
    }
    out.extend(0u32.to_le_bytes());
    out.extend(data);
}

/// A PNG whose header declares `width` × `height` (a decompression bomb when large): a
/// valid signature and IHDR, then nothing.
pub fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    let crc = crate::validate::crc32(&ihdr);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend(13u32.to_be_bytes());
    out.extend(ihdr);
    out.extend(crc.to_be_bytes());
    out
}

/// The demo's sample set: 9 images the pipeline processes and 6 inputs it refuses.
pub fn sample_set() -> Vec<Sample> {
    let ok = |name: &str, bytes: Vec<u8>| Sample {
        name: name.to_owned(),
        bytes,
        expect: Expect::Processed,
    };
    let bad = |name: &str, bytes: Vec<u8>, code: &'static str| Sample {
        name: name.to_owned(),
        bytes,
        expect: Expect::Rejected(code),
    };
    let camera = |orientation| Exif {
        orientation,
        make: Some("Imglake Optics"),
        model: Some("Sample One"),
        taken: Some("2026:11:20 09:30:00"),
    };
    let landscape = jpeg(&photo(2400, 1600, 0), 88);
    let mut alpha = RgbaImage::from_fn(640, 480, |x, y| {
        let a = if x < 320 {
            255
        } else {
            u8::try_from(y * 255 / 480).unwrap_or(255)
        };
        Rgba([u8::try_from(x * 255 / 640).unwrap_or(0), 90, 200, a])
    });
    alpha.put_pixel(0, 0, Rgba([0, 0, 0, 0]));
    let truncated = landscape[..landscape.len() / 2].to_vec();
    let mut oversized = jpeg(&photo(1200, 800, 5), 95);
    oversized.resize(11 * 1024 * 1024, 0);
    vec![
        ok("landscape.jpg", with_exif(&landscape, &camera(1))),
        ok(
            "portrait-rotated-6.jpg",
            with_exif(&jpeg(&photo(1600, 1200, 1), 85), &camera(6)),
        ),
        ok(
            "upside-down-3.jpg",
            with_exif(&jpeg(&photo(1024, 768, 2), 85), &camera(3)),
        ),
        ok(
            "mirrored-5.jpg",
            with_exif(&jpeg(&photo(900, 600, 3), 80), &camera(5)),
        ),
        ok(
            "rotated-8.jpg",
            with_exif(&jpeg(&photo(1280, 720, 4), 80), &camera(8)),
        ),
        ok(
            "alpha.png",
            encode(DynamicImage::ImageRgba8(alpha), ImageFormat::Png),
        ),
        ok(
            "lossless.webp",
            encode(
                DynamicImage::ImageRgb8(photo(800, 800, 5)),
                ImageFormat::WebP,
            ),
        ),
        ok(
            "frame.gif",
            encode(
                DynamicImage::ImageRgb8(photo(320, 240, 1)),
                ImageFormat::Gif,
            ),
        ),
        ok("tiny.jpg", jpeg(&photo(120, 80, 2), 90)),
        bad("truncated.jpg", truncated, "truncated"),
        bad(
            "document.jpg",
            b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n".to_vec(),
            "unsupported_type",
        ),
        bad(
            "vector.png",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"/>".to_vec(),
            "unsupported_type",
        ),
        bad("empty.jpg", Vec::new(), "empty_input"),
        bad(
            "bomb.png",
            png_header_only(50_000, 50_000),
            "pixel_budget_exceeded",
        ),
        bad("oversized.jpg", oversized, "too_large"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::ExifMeta;
    use crate::validate::{validate, Limits};

    #[test]
    fn exif_written_here_is_read_back_by_the_pipeline() {
        let bytes = with_exif(
            &jpeg(&photo(64, 48, 0), 80),
            &Exif {
                orientation: 6,
                make: Some("Make"),
                model: Some("Model X"),
                taken: Some("2026:11:20 09:30:00"),
            },
        );
        let meta = ExifMeta::read(&bytes);
        assert_eq!(meta.orientation, Some(6));
        assert_eq!(meta.camera_make.as_deref(), Some("Make"));
        assert_eq!(meta.camera_model.as_deref(), Some("Model X"));
        assert!(meta.captured_at.is_some());
        assert!(image::load_from_memory(&bytes).is_ok());
    }

    #[test]
    fn refused_samples_fail_validation_or_decoding_with_their_code() {
        let limits = Limits::default();
        for sample in sample_set() {
            match sample.expect {
                Expect::Processed => {
                    assert!(validate(&sample.bytes, &limits).is_ok(), "{}", sample.name)
                }
                Expect::Rejected(code) => {
                    let got = crate::validate::decode_guarded(&sample.bytes, &limits)
                        .expect_err(&sample.name);
                    assert_eq!(got.code.as_str(), code, "{}", sample.name);
                }
            }
        }
    }
}
