//! The scanner: a JSON reader made for stream records, the reader core's fast path.
//!
//! It reads a whole document (see [`Form`]), a file a chunk at a time, or one record, straight
//! into a [`StreamRecord`], without serde's per-token visitor calls: object keys are matched
//! where they are read, attribute values are built directly, and strings are scanned eight
//! bytes at a time.
//!
//! It is a fast path, never the only one. It takes a subset of what the exact reader
//! ([`super::exact`]) takes and must give the same result for everything it takes; anything
//! else (a lone surrogate escape, nesting deeper than [`MAX_DEPTH`], a repeated field, a value
//! of the wrong type, malformed JSON) makes it give up with [`Refused`], and the reader core
//! hands the same input to the exact reader, which either reads it or explains the error. So
//! an input the scanner refuses costs a second pass, never a different answer.

mod grammar;
mod json;
#[cfg(test)]
mod tests;

use super::export_line::{self, ExportContext};
use super::framing::{is_event_line, Form};
use super::RecordSink;
use crate::record::StreamRecord;
use json::Reader;

/// Nesting this reader follows (serde_json's limit is 128; DynamoDB's is 32 levels of
/// attributes): deeper input is left to the exact reader.
pub const MAX_DEPTH: usize = 96;

/// The scanner does not take the input, at this byte offset: the exact reader must read it.
/// Records already handed over must be discarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused(pub usize);

type R<T> = Result<T, Refused>;

/// Reads every record of `text`, as `form`, into the sink.
pub fn document(text: &str, form: Form, sink: &mut dyn RecordSink) -> R<()> {
    let mut record = StreamRecord::default();
    match form {
        Form::Array | Form::Batch => {
            let text = text.trim_ascii_start();
            let mut r = Reader::new(text);
            if form == Form::Array {
                r.records(&mut record, sink)?;
            } else {
                r.batch(&mut record, sink)?;
            }
            r.end()
        }
        Form::Lines => {
            let mut offset = 0;
            for line in text.split('\n') {
                let at = offset;
                offset += line.len() + 1;
                let line = line.trim_ascii();
                if line.is_empty() {
                    continue;
                }
                let mut r = Reader::new(line);
                let result = if is_event_line(line.as_bytes()) {
                    r.batch(&mut record, sink)
                } else {
                    r.record(&mut record)
                        .map(|()| sink.record(&mut record, line))
                };
                result
                    .and_then(|()| r.end())
                    .map_err(|Refused(i)| Refused(at + i))?;
            }
            Ok(())
        }
    }
}

/// Reads one record whose text is `raw` (already apart from other records) into the sink.
pub fn one(raw: &str, sink: &mut dyn RecordSink) -> R<()> {
    let raw = raw.trim_ascii();
    let mut record = StreamRecord::default();
    let mut r = Reader::new(raw);
    r.record(&mut record)?;
    r.end()?;
    if r.records_field {
        // A `Records` field is an event, never a record.
        return r.refuse();
    }
    sink.record(&mut record, raw);
    Ok(())
}

/// Reads one line of a DynamoDB table export (see [`super::export_line`]) into the sink: a
/// record, or, when the line is not one of this export's, the reason.
pub fn export_line(raw: &str, context: &ExportContext, sink: &mut dyn RecordSink) -> R<()> {
    let raw = raw.trim_ascii();
    let mut record = StreamRecord::default();
    let mut r = Reader::new(raw);
    let shape = r.export_line(&mut record)?;
    r.end()?;
    match export_line::complete(&mut record, shape, context) {
        Ok(()) => sink.record(&mut record, raw),
        Err(error) => sink.malformed(raw, error),
    }
    Ok(())
}

/// Why [`stream`] stopped.
#[derive(Debug)]
pub enum StreamStop {
    /// Input this reader does not take: read it whole instead (the same result, or the
    /// reason there is none).
    Refused,
    /// Reading the input failed.
    Io(std::io::Error),
}

/// How far before the end of the buffer a refusal may be reported when the buffer only cut
/// the input there: the longest literal (`false`), an escape (`\uXXXX\uXXXX`) or a byte
/// order mark.
const CUT_MARGIN: usize = 16;

/// Bytes beyond the first escape that a string with escapes is given room for at first.
const ESCAPED_ROOM: usize = 512;

/// A decoded string that keeps at most about twice its length (and [`ESCAPED_ROOM`] only
/// while it is decoded): a record of many short escaped strings holds about its own text.
fn fitted(mut s: String) -> String {
    if s.capacity() > 2 * s.len() + 64 {
        s.shrink_to_fit();
    }
    s
}

/// Where [`stream`] is in the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Before `{"Records": [`, or the first line of JSON Lines.
    Head,
    /// After `[`: a record or `]`.
    First,
    /// After a record: `,` or `]`.
    Between,
    /// After `,`: a record.
    Next,
    /// After `]` or another field of the object: `,` and a field, or `}`.
    Tail,
    /// After the object: only whitespace may follow.
    End,
    /// JSON Lines of stream records: at the start of a line.
    Lines,
}

/// Reads stream records from `input`, `chunk` bytes at a time, and hands each to the sink as
/// soon as it is read: the input is never held whole. It takes a Lambda DynamoDB event or
/// GetRecords response (`{"Records": [...], ...}`, with `Records` first) and JSON Lines of
/// stream records (one per line; blank lines skipped); a UTF-8 byte order mark is skipped. A
/// record longer than the buffer grows it. Anything else (an array, JSON Lines of whole
/// events, a pretty-printed record, or a record [`document`] would refuse) stops it with
/// [`StreamStop::Refused`], as soon as that is certain; records already handed over must then
/// be discarded.
pub fn stream(
    input: &mut dyn std::io::Read,
    chunk: usize,
    sink: &mut dyn RecordSink,
) -> Result<(), StreamStop> {
    // Zeroed when it is made or grows (a large zeroed allocation is fresh pages, not a
    // memset), not before every read: `buf[..filled]` is input not yet consumed.
    let mut buf: Vec<u8> = vec![0; chunk.max(16)];
    let mut filled = 0;
    let mut eof = false;
    let mut place = Place::Head;
    loop {
        filled += fill(input, &mut buf[filled..], &mut eof).map_err(StreamStop::Io)?;
        let data = &buf[..filled];
        let consumed = match std::str::from_utf8(data) {
            Ok(text) => stream_text(text, &mut place, eof, sink)?,
            // A character cut by the end of the buffer: the rest comes with the next read.
            Err(e) if e.error_len().is_none() && !eof => {
                match std::str::from_utf8(&data[..e.valid_up_to()]) {
                    Ok(text) => stream_text(text, &mut place, false, sink)?,
                    Err(_) => return Err(StreamStop::Refused),
                }
            }
            Err(_) => return Err(StreamStop::Refused),
        };
        if eof {
            return match place {
                Place::End | Place::Lines => Ok(()),
                // The input ended inside the event.
                _ => Err(StreamStop::Refused),
            };
        }
        buf.copy_within(consumed..filled, 0);
        filled -= consumed;
        if filled == buf.len() {
            // One piece fills the buffer: a record longer than a chunk.
            buf.resize(buf.len() * 2, 0);
        }
    }
}

/// Reads from `input` into `space` until it is full or the input ends (then sets `eof`);
/// the bytes read. Each read asks for all the space left, so a file takes one read per
/// chunk (and one more that finds its end), and nothing is zeroed first.
fn fill(input: &mut dyn std::io::Read, space: &mut [u8], eof: &mut bool) -> std::io::Result<usize> {
    let mut got = 0;
    while !*eof && got < space.len() {
        match input.read(&mut space[got..]) {
            Ok(0) => *eof = true,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Reads as much of `text` as is complete, from `place`; the bytes consumed. With `eof`,
/// `text` is the rest of the input.
fn stream_text(
    text: &str,
    place: &mut Place,
    eof: bool,
    sink: &mut dyn RecordSink,
) -> Result<usize, StreamStop> {
    let mut r = Reader::new(text);
    // As deep as the records of a whole document: inside its object and array.
    r.depth = 2;
    let mut record = StreamRecord::default();
    let mut consumed = 0;
    loop {
        if !matches!(*place, Place::Head | Place::Lines) {
            // Whitespace between tokens need not wait in the buffer.
            r.peek();
            consumed = r.pos;
        }
        let step = match *place {
            Place::Head => r.head(),
            Place::First if r.peek() == Some(b']') => {
                r.pos += 1;
                Ok(Place::Tail)
            }
            Place::First | Place::Next => {
                let start = r.pos;
                r.record(&mut record).and_then(|()| {
                    let raw = text.get(start..r.pos).ok_or(Refused(start))?;
                    sink.record(&mut record, raw);
                    Ok(Place::Between)
                })
            }
            Place::Between => match r.peek() {
                Some(b',') => {
                    r.pos += 1;
                    Ok(Place::Next)
                }
                Some(b']') => {
                    r.pos += 1;
                    Ok(Place::Tail)
                }
                _ => r.refuse(),
            },
            Place::Tail => r.tail_field(),
            Place::End => match r.peek() {
                None => return Ok(r.pos),
                // Whatever follows the object, more input cannot mend.
                Some(_) => return Err(StreamStop::Refused),
            },
            Place::Lines => {
                let rest = text.get(r.pos..).unwrap_or_default();
                let line_end = rest.find('\n');
                if line_end.is_none() && (!eof || rest.is_empty()) {
                    // Wait for the whole line (or the input ended).
                    return Ok(consumed);
                }
                let line = &rest[..line_end.unwrap_or(rest.len())];
                // A whole line that this reader does not take is final.
                stream_line(line.trim_ascii(), &mut record, sink)?;
                r.pos += line_end.map_or(rest.len(), |i| i + 1);
                Ok(Place::Lines)
            }
        };
        match step {
            Ok(next) => {
                consumed = r.pos;
                *place = next;
            }
            // Refused near the end of the buffer: perhaps only cut there, more input decides.
            // (Every refusal is reported at most a literal or an escape before the byte that
            // caused it.)
            Err(Refused(at)) if !eof && at + CUT_MARGIN >= text.len() => return Ok(consumed),
            Err(Refused(_)) => return Err(StreamStop::Refused),
        }
    }
}

/// One whole line of JSON Lines: a stream record, handed over; blank lines are skipped.
fn stream_line<'x>(
    line: &'x str,
    record: &mut StreamRecord<'x>,
    sink: &mut dyn RecordSink,
) -> Result<(), StreamStop> {
    if line.is_empty() {
        return Ok(());
    }
    if is_event_line(line.as_bytes()) {
        return Err(StreamStop::Refused);
    }
    let mut r = Reader::new(line);
    match r.record(record).and_then(|()| r.end()) {
        // A line with a `Records` field (however its name is escaped) is left to the
        // whole-input path: a one-line input with one is an event whose other fields come
        // first.
        Ok(()) if r.records_field => Err(StreamStop::Refused),
        Ok(()) => {
            sink.record(record, line);
            Ok(())
        }
        Err(Refused(_)) => Err(StreamStop::Refused),
    }
}
