//! A JSON reader made for stream records: the one-pass path's first choice.
//!
//! It reads a whole input document (see [`Form`]) straight into [`Decoded`], as the
//! serde-based pass in [`document`](crate::document) does, without serde's per-token visitor
//! calls: object keys are matched where they are read, attribute values are built directly,
//! and strings are scanned eight bytes at a time.
//!
//! It is a fast path, never the only one. It takes a subset of what the serde pass takes and
//! must give the same result for everything it takes; anything else (an escape it does not
//! decode, nesting deeper than [`MAX_DEPTH`], a repeated field, a value of the wrong type,
//! malformed JSON) makes it give up with [`Stop::Refused`], and the exporter runs the serde
//! pass on the same text, which either reads it or explains the error. So an input this
//! reader refuses costs a second pass, never a different answer.

use std::borrow::Cow;
use std::fmt;

use serde_json::value::RawValue;

use crate::attr::{AttributeValue, Item, Text};
use crate::decode::{Decoded, OldForm};
use crate::document::{Form, OnRecord};
use crate::record::UserIdentity;
use crate::schema::COLUMNS;

/// Nesting this reader follows (serde_json's limit is 128; DynamoDB's is 32 levels of
/// attributes): deeper input is left to the serde pass.
pub const MAX_DEPTH: usize = 96;

/// Why the fast reader stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// Input this reader does not take, at this byte offset: run the serde pass instead.
    Refused(usize),
    /// The caller's `on_record` returned this error.
    Caller(String),
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Refused(at) => write!(f, "the fast reader does not take the input at byte {at}"),
            Stop::Caller(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for Stop {}

type R<T> = Result<T, Stop>;

/// Decodes every record of `text`, read as `form`, into `decoded` and hands it to
/// `on_record`, like [`document::decode_document`](crate::document::decode_document). On
/// error, records already handed over must be discarded by the caller.
pub fn decode_document<'r>(
    text: &'r str,
    form: Form,
    decoded: &mut Decoded<'r>,
    on_record: &mut OnRecord<'_, 'r>,
) -> R<()> {
    match form {
        Form::Array | Form::Batch => {
            let text = text.trim_ascii_start();
            let mut r = Reader::new(text);
            if form == Form::Array {
                r.records(decoded, on_record)?;
            } else {
                r.batch(decoded, on_record)?;
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
                let result = if crate::record::is_event_line(line.as_bytes()) {
                    r.batch(decoded, on_record)
                } else {
                    r.record(decoded)
                        .and_then(|()| r.hand_over(decoded, on_record))
                };
                result.and_then(|()| r.end()).map_err(|e| match e {
                    Stop::Refused(i) => Stop::Refused(at + i),
                    caller => caller,
                })?;
            }
            Ok(())
        }
    }
}

/// Why [`stream_batch`] stopped.
#[derive(Debug)]
pub enum StreamStop {
    /// Input this reader does not take: read it whole instead (the same result, or the
    /// reason there is none).
    Refused,
    /// The caller's `on_record` returned this error.
    Caller(String),
    /// Reading the input failed.
    Io(std::io::Error),
}

/// What [`stream_batch`] hands over for each record: the record, and its text (for the
/// quarantine). Both live only until the call returns.
pub type OnStreamRecord<'a> =
    dyn for<'x> FnMut(&mut Decoded<'x>, &'x str) -> Result<(), String> + 'a;

/// How far before the end of the buffer a refusal may be reported when the buffer only cut
/// the input there: the longest literal (`false`), an escape (`\uXXXX`) or a byte order mark.
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

/// Where [`stream_batch`] is in the document.
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

/// Reads stream records from `input`, `chunk` bytes at a time, and hands each to `on_record`
/// as soon as it is read: the input is never held whole. It takes a Lambda DynamoDB event or
/// GetRecords response (`{"Records": [...], ...}`, with `Records` first) and JSON Lines of
/// stream records (one per line; blank lines skipped); a UTF-8 byte order mark is skipped. A
/// record longer than the buffer grows it. Anything else (an array, JSON Lines of whole
/// events, a pretty-printed record, or a record [`decode_document`] would refuse) stops it
/// with [`StreamStop::Refused`], as soon as that is certain; records already handed over must
/// then be discarded by the caller.
pub fn stream_batch(
    input: &mut dyn std::io::Read,
    chunk: usize,
    on_record: &mut OnStreamRecord<'_>,
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
            Ok(text) => stream_text(text, &mut place, eof, on_record)?,
            // A character cut by the end of the buffer: the rest comes with the next read.
            Err(e) if e.error_len().is_none() && !eof => {
                match std::str::from_utf8(&data[..e.valid_up_to()]) {
                    Ok(text) => stream_text(text, &mut place, false, on_record)?,
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
    on_record: &mut OnStreamRecord<'_>,
) -> Result<usize, StreamStop> {
    let mut r = Reader::new(text);
    // As deep as the records of a whole document: inside its object and array.
    r.depth = 2;
    let mut decoded = Decoded::default();
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
                r.record(&mut decoded).and_then(|()| {
                    let raw = text.get(start..r.pos).ok_or(Stop::Refused(start))?;
                    on_record(&mut decoded, raw).map_err(Stop::Caller)?;
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
                stream_line(line.trim_ascii(), &mut decoded, on_record)?;
                r.pos += line_end.map_or(rest.len(), |i| i + 1);
                Ok(Place::Lines)
            }
        };
        match step {
            Ok(next) => {
                consumed = r.pos;
                *place = next;
            }
            Err(Stop::Caller(e)) => return Err(StreamStop::Caller(e)),
            // Refused near the end of the buffer: perhaps only cut there, more input decides.
            // (Every refusal is reported at most a literal or an escape before the byte that
            // caused it.)
            Err(Stop::Refused(at)) if !eof && at + CUT_MARGIN >= text.len() => return Ok(consumed),
            Err(Stop::Refused(_)) => return Err(StreamStop::Refused),
        }
    }
}

/// One whole line of JSON Lines: a stream record, handed over; blank lines are skipped.
fn stream_line<'x>(
    line: &'x str,
    decoded: &mut Decoded<'x>,
    on_record: &mut OnStreamRecord<'_>,
) -> Result<(), StreamStop> {
    if line.is_empty() {
        return Ok(());
    }
    if crate::record::is_event_line(line.as_bytes()) {
        return Err(StreamStop::Refused);
    }
    let mut r = Reader::new(line);
    match r.record(decoded).and_then(|()| r.end()) {
        // A line with a `Records` field (however its name is escaped) is left to the
        // whole-input path: a one-line input with one is an event whose other fields come
        // first.
        Ok(()) if r.records_field => Err(StreamStop::Refused),
        Ok(()) => on_record(decoded, line).map_err(StreamStop::Caller),
        Err(Stop::Caller(e)) => Err(StreamStop::Caller(e)),
        Err(Stop::Refused(_)) => Err(StreamStop::Refused),
    }
}

/// A cursor over JSON text.
struct Reader<'r> {
    text: &'r str,
    bytes: &'r [u8],
    pos: usize,
    depth: usize,
    /// A record read had a top-level `Records` field (ignored, as the typed record does).
    records_field: bool,
    /// Where (position, depth) the current record's `OldImage` starts, when only its status
    /// was read before the event name was known: a REMOVE reads it again, whole.
    old_image_at: Option<(usize, usize)>,
}

/// Bytes of `word` (little-endian) that end a string scan: `"`, `\` or a control character
/// (below 0x20, which JSON does not allow raw in a string). The lowest set high bit marks the
/// first such byte; bits above it may be wrong, so only the lowest is used.
#[inline]
fn specials(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x;
    (zero_byte(quote) | zero_byte(backslash) | (word.wrapping_sub(ONES * 0x20) & !word)) & HIGHS
}

impl<'r> Reader<'r> {
    fn new(text: &'r str) -> Self {
        Reader {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            depth: 0,
            records_field: false,
            old_image_at: None,
        }
    }

    fn refuse<T>(&self) -> R<T> {
        Err(Stop::Refused(self.pos))
    }

    /// Skips whitespace; the next byte, if any.
    #[inline]
    fn peek(&mut self) -> Option<u8> {
        while let Some(&c) = self.bytes.get(self.pos) {
            if matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                self.pos += 1;
            } else {
                return Some(c);
            }
        }
        None
    }

    #[inline]
    fn eat(&mut self, c: u8) -> R<()> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            self.refuse()
        }
    }

    /// Only whitespace is left.
    fn end(&mut self) -> R<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => self.refuse(),
        }
    }

    fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.refuse();
        }
        Ok(())
    }

    /// `{ "key": value, ... }`: `field` reads each value, given its key.
    #[inline]
    fn object(&mut self, mut field: impl FnMut(&mut Self, Text<'r>) -> R<()>) -> R<()> {
        self.eat(b'{')?;
        self.items(b'}', |r| {
            let key = r.string()?;
            r.eat(b':')?;
            field(r, key)
        })
    }

    /// `[ value, ... ]`: `element` reads each value.
    #[inline]
    fn array(&mut self, element: impl FnMut(&mut Self) -> R<()>) -> R<()> {
        self.eat(b'[')?;
        self.items(b']', element)
    }

    /// After an opening bracket: items separated by `,`, up to `close`.
    #[inline]
    fn items(&mut self, close: u8, mut item: impl FnMut(&mut Self) -> R<()>) -> R<()> {
        self.enter()?;
        if self.peek() == Some(close) {
            self.pos += 1;
        } else {
            loop {
                item(self)?;
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(c) if c == close => {
                        self.pos += 1;
                        break;
                    }
                    _ => return self.refuse(),
                }
            }
        }
        self.depth -= 1;
        Ok(())
    }

    /// A string, borrowed from the text unless it has escapes.
    #[inline(always)]
    fn string(&mut self) -> R<Text<'r>> {
        if self.peek() != Some(b'"') {
            return self.refuse();
        }
        let start = self.pos + 1;
        let end = self.scan(start)?;
        if self.bytes[end] == b'"' {
            self.pos = end + 1;
            return match self.text.get(start..end) {
                Some(s) => Ok(Text(Cow::Borrowed(s))),
                None => self.refuse(),
            };
        }
        self.escaped(start, end).map(|s| Text(Cow::Owned(s)))
    }

    /// The index of the first `"`, `\` or control byte at or after `i`; refuses a string
    /// that does not end, or a control byte.
    #[inline]
    fn scan(&mut self, mut i: usize) -> R<usize> {
        let bytes = self.bytes;
        while let Some(chunk) = bytes.get(i..).and_then(|rest| rest.first_chunk::<8>()) {
            let hits = specials(u64::from_le_bytes(*chunk));
            if hits != 0 {
                i += (hits.trailing_zeros() / 8) as usize;
                return self.special(i);
            }
            i += 8;
        }
        while let Some(&c) = bytes.get(i) {
            if c == b'"' || c == b'\\' || c < 0x20 {
                return self.special(i);
            }
            i += 1;
        }
        self.pos = i;
        self.refuse()
    }

    #[inline]
    fn special(&mut self, i: usize) -> R<usize> {
        if self.bytes[i] < 0x20 {
            self.pos = i;
            return self.refuse();
        }
        Ok(i)
    }

    /// The rest of a string whose first escape is at `at`; JSON escapes other than `\u` for a
    /// surrogate (which the serde pass judges) are decoded.
    #[cold]
    fn escaped(&mut self, start: usize, mut at: usize) -> R<String> {
        // Room for the usual escaped value at once (a JSON document in a string, such as
        // `variants_json`, has dozens of escapes); a short string gives back what it did not
        // use (see [`fitted`]), so many small ones cannot hold much more than their text.
        let mut out = String::with_capacity(at - start + ESCAPED_ROOM);
        let mut from = start;
        loop {
            match self.text.get(from..at) {
                Some(s) => out.push_str(s),
                None => return self.refuse(),
            }
            if self.bytes[at] == b'"' {
                self.pos = at + 1;
                return Ok(fitted(out));
            }
            // A backslash.
            self.pos = at;
            let c = match self.bytes.get(at + 1) {
                Some(b'"') => '"',
                Some(b'\\') => '\\',
                Some(b'/') => '/',
                Some(b'b') => '\u{8}',
                Some(b'f') => '\u{c}',
                Some(b'n') => '\n',
                Some(b'r') => '\r',
                Some(b't') => '\t',
                Some(b'u') => {
                    let code = self
                        .bytes
                        .get(at + 2..at + 6)
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                        .and_then(char::from_u32);
                    match code {
                        Some(c) => {
                            out.push(c);
                            from = at + 6;
                            at = self.scan(from)?;
                            continue;
                        }
                        None => return self.refuse(),
                    }
                }
                _ => return self.refuse(),
            };
            out.push(c);
            from = at + 2;
            at = self.scan(from)?;
        }
    }

    /// An attribute value to be ignored, checked as [`Reader::skip_value`] checks it. The
    /// common `{"S":"…"}` and `{"N":"…"}` skip the general object walk.
    fn skip_attribute(&mut self) -> R<()> {
        let (pos, depth) = (self.pos, self.depth);
        if self.peek() == Some(b'{') {
            let rest = self.bytes.get(self.pos + 1..).unwrap_or_default();
            if rest.starts_with(b"\"S\":") || rest.starts_with(b"\"N\":") {
                self.pos += 1;
                self.enter()?;
                self.pos += 4;
                self.skip_string()?;
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(());
                }
            }
        }
        // Anything else (another type, or more than one key): the general walk, from the
        // start, which accepts and refuses exactly what it always did.
        self.pos = pos;
        self.depth = depth;
        self.skip_value()
    }

    /// A string to be ignored: checked as [`Reader::string`] checks it, not kept.
    fn skip_string(&mut self) -> R<()> {
        self.string().map(drop)
    }

    fn literal(&mut self, word: &[u8]) -> R<()> {
        self.peek();
        if self
            .bytes
            .get(self.pos..)
            .is_some_and(|b| b.starts_with(word))
        {
            self.pos += word.len();
            Ok(())
        } else {
            self.refuse()
        }
    }

    /// `null` (consumed: true) or anything else (not consumed: false).
    #[inline]
    fn null(&mut self) -> R<bool> {
        if self.peek() == Some(b'n') {
            self.literal(b"null")?;
            return Ok(true);
        }
        Ok(false)
    }

    fn boolean(&mut self) -> R<bool> {
        match self.peek() {
            Some(b't') => self.literal(b"true").map(|()| true),
            Some(b'f') => self.literal(b"false").map(|()| false),
            _ => self.refuse(),
        }
    }

    /// A JSON number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn number(&mut self) -> R<()> {
        self.peek();
        let b = self.bytes;
        let mut i = self.pos;
        let digits = |i: &mut usize| {
            let from = *i;
            while b.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i > from
        };
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => {
                i += 1;
                if b.get(i).is_some_and(u8::is_ascii_digit) {
                    self.pos = i;
                    return self.refuse();
                }
            }
            Some(b'1'..=b'9') => {
                digits(&mut i);
            }
            _ => return self.refuse(),
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            if !digits(&mut i) {
                self.pos = i;
                return self.refuse();
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !digits(&mut i) {
                self.pos = i;
                return self.refuse();
            }
        }
        self.pos = i;
        Ok(())
    }

    /// Any JSON value, checked and not kept.
    fn skip_value(&mut self) -> R<()> {
        match self.peek() {
            Some(b'"') => self.skip_string(),
            Some(b'{') => self.object(|r, _| r.skip_value()),
            Some(b'[') => self.array(Reader::skip_value),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => self.refuse(),
        }
    }

    /// The text of the next value, checked.
    fn raw_value(&mut self) -> R<&'r str> {
        self.peek();
        let start = self.pos;
        self.skip_value()?;
        match self.text.get(start..self.pos) {
            Some(s) => Ok(s),
            None => self.refuse(),
        }
    }

    /// `null` or a string.
    #[inline]
    fn optional_string(&mut self) -> R<Option<Text<'r>>> {
        if self.null()? {
            Ok(None)
        } else {
            self.string().map(Some)
        }
    }

    /// The start of the input (after a byte order mark, if any): `{"Records": [` of an event,
    /// or a first object with another first field, read as the first line of JSON Lines.
    fn head(&mut self) -> R<Place> {
        if self.pos == 0 && self.text.starts_with('\u{feff}') {
            self.pos = '\u{feff}'.len_utf8();
        }
        self.peek();
        let start = self.pos;
        self.eat(b'{')?;
        if &*self.string()? != "Records" {
            self.pos = start;
            return Ok(Place::Lines);
        }
        self.eat(b':')?;
        self.eat(b'[')?;
        Ok(Place::First)
    }

    /// After the records array: another field (not a second `Records`), or the closing `}`.
    fn tail_field(&mut self) -> R<Place> {
        match self.peek() {
            Some(b'}') => {
                self.pos += 1;
                Ok(Place::End)
            }
            Some(b',') => {
                self.pos += 1;
                if &*self.string()? == "Records" {
                    return self.refuse();
                }
                self.eat(b':')?;
                self.skip_value()?;
                // A number the buffer cut would pass for a shorter one: only a value with
                // something after it is whole.
                if self.peek().is_none() {
                    return self.refuse();
                }
                Ok(Place::Tail)
            }
            _ => self.refuse(),
        }
    }

    /// `{"Records": [...], ...}`: other fields are ignored, `Records` must appear once.
    fn batch(&mut self, decoded: &mut Decoded<'r>, on_record: &mut OnRecord<'_, 'r>) -> R<()> {
        let mut seen = false;
        self.object(|r, key| {
            if &*key == "Records" {
                if std::mem::replace(&mut seen, true) {
                    return r.refuse();
                }
                r.records(decoded, on_record)
            } else {
                r.skip_value()
            }
        })?;
        if seen {
            Ok(())
        } else {
            self.refuse()
        }
    }

    /// `[record, ...]`, each handed over as soon as it is read.
    fn records(&mut self, decoded: &mut Decoded<'r>, on_record: &mut OnRecord<'_, 'r>) -> R<()> {
        self.array(|r| {
            r.record(decoded)?;
            r.hand_over(decoded, on_record)
        })
    }

    fn hand_over(&mut self, decoded: &mut Decoded<'r>, on_record: &mut OnRecord<'_, 'r>) -> R<()> {
        on_record(decoded).map_err(Stop::Caller)
    }

    /// One stream record into `out` (replacing what an earlier record left).
    fn record(&mut self, out: &mut Decoded<'r>) -> R<()> {
        out.clear();
        self.old_image_at = None;
        self.record_fields(out)?;
        if let Some((pos, depth)) = self.old_image_at.take() {
            if out.event_name.as_deref() == Some("REMOVE") {
                // Only the status was read, on the guess that a record with a NewImage is no
                // REMOVE; a REMOVE maps its whole OldImage, so read it again into its slots.
                let (end, end_depth) = (self.pos, self.depth);
                (self.pos, self.depth) = (pos, depth);
                self.old_image_slots(out)?;
                (self.pos, self.depth) = (end, end_depth);
            }
        }
        Ok(())
    }

    /// The fields of a stream record.
    fn record_fields(&mut self, out: &mut Decoded<'r>) -> R<()> {
        let mut seen = [false; 5];
        self.object(|r, key| {
            let field = match &*key {
                "eventID" => 0,
                "eventName" => 1,
                "eventSourceARN" => 2,
                "userIdentity" => 3,
                "dynamodb" => 4,
                other => {
                    r.records_field |= other == "Records";
                    return r.skip_value();
                }
            };
            if std::mem::replace(&mut seen[field], true) {
                return r.refuse();
            }
            match field {
                0 => out.event_id = r.optional_string()?,
                1 => out.event_name = r.optional_string()?,
                2 => out.event_source_arn = r.optional_string()?,
                3 => {
                    // Rare (TTL deletions): the typed struct reads it, from its checked text.
                    let raw = r.raw_value()?;
                    out.user_identity = match serde_json::from_str::<Option<UserIdentity>>(raw) {
                        Ok(identity) => identity,
                        Err(_) => return r.refuse(),
                    };
                }
                _ => {
                    if !r.null()? {
                        r.data(out)?;
                    }
                }
            }
            Ok(())
        })
    }

    /// The `dynamodb` object.
    fn data(&mut self, out: &mut Decoded<'r>) -> R<()> {
        out.has_dynamodb = true;
        let mut seen = [false; 5];
        self.object(|r, key| {
            let field = match &*key {
                "ApproximateCreationDateTime" => 0,
                "Keys" => 1,
                "NewImage" => 2,
                "OldImage" => 3,
                "SequenceNumber" => 4,
                _ => return r.skip_value(),
            };
            if std::mem::replace(&mut seen[field], true) {
                return r.refuse();
            }
            if field == 4 {
                out.sequence_number = r.optional_string()?;
                return Ok(());
            }
            if r.null()? {
                return Ok(());
            }
            match field {
                0 => {
                    let raw = r.raw_value()?;
                    out.creation_time = match serde_json::from_str::<&RawValue>(raw) {
                        Ok(raw) => Some(raw),
                        Err(_) => return r.refuse(),
                    };
                }
                1 => {
                    out.has_keys = true;
                    r.object(|r, name| {
                        let value = r.attribute()?;
                        out.keys.push((name, value));
                        Ok(())
                    })?;
                }
                2 => {
                    out.has_new_image = true;
                    r.object(|r, name| {
                        let value = r.attribute()?;
                        out.new_image.insert(name, value);
                        Ok(())
                    })?;
                }
                _ => r.old_image(out)?,
            }
            Ok(())
        })
    }

    /// `OldImage`: only its `status` when the event name is known and is not REMOVE, or is
    /// not known yet but a NewImage came first (a REMOVE has none; should it be one all the
    /// same, [`Reader::record`] reads the OldImage again); otherwise every attribute, in its
    /// slot ([`OldForm::Slots`]), which is what a REMOVE maps and where the mapping finds the
    /// status of any other event.
    fn old_image(&mut self, out: &mut Decoded<'r>) -> R<()> {
        out.has_old_image = true;
        match out.event_name.as_deref() {
            Some(name) if name != "REMOVE" => self.old_image_status(out),
            None if out.has_new_image => {
                self.peek();
                self.old_image_at = Some((self.pos, self.depth));
                self.old_image_status(out)
            }
            _ => self.old_image_slots(out),
        }
    }

    /// `OldImage` as [`OldForm::Status`]: its last `status`; the rest is checked, not kept.
    fn old_image_status(&mut self, out: &mut Decoded<'r>) -> R<()> {
        out.old_form = OldForm::Status;
        self.object(|r, name| {
            if &*name == "status" {
                out.old_status = Some(r.attribute()?);
                Ok(())
            } else {
                r.skip_attribute()
            }
        })
    }

    /// `OldImage` as [`OldForm::Slots`]: every attribute in its slot.
    fn old_image_slots(&mut self, out: &mut Decoded<'r>) -> R<()> {
        if out.old_slots.slots.len() != COLUMNS.len() {
            out.old_slots.clear();
        }
        out.old_status = None;
        out.old_form = OldForm::Slots;
        self.object(|r, name| {
            let value = r.attribute()?;
            out.old_slots.insert(name, value);
            Ok(())
        })
    }

    /// One attribute value: an object with exactly one type key. Always inlined, like
    /// [`Reader::string`], so that the value is built where it is kept; the other types take
    /// [`Reader::tagged`].
    #[inline(always)]
    fn attribute(&mut self) -> R<AttributeValue<'r>> {
        self.eat(b'{')?;
        self.enter()?;
        // The compact forms of the commonest types, `{"S":"…"}` and `{"N":"…"}`, skip the
        // general read of the type key.
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        let value = if rest.starts_with(b"\"S\":") {
            self.pos += 4;
            AttributeValue::S(self.string()?)
        } else if rest.starts_with(b"\"N\":") {
            self.pos += 4;
            AttributeValue::N(self.string()?)
        } else {
            self.tagged()?
        };
        self.eat(b'}')?;
        self.depth -= 1;
        Ok(value)
    }

    /// An attribute value after its `{`: the type key and its value.
    #[inline(never)]
    fn tagged(&mut self) -> R<AttributeValue<'r>> {
        let tag = self.string()?;
        self.eat(b':')?;
        Ok(match tag.as_bytes() {
            b"S" => AttributeValue::S(self.string()?),
            b"N" => AttributeValue::N(self.string()?),
            b"B" => AttributeValue::B(self.string()?),
            b"BOOL" => AttributeValue::Bool(self.boolean()?),
            b"NULL" => AttributeValue::Null(self.boolean()?),
            b"M" => {
                let mut item = Item::new();
                self.object(|r, name| {
                    let value = r.attribute()?;
                    item.insert(name, value);
                    Ok(())
                })?;
                AttributeValue::M(item)
            }
            b"L" => {
                let mut list = Vec::new();
                self.array(|r| {
                    list.push(r.attribute()?);
                    Ok(())
                })?;
                AttributeValue::L(list)
            }
            b"SS" => AttributeValue::Ss(self.strings()?),
            b"NS" => AttributeValue::Ns(self.strings()?),
            b"BS" => AttributeValue::Bs(self.strings()?),
            _ => return self.refuse(),
        })
    }

    fn strings(&mut self) -> R<Vec<Text<'r>>> {
        let mut out = Vec::new();
        self.array(|r| {
            out.push(r.string()?);
            Ok(())
        })?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::column_index;

    fn ids(text: &str, form: Form) -> R<Vec<String>> {
        let mut out = Vec::new();
        let mut decoded = Decoded::default();
        decode_document(text, form, &mut decoded, &mut |d| {
            out.push(d.event_id.as_deref().unwrap_or("-").to_owned());
            Ok(())
        })?;
        Ok(out)
    }

    fn refused(text: &str, form: Form) -> bool {
        matches!(ids(text, form), Err(Stop::Refused(_)))
    }

    #[test]
    fn finds_the_first_special_byte_of_a_word() {
        let word = |s: &[u8; 8]| specials(u64::from_le_bytes(*s));
        assert_eq!(word(b"abcdefgh"), 0);
        assert_eq!(word(b"abc\"efgh").trailing_zeros() / 8, 3);
        assert_eq!(word(b"a\\c\"efgh").trailing_zeros() / 8, 1);
        assert_eq!(word(b"abcdefg\n").trailing_zeros() / 8, 7);
        assert_eq!(word(b"\x00bcdefgh").trailing_zeros() / 8, 0);
        // Bytes above 0x7F (UTF-8) and just above the specials are not specials.
        assert_eq!(word(&[0xC3, 0xA9, 0x21, 0x23, 0x5B, 0x5D, 0x20, 0xFF]), 0);
        assert_eq!(
            word(&[0x21, 0x22, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]).trailing_zeros() / 8,
            1
        );
    }

    #[test]
    fn reads_every_form() {
        let batch = r#" {"NextShardIterator":"x","Records":[{"eventID":"a"},{"eventID":"b"}]} "#;
        assert_eq!(ids(batch, Form::Batch).unwrap(), ["a", "b"]);
        let array = r#"[{"eventID":"a"},{"eventID":"b","dynamodb":null}]"#;
        assert_eq!(ids(array, Form::Array).unwrap(), ["a", "b"]);
        let lines = "{\"eventID\":\"a\"}\n\n  {\"eventID\":\"b\"}\r\n";
        assert_eq!(ids(lines, Form::Lines).unwrap(), ["a", "b"]);
        let events = "{\"Records\":[{\"eventID\":\"a\"}]}\n{\"eventID\":\"b\"}";
        assert_eq!(ids(events, Form::Lines).unwrap(), ["a", "b"]);
        assert_eq!(ids("[]", Form::Array).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn decodes_escapes_and_borrows_plain_strings() {
        let text = r#"[{"eventID":"a\"b\\c\/d\b\f\n\r\t\u00e9\u20ac","eventName":"plain text, long enough to take the word loop"}]"#;
        let mut decoded = Decoded::default();
        let mut seen = Vec::new();
        decode_document(text, Form::Array, &mut decoded, &mut |d| {
            seen.push((d.event_id.clone(), d.event_name.clone()));
            Ok(())
        })
        .unwrap();
        let (id, name) = &seen[0];
        assert_eq!(id.as_deref(), Some("a\"b\\c/d\u{8}\u{c}\n\r\té€"));
        assert!(matches!(
            name.as_ref().map(|t| &t.0),
            Some(Cow::Borrowed(_))
        ));
    }

    #[test]
    fn refuses_what_it_leaves_to_the_serde_pass() {
        for (text, form) in [
            // Malformed JSON.
            (r#"[{"eventID":"a"},]"#, Form::Array),
            (r#"[{"eventID":"a"}] x"#, Form::Array),
            (r#"[{"eventID":"a}]"#, Form::Array),
            ("[{\"eventID\":\"a\u{1}\"}]", Form::Array),
            (r#"[{"eventID":"\x"}]"#, Form::Array),
            (r#"[{"x":01}]"#, Form::Array),
            (r#"[{"x":1.}]"#, Form::Array),
            (r#"[{"x":-}]"#, Form::Array),
            (r#"[{"x":tru}]"#, Form::Array),
            // Lone surrogates: the serde pass judges them.
            (r#"[{"eventID":"\ud800"}]"#, Form::Array),
            // Strings that are skipped are checked all the same.
            (r#"[{"zz":"\x"}]"#, Form::Array),
            (
                r#"[{"eventName":"MODIFY","dynamodb":{"OldImage":{"a":{"S":"b\x"}}}}]"#,
                Form::Array,
            ),
            (
                r#"[{"eventName":"MODIFY","dynamodb":{"OldImage":{"a":{"S":"b\ud800"}}}}]"#,
                Form::Array,
            ),
            (
                r#"[{"eventName":"MODIFY","dynamodb":{"OldImage":{"a":{"S":"\u12"}}}}]"#,
                Form::Array,
            ),
            (
                "[{\"eventName\":\"MODIFY\",\"dynamodb\":{\"OldImage\":{\"a\":{\"N\":\"\\n\u{1}\"}}}}]",
                Form::Array,
            ),
            // Structure the typed record does not take.
            (r#"[{"eventID":1}]"#, Form::Array),
            (r#"[{"eventID":"a","eventID":"b"}]"#, Form::Array),
            (r#"{"Records":[],"Records":[]}"#, Form::Batch),
            (r#"{"records":[]}"#, Form::Batch),
            (r#"{"Records":null}"#, Form::Batch),
            (
                r#"[{"dynamodb":{"NewImage":{"a":{"S":"x","N":"1"}}}}]"#,
                Form::Array,
            ),
            (r#"[{"dynamodb":{"NewImage":{"a":{}}}}]"#, Form::Array),
            (
                r#"[{"dynamodb":{"NewImage":{"a":{"X":"1"}}}}]"#,
                Form::Array,
            ),
            (r#"[{"dynamodb":{"NewImage":{"a":{"N":1}}}}]"#, Form::Array),
            (
                r#"[{"dynamodb":{"Keys":{"a":{"SS":["x",1]}}}}]"#,
                Form::Array,
            ),
            ("{\"eventID\":\"a\"}\nnot json", Form::Lines),
        ] {
            assert!(refused(text, form), "{text}");
        }
        let deep = format!(
            "[{{\"x\":{}{}}}]",
            "[".repeat(MAX_DEPTH),
            "]".repeat(MAX_DEPTH)
        );
        assert!(refused(&deep, Form::Array));
    }

    #[test]
    fn a_short_escaped_string_keeps_little_room() {
        let text = "\"a\\nb\"";
        let mut r = Reader::new(text);
        let Text(Cow::Owned(s)) = r.string().unwrap() else {
            panic!("an escaped string is decoded into its own String")
        };
        assert_eq!(s, "a\nb");
        assert!(s.capacity() <= 2 * s.len() + 64, "{}", s.capacity());
        // So does a longer one.
        let long = format!("\"{}\"", "x\\\"".repeat(100));
        let mut r = Reader::new(&long);
        let Text(Cow::Owned(s)) = r.string().unwrap() else {
            panic!("an escaped string is decoded into its own String")
        };
        assert_eq!(s, "x\"".repeat(100));
        assert!(s.capacity() <= 2 * s.len() + 64, "{}", s.capacity());
    }

    #[test]
    fn skipped_strings_take_every_escape_json_has() {
        let text = r#"[{"eventName":"MODIFY","zz":"\u0041\"","dynamodb":{"OldImage":{"a":{"S":"q\"\\\/\b\f\n\r\t\u00e9"},"status":{"S":"OK"}}}}]"#;
        let mut decoded = Decoded::default();
        let mut status = None;
        decode_document(text, Form::Array, &mut decoded, &mut |d| {
            status = d.old_status.clone();
            Ok(())
        })
        .unwrap();
        assert_eq!(status, Some(AttributeValue::S(Text(Cow::Borrowed("OK")))));
    }

    #[test]
    fn old_image_is_read_into_slots_unless_the_event_is_known_not_to_be_a_remove() {
        let mut decoded = Decoded::default();
        let mut forms = Vec::new();
        let text = r#"[
            {"eventName":"MODIFY","dynamodb":{"OldImage":{"status":{"S":"A"},"width":{"N":"1"}}}},
            {"dynamodb":{"OldImage":{"status":{"S":"B"}}},"eventName":"MODIFY"},
            {"eventName":"REMOVE","dynamodb":{"OldImage":{"status":{"S":"C"}}}},
            {"dynamodb":{"NewImage":{"status":{"S":"D"}},"OldImage":{"status":{"S":"E"},"tags":{"SS":["x"]}}},"eventName":"MODIFY"},
            {"dynamodb":{"NewImage":{"status":{"S":"F"}},"OldImage":{"width":{"N":"2"},"status":{"S":"G"},"tags":{"SS":["y"]}}},"eventName":"REMOVE"}
        ]"#;
        let mut old = Vec::new();
        decode_document(text, Form::Array, &mut decoded, &mut |d| {
            forms.push(d.old_form);
            let status = match d.old_form {
                OldForm::Status => d.old_status.clone(),
                _ => d.old_slots.slots[column_index("status").unwrap()].clone(),
            };
            let width = d
                .old_slots
                .slots
                .get(column_index("width").unwrap())
                .cloned()
                .flatten();
            old.push((status, width, d.old_slots.extras.len()));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            forms,
            [
                OldForm::Status,
                OldForm::Slots,
                OldForm::Slots,
                // NewImage first, event name last: only the status, unless it is a REMOVE.
                OldForm::Status,
                OldForm::Slots,
            ]
        );
        let s = |v: &str| Some(AttributeValue::S(Text(Cow::Owned(v.to_owned()))));
        let n = |v: &str| Some(AttributeValue::N(Text(Cow::Owned(v.to_owned()))));
        assert_eq!(old[0].0, s("A"));
        assert_eq!(old[3], (s("E"), None, 0));
        // The REMOVE's OldImage read again, whole: its status, its width, its extra attribute.
        assert_eq!(old[4], (s("G"), n("2"), 1));
    }

    #[test]
    fn an_error_from_the_caller_stops_the_pass() {
        let mut seen = 0;
        let mut decoded = Decoded::default();
        let result = decode_document(
            r#"[{"eventID":"a"},{"eventID":"b"}]"#,
            Form::Array,
            &mut decoded,
            &mut |_| {
                seen += 1;
                Err("stop".to_owned())
            },
        );
        assert_eq!(result, Err(Stop::Caller("stop".to_owned())));
        assert_eq!(seen, 1);
    }
}
