//! The scanner's JSON cursor: whitespace, strings (scanned eight bytes at a time, borrowed
//! unless escaped), numbers, literals, objects and arrays, and values skipped but checked.
//! What it does not read exactly as serde_json would, it refuses.

use std::borrow::Cow;

use super::{fitted, Refused, ESCAPED_ROOM, MAX_DEPTH, R};
use crate::attr::Text;

/// A cursor over JSON text.
pub(super) struct Reader<'r> {
    pub(super) text: &'r str,
    pub(super) bytes: &'r [u8],
    pub(super) pos: usize,
    pub(super) depth: usize,
    /// A record read had a top-level `Records` field (ignored, as the typed record does).
    pub(super) records_field: bool,
    /// Where (position, depth) the current record's `OldImage` starts, when only its status
    /// was read before the event name was known: a REMOVE reads it again, whole.
    pub(super) old_image_at: Option<(usize, usize)>,
}

/// Bytes of `word` (little-endian) that end a string scan: `"`, `\` or a control character
/// (below 0x20, which JSON does not allow raw in a string). The lowest set high bit marks the
/// first such byte; bits above it may be wrong, so only the lowest is used.
#[inline]
pub(super) fn specials(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x;
    (zero_byte(quote) | zero_byte(backslash) | (word.wrapping_sub(ONES * 0x20) & !word)) & HIGHS
}

impl<'r> Reader<'r> {
    pub(super) fn new(text: &'r str) -> Self {
        Reader {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            depth: 0,
            records_field: false,
            old_image_at: None,
        }
    }

    pub(super) fn refuse<T>(&self) -> R<T> {
        Err(Refused(self.pos))
    }

    /// Skips whitespace; the next byte, if any.
    #[inline]
    pub(super) fn peek(&mut self) -> Option<u8> {
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
    pub(super) fn eat(&mut self, c: u8) -> R<()> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            self.refuse()
        }
    }

    /// Only whitespace is left.
    pub(super) fn end(&mut self) -> R<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => self.refuse(),
        }
    }

    pub(super) fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.refuse();
        }
        Ok(())
    }

    /// `{ "key": value, ... }`: `field` reads each value, given its key.
    #[inline]
    pub(super) fn object(&mut self, mut field: impl FnMut(&mut Self, Text<'r>) -> R<()>) -> R<()> {
        self.eat(b'{')?;
        self.items(b'}', |r| {
            let key = r.string()?;
            r.eat(b':')?;
            field(r, key)
        })
    }

    /// `[ value, ... ]`: `element` reads each value.
    #[inline]
    pub(super) fn array(&mut self, element: impl FnMut(&mut Self) -> R<()>) -> R<()> {
        self.eat(b'[')?;
        self.items(b']', element)
    }

    /// After an opening bracket: items separated by `,`, up to `close`.
    #[inline]
    pub(super) fn items(&mut self, close: u8, mut item: impl FnMut(&mut Self) -> R<()>) -> R<()> {
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
    pub(super) fn string(&mut self) -> R<Text<'r>> {
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
    pub(super) fn scan(&mut self, mut i: usize) -> R<usize> {
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
    pub(super) fn special(&mut self, i: usize) -> R<usize> {
        if self.bytes[i] < 0x20 {
            self.pos = i;
            return self.refuse();
        }
        Ok(i)
    }

    /// The rest of a string whose first escape is at `at`; JSON escapes other than `\u` for a
    /// surrogate (which the serde pass judges) are decoded.
    #[cold]
    pub(super) fn escaped(&mut self, start: usize, mut at: usize) -> R<String> {
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
                    let Some((c, len)) = self.unicode_escape(at) else {
                        return self.refuse();
                    };
                    out.push(c);
                    from = at + len;
                    at = self.scan(from)?;
                    continue;
                }
                _ => return self.refuse(),
            };
            out.push(c);
            from = at + 2;
            at = self.scan(from)?;
        }
    }

    /// The character of the `\uXXXX` escape at `at`, and the escape's length: a UTF-16
    /// surrogate pair (`\uD83D\uDE00`, as `ensure_ascii` writers escape emoji) is one
    /// character of 12 bytes. `None` for anything else, a lone surrogate included (the exact
    /// reader judges those).
    pub(super) fn unicode_escape(&self, at: usize) -> Option<(char, usize)> {
        let hex = |i: usize| -> Option<u32> {
            let h = self.bytes.get(i..i + 4)?;
            if !h.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
        };
        let code = hex(at + 2)?;
        if let Some(c) = char::from_u32(code) {
            return Some((c, 6));
        }
        if !(0xD800..0xDC00).contains(&code) || self.bytes.get(at + 6..at + 8)? != b"\\u" {
            return None;
        }
        let low = hex(at + 8).filter(|low| (0xDC00..0xE000).contains(low))?;
        let c = char::from_u32(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00))?;
        Some((c, 12))
    }

    /// An attribute value to be ignored, checked as [`Reader::skip_value`] checks it. The
    /// common `{"S":"…"}` and `{"N":"…"}` skip the general object walk.
    pub(super) fn skip_attribute(&mut self) -> R<()> {
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
    pub(super) fn skip_string(&mut self) -> R<()> {
        self.string().map(drop)
    }

    pub(super) fn literal(&mut self, word: &[u8]) -> R<()> {
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
    pub(super) fn null(&mut self) -> R<bool> {
        if self.peek() == Some(b'n') {
            self.literal(b"null")?;
            return Ok(true);
        }
        Ok(false)
    }

    pub(super) fn boolean(&mut self) -> R<bool> {
        match self.peek() {
            Some(b't') => self.literal(b"true").map(|()| true),
            Some(b'f') => self.literal(b"false").map(|()| false),
            _ => self.refuse(),
        }
    }

    /// A JSON number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    pub(super) fn number(&mut self) -> R<()> {
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
    pub(super) fn skip_value(&mut self) -> R<()> {
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
    pub(super) fn raw_value(&mut self) -> R<&'r str> {
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
    pub(super) fn optional_string(&mut self) -> R<Option<Text<'r>>> {
        if self.null()? {
            Ok(None)
        } else {
            self.string().map(Some)
        }
    }
}
