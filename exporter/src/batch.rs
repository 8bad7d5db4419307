//! The batch sink: where the reader core's records become lake objects. Each record is mapped
//! ([`crate::row`]) into the Arrow builders of its (stream, partition) file, or quarantined
//! with its reason; a batch ends at its record count or text size, and is then encoded into
//! the objects to write ([`PreparedBatch`]). Pure: nothing here does I/O.

use std::collections::BTreeMap;

use base64::Engine as _;
use bytes::Bytes;
use object_store::path::Path;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::arrow_rows::BatchBuilder;
use crate::export::{ExportOptions, ExportReport};
use crate::layout::{self, Partition, StreamLabels};
use crate::parquet_file;
use crate::reader::{explain, RecordSink};
use crate::record::StreamRecord;
use crate::row::{self, Cell, MapContext, MapError};

/// Text one batch may hold by default before it is cut, whatever its record count: every
/// string column of a file then stays far below Arrow's 2 GiB limit (a row holds at most
/// [`row::MAX_ROW_TEXT_BYTES`]), and a huge input is written in parts of bounded memory.
pub const MAX_BATCH_TEXT_BYTES: usize = 256 << 20;

/// Where a batch ends.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Records per batch.
    pub records: usize,
    /// Text per batch ([`ExportOptions::batch_text_bytes`]); no limit for a Lambda payload,
    /// which is at most 6 MB.
    pub text_bytes: usize,
}

/// One quarantined record, as a JSON line.
#[derive(Debug, Serialize)]
struct QuarantineLine {
    code: &'static str,
    reason: String,
    /// The record as received, on one line ([`one_line`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<Box<RawValue>>,
    /// The input line, when it was not JSON at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    record_text: Option<String>,
    /// That line's exact bytes, base64, when they are not UTF-8 (`record_text` then has
    /// U+FFFD in their place).
    #[serde(skip_serializing_if = "Option::is_none")]
    record_base64: Option<String>,
}

/// A record's JSON without the line breaks of a pretty-printed input, so that the quarantine
/// file stays JSON Lines. Only whitespace between tokens goes: a line break inside a JSON
/// string is always escaped, so strings, numbers and key order stay exactly as received.
/// `None` when `raw` is not JSON.
fn one_line(raw: &str) -> Option<Box<RawValue>> {
    if !raw.contains(['\n', '\r']) {
        return RawValue::from_string(raw.to_owned()).ok();
    }
    let mut out = String::with_capacity(raw.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in raw.chars() {
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
    RawValue::from_string(out)
        .or_else(|_| RawValue::from_string(raw.to_owned()))
        .ok()
}

/// An object ready to be written, with the records it carries.
pub(crate) struct PendingObject {
    pub key: Path,
    pub body: Bytes,
    pub rows: usize,
    /// Sequence numbers as received, to report if the write fails.
    pub sequence_numbers: Vec<String>,
    /// Records in it that have no sequence number (quarantine only).
    pub unreported: usize,
    pub is_quarantine: bool,
}

/// One batch mapped and encoded (pure work done), ready for
/// [`Exporter::write`](crate::Exporter::write).
pub struct PreparedBatch {
    /// Received, quarantine reasons, and records whose file could not be encoded.
    pub(crate) report: ExportReport,
    pub(crate) objects: Vec<PendingObject>,
}

impl PreparedBatch {
    /// Records in the batch.
    pub fn received(&self) -> usize {
        self.report.received
    }

    /// Records of the batch that could not be mapped and go to the quarantine.
    pub fn quarantined(&self) -> usize {
        self.report.quarantined
    }
}

/// The rows of one (stream, partition) file while the batch is mapped.
struct Group {
    builder: BatchBuilder,
    /// Sequence numbers as received, in input order.
    sequence_numbers: Vec<String>,
}

/// A group's rows in stream order, ready to encode.
struct GroupFile {
    batch: Result<arrow::record_batch::RecordBatch, arrow::error::ArrowError>,
    /// Padded sequence numbers of the first and last row.
    first: String,
    last: String,
    /// Sequence numbers as received, in file order.
    sequence_numbers: Vec<String>,
}

impl Group {
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
    fn into_file(self) -> Option<GroupFile> {
        let Group {
            builder,
            mut sequence_numbers,
        } = self;
        let (values, offsets) = builder.str_values(row::SEQUENCE_NUMBER)?;
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
struct Assembler {
    received: usize,
    /// Bytes of text in the rows so far: a batch ends at [`Limits::text_bytes`].
    text_bytes: usize,
    labels: StreamLabels,
    groups: BTreeMap<(usize, Partition), Group>,
    /// Quarantine lines, with the sequence number of their record when it has one.
    quarantine: Vec<(QuarantineLine, Option<String>)>,
}

impl Assembler {
    fn new() -> Self {
        Assembler {
            received: 0,
            text_bytes: 0,
            labels: StreamLabels::default(),
            groups: BTreeMap::new(),
            quarantine: Vec::new(),
        }
    }

    fn quarantine(&mut self, line: QuarantineLine, sequence_number: Option<String>) {
        self.received += 1;
        self.quarantine.push((line, sequence_number));
    }

    /// A record that cannot be a row, with its text.
    fn unmappable(&mut self, raw: &str, err: &MapError) {
        let record = one_line(raw);
        let sequence_number = record.as_deref().and_then(explain::sequence_number);
        let record_text = record.is_none().then(|| raw.to_owned());
        self.quarantine(
            QuarantineLine {
                code: err.code(),
                reason: err.to_string(),
                record,
                record_text,
                record_base64: None,
            },
            sequence_number,
        );
    }
}

/// How a batch's data files are named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileNames {
    /// By stream and sequence-number range ([`layout::data_key`]).
    Stream,
    /// By table export and slice ([`layout::export_data_key`]).
    Export { export_id: String, part: u64 },
}

/// The sink every reader source feeds: records in, [`PreparedBatch`]es out.
pub struct BatchSink<'e> {
    root: &'e Path,
    options: &'e ExportOptions,
    names: FileNames,
    ctx: MapContext,
    limits: Limits,
    current: Assembler,
    done: Vec<PreparedBatch>,
    /// One buffer of cells for every record; `'static` only while it is empty.
    cells: Vec<Cell<'static>>,
}

impl<'e> BatchSink<'e> {
    pub(crate) fn new(
        root: &'e Path,
        options: &'e ExportOptions,
        ctx: MapContext,
        limits: Limits,
        names: FileNames,
    ) -> Self {
        BatchSink {
            root,
            options,
            names,
            ctx,
            limits: Limits {
                records: limits.records.max(1),
                ..limits
            },
            current: Assembler::new(),
            done: Vec::new(),
            cells: Vec::with_capacity(crate::schema::COLUMNS.len()),
        }
    }

    /// Ends the batch when it holds its records, or as much text as one batch may.
    fn cut_if_full(&mut self) {
        let a = &self.current;
        if a.received >= self.limits.records || a.text_bytes >= self.limits.text_bytes {
            let full = std::mem::replace(&mut self.current, Assembler::new());
            self.done.push(self.encode(full));
        }
    }

    /// Every batch, encoded.
    pub fn finish(mut self) -> Vec<PreparedBatch> {
        if self.current.received > 0 {
            let last = std::mem::replace(&mut self.current, Assembler::new());
            let last = self.encode(last);
            self.done.push(last);
        }
        self.done
    }

    /// Encodes every file of a batch and its quarantine file (pure).
    fn encode(&self, batch: Assembler) -> PreparedBatch {
        let mut report = ExportReport {
            received: batch.received,
            quarantined: batch.quarantine.len(),
            ..ExportReport::default()
        };
        let mut objects = Vec::with_capacity(batch.groups.len() + 1);
        for ((label, partition), group) in batch.groups {
            let stream = batch.labels.label(label);
            let rows = group.builder.len();
            let Some(file) = group.into_file() else {
                continue;
            };
            let key = match &self.names {
                FileNames::Stream => layout::data_key(
                    self.root,
                    stream,
                    &partition,
                    &file.first,
                    &file.last,
                    file.sequence_numbers.iter().map(String::as_str),
                ),
                FileNames::Export { export_id, part } => layout::export_data_key(
                    self.root,
                    &partition,
                    export_id,
                    *part,
                    self.done.len(),
                ),
            };
            let encoded = file.batch.map_err(|e| e.to_string()).and_then(|batch| {
                parquet_file::encode(&batch, self.options.compression).map_err(|e| e.to_string())
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
                    report.failed_sequence_numbers.extend(file.sequence_numbers);
                }
            }
        }

        if !batch.quarantine.is_empty() {
            let mut body = Vec::new();
            let mut sequence_numbers = Vec::new();
            let mut unreported = 0;
            for (line, seq) in &batch.quarantine {
                *report.quarantine_reasons.entry(line.code).or_default() += 1;
                // Serializing a struct of strings and raw JSON cannot fail.
                if serde_json::to_writer(&mut body, line).is_ok() {
                    body.push(b'\n');
                }
                match seq {
                    Some(s) => sequence_numbers.push(s.clone()),
                    None => unreported += 1,
                }
            }
            objects.push(PendingObject {
                key: layout::quarantine_key(self.root, &body),
                body: Bytes::from(body),
                rows: batch.quarantine.len(),
                sequence_numbers,
                unreported,
                is_quarantine: true,
            });
        }
        PreparedBatch { report, objects }
    }
}

impl RecordSink for BatchSink<'_> {
    fn record(&mut self, record: &mut StreamRecord<'_>, raw: &str) {
        // The buffer's allocation serves every record, whatever its lifetime.
        let mut cells: Vec<Cell<'_>> = std::mem::take(&mut self.cells);
        match row::map(record, self.ctx, &mut cells) {
            Ok(place) => {
                let a = &mut self.current;
                a.received += 1;
                let label = a.labels.index(
                    place.event_source_arn.as_deref(),
                    self.options.stream_override.as_deref(),
                );
                let records = self.limits.records;
                let group = a
                    .groups
                    .entry((label, place.partition))
                    .or_insert_with(|| Group::new(records));
                group.builder.append(&cells);
                a.text_bytes += place.text_bytes;
                group
                    .sequence_numbers
                    .push(place.source_sequence_number.into_owned());
            }
            Err(err) => self.current.unmappable(raw, &err),
        }
        cells.clear();
        self.cells = cells.into_iter().map(|_| Cell::Null).collect();
        self.cut_if_full();
    }

    fn malformed(&mut self, raw: &str, error: MapError) {
        self.current.unmappable(raw, &error);
        self.cut_if_full();
    }

    fn not_json(&mut self, line: &[u8], error: String) {
        let text = String::from_utf8_lossy(line);
        let original = matches!(text, std::borrow::Cow::Owned(_))
            .then(|| base64::engine::general_purpose::STANDARD.encode(line));
        self.current.quarantine(
            QuarantineLine {
                code: "invalid_json",
                reason: format!("not JSON: {error}"),
                record: None,
                record_text: Some(text.into_owned()),
                record_base64: original,
            },
            None,
        );
        self.cut_if_full();
    }

    fn discard(&mut self) {
        self.current = Assembler::new();
        self.done.clear();
    }
}
