//! The export of one batch of stream records: map (pure), group by partition, encode (pure),
//! then write every object in one flush. This is the only module here that does I/O.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use futures::stream::{self, StreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::Serialize;
use serde_json::value::RawValue;
use thiserror::Error;

use crate::arrow_rows::BatchBuilder;
use crate::decode::Decoded;
use crate::document::{self, Form};
use crate::layout::{self, Partition, StreamLabels};
use crate::map::{self, MapContext};
use crate::parquet_file::{self, Compression};
use crate::record::{split_input, InputError, InputRecord};

/// Settings of an exporter.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub compression: Compression,
    /// Stream label for object keys instead of the one derived from `eventSourceARN`.
    pub stream_override: Option<String>,
    /// Objects written at the same time.
    pub write_concurrency: usize,
    /// Text one batch of [`Exporter::prepare_input`] may hold before it is cut, whatever its
    /// record count ([`MAX_BATCH_TEXT_BYTES`]).
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

/// Why [`Exporter::export_input`] failed.
#[derive(Debug, Error)]
pub enum ExportInputError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Export(#[from] ExportError),
}

/// Why [`Exporter::prepare_file`] found nothing to export.
#[derive(Debug, Error)]
pub enum FileInputError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Input(#[from] InputError),
}

/// Bytes read at a time by [`Exporter::prepare_reader`]: large enough that a read costs
/// little, small enough to stay in the CPU's caches. A longer record grows the buffer.
const STREAM_CHUNK_BYTES: usize = 256 * 1024;

/// A reader that tells `progress` the bytes read through it so far.
struct Counted<'a, R> {
    inner: R,
    read: u64,
    progress: &'a mut dyn FnMut(u64),
}

impl<'a, R: std::io::Read> Counted<'a, R> {
    fn new(inner: R, progress: &'a mut dyn FnMut(u64)) -> Self {
        progress(0);
        Counted {
            inner,
            read: 0,
            progress,
        }
    }
}

impl<R: std::io::Read> std::io::Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.read += n as u64;
            (self.progress)(self.read);
        }
        Ok(n)
    }
}

/// Removes a UTF-8 byte order mark (some Windows editors write one): it is not part of the
/// JSON.
pub fn strip_byte_order_mark(bytes: &mut Vec<u8>) {
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes.drain(..3);
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

/// Text one batch may hold by default before it is cut, whatever its record count: every string column
/// of a file then stays far below Arrow's 2 GiB limit (a row holds at most
/// [`map::MAX_ROW_TEXT_BYTES`]), and a huge input is written in parts of bounded memory.
pub const MAX_BATCH_TEXT_BYTES: usize = 256 << 20;

/// One quarantined record, as a JSON line.
#[derive(Debug, Serialize)]
struct QuarantineLine<'a> {
    code: &'static str,
    reason: String,
    /// The record as received, on one line ([`one_line`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<Cow<'a, RawValue>>,
    /// The input line, when it was not JSON at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    record_text: Option<&'a str>,
    /// That line's exact bytes, base64, when they are not UTF-8 (`record_text` then has
    /// U+FFFD in their place).
    #[serde(skip_serializing_if = "Option::is_none")]
    record_base64: Option<String>,
}

/// A record's JSON without the line breaks of a pretty-printed input, so that the quarantine
/// file stays JSON Lines. Only whitespace between tokens goes: a line break inside a JSON
/// string is always escaped, so strings, numbers and key order stay exactly as received.
fn one_line(raw: &RawValue) -> Cow<'_, RawValue> {
    let text = raw.get();
    if !text.contains(['\n', '\r']) {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            out.push(c);
            in_string = c == '"';
        }
    }
    // Removing insignificant whitespace from valid JSON leaves valid JSON.
    match RawValue::from_string(out) {
        Ok(compact) => Cow::Owned(compact),
        Err(_) => Cow::Borrowed(raw),
    }
}

/// An object ready to be written, with the records it carries.
struct PendingObject<'r> {
    key: Path,
    body: Bytes,
    rows: usize,
    /// Sequence numbers as received, to report if the write fails.
    sequence_numbers: Vec<Cow<'r, str>>,
    /// Records in it that have no sequence number (quarantine only).
    unreported: usize,
    is_quarantine: bool,
}

/// One batch mapped and encoded (pure work done), ready for [`Exporter::write`]. Borrows
/// sequence numbers from the input (`'r`).
pub struct PreparedBatch<'r> {
    /// Received, quarantine reasons, and records whose file could not be encoded.
    report: ExportReport,
    objects: Vec<PendingObject<'r>>,
}

impl PreparedBatch<'_> {
    /// Records in the batch.
    pub fn received(&self) -> usize {
        self.report.received
    }

    /// The same batch, owning the sequence numbers it borrowed from the input.
    pub fn into_owned(self) -> PreparedBatch<'static> {
        PreparedBatch {
            report: self.report,
            objects: self
                .objects
                .into_iter()
                .map(|o| PendingObject {
                    key: o.key,
                    body: o.body,
                    rows: o.rows,
                    sequence_numbers: o
                        .sequence_numbers
                        .into_iter()
                        .map(|s| Cow::Owned(s.into_owned()))
                        .collect(),
                    unreported: o.unreported,
                    is_quarantine: o.is_quarantine,
                })
                .collect(),
        }
    }
}

/// The rows of one (stream, partition) file while the batch is mapped.
struct Group<'r> {
    builder: BatchBuilder,
    /// Sequence numbers as received, in input order.
    sequence_numbers: Vec<Cow<'r, str>>,
}

/// A group's rows in stream order, ready to encode.
struct GroupFile<'r> {
    batch: Result<arrow::record_batch::RecordBatch, arrow::error::ArrowError>,
    /// Padded sequence numbers of the first and last row.
    first: String,
    last: String,
    /// Sequence numbers as received, in file order.
    sequence_numbers: Vec<Cow<'r, str>>,
}

impl<'r> Group<'r> {
    fn new(batch_records: usize) -> Self {
        // Builders grow as needed; start small enough that many partitions stay cheap.
        let capacity = batch_records.min(1024);
        Group {
            builder: BatchBuilder::with_capacity(capacity),
            sequence_numbers: Vec::with_capacity(capacity),
        }
    }

    /// Sorts the rows by sequence number (stable, so that equal numbers keep input order)
    /// and finishes the batch. Stream batches arrive in order, so the sort is usually a check.
    fn into_file(self) -> Option<GroupFile<'r>> {
        let Group {
            builder,
            mut sequence_numbers,
        } = self;
        let (values, offsets) = builder.str_values(map::SEQUENCE_NUMBER)?;
        let seq = |i: usize| -> &[u8] {
            let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
            &values[start..end]
        };
        let rows = offsets.len().checked_sub(1).filter(|n| *n > 0)?;
        let sorted = (1..rows).all(|i| seq(i - 1) <= seq(i));
        let order: Option<Vec<u32>> = (!sorted).then(|| {
            let mut order: Vec<u32> = (0..rows as u32).collect();
            order.sort_by(|a, b| seq(*a as usize).cmp(seq(*b as usize)));
            order
        });
        let text = |i: usize| String::from_utf8_lossy(seq(i)).into_owned();
        let (first, last) = match &order {
            Some(order) => (text(order[0] as usize), text(order[rows - 1] as usize)),
            None => (text(0), text(rows - 1)),
        };
        let batch = builder.finish();
        let batch = match order {
            None => batch,
            Some(order) => {
                sequence_numbers = order
                    .iter()
                    .map(|i| std::mem::take(&mut sequence_numbers[*i as usize]))
                    .collect();
                let indices = arrow::array::UInt32Array::from(order);
                batch.and_then(|b| arrow::compute::take_record_batch(&b, &indices))
            }
        };
        Some(GroupFile {
            batch,
            first,
            last,
            sequence_numbers,
        })
    }
}

/// One batch while its records are mapped: rows go straight into their file's builders,
/// unmappable records into the quarantine.
struct Assembler<'e, 'r> {
    exporter: &'e Exporter,
    ctx: MapContext,
    /// Expected records, to size builders.
    capacity_hint: usize,
    received: usize,
    /// Bytes of text in the rows so far: a batch ends at `text_limit`.
    text_bytes: usize,
    /// [`ExportOptions::batch_text_bytes`], or no limit for a Lambda payload (at most 6 MB).
    text_limit: usize,
    /// Stream labels by eventSourceARN.
    labels: StreamLabels,
    groups: BTreeMap<(usize, Partition), Group<'r>>,
    quarantine: Vec<(QuarantineLine<'r>, Option<String>)>,
}

impl<'e, 'r> Assembler<'e, 'r> {
    fn new(exporter: &'e Exporter, ctx: MapContext, capacity_hint: usize) -> Self {
        Assembler {
            exporter,
            ctx,
            capacity_hint,
            received: 0,
            text_bytes: 0,
            text_limit: exporter.options.batch_text_bytes,
            labels: StreamLabels::default(),
            groups: BTreeMap::new(),
            quarantine: Vec::new(),
        }
    }

    /// Maps one decoded record: a row, or the reason it cannot be one (with its text, which
    /// `raw` finds only when needed).
    fn add_decoded(
        &mut self,
        decoded: &mut Decoded<'r>,
        cells: &mut Vec<map::Cell<'r>>,
        raw: impl FnOnce() -> Option<&'r RawValue>,
    ) -> Result<(), String> {
        match map::map_decoded(decoded, self.ctx, cells) {
            Ok(place) => {
                self.add_row(place, cells);
                Ok(())
            }
            Err(err) => {
                let raw = raw().ok_or("the record's text was not found")?;
                self.add_unmappable(raw, &err);
                Ok(())
            }
        }
    }

    fn add_row(&mut self, place: map::RowPlace<'r>, cells: &[map::Cell<'_>]) {
        self.add_row_with(place, cells, |s| s);
    }

    /// [`Assembler::add_row`] for a row whose place borrows for less than `'r`: `keep`
    /// makes what the batch keeps (the sequence number) live long enough.
    fn add_row_with<'x>(
        &mut self,
        place: map::RowPlace<'x>,
        cells: &[map::Cell<'_>],
        keep: impl FnOnce(Cow<'x, str>) -> Cow<'r, str>,
    ) {
        self.received += 1;
        let arn = place.event_source_arn.as_deref();
        let label = self
            .labels
            .index(arn, self.exporter.options.stream_override.as_deref());
        let capacity = self.capacity_hint;
        let group = self
            .groups
            .entry((label, place.partition))
            .or_insert_with(|| Group::new(capacity));
        group.builder.append(cells);
        self.text_bytes += place.text_bytes;
        group
            .sequence_numbers
            .push(keep(place.source_sequence_number));
    }

    /// Whether the batch has its records, or as much text as one batch may hold.
    fn is_full(&self, batch_records: usize) -> bool {
        self.received >= batch_records || self.text_bytes >= self.text_limit
    }

    fn add_unmappable(&mut self, raw: &'r RawValue, err: &map::MapError) {
        self.add_unmappable_with(raw, err, |line| line);
    }

    /// [`Assembler::add_unmappable`] for a record whose text borrows for less than `'r`:
    /// `keep` makes the quarantine line live long enough.
    fn add_unmappable_with<'x>(
        &mut self,
        raw: &'x RawValue,
        err: &map::MapError,
        keep: impl FnOnce(Cow<'x, RawValue>) -> Cow<'r, RawValue>,
    ) {
        self.received += 1;
        self.quarantine.push((
            QuarantineLine {
                code: err.code(),
                reason: err.to_string(),
                record: Some(keep(one_line(raw))),
                record_text: None,
                record_base64: None,
            },
            map::raw_sequence_number(raw),
        ));
    }

    /// One record as split from the input (the record-by-record path).
    fn add_input(
        &mut self,
        input: &'r InputRecord<'_>,
        decoded: &mut Decoded<'r>,
        cells: &mut Vec<map::Cell<'r>>,
    ) {
        match input {
            InputRecord::Json(raw) => match map::map_into(raw.as_ref(), self.ctx, decoded, cells) {
                Ok(place) => self.add_row(place, cells),
                Err(err) => self.add_unmappable(raw.as_ref(), &err),
            },
            InputRecord::Unparsable {
                text,
                original,
                error,
            } => {
                self.received += 1;
                self.quarantine.push((
                    QuarantineLine {
                        code: "invalid_json",
                        reason: format!("not JSON: {error}"),
                        record: None,
                        record_text: Some(text),
                        record_base64: original
                            .as_ref()
                            .map(|bytes| base64::engine::general_purpose::STANDARD.encode(bytes)),
                    },
                    None,
                ));
            }
        }
    }

    /// Encodes every file of the batch and the quarantine file (pure).
    fn finish(self) -> PreparedBatch<'r> {
        let exporter = self.exporter;
        let mut report = ExportReport {
            received: self.received,
            quarantined: self.quarantine.len(),
            ..ExportReport::default()
        };
        let mut objects = Vec::with_capacity(self.groups.len() + 1);
        for ((label, partition), group) in self.groups {
            let stream = self.labels.label(label);
            let rows = group.builder.len();
            let Some(file) = group.into_file() else {
                continue;
            };
            let key = layout::data_key(
                &exporter.root,
                stream,
                &partition,
                &file.first,
                &file.last,
                file.sequence_numbers.iter().map(|s| s.as_ref()),
            );
            let encoded = file.batch.map_err(|e| e.to_string()).and_then(|batch| {
                parquet_file::encode(&batch, exporter.options.compression)
                    .map_err(|e| e.to_string())
            });
            match encoded {
                Ok(body) => objects.push(PendingObject {
                    key,
                    body,
                    rows,
                    sequence_numbers: file.sequence_numbers,
                    unreported: 0,
                    is_quarantine: false,
                }),
                Err(e) => {
                    tracing::error!(key = %key, error = %e, "encoding failed; records will be retried");
                    report.write_errors.push(format!("{key}: {e}"));
                    report
                        .failed_sequence_numbers
                        .extend(file.sequence_numbers.into_iter().map(Cow::into_owned));
                }
            }
        }

        if !self.quarantine.is_empty() {
            let mut body = Vec::new();
            let mut sequence_numbers = Vec::new();
            let mut unreported = 0;
            for (line, seq) in &self.quarantine {
                *report.quarantine_reasons.entry(line.code).or_default() += 1;
                // Serializing a struct of strings and raw JSON cannot fail.
                if serde_json::to_writer(&mut body, line).is_ok() {
                    body.push(b'\n');
                }
                match seq {
                    Some(s) => sequence_numbers.push(Cow::Owned(s.clone())),
                    None => unreported += 1,
                }
            }
            objects.push(PendingObject {
                key: layout::quarantine_key(&exporter.root, &body),
                body: Bytes::from(body),
                rows: self.quarantine.len(),
                sequence_numbers,
                unreported,
                is_quarantine: true,
            });
        }
        PreparedBatch { report, objects }
    }
}

impl Assembler<'_, 'static> {
    /// [`Assembler::add_decoded`] for a record whose text (`raw`) lives only for this call,
    /// as when the input is read a chunk at a time: what the batch keeps is copied.
    fn add_decoded_copied<'x>(
        &mut self,
        decoded: &mut Decoded<'x>,
        cells: &mut Vec<map::Cell<'x>>,
        raw: &'x str,
    ) -> Result<(), String> {
        match map::map_decoded(decoded, self.ctx, cells) {
            Ok(place) => self.add_row_with(place, cells, |s| Cow::Owned(s.into_owned())),
            Err(err) => {
                let raw: &RawValue = serde_json::from_str(raw).map_err(|e| e.to_string())?;
                self.add_unmappable_with(raw, &err, |line| Cow::Owned(line.into_owned()));
            }
        }
        Ok(())
    }
}

/// The readers of the one-pass path, in the order they are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// [`crate::fast`]: made for stream records; refuses what it does not read exactly.
    Fast,
    /// [`crate::document`]: serde_json with typed visitors; reads the rest or explains it.
    Serde,
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

    /// Exports one batch. Records that cannot be mapped are quarantined; records whose object
    /// could not be written are listed in the report for a retry. Replaying the same batch
    /// writes the same keys with the same rows.
    pub async fn export(
        &self,
        records: &[InputRecord<'_>],
        exported_at_ms: i64,
    ) -> Result<ExportReport, ExportError> {
        let prepared = self.prepare(records, MapContext { exported_at_ms });
        self.write(prepared).await
    }

    /// Exports a whole input document (what [`split_input`] accepts): the same result as
    /// splitting it and calling [`Exporter::export`], in one pass over the input. One batch,
    /// unless the input holds more text than one batch may ([`ExportOptions::batch_text_bytes`]).
    pub async fn export_input(
        &self,
        input: &[u8],
        exported_at_ms: i64,
    ) -> Result<ExportReport, ExportInputError> {
        let mut report = ExportReport::default();
        for batch in self.prepare_input(input, exported_at_ms, usize::MAX)? {
            report.merge(self.write(batch).await?);
        }
        Ok(report)
    }

    /// Maps and encodes a whole input document in batches of `batch_records` records, each
    /// to be written with [`Exporter::write`]. Well-formed input is decoded in one pass
    /// ([`document`](crate::document)); otherwise the input is split into records first, and
    /// the result is the same either way.
    pub fn prepare_input<'r>(
        &self,
        input: &'r [u8],
        exported_at_ms: i64,
        batch_records: usize,
    ) -> Result<Vec<PreparedBatch<'r>>, InputError> {
        let ctx = MapContext { exported_at_ms };
        let batch_records = batch_records.max(1);
        if let Ok(text) = std::str::from_utf8(input) {
            for form in document::candidate_forms(text) {
                // A batch with a record the pass cannot take is still a batch to split_input:
                // reading it as one JSON line instead would lose its records.
                if *form == Form::Lines && crate::record::is_batch(text) {
                    break;
                }
                if let Some(batches) = self.prepare_one_pass(
                    text,
                    *form,
                    ctx,
                    batch_records,
                    self.options.batch_text_bytes,
                ) {
                    return Ok(batches);
                }
            }
        }
        let records = split_input(input)?;
        let mut batches = Vec::new();
        let mut current = Assembler::new(self, ctx, batch_records.min(records.len()));
        let mut decoded = Decoded::default();
        let mut cells = Vec::with_capacity(crate::schema::COLUMNS.len());
        for record in &records {
            current.add_input(record, &mut decoded, &mut cells);
            if current.is_full(batch_records) {
                let full = std::mem::replace(
                    &mut current,
                    Assembler::new(self, ctx, batch_records.min(records.len())),
                );
                batches.push(full.finish().into_owned());
            }
        }
        if current.received > 0 {
            batches.push(current.finish().into_owned());
        }
        Ok(batches)
    }

    /// [`Exporter::prepare_input`] for input read from `reader` a chunk at a time, so that it
    /// is never held whole: a Lambda DynamoDB event or GetRecords response with `Records`
    /// first, or JSON Lines of stream records, every record of which the
    /// [`fast`](crate::fast) reader takes. `None` for any
    /// other input, once `reader` has been read as far as needed to tell: read the input
    /// whole and call `prepare_input`, which gives the same result or the reason there is
    /// none. [`Exporter::prepare_file`] does both.
    pub fn prepare_reader(
        &self,
        reader: &mut dyn std::io::Read,
        exported_at_ms: i64,
        batch_records: usize,
    ) -> std::io::Result<Option<Vec<PreparedBatch<'static>>>> {
        self.prepare_reader_in_chunks(reader, STREAM_CHUNK_BYTES, exported_at_ms, batch_records)
    }

    fn prepare_reader_in_chunks(
        &self,
        reader: &mut dyn std::io::Read,
        chunk: usize,
        exported_at_ms: i64,
        batch_records: usize,
    ) -> std::io::Result<Option<Vec<PreparedBatch<'static>>>> {
        let ctx = MapContext { exported_at_ms };
        let batch_records = batch_records.max(1);
        let mut batches = Vec::new();
        let mut current = Assembler::new(self, ctx, batch_records);
        // One buffer of cells for every record; `'static` only while it is empty.
        let mut cells: Vec<map::Cell<'static>> = Vec::with_capacity(crate::schema::COLUMNS.len());
        let result = crate::fast::stream_batch(reader, chunk, &mut |decoded, raw| {
            let mut record_cells: Vec<map::Cell<'_>> = std::mem::take(&mut cells);
            let added = current.add_decoded_copied(decoded, &mut record_cells, raw);
            record_cells.clear();
            cells = record_cells.into_iter().map(|_| map::Cell::Null).collect();
            added?;
            if current.is_full(batch_records) {
                let full =
                    std::mem::replace(&mut current, Assembler::new(self, ctx, batch_records));
                batches.push(full.finish());
            }
            Ok(())
        });
        match result {
            Ok(()) => {
                if current.received > 0 {
                    batches.push(current.finish());
                }
                Ok(Some(batches))
            }
            Err(crate::fast::StreamStop::Io(e)) => Err(e),
            Err(stop) => {
                tracing::debug!(?stop, "input needs to be read whole");
                Ok(None)
            }
        }
    }

    /// Maps and encodes the input document in the file at `path` in batches of
    /// `batch_records` records, as [`Exporter::prepare_input`] does, reading it a chunk at a
    /// time when [`Exporter::prepare_reader`] takes it and whole otherwise (a pipe is always
    /// read whole: it cannot be read twice). A UTF-8 byte order mark at its start is not part
    /// of the JSON.
    pub fn prepare_file(
        &self,
        path: &std::path::Path,
        exported_at_ms: i64,
        batch_records: usize,
    ) -> Result<Vec<PreparedBatch<'static>>, FileInputError> {
        self.prepare_file_with_progress(path, exported_at_ms, batch_records, &mut |_| {})
    }

    /// [`Exporter::prepare_file`], telling `progress` how many bytes of the file have been
    /// read so far after every read (from 0 again if it must be read a second time, whole).
    pub fn prepare_file_with_progress(
        &self,
        path: &std::path::Path,
        exported_at_ms: i64,
        batch_records: usize,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Vec<PreparedBatch<'static>>, FileInputError> {
        let file = std::fs::File::open(path).map_err(|source| FileInputError::Read {
            path: path.to_owned(),
            source,
        })?;
        self.prepare_open_file(file, path, exported_at_ms, batch_records, progress)
    }

    /// [`Exporter::prepare_file_with_progress`] for a file already open (from its current
    /// position): a regular file, or a pipe such as stdin. `path` names it in errors.
    pub fn prepare_open_file(
        &self,
        mut file: std::fs::File,
        path: &std::path::Path,
        exported_at_ms: i64,
        batch_records: usize,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Vec<PreparedBatch<'static>>, FileInputError> {
        use std::io::{Seek, SeekFrom};
        let read = |source| FileInputError::Read {
            path: path.to_owned(),
            source,
        };
        let metadata = file.metadata().ok();
        // Only a regular file can be read again after the stream refuses it: a pipe
        // (`--input <(zcat …)`, stdin from a pipe) is read whole, once.
        let start = if metadata.as_ref().is_some_and(|m| m.is_file()) {
            Some(file.stream_position().map_err(read)?)
        } else {
            None
        };
        if let Some(start) = start {
            let mut counted = Counted::new(&mut file, &mut *progress);
            if let Some(batches) = self
                .prepare_reader(&mut counted, exported_at_ms, batch_records)
                .map_err(read)?
            {
                return Ok(batches);
            }
            file.seek(SeekFrom::Start(start)).map_err(read)?;
        }
        let size = metadata.map_or(0, |m| m.len().saturating_sub(start.unwrap_or(0)));
        self.prepare_read_whole(
            &mut file,
            size,
            path,
            exported_at_ms,
            batch_records,
            progress,
        )
    }

    /// Reads `reader` to its end (`size` bytes are expected, 0 if unknown) and prepares it
    /// as [`Exporter::prepare_input`] does: the path for input that cannot be streamed, such
    /// as a pipe. `path` names it in errors.
    pub fn prepare_read_whole(
        &self,
        reader: &mut dyn std::io::Read,
        size: u64,
        path: &std::path::Path,
        exported_at_ms: i64,
        batch_records: usize,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Vec<PreparedBatch<'static>>, FileInputError> {
        use std::io::Read;
        let read = |source| FileInputError::Read {
            path: path.to_owned(),
            source,
        };
        let mut bytes = Vec::new();
        bytes
            .try_reserve_exact(usize::try_from(size).unwrap_or(usize::MAX))
            .map_err(|_| {
                read(std::io::Error::new(
                    std::io::ErrorKind::OutOfMemory,
                    format!(
                        "its form is read whole, and its {size} bytes do not fit in memory: \
                         split it into files of a few hundred MB"
                    ),
                ))
            })?;
        Counted::new(reader, progress)
            .read_to_end(&mut bytes)
            .map_err(read)?;
        strip_byte_order_mark(&mut bytes);
        Ok(self
            .prepare_input(&bytes, exported_at_ms, batch_records)?
            .into_iter()
            .map(PreparedBatch::into_owned)
            .collect())
    }

    /// Maps and encodes a Lambda DynamoDB event (`{"Records": [...]}`, nothing else) as one
    /// batch, in one pass when it is well-formed: what the `stream-export` Lambda does with
    /// its invocation payload.
    pub fn prepare_event<'r>(
        &self,
        event: &'r str,
        exported_at_ms: i64,
    ) -> Result<PreparedBatch<'r>, InputError> {
        let ctx = MapContext { exported_at_ms };
        // A Lambda payload is at most 6 MB: far from any text limit, so one batch.
        if let Some(mut batches) =
            self.prepare_one_pass(event, Form::Batch, ctx, usize::MAX, usize::MAX)
        {
            return Ok(batches
                .pop()
                .unwrap_or_else(|| Assembler::new(self, ctx, 0).finish()));
        }
        let batch: crate::record::RecordBatch =
            serde_json::from_str(event).map_err(|e| InputError::Format(e.to_string()))?;
        let records: Vec<InputRecord<'_>> = batch
            .records
            .into_iter()
            .map(|raw| InputRecord::Json(Cow::Owned(raw)))
            .collect();
        Ok(self.prepare(&records, ctx).into_owned())
    }

    /// The one-pass path; `None` when the input needs the record-by-record path. The
    /// [`fast`](crate::fast) reader goes first; what it refuses, the serde pass reads.
    fn prepare_one_pass<'r>(
        &self,
        text: &'r str,
        form: Form,
        ctx: MapContext,
        batch_records: usize,
        text_limit: usize,
    ) -> Option<Vec<PreparedBatch<'r>>> {
        [Pass::Fast, Pass::Serde]
            .into_iter()
            .find_map(|pass| self.prepare_pass(text, form, pass, ctx, batch_records, text_limit))
    }

    /// One pass over `text` with one reader; `None` when that reader does not take it.
    fn prepare_pass<'r>(
        &self,
        text: &'r str,
        form: Form,
        pass: Pass,
        ctx: MapContext,
        batch_records: usize,
        text_limit: usize,
    ) -> Option<Vec<PreparedBatch<'r>>> {
        let new_batch = || {
            let mut assembler = Assembler::new(self, ctx, batch_records);
            assembler.text_limit = text_limit;
            assembler
        };
        let mut batches = Vec::new();
        let mut current = new_batch();
        let mut cells = Vec::with_capacity(crate::schema::COLUMNS.len());
        let mut decoded = Decoded::default();
        // The records split apart, only when one must be quarantined with its text.
        let mut split: Option<Vec<InputRecord<'r>>> = None;
        let mut index = 0;
        let mut on_record = |decoded: &mut Decoded<'r>| {
            let at = index;
            index += 1;
            current.add_decoded(decoded, &mut cells, || {
                let records =
                    split.get_or_insert_with(|| split_input(text.as_bytes()).unwrap_or_default());
                match records.get(at) {
                    Some(InputRecord::Json(Cow::Borrowed(raw))) => Some(*raw),
                    _ => None,
                }
            })?;
            if current.is_full(batch_records) {
                let full = std::mem::replace(&mut current, new_batch());
                batches.push(full.finish());
            }
            Ok(())
        };
        let result = match pass {
            Pass::Fast => crate::fast::decode_document(text, form, &mut decoded, &mut on_record)
                .map_err(|e| e.to_string()),
            Pass::Serde => document::decode_document(text, form, &mut decoded, &mut on_record)
                .map_err(|e| e.to_string()),
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, ?form, ?pass, "input needs another reader");
            return None;
        }
        // Quarantined texts were found by index in split_input's records: both must have
        // read the same records, or the record-by-record path decides.
        if split.as_ref().is_some_and(|records| records.len() != index) {
            tracing::warn!(
                ?form,
                "one pass and split_input disagree; using the split path"
            );
            return None;
        }
        if current.received > 0 {
            batches.push(current.finish());
        }
        Some(batches)
    }

    /// Maps and encodes one batch of split records (pure).
    fn prepare<'r>(&self, records: &'r [InputRecord<'_>], ctx: MapContext) -> PreparedBatch<'r> {
        let mut assembler = Assembler::new(self, ctx, records.len());
        // Scratch space reused for every record.
        let mut decoded = Decoded::default();
        let mut cells = Vec::with_capacity(crate::schema::COLUMNS.len());
        for input in records {
            assembler.add_input(input, &mut decoded, &mut cells);
        }
        assembler.finish()
    }

    /// Writes a prepared batch. Records that cannot be mapped were quarantined; records
    /// whose object could not be written are listed in the report for a retry.
    pub async fn write(&self, prepared: PreparedBatch<'_>) -> Result<ExportReport, ExportError> {
        let PreparedBatch {
            mut report,
            objects,
        } = prepared;
        self.flush(objects, &mut report).await?;
        debug_assert_eq!(
            report.rows_written + report.quarantined + report.failed_sequence_numbers.len(),
            report.received
        );
        Ok(report)
    }

    /// Writes all objects, a few at a time. Each object is one PUT: readers never see a
    /// partial file (S3 PUT is atomic; the local store writes a temporary file and renames).
    async fn flush(
        &self,
        objects: Vec<PendingObject<'_>>,
        report: &mut ExportReport,
    ) -> Result<(), ExportError> {
        let store = &self.store;
        let mut results = stream::iter(objects)
            .map(|obj| async move {
                let bytes = obj.body.len();
                let result = store
                    .put(&obj.key, PutPayload::from(obj.body.clone()))
                    .await;
                (obj, bytes, result)
            })
            .buffer_unordered(self.options.write_concurrency.max(1));
        let mut fatal = None;
        while let Some((obj, bytes, result)) = results.next().await {
            match result {
                Ok(_) => {
                    tracing::info!(key = %obj.key, rows = obj.rows, bytes, "wrote");
                    if !obj.is_quarantine {
                        report.rows_written += obj.rows;
                    }
                    report.files.push(WrittenFile {
                        key: obj.key.to_string(),
                        rows: obj.rows,
                        bytes,
                    });
                }
                Err(source) => {
                    tracing::error!(key = %obj.key, error = %source, "write failed; records will be retried");
                    report.write_errors.push(format!("{}: {source}", obj.key));
                    if obj.is_quarantine {
                        // Not quarantined after all: they go back for a retry.
                        report.quarantined -= obj.rows;
                        if obj.unreported > 0 && fatal.is_none() {
                            fatal = Some(ExportError::Quarantine {
                                key: obj.key.to_string(),
                                source,
                            });
                        }
                    }
                    report
                        .failed_sequence_numbers
                        .extend(obj.sequence_numbers.into_iter().map(Cow::into_owned));
                }
            }
        }
        report.files.sort_by(|a, b| a.key.cmp(&b.key));
        match fatal {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;
    use parquet::basic::{Compression as PqCompression, LogicalType, TimeUnit};
    use parquet::file::reader::{FileReader, SerializedFileReader};

    const LIFECYCLE: &[u8] = include_bytes!("../tests/fixtures/lambda_lifecycle.json");
    const BAD: &[u8] = include_bytes!("../tests/fixtures/bad_records.jsonl");
    const NOW: i64 = 1_795_600_000_000;

    async fn snapshot(store: &dyn ObjectStore) -> BTreeMap<String, Bytes> {
        let metas: Vec<_> = store.list(None).collect().await;
        let mut out = BTreeMap::new();
        for meta in metas {
            let meta = meta.unwrap();
            let bytes = store
                .get(&meta.location)
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            out.insert(meta.location.to_string(), bytes);
        }
        out
    }

    fn exporter(store: Arc<dyn ObjectStore>) -> Exporter {
        Exporter::new(store, Path::from("lake"), ExportOptions::default())
    }

    #[tokio::test]
    async fn retried_batch_rewrites_same_keys_with_same_rows() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let records = split_input(LIFECYCLE).unwrap();
        let first = exporter(store.clone()).export(&records, NOW).await.unwrap();
        let before = snapshot(store.as_ref()).await;
        let second = exporter(store.clone()).export(&records, NOW).await.unwrap();
        let after = snapshot(store.as_ref()).await;
        assert_eq!(first.files, second.files);
        assert_eq!(before, after, "a replay must not add or change objects");
        // Partitions: 09h, 10h, 11h on 11-24 and the TTL expiry on 12-01.
        assert_eq!(before.len(), 4);
        assert!(before
            .keys()
            .all(|k| k.starts_with("lake/image_events/dt=")));
        // A later replay (another exported_at) still lands on the same keys.
        let later = exporter(store.clone())
            .export(&records, NOW + 60_000)
            .await
            .unwrap();
        assert_eq!(
            later.files.iter().map(|f| &f.key).collect::<Vec<_>>(),
            first.files.iter().map(|f| &f.key).collect::<Vec<_>>()
        );
        assert_eq!(snapshot(store.as_ref()).await.len(), 4);
    }

    /// LIFECYCLE's records plus BAD's lines that parse as records (they fail in mapping), as
    /// one Lambda event.
    fn mixed_event() -> String {
        let mut records: Vec<String> = split_input(LIFECYCLE)
            .unwrap()
            .iter()
            .map(|r| match r {
                InputRecord::Json(raw) => raw.get().to_owned(),
                InputRecord::Unparsable { text, .. } => panic!("fixture line {text}"),
            })
            .collect();
        for line in std::str::from_utf8(BAD).unwrap().lines() {
            if let Ok(raw) = serde_json::from_str::<&RawValue>(line) {
                if Decoded::default().decode(raw).is_ok() {
                    records.push(line.to_owned());
                }
            }
        }
        format!("{{\"Records\": [{}]}}", records.join(",\n"))
    }

    #[tokio::test]
    async fn one_pass_export_writes_what_record_by_record_export_writes() {
        let mixed = mixed_event();
        let get_records: &[u8] = include_bytes!("../tests/fixtures/get_records.json");
        // Single-line events (as `jq -c` writes them) with records the one pass cannot take:
        // still batches, never JSON Lines.
        let records: Vec<String> = split_input(LIFECYCLE)
            .unwrap()
            .iter()
            .map(|r| match r {
                // Newlines only stand between tokens in the pretty-printed fixture: joining
                // the lines keeps Lambda's field order (eventName before dynamodb).
                InputRecord::Json(raw) => raw.get().replace('\n', " "),
                InputRecord::Unparsable { .. } => unreachable!(),
            })
            .collect();
        let compact = |bad: &str, at: usize| {
            let mut all = records.clone();
            all.insert(at, bad.to_owned());
            format!("{{\"Records\":[{}]}}", all.join(","))
        };
        let bad_first = compact(r#"{"eventID":1}"#, 0);
        let null_inside = compact("null", 3);
        // A REMOVE in Lambda's field order whose OldImage holds an unknown type tag.
        let remove = records
            .iter()
            .find(|r| r.contains("\"REMOVE\""))
            .unwrap()
            .replacen("\"OldImage\": {", "\"OldImage\": {\"zz\":{\"X\":\"1\"},", 1);
        let bad_old = compact(&remove, 1);
        let cases: [(&[u8], usize); 9] = [
            (LIFECYCLE, usize::MAX),
            (get_records, usize::MAX),
            (bad_first.as_bytes(), usize::MAX),
            (null_inside.as_bytes(), 2),
            (bad_old.as_bytes(), usize::MAX),
            (LIFECYCLE, 2),
            (BAD, usize::MAX),
            (mixed.as_bytes(), usize::MAX),
            (mixed.as_bytes(), 3),
        ];
        for (input, batch) in cases {
            let split: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
            let records = split_input(input).unwrap();
            let mut want = Vec::new();
            for chunk in records.chunks(batch) {
                want.push(exporter(split.clone()).export(chunk, NOW).await.unwrap());
            }
            let one: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
            let e = exporter(one.clone());
            let mut got = Vec::new();
            for prepared in e.prepare_input(input, NOW, batch).unwrap() {
                got.push(e.write(prepared).await.unwrap());
            }
            assert_eq!(snapshot(split.as_ref()).await, snapshot(one.as_ref()).await);
            assert_eq!(want.len(), got.len());
            for (w, g) in want.iter().zip(&got) {
                assert_eq!(
                    (w.received, w.rows_written, w.quarantined, &w.files),
                    (g.received, g.rows_written, g.quarantined, &g.files)
                );
                assert_eq!(w.quarantine_reasons, g.quarantine_reasons);
            }
        }
        // The malformed OldImage is explained at the attribute.
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let report = exporter(store.clone())
            .export_input(bad_old.as_bytes(), NOW)
            .await
            .unwrap();
        assert_eq!((report.received, report.quarantined), (8, 1));
        let line = snapshot(store.as_ref())
            .await
            .into_iter()
            .find(|(k, _)| k.contains("_quarantine"))
            .map(|(_, body)| String::from_utf8(body.to_vec()).unwrap())
            .unwrap();
        assert!(line.contains("dynamodb.OldImage.zz"), "{line}");
        // The mixed event takes the one pass (its bad records found by index), not the
        // fallback; a line that is not JSON needs the fallback.
        let e = exporter(Arc::new(InMemory::new()));
        let ctx = MapContext {
            exported_at_ms: NOW,
        };
        let batches = e
            .prepare_one_pass(&mixed, Form::Batch, ctx, usize::MAX, usize::MAX)
            .expect("one pass");
        assert_eq!(batches.len(), 1);
        // BAD's nine lines: two good, five that fail in mapping, one structurally malformed
        // record and one that is not JSON (the last two are left out of the mixed event).
        assert_eq!(batches[0].received(), 7 + 7);
        assert_eq!(batches[0].report.quarantined, 5);
        let bad = std::str::from_utf8(BAD).unwrap();
        assert!(e
            .prepare_one_pass(bad, Form::Lines, ctx, usize::MAX, usize::MAX)
            .is_none());
        // Not UTF-8: the fallback quarantines that line, and only that line.
        let good = match &split_input(LIFECYCLE).unwrap()[0] {
            InputRecord::Json(raw) => raw.get().replace('\n', " "),
            InputRecord::Unparsable { .. } => unreachable!(),
        };
        let mut lines = good.into_bytes();
        lines.extend_from_slice(b"\n{\"eventID\": \"caf\xe9\"}\n");
        let batches = e.prepare_input(&lines, NOW, usize::MAX).unwrap();
        assert_eq!(batches[0].received(), 2);
        assert_eq!(batches[0].report.quarantined, 1);
        assert_eq!(
            batches[0].report.quarantine_reasons.get("invalid_json"),
            Some(&1)
        );
    }

    #[tokio::test]
    async fn records_out_of_stream_order_make_the_same_files() {
        let records = split_input(LIFECYCLE).unwrap();
        let in_order: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        exporter(in_order.clone())
            .export(&records, NOW)
            .await
            .unwrap();
        let reversed: Vec<InputRecord<'_>> =
            split_input(LIFECYCLE).unwrap().into_iter().rev().collect();
        let shuffled: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        exporter(shuffled.clone())
            .export(&reversed, NOW)
            .await
            .unwrap();
        assert_eq!(
            snapshot(in_order.as_ref()).await,
            snapshot(shuffled.as_ref()).await
        );
    }

    #[tokio::test]
    async fn every_record_is_written_or_quarantined_with_its_reason() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let records = split_input(BAD).unwrap();
        let report = exporter(store.clone()).export(&records, NOW).await.unwrap();
        assert_eq!(report.received, 9);
        assert_eq!(report.rows_written, 2);
        assert_eq!(report.quarantined, 7);
        assert_eq!(report.rows_written + report.quarantined, report.received);
        assert_eq!(report.quarantine_reasons.get("malformed_record"), Some(&1));
        assert_eq!(report.quarantine_reasons.get("invalid_json"), Some(&1));
        let objects = snapshot(store.as_ref()).await;
        let (key, body) = objects
            .iter()
            .find(|(k, _)| k.starts_with("lake/_quarantine/image_events/"))
            .unwrap();
        assert!(key.ends_with(".jsonl"));
        let lines: Vec<serde_json::Value> = body
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 7);
        assert!(lines
            .iter()
            .all(|l| l["code"].is_string() && l["reason"].is_string()));
        assert_eq!(
            lines[0]["record"]["dynamodb"]["NewImage"]["width"]["N"],
            "99999999999"
        );
        assert!(lines
            .iter()
            .any(|l| l["record_text"] == "{\"eventID\": \"truncated\", \"dynamodb\": {"));
        // Replaying the bad batch adds no quarantine file.
        exporter(store.clone()).export(&records, NOW).await.unwrap();
        assert_eq!(snapshot(store.as_ref()).await.len(), objects.len());
    }

    #[tokio::test]
    async fn quarantine_stays_json_lines_for_a_pretty_printed_event() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let record = serde_json::json!({
            "eventID": "e1",
            "eventName": "INSERT",
            "dynamodb": {
                "ApproximateCreationDateTime": 1_795_514_290,
                "SequenceNumber": "1",
                "Keys": {"image_id": {"S": "i"}},
                "NewImage": {"image_id": {"S": "i"}, "width": {"S": "line\nbreak \" {"}},
            }
        });
        let event = serde_json::to_string_pretty(&serde_json::json!({"Records": [record, record]}))
            .unwrap();
        let records = split_input(event.as_bytes()).unwrap();
        let report = exporter(store.clone()).export(&records, NOW).await.unwrap();
        assert_eq!(report.quarantined, 2);
        let objects = snapshot(store.as_ref()).await;
        let body = objects
            .iter()
            .find(|(k, _)| k.starts_with("lake/_quarantine/"))
            .map(|(_, body)| std::str::from_utf8(body).unwrap())
            .unwrap();
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(lines.len(), 2, "{body}");
        for line in lines {
            let line: serde_json::Value = serde_json::from_str(line).unwrap();
            // Nothing but the whitespace between tokens went: the string keeps its escapes.
            assert_eq!(line["record"], record);
        }
    }

    #[tokio::test]
    async fn failed_write_reports_its_records_and_a_retry_completes_the_lake() {
        let dir = tempfile::tempdir().unwrap();
        let lake = crate::Lake::open(dir.path().to_str().unwrap()).unwrap();
        // A plain file where the 10h partition directory must go: a real I/O failure.
        let blocker = dir.path().join("image_events/dt=2026-11-24/hour=10");
        std::fs::create_dir_all(blocker.parent().unwrap()).unwrap();
        std::fs::write(&blocker, b"not a directory").unwrap();
        let exporter = lake.exporter(ExportOptions::default());
        let records = split_input(LIFECYCLE).unwrap();
        let report = exporter.export(&records, NOW).await.unwrap();
        // Records 3, 4 and 5 (sequence numbers ...7450439391/491/591) are at 10h.
        let mut failed = report.failed_sequence_numbers.clone();
        failed.sort();
        assert_eq!(
            failed,
            [
                "4421584500000000017450439391",
                "4421584500000000017450439491",
                "4421584500000000017450439591"
            ]
        );
        assert_eq!(report.rows_written, 4);
        assert_eq!(report.failed_records(), 3);
        assert_eq!(report.write_errors.len(), 1);
        // The operator fixes the problem; Lambda retries the batch.
        std::fs::remove_file(&blocker).unwrap();
        let retry = exporter.export(&records, NOW).await.unwrap();
        assert!(retry.failed_sequence_numbers.is_empty());
        assert_eq!(retry.rows_written, 7);
        let files: Vec<_> = walk(dir.path());
        assert_eq!(files.len(), 4, "{files:?}");
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
        out
    }

    #[tokio::test]
    async fn parquet_files_carry_the_contracted_physical_layout() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let records = split_input(LIFECYCLE).unwrap();
        exporter(store.clone()).export(&records, NOW).await.unwrap();
        let objects = snapshot(store.as_ref()).await;
        let body = objects.values().next().unwrap().clone();
        let reader = SerializedFileReader::new(body.clone()).unwrap();
        let meta = reader.metadata();
        let schema = meta.file_metadata().schema_descr();
        let event_time = schema.column(crate::schema::column_index("event_time").unwrap());
        assert_eq!(
            event_time.logical_type_ref(),
            Some(&LogicalType::timestamp(true, TimeUnit::MILLIS))
        );
        let rg = meta.row_group(0);
        assert!(rg
            .columns()
            .iter()
            .all(|c| matches!(c.compression(), PqCompression::ZSTD(_))));
        assert!(rg.columns().iter().all(|c| c.statistics().is_some()));
        // Page index (column index + offset index) is written.
        assert!(rg
            .columns()
            .iter()
            .all(|c| c.offset_index_offset().is_some()));
        assert!(rg
            .columns()
            .iter()
            .all(|c| c.column_index_offset().is_some()));
        let image_id = rg.column(crate::schema::column_index("image_id").unwrap());
        assert!(image_id.bloom_filter_offset().is_some());
        // Snappy is selectable.
        let snappy = Arc::new(InMemory::new());
        Exporter::new(
            snappy.clone(),
            Path::from(""),
            ExportOptions {
                compression: Compression::Snappy,
                ..ExportOptions::default()
            },
        )
        .export(&records, NOW)
        .await
        .unwrap();
        let body = snapshot(snappy.as_ref())
            .await
            .into_values()
            .next()
            .unwrap();
        let reader = SerializedFileReader::new(body).unwrap();
        assert_eq!(
            reader.metadata().row_group(0).column(0).compression(),
            PqCompression::SNAPPY
        );
    }

    /// JSON Lines of INSERT records, each with `tenant` of `text` bytes.
    fn records_with_text(n: usize, text: usize) -> String {
        (1..=n)
            .map(|seq| {
                serde_json::json!({
                    "eventID": format!("e{seq}"), "eventName": "INSERT",
                    "dynamodb": {
                        "ApproximateCreationDateTime": 1_795_514_290,
                        "SequenceNumber": seq.to_string(),
                        "Keys": {"image_id": {"S": "i"}},
                        "NewImage": {"image_id": {"S": "i"}, "tenant": {"S": "t".repeat(text)}},
                    }
                })
                .to_string()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[tokio::test]
    async fn batches_are_cut_by_their_text_as_well_as_their_records() {
        let exporter = Exporter::new(
            Arc::new(InMemory::new()),
            Path::from("lake"),
            ExportOptions {
                batch_text_bytes: 2_500,
                ..ExportOptions::default()
            },
        );
        let input = records_with_text(7, 1_000);
        // Both paths: the one pass, and records split apart (a bad line sends it there).
        for input in [input.clone(), format!("{input}\nnot json")] {
            let batches = exporter.prepare_input(input.as_bytes(), NOW, 100).unwrap();
            // 1 000 bytes of tenant plus ids per row: a batch is full at its third row.
            let received: Vec<usize> = batches.iter().map(PreparedBatch::received).collect();
            assert_eq!(received.len(), 3, "{received:?}");
            assert_eq!(received[..2], [3, 3], "{received:?}");
            assert_eq!(received.iter().sum::<usize>(), input.lines().count());
        }
        // export_input writes every batch, not only the last.
        let report = exporter.export_input(input.as_bytes(), NOW).await.unwrap();
        assert_eq!((report.received, report.rows_written), (7, 7));
    }

    #[tokio::test]
    async fn a_row_larger_than_any_dynamodb_item_is_quarantined() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let input = records_with_text(2, crate::map::MAX_ROW_TEXT_BYTES + 1);
        let records = split_input(input.as_bytes()).unwrap();
        let report = exporter(store).export(&records, NOW).await.unwrap();
        assert_eq!(report.quarantined, 2);
        assert_eq!(report.quarantine_reasons.get("record_too_large"), Some(&2));
    }

    #[tokio::test]
    async fn a_line_that_is_not_utf8_is_quarantined_with_its_exact_bytes() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let mut input = records_with_text(1, 3).into_bytes();
        input.extend_from_slice(b"\nnot json caf\xe9\n");
        let records = split_input(&input).unwrap();
        let report = exporter(store.clone()).export(&records, NOW).await.unwrap();
        assert_eq!((report.rows_written, report.quarantined), (1, 1));
        let objects = snapshot(store.as_ref()).await;
        let body = objects
            .iter()
            .find(|(k, _)| k.starts_with("lake/_quarantine/"))
            .map(|(_, body)| body.clone())
            .unwrap();
        let line: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(line["record_text"], "not json caf\u{FFFD}");
        let original = base64::engine::general_purpose::STANDARD
            .decode(line["record_base64"].as_str().unwrap())
            .unwrap();
        assert_eq!(original, b"not json caf\xe9");
    }

    /// The fast reader against the serde pass on generated events: every attribute type,
    /// escapes, repeated names, both field orders, spacing. The fast reader must take every
    /// one of them and give the same files and report; a damaged copy must end the same way
    /// whichever reader goes first.
    mod fast_reader {
        use super::*;
        use proptest::prelude::*;
        use serde_json::{json, Value};

        fn text() -> impl Strategy<Value = String> {
            prop_oneof![
                "[a-z]{0,12}",
                "\\PC{0,10}",
                Just("q\"b\\s/\n\t\u{1}\u{7f}é€😀".to_owned()),
            ]
        }

        fn attribute() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                text().prop_map(|s| json!({ "S": s })),
                prop_oneof![
                    Just("12"),
                    Just("-1.50"),
                    Just("1E3"),
                    Just("123456789012345678901234567890"),
                    Just("1.5"),
                    Just("x"),
                ]
                .prop_map(|n| json!({ "N": n })),
                Just(json!({"B": "AAEC/w=="})),
                any::<bool>().prop_map(|b| json!({ "BOOL": b })),
                Just(json!({"NULL": true})),
                prop::collection::vec(text(), 0..3).prop_map(|v| json!({ "SS": v })),
                Just(json!({"NS": ["1", "2.5"]})),
            ];
            leaf.prop_recursive(3, 12, 3, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..3).prop_map(|v| json!({ "L": v })),
                    prop::collection::btree_map(name(), inner, 0..3)
                        .prop_map(|m| json!({ "M": m })),
                ]
            })
        }

        fn name() -> impl Strategy<Value = String> {
            prop_oneof![
                prop::sample::select(vec![
                    "status",
                    "width",
                    "size_bytes",
                    "operations",
                    "mean_luma",
                    "has_alpha",
                    "received_at",
                    "expires_at",
                    "tags",
                    "image_id",
                    "we\"ird",
                ])
                .prop_map(str::to_owned),
                "[a-z_]{1,8}",
            ]
        }

        /// An object written in the given order, with the given separators.
        fn object(fields: &[(String, String)], comma: &str, colon: &str) -> String {
            let body: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{}{colon}{v}", Value::from(k.as_str())))
                .collect();
            format!("{{{}}}", body.join(comma))
        }

        fn image(attrs: &[(String, Value)], comma: &str, colon: &str) -> String {
            let fields: Vec<(String, String)> = attrs
                .iter()
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect();
            object(&fields, comma, colon)
        }

        prop_compose! {
            fn record()(
                event in prop::sample::select(vec!["INSERT", "MODIFY", "REMOVE"]),
                name_first in any::<bool>(),
                ttl in any::<bool>(),
                id in "[a-z0-9]{1,6}",
                seconds in 1_700_000_000u32..1_800_000_000,
                fraction in prop::option::of(0u32..1000),
                sequence in 1u64..1_000_000_000,
                new_image in prop::collection::vec((name(), attribute()), 0..6),
                old_image in prop::collection::vec((name(), attribute()), 0..6),
                status in prop::option::of(prop::sample::select(vec!["RECEIVED", "PROCESSED"])),
                comma in prop::sample::select(vec![",", ", ", ",\n  "]),
                colon in prop::sample::select(vec![":", ": "]),
                remove_with_new_image in any::<bool>(),
            ) -> String {
                let time = match fraction {
                    Some(f) => format!("{seconds}.{f:03}"),
                    None => seconds.to_string(),
                };
                let mut new_image = new_image;
                let mut old_image = old_image;
                if let Some(status) = status {
                    old_image.push(("status".to_owned(), json!({ "S": status })));
                    new_image.insert(0, ("status".to_owned(), json!({ "S": status })));
                }
                let mut data = vec![
                    ("ApproximateCreationDateTime".to_owned(), time),
                    ("Keys".to_owned(), image(&[("image_id".to_owned(), json!({ "S": id }))], comma, colon)),
                ];
                // DynamoDB sends no NewImage with a REMOVE; such a record is still mapped
                // (from its OldImage), and takes the fast reader's path for a REMOVE whose
                // event name comes after a NewImage.
                if event != "REMOVE" || remove_with_new_image {
                    data.push(("NewImage".to_owned(), image(&new_image, comma, colon)));
                }
                if event != "INSERT" {
                    data.push(("OldImage".to_owned(), image(&old_image, comma, colon)));
                }
                data.push(("SequenceNumber".to_owned(), Value::from(sequence.to_string()).to_string()));
                data.push(("StreamViewType".to_owned(), "\"NEW_AND_OLD_IMAGES\"".to_owned()));
                let mut fields = vec![
                    ("eventID".to_owned(), Value::from(format!("e{sequence}")).to_string()),
                    ("eventVersion".to_owned(), "\"1.1\"".to_owned()),
                ];
                let name = ("eventName".to_owned(), Value::from(event).to_string());
                if name_first {
                    fields.push(name.clone());
                }
                fields.push(("dynamodb".to_owned(), object(&data, comma, colon)));
                if !name_first {
                    fields.push(name);
                }
                fields.push(("eventSourceARN".to_owned(), "\"arn:aws:dynamodb:eu-west-1:1:table/t/stream/x\"".to_owned()));
                if ttl && event == "REMOVE" {
                    fields.push(("userIdentity".to_owned(), r#"{"type":"Service","principalId":"dynamodb.amazonaws.com"}"#.to_owned()));
                }
                object(&fields, comma, colon)
            }
        }

        type Outcome = Option<Vec<(String, Vec<(String, Bytes)>)>>;

        fn outcome(batches: Option<Vec<PreparedBatch<'_>>>) -> Outcome {
            batches.map(|batches| {
                batches
                    .into_iter()
                    .map(|b| {
                        let objects = b
                            .objects
                            .into_iter()
                            .map(|o| (o.key.to_string(), o.body))
                            .collect();
                        (format!("{:?}", b.report), objects)
                    })
                    .collect()
            })
        }

        fn pass(text: &str, pass: Pass) -> Outcome {
            let e = exporter(Arc::new(InMemory::new()));
            let ctx = MapContext {
                exported_at_ms: NOW,
            };
            outcome(e.prepare_pass(text, Form::Batch, pass, ctx, usize::MAX, usize::MAX))
        }

        /// `prepare_input` on the whole text.
        fn whole(text: &str) -> Outcome {
            let e = exporter(Arc::new(InMemory::new()));
            let batches = e.prepare_input(text.as_bytes(), NOW, 3).ok();
            outcome(batches)
        }

        /// `prepare_reader` with `chunk`-byte reads; `None` when it wants the input whole.
        fn streamed(text: &str, chunk: usize) -> Outcome {
            let e = exporter(Arc::new(InMemory::new()));
            let mut reader = text.as_bytes();
            outcome(
                e.prepare_reader_in_chunks(&mut reader, chunk, NOW, 3)
                    .expect("reading memory cannot fail"),
            )
        }

        /// The raw text of every record of `records`.
        fn texts_of<'a>(records: &'a [InputRecord<'_>]) -> Vec<&'a str> {
            records
                .iter()
                .map(|r| match r {
                    InputRecord::Json(raw) => raw.get(),
                    InputRecord::Unparsable { .. } => unreachable!(),
                })
                .collect()
        }

        /// Hands out at most `step` bytes per read, and is interrupted before every other
        /// read, as a pipe or a slow disk may be.
        struct Trickle<'a> {
            rest: &'a [u8],
            step: usize,
            interrupt: bool,
        }

        impl std::io::Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.interrupt = !self.interrupt;
                if self.interrupt {
                    return Err(std::io::ErrorKind::Interrupted.into());
                }
                let n = self.step.min(buf.len()).min(self.rest.len());
                buf[..n].copy_from_slice(&self.rest[..n]);
                self.rest = &self.rest[n..];
                Ok(n)
            }
        }

        #[test]
        fn short_and_interrupted_reads_give_what_the_whole_input_gives() {
            let event = std::str::from_utf8(LIFECYCLE).unwrap();
            for (step, chunk) in [(1, 64), (3, 7), (100, 64), (5, 100_000)] {
                let e = exporter(Arc::new(InMemory::new()));
                let mut reader = Trickle {
                    rest: event.as_bytes(),
                    step,
                    interrupt: false,
                };
                let got = outcome(
                    e.prepare_reader_in_chunks(&mut reader, chunk, NOW, 3)
                        .expect("an interrupted read is retried"),
                );
                assert!(got.is_some(), "step {step}, chunk {chunk}");
                assert_eq!(got, whole(event), "step {step}, chunk {chunk}");
            }
        }

        #[test]
        fn a_stream_of_chunks_gives_what_the_whole_input_gives() {
            let event = std::str::from_utf8(LIFECYCLE).unwrap();
            for chunk in [1, 2, 7, 64, 100_000] {
                let got = streamed(event, chunk);
                assert!(got.is_some(), "chunk {chunk}");
                assert_eq!(got, whole(event), "chunk {chunk}");
            }
            // GetRecords: other fields after Records; a byte order mark; multi-byte text cut
            // by chunks; a quarantined record.
            let records: Vec<_> = split_input(LIFECYCLE).unwrap();
            let texts = texts_of(&records);
            let bad = texts[0].replacen("\"eventName\"", "\"eventNameX\"", 1);
            let tail = format!(
                "\u{feff} {{ \"Records\" : [ {} , {bad} ] , \"NextShardIterator\": \"é€\", \"n\": [1, -2.5e3, true, null] }} \n",
                texts.join(",\n")
            );
            for chunk in [1, 3, 5, 64] {
                let got = streamed(&tail, chunk);
                assert!(got.is_some(), "chunk {chunk}");
                let mut bytes = tail.as_bytes().to_vec();
                strip_byte_order_mark(&mut bytes);
                assert_eq!(
                    got,
                    whole(std::str::from_utf8(&bytes).unwrap()),
                    "chunk {chunk}"
                );
            }
            let got = streamed(&tail, 64).unwrap();
            assert!(
                got.iter()
                    .any(|(report, _)| report.contains("missing_field")),
                "{got:?}"
            );
        }

        #[test]
        fn fields_after_the_records_are_read_whole_whatever_the_chunks() {
            let records: Vec<_> = split_input(LIFECYCLE).unwrap();
            let InputRecord::Json(first) = &records[0] else {
                unreachable!()
            };
            let event = format!(
                "{{\"Records\":[{}],\"x\":123456789,\"y\":-1.5e10,\"z\":[true,null,\"s\"]}}",
                first.get()
            );
            for chunk in 16..400 {
                let got = streamed(&event, chunk);
                assert!(got.is_some(), "chunk {chunk}");
                assert_eq!(got, whole(&event), "chunk {chunk}");
            }
        }

        #[test]
        fn progress_counts_the_bytes_of_the_file_read_so_far() {
            let dir = tempfile::tempdir().unwrap();
            let e = exporter(Arc::new(InMemory::new()));
            // Streamed: read once. An array: refused by the stream, then read whole again.
            let records: Vec<_> = split_input(LIFECYCLE).unwrap();
            let texts = texts_of(&records);
            let array = format!("[{}]", texts.join(","));
            for (name, text, passes) in [
                ("event.json", LIFECYCLE, 1),
                ("array.json", array.as_bytes(), 2),
            ] {
                let path = dir.path().join(name);
                std::fs::write(&path, text).unwrap();
                let mut seen = Vec::new();
                let batches = e
                    .prepare_file_with_progress(&path, NOW, usize::MAX, &mut |n| seen.push(n))
                    .unwrap();
                assert_eq!(
                    batches.iter().map(|b| b.received()).sum::<usize>(),
                    texts.len()
                );
                assert_read_in_passes(&seen, passes, text.len(), name);
            }
        }

        /// `seen` (what a progress callback was told) shows `passes` readings of an input of
        /// `len` bytes, each from 0 and never going back.
        fn assert_read_in_passes(seen: &[u64], passes: usize, len: usize, name: &str) {
            let restarts = seen.iter().filter(|n| **n == 0).count();
            assert_eq!(restarts, passes, "{name}: {seen:?}");
            assert_eq!(seen.last().copied(), Some(len as u64), "{name}");
            assert!(
                seen.windows(2).all(|w| w[1] >= w[0] || w[1] == 0),
                "{name}: {seen:?}"
            );
        }

        #[test]
        fn an_open_file_is_read_from_where_it_stands_both_times() {
            // Stdin redirected from a file (`< input`) may stand past a header another
            // program read: the stream starts there, and so does the second, whole reading
            // of an input the stream refuses.
            use std::io::{Seek, SeekFrom};
            let dir = tempfile::tempdir().unwrap();
            let e = exporter(Arc::new(InMemory::new()));
            let records: Vec<_> = split_input(LIFECYCLE).unwrap();
            let texts = texts_of(&records);
            let array = format!("[{}]", texts.join(","));
            let header = "not JSON: read by someone else\n";
            // Streamed: read once. An array: refused by the stream, then read whole again.
            for (name, text, passes) in [
                ("event.json", LIFECYCLE, 1),
                ("array.json", array.as_bytes(), 2),
            ] {
                let path = dir.path().join(name);
                std::fs::write(&path, [header.as_bytes(), text].concat()).unwrap();
                let mut file = std::fs::File::open(&path).unwrap();
                file.seek(SeekFrom::Start(header.len() as u64)).unwrap();
                let mut seen = Vec::new();
                let got = e
                    .prepare_open_file(file, &path, NOW, usize::MAX, &mut |n| seen.push(n))
                    .map(|b| outcome(Some(b)))
                    .map_err(|e| e.to_string());
                let expected = outcome(e.prepare_input(text, NOW, usize::MAX).ok());
                assert_eq!(got, Ok(expected), "{name}");
                assert_read_in_passes(&seen, passes, text.len(), name);
            }
        }

        #[test]
        fn a_pipe_is_read_once_whatever_its_form() {
            // An array is not streamed: read from a pipe, it must still be read whole once
            // (a second open of a FIFO would wait for a writer that never comes).
            let dir = tempfile::tempdir().unwrap();
            let fifo = dir.path().join("input.fifo");
            let made = std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap();
            assert!(made.success());
            let records: Vec<_> = split_input(LIFECYCLE).unwrap();
            let texts = texts_of(&records);
            let array = format!("[{}]", texts.join(","));
            let writer = {
                let (fifo, array) = (fifo.clone(), array.clone());
                std::thread::spawn(move || std::fs::write(fifo, array).unwrap())
            };
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let e = exporter(Arc::new(InMemory::new()));
                let got = e
                    .prepare_file(&fifo, NOW, usize::MAX)
                    .map(|b| outcome(Some(b)));
                tx.send(got.map_err(|e| e.to_string())).unwrap();
            });
            let got = rx
                .recv_timeout(std::time::Duration::from_secs(60))
                .expect("prepare_file on a FIFO did not finish")
                .unwrap();
            writer.join().unwrap();
            let e = exporter(Arc::new(InMemory::new()));
            let expected = outcome(e.prepare_input(array.as_bytes(), NOW, usize::MAX).ok());
            assert_eq!(got, expected);
            let batches = got.unwrap();
            assert_eq!(batches.len(), 1);
            let received = format!("received: {},", texts.len());
            assert!(batches[0].0.contains(&received), "{}", batches[0].0);
        }

        #[test]
        fn other_forms_are_left_to_the_whole_input_without_reading_them_all() {
            let event = std::str::from_utf8(LIFECYCLE).unwrap();
            let lines = std::str::from_utf8(BAD).unwrap();
            let array = format!("[{}]", texts_of(&split_input(LIFECYCLE).unwrap()).join(","));
            let late = event.replacen("{", "{\"NextShardIterator\":\"x\",", 1);
            let twice = event.trim_end().trim_end_matches('}').to_owned() + ",\"Records\":[]}";
            // One line, Records not first: an event, not a line of JSON Lines.
            let late_line = serde_json::from_str::<serde_json::Value>(&late)
                .unwrap()
                .to_string();
            assert!(!late_line.starts_with("{\"Records\""), "{late_line}");
            let events = format!("{}\n{}", event.replace('\n', " "), event.replace('\n', " "));
            // Records not first, its name escaped: still an event.
            let escaped = late_line.replacen("\"Records\"", "\"R\\u0065cords\"", 1);
            assert!(!escaped.contains("\"Records\""), "{escaped}");
            for text in [
                escaped.as_str(),
                lines,
                array.as_str(),
                late.as_str(),
                late_line.as_str(),
                twice.as_str(),
                events.as_str(),
                "",
                "{}",
            ] {
                assert_eq!(streamed(text, 16), None, "{text}");
            }
            // JSON Lines with a malformed line early on is refused there, not read to its end.
            let long = format!(
                "{{\"eventID\":\"a\"}}\n{{\"eventID\":\n{}",
                "{\"eventID\":\"b\"}\n".repeat(100_000)
            );
            let e = exporter(Arc::new(InMemory::new()));
            let mut read = 0;
            let got = e
                .prepare_reader_in_chunks(
                    &mut Counted::new(long.as_bytes(), &mut |n| read = n),
                    4096,
                    NOW,
                    3,
                )
                .unwrap();
            assert!(got.is_none());
            assert!(read <= 4096, "read {read} bytes");
            // So is an event with a malformed record early on.
            let broken = format!(
                "{{\"Records\":[{{\"eventID\":\"a\",}}{}]}}",
                ",{}".repeat(100_000)
            );
            let mut read = 0;
            assert!(e
                .prepare_reader_in_chunks(
                    &mut Counted::new(broken.as_bytes(), &mut |n| read = n),
                    4096,
                    NOW,
                    3,
                )
                .unwrap()
                .is_none());
            assert!(read <= 4096, "read {read} bytes");
        }

        /// An event of `records` cut at, or with one byte replaced at, `at`; `None` when that
        /// leaves it not UTF-8.
        fn damaged(
            records: &[String],
            at: prop::sample::Index,
            byte: u8,
            cut: bool,
        ) -> Option<String> {
            let mut bytes = format!("{{\"Records\":[{}]}}", records.join(",")).into_bytes();
            let i = at.index(bytes.len());
            if cut {
                bytes.truncate(i);
            } else {
                bytes[i] = byte;
            }
            String::from_utf8(bytes).ok()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            #[test]
            fn generated_events_read_in_chunks_give_what_the_whole_input_gives(
                records in prop::collection::vec(record(), 1..8),
                chunk in 1usize..200,
            ) {
                let doc = format!("{{\"Records\":[{}]}}", records.join(","));
                let got = streamed(&doc, chunk);
                prop_assert!(got.is_some(), "refused {}", doc);
                prop_assert_eq!(got, whole(&doc), "{}", doc);
            }

            #[test]
            fn generated_json_lines_read_in_chunks_give_what_the_whole_input_gives(
                records in prop::collection::vec(record(), 1..8),
                chunk in 1usize..200,
                blank in any::<bool>(),
            ) {
                // One record per line: the generator's records have no line breaks unless
                // it spaced them with some.
                let lines: Vec<String> = records.iter().map(|r| r.replace(",\n  ", ", ")).collect();
                let doc = lines.join(if blank { "\r\n\n" } else { "\n" });
                let got = streamed(&doc, chunk);
                prop_assert!(got.is_some(), "refused {}", doc);
                prop_assert_eq!(got, whole(&doc), "{}", doc);
            }

            #[test]
            fn damaged_events_read_in_chunks_end_as_the_whole_input_does(
                records in prop::collection::vec(record(), 1..4),
                at in any::<prop::sample::Index>(),
                byte in prop::sample::select(vec![b'"', b'\\', b'{', b'}', b',', b':', b'1', b' ', 1u8]),
                cut in any::<bool>(),
                chunk in 1usize..100,
            ) {
                let Some(doc) = damaged(&records, at, byte, cut) else {
                    return Ok(());
                };
                if let Some(got) = streamed(&doc, chunk) {
                    prop_assert_eq!(Some(got), whole(&doc), "{}", doc);
                }
            }

            #[test]
            fn takes_what_the_serde_pass_takes_and_gives_the_same_files(
                records in prop::collection::vec(record(), 1..6),
            ) {
                let doc = format!("{{\"Records\":[{}]}}", records.join(","));
                let fast = pass(&doc, Pass::Fast);
                prop_assert!(fast.is_some(), "the fast reader refused {}", doc);
                prop_assert_eq!(fast, pass(&doc, Pass::Serde), "{}", doc);
            }

            #[test]
            fn damaged_input_ends_as_it_would_without_the_fast_reader(
                records in prop::collection::vec(record(), 1..4),
                at in any::<prop::sample::Index>(),
                byte in prop::sample::select(vec![b'"', b'\\', b'{', b'}', b',', b':', b'1', b' ', 1u8]),
                cut in any::<bool>(),
            ) {
                let Some(doc) = damaged(&records, at, byte, cut) else {
                    return Ok(());
                };
                let e = exporter(Arc::new(InMemory::new()));
                let ctx = MapContext { exported_at_ms: NOW };
                let both = outcome(e.prepare_one_pass(&doc, Form::Batch, ctx, usize::MAX, usize::MAX));
                prop_assert_eq!(both, pass(&doc, Pass::Serde), "{}", doc);
            }
        }
    }
}
