//! `imglake process` on real files: processed inputs get decodable variants of the promised
//! sizes, bad inputs are rejected with a code (exit 0), the tool's own failures exit 1.

use std::path::Path;

use serde_json::Value;

use crate::util::{imglake, run_ok};

fn write_image(path: &Path, width: u32, height: u32, format: image::ImageFormat) {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    });
    img.save_with_format(path, format)
        .expect("write test image");
}

fn lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

#[test]
fn process_writes_variants_and_rejects_bad_inputs_with_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    write_image(&d.join("wide.png"), 2000, 1000, image::ImageFormat::Png);
    write_image(&d.join("small.jpg"), 800, 600, image::ImageFormat::Jpeg);
    let jpeg = std::fs::read(d.join("small.jpg")).expect("read");
    std::fs::write(d.join("truncated.jpg"), &jpeg[..jpeg.len() / 2]).expect("write");
    std::fs::write(
        d.join("drawing.svg"),
        "<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
    )
    .expect("write");
    let out_dir = d.join("out");
    let out = imglake()
        .arg("process")
        .args(["wide.png", "small.jpg", "truncated.jpg", "drawing.svg"].map(|f| d.join(f)))
        .arg("--out")
        .arg(&out_dir)
        .output()
        .expect("spawn");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results = lines(&out.stdout);
    assert_eq!(results.len(), 4);

    let wide = &results[0];
    assert_eq!(
        (wide["status"].as_str(), wide["format"].as_str()),
        (Some("processed"), Some("png"))
    );
    assert_eq!(
        (wide["width"].as_u64(), wide["height"].as_u64()),
        (Some(2000), Some(1000))
    );
    let sizes: Vec<(String, u64, u64)> = wide["variants"]
        .as_array()
        .expect("variants")
        .iter()
        .map(|v| {
            let path = v["path"].as_str().expect("path");
            // Every variant file decodes, at the size the line states.
            let img = image::open(path).expect("variant decodes");
            assert_eq!(
                (img.width() as u64, img.height() as u64),
                (v["width"].as_u64().unwrap(), v["height"].as_u64().unwrap())
            );
            assert_eq!(
                std::fs::metadata(path).expect("stat").len(),
                v["bytes"].as_u64().unwrap()
            );
            (
                v["name"].as_str().unwrap().to_owned(),
                v["width"].as_u64().unwrap(),
                v["height"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        sizes,
        [("thumb".into(), 256, 256), ("display".into(), 1024, 512)]
    );

    // Never upscaled: an 800x600 image keeps its size in `display`.
    let small = &results[1];
    assert_eq!(small["status"], "processed");
    assert_eq!(small["variants"][1]["width"], 800);

    assert_eq!(results[2]["status"], "rejected");
    assert!(
        matches!(
            results[2]["error_code"].as_str(),
            Some("truncated" | "decode_failed" | "corrupt_header")
        ),
        "{}",
        results[2]
    );
    assert_eq!(
        (
            results[3]["status"].as_str(),
            results[3]["error_code"].as_str()
        ),
        (Some("rejected"), Some("unsupported_type"))
    );
}

#[test]
fn process_rejects_a_huge_file_without_reading_it_all() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A sparse 1 GiB file: nothing to write, but reading it all would take 1 GiB of memory.
    let big = dir.path().join("big.jpg");
    std::fs::File::create(&big)
        .and_then(|f| f.set_len(1 << 30))
        .expect("sparse file");
    // Under a 1 GiB address-space limit: reading either input whole would run out of it.
    let stdout = run_ok(
        std::process::Command::new("sh")
            .arg("-c")
            .arg(r#"ulimit -v 1048576 && exec "$0" process "$1" /dev/zero --out "$2""#)
            .arg(env!("CARGO_BIN_EXE_imglake"))
            .arg(&big)
            .arg(dir.path().join("out"))
            .env_remove("RUST_LOG"),
    );
    let results = lines(stdout.as_bytes());
    for line in &results {
        assert_eq!(line["error_code"], "too_large", "{line}");
    }
    assert!(
        results[0]["error_message"]
            .as_str()
            .is_some_and(|m| m.contains("1073741824 bytes")),
        "{}",
        results[0]
    );
}

#[test]
fn process_takes_a_recipe_and_fails_only_for_its_own_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    write_image(&d.join("a.png"), 300, 300, image::ImageFormat::Png);
    std::fs::write(d.join("recipe.toml"), "[[variants]]\nname = \"tiny\"\nresize = { mode = \"fit\", width = 64, height = 64 }\nformat = \"png\"\n")
        .expect("write recipe");
    let out = imglake()
        .arg("process")
        .arg(d.join("a.png"))
        .arg(d.join("missing.png"))
        .arg("--out")
        .arg(d.join("out"))
        .arg("--recipe")
        .arg(d.join("recipe.toml"))
        .output()
        .expect("spawn");
    assert!(
        !out.status.success(),
        "an unreadable input is the tool's own failure"
    );
    let results = lines(&out.stdout);
    assert_eq!(results[0]["variants"][0]["name"], "tiny");
    assert_eq!(results[0]["variants"][0]["width"], 64);
    assert_eq!(results[1]["status"], "error");
    // Every line has the same keys, whatever its status.
    let keys = |v: &Value| {
        let mut keys: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&results[1]), keys(&results[0]));

    std::fs::write(
        d.join("bad.toml"),
        "[[variants]]\nname = \"x\"\nquality = 500\n",
    )
    .expect("write");
    let out = imglake()
        .arg("process")
        .arg(d.join("a.png"))
        .arg("--out")
        .arg(d.join("out"))
        .arg("--recipe")
        .arg(d.join("bad.toml"))
        .output()
        .expect("spawn");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid recipe"), "{stderr}");
}

#[test]
fn process_limits_are_set_on_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    write_image(&d.join("photo.png"), 2000, 1000, image::ImageFormat::Png);
    write_image(&d.join("scan.tiff"), 64, 64, image::ImageFormat::Tiff);
    let run = |extra: &[&str]| {
        let stdout = run_ok(
            imglake()
                .arg("process")
                .arg(d.join("photo.png"))
                .arg(d.join("scan.tiff"))
                .arg("--out")
                .arg(d.join("out"))
                .args(extra),
        );
        lines(stdout.as_bytes())
            .iter()
            .map(|l| {
                l["error_code"]
                    .as_str()
                    .unwrap_or(l["status"].as_str().unwrap_or("?"))
                    .to_owned()
            })
            .collect::<Vec<_>>()
    };
    // Defaults: TIFF is off.
    assert_eq!(run(&[]), ["processed", "tiff_disabled"]);
    assert_eq!(run(&["--allow-tiff"]), ["processed", "processed"]);
    assert_eq!(
        run(&["--max-megapixels", "1", "--allow-tiff"]),
        ["pixel_budget_exceeded", "processed"]
    );
    assert_eq!(
        run(&["--max-image-size", "1KB"]),
        ["too_large", "too_large"]
    );
}
