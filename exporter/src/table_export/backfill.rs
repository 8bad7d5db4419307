//! Backfill: a table export's lines into the lake, through the exporter's door, a slice at a
//! time (bounded memory whatever the export's size), each slice written before the next is
//! read. Idempotent: the same export writes the same objects again ([`Source::ExportLines`]
//! names them by export and slice).

use std::collections::BTreeMap;

use serde::Serialize;
use thiserror::Error;

use super::{Export, ExportError, ExportKind};
use crate::export::{ExportError as WriteError, Exporter};
use crate::reader::{ReadError, Source};

/// How backfill reads.
#[derive(Debug, Clone, Copy)]
pub struct BackfillOptions {
    /// Lines per slice (one `prepare` + `write`).
    pub slice_lines: usize,
    /// Text per slice.
    pub slice_bytes: usize,
}

impl Default for BackfillOptions {
    fn default() -> Self {
        BackfillOptions {
            slice_lines: 20_000,
            slice_bytes: 32 << 20,
        }
    }
}

/// What a backfill did. `rows_written + quarantined == lines_read`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BackfillReport {
    pub export_arn: String,
    pub export_type: &'static str,
    /// A full export's point in time, or an incremental export's window (RFC 3339).
    pub export_time: Option<String>,
    pub window_from: Option<String>,
    pub window_to: Option<String>,
    pub data_files: usize,
    pub compressed_bytes: u64,
    pub lines_read: u64,
    pub rows_written: u64,
    pub quarantined: u64,
    pub quarantine_reasons: BTreeMap<&'static str, u64>,
    pub objects_written: usize,
}

/// Why a backfill stopped. Objects already written stay (a rerun rewrites them).
#[derive(Debug, Error)]
pub enum BackfillError {
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("{lines_read} lines read but {rows_written} rows written and {quarantined} quarantined: lines went unaccounted for (an exporter bug; please report it with the export); the objects written stay, and a rerun rewrites them")]
    Unaccounted {
        lines_read: u64,
        rows_written: u64,
        quarantined: u64,
    },
    #[error("writing the lake failed for {failed} rows of {file} ({first_error}); run the backfill again once the lake is writable: it rewrites the same objects")]
    Incomplete {
        file: String,
        failed: usize,
        first_error: String,
    },
}

/// Writes every line of `export` into the lake through `exporter`, its rows' `exported_at`
/// the export's ([`Export::exported_at_ms`]). `progress` is told the lines written so far and
/// the items the manifest announces.
pub async fn backfill(
    exporter: &Exporter,
    export: &Export,
    options: BackfillOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<BackfillReport, BackfillError> {
    let summary = &export.summary;
    let exported_at_ms = export.exported_at_ms();
    let mut report = BackfillReport {
        export_arn: summary.export_arn.clone(),
        export_type: match export.context.kind {
            ExportKind::Full { .. } => "FULL_EXPORT",
            ExportKind::Incremental { .. } => "INCREMENTAL_EXPORT",
        },
        export_time: summary.export_time.map(|t| t.to_rfc3339()),
        window_from: summary.export_from_time.map(|t| t.to_rfc3339()),
        window_to: summary.export_to_time.map(|t| t.to_rfc3339()),
        data_files: export.files.len(),
        ..BackfillReport::default()
    };
    let total = export.item_count();
    let mut compressed: u64 = 0;
    progress(0, total);
    let mut part: u64 = 0;
    let mut slice: Vec<Vec<u8>> = Vec::new();
    let mut slice_bytes = 0;
    for file in &export.files {
        let mut data = export
            .open_data_file(file, &mut |n| compressed += n)
            .await?;
        let mut line = Vec::new();
        loop {
            let more = data.next_line(&mut line)?;
            if more {
                slice_bytes += line.len();
                slice.push(std::mem::take(&mut line));
            }
            let full = slice.len() >= options.slice_lines || slice_bytes >= options.slice_bytes;
            if !slice.is_empty() && (full || !more) {
                write_slice(
                    exporter,
                    export,
                    &slice,
                    part,
                    exported_at_ms,
                    &mut report,
                    &data.file,
                )
                .await?;
                progress(report.rows_written + report.quarantined, total);
                part += 1;
                slice.clear();
                slice_bytes = 0;
            }
            if !more {
                break;
            }
        }
        data.finish()?;
        report.lines_read += data.lines;
    }
    report.compressed_bytes = compressed;
    // Every line read is a row written or a quarantined line: anything else lost a line
    // without saying so, which a backfill must not do quietly.
    if report.rows_written + report.quarantined != report.lines_read {
        return Err(BackfillError::Unaccounted {
            lines_read: report.lines_read,
            rows_written: report.rows_written,
            quarantined: report.quarantined,
        });
    }
    Ok(report)
}

/// One slice through the exporter's door, written at once.
async fn write_slice(
    exporter: &Exporter,
    export: &Export,
    lines: &[Vec<u8>],
    part: u64,
    exported_at_ms: i64,
    report: &mut BackfillReport,
    file: &str,
) -> Result<(), BackfillError> {
    let source = Source::ExportLines {
        lines,
        export: &export.context,
        part,
    };
    for batch in exporter.prepare(source, exported_at_ms, usize::MAX)? {
        let written = exporter.write(batch).await?;
        if !written.failed_sequence_numbers.is_empty() || written.failed_records() > 0 {
            return Err(BackfillError::Incomplete {
                file: file.to_owned(),
                failed: written.failed_records(),
                first_error: written.write_errors.first().cloned().unwrap_or_default(),
            });
        }
        report.rows_written += written.rows_written as u64;
        report.quarantined += written.quarantined as u64;
        for (code, n) in written.quarantine_reasons {
            *report.quarantine_reasons.entry(code).or_default() += n as u64;
        }
        report.objects_written += written.files.len();
    }
    Ok(())
}
