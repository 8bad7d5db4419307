//! The exporter: stream records from any [`Source`] into lake objects. Its one door is
//! [`Exporter::prepare`] (read, map, group by partition, encode: pure) followed by
//! [`Exporter::write`] (one flush of PUTs); [`Exporter::export`] does both.

use std::collections::BTreeMap;
use std::sync::Arc;

use object_store::path::Path;
use object_store::ObjectStore;
use serde::Serialize;
use thiserror::Error;

use crate::batch::{BatchSink, FileNames, Limits, PreparedBatch, MAX_BATCH_TEXT_BYTES};
use crate::parquet_file::Compression;
use crate::reader::{self, ReadError, Source};
use crate::row::MapContext;

/// Settings of an exporter.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub compression: Compression,
    /// Stream label for object keys instead of the one derived from `eventSourceARN`.
    pub stream_override: Option<String>,
    /// Objects written at the same time.
    pub write_concurrency: usize,
    /// Text one batch may hold before it is cut, whatever its record count
    /// ([`MAX_BATCH_TEXT_BYTES`]).
    pub batch_text_bytes: usize,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            compression: Compression::Zstd,
            stream_override: None,
            write_concurrency: 8,
            batch_text_bytes: MAX_BATCH_TEXT_BYTES,
        }
    }
}

/// A file the export wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WrittenFile {
    pub key: String,
    pub rows: usize,
    pub bytes: usize,
}

/// What happened to a batch. `rows_written + quarantined + failed_records == received`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExportReport {
    pub received: usize,
    pub rows_written: usize,
    pub quarantined: usize,
    /// Quarantine reasons by code.
    pub quarantine_reasons: BTreeMap<&'static str, usize>,
    pub files: Vec<WrittenFile>,
    /// Sequence numbers (as received) of records whose object could not be written; Lambda
    /// retries from the lowest one.
    pub failed_sequence_numbers: Vec<String>,
    /// The write errors behind `failed_sequence_numbers`, for logs.
    pub write_errors: Vec<String>,
}

impl ExportReport {
    /// Records not written and not quarantined (their write failed; they must be retried).
    pub fn failed_records(&self) -> usize {
        self.received - self.rows_written - self.quarantined
    }

    /// Adds the report of another batch of the same run.
    pub fn merge(&mut self, part: ExportReport) {
        self.received += part.received;
        self.rows_written += part.rows_written;
        self.quarantined += part.quarantined;
        for (code, n) in part.quarantine_reasons {
            *self.quarantine_reasons.entry(code).or_default() += n;
        }
        self.files.extend(part.files);
        self.failed_sequence_numbers
            .extend(part.failed_sequence_numbers);
        self.write_errors.extend(part.write_errors);
    }
}

/// Errors that fail a whole batch (so that it is retried whole).
#[derive(Debug, Error)]
pub enum ExportError {
    /// Quarantined records without a sequence number could not be written, so they cannot be
    /// reported individually: the batch must be retried.
    #[error("could not write the quarantine file {key} for records without a sequence number (check write access to the lake): {source}")]
    Quarantine {
        key: String,
        source: object_store::Error,
    },
}

/// Why [`Exporter::export`] failed.
#[derive(Debug, Error)]
pub enum ExportInputError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Export(#[from] ExportError),
}

/// Writes stream records into the lake.
#[derive(Debug, Clone)]
pub struct Exporter {
    store: Arc<dyn ObjectStore>,
    root: Path,
    options: ExportOptions,
}

impl Exporter {
    pub fn new(store: Arc<dyn ObjectStore>, root: Path, options: ExportOptions) -> Self {
        Exporter {
            store,
            root,
            options,
        }
    }

    /// The same exporter with other options (a stream label for one replay, say).
    pub fn with_options(&self, options: ExportOptions) -> Exporter {
        Exporter {
            options,
            ..self.clone()
        }
    }

    /// The exporter's options.
    pub fn options(&self) -> &ExportOptions {
        &self.options
    }

    /// Reads every record of `source` and maps and encodes it, in batches of `batch_records`
    /// records (and at most [`ExportOptions::batch_text_bytes`] of text), each to be written
    /// with [`Exporter::write`]. A Lambda payload ([`Source::Event`], at most 6 MB) is one
    /// batch. Records that cannot be mapped are quarantined; the objects of a replayed
    /// source are the same keys with the same bytes. The input is read in full before the
    /// first batch is returned, so that an input refused late never leaves part of itself
    /// written.
    pub fn prepare(
        &self,
        source: Source<'_>,
        exported_at_ms: i64,
        batch_records: usize,
    ) -> Result<Vec<PreparedBatch>, ReadError> {
        let limits = match source {
            Source::Event(_) => Limits {
                records: usize::MAX,
                text_bytes: usize::MAX,
            },
            _ => Limits {
                records: batch_records,
                text_bytes: self.options.batch_text_bytes,
            },
        };
        let names = match &source {
            Source::ExportLines { export, part, .. } => FileNames::Export {
                export_id: export.export_id.clone(),
                part: *part,
            },
            _ => FileNames::Stream,
        };
        let ctx = MapContext { exported_at_ms };
        let mut sink = BatchSink::new(&self.root, &self.options, ctx, limits, names);
        reader::read(source, &mut sink)?;
        Ok(sink.finish())
    }

    /// Writes a prepared batch. Records that cannot be mapped were quarantined; records
    /// whose object could not be written are listed in the report for a retry.
    pub async fn write(&self, prepared: PreparedBatch) -> Result<ExportReport, ExportError> {
        let PreparedBatch {
            mut report,
            objects,
        } = prepared;
        crate::write::flush(
            &self.store,
            self.options.write_concurrency,
            objects,
            &mut report,
        )
        .await?;
        debug_assert_eq!(
            report.rows_written + report.quarantined + report.failed_sequence_numbers.len(),
            report.received
        );
        Ok(report)
    }

    /// [`Exporter::prepare`] and [`Exporter::write`] of every batch: one batch unless the
    /// source holds more text than one batch may.
    pub async fn export(
        &self,
        source: Source<'_>,
        exported_at_ms: i64,
    ) -> Result<ExportReport, ExportInputError> {
        let mut report = ExportReport::default();
        for batch in self.prepare(source, exported_at_ms, usize::MAX)? {
            report.merge(self.write(batch).await?);
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests;
