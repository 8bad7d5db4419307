//! The reduced JPEG decode: sizes, pixels, fallbacks, and the same guards as the full decode.

use image::{DynamicImage, GenericImageView};
use jpeg_encoder::{ColorType, Encoder};
use proptest::prelude::*;

use super::*;

use crate::test_images::{quadrants, BLUE, GREEN, RED, YELLOW};

/// A JPEG of `pixels` (`color` layout), baseline or progressive.
fn jpeg(pixels: &[u8], width: u32, height: u32, color: ColorType, progressive: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = Encoder::new(&mut out, 90);
    encoder.set_progressive(progressive);
    let (w, h) = (width as u16, height as u16);
    encoder.encode(pixels, w, h, color).expect("encode");
    out
}

fn rgb_jpeg(width: u32, height: u32, progressive: bool) -> Vec<u8> {
    let image = quadrants(width, height);
    jpeg(image.as_raw(), width, height, ColorType::Rgb, progressive)
}

fn close(actual: [u8; 3], expected: [u8; 3]) -> bool {
    actual
        .iter()
        .zip(expected)
        .all(|(&a, e)| a.abs_diff(e) <= 30)
}

fn corner_colours(image: &DynamicImage) -> [[u8; 3]; 4] {
    let (w, h) = image.dimensions();
    let at = |x: u32, y: u32| {
        let [r, g, b, _] = image.get_pixel(x, y).0;
        [r, g, b]
    };
    [
        at(w / 4, h / 4),
        at(3 * w / 4, h / 4),
        at(w / 4, 3 * h / 4),
        at(3 * w / 4, 3 * h / 4),
    ]
}

#[test]
fn jpeg_decodes_at_the_largest_reduction_allowed_with_ceiling_sides() {
    for progressive in [false, true] {
        let bytes = rgb_jpeg(803, 601, progressive);
        for (max_shrink, shrink) in [(1, 1), (2, 2), (3, 2), (4, 4), (7, 4), (8, 8), (64, 8)] {
            let decoded =
                decode_guarded_shrunk(&bytes, &Limits::default(), max_shrink).expect("decodes");
            assert_eq!(
                decoded.shrink, shrink,
                "max {max_shrink}, progressive {progressive}"
            );
            assert_eq!(
                decoded.image.dimensions(),
                (803u32.div_ceil(shrink), 601u32.div_ceil(shrink)),
                "max {max_shrink}, progressive {progressive}"
            );
            let found = corner_colours(&decoded.image);
            for (got, want) in found.into_iter().zip([RED, GREEN, BLUE, YELLOW]) {
                assert!(close(got, want), "1/{shrink}: {got:?} is not {want:?}");
            }
        }
    }
}

#[test]
fn grayscale_jpeg_decodes_reduced_as_luma() {
    let luma: Vec<u8> = (0..640u32 * 480).map(|i| (i % 640 / 3) as u8).collect();
    let bytes = jpeg(&luma, 640, 480, ColorType::Luma, false);
    let decoded = decode_guarded_shrunk(&bytes, &Limits::default(), 4).expect("decodes");
    assert_eq!(decoded.shrink, 4);
    assert!(matches!(decoded.image, DynamicImage::ImageLuma8(_)));
    assert_eq!(decoded.image.dimensions(), (160, 120));
}

#[test]
fn what_the_reduced_decoder_does_not_handle_is_decoded_in_full() {
    // CMYK: left to the full decoder, which converts it.
    let cmyk: Vec<u8> = (0..64u32 * 48 * 4).map(|i| (i * 7) as u8).collect();
    let bytes = jpeg(&cmyk, 64, 48, ColorType::Cmyk, false);
    let full = decode_guarded(&bytes, &Limits::default()).map(|i| i.dimensions());
    let shrunk = decode_guarded_shrunk(&bytes, &Limits::default(), 8);
    match shrunk {
        Ok(decoded) => {
            assert_eq!(decoded.shrink, 1);
            assert_eq!(Ok(decoded.image.dimensions()), full);
        }
        Err(rejection) => assert_eq!(Err(rejection), full),
    }
    // Not a JPEG: no reduction.
    let mut png = Vec::new();
    DynamicImage::ImageRgb8(quadrants(64, 48))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("png");
    let decoded = decode_guarded_shrunk(&png, &Limits::default(), 8).expect("decodes");
    assert_eq!((decoded.shrink, decoded.image.dimensions()), (1, (64, 48)));
}

#[test]
fn limits_and_truncation_are_enforced_before_a_reduced_decode() {
    let bytes = rgb_jpeg(800, 600, true);
    let small_budget = Limits {
        max_pixels: 400_000,
        ..Limits::default()
    };
    let rejection = decode_guarded_shrunk(&bytes, &small_budget, 8).expect_err("over budget");
    assert_eq!(rejection.code, RejectCode::PixelBudgetExceeded);
    let small_size = Limits {
        max_bytes: 1000,
        ..Limits::default()
    };
    let rejection = decode_guarded_shrunk(&bytes, &small_size, 8).expect_err("too large");
    assert_eq!(rejection.code, RejectCode::TooLarge);
    for cut in [bytes.len() / 3, bytes.len() / 2, bytes.len() - 2] {
        let full = decode_guarded(&bytes[..cut], &Limits::default()).map(|_| ());
        let shrunk = decode_guarded_shrunk(&bytes[..cut], &Limits::default(), 8).map(|_| ());
        assert_eq!(shrunk, full, "cut at {cut}");
        assert_eq!(shrunk.expect_err("truncated").code, RejectCode::Truncated);
    }
}

#[test]
fn a_frame_that_disagrees_with_the_validated_header_is_not_decoded_reduced() {
    // A second SOF0 declaring another size: validation reads the first, and the reduced
    // decoder must not allocate for anything but the validated size.
    let mut bytes = rgb_jpeg(256, 192, false);
    let sof = bytes
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("SOF0");
    let segment_len = usize::from(u16::from_be_bytes([bytes[sof + 2], bytes[sof + 3]]));
    let mut second = bytes[sof..sof + 2 + segment_len].to_vec();
    second[5..9].copy_from_slice(&[0x40, 0x00, 0x40, 0x00]); // 16384 × 16384
    let at = sof + 2 + segment_len;
    bytes.splice(at..at, second);
    let result = decode_guarded_shrunk(&bytes, &Limits::default(), 8);
    if let Ok(decoded) = result {
        let (w, h) = decoded.image.dimensions();
        assert!(w <= 256 && h <= 192, "{w}×{h}");
    }
}

/// (position, byte) overwrites plus an optional cut applied to a valid image.
fn mutations() -> impl Strategy<Value = (Vec<(usize, u8)>, Option<usize>)> {
    (
        prop::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        prop::option::of(any::<usize>()),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn mutated_jpeg_never_panics_and_never_exceeds_its_validated_size(
        (edits, cut) in mutations(),
        progressive in any::<bool>(),
        max_shrink in 1u32..=8,
    ) {
        let valid = rgb_jpeg(48, 32, progressive);
        let mut bytes = valid.clone();
        for &(at, byte) in &edits {
            let at = at % bytes.len();
            bytes[at] = byte;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut % (bytes.len() + 1));
        }
        let limits = Limits::default();
        match decode_guarded_shrunk(&bytes, &limits, max_shrink) {
            Ok(decoded) => {
                let probe = validate(&bytes, &limits).expect("accepted input validates");
                prop_assert!(decoded.shrink <= max_shrink.max(1));
                prop_assert_eq!(
                    decoded.image.dimensions(),
                    (probe.width.div_ceil(decoded.shrink), probe.height.div_ceil(decoded.shrink))
                );
            }
            Err(_) => prop_assert!(decode_guarded(&bytes, &limits).is_err()),
        }
    }
}
