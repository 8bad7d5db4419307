//! Follows the request framing of a connection as its bytes are read, to tell which requests
//! carried both `Content-Length` and `Transfer-Encoding`. hyper reads such a request as chunked
//! and drops `Content-Length` before the router sees it, so the router alone cannot refuse it;
//! a proxy in front that reads `Content-Length` instead would see another request (smuggling).
//!
//! The scanner only needs the heads and enough framing to find the next one: a fixed-length
//! body is skipped, a chunked one is followed chunk by chunk. Anything it cannot follow makes
//! it stop (hyper refuses such a request and closes the connection anyway): it then reports
//! nothing more, never a wrong request.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Longest head (or chunk-size line, or trailer) followed; hyper refuses longer heads.
const MAX_LINE: usize = 512 * 1024;

/// For each request head read on a connection, in order: whether it declared both lengths.
pub type Heads = Arc<Mutex<VecDeque<bool>>>;

#[derive(Debug)]
enum State {
    Head(Vec<u8>),
    /// Bytes of a body (or of a chunk and its CRLF) left to skip; then `then`.
    Skip(u64, Next),
    ChunkSize(Vec<u8>),
    Trailer(Vec<u8>),
    Lost,
}

#[derive(Debug, Clone, Copy)]
enum Next {
    Head,
    ChunkSize,
}

/// The framing of one connection's requests.
#[derive(Debug)]
pub struct Scanner {
    state: State,
    heads: Heads,
}

impl Scanner {
    pub fn new(heads: Heads) -> Scanner {
        Scanner {
            state: State::Head(Vec::new()),
            heads,
        }
    }

    /// Follows the next bytes read from the client.
    pub fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match &mut self.state {
                State::Lost => return,
                State::Skip(left, next) => {
                    let n = (*left).min(data.len() as u64);
                    *left -= n;
                    data = &data[n as usize..];
                    if *left == 0 {
                        self.state = match next {
                            Next::Head => State::Head(Vec::new()),
                            Next::ChunkSize => State::ChunkSize(Vec::new()),
                        };
                    }
                }
                State::Head(buf) => {
                    if take_line(buf, &mut data).is_none() {
                        continue;
                    }
                    // Empty lines before a request line are skipped, as hyper does.
                    if buf == b"\r\n" || buf == b"\n" {
                        buf.clear();
                        continue;
                    }
                    if buf.ends_with(b"\r\n\r\n") || buf.ends_with(b"\n\n") {
                        let head = std::mem::take(buf);
                        self.state = self.head(&head);
                    }
                }
                State::ChunkSize(buf) => {
                    if take_line(buf, &mut data).is_none() {
                        continue;
                    }
                    let line = String::from_utf8_lossy(buf);
                    let digits = line.split(';').next().unwrap_or("").trim();
                    self.state = match u64::from_str_radix(digits, 16) {
                        Ok(0) => State::Trailer(Vec::new()),
                        Ok(size) => State::Skip(size.saturating_add(2), Next::ChunkSize),
                        Err(_) => State::Lost,
                    };
                }
                State::Trailer(buf) => {
                    if take_line(buf, &mut data).is_none() {
                        continue;
                    }
                    self.state = if buf == b"\r\n" || buf == b"\n" {
                        State::Head(Vec::new())
                    } else {
                        State::Trailer(Vec::new())
                    };
                }
            }
        }
    }

    /// Records a complete head and returns how its body is framed.
    fn head(&self, head: &[u8]) -> State {
        let text = String::from_utf8_lossy(head);
        let mut length: Option<u64> = None;
        let mut chunked = None;
        for line in text.lines().skip(1) {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim());
            if name.eq_ignore_ascii_case("content-length") {
                match value.parse() {
                    Ok(n) => length = Some(n),
                    Err(_) => return State::Lost,
                }
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                let last = value.rsplit(',').next().unwrap_or("").trim();
                chunked = Some(last.eq_ignore_ascii_case("chunked"));
            }
        }
        if let Ok(mut heads) = self.heads.lock() {
            heads.push_back(length.is_some() && chunked.is_some());
        }
        match (chunked, length) {
            (Some(true), _) => State::ChunkSize(Vec::new()),
            (Some(false), _) => State::Lost,
            (None, Some(n)) if n > 0 => State::Skip(n, Next::Head),
            (None, _) => State::Head(Vec::new()),
        }
    }
}

/// Moves bytes from `data` into `buf` up to and including the next `\n`: `Some(())` once a
/// line ends, `None` when `data` ran out first. A line longer than [`MAX_LINE`] is cut short
/// (its framing then fails to parse, or the head is refused by hyper).
fn take_line(buf: &mut Vec<u8>, data: &mut &[u8]) -> Option<()> {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => {
            if buf.len() < MAX_LINE {
                buf.extend_from_slice(&data[..=i]);
            }
            *data = &data[i + 1..];
            // A head is complete only at an empty line; the caller checks.
            Some(())
        }
        None => {
            if buf.len() < MAX_LINE {
                buf.extend_from_slice(data);
            }
            *data = &[];
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(chunks: &[&[u8]]) -> Vec<bool> {
        let heads = Heads::default();
        let mut scanner = Scanner::new(heads.clone());
        for chunk in chunks {
            scanner.feed(chunk);
        }
        let seen = heads.lock().unwrap().iter().copied().collect();
        seen
    }

    #[test]
    fn each_pipelined_head_is_seen_across_bodies_of_both_framings() {
        let wire: &[u8] = b"PUT /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nGET /x\r\n\
            POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext\r\nabc\r\n0\r\nX-T: 1\r\n\r\n\
            PUT /c HTTP/1.1\r\ntransfer-encoding: chunked\r\ncontent-length: 10\r\n\r\n0\r\n\r\n\
            GET /d HTTP/1.1\r\n\r\n";
        assert_eq!(scan(&[wire]), [false, false, true, false]);
        // The same bytes one at a time.
        let bytes: Vec<&[u8]> = wire.chunks(1).collect();
        assert_eq!(scan(&bytes), [false, false, true, false]);
    }

    #[test]
    fn both_orders_of_the_two_lengths_are_seen_and_bad_framing_stops_the_scan() {
        assert_eq!(
            scan(&[b"PUT / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"]),
            [true]
        );
        assert_eq!(
            scan(&[b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"]),
            [true]
        );
        assert_eq!(
            scan(&[
                b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET / HTTP/1.1\r\n\r\n"
            ]),
            [false]
        );
    }
}
