//! Every input is generated here with the `image` crate's encoders or crafted byte by byte.

use std::io::Cursor;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::header::crc32;
use super::*;

/// A sanity bound for "rejected without decoding", not a performance claim.
const QUICK: Duration = Duration::from_secs(2);

/// A small image with varied pixels, so compressed data has some body.
fn sample(width: u32, height: u32) -> image::DynamicImage {
    image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(width, height, |x, y| {
        let v = x.wrapping_mul(31) ^ y.wrapping_mul(17) ^ (x * y);
        image::Rgb([v as u8, (v >> 3) as u8, (x + y) as u8])
    }))
}

fn encode(format: ImageFormat, width: u32, height: u32) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    sample(width, height)
        .write_to(&mut out, format.image_format())
        .expect("encode sample");
    out.into_inner()
}

fn tiff_ok() -> Limits {
    Limits {
        allow_tiff: true,
        ..Limits::default()
    }
}

fn code(result: Result<impl std::fmt::Debug, Rejection>) -> RejectCode {
    result.expect_err("input must be rejected").code
}

/// A PNG chunk: length, type, data, CRC over type and data.
fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc32(&out[4..]).to_be_bytes());
    out
}

/// A PNG whose IHDR declares `width`×`height` RGBA, with a tiny IDAT and IEND.
fn png_declaring(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    // zlib stream of a few zero bytes: what a bomb starts with.
    png.extend(chunk(
        b"IDAT",
        &[0x78, 0x9C, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01],
    ));
    png.extend(chunk(b"IEND", &[]));
    png
}

/// Offset of the first SOF0 payload (precision byte) in an encoded JPEG.
fn sof0_payload(jpeg: &[u8]) -> usize {
    jpeg.windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("SOF0")
        + 4
}

fn jpeg_declaring(width: u16, height: u16) -> Vec<u8> {
    let mut jpeg = encode(ImageFormat::Jpeg, 16, 16);
    let sof = sof0_payload(&jpeg);
    jpeg[sof + 1..sof + 3].copy_from_slice(&height.to_be_bytes());
    jpeg[sof + 3..sof + 5].copy_from_slice(&width.to_be_bytes());
    jpeg
}

#[test]
fn crc32_matches_the_standard_check_value() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
}

#[test]
fn every_accepted_format_round_trips() {
    for format in ImageFormat::ALL {
        let bytes = encode(format, 37, 23);
        assert_eq!(sniff(&bytes), Sniffed::Image(format), "{format:?}");
        let probe = validate(&bytes, &tiff_ok()).expect("valid image");
        assert_eq!(
            probe,
            Probe {
                format,
                content_type: format.content_type(),
                width: 37,
                height: 23,
                size_bytes: bytes.len() as u64,
            }
        );
        let image = decode_guarded(&bytes, &tiff_ok()).expect("decodes");
        assert_eq!((image.width(), image.height()), (37, 23), "{format:?}");
    }
}

#[test]
fn names_and_codes_are_the_lake_strings() {
    let names: Vec<_> = ImageFormat::ALL.iter().map(|f| f.name()).collect();
    assert_eq!(names, ["jpeg", "png", "webp", "gif", "tiff"]);
    for format in ImageFormat::ALL {
        assert_eq!(
            serde_json::to_value(format).ok(),
            Some(format.name().into())
        );
        assert_eq!(format.content_type(), format!("image/{}", format.name()));
    }
    for code in RejectCode::ALL {
        assert_eq!(serde_json::to_value(code).ok(), Some(code.as_str().into()));
        assert_eq!(code.to_string(), code.as_str());
    }
}

#[test]
fn defaults_are_10_mib_50_mp_and_no_tiff() {
    let limits = Limits::default();
    assert_eq!(limits.max_bytes, 10 * 1024 * 1024);
    assert_eq!(limits.max_pixels, 50_000_000);
    assert!(!limits.allow_tiff);
}

#[test]
fn empty_input_is_rejected() {
    assert_eq!(
        code(validate(&[], &Limits::default())),
        RejectCode::EmptyInput
    );
    assert_eq!(
        code(decode_guarded(&[], &Limits::default())),
        RejectCode::EmptyInput
    );
}

#[test]
fn size_is_checked_before_anything_else() {
    let mut big = encode(ImageFormat::Png, 8, 8);
    big.resize(10 * 1024 * 1024 + 1, 0);
    let rejection = validate(&big, &Limits::default()).expect_err("too large");
    assert_eq!(rejection.code, RejectCode::TooLarge);
    assert_eq!(
        rejection.message,
        "the image is 10485761 bytes, above the 10 MiB limit"
    );
    // Garbage of the same size is refused for its size, not its type.
    assert_eq!(
        code(validate(&vec![0; 10 * 1024 * 1024 + 1], &Limits::default())),
        RejectCode::TooLarge
    );
    // Exactly at the limit passes the size check.
    big.truncate(10 * 1024 * 1024);
    assert!(validate(&big, &Limits::default()).is_ok());
}

#[test]
fn unknown_bytes_are_unknown_type() {
    for bytes in [
        &b"hello, world"[..],
        &[0u8; 64],
        b"\xFF\xD8",
        b"GIF88a....",
        b"RIFF\0\0\0\0WAVE",
    ] {
        let rejection = validate(bytes, &Limits::default()).expect_err("unknown");
        assert_eq!(rejection.code, RejectCode::UnknownType, "{bytes:?}");
        assert_eq!(
            rejection.message,
            "the data is not a recognised image type; send JPEG, PNG, WebP or GIF"
        );
    }
}

#[test]
fn refused_types_are_named() {
    let heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".as_slice();
    let avif = b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf".as_slice();
    let heif = b"\0\0\0\x14ftypmif1\0\0\0\0mif1".as_slice();
    let cases: [(&[u8], Refused, &str); 14] = [
        (
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
            Refused::Svg,
            "SVG is not an accepted image type",
        ),
        (
            b"\xEF\xBB\xBF \n<?xml version=\"1.0\"?>\n<!-- x -->\n<svg width=\"1\"/>",
            Refused::Svg,
            "SVG is not an accepted image type",
        ),
        (heic, Refused::Heic, "HEIC is not an accepted image type"),
        (avif, Refused::Avif, "AVIF is not an accepted image type"),
        (heif, Refused::Heif, "HEIF is not an accepted image type"),
        (
            b"%PDF-1.7\n%\xE2\xE3",
            Refused::Pdf,
            "PDF is not an accepted image type",
        ),
        (
            b"\x7fELF\x02\x01\x01\0",
            Refused::Executable(Executable::Elf),
            "an executable (ELF binary) is not an accepted image type",
        ),
        (
            b"MZ\x90\0\x03\0\0\0",
            Refused::Executable(Executable::Pe),
            "an executable (Windows PE binary) is not an accepted image type",
        ),
        (
            b"\xCF\xFA\xED\xFE\x07\0\0\x01",
            Refused::Executable(Executable::MachO),
            "an executable (Mach-O binary) is not an accepted image type",
        ),
        (
            b"#!/bin/sh\nrm -rf /\n",
            Refused::Executable(Executable::Script),
            "an executable (#! script) is not an accepted image type",
        ),
        (
            b"PK\x03\x04\x14\0\0\0",
            Refused::Zip,
            "a ZIP archive is not an accepted image type",
        ),
        (
            b"PK\x05\x06\0\0\0\0",
            Refused::Zip,
            "a ZIP archive is not an accepted image type",
        ),
        (
            b"BM\x46\0\0\0\0\0\0\0\x36\0\0\0\x28\0",
            Refused::Bmp,
            "BMP is not an accepted image type",
        ),
        (
            b"\xCA\xFE\xBA\xBE\0\0\0\x02",
            Refused::Executable(Executable::MachO),
            "an executable (Mach-O binary) is not an accepted image type",
        ),
    ];
    for (bytes, refused, message) in cases {
        assert_eq!(sniff(bytes), Sniffed::Refused(refused), "{bytes:?}");
        let rejection = validate(bytes, &Limits::default()).expect_err("refused");
        assert_eq!(rejection.code, RejectCode::UnsupportedType);
        assert_eq!(rejection.message, message);
        assert_eq!(rejection.to_string(), message);
    }
}

#[test]
fn xml_that_is_not_svg_is_unknown() {
    assert_eq!(sniff(b"<?xml version=\"1.0\"?><html/>"), Sniffed::Unknown);
    assert_eq!(sniff(b"<html><svg/></html>"), Sniffed::Unknown);
    assert_eq!(
        sniff(b"\0\0\0\x18ftypisom\0\0\0\0isommp42"),
        Sniffed::Unknown
    );
}

#[test]
fn tiff_is_refused_unless_allowed() {
    let tiff = encode(ImageFormat::Tiff, 5, 4);
    let rejection = validate(&tiff, &Limits::default()).expect_err("tiff off");
    assert_eq!(rejection.code, RejectCode::TiffDisabled);
    assert_eq!(
        rejection.message,
        "TIFF images are not accepted here; send JPEG, PNG, WebP or GIF"
    );
    assert_eq!(
        code(decode_guarded(&tiff, &Limits::default())),
        RejectCode::TiffDisabled
    );
    let probe = validate(&tiff, &tiff_ok()).expect("tiff on");
    assert_eq!(
        (probe.format, probe.width, probe.height),
        (ImageFormat::Tiff, 5, 4)
    );
}

#[test]
fn big_endian_tiff_header_is_read() {
    // MM, 42, IFD at 8: two SHORT/LONG entries.
    let mut tiff = b"MM\0\x2a\0\0\0\x08\0\x02".to_vec();
    tiff.extend_from_slice(&[1, 0, 0, 3, 0, 0, 0, 1, 0x01, 0x2C, 0, 0]); // width 300 (SHORT)
    tiff.extend_from_slice(&[1, 1, 0, 4, 0, 0, 0, 1, 0, 0, 0x00, 0xC8]); // height 200 (LONG)
    tiff.extend_from_slice(&[0, 0, 0, 0]);
    let probe = validate(&tiff, &tiff_ok()).expect("header is enough");
    assert_eq!((probe.width, probe.height), (300, 200));
    // A directory past the end is a corrupt header.
    tiff[7] = 0xF0;
    assert_eq!(code(validate(&tiff, &tiff_ok())), RejectCode::CorruptHeader);
}

#[test]
fn webp_extended_canvas_is_the_size() {
    // Wrap the encoder's lossless chunk in an extended (VP8X) container.
    let simple = encode(ImageFormat::Webp, 9, 7);
    let vp8l_chunk = &simple[12..];
    let mut vp8x = b"VP8X\x0a\0\0\0\0\0\0\0".to_vec();
    vp8x.extend_from_slice(&[8, 0, 0, 6, 0, 0]); // canvas 9×7, stored minus one
    let mut body = b"WEBP".to_vec();
    body.extend(vp8x);
    body.extend_from_slice(vp8l_chunk);
    let mut webp = b"RIFF".to_vec();
    webp.extend_from_slice(&(body.len() as u32).to_le_bytes());
    webp.extend(body);
    let probe = validate(&webp, &Limits::default()).expect("extended webp");
    assert_eq!((probe.width, probe.height), (9, 7));
    let image = decode_guarded(&webp, &Limits::default()).expect("decodes");
    assert_eq!((image.width(), image.height()), (9, 7));
    // A 16384×16384 canvas is over the budget from the header alone.
    let mut bomb = webp.clone();
    bomb[24..30].copy_from_slice(&[0xFF, 0x3F, 0, 0xFF, 0x3F, 0]);
    assert_eq!(
        code(validate(&bomb, &Limits::default())),
        RejectCode::PixelBudgetExceeded
    );
}

#[test]
fn webp_lossy_frame_header_is_read() {
    let mut webp = b"RIFF\x24\0\0\0WEBPVP8 \x18\0\0\0".to_vec();
    webp.extend_from_slice(&[0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A]);
    webp.extend_from_slice(&640u16.to_le_bytes());
    webp.extend_from_slice(&(480u16 | 0x4000).to_le_bytes()); // scale bits are not size
    webp.resize(44, 0);
    let probe = validate(&webp, &Limits::default()).expect("lossy header");
    assert_eq!((probe.width, probe.height), (640, 480));
    // Not a real bitstream: the decoder refuses it without panicking.
    assert!(decode_guarded(&webp, &Limits::default()).is_err());
}

#[test]
fn png_bomb_is_rejected_from_its_header_quickly() {
    let bomb = png_declaring(100_000, 100_000);
    let started = Instant::now();
    let rejection = validate(&bomb, &Limits::default()).expect_err("bomb");
    assert_eq!(rejection.code, RejectCode::PixelBudgetExceeded);
    assert_eq!(
        rejection.message,
        "image declares 100000×100000 = 10 GP, above the 50 MP budget"
    );
    assert_eq!(
        code(decode_guarded(&bomb, &Limits::default())),
        RejectCode::PixelBudgetExceeded
    );
    assert!(started.elapsed() < QUICK, "took {:?}", started.elapsed());
}

#[test]
fn jpeg_bomb_is_rejected_from_its_header_quickly() {
    let bomb = jpeg_declaring(65_000, 65_000);
    let started = Instant::now();
    let rejection = validate(&bomb, &Limits::default()).expect_err("bomb");
    assert_eq!(rejection.code, RejectCode::PixelBudgetExceeded);
    assert_eq!(
        rejection.message,
        "image declares 65000×65000 = 4.2 GP, above the 50 MP budget"
    );
    assert_eq!(
        code(decode_guarded(&bomb, &Limits::default())),
        RejectCode::PixelBudgetExceeded
    );
    assert!(started.elapsed() < QUICK, "took {:?}", started.elapsed());
}

#[test]
fn gif_frame_larger_than_its_screen_is_refused_for_the_frame() {
    // A 1×1 logical screen whose first frame declares 65535×65535: the decoder would allocate
    // the frame before clipping it, so the frame is what the budget judges, and what the
    // message names.
    let mut gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00".to_vec();
    gif.extend_from_slice(&[0, 0, 0, 255, 255, 255]); // two-color global table
    gif.extend_from_slice(&[0x21, 0xF9, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00]); // GCE first
    gif.extend_from_slice(&[0x2C, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x00]);
    gif.extend_from_slice(&[0x02, 0x02, 0x4C, 0x01, 0x00, 0x3B]);
    let started = Instant::now();
    let rejection = validate(&gif, &Limits::default()).expect_err("frame bomb");
    assert_eq!(rejection.code, RejectCode::PixelBudgetExceeded);
    assert_eq!(
        rejection.message,
        "GIF's first frame declares 65535×65535 = 4.3 GP, above the 50 MP budget (its canvas is 1×1)"
    );
    assert_eq!(
        code(decode_guarded(&gif, &Limits::default())),
        RejectCode::PixelBudgetExceeded
    );
    assert!(started.elapsed() < QUICK, "took {:?}", started.elapsed());
    // A frame within the budget but larger than its screen still decodes to the screen.
    let mut small = b"GIF89a\x04\x00\x04\x00\x80\x00\x00".to_vec();
    small.extend_from_slice(&[0, 0, 0, 255, 255, 255]);
    small.extend_from_slice(&[0x2C, 0, 0, 0, 0, 0x08, 0x00, 0x08, 0x00, 0x00]);
    small.extend_from_slice(&[0x02, 0x02, 0x4C, 0x01, 0x00, 0x3B]);
    assert!(validate(&small, &Limits::default()).is_ok());
}

#[test]
fn budget_message_names_the_limit() {
    let gif = {
        let mut gif = encode(ImageFormat::Gif, 4, 4);
        gif[6..10].copy_from_slice(&[0x40, 0x9C, 0x40, 0x9C]); // 40000×40000
        gif
    };
    let rejection = validate(&gif, &Limits::default()).expect_err("over budget");
    assert_eq!(
        rejection.message,
        "image declares 40000×40000 = 1.6 GP, above the 50 MP budget"
    );
    // When the short forms tie, the exact counts are given.
    let tight = Limits {
        max_pixels: 1_000_000,
        ..Limits::default()
    };
    let rejection = validate(&png_declaring(1001, 1000), &tight).expect_err("just over");
    assert_eq!(
        rejection.message,
        "image declares 1001×1000 = 1001000 pixels, above the 1000000-pixel budget"
    );
    let tiny = Limits {
        max_pixels: 100,
        ..Limits::default()
    };
    let rejection = validate(&png_declaring(11, 10), &tiny).expect_err("over");
    assert_eq!(
        rejection.message,
        "image declares 11×10 = 110 pixels, above the 100-pixel budget"
    );
    // Exactly at the budget is accepted.
    assert!(validate(&png_declaring(10, 10), &tiny).is_ok());
}

#[test]
fn zero_dimensions_are_rejected() {
    let png = png_declaring(0, 10);
    let rejection = validate(&png, &Limits::default()).expect_err("zero width");
    assert_eq!(rejection.code, RejectCode::ZeroDimensions);
    assert!(rejection.message.contains("0×10"), "{}", rejection.message);
    let mut gif = encode(ImageFormat::Gif, 4, 4);
    gif[8..10].copy_from_slice(&[0, 0]);
    assert_eq!(
        code(validate(&gif, &Limits::default())),
        RejectCode::ZeroDimensions
    );
    assert_eq!(
        code(validate(&jpeg_declaring(16, 0), &Limits::default())),
        RejectCode::ZeroDimensions
    );
}

#[test]
fn corrupt_png_headers_are_rejected() {
    let good = png_declaring(4, 4);
    let mut bad_crc = good.clone();
    bad_crc[29] ^= 1;
    let rejection = validate(&bad_crc, &Limits::default()).expect_err("crc");
    assert_eq!(rejection.code, RejectCode::CorruptHeader);
    assert_eq!(
        rejection.message,
        "PNG header is corrupt: IHDR checksum mismatch"
    );
    let mut not_ihdr = good.clone();
    not_ihdr[12..16].copy_from_slice(b"IDAT");
    assert_eq!(
        code(validate(&not_ihdr, &Limits::default())),
        RejectCode::CorruptHeader
    );
    let mut ihdr = 4u32.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&4u32.to_be_bytes());
    ihdr.extend_from_slice(&[16, 3, 0, 0, 0]); // 16-bit palette does not exist
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    assert_eq!(
        code(validate(&png, &Limits::default())),
        RejectCode::CorruptHeader
    );
}

#[test]
fn unsupported_jpeg_modes_are_named() {
    let mut jpeg = encode(ImageFormat::Jpeg, 8, 8);
    let sof = sof0_payload(&jpeg);
    jpeg[sof - 3] = 0xC3;
    let rejection = validate(&jpeg, &Limits::default()).expect_err("lossless");
    assert_eq!(rejection.code, RejectCode::UnsupportedType);
    assert_eq!(
        rejection.message,
        "a lossless JPEG is not an accepted image type"
    );
    jpeg[sof - 3] = 0xC0;
    jpeg[sof] = 12;
    assert_eq!(
        validate(&jpeg, &Limits::default())
            .expect_err("12-bit")
            .message,
        "a 12-bit JPEG is not an accepted image type"
    );
}

#[test]
fn truncated_jpeg_is_rejected_at_every_cut() {
    let jpeg = encode(ImageFormat::Jpeg, 64, 48);
    let sos = jpeg
        .windows(2)
        .position(|w| w == [0xFF, 0xDA])
        .expect("SOS");
    let sof = sof0_payload(&jpeg);
    let len = jpeg.len();
    let cuts = [
        1,
        2,
        3,
        4,
        6,
        20,
        sof - 2,
        sof + 2,
        sos,
        sos + 4,
        sos + 40,
        (sos + len) / 2,
        len - 40,
        len - 2,
        len - 1,
    ];
    for cut in cuts {
        let bytes = &jpeg[..cut];
        let rejection = decode_guarded(bytes, &Limits::default()).expect_err("truncated JPEG");
        let expected = if cut <= 2 {
            RejectCode::UnknownType
        } else if cut < sos {
            RejectCode::CorruptHeader
        } else {
            RejectCode::Truncated
        };
        assert_eq!(
            rejection.code, expected,
            "cut at {cut} of {len}: {}",
            rejection.message
        );
    }
    assert!(decode_guarded(&jpeg, &Limits::default()).is_ok());
}

#[test]
fn truncated_png_is_rejected_at_every_cut() {
    let png = encode(ImageFormat::Png, 64, 48);
    let len = png.len();
    for cut in [1, 8, 12, 20, 28, 32, 40, 60, len / 2, len - 20, len - 13] {
        let rejection = decode_guarded(&png[..cut], &Limits::default()).expect_err("truncated PNG");
        let expected = if cut < 8 {
            RejectCode::UnknownType
        } else if cut < 33 {
            RejectCode::CorruptHeader
        } else {
            RejectCode::Truncated
        };
        assert_eq!(
            rejection.code, expected,
            "cut at {cut} of {len}: {}",
            rejection.message
        );
    }
}

#[test]
fn truncated_gif_and_webp_are_rejected() {
    for format in [ImageFormat::Gif, ImageFormat::Webp] {
        let bytes = encode(format, 64, 48);
        for cut in [13, 30, bytes.len() / 2, bytes.len() - 10, bytes.len() - 3] {
            let rejection = decode_guarded(&bytes[..cut], &Limits::default()).expect_err("cut");
            let expected = match (format, cut) {
                (ImageFormat::Webp, 13) => RejectCode::CorruptHeader,
                _ => RejectCode::Truncated,
            };
            assert_eq!(
                rejection.code, expected,
                "{format:?} cut at {cut}: {}",
                rejection.message
            );
        }
        // Without its block terminator and trailer, a GIF's pixel data is complete.
        if format == ImageFormat::Gif {
            assert!(decode_guarded(&bytes[..bytes.len() - 2], &Limits::default()).is_ok());
        }
    }
}

/// Limits for fuzzing: small pixel budget so accepted headers decode in milliseconds.
fn fuzz_limits() -> Limits {
    Limits {
        max_bytes: 4096,
        max_pixels: 1 << 16,
        allow_tiff: true,
        ..Limits::default()
    }
}

fn magic_prefix() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(vec![
        b"".to_vec(),
        b"\xFF\xD8\xFF".to_vec(),
        b"\x89PNG\r\n\x1a\n".to_vec(),
        b"GIF89a".to_vec(),
        b"RIFF\0\x10\0\0WEBPVP8 ".to_vec(),
        b"RIFF\0\x10\0\0WEBPVP8L".to_vec(),
        b"RIFF\0\x10\0\0WEBPVP8X".to_vec(),
        b"II*\0".to_vec(),
        b"MM\0+".to_vec(),
        b"\0\0\0\x18ftyp".to_vec(),
        b"<?xml".to_vec(),
    ])
}

/// (position, byte) overwrites plus an optional cut applied to a valid image.
fn mutations() -> impl Strategy<Value = (Vec<(usize, u8)>, Option<usize>)> {
    (
        prop::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        prop::option::of(any::<usize>()),
    )
}

fn mutate(valid: &[u8], edits: &[(usize, u8)], cut: Option<usize>) -> Vec<u8> {
    let mut bytes = valid.to_vec();
    for &(at, byte) in edits {
        let at = at % bytes.len();
        bytes[at] = byte;
    }
    if let Some(cut) = cut {
        bytes.truncate(cut % (bytes.len() + 1));
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(
        prefix in magic_prefix(),
        tail in prop::collection::vec(any::<u8>(), 0..4096),
    ) {
        let mut bytes = prefix;
        bytes.extend(tail);
        let _ = sniff(&bytes);
        let validated = validate(&bytes, &fuzz_limits());
        let decoded = decode_guarded(&bytes, &fuzz_limits());
        // decode_guarded never accepts what validate refuses.
        prop_assert!(validated.is_ok() || decoded.is_err());
    }

    #[test]
    fn mutated_png_never_panics((edits, cut) in mutations()) {
        let png = encode(ImageFormat::Png, 24, 16);
        let bytes = mutate(&png, &edits, cut);
        let _ = validate(&bytes, &fuzz_limits());
        let _ = decode_guarded(&bytes, &fuzz_limits());
    }

    #[test]
    fn mutated_jpeg_never_panics((edits, cut) in mutations()) {
        let jpeg = encode(ImageFormat::Jpeg, 24, 16);
        let bytes = mutate(&jpeg, &edits, cut);
        let _ = validate(&bytes, &fuzz_limits());
        let _ = decode_guarded(&bytes, &fuzz_limits());
    }

    #[test]
    fn mutated_gif_and_webp_never_panic((edits, cut) in mutations(), gif in any::<bool>()) {
        let format = if gif { ImageFormat::Gif } else { ImageFormat::Webp };
        let bytes = mutate(&encode(format, 24, 16), &edits, cut);
        let _ = validate(&bytes, &fuzz_limits());
        let _ = decode_guarded(&bytes, &fuzz_limits());
    }
}

#[test]
fn a_jpeg_that_repeats_its_scan_is_refused_before_decoding() {
    // The repeated-scan bomb: each extra copy of the last scan is one more pass of the
    // decoder over the whole image, in a few dozen bytes.
    let jpeg = encode(ImageFormat::Jpeg, 64, 48);
    let scan = jpeg
        .windows(2)
        .rposition(|w| w == [0xFF, 0xDA])
        .expect("a scan");
    let with_scans = |n: usize| {
        let mut out = jpeg[..jpeg.len() - 2].to_vec();
        for _ in 1..n {
            out.extend_from_slice(&jpeg[scan..jpeg.len() - 2]);
        }
        out.extend_from_slice(&[0xFF, 0xD9]);
        out
    };
    let limits = Limits::default();
    assert!(validate(&with_scans(DEFAULT_MAX_JPEG_SCANS as usize), &limits).is_ok());
    let err = validate(&with_scans(1000), &limits).unwrap_err();
    assert_eq!(err.code, RejectCode::TooManyScans);
    assert!(
        err.message
            .contains("JPEG has 1000 scans, above the limit of 64"),
        "{}",
        err.message
    );
    let lenient = Limits {
        max_jpeg_scans: 1000,
        ..Limits::default()
    };
    assert!(validate(&with_scans(1000), &lenient).is_ok());
    // Data after the image (a motion photo's video) is not scans the decoder reads.
    let mut motion = jpeg.clone();
    for _ in 0..1000 {
        motion.extend_from_slice(&[0x00, 0xFF, 0xDA, 0x17]);
    }
    assert!(validate(&motion, &limits).is_ok());
    // An end-of-image pair hidden in a table segment between scans does not hide the scans
    // after it: segments are skipped by their length, as the decoder skips them.
    let mut hidden = jpeg[..jpeg.len() - 2].to_vec();
    hidden.extend_from_slice(&[0xFF, 0xFE, 0x00, 0x04, 0xFF, 0xD9]); // COM "FF D9"
    for _ in 1..100 {
        hidden.extend_from_slice(&jpeg[scan..jpeg.len() - 2]);
    }
    hidden.extend_from_slice(&[0xFF, 0xD9]);
    let err = validate(&hidden, &limits).unwrap_err();
    assert!(
        err.message.contains("JPEG has 100 scans"),
        "{}",
        err.message
    );
}

#[test]
fn a_jpeg_whose_scan_is_too_short_for_its_size_is_truncated() {
    // A 16×16 image's few hundred bytes of scan data under a header claiming 7000×7000: the
    // decoder would fill 765 625 blocks with nothing and report success.
    let lie = jpeg_declaring(7000, 7000);
    assert!(
        validate(&lie, &Limits::default()).is_ok(),
        "the header alone is fine"
    );
    let err = decode_guarded(&lie, &Limits::default()).unwrap_err();
    assert_eq!(err.code, RejectCode::Truncated);
    assert!(
        err.message
            .contains("its scan data is too short for the size its header declares"),
        "{}",
        err.message
    );
    // The honest file decodes, and so does a real photo-sized one.
    assert!(decode_guarded(&encode(ImageFormat::Jpeg, 16, 16), &Limits::default()).is_ok());
    assert!(decode_guarded(&encode(ImageFormat::Jpeg, 1200, 900), &Limits::default()).is_ok());
    // The tightest real scan data, a uniform image, still has about 2 bits per block (Pillow
    // with optimized Huffman tables: 46 887 bytes for 4000×3000 gray, the bound is 23 437).
    let mut flat = Vec::new();
    image::DynamicImage::ImageLuma8(image::GrayImage::from_pixel(2000, 1500, image::Luma([128])))
        .write_to(&mut Cursor::new(&mut flat), image::ImageFormat::Jpeg)
        .unwrap();
    assert!(decode_guarded(&flat, &Limits::default()).is_ok());
}
