//! `imglake export`: stream records from a file or stdin into the lake.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use imglake_exporter::export::{Exporter, WrittenFile};
use imglake_exporter::layout;
use imglake_exporter::{ExportOptions, ExportReport, Lake};
use imglake_exporter::{PreparedBatch, ReadError, Source};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::ExportArgs;

pub async fn run(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    // A missing input is named before the lake (which opening may create) is touched.
    let input = open_input(&args.input)?;
    let lake = Lake::open(&args.lake)?;
    let exporter = lake.exporter(ExportOptions {
        compression: args.compression,
        stream_override: args.stream_label.clone(),
        ..ExportOptions::default()
    });
    let exported_at_ms = now_ms();
    let batch_size = usize::try_from(args.batch_records).unwrap_or(usize::MAX);
    let prepared = prepare(&exporter, input, &args, exported_at_ms, batch_size)?;
    let batches = prepared.len();
    let mut total = ExportReport::default();
    for (i, batch) in prepared.into_iter().enumerate() {
        let report = exporter.write(batch).await?;
        if batches > 1 {
            eprintln!(
                "batch {}/{batches}: {} records, {} rows, {} quarantined",
                i + 1,
                report.received,
                report.rows_written,
                report.quarantined
            );
        }
        total.merge(report);
    }
    let elapsed = started.elapsed();
    if args.json {
        let mut value = serde_json::to_value(&total)?;
        value["seconds"] = serde_json::json!(elapsed.as_secs_f64());
        value["lake"] = serde_json::json!(lake.display);
        let (held, rewrites) = held_files(&total);
        value["files"] = held
            .iter()
            .map(|f| {
                let mut file = serde_json::to_value(f)?;
                file["location"] = serde_json::json!(lake.location(&f.key));
                Ok(file)
            })
            .collect::<serde_json::Result<_>>()?;
        value["rewrites"] = serde_json::json!(rewrites);
        outln!("{value}");
    } else {
        print_summary(&total, &lake, elapsed.as_secs_f64());
    }
    if total.received == 0 {
        eprintln!(
            "warning: {} holds no stream records; nothing was exported",
            input_name(&args.input)
        );
    }
    if total.received > 0 && total.rows_written == 0 && total.quarantined == total.received {
        // Only reasons about the shape of a record suggest a wrong file; a file of stream
        // records whose values do not fit is not one.
        let shape_only = total
            .quarantine_reasons
            .keys()
            .all(|code| matches!(*code, "invalid_json" | "missing_field" | "malformed_record"));
        let question = if shape_only {
            format!(
                " Is {} a DynamoDB stream event ({{\"Records\": [...]}}) or JSON Lines of \
                 stream records?",
                input_name(&args.input)
            )
        } else {
            String::new()
        };
        eprintln!(
            "warning: none of the {} records could be exported.{question} Each record is in the \
             quarantine file above, with its reason.",
            total.received,
        );
    }
    if total.failed_records() > 0 {
        eprintln!(
            "error: {} records could not be written (see the errors above); rerun the same command to retry",
            total.failed_records()
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// The input as messages name it: its path, or `stdin` for `-`.
fn input_name(path: &std::path::Path) -> String {
    if path.as_os_str() == "-" {
        "stdin".to_owned()
    } else {
        path.display().to_string()
    }
}

/// Where the records come from, opened once.
enum Input {
    /// `--input FILE`, or stdin when it is a regular file (`< events.json`): read a chunk
    /// at a time when its form allows.
    File(std::fs::File),
    /// stdin from a pipe or a terminal: read whole.
    Stdin,
}

/// Opens `--input` (a missing file is an error here, before anything else happens).
fn open_input(path: &std::path::Path) -> anyhow::Result<Input> {
    if path.as_os_str() != "-" {
        return std::fs::File::open(path)
            .map(Input::File)
            .with_context(|| format!("cannot read --input {}", path.display()));
    }
    Ok(stdin_file().map_or(Input::Stdin, Input::File))
}

/// stdin as a file of its own (a duplicate of its descriptor) when it is a regular file.
/// Anything else (a pipe, a terminal, a closed stdin) is read through `std::io::stdin`,
/// which decodes a Windows console and reads a closed stdin as empty.
fn stdin_file() -> Option<std::fs::File> {
    let stdin = std::io::stdin();
    #[cfg(unix)]
    let owned = std::os::fd::AsFd::as_fd(&stdin).try_clone_to_owned();
    #[cfg(windows)]
    let owned = std::os::windows::io::AsHandle::as_handle(&stdin).try_clone_to_owned();
    #[cfg(not(any(unix, windows)))]
    let owned: std::io::Result<std::fs::File> = {
        drop(stdin);
        Err(std::io::ErrorKind::Unsupported.into())
    };
    let file = std::fs::File::from(owned.ok()?);
    file.metadata().ok()?.is_file().then_some(file)
}

/// Maps and encodes the input: a chunk at a time when it is a regular file holding a Lambda
/// event or GetRecords response with `Records` first or JSON Lines of stream records,
/// otherwise whole (`Source::File`, `Source::Pipe`).
fn prepare(
    exporter: &Exporter,
    input: Input,
    args: &ExportArgs,
    exported_at_ms: i64,
    batch_size: usize,
) -> anyhow::Result<Vec<PreparedBatch>> {
    let name = input_name(&args.input);
    let prepared = match input {
        Input::File(file) => {
            let mut progress = ReadProgress::for_file(&file, &name);
            let source = Source::File {
                file,
                name: &args.input,
                progress: &mut |read| progress.update(read),
            };
            let prepared = exporter.prepare(source, exported_at_ms, batch_size);
            progress.finish();
            prepared
        }
        Input::Stdin => {
            let source = Source::Pipe {
                reader: &mut std::io::stdin(),
                size: 0,
                name: &args.input,
                progress: &mut |_| {},
            };
            exporter.prepare(source, exported_at_ms, batch_size)
        }
    };
    prepared.map_err(|e| match e {
        ReadError::Io { source, .. } => {
            let what = if args.input.as_os_str() == "-" {
                ""
            } else {
                "--input "
            };
            anyhow::Error::new(source).context(format!("cannot read {what}{name}"))
        }
        ReadError::Input(e) => anyhow::Error::new(e).context(format!("reading {name}")),
    })
}

/// Inputs from this size on show how far reading them has come.
const PROGRESS_MIN_BYTES: u64 = 32 << 20;

/// How far reading a large input file has come: a bar on a terminal, otherwise a line on
/// stderr at every tenth (a log keeps them).
struct ReadProgress {
    bar: Option<ProgressBar>,
    name: String,
    len: u64,
}

impl ReadProgress {
    /// For `file` read from where it stands (stdin may stand past what another program read).
    fn for_file(file: &std::fs::File, name: &str) -> Self {
        use std::io::Seek;
        let len = match (file.metadata(), (&*file).stream_position()) {
            (Ok(m), Ok(at)) if m.is_file() => m.len().saturating_sub(at),
            _ => 0,
        };
        let bar = (len >= PROGRESS_MIN_BYTES).then(|| {
            let bar = ProgressBar::new(len).with_prefix("reading");
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {bytes}/{total_bytes} {elapsed} (eta {eta}) {wide_msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar
        });
        ReadProgress {
            bar,
            name: name.to_owned(),
            len,
        }
    }

    /// `read` bytes of the file read so far (0 again when it is read a second time, whole).
    fn update(&mut self, read: u64) {
        let Some(bar) = &self.bar else {
            return;
        };
        let before = bar.position();
        bar.set_position(read);
        let tenth = |n: u64| n * 10 / self.len.max(1);
        if read == 0 && before > 0 {
            let message = format!(
                "{} is not read in chunks (its form or a record needs the whole input); reading it whole",
                self.name
            );
            if bar.is_hidden() {
                eprintln!("{message}");
            } else {
                bar.println(message);
            }
        } else if bar.is_hidden() && tenth(read) != tenth(before) {
            eprintln!(
                "reading {}: {}% ({} of {} MB)",
                self.name,
                read * 100 / self.len.max(1),
                read >> 20,
                self.len >> 20
            );
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Files listed by name in the summary; quarantine files are always listed.
const LISTED_FILES: usize = 10;

/// The files the lake holds after a run, and how many writes replaced one: batches of an
/// input that repeats events write the same keys again (keys follow the events), and the
/// last write of a key is what stays.
fn held_files(report: &ExportReport) -> (Vec<&WrittenFile>, usize) {
    let mut files: Vec<&WrittenFile> = Vec::new();
    let mut at: HashMap<&str, usize> = HashMap::new();
    for file in &report.files {
        match at.get(file.key.as_str()) {
            Some(&i) => files[i] = file,
            None => {
                at.insert(&file.key, files.len());
                files.push(file);
            }
        }
    }
    let rewrites = report.files.len() - files.len();
    (files, rewrites)
}

fn print_summary(report: &ExportReport, lake: &Lake, seconds: f64) {
    let (files, rewrites) = held_files(report);
    let bytes: usize = files.iter().map(|f| f.bytes).sum();
    let (quarantine, data): (Vec<&WrittenFile>, Vec<&WrittenFile>) = files
        .iter()
        .partition(|f| layout::is_quarantine_key(&lake.root, &f.key));
    outln!("lake:        {}", lake.display);
    outln!("records:     {}", report.received);
    if rewrites > 0 {
        let held: usize = data.iter().map(|f| f.rows).sum();
        outln!(
            "rows:        {} ({held} in the files the lake holds)",
            report.rows_written
        );
    } else {
        outln!("rows:        {}", report.rows_written);
    }
    outln!("quarantined: {}", report.quarantined);
    for (code, n) in &report.quarantine_reasons {
        outln!("  {code}: {n}");
    }
    outln!("files:       {} ({bytes} bytes)", files.len());
    if rewrites > 0 {
        outln!(
            "  {rewrites} writes replaced a file this run had written: the input repeats \
             events, and the lake keeps one copy of each such file"
        );
    }
    for file in data.iter().take(LISTED_FILES) {
        let s = if file.rows == 1 { "" } else { "s" };
        outln!("  {} ({} row{s})", lake.location(&file.key), file.rows);
    }
    if data.len() > LISTED_FILES {
        outln!("  … and {} more", data.len() - LISTED_FILES);
    }
    for file in quarantine {
        outln!("  {} ({} quarantined)", lake.location(&file.key), file.rows);
    }
    if report.failed_records() > 0 {
        outln!("failed:      {}", report.failed_records());
        for e in &report.write_errors {
            outln!("  {e}");
        }
    }
    outln!("seconds:     {seconds:.3}");
}
