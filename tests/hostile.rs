//! Hostile clients against the real `imglake serve` on 127.0.0.1: slow bodies that reconnect,
//! idle, half-sent, busy and never-reading connections beyond the cap, large declared bodies,
//! reads with bodies, ambiguous or malformed framing, replayed and misordered forms, bad
//! headers, foreign `Host` names, form floods and decompression bombs. Each test is bounded
//! in time; `.config/nextest.toml` runs each alone so that other tests do not steal the CPU
//! its latency budgets measure.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use imglake_pipeline::samples::{jpeg, photo};
use serde_json::Value;

use crate::demo_serve::{http, json_of, Server};

/// What every latency probe must stay under.
const PROBE_BUDGET: Duration = Duration::from_millis(100);

/// Writes `raw` as is and reads the whole answer (the server closes after it).
fn raw_exchange(addr: &str, raw: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let _ = stream.write_all(raw);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// An image's item, polled until `done` holds (or 30 s pass).
fn item_until(addr: &str, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = http(addr, "GET", &format!("/images/{id}"), &[], b"").expect("GET");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let item = json_of(&body);
        if done(&item) {
            return item;
        }
        assert!(Instant::now() < deadline, "{item}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A presigned form from `POST /images`: (image id, upload path on this server, fields).
fn form(addr: &str) -> (String, String, Vec<(String, String)>) {
    let (status, body) = http(addr, "POST", "/images", &[], b"").expect("POST answered");
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let created = json_of(&body);
    let url = created["upload"]["url"].as_str().expect("url");
    let path = url.split_once(addr).expect("form points here").1.to_owned();
    let fields = created["upload"]["fields"]
        .as_object()
        .expect("fields")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned()))
        .collect();
    (
        created["image_id"].as_str().expect("id").to_owned(),
        path,
        fields,
    )
}

const BOUNDARY: &str = "imglake-hostile";

/// A multipart body: the fields, with the file first or last.
fn multipart(fields: &[(String, String)], file: &[u8], file_first: bool) -> Vec<u8> {
    let mut fields_part = Vec::new();
    for (name, value) in fields {
        fields_part.extend(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    let mut file_part = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n\r\n"
    )
    .into_bytes();
    file_part.extend_from_slice(file);
    file_part.extend_from_slice(b"\r\n");
    let mut body = if file_first {
        [file_part, fields_part].concat()
    } else {
        [fields_part, file_part].concat()
    };
    body.extend(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn post_form(addr: &str, path: &str, body: &[u8]) -> (u16, Value) {
    let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
    let (status, answer) = http(addr, "POST", path, &[("Content-Type", &content_type)], body)
        .expect("upload answered");
    let value = if answer.is_empty() {
        Value::Null
    } else {
        json_of(&answer)
    };
    (status, value)
}

fn start(data: &Path, extra: &[&str]) -> Server {
    Server::start(data, extra)
}

/// One slow client: `PUT /images` declaring 1000 bytes, then one byte a second; when cut,
/// it reconnects. Returns the answers it got, by status.
fn slow_client(addr: String, stop: Arc<AtomicBool>, cut: Arc<AtomicU64>, other: Arc<AtomicU64>) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut stream) = TcpStream::connect(&addr) else {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(1000)));
        if stream
            .write_all(b"PUT /images HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n")
            .is_err()
        {
            continue;
        }
        let mut answer = Vec::new();
        loop {
            // Waits a second for an answer, then sends one more byte.
            let mut buf = [0u8; 1024];
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    if stop.load(Ordering::Relaxed) || stream.write_all(b"x").is_err() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        if answer.starts_with(b"HTTP/1.1 408") {
            cut.fetch_add(1, Ordering::Relaxed);
        } else if !answer.is_empty() {
            other.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Times one request on a fresh connection.
fn timed(addr: &str, method: &str, path: &str, body: &[u8]) -> (u16, Duration) {
    let started = Instant::now();
    let (status, _) = http(addr, method, path, &[], body).expect("answered");
    (status, started.elapsed())
}

#[test]
fn slow_uploads_that_reconnect_never_delay_health_or_reads_and_uploads_still_land() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The defaults: 8 KB/s after a 2 s grace, 32 read permits, 128 upload slots.
    let server = start(&dir.path().join("data"), &[]);
    let addr = server.addr.clone();
    let image = jpeg(&photo(320, 240, 1), 85);
    let (status, body) = http(&addr, "PUT", "/images", &[], &image).expect("PUT");
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
    let id = json_of(&body)["image_id"].as_str().expect("id").to_owned();

    let stop = Arc::new(AtomicBool::new(false));
    let cut = Arc::new(AtomicU64::new(0));
    let other = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..64)
        .map(|_| {
            let (addr, stop, cut, other) = (addr.clone(), stop.clone(), cut.clone(), other.clone());
            std::thread::spawn(move || slow_client(addr, stop, cut, other))
        })
        .collect();
    // Let every slow client hold its upload before probing.
    std::thread::sleep(Duration::from_millis(500));

    let attack = Duration::from_secs(8);
    let started = Instant::now();
    let (mut worst_health, mut worst_read, mut probes, mut uploads) =
        (Duration::ZERO, Duration::ZERO, 0, 0);
    let mut next_upload = Instant::now();
    while started.elapsed() < attack {
        let (status, took) = timed(&addr, "GET", "/healthz", b"");
        assert_eq!(status, 200);
        worst_health = worst_health.max(took);
        let (status, took) = timed(&addr, "GET", &format!("/images/{id}"), b"");
        assert_eq!(status, 200);
        worst_read = worst_read.max(took);
        probes += 1;
        if Instant::now() >= next_upload {
            // A normal client uploading in the middle of the attack is accepted.
            let image = jpeg(&photo(200, 150, 10 + uploads), 85);
            let (status, body) = http(&addr, "PUT", "/images", &[], &image).expect("PUT");
            assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
            uploads += 1;
            next_upload = Instant::now() + Duration::from_secs(1);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().expect("slow client");
    }
    let (cut, other) = (cut.load(Ordering::Relaxed), other.load(Ordering::Relaxed));
    eprintln!(
        "64 slow clients: {probes} probes, worst /healthz {worst_health:?}, worst GET \
         /images/{{id}} {worst_read:?}; {cut} slow uploads cut with 408, {other} other answers; \
         {uploads} normal uploads accepted"
    );
    assert!(worst_health < PROBE_BUDGET, "{worst_health:?}");
    assert!(worst_read < PROBE_BUDGET, "{worst_read:?}");
    // Every slow client was cut at least once (2 s grace in an 8 s attack) and came back.
    assert!(cut >= 64, "{cut} cut, {other} other");
    assert!(uploads >= 5, "{uploads}");
    server.stop();
}

#[test]
fn framing_attacks_are_refused_as_bad_requests() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(&dir.path().join("data"), &[]);
    let addr = server.addr.as_str();
    // A malformed chunk size is a bad request, not a timeout.
    let answer = raw_exchange(
        addr,
        b"PUT /images HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("malformed_body"), "{answer}");
    // Both lengths, in either order, are refused, and what would be smuggled after the
    // declared length is never answered as a request of its own.
    for head in [
        "Content-Length: 4\r\nTransfer-Encoding: chunked",
        "Transfer-Encoding: chunked\r\nContent-Length: 4",
    ] {
        let smuggle = format!(
            "PUT /images HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        );
        let answer = raw_exchange(addr, smuggle.as_bytes());
        assert!(answer.starts_with("HTTP/1.1 400"), "{head}: {answer}");
        assert!(answer.contains("ambiguous_length"), "{answer}");
        assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "{answer}");
    }
    // A well-framed chunked upload still works, and so does a keep-alive request after it.
    let image = jpeg(&photo(64, 48, 3), 85);
    let mut chunked = format!(
        "PUT /images HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
        image.len()
    )
    .into_bytes();
    chunked.extend_from_slice(&image);
    chunked.extend_from_slice(
        b"\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    let answer = raw_exchange(addr, &chunked);
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
    assert_eq!(answer.matches("HTTP/1.1 200").count(), 1, "{answer}");
    server.stop();
}

#[test]
fn forms_are_refused_when_replayed_with_another_file_misordered_or_flooded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = start(&data, &["--forms-per-minute", "6"]);
    let addr = server.addr.as_str();
    let first = jpeg(&photo(320, 240, 4), 85);
    let (id, path, fields) = form(addr);

    // The file before the policy: S3 ignores fields after the file, and the message says so.
    let (status, answer) = post_form(addr, &path, &multipart(&fields, &first, true));
    assert_eq!(status, 400, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("the file must be the last field"),
        "{message}"
    );
    assert!(message.contains("`policy`"), "{message}");

    let (status, answer) = post_form(addr, &path, &multipart(&fields, &first, false));
    assert_eq!(status, 204, "{answer}");
    // Past PROCESSING too: a worker may be between the two when polled.
    let processed = item_until(addr, &id, |item| {
        item["status"] != "RECEIVED" && item["status"] != "PROCESSING"
    });
    assert_eq!(processed["status"], "PROCESSED", "{processed}");
    // The same form and file again is a retry, answered as the first time.
    let (status, answer) = post_form(addr, &path, &multipart(&fields, &first, false));
    assert_eq!(status, 204, "{answer}");
    // The same form with another file would replace a processed image: refused.
    let other = jpeg(&photo(321, 241, 5), 85);
    let (status, answer) = post_form(addr, &path, &multipart(&fields, &other, false));
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["error"]["code"], "KeyAlreadyUploaded");
    let after = item_until(addr, &id, |_| true);
    assert_eq!(after["status"], "PROCESSED");
    assert_eq!(after["width"], processed["width"], "{after}");

    // The form rate: 6 a minute per client; the one above and 5 more, then 429.
    for _ in 0..5 {
        let (status, _) = http(addr, "POST", "/images", &[], b"").expect("POST");
        assert_eq!(status, 201);
    }
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .write_all(
            b"POST /images HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
        .expect("write");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after:"),
        "{answer}"
    );
    assert!(answer.contains("too_many_forms"), "{answer}");
    // Reads are not rate limited.
    let (status, _) = http(addr, "GET", &format!("/images/{id}"), &[], b"").expect("GET");
    assert_eq!(status, 200);
    // The refused replay replaced nothing, and the summary says so.
    let log = server.stop();
    assert!(log.contains("replaced uploads 0"), "{log}");
    assert!(log.contains("refused replays 1"), "{log}");
}

#[test]
fn bad_tenant_and_idempotency_headers_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(&dir.path().join("data"), &[]);
    let addr = server.addr.as_str();
    let image = jpeg(&photo(64, 48, 6), 85);
    let bad: [&[u8]; 3] = [
        b"X-Imglake-Tenant: caf\xc3\xa9\r\n",
        b"X-Imglake-Tenant: a\r\nX-Imglake-Tenant: b\r\n",
        b"Idempotency-Key: a b\r\n",
    ];
    for headers in bad {
        let mut request = format!(
            "PUT /images HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
            image.len()
        )
        .into_bytes();
        request.extend_from_slice(headers);
        request.extend_from_slice(b"\r\n");
        request.extend_from_slice(&image);
        let answer = raw_exchange(addr, &request);
        assert!(
            answer.starts_with("HTTP/1.1 400"),
            "{}: {answer}",
            String::from_utf8_lossy(headers)
        );
    }
    server.stop();
}

#[test]
fn an_unused_form_expires_into_abandoned_and_bombs_are_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(&dir.path().join("data"), &["--form-expiry", "1s"]);
    let addr = server.addr.as_str();
    let (id, _, _) = form(addr);
    let abandoned = item_until(addr, &id, |item| item["status"] != "RECEIVED");
    assert_eq!(abandoned["status"], "ABANDONED", "{abandoned}");
    // A 1×1 GIF whose frame declares 65535×65535: refused for the frame, before decoding.
    let mut gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00".to_vec();
    gif.extend_from_slice(&[0, 0, 0, 255, 255, 255]);
    gif.extend_from_slice(&[0x2C, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x00]);
    gif.extend_from_slice(&[0x02, 0x02, 0x4C, 0x01, 0x00, 0x3B]);
    let started = Instant::now();
    let (status, body) = http(addr, "PUT", "/images", &[], &gif).expect("PUT");
    assert_eq!(status, 422, "{}", String::from_utf8_lossy(&body));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let refused = json_of(&body);
    assert_eq!(refused["status"], "REJECTED", "{refused}");
    assert_eq!(
        refused["error"]["code"], "pixel_budget_exceeded",
        "{refused}"
    );
    assert_eq!(
        refused["error"]["message"],
        "GIF's first frame declares 65535×65535 = 4.3 GP, above the 50 MP budget (its canvas is 1×1)"
    );
    server.stop();
}

/// One request on a fresh connection, with `headers` (`Name: value\r\n` each) and no body:
/// the status and the whole answer, or `None` when nothing came back within `wait`.
fn probe(addr: &str, head: &str, wait: Duration) -> Option<(u16, String, Duration)> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(wait)).ok()?;
    stream.write_all(head.as_bytes()).ok()?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
        // Answers here are small: stop at the end of the body.
        if answer.windows(4).any(|w| w == b"\r\n\r\n") && !head.contains("keep-alive") {
            let text = String::from_utf8_lossy(&answer);
            let length = text
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_owned())
                })
                .and_then(|v| v.parse::<usize>().ok());
            let split = answer
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .unwrap_or(0)
                + 4;
            if length.is_some_and(|n| answer.len() >= split + n) {
                break;
            }
        }
    }
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    Some((status, text, took))
}

const HEALTH: &str = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";

#[test]
fn more_idle_connections_than_the_cap_never_keep_health_out_and_headless_ones_close() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A small cap keeps the test cheap; the default header timeout (5 s).
    let server = start(&dir.path().join("data"), &["--max-connections", "8"]);
    let addr = server.addr.as_str();
    // 12 connections that send nothing and 4 that send half a head: twice the cap.
    let mut idle: Vec<TcpStream> = (0..12)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect();
    for _ in 0..4 {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.write_all(b"GET /healthz HTTP/1.1\r\nHo").expect("write");
        idle.push(s);
    }
    std::thread::sleep(Duration::from_millis(300));
    let mut worst = Duration::ZERO;
    for _ in 0..10 {
        let (status, answer, took) =
            probe(addr, HEALTH, Duration::from_secs(3)).expect("/healthz answered within 3 s");
        assert_eq!(status, 200, "{answer}");
        worst = worst.max(took);
        // More idle clients arrive between probes.
        idle.push(TcpStream::connect(addr).expect("connect"));
    }
    eprintln!("16+ idle connections over a cap of 8: worst /healthz {worst:?}");
    assert!(worst < PROBE_BUDGET, "{worst:?}");
    drop(idle);
    // A connection that sends no complete head is closed after the header timeout, not the
    // 30 s body timeout.
    std::thread::sleep(Duration::from_millis(300));
    let mut silent = TcpStream::connect(addr).expect("connect");
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let result = silent.read(&mut buf);
    let took = started.elapsed();
    let timed_out = result.as_ref().is_err_and(|e| {
        matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )
    });
    assert!(!timed_out, "still open after {took:?}");
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_secs(8),
        "closed after {took:?}: {result:?}"
    );
    server.stop();
}

/// A `PUT /images` declaring `declared` bytes that sends `per_second` bytes a second until
/// `stop`, then goes away.
fn trickling_upload(
    addr: String,
    declared: usize,
    per_second: usize,
    stop: Arc<AtomicBool>,
    started: std::sync::mpsc::Sender<()>,
) {
    let Ok(mut stream) = TcpStream::connect(&addr) else {
        return;
    };
    let head =
        format!("PUT /images HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {declared}\r\n\r\n");
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }
    let _ = started.send(());
    let chunk = vec![b'x'; per_second / 10];
    let mut sent = 0;
    while !stop.load(Ordering::Relaxed) && sent + chunk.len() < declared {
        if stream.write_all(&chunk).is_err() {
            return;
        }
        sent += chunk.len();
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `n` clients each running [`trickling_upload`] of 1.9 MB at 4 KB/s until [`stop`](Self::stop).
struct TricklingUploads {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl TricklingUploads {
    /// Returns once every client has connected and sent its head, and serve has had a
    /// moment to read them: a client still connecting when a test's own request takes the
    /// last ordinary connection would land on a reserve one and be refused.
    fn start(addr: &str, n: usize) -> TricklingUploads {
        let stop = Arc::new(AtomicBool::new(false));
        let (started, heads) = std::sync::mpsc::channel();
        let threads = (0..n)
            .map(|_| {
                let (addr, stop, started) = (addr.to_owned(), stop.clone(), started.clone());
                std::thread::spawn(move || trickling_upload(addr, 1_900_000, 4000, stop, started))
            })
            .collect();
        for _ in 0..n {
            heads
                .recv_timeout(Duration::from_secs(10))
                .expect("a trickling upload connected and sent its head");
        }
        std::thread::sleep(Duration::from_millis(500));
        TricklingUploads { stop, threads }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            thread.join().expect("trickling upload");
        }
    }
}

#[test]
fn uploads_that_declare_large_bodies_and_trickle_leave_memory_for_small_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 2 MB of upload memory; attackers declare 1.9 MB each and send 4 KB/s, above the
    // minimum rate of 1 KB/s, so they are not cut during the test.
    let server = start(
        &dir.path().join("data"),
        &[
            "--upload-memory",
            "2MB",
            "--max-uploads",
            "16",
            "--min-body-rate",
            "1KB",
        ],
    );
    let addr = server.addr.clone();
    let attackers = TricklingUploads::start(&addr, 6);
    let mut worst = Duration::ZERO;
    for n in 0..5 {
        let image = jpeg(&photo(200, 150, 40 + n), 85);
        let started = Instant::now();
        let (status, body) = http(&addr, "PUT", "/images", &[], &image).expect("PUT");
        let took = started.elapsed();
        assert_eq!(
            status,
            202,
            "after {took:?}: {}",
            String::from_utf8_lossy(&body)
        );
        worst = worst.max(took);
    }
    eprintln!("6 uploads declaring 1.9 MB at 4 KB/s: worst small PUT {worst:?}");
    assert!(worst < Duration::from_secs(1), "{worst:?}");
    attackers.stop();
    server.stop();
}

#[test]
fn reads_with_a_body_are_refused_before_the_body_is_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(&dir.path().join("data"), &["--max-requests", "2"]);
    let addr = server.addr.as_str();
    // Bodies that never come: each is answered at once, without waiting for them.
    for head in [
        "GET /images/01ARZ3NDEKTSV4RRFFQ69G5FAV HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\nabc",
        "HEAD /images/01ARZ3NDEKTSV4RRFFQ69G5FAV HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\n",
    ] {
        let (status, answer, took) =
            probe(addr, head, Duration::from_secs(2)).expect("answered within 2 s");
        assert_eq!(status, 400, "{head}: {answer}");
        assert!(took < Duration::from_secs(1), "{head}: {took:?}");
        if !head.starts_with("HEAD") {
            assert!(answer.contains("body_not_allowed"), "{answer}");
        }
    }
    // An empty body is not a body.
    let (status, _, _) = probe(
        addr,
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        Duration::from_secs(2),
    )
    .expect("answered");
    assert_eq!(status, 200);
    server.stop();
}

/// The value of header `name` (lower case) in a raw answer.
fn header_of(answer: &str, name: &str) -> Option<String> {
    answer.split("\r\n\r\n").next()?.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

#[test]
fn the_guards_refusals_carry_cors_headers_for_allowed_origins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(&dir.path().join("data"), &["--forms-per-minute", "1"]);
    let addr = server.addr.as_str();
    let origin = "http://localhost:5173";
    let form = format!(
        "POST /images HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: {origin}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let (status, answer, _) = probe(addr, &form, Duration::from_secs(5)).expect("answered");
    assert_eq!(status, 201, "{answer}");
    let (status, answer, _) = probe(addr, &form, Duration::from_secs(5)).expect("answered");
    assert_eq!(status, 429, "{answer}");
    assert_eq!(
        header_of(&answer, "access-control-allow-origin").as_deref(),
        Some(origin),
        "{answer}"
    );
    let exposed = header_of(&answer, "access-control-expose-headers").unwrap_or_default();
    assert!(exposed.contains("retry-after"), "{answer}");
    assert!(header_of(&answer, "retry-after").is_some(), "{answer}");
    assert!(
        header_of(&answer, "vary")
            .unwrap_or_default()
            .contains("origin"),
        "{answer}"
    );
    // The guard's 400 for ambiguous framing, to an upload.
    let smuggle = format!(
        "PUT /images HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: {origin}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n"
    );
    let (status, answer, _) = probe(addr, &smuggle, Duration::from_secs(5)).expect("answered");
    assert_eq!(status, 400, "{answer}");
    assert_eq!(
        header_of(&answer, "access-control-allow-origin").as_deref(),
        Some(origin),
        "{answer}"
    );
    // An origin not allowed gets no CORS header, and every API answer varies by origin.
    let other = form.replace(origin, "http://evil.example");
    let (status, answer, _) = probe(addr, &other, Duration::from_secs(5)).expect("answered");
    assert_eq!(status, 429, "{answer}");
    assert_eq!(
        header_of(&answer, "access-control-allow-origin"),
        None,
        "{answer}"
    );
    let plain = "GET /images/01ARZ3NDEKTSV4RRFFQ69G5FAV HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    let (_, answer, _) = probe(addr, plain, Duration::from_secs(5)).expect("answered");
    assert!(
        header_of(&answer, "vary")
            .unwrap_or_default()
            .contains("origin"),
        "{answer}"
    );
    server.stop();
}

#[test]
fn an_upload_to_an_abandoned_image_is_refused_though_its_form_is_still_valid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    // A form valid for 15 minutes...
    let server = start(&data, &[]);
    let (id, path, fields) = form(&server.addr);
    server.stop();
    // ...and a restart with forms valid for 1 s: the sweep abandons the image.
    let server = start(&data, &["--form-expiry", "1s"]);
    let addr = server.addr.as_str();
    let abandoned = item_until(addr, &id, |item| item["status"] != "RECEIVED");
    assert_eq!(abandoned["status"], "ABANDONED", "{abandoned}");
    let image = jpeg(&photo(64, 48, 7), 85);
    let (status, answer) = post_form(addr, &path, &multipart(&fields, &image, false));
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["error"]["code"], "UploadAbandoned", "{answer}");
    // Nothing was stored, and the image stays abandoned.
    assert!(!data.join("raw").join("images").join(&id).exists());
    std::thread::sleep(Duration::from_millis(500));
    let after = item_until(addr, &id, |_| true);
    assert_eq!(after["status"], "ABANDONED", "{after}");
    server.stop();
}

#[test]
fn a_foreign_host_is_refused_so_dns_rebinding_cannot_read_the_console_or_the_api() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = start(&data, &[]);
    let addr = server.addr.clone();
    let port = addr.rsplit_once(':').expect("port").1.to_owned();
    let get = |path: &str, host: &str| {
        let head = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        probe(&addr, &head, Duration::from_secs(5)).expect("answered")
    };
    for path in ["/", "/healthz", "/images/01ARZ3NDEKTSV4RRFFQ69G5FAV"] {
        let (status, answer, _) = get(path, &format!("rebind.evil.example:{port}"));
        assert_eq!(status, 421, "{path}: {answer}");
        assert!(answer.contains("host_not_allowed"), "{answer}");
    }
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ] {
        let (status, answer, _) = get("/healthz", &host);
        assert_eq!(status, 200, "{host}: {answer}");
    }
    let (status, _, _) = get("/healthz", "imglake.test");
    assert_eq!(status, 421);
    // A page of an allowed origin that calls the API under a name not listed reads the 421
    // and the flag it names, not a failed fetch; the rebinding page's own origin is not
    // allowed, so it reads nothing.
    let api = |origin: &str| {
        let head = format!(
            "GET /images/01ARZ3NDEKTSV4RRFFQ69G5FAV HTTP/1.1\r\nHost: myhost.lan:{port}\r\n\
             Origin: {origin}\r\nConnection: close\r\n\r\n"
        );
        probe(&addr, &head, Duration::from_secs(5)).expect("answered")
    };
    let (status, answer, _) = api("http://localhost:3000");
    assert_eq!(status, 421, "{answer}");
    assert!(answer.contains("--allowed-host"), "{answer}");
    assert_eq!(
        header_of(&answer, "access-control-allow-origin").as_deref(),
        Some("http://localhost:3000"),
        "{answer}"
    );
    let (status, answer, _) = api(&format!("http://myhost.lan:{port}"));
    assert_eq!(status, 421, "{answer}");
    assert_eq!(
        header_of(&answer, "access-control-allow-origin"),
        None,
        "{answer}"
    );
    server.stop();
    // A name the operator gives is accepted.
    let server = start(&data, &["--allowed-host", "imglake.test"]);
    let addr = server.addr.as_str();
    let head =
        format!("GET /healthz HTTP/1.1\r\nHost: imglake.test:{port}\r\nConnection: close\r\n\r\n");
    let (status, answer, _) = probe(addr, &head, Duration::from_secs(5)).expect("answered");
    assert_eq!(status, 200, "{answer}");
    server.stop();
}

#[test]
fn health_answers_on_a_reserve_connection_when_every_connection_is_busy() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 4 connections, each held by an upload that keeps above the minimum rate.
    let server = start(
        &dir.path().join("data"),
        &["--max-connections", "4", "--min-body-rate", "1KB"],
    );
    let addr = server.addr.clone();
    let uploads = TricklingUploads::start(&addr, 4);
    let mut worst = Duration::ZERO;
    for _ in 0..5 {
        let (status, answer, took) =
            probe(&addr, HEALTH, Duration::from_secs(3)).expect("/healthz answered within 3 s");
        assert_eq!(status, 200, "{answer}");
        worst = worst.max(took);
    }
    eprintln!("4 busy connections of 4: worst /healthz {worst:?}");
    assert!(worst < PROBE_BUDGET, "{worst:?}");
    // Anything else on a reserve connection is told to come back, at once.
    let read = "GET /images/01ARZ3NDEKTSV4RRFFQ69G5FAV HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    let (status, answer, took) =
        probe(&addr, read, Duration::from_secs(3)).expect("answered within 3 s");
    assert_eq!(status, 503, "{answer}");
    assert!(answer.contains("answers /healthz only"), "{answer}");
    assert!(header_of(&answer, "retry-after").is_some(), "{answer}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    uploads.stop();
    server.stop();
}

#[test]
fn an_upload_above_the_minimum_rate_holds_its_slot_no_longer_than_the_body_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    // One upload slot; a body may take 2 s in all, and must arrive at 1 KB/s.
    let server = start(
        &dir.path().join("data"),
        &[
            "--max-uploads",
            "1",
            "--min-body-rate",
            "1KB",
            "--body-timeout-secs",
            "2",
        ],
    );
    let addr = server.addr.as_str();
    // 4 KB/s of a declared 1.9 MB: above the minimum rate, so only the body timeout ends it.
    let mut slow = TcpStream::connect(addr).expect("connect");
    slow.write_all(b"PUT /images HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1900000\r\n\r\n")
        .expect("head");
    slow.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let started = Instant::now();
    let mut answer = Vec::new();
    while started.elapsed() < Duration::from_secs(8) {
        let mut buf = [0u8; 1024];
        match slow.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            Err(_) => {
                if slow.write_all(&[b'x'; 400]).is_err() {
                    break;
                }
            }
        }
    }
    let took = started.elapsed();
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "after {took:?}: {answer}"
    );
    assert!(took < Duration::from_secs(4), "{took:?}");
    // The slot is free again.
    let image = jpeg(&photo(64, 48, 9), 85);
    let (status, body) = http(addr, "PUT", "/images", &[], &image).expect("PUT");
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
    server.stop();
}

/// A connection that pipelines `count` requests for the console's script (44 KB each) and
/// never reads an answer.
fn unread_answers(addr: &str, count: usize) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect");
    let request = "GET /console/assets/app.js HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".repeat(count);
    stream.write_all(request.as_bytes()).expect("requests");
    stream
}

#[test]
fn clients_that_never_read_their_answers_neither_keep_others_out_nor_stay_for_ever() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(
        &dir.path().join("data"),
        &["--max-connections", "4", "--body-timeout-secs", "3"],
    );
    let addr = server.addr.as_str();
    // Every connection busy with answers its client does not read (megabytes each, more than
    // the socket buffers hold).
    let mut hogs: Vec<TcpStream> = (0..4).map(|_| unread_answers(addr, 300)).collect();
    std::thread::sleep(Duration::from_millis(1000));
    // They do not keep others out: a new client gets a whole connection, not a reserve one
    // that answers /healthz only.
    let read = "GET /images/01ARZ3NDEKTSV4RRFFQ69G5FAV HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    for _ in 0..3 {
        let (status, answer, took) =
            probe(addr, read, Duration::from_secs(3)).expect("answered within 3 s");
        assert_eq!(status, 404, "{answer}");
        assert!(took < Duration::from_secs(1), "{took:?}");
    }
    // (Their clients go, so the next one gets an ordinary connection, not a reserve one.)
    hogs.clear();
    std::thread::sleep(Duration::from_millis(300));
    // And they do not stay for ever: a client that reads nothing of an answer for the idle
    // timeout (3 s here) is cut, so it gets far less than the 350 MB it asked for. (Its
    // requests fill the server's read buffer: it is not reading them, so only the answer's
    // stalled write can time out.)
    let mut late = unread_answers(addr, 8000);
    std::thread::sleep(Duration::from_millis(4500));
    late.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let ended = loop {
        match late.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got += n,
            Err(e) => {
                break !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                )
            }
        }
    };
    assert!(ended, "still open after {got} bytes");
    assert!(got < 8000 * 40_000, "{got} bytes");
    server.stop();
}
