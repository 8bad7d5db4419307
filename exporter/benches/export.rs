//! Records → Parquet: the imglake exporter side by side with the Python route a user would
//! otherwise take (boto3 `TypeDeserializer` + pyarrow, `bench/python_export.py`).
//!
//! Run with `scripts/bench-export.sh` (it installs the Python tools, then runs
//! `cargo bench -p imglake-exporter --bench export`). For each batch size and field order
//! (see [`Order`]) the same generated Lambda event is exported by both, each in its own
//! process pinned to one core (`taskset -c 0`), several times; the table shows the median
//! records per second and the peak resident memory (VmHWM / ru_maxrss) of each process.
//! Both time the same span: from reading the input file to having written the last Parquet
//! file. `IMGLAKE_BENCH_COMPRESSION=snappy` makes both sides write Snappy instead of ZSTD.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use imglake_exporter::{Compression, ExportOptions, ExportReport, Lake, Source};
use serde_json::{json, Value};

#[path = "../../bench/harness.rs"]
mod harness;
#[path = "../tests/support/sample.rs"]
mod sample;
use harness::{can_pin, median, peak_rss_kb, pin, pinning, repeats, venv_python};
use sample::{generate, Order};

const SIZES: [usize; 2] = [1_000, 10_000];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        if let [_, _, input, out, compression] = args.as_slice() {
            child(
                Path::new(input),
                out,
                compression.parse().expect("zstd or snappy"),
            );
            return;
        }
        panic!("usage: export --child INPUT OUT_DIR zstd|snappy");
    }
    if args.get(1).map(String::as_str) == Some("--encode") {
        if let [_, _, lake, compression] = args.as_slice() {
            encode_child(
                Path::new(lake),
                compression.parse().expect("zstd or snappy"),
            );
            return;
        }
        panic!("usage: export --encode LAKE_DIR zstd|snappy");
    }
    if args.get(1).map(String::as_str) == Some("--generate") {
        // For profiling the child by hand: `export --generate N FILE lambda|sorted`.
        if let [_, _, n, path, order] = args.as_slice() {
            let n: usize = n.parse().expect("N records");
            let order = Order::ALL
                .into_iter()
                .find(|o| o.arg() == order)
                .expect("order: lambda or sorted");
            std::fs::write(path, generate(n, order)).expect("write input");
            return;
        }
        panic!("usage: export --generate N FILE lambda|sorted");
    }
    let repeats = repeats(5);
    // ZSTD is the lake's default; Snappy shows what the ZSTD codec setup costs per file.
    let compression: Compression = std::env::var("IMGLAKE_BENCH_COMPRESSION")
        .unwrap_or_else(|_| "zstd".to_owned())
        .parse()
        .expect("IMGLAKE_BENCH_COMPRESSION");
    let python = venv_python(
        "IMGLAKE_VENV",
        "venv",
        "run scripts/bench-export.sh, which installs boto3 and pyarrow",
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/python_export.py");
    let pinned = can_pin();
    let work = tempfile::tempdir().expect("tempdir");
    let me = std::env::current_exe().expect("current exe");

    println!(
        "records → Parquet ({compression}), {} runs each, median; pinned to one core: {}",
        repeats,
        pinning(pinned)
    );
    let mut table = vec![
        "| records | field order | input JSON | imglake records/s | Python records/s | speed-up | imglake peak RSS | Python peak RSS | RSS bound (3 × input + 32 MB) |".to_owned(),
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |".to_owned(),
    ];
    for (n, order) in SIZES
        .into_iter()
        .flat_map(|n| Order::ALL.into_iter().map(move |o| (n, o)))
    {
        let input = work.path().join(format!("event-{n}-{}.json", order.arg()));
        std::fs::write(&input, generate(n, order)).expect("write input");
        let input_bytes = std::fs::metadata(&input).expect("stat").len();
        let (mut rust, mut py) = (Vec::new(), Vec::new());
        for rep in 0..repeats {
            let out = rust_out(work.path(), n, order, rep);
            let mut cmd = pin(pinned, &me);
            cmd.arg("--child")
                .arg(&input)
                .arg(&out)
                .arg(compression.to_string());
            rust.push(measure(&mut cmd, n));
            let out = work.path().join(format!("py-{n}-{}-{rep}", order.arg()));
            let mut cmd = pin(pinned, &python);
            cmd.arg(&script)
                .arg(&input)
                .arg(&out)
                .arg(compression.to_string());
            py.push(measure(&mut cmd, n));
        }
        let (rs, rm) = summarize(&rust);
        let (ps, pm) = summarize(&py);
        let bound_kb = (3 * input_bytes + 32 * 1024 * 1024) / 1024;
        table.push(format!(
            "| {n} | {} | {:.1} MB | {:.0} | {:.0} | {:.1}× | {:.1} MB | {:.1} MB | {:.1} MB{} |",
            order.label(),
            input_bytes as f64 / 1e6,
            n as f64 / rs,
            n as f64 / ps,
            ps / rs,
            rm as f64 / 1024.0,
            pm as f64 / 1024.0,
            bound_kb as f64 / 1024.0,
            if rm <= bound_kb { "" } else { " (exceeded)" }
        ));
    }
    println!("{}", table.join("\n"));

    // One file's encoding on its own, in one process pinned to one core: the lake writer
    // (`parquet_file::encode`) and parquet's `ArrowWriter` with the same settings, on rows
    // read back from the 1 000-record lake above.
    let lake = rust_out(work.path(), 1_000, Order::Lambda, 0);
    let mut cmd = pin(pinned, &me);
    cmd.arg("--encode").arg(&lake).arg(compression.to_string());
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "\nOne file encoded ({compression}), median of {ENCODE_RUNS} runs each, in µs:\n{}",
        String::from_utf8_lossy(&out.stdout).trim_end()
    );
}

/// The lake of one imglake run.
fn rust_out(work: &Path, n: usize, order: Order, rep: usize) -> std::path::PathBuf {
    work.join(format!("rust-{n}-{}-{rep}", order.arg()))
}

const ENCODE_RUNS: usize = 201;

/// Times encoding files of 10, 100 and 1 000 rows, alternating the lake writer and
/// `ArrowWriter`, after one unmeasured run of each; prints a Markdown table.
fn encode_child(lake: &Path, compression: Compression) {
    use imglake_exporter::parquet_file::{encode, encode_with_arrow_writer};
    use imglake_exporter::schema::arrow_schema;
    let mut batches = Vec::new();
    let mut dirs = vec![lake.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read lake dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                let body = bytes::Bytes::from(std::fs::read(&path).expect("read file"));
                batches.extend(
                    imglake_exporter::compact::read_file(&path.display().to_string(), body)
                        .expect("a lake file"),
                );
            }
        }
    }
    let all = arrow::compute::concat_batches(&arrow_schema(), &batches).expect("concat");
    let arrow_writer = |batch: &arrow::record_batch::RecordBatch| {
        encode_with_arrow_writer(batch, compression)
            .expect("ArrowWriter")
            .len()
    };
    let mut table = vec![
        "| rows per file | imglake lake writer | parquet ArrowWriter | speed-up |".to_owned(),
        "| ---: | ---: | ---: | ---: |".to_owned(),
    ];
    for rows in [10, 100, 1_000] {
        let batch = all.slice(0, rows.min(all.num_rows()));
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for run in 0..=ENCODE_RUNS {
            let start = Instant::now();
            let ours_len = encode(&batch, compression).expect("encode").len();
            let ours_time = start.elapsed().as_secs_f64();
            let start = Instant::now();
            let theirs_len = arrow_writer(&batch);
            let theirs_time = start.elapsed().as_secs_f64();
            assert_eq!(
                ours_len, theirs_len,
                "the two writers wrote files of other sizes"
            );
            if run > 0 {
                ours.push(ours_time);
                theirs.push(theirs_time);
            }
        }
        let (ours, theirs) = (median(ours), median(theirs));
        table.push(format!(
            "| {} | {:.0} | {:.0} | {:.1}× |",
            batch.num_rows(),
            ours * 1e6,
            theirs * 1e6,
            theirs / ours
        ));
    }
    println!("{}", table.join("\n"));
}

/// Median seconds and maximum peak RSS (KiB) of a set of runs.
fn summarize(runs: &[(f64, u64)]) -> (f64, u64) {
    (
        median(runs.iter().map(|r| r.0).collect()),
        runs.iter().map(|r| r.1).max().unwrap_or(0),
    )
}

/// Runs one export process; checks that it wrote every record; returns (seconds, peak KiB).
fn measure(cmd: &mut Command, expected_rows: usize) -> (f64, u64) {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(line.trim()).expect("child prints one JSON line");
    assert_eq!(
        v["rows"].as_u64(),
        Some(expected_rows as u64),
        "{cmd:?}: {v}"
    );
    (
        v["seconds"].as_f64().expect("seconds"),
        v["peak_rss_kb"].as_u64().expect("peak_rss_kb"),
    )
}

/// The measured side: read the file, export it to a local lake, report.
fn child(input: &Path, out: &str, compression: Compression) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let start = Instant::now();
    let lake = Lake::open(out).expect("lake dir");
    let exporter = lake.exporter(ExportOptions {
        compression,
        ..ExportOptions::default()
    });
    // What `imglake export --input FILE` does: one pass over the file, read a chunk at a
    // time, then the writes.
    let mut report = ExportReport::default();
    let source = Source::File {
        file: std::fs::File::open(input).expect("open input"),
        name: input,
        progress: &mut |_| {},
    };
    for batch in exporter
        .prepare(source, 1_795_600_000_000, usize::MAX)
        .expect("read input")
    {
        report.merge(runtime.block_on(exporter.write(batch)).expect("export"));
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({
            "impl": "imglake",
            "records": report.received,
            "rows": report.rows_written,
            "files": report.files.len(),
            "seconds": seconds,
            "peak_rss_kb": peak_rss_kb(),
        })
    );
}
