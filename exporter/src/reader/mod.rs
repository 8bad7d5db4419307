//! The reader core: every stream record that reaches the lake is read here, whatever its
//! source, and leaves through one [`RecordSink`].
//!
//! ```text
//!  Source::Document ──┐                         ┌─► scan (fast path: one pass, no serde)
//!  Source::Event ─────┤                         │        │ refused: discard, then
//!  Source::File ──────┼──► read (the policy) ───┤        ▼
//!  Source::Pipe ──────┤                         └─► framing + exact (serde, per record;
//!  Source::Records ───┘                              malformed records explained)
//!                                                            │
//!                                   RecordSink ◄─────────────┘  (the batch sink)
//! ```
//!
//! Two readers of one record shape: [`scan`], made for speed, and [`exact`], the reference.
//! The scanner takes a subset of what the exact reader takes and gives the same records for
//! it (property-tested); whatever it refuses, [`read`] hands to the exact reader, after the
//! sink has discarded what the scanner had handed over. That policy lives in this module only.

pub mod exact;
pub mod explain;
pub mod export_line;
pub mod framing;
pub mod scan;

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use thiserror::Error;

use crate::record::StreamRecord;
use crate::row::MapError;
use export_line::ExportContext;
use framing::{Form, Framed, InputError};

/// Bytes read at a time from a file: large enough that a read costs little, small enough to
/// stay in the CPU's caches. A longer record grows the buffer.
pub const CHUNK_BYTES: usize = 256 * 1024;

/// Where the reader puts what it reads: every record, or why a unit of input is none. It is
/// told records in input order.
pub trait RecordSink {
    /// One record, read; `raw` is its JSON text (for the quarantine, should it not map).
    fn record(&mut self, record: &mut StreamRecord<'_>, raw: &str);
    /// A record that is JSON but not a stream record, and why.
    fn malformed(&mut self, raw: &str, error: MapError);
    /// A line of JSON Lines that is not JSON at all.
    fn not_json(&mut self, line: &[u8], error: String);
    /// Forgets everything told so far: a reader that gave up part-way hands the input to
    /// another, which starts over.
    fn discard(&mut self);
}

/// Where stream records come from.
pub enum Source<'a> {
    /// A whole document in memory: a Lambda DynamoDB event or GetRecords response
    /// (`{"Records": [...]}`), a JSON array of records, one record, or JSON Lines of records
    /// or of whole events.
    Document(&'a [u8]),
    /// A Lambda invocation payload: `{"Records": [...]}`, nothing else.
    Event(&'a str),
    /// A file, read from where it stands: a chunk at a time when it is a regular file whose
    /// form allows it (an event or GetRecords response with `Records` first, or JSON Lines of
    /// records), otherwise whole. `progress` is told the bytes read so far after every read
    /// (from 0 again when a regular file must be read a second time, whole).
    File {
        file: std::fs::File,
        /// What to call it in errors.
        name: &'a Path,
        progress: &'a mut dyn FnMut(u64),
    },
    /// Input that can be read only once, such as a pipe: read whole. `size` is the number of
    /// bytes expected (0 if unknown), reserved at once.
    Pipe {
        reader: &'a mut dyn Read,
        size: u64,
        name: &'a Path,
        progress: &'a mut dyn FnMut(u64),
    },
    /// Records already apart, one record's JSON text each (the embedded change feed).
    Records(&'a [String]),
    /// Lines of a DynamoDB table export's data file ([`export_line`]), one line each; blank
    /// lines are skipped. `part` numbers this slice of the export: its files are named by it
    /// ([`crate::layout::export_data_key`]), so a replay rewrites them.
    ExportLines {
        lines: &'a [Vec<u8>],
        export: &'a ExportContext,
        part: u64,
    },
}

/// Why a source gave no records at all.
#[derive(Debug, Error)]
pub enum ReadError {
    #[error("cannot read {}: {source}", name.display())]
    Io {
        name: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Input(#[from] InputError),
}

/// Reads every record of `source` into `sink`: the one door of the exporter.
pub fn read(source: Source<'_>, sink: &mut dyn RecordSink) -> Result<(), ReadError> {
    match source {
        Source::Document(bytes) => Ok(document(bytes, sink)?),
        Source::Event(text) => Ok(event(text, sink)?),
        Source::File {
            file,
            name,
            progress,
        } => read_file(file, name, progress, sink),
        Source::Pipe {
            reader,
            size,
            name,
            progress,
        } => {
            let bytes = read_whole(reader, size, name, progress)?;
            Ok(document(&bytes, sink)?)
        }
        Source::ExportLines { lines, export, .. } => {
            for line in lines {
                let line = line.trim_ascii();
                match std::str::from_utf8(line) {
                    Ok(text) => export_line(text, export, sink),
                    Err(e) => sink.not_json(line, format!("not UTF-8: {e}")),
                }
            }
            Ok(())
        }
        Source::Records(records) => {
            for raw in records {
                if scan::one(raw, sink).is_ok() {
                    continue;
                }
                let raw = raw.trim_ascii();
                match serde_json::from_str::<serde::de::IgnoredAny>(raw) {
                    Ok(_) => exact(Framed::Json(raw), sink),
                    Err(e) => exact(
                        Framed::NotJson {
                            line: raw.as_bytes(),
                            error: e.to_string(),
                        },
                        sink,
                    ),
                }
            }
            Ok(())
        }
    }
}

/// One line of a table export: the scanner, then the exact reader.
fn export_line(line: &str, export: &ExportContext, sink: &mut dyn RecordSink) {
    if line.is_empty() || scan::export_line(line, export, sink).is_ok() {
        return;
    }
    exact_export_line(line, export, sink);
}

/// One line of a table export, the exact reader alone.
fn exact_export_line(line: &str, export: &ExportContext, sink: &mut dyn RecordSink) {
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(line) {
        return sink.not_json(line.as_bytes(), e.to_string());
    }
    let mut record = StreamRecord::default();
    match exact::read_export_line(line, &mut record) {
        Ok(shape) => match export_line::complete(&mut record, shape, export) {
            Ok(()) => sink.record(&mut record, line),
            Err(error) => sink.malformed(line, error),
        },
        Err(_) => sink.malformed(
            line,
            explain::malformed_as(line, explain::Shape::ExportLine),
        ),
    }
}

/// A whole document: the scanner in each form the document may have, then the exact reader.
fn document(bytes: &[u8], sink: &mut dyn RecordSink) -> Result<(), InputError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Ok(text) = std::str::from_utf8(bytes) {
        for form in framing::candidate_forms(text) {
            // A batch with a record the scanner cannot take is still a batch to the exact
            // reader: reading it as one JSON line instead would lose its records.
            if *form == Form::Lines && framing::is_batch(text) {
                break;
            }
            match scan::document(text, *form, sink) {
                Ok(()) => return Ok(()),
                Err(scan::Refused(at)) => {
                    tracing::debug!(?form, at, "the scanner refused the input");
                    sink.discard();
                }
            }
        }
    }
    for framed in framing::split(bytes)? {
        exact(framed, sink);
    }
    Ok(())
}

/// A Lambda payload: the scanner, then the exact reader; anything but `{"Records": [...]}` is
/// an error.
fn event(text: &str, sink: &mut dyn RecordSink) -> Result<(), InputError> {
    if scan::document(text, Form::Batch, sink).is_ok() {
        return Ok(());
    }
    sink.discard();
    for framed in framing::split_event(text)? {
        exact(framed, sink);
    }
    Ok(())
}

/// The exact reader alone on a whole document: what the scanner's answers are checked
/// against.
#[cfg(test)]
pub(crate) fn exactly(bytes: &[u8], sink: &mut dyn RecordSink) -> Result<(), InputError> {
    for framed in framing::split(bytes)? {
        exact(framed, sink);
    }
    Ok(())
}

/// One unit of input, through the exact reader.
fn exact(framed: Framed<'_>, sink: &mut dyn RecordSink) {
    match framed {
        Framed::Json(raw) => {
            let mut record = StreamRecord::default();
            match exact::read(raw, &mut record) {
                Ok(()) => sink.record(&mut record, raw),
                Err(_) => sink.malformed(raw, explain::malformed(raw)),
            }
        }
        Framed::NotJson { line, error } => sink.not_json(line, error),
    }
}

/// A reader that tells `progress` the bytes read through it so far.
struct Counted<'a, R> {
    inner: R,
    read: u64,
    progress: &'a mut dyn FnMut(u64),
}

impl<'a, R: Read> Counted<'a, R> {
    fn new(inner: R, progress: &'a mut dyn FnMut(u64)) -> Self {
        progress(0);
        Counted {
            inner,
            read: 0,
            progress,
        }
    }
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.read += n as u64;
            (self.progress)(self.read);
        }
        Ok(n)
    }
}

/// A file from where it stands: streamed when it is a regular file and the scanner takes it;
/// otherwise read whole (a regular file again from the same place, a pipe once).
fn read_file(
    mut file: std::fs::File,
    name: &Path,
    progress: &mut dyn FnMut(u64),
    sink: &mut dyn RecordSink,
) -> Result<(), ReadError> {
    let io = |source| ReadError::Io {
        name: name.to_owned(),
        source,
    };
    let metadata = file.metadata().ok();
    // Only a regular file can be read again after the scanner refuses it: a pipe
    // (`--input <(zcat …)`, stdin from a pipe) is read whole, once.
    let start = match &metadata {
        Some(m) if m.is_file() => Some(file.stream_position().map_err(io)?),
        _ => None,
    };
    if let Some(start) = start {
        let mut counted = Counted::new(&mut file, &mut *progress);
        match scan::stream(&mut counted, CHUNK_BYTES, sink) {
            Ok(()) => return Ok(()),
            Err(scan::StreamStop::Io(e)) => return Err(io(e)),
            Err(scan::StreamStop::Refused) => {
                tracing::debug!("the input needs to be read whole");
                sink.discard();
            }
        }
        file.seek(SeekFrom::Start(start)).map_err(io)?;
    }
    let size = metadata.map_or(0, |m| m.len().saturating_sub(start.unwrap_or(0)));
    let bytes = read_whole(&mut file, size, name, progress)?;
    Ok(document(&bytes, sink)?)
}

/// Reads `reader` to its end (`size` bytes expected, 0 if unknown).
fn read_whole(
    reader: &mut dyn Read,
    size: u64,
    name: &Path,
    progress: &mut dyn FnMut(u64),
) -> Result<Vec<u8>, ReadError> {
    let io = |source| ReadError::Io {
        name: name.to_owned(),
        source,
    };
    let mut bytes = Vec::new();
    bytes
        .try_reserve_exact(usize::try_from(size).unwrap_or(usize::MAX))
        .map_err(|_| {
            io(std::io::Error::new(
                std::io::ErrorKind::OutOfMemory,
                format!(
                    "its form is read whole, and its {size} bytes do not fit in memory: \
                     split it into files of a few hundred MB"
                ),
            ))
        })?;
    Counted::new(reader, progress)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests;
