//! Behaviour of `process` on generated images; EXIF blocks are built by hand (a minimal
//! little-endian TIFF) and inserted after the JPEG SOI as an APP1 segment.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageFormat as Fmt, Rgb, RgbImage, Rgba, RgbaImage};

use super::*;
use crate::validate::crc32;
use crate::validate::{ImageFormat, RejectCode};

use crate::test_images::{quadrants, BLUE, GREEN, ORIENTED_CORNERS, RED};

// ---------- inputs ----------

fn jpeg(image: &RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(image)
        .unwrap();
    out
}

fn encoded(image: &DynamicImage, format: Fmt) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).unwrap();
    out.into_inner()
}

#[derive(Clone)]
enum Val {
    Short(u16),
    Long(u32),
    Ascii(&'static str),
    Rational(Vec<(u32, u32)>),
}

type Entries = Vec<(u16, Val)>;

/// One IFD placed at `offset` of the TIFF, followed by its out-of-line values.
fn ifd_bytes(entries: &Entries, offset: u32) -> Vec<u8> {
    let data_start = offset + 2 + 12 * entries.len() as u32 + 4;
    let (mut head, mut data) = (Vec::new(), Vec::new());
    head.extend((entries.len() as u16).to_le_bytes());
    for (tag, value) in entries {
        let (kind, count, payload): (u16, u32, Vec<u8>) = match value {
            Val::Short(v) => (3, 1, v.to_le_bytes().to_vec()),
            Val::Long(v) => (4, 1, v.to_le_bytes().to_vec()),
            Val::Ascii(s) => {
                let mut b = s.as_bytes().to_vec();
                b.push(0);
                (2, b.len() as u32, b)
            }
            Val::Rational(v) => (
                5,
                v.len() as u32,
                v.iter()
                    .flat_map(|(n, d)| n.to_le_bytes().into_iter().chain(d.to_le_bytes()))
                    .collect(),
            ),
        };
        head.extend(tag.to_le_bytes());
        head.extend(kind.to_le_bytes());
        head.extend(count.to_le_bytes());
        if payload.len() <= 4 {
            let mut inline = payload;
            inline.resize(4, 0);
            head.extend(inline);
        } else {
            head.extend((data_start + data.len() as u32).to_le_bytes());
            data.extend(payload);
            if data.len() % 2 == 1 {
                data.push(0);
            }
        }
    }
    head.extend(0u32.to_le_bytes());
    head.extend(data);
    head
}

/// A little-endian TIFF with IFD0 and, when not empty, an Exif and a GPS sub-IFD.
fn tiff(mut ifd0: Entries, exif: Entries, gps: Entries) -> Vec<u8> {
    const EXIF_POINTER: u16 = 0x8769;
    const GPS_POINTER: u16 = 0x8825;
    if !exif.is_empty() {
        ifd0.push((EXIF_POINTER, Val::Long(0)));
    }
    if !gps.is_empty() {
        ifd0.push((GPS_POINTER, Val::Long(0)));
    }
    ifd0.sort_by_key(|(tag, _)| *tag);
    let exif_at = 8 + ifd_bytes(&ifd0, 8).len() as u32;
    let exif_bytes = if exif.is_empty() {
        Vec::new()
    } else {
        ifd_bytes(&exif, exif_at)
    };
    let gps_at = exif_at + exif_bytes.len() as u32;
    let gps_bytes = if gps.is_empty() {
        Vec::new()
    } else {
        ifd_bytes(&gps, gps_at)
    };
    for (tag, value) in &mut ifd0 {
        match *tag {
            EXIF_POINTER => *value = Val::Long(exif_at),
            GPS_POINTER => *value = Val::Long(gps_at),
            _ => {}
        }
    }
    let mut out = b"II*\0".to_vec();
    out.extend(8u32.to_le_bytes());
    out.extend(ifd_bytes(&ifd0, 8));
    out.extend(exif_bytes);
    out.extend(gps_bytes);
    out
}

/// `jpeg` with an APP1 Exif segment holding `tiff` right after SOI.
fn with_app1(jpeg: &[u8], tiff: &[u8]) -> Vec<u8> {
    assert_eq!(&jpeg[..2], [0xFF, 0xD8]);
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend(((2 + 6 + tiff.len()) as u16).to_be_bytes());
    out.extend(b"Exif\0\0");
    out.extend(tiff);
    out.extend(&jpeg[2..]);
    out
}

fn orientation_tiff(orientation: u16) -> Vec<u8> {
    tiff(
        vec![(0x0112, Val::Short(orientation))],
        Vec::new(),
        Vec::new(),
    )
}

/// Make, Model, Orientation 1, DateTimeOriginal (+ offset, subseconds when asked) and a GPS
/// position.
fn camera_tiff(offset: Option<&'static str>) -> Vec<u8> {
    let mut exif = vec![(0x9003, Val::Ascii("2024:03:15 14:30:45"))];
    if let Some(offset) = offset {
        exif.push((0x9011, Val::Ascii(offset)));
        exif.push((0x9291, Val::Ascii("250")));
    }
    tiff(
        vec![
            (0x010F, Val::Ascii("FUJIFILM")),
            (0x0110, Val::Ascii("X-T5")),
            (0x0112, Val::Short(1)),
        ],
        exif,
        vec![
            (0x0001, Val::Ascii("N")),
            (0x0002, Val::Rational(vec![(52, 1), (22, 1), (3456, 100)])),
            (0x0003, Val::Ascii("E")),
            (0x0004, Val::Rational(vec![(4, 1), (53, 1), (1234, 100)])),
        ],
    )
}

// ---------- helpers ----------

fn variant(name: &str, resize: Option<Resize>, format: OutputFormat) -> Variant {
    Variant {
        name: name.into(),
        resize,
        ops: Vec::new(),
        format,
        quality: 90,
    }
}

fn one(v: Variant) -> Recipe {
    Recipe { variants: vec![v] }
}

fn run(bytes: &[u8], recipe: &Recipe) -> Processed {
    process(bytes, recipe, &Limits::default()).unwrap()
}

fn decode(output: &Output) -> RgbaImage {
    let image = image::load_from_memory(&output.bytes).unwrap();
    assert_eq!(
        (image.width(), image.height()),
        (output.width, output.height)
    );
    image.to_rgba8()
}

fn close(actual: [u8; 3], expected: [u8; 3], tolerance: u8) -> bool {
    actual
        .iter()
        .zip(expected)
        .all(|(a, e)| a.abs_diff(e) <= tolerance)
}

fn rgb(p: &Rgba<u8>) -> [u8; 3] {
    [p.0[0], p.0[1], p.0[2]]
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// ---------- orientation ----------

#[test]
fn all_eight_exif_orientations_are_applied_to_pixels() {
    let stored = jpeg(&quadrants(48, 32), 95);
    let recipe = one(variant("full", None, OutputFormat::Png));
    for (orientation, top_left, top_right) in ORIENTED_CORNERS {
        let bytes = with_app1(&stored, &orientation_tiff(orientation));
        let processed = run(&bytes, &recipe);
        let (w, h) = if orientation >= 5 { (32, 48) } else { (48, 32) };
        assert_eq!(
            (processed.features.width, processed.features.height),
            (w, h),
            "orientation {orientation}"
        );
        assert_eq!(processed.features.orientation, orientation as u8);
        let out = decode(&processed.variants[0]);
        assert_eq!(out.dimensions(), (w, h));
        let tl = rgb(out.get_pixel(w / 4, h / 4));
        let tr = rgb(out.get_pixel(3 * w / 4, h / 4));
        assert!(
            close(tl, top_left, 40),
            "orientation {orientation}: top-left {tl:?}, expected {top_left:?}"
        );
        assert!(
            close(tr, top_right, 40),
            "orientation {orientation}: top-right {tr:?}, expected {top_right:?}"
        );
        let oriented = processed
            .operations
            .iter()
            .any(|o| o.starts_with("orient:"));
        assert_eq!(oriented, orientation != 1, "{:?}", processed.operations);
    }
}

#[test]
fn orientation_applies_before_resize_so_the_box_fits_the_displayed_image() {
    let stored = jpeg(&quadrants(400, 200), 90);
    let bytes = with_app1(&stored, &orientation_tiff(6));
    let recipe = one(variant(
        "display",
        Some(Resize::Fit {
            width: 100,
            height: 100,
        }),
        OutputFormat::Jpeg,
    ));
    let out = &run(&bytes, &recipe).variants[0];
    assert_eq!((out.width, out.height), (50, 100));
}

#[test]
fn invalid_or_corrupt_exif_is_ignored() {
    let stored = jpeg(&quadrants(48, 32), 90);
    let recipe = one(variant("full", None, OutputFormat::Png));
    for tiff in [
        orientation_tiff(0),
        orientation_tiff(9),
        b"II*\0\xff\xff\xff\xff".to_vec(),
    ] {
        let processed = run(&with_app1(&stored, &tiff), &recipe);
        assert_eq!(processed.features.orientation, 1);
        assert_eq!(
            (processed.features.width, processed.features.height),
            (48, 32)
        );
    }
}

/// `png` with an eXIf chunk holding `tiff` right after IHDR.
fn with_exif_chunk(png: &[u8], tiff: &[u8]) -> Vec<u8> {
    let after_ihdr = 8 + 8 + 13 + 4;
    assert_eq!(&png[12..16], b"IHDR");
    let mut chunk = (tiff.len() as u32).to_be_bytes().to_vec();
    let mut body = b"eXIf".to_vec();
    body.extend(tiff);
    chunk.extend(&body);
    chunk.extend(crc32(&body).to_be_bytes());
    let mut out = png[..after_ihdr].to_vec();
    out.extend(chunk);
    out.extend(&png[after_ihdr..]);
    out
}

#[test]
fn png_exif_orientation_is_applied_too() {
    let png = encoded(&quadrants(48, 32).into(), Fmt::Png);
    let bytes = with_exif_chunk(&png, &orientation_tiff(6));
    let processed = run(&bytes, &one(variant("full", None, OutputFormat::Png)));
    assert_eq!(processed.features.orientation, 6);
    let out = decode(&processed.variants[0]);
    assert_eq!(out.dimensions(), (32, 48));
    assert_eq!(rgb(out.get_pixel(8, 12)), BLUE);
    assert_eq!(rgb(out.get_pixel(24, 12)), RED);
}

// ---------- metadata ----------

#[test]
fn outputs_carry_no_exif_and_no_gps() {
    let bytes = with_app1(&jpeg(&quadrants(300, 200), 90), &camera_tiff(None));
    assert!(contains(&bytes, b"Exif\0\0"));
    let input_exif = exif::Reader::new()
        .read_from_container(&mut Cursor::new(&bytes))
        .unwrap();
    assert!(input_exif
        .get_field(exif::Tag::GPSLatitude, exif::In::PRIMARY)
        .is_some());
    let recipe = Recipe {
        variants: vec![
            variant("j", None, OutputFormat::Jpeg),
            variant(
                "p",
                Some(Resize::Fit {
                    width: 64,
                    height: 64,
                }),
                OutputFormat::Png,
            ),
            variant(
                "w",
                Some(Resize::Cover {
                    width: 32,
                    height: 32,
                }),
                OutputFormat::Webp,
            ),
            variant("wl", None, OutputFormat::WebpLossless),
        ],
    };
    let processed = run(&bytes, &recipe);
    assert_eq!(processed.variants.len(), 4);
    for out in &processed.variants {
        assert!(!contains(&out.bytes, b"Exif"), "{}", out.name);
        assert!(!contains(&out.bytes, b"GPS"), "{}", out.name);
        assert!(!contains(&out.bytes, b"FUJIFILM"), "{}", out.name);
        match exif::Reader::new().read_from_container(&mut Cursor::new(&out.bytes)) {
            Err(_) => {}
            Ok(found) => assert_eq!(found.fields().count(), 0, "{}", out.name),
        }
    }
}

#[test]
fn camera_make_model_and_capture_time_are_read_and_gps_never_surfaces() {
    let bytes = with_app1(&jpeg(&quadrants(64, 64), 90), &camera_tiff(None));
    let features = run(&bytes, &Recipe::default()).features;
    assert_eq!(features.camera_make.as_deref(), Some("FUJIFILM"));
    assert_eq!(features.camera_model.as_deref(), Some("X-T5"));
    // 2024-03-15T14:30:45Z
    assert_eq!(features.captured_at, Some(1_710_513_045_000));
    let json = serde_json::to_string(&features).unwrap().to_lowercase();
    for leak in ["gps", "lat", "lon", "52", "3456"] {
        assert!(!json.contains(leak), "{leak} in {json}");
    }
}

#[test]
fn capture_time_honours_offset_and_subseconds() {
    let bytes = with_app1(&jpeg(&quadrants(64, 64), 90), &camera_tiff(Some("+02:00")));
    let features = run(&bytes, &Recipe::default()).features;
    assert_eq!(
        features.captured_at,
        Some(1_710_513_045_000 - 2 * 3_600_000 + 250)
    );
}

// ---------- reduced-size decoding ----------

fn fit(width: u32, height: u32) -> Resize {
    Resize::Fit { width, height }
}

#[test]
fn max_shrink_keeps_every_variant_and_the_analysis_copy_a_reduction() {
    let recipe = Recipe::default();
    // Display 1024 wide: 5312 / 1024 = 5.2 → 5 (the decoder makes it 1/4); 3264 / 1024 = 3.2
    // → 3 (1/2); below 2048 → 1. Orientation does not matter.
    assert_eq!(max_shrink(&recipe, 5312, 2988), 5);
    assert_eq!(max_shrink(&recipe, 2988, 5312), 5);
    assert_eq!(max_shrink(&recipe, 3264, 2448), 3);
    assert_eq!(max_shrink(&recipe, 2000, 1500), 1);
    assert_eq!(max_shrink(&recipe, 100, 100), 1);
    // A thumb-only recipe is held back by the 512-pixel analysis copy, and 8 is the most.
    let thumb = one(variant("t", Some(fit(64, 64)), OutputFormat::Jpeg));
    assert_eq!(max_shrink(&thumb, 4096, 3072), 8);
    assert_eq!(max_shrink(&thumb, 40_000, 30_000), 8);
    assert_eq!(max_shrink(&thumb, 2048, 1000), 4);
    // A cover reads the centred square: 6000×1000 to 256×256 reads 1000×1000 → 3.9 → 3
    // (the 512×85 analysis copy would allow 11).
    let cover = one(variant(
        "c",
        Some(Resize::Cover {
            width: 256,
            height: 256,
        }),
        OutputFormat::Jpeg,
    ));
    assert_eq!(max_shrink(&cover, 6000, 1000), 3);
    // Full-size outputs and geometric ops (full-size pixel coordinates) need every pixel.
    let full = one(variant("f", None, OutputFormat::Jpeg));
    assert_eq!(max_shrink(&full, 8000, 6000), 1);
    let mut cropped = variant("c", Some(fit(64, 64)), OutputFormat::Jpeg);
    cropped.ops = vec![Op::Rotate90];
    assert_eq!(max_shrink(&one(cropped), 8000, 6000), 1);
}

#[test]
fn reduced_decoding_keeps_sizes_orientation_and_colours() {
    // 2400×1600 with a 200-pixel fit: 1/4 (the 512-pixel analysis copy allows 4.7).
    let stored = jpeg(&quadrants(2400, 1600), 90);
    let recipe = one(variant("small", Some(fit(200, 200)), OutputFormat::Png));
    for (orientation, top_left, top_right) in ORIENTED_CORNERS {
        let bytes = with_app1(&stored, &orientation_tiff(orientation));
        let processed = run(&bytes, &recipe);
        assert_eq!(processed.decode_shrink, 4, "orientation {orientation}");
        let (w, h) = if orientation >= 5 {
            (1600, 2400)
        } else {
            (2400, 1600)
        };
        assert_eq!(
            (processed.features.width, processed.features.height),
            (w, h),
            "features describe the full image, orientation {orientation}"
        );
        let out = decode(&processed.variants[0]);
        let (ow, oh) = if orientation >= 5 {
            (133, 200)
        } else {
            (200, 133)
        };
        assert_eq!(out.dimensions(), (ow, oh), "orientation {orientation}");
        let tl = rgb(out.get_pixel(ow / 4, oh / 4));
        let tr = rgb(out.get_pixel(3 * ow / 4, oh / 4));
        assert!(close(tl, top_left, 40), "orientation {orientation}: {tl:?}");
        assert!(
            close(tr, top_right, 40),
            "orientation {orientation}: {tr:?}"
        );
    }
}

#[test]
fn reduced_and_full_decoding_give_the_same_sizes_and_close_features() {
    // Mostly red: a clear dominant colour.
    let image = RgbImage::from_fn(2100, 1190, |x, _| Rgb(if x < 1300 { RED } else { BLUE }));
    let bytes = jpeg(&image, 85);
    let reduced = run(&bytes, &Recipe::default());
    assert_eq!(reduced.decode_shrink, 2);
    // The same recipe with a no-op geometric op forces a full decode.
    let mut full_recipe = Recipe::default();
    for v in &mut full_recipe.variants {
        v.ops = vec![Op::Crop {
            x: 0,
            y: 0,
            width: 2100,
            height: 1190,
        }];
    }
    let full = run(&bytes, &full_recipe);
    assert_eq!(full.decode_shrink, 1);
    let sizes = |p: &Processed| -> Vec<(u32, u32)> {
        p.variants.iter().map(|o| (o.width, o.height)).collect()
    };
    assert_eq!(sizes(&reduced), [(256, 256), (1024, 580)]);
    assert_eq!(sizes(&reduced), sizes(&full));
    let (r, f) = (&reduced.features, &full.features);
    assert_eq!((r.width, r.height), (f.width, f.height));
    assert!(
        (r.mean_luma - f.mean_luma).abs() < 2.0,
        "{} vs {}",
        r.mean_luma,
        f.mean_luma
    );
    assert_eq!(r.dominant_color, f.dominant_color);
}

// ---------- sizes ----------

#[test]
fn no_mode_ever_upscales() {
    let bytes = jpeg(&quadrants(120, 80), 90);
    let recipe = Recipe {
        variants: vec![
            variant(
                "fit",
                Some(Resize::Fit {
                    width: 1024,
                    height: 1024,
                }),
                OutputFormat::Png,
            ),
            variant(
                "cover",
                Some(Resize::Cover {
                    width: 256,
                    height: 256,
                }),
                OutputFormat::Png,
            ),
            variant(
                "exact",
                Some(Resize::Exact {
                    width: 500,
                    height: 40,
                }),
                OutputFormat::Png,
            ),
        ],
    };
    let sizes: Vec<(u32, u32)> = run(&bytes, &recipe)
        .variants
        .iter()
        .map(|o| (o.width, o.height))
        .collect();
    assert_eq!(sizes, [(120, 80), (80, 80), (120, 40)]);
}

#[test]
fn cover_fills_exactly_the_box_from_the_centre() {
    // Left third red, middle third green, right third blue: a square cover keeps the middle.
    let image = RgbImage::from_fn(900, 300, |x, _| {
        Rgb(match x / 300 {
            0 => RED,
            1 => GREEN,
            _ => BLUE,
        })
    });
    let recipe = one(variant(
        "thumb",
        Some(Resize::Cover {
            width: 256,
            height: 128,
        }),
        OutputFormat::Png,
    ));
    let processed = run(&encoded(&image.into(), Fmt::Png), &recipe);
    let out = decode(&processed.variants[0]);
    assert_eq!(out.dimensions(), (256, 128));
    // The 2:1 window of a 3:1 image spans x 150..750: red, green, blue columns, green centre.
    assert!(close(rgb(out.get_pixel(128, 64)), GREEN, 2));
    assert!(close(rgb(out.get_pixel(5, 64)), RED, 2));
    assert!(close(rgb(out.get_pixel(250, 64)), BLUE, 2));
}

#[test]
fn fit_keeps_the_aspect_ratio() {
    let bytes = encoded(&quadrants(1600, 900).into(), Fmt::Png);
    let recipe = one(variant(
        "display",
        Some(Resize::Fit {
            width: 1024,
            height: 1024,
        }),
        OutputFormat::Jpeg,
    ));
    let out = &run(&bytes, &recipe).variants[0];
    assert_eq!((out.width, out.height), (1024, 576));
    let tall = encoded(&quadrants(300, 2000).into(), Fmt::Png);
    let out = &run(&tall, &recipe).variants[0];
    assert_eq!((out.width, out.height), (154, 1024));
}

#[test]
fn default_recipe_makes_a_square_thumb_and_a_bounded_display() {
    let bytes = jpeg(&quadrants(2000, 1500), 85);
    let processed = run(&bytes, &Recipe::default());
    let sizes: Vec<(&str, u32, u32)> = processed
        .variants
        .iter()
        .map(|o| (o.name.as_str(), o.width, o.height))
        .collect();
    assert_eq!(sizes, [("thumb", 256, 256), ("display", 1024, 768)]);
    for out in &processed.variants {
        assert_eq!(&out.bytes[..2], [0xFF, 0xD8]);
        let quadrant = rgb(decode(out).get_pixel(out.width / 8, out.height / 8));
        assert!(close(quadrant, RED, 40), "{}: {quadrant:?}", out.name);
    }
    assert_eq!(
        processed.operations,
        [
            "strip",
            "thumb:resize cover 256x256",
            "thumb:encode jpeg q82",
            "display:resize fit 1024x1024",
            "display:encode jpeg q85"
        ]
    );
}

// ---------- ops ----------

#[test]
fn geometric_ops_run_before_the_resize_and_tonal_ops_after() {
    let bytes = encoded(&quadrants(200, 100).into(), Fmt::Png);
    let mut v = variant(
        "v",
        Some(Resize::Fit {
            width: 50,
            height: 50,
        }),
        OutputFormat::Png,
    );
    v.ops = vec![
        Op::Grayscale,
        Op::Crop {
            x: 100,
            y: 0,
            width: 100,
            height: 50,
        },
        Op::Rotate90,
    ];
    let processed = run(&bytes, &one(v));
    let out = decode(&processed.variants[0]);
    // Crop keeps the green top-right quadrant (100×50), rotated to 50×100, fitted to 25×50.
    assert_eq!(out.dimensions(), (25, 50));
    let [r, g, b] = rgb(out.get_pixel(12, 25));
    assert!(r == g && g == b, "grayscale: {r},{g},{b}");
    // The `image` crate's gray conversion uses Rec.709 weights.
    let luma_of_green = 0.2126 * 30.0 + 0.7152 * 200.0 + 0.0722 * 40.0;
    assert!((f64::from(r) - luma_of_green).abs() < 4.0, "{r}");
    assert_eq!(
        &processed.operations[1..4],
        ["v:crop 100x50+100+0", "v:rotate90", "v:resize fit 50x50"]
    );
    assert_eq!(processed.operations[4], "v:grayscale");
}

#[test]
fn tonal_ops_change_pixels_as_named() {
    let gray = RgbImage::from_pixel(32, 32, Rgb([100, 100, 100]));
    let bytes = encoded(&gray.into(), Fmt::Png);
    let pixel = |op: Op| {
        let mut v = variant("v", None, OutputFormat::Png);
        v.ops = vec![op];
        rgb(decode(&run(&bytes, &one(v)).variants[0]).get_pixel(16, 16))
    };
    assert_eq!(pixel(Op::Brightness { delta: 50 }), [150, 150, 150]);
    assert_eq!(pixel(Op::Brightness { delta: -200 }), [0, 0, 0]);
    assert!(pixel(Op::Contrast { delta: 50.0 })[0] < 100);
    assert_eq!(pixel(Op::Blur { sigma: 2.0 }), [100, 100, 100]);
    assert_eq!(
        pixel(Op::Sharpen {
            sigma: 1.0,
            threshold: 0
        }),
        [100, 100, 100]
    );
    for flip in [Op::FlipH, Op::FlipV, Op::Rotate180, Op::Rotate270] {
        assert_eq!(pixel(flip), [100, 100, 100]);
    }
}

#[test]
fn a_crop_outside_the_image_is_a_permanent_error_naming_the_variant() {
    let bytes = encoded(&quadrants(100, 100).into(), Fmt::Png);
    let mut v = variant("strip", None, OutputFormat::Png);
    v.ops = vec![Op::Crop {
        x: 50,
        y: 0,
        width: 60,
        height: 10,
    }];
    let err = process(&bytes, &one(v), &Limits::default()).unwrap_err();
    assert!(err.is_permanent());
    assert_eq!(err.code(), "crop_outside_image");
    let text = err.to_string();
    assert!(
        text.contains("`strip`") && text.contains("100×100"),
        "{text}"
    );
}

// ---------- alpha and formats ----------

#[test]
fn lossy_webp_follows_quality_and_lossless_webp_is_exact() {
    let source = crate::samples::photo(320, 240, 7);
    let bytes = jpeg(&source, 95);
    let at = |quality: u32, format: OutputFormat| {
        let mut v = variant("v", None, format);
        v.quality = quality;
        let processed = run(&bytes, &Recipe { variants: vec![v] });
        let encode_op = processed.operations.last().cloned().unwrap_or_default();
        let out = processed.variants.into_iter().next().expect("one variant");
        assert_eq!(&out.bytes[..4], b"RIFF");
        assert_eq!(&out.bytes[8..12], b"WEBP");
        (out, encode_op)
    };
    let (low, _) = at(30, OutputFormat::Webp);
    let (high, high_op) = at(90, OutputFormat::Webp);
    let (lossless, lossless_op) = at(90, OutputFormat::WebpLossless);
    assert_eq!(high_op, "v:encode webp q90");
    assert_eq!(lossless_op, "v:encode webp lossless");
    // VP8 (lossy) and VP8L (lossless) bitstreams.
    assert_eq!(&low.bytes[12..16], b"VP8 ");
    assert_eq!(&lossless.bytes[12..16], b"VP8L");
    assert!(
        low.bytes.len() < high.bytes.len(),
        "{} {}",
        low.bytes.len(),
        high.bytes.len()
    );
    assert!(high.bytes.len() * 2 < lossless.bytes.len());
    // Close to what was decoded, and closer at the higher quality.
    let reference = image::load_from_memory(&bytes)
        .expect("source decodes")
        .to_rgb8();
    let error = |out: &Output| {
        let decoded = DynamicImage::ImageRgba8(decode(out)).to_rgb8();
        assert_eq!(decoded.dimensions(), (320, 240));
        let total: u64 = decoded
            .as_raw()
            .iter()
            .zip(reference.as_raw())
            .map(|(a, b)| u64::from(a.abs_diff(*b)))
            .sum();
        total as f64 / decoded.as_raw().len() as f64
    };
    let (e_low, e_high, e_lossless) = (error(&low), error(&high), error(&lossless));
    assert!(e_high < e_low && e_low < 12.0, "{e_low} {e_high}");
    assert_eq!(e_lossless, 0.0);
}

#[test]
fn transparency_is_detected_kept_in_webp_and_png_and_flattened_in_jpeg() {
    let image = RgbaImage::from_fn(40, 40, |x, _| {
        if x < 20 {
            Rgba([255, 0, 0, 255])
        } else {
            Rgba([0, 0, 255, 0])
        }
    });
    let bytes = encoded(&image.into(), Fmt::Png);
    let recipe = Recipe {
        variants: vec![
            variant("w", None, OutputFormat::Webp),
            variant("p", None, OutputFormat::Png),
            variant("j", None, OutputFormat::Jpeg),
            variant("wl", None, OutputFormat::WebpLossless),
        ],
    };
    let processed = run(&bytes, &recipe);
    assert!(processed.features.has_alpha);
    assert_eq!(processed.features.dominant_color, "#ff0000");
    let webp = decode(&processed.variants[0]);
    assert_eq!(&processed.variants[0].bytes[..4], b"RIFF");
    assert_eq!(webp.get_pixel(30, 20).0[3], 0);
    assert_eq!(webp.get_pixel(5, 20).0[3], 255);
    assert_eq!(decode(&processed.variants[3]).get_pixel(30, 20).0[3], 0);
    assert_eq!(decode(&processed.variants[1]).get_pixel(30, 20).0[3], 0);
    let jpeg_px = rgb(decode(&processed.variants[2]).get_pixel(30, 20));
    assert!(close(jpeg_px, [255, 255, 255], 8), "{jpeg_px:?}");

    let opaque = RgbaImage::from_pixel(8, 8, Rgba([1, 2, 3, 255]));
    let processed = run(&encoded(&opaque.into(), Fmt::Png), &recipe);
    assert!(!processed.features.has_alpha);
}

#[test]
fn gif_and_webp_inputs_process() {
    let image: DynamicImage = quadrants(64, 48).into();
    for (format, name) in [(Fmt::Gif, "gif"), (Fmt::WebP, "webp")] {
        let processed = run(&encoded(&image, format), &Recipe::default());
        assert_eq!(processed.features.format.name(), name);
        assert_eq!(processed.variants[0].width, 48);
    }
}

// ---------- features ----------

fn features_of(image: RgbImage) -> Features {
    let recipe = one(variant("v", None, OutputFormat::Png));
    run(&encoded(&image.into(), Fmt::Png), &recipe).features
}

#[test]
fn mean_luma_spans_black_to_white() {
    let white = features_of(RgbImage::from_pixel(600, 400, Rgb([255, 255, 255])));
    assert!((white.mean_luma - 255.0).abs() < 0.5, "{}", white.mean_luma);
    let black = features_of(RgbImage::from_pixel(600, 400, Rgb([0, 0, 0])));
    assert!(black.mean_luma.abs() < 0.5, "{}", black.mean_luma);
    assert_eq!(white.dominant_color, "#ffffff");
    assert_eq!(black.dominant_color, "#000000");
}

#[test]
fn sharpness_is_zero_when_flat_and_large_for_a_checkerboard() {
    let flat = features_of(RgbImage::from_pixel(300, 300, Rgb([90, 120, 150])));
    assert!(flat.sharpness < 1e-6, "{}", flat.sharpness);
    let checker = features_of(RgbImage::from_fn(300, 300, |x, y| {
        if (x / 2 + y / 2) % 2 == 0 {
            Rgb([255, 255, 255])
        } else {
            Rgb([0, 0, 0])
        }
    }));
    assert!(checker.sharpness > 10_000.0, "{}", checker.sharpness);
    // Above the analysis size the copy is downscaled; an edge still counts.
    let big_checker = features_of(RgbImage::from_fn(1200, 1200, |x, y| {
        if (x / 40 + y / 40) % 2 == 0 {
            Rgb([255, 255, 255])
        } else {
            Rgb([0, 0, 0])
        }
    }));
    assert!(big_checker.sharpness > 100.0, "{}", big_checker.sharpness);
}

#[test]
fn dominant_colour_of_a_mostly_red_image_is_red() {
    let image = RgbImage::from_fn(200, 100, |x, _| {
        if x < 140 {
            Rgb([200, 20, 25])
        } else {
            Rgb([20, 20, 200])
        }
    });
    let features = features_of(image);
    let hex = features.dominant_color.trim_start_matches('#');
    let channel = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).unwrap();
    let (r, g, b) = (channel(0), channel(2), channel(4));
    assert!(r > 180 && g < 50 && b < 50, "{}", features.dominant_color);
}

#[test]
fn identity_features_come_from_the_original_bytes() {
    use sha2::{Digest, Sha256};
    let bytes = jpeg(&quadrants(64, 32), 80);
    let processed = run(&bytes, &Recipe::default());
    let f = &processed.features;
    assert_eq!(f.sha256, hex::encode(Sha256::digest(&bytes)));
    assert_eq!(f.size_bytes, bytes.len() as u64);
    assert_eq!(f.format, ImageFormat::Jpeg);
    assert_eq!(processed.probe.width, 64);
    assert_eq!((f.camera_make.as_ref(), f.captured_at), (None, None));
}

#[test]
fn processed_results_fill_the_metadata_item() {
    use crate::model::{ImageItem, Status, Variant};
    use chrono::TimeZone;
    let bytes = with_app1(&jpeg(&quadrants(300, 200), 85), &camera_tiff(None));
    let processed = run(&bytes, &Recipe::default());
    let now = chrono::Utc.timestamp_millis_opt(0).unwrap();
    let item = ImageItem::received(
        "id",
        crate::model::Source::Api,
        "req",
        "t",
        now,
        crate::model::DEFAULT_TTL,
    )
    .processing();
    let stored: Vec<Variant> = processed
        .variants
        .iter()
        .map(|v| Variant {
            bytes: v.bytes.len() as u64,
            format: v.format.name().to_owned(),
            height: v.height,
            key: format!("id/{}.{}", v.name, v.format.extension()),
            name: v.name.clone(),
            width: v.width,
        })
        .collect();
    let item = item.processed(&processed.outcome(&stored, 12), now);
    assert_eq!(item.status, Status::Processed);
    assert_eq!(item.width, Some(300));
    assert_eq!(item.format.as_deref(), Some("jpeg"));
    assert_eq!(item.camera_model.as_deref(), Some("X-T5"));
    assert_eq!(item.variant_count, Some(2));
    assert_eq!(item.processing_ms, Some(12));
    assert_eq!(
        item.processed_bytes,
        Some(processed.processed_bytes() as i64)
    );
    assert!(item.dominant_color.as_deref().unwrap().starts_with('#'));
    assert_eq!(item.variants(), stored);
    item.validate().unwrap();
}

// ---------- errors ----------

#[test]
fn rejections_pass_through_as_permanent_errors() {
    for (bytes, code) in [
        (Vec::new(), RejectCode::EmptyInput),
        (
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>".to_vec(),
            RejectCode::UnsupportedType,
        ),
        (
            jpeg(&quadrants(64, 64), 80)[..200].to_vec(),
            RejectCode::Truncated,
        ),
    ] {
        let err = process(&bytes, &Recipe::default(), &Limits::default()).unwrap_err();
        assert!(err.is_permanent(), "{err}");
        assert_eq!(err.code(), code.as_str(), "{err}");
        assert!(matches!(err, ProcessError::Rejected(ref r) if r.code == code));
    }
}

#[test]
fn an_invalid_recipe_is_refused_before_decoding() {
    let recipe = Recipe { variants: vec![] };
    let err = process(b"", &recipe, &Limits::default()).unwrap_err();
    assert_eq!(err.code(), "invalid_recipe");
    assert!(err.is_permanent());
}

// ---------- recipes ----------

#[test]
fn default_recipe_round_trips_through_toml_and_json() {
    let recipe = Recipe::default();
    recipe.validate().unwrap();
    let toml_text = toml::to_string(&recipe).unwrap();
    assert_eq!(Recipe::from_toml(&toml_text).unwrap(), recipe);
    let json_text = serde_json::to_string(&recipe).unwrap();
    assert_eq!(Recipe::from_json(&json_text).unwrap(), recipe);
}

#[test]
fn recipes_parse_from_toml_and_json() {
    let toml_text = r#"
        [[variants]]
        name = "thumb"
        resize = { mode = "cover", width = 128, height = 128 }
        format = "webp"
        ops = [{ op = "grayscale" }, { op = "sharpen", sigma = 0.8, threshold = 2 }]

        [[variants]]
        name = "print"
        resize = { mode = "exact", width = 600, height = 400 }
        format = "jpeg"
        quality = 95
        ops = [{ op = "crop", x = 0, y = 0, width = 100, height = 100 }, { op = "rotate90" }]
    "#;
    let recipe = Recipe::from_toml(toml_text).unwrap();
    assert_eq!(recipe.variants[0].quality, DEFAULT_QUALITY);
    assert_eq!(recipe.variants[0].format, OutputFormat::Webp);
    assert_eq!(
        recipe.variants[1].ops[0],
        Op::Crop {
            x: 0,
            y: 0,
            width: 100,
            height: 100
        }
    );
    let json_text = r#"{"variants":[{"name":"a","format":"png",
        "resize":{"mode":"fit","width":10,"height":20},
        "ops":[{"op":"brightness","delta":-10},{"op":"flip_h"}]}]}"#;
    let recipe = Recipe::from_json(json_text).unwrap();
    assert_eq!(
        recipe.variants[0].resize,
        Some(Resize::Fit {
            width: 10,
            height: 20
        })
    );
    assert_eq!(recipe.variants[0].ops[1], Op::FlipH);
}

fn toml_error(text: &str) -> String {
    Recipe::from_toml(text).unwrap_err().to_string()
}

#[test]
fn recipe_errors_name_the_variant_and_field() {
    let base = |extra: &str| {
        format!(
            "[[variants]]\nname = \"a\"\nformat = \"jpeg\"\n\n[[variants]]\nname = \"b\"\n\
             format = \"jpeg\"\n{extra}"
        )
    };
    let cases = [
        ("quality = 0", "variants[1] (`b`): quality is 0"),
        ("quality = 101", "variants[1] (`b`): quality is 101"),
        (
            "resize = { mode = \"fit\", width = 0, height = 10 }",
            "variants[1] (`b`): resize.width is 0",
        ),
        (
            "resize = { mode = \"cover\", width = 10, height = 9000 }",
            "variants[1] (`b`): resize.height is 9000; it must be at most 8192",
        ),
        (
            "ops = [{ op = \"grayscale\" }, { op = \"blur\", sigma = 0.0 }]",
            "variants[1] (`b`): ops[1].sigma is 0",
        ),
        (
            "ops = [{ op = \"brightness\", delta = 300 }]",
            "variants[1] (`b`): ops[0].delta is 300",
        ),
        (
            "ops = [{ op = \"crop\", x = 0, y = 0, width = 0, height = 5 }]",
            "variants[1] (`b`): ops[0].width is 0",
        ),
    ];
    for (extra, expected) in cases {
        let message = toml_error(&base(extra));
        assert!(message.contains(expected), "{extra}: {message}");
    }
    let duplicate = "[[variants]]\nname = \"a\"\nformat = \"png\"\n\
                     [[variants]]\nname = \"a\"\nformat = \"png\"\n";
    let message = toml_error(duplicate);
    assert!(
        message.contains("variants[1] (`a`): name is used by an earlier variant"),
        "{message}"
    );
    let case_only = "[[variants]]\nname = \"Thumb\"\nformat = \"png\"\n\
                     [[variants]]\nname = \"thumb\"\nformat = \"png\"\n";
    let message = toml_error(case_only);
    assert!(
        message.contains("variants[1] (`thumb`): name is used by an earlier variant"),
        "{message}"
    );
    let many_ops = format!(
        "[[variants]]\nname = \"a\"\nformat = \"png\"\nops = [{}]\n",
        vec!["{ op = \"grayscale\" }"; 17].join(", ")
    );
    let message = toml_error(&many_ops);
    assert!(
        message.contains("variants[0] (`a`): ops has 17 operations; at most 16"),
        "{message}"
    );
    let message = toml_error("[[variants]]\nname = \"a b\"\nformat = \"png\"\n");
    assert!(
        message.contains("variants[0] (`a b`): name must be"),
        "{message}"
    );
}

#[test]
fn recipe_shape_errors_name_the_field() {
    let message = toml_error("[[variants]]\nname = \"a\"\nformat = \"gif\"\n");
    assert!(
        message.contains("format") && message.contains("gif"),
        "{message}"
    );
    let message = toml_error("[[variants]]\nname = \"a\"\nformat = \"png\"\nqualty = 3\n");
    assert!(message.contains("qualty"), "{message}");
    let message = toml_error(
        "[[variants]]\nname = \"a\"\nformat = \"png\"\nresize = { mode = \"fill\", width = 1, height = 1 }\n",
    );
    assert!(message.contains("fill"), "{message}");
    let message =
        Recipe::from_json(r#"{"variants":[{"name":"a","format":"png","ops":[{"op":"blur"}]}]}"#)
            .unwrap_err()
            .to_string();
    assert!(message.contains("sigma"), "{message}");
}

#[test]
fn recipe_limits_on_variant_count() {
    let many: String = (0..=MAX_VARIANTS)
        .map(|i| format!("[[variants]]\nname = \"v{i}\"\nformat = \"png\"\n"))
        .collect();
    let message = toml_error(&many);
    assert!(message.contains("17 variants; at most 16"), "{message}");
    assert!(toml_error("variants = []").contains("no variants"));
}

#[test]
fn the_recipe_in_the_readme_is_valid() {
    let readme = include_str!("../../../README.md");
    let start = readme.find("```toml\n").expect("README has a toml block") + "```toml\n".len();
    let end = start + readme[start..].find("```").expect("block ends");
    let recipe = Recipe::from_toml(&readme[start..end]).expect("README recipe parses");
    assert_eq!(recipe.variants[0].format, OutputFormat::Webp);
    assert_eq!(recipe.variants[0].quality, 80);
}
