//! Image processing: imglake's `process` with the default recipe side by side with libvips
//! (pyvips) and Pillow doing the same work (`bench/python_process.py`), and the
//! `djpeg -scale 1/4` floor (libjpeg-turbo's entropy decode plus a 1/4 inverse DCT).
//!
//! Run with `scripts/bench-process.sh` (it fetches the photographs, installs the Python
//! libraries, then runs `cargo bench -p imglake-pipeline --bench process`). For each JPEG in
//! `IMGLAKE_BENCH_IMAGES`, each engine runs in its own process pinned to one core
//! (`taskset -c 0`): one warm-up, then `IMGLAKE_BENCH_REPEATS` (default 7) timed runs from
//! bytes in memory to both encoded variants; the table shows the median and the process's
//! peak resident memory (VmHWM / ru_maxrss).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use imglake_pipeline::process::{max_shrink, process, Recipe};
use imglake_pipeline::validate::{decode_guarded_shrunk, validate, Limits};
use serde_json::{json, Value};

#[path = "../../bench/harness.rs"]
mod harness;
use harness::{can_pin, home_cache, median, peak_rss_kb, pin, pinning, repeats, venv_python};

const ENGINES: [&str; 3] = ["imglake", "pyvips", "pillow"];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        if let [_, _, what, image, repeats] = args.as_slice() {
            child(what, Path::new(image), repeats.parse().expect("REPEATS"));
            return;
        }
        panic!("usage: process --child imglake|decode IMAGE REPEATS");
    }
    let repeats = repeats(7);
    let images = bench_images();
    let python = venv_python(
        "IMGLAKE_BENCH_VENV",
        "venv-bench-image",
        "run scripts/bench-process.sh, which installs pyvips and Pillow",
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/python_process.py");
    let pinned = can_pin();
    let djpeg = Command::new("djpeg").arg("-version").output().is_ok();
    let me = std::env::current_exe().expect("current exe");

    println!(
        "decode → orient → thumb 256² cover + display ≤1024² → JPEG q82/q85; {repeats} runs \
         each after a warm-up, median; pinned to one core: {}",
        pinning(pinned)
    );
    let mut table = vec![
        "| photograph | size | coding | imglake | of which decode | pyvips | Pillow | djpeg -scale 1/4 | vs pyvips | vs Pillow | imglake peak RSS | pyvips peak RSS | Pillow peak RSS |".to_owned(),
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |".to_owned(),
    ];
    let mut notes = Vec::new();
    let (mut vs_vips, mut vs_pillow) = (Vec::new(), Vec::new());
    let mut rss_ok = true;
    for image in &images {
        let name = image.file_stem().and_then(|s| s.to_str()).unwrap_or("?");
        let bytes = std::fs::read(image).expect("read image");
        let probe = validate(&bytes, &Limits::default()).expect("a valid image");
        let mut runs = Vec::new();
        for engine in ENGINES {
            let mut cmd = if engine == "imglake" {
                let mut cmd = pin(pinned, &me);
                cmd.arg("--child").arg("imglake");
                cmd
            } else {
                let mut cmd = pin(pinned, &python);
                cmd.arg(&script).arg(engine);
                cmd
            };
            cmd.arg(image).arg(repeats.to_string());
            runs.push(measure(&mut cmd));
        }
        let mut cmd = pin(pinned, &me);
        cmd.args(["--child", "decode"])
            .arg(image)
            .arg(repeats.to_string());
        let decode = measure(&mut cmd);
        let floor = djpeg.then(|| djpeg_floor(pinned, image, repeats));

        let sizes = |v: &Value| -> Vec<String> {
            let variants = v["variants"].as_array().cloned().unwrap_or_default();
            variants
                .iter()
                .map(|o| format!("{} {}×{}", o["name"], o["width"], o["height"]))
                .collect()
        };
        for (engine, run) in ENGINES.iter().zip(&runs).skip(1) {
            if sizes(&run.json) != sizes(&runs[0].json) {
                notes.push(format!(
                    "{name}: {engine} made {:?} where imglake made {:?}",
                    sizes(&run.json),
                    sizes(&runs[0].json)
                ));
            }
        }
        let (rust, vips, pillow) = (&runs[0], &runs[1], &runs[2]);
        vs_vips.push(vips.median / rust.median);
        vs_pillow.push(pillow.median / rust.median);
        rss_ok &= rust.peak_kb <= pillow.peak_kb;
        let coding = if bytes.windows(2).any(|w| w == [0xFF, 0xC2]) {
            "progressive"
        } else {
            "baseline"
        };
        table.push(format!(
            "| {name} | {}×{} ({:.1} MP, {:.1} MB) | {coding} | {} | {} (1/{}) | {} | {} | {} | {:.2}× | {:.2}× | {} | {} | {} |",
            probe.width,
            probe.height,
            probe.pixels() as f64 / 1e6,
            bytes.len() as f64 / 1e6,
            ms(rust.median),
            ms(decode.median),
            decode.json["shrink"],
            ms(vips.median),
            ms(pillow.median),
            floor.map_or("–".to_owned(), ms),
            vips.median / rust.median,
            pillow.median / rust.median,
            mb(rust.peak_kb),
            mb(vips.peak_kb),
            mb(pillow.peak_kb),
        ));
    }
    println!("{}", table.join("\n"));
    println!(
        "\ngeometric mean speed-up: {:.2}× vs pyvips (target 1.5×), {:.2}× vs Pillow (target \
         1.2×); imglake peak RSS ≤ Pillow's on every photograph: {}",
        geomean(&vs_vips),
        geomean(&vs_pillow),
        if rss_ok { "yes" } else { "NO" }
    );
    for note in notes {
        println!("note: {note}");
    }
}

/// One engine's runs on one image.
struct Runs {
    median: f64,
    peak_kb: u64,
    json: Value,
}

fn ms(seconds: f64) -> String {
    format!("{:.1} ms", seconds * 1e3)
}

fn mb(kb: u64) -> String {
    format!("{:.0} MB", kb as f64 / 1024.0)
}

fn geomean(values: &[f64]) -> f64 {
    (values.iter().map(|v| v.ln()).sum::<f64>() / values.len().max(1) as f64).exp()
}

/// Runs one child; returns its median seconds, peak RSS and report.
fn measure(cmd: &mut Command) -> Runs {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout);
    let json: Value = serde_json::from_str(line.trim()).expect("child prints one JSON line");
    let secs = json["seconds"]
        .as_array()
        .expect("seconds")
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    Runs {
        median: median(secs),
        peak_kb: json["peak_rss_kb"].as_u64().expect("peak_rss_kb"),
        json,
    }
}

/// Median wall time of `djpeg -scale 1/4` writing to /dev/null (process start included,
/// about a millisecond).
fn djpeg_floor(pinned: bool, image: &Path, repeats: usize) -> f64 {
    let secs = (0..repeats.max(1))
        .map(|_| {
            let mut cmd = pin(pinned, Path::new("djpeg"));
            cmd.args(["-scale", "1/4", "-outfile", "/dev/null"])
                .arg(image);
            let start = Instant::now();
            let status = cmd.status().expect("djpeg");
            assert!(status.success(), "{cmd:?} failed");
            start.elapsed().as_secs_f64()
        })
        .collect();
    median(secs)
}

/// The measured side: `imglake` runs the whole of `process`; `decode` only the (reduced)
/// decode it starts with.
fn child(what: &str, image: &Path, repeats: usize) {
    let bytes = std::fs::read(image).expect("read image");
    let recipe = Recipe::default();
    let limits = Limits::default();
    let probe = validate(&bytes, &limits).expect("valid image");
    let run = || -> Value {
        match what {
            "imglake" => {
                let processed = process(&bytes, &recipe, &limits).expect("processes");
                let variants: Vec<Value> = processed
                    .variants
                    .iter()
                    .map(|v| {
                        json!({"name": v.name, "width": v.width, "height": v.height,
                               "bytes": v.bytes.len()})
                    })
                    .collect();
                json!({"variants": variants, "shrink": processed.decode_shrink})
            }
            "decode" => {
                // Orientation does not change the reduction, so the stored size will do.
                let shrink = max_shrink(&recipe, probe.width, probe.height);
                let decoded = decode_guarded_shrunk(&bytes, &limits, shrink).expect("decodes");
                json!({"shrink": decoded.shrink})
            }
            other => panic!("unknown child {other}"),
        }
    };
    let mut report = run(); // warm-up
    let mut seconds = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let start = Instant::now();
        report = run();
        seconds.push(start.elapsed().as_secs_f64());
    }
    report["impl"] = json!(what);
    report["seconds"] = json!(seconds);
    report["peak_rss_kb"] = json!(peak_rss_kb());
    println!("{report}");
}

/// The JPEGs in `IMGLAKE_BENCH_IMAGES` (default ~/.cache/imglake/bench-images), by name.
fn bench_images() -> Vec<PathBuf> {
    let dir = home_cache("IMGLAKE_BENCH_IMAGES", "bench-images");
    let mut images: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
                .collect()
        })
        .unwrap_or_default();
    images.sort();
    assert!(
        !images.is_empty(),
        "no photographs in {}: run scripts/bench-process.sh, which fetches them",
        dir.display()
    );
    images
}
