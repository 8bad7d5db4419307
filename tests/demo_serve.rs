//! The embedded default end to end: `imglake demo` and `imglake serve` as real processes over
//! a temporary data directory, their lake read back with `imglake query`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use imglake_pipeline::samples::{jpeg, photo, sample_set, with_exif, Exif, Expect};
use serde_json::Value;

use crate::util::{imglake, query, run_ok};

fn json_rows(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

fn demo(data: &Path) -> String {
    run_ok(imglake().arg("demo").arg("--data-dir").arg(data))
}

fn lake(data: &Path) -> String {
    data.join("lake").display().to_string()
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn demo_accounts_for_every_input_and_a_rerun_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let out = demo(&data);
    for section in [
        "ingest_overview",
        "rejection_reasons",
        "latency_trend",
        "tenant_storage",
        "summary",
    ] {
        assert!(
            out.contains(&format!("== {section}")),
            "{section} missing:\n{out}"
        );
    }
    // The lake holds exactly what the metadata table holds (a table export reconciled).
    let reconciled = out
        .lines()
        .find(|l| l.trim_start().starts_with("reconcile: "))
        .unwrap_or_else(|| panic!("no reconcile line:\n{out}"));
    assert!(reconciled.ends_with(" 0 drift"), "{reconciled}");
    let items: usize = reconciled
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(items > 10, "{reconciled}");
    let samples = sample_set();
    let expected_processed = samples
        .iter()
        .filter(|s| s.expect == Expect::Processed)
        .count();
    let mut expected_rejections: Vec<String> = samples
        .iter()
        .filter_map(|s| match s.expect {
            Expect::Rejected(code) => Some(code.to_owned()),
            Expect::Processed => None,
        })
        .collect();
    expected_rejections.sort();

    let current = |sql: &str| json_rows(&query(&lake(&data), "json", sql));
    let by_status = current(
        "select status, source, count(*) as n from images_current group by status, source order by 1, 2",
    );
    let mut status_counts: BTreeMap<String, i64> = BTreeMap::new();
    let mut sources = Vec::new();
    for row in &by_status {
        *status_counts
            .entry(row["status"].as_str().unwrap_or("").to_owned())
            .or_default() += row["n"].as_i64().unwrap_or(0);
        sources.push(row["source"].as_str().unwrap_or("").to_owned());
    }
    assert_eq!(
        status_counts.get("PROCESSED"),
        Some(&(expected_processed as i64)),
        "{by_status:?}"
    );
    assert_eq!(
        status_counts.get("REJECTED"),
        Some(&(expected_rejections.len() as i64))
    );
    assert_eq!(
        status_counts.len(),
        2,
        "nothing left in flight: {by_status:?}"
    );
    assert!(sources.contains(&"api".to_owned()) && sources.contains(&"kafka".to_owned()));

    let rejected = current(
        "select error_code, error_message from images_current where status = 'REJECTED' order by error_code",
    );
    let mut codes: Vec<String> = rejected
        .iter()
        .map(|r| r["error_code"].as_str().unwrap_or("").to_owned())
        .collect();
    codes.sort();
    assert_eq!(codes, expected_rejections);
    assert!(rejected
        .iter()
        .all(|r| r["error_message"].as_str().is_some_and(|m| !m.is_empty())));

    // Processed images have their variants on disk, and they decode.
    let variants = current(
        "select image_id, variant_count, processed_bytes from images_current where status = 'PROCESSED'",
    );
    let processed_dir = data.join("processed");
    for row in &variants {
        let id = row["image_id"].as_str().expect("id");
        let on_disk = files(&processed_dir.join(id));
        assert_eq!(
            on_disk.len() as i64,
            row["variant_count"].as_i64().unwrap_or(-1),
            "{id}"
        );
        let mut bytes = 0;
        for file in &on_disk {
            let data = std::fs::read(file).expect("read variant");
            bytes += data.len() as i64;
            image::load_from_memory(&data).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        }
        assert_eq!(Some(bytes), row["processed_bytes"].as_i64(), "{id}");
    }

    let events = |data: &Path| {
        json_rows(&query(
            &lake(data),
            "json",
            "select count(*) as n from image_events",
        ))[0]["n"]
            .as_i64()
            .unwrap_or(0)
    };
    let rows_before = events(&data);
    let raw_before = files(&data.join("raw")).len();
    let again = demo(&data);
    assert!(
        again.contains("redeliveries that changed nothing"),
        "{again}"
    );
    assert_eq!(
        events(&data),
        rows_before,
        "a re-run adds no change records"
    );
    assert_eq!(files(&data.join("raw")).len(), raw_before);
    run_ok(imglake().args(["check", "--lake", &lake(&data)]));
}

#[test]
fn demo_takes_a_users_folder_and_records_what_is_not_an_image() {
    let dir = tempfile::tempdir().expect("tempdir");
    let images = dir.path().join("mine");
    std::fs::create_dir_all(images.join("nested")).expect("mkdir");
    std::fs::write(images.join("a.jpg"), jpeg(&photo(640, 480, 1), 85)).expect("write");
    std::fs::write(images.join("b.jpg"), jpeg(&photo(300, 900, 2), 85)).expect("write");
    std::fs::write(images.join("notes.txt"), b"not an image").expect("write");
    // Hidden files (a download tool's marker, .DS_Store) are not inputs.
    std::fs::write(images.join(".complete"), b"").expect("write");
    // Not recursive: a folder inside is ignored.
    std::fs::write(images.join("nested/c.jpg"), jpeg(&photo(64, 64, 3), 85)).expect("write");
    let data = dir.path().join("data");
    let mut cmd = imglake();
    cmd.args(["demo", "--images"])
        .arg(&images)
        .arg("--data-dir")
        .arg(&data);
    let output = cmd.output().expect("spawn");
    crate::util::assert_success(&output, &cmd);
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(out.contains("3 inputs"), "{out}");
    // Without a terminal the progress bars are hidden; plain lines report progress instead.
    let stderr = String::from_utf8_lossy(&output.stderr);
    for line in ["  ingest 3/3", " process 2/2"] {
        assert!(
            stderr.lines().any(|l| l == line),
            "no {line:?} in\n{stderr}"
        );
    }
    let rows = json_rows(&query(
        &lake(&data),
        "json",
        "select status, error_code, width, height from images_current order by status, width",
    ));
    let got: Vec<(String, String, i64, i64)> = rows
        .iter()
        .map(|r| {
            (
                r["status"].as_str().unwrap_or("").to_owned(),
                r["error_code"].as_str().unwrap_or("").to_owned(),
                r["width"].as_i64().unwrap_or(0),
                r["height"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("PROCESSED".to_owned(), String::new(), 300, 900),
            ("PROCESSED".to_owned(), String::new(), 640, 480),
            ("REJECTED".to_owned(), "unknown_type".to_owned(), 0, 0),
        ],
        "{out}"
    );
    // An empty folder is a clear error, not an empty demo.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let failed = imglake()
        .args(["demo", "--images"])
        .arg(&empty)
        .arg("--data-dir")
        .arg(dir.path().join("data2"))
        .output()
        .expect("run imglake");
    assert!(!failed.status.success());
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("no images found"),
        "{}",
        String::from_utf8_lossy(&failed.stderr)
    );
}

/// A free port on 127.0.0.1.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub(crate) struct Server {
    child: Child,
    pub(crate) addr: String,
}

impl Server {
    pub(crate) fn start(data: &Path, extra: &[&str]) -> Server {
        let addr = format!("127.0.0.1:{}", free_port());
        let child = imglake()
            .args([
                "serve",
                "--addr",
                &addr,
                "--flush-age",
                "1s",
                "--workers",
                "2",
            ])
            .arg("--data-dir")
            .arg(data)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn imglake serve");
        let server = Server { child, addr };
        let deadline = Instant::now() + Duration::from_secs(30);
        while http(&server.addr, "GET", "/healthz", &[], &[]).is_none() {
            assert!(Instant::now() < deadline, "imglake serve did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// SIGINT, as Ctrl-C sends; returns stderr after a successful exit.
    pub(crate) fn stop(mut self) -> String {
        let pid = self.child.id().to_string();
        run_ok(Command::new("kill").args(["-INT", &pid]));
        let out = std::mem::replace(&mut self.child, Command::new("true").spawn().expect("true"))
            .wait_with_output()
            .expect("wait");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "serve exited with {}: {stderr}",
            out.status
        );
        stderr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request; `(status, body)`, or `None` when nothing answers.
pub(crate) fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .ok()?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).ok()?;
    // A server may answer (and close) before the whole body is in, as for a body over a
    // limit: the answer is still there to read, as curl would.
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let split = response.windows(4).position(|w| w == b"\r\n\r\n")?;
    let status = std::str::from_utf8(&response[..split])
        .ok()?
        .split(' ')
        .nth(1)?
        .parse()
        .ok()?;
    Some((status, response[split + 4..].to_vec()))
}

pub(crate) fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}

#[test]
fn serve_takes_concurrent_and_presigned_uploads_and_a_graceful_stop_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let addr = server.addr.clone();

    // 12 clients upload at once.
    let uploads: Vec<_> = (0..12u32)
        .map(|i| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let image = jpeg(&photo(400 + i * 10, 300, i), 85);
                let (status, body) = http(
                    &addr,
                    "PUT",
                    "/images",
                    &[("Content-Type", "image/jpeg")],
                    &image,
                )
                .expect("PUT answered");
                assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
                json_of(&body)["image_id"].as_str().expect("id").to_owned()
            })
        })
        .collect();
    let mut ids: Vec<String> = uploads
        .into_iter()
        .map(|t| t.join().expect("upload thread"))
        .collect();

    // A presigned upload: the form, then the multipart POST to where it points.
    let (status, body) = http(&addr, "POST", "/images", &[], b"").expect("POST answered");
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let created = json_of(&body);
    let url = created["upload"]["url"].as_str().expect("url").to_owned();
    let path = url
        .split_once(&addr)
        .map(|(_, p)| p.to_owned())
        .expect("form points at this server");
    let boundary = "imglake-test-boundary";
    let mut form = Vec::new();
    for (name, value) in created["upload"]["fields"].as_object().expect("fields") {
        form.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{}\r\n",
                value.as_str().unwrap_or("")
            )
            .as_bytes(),
        );
    }
    let head = form.clone();
    form.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").as_bytes());
    form.extend(jpeg(&photo(640, 480, 9), 85));
    form.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let (status, body) = http(
        &addr,
        "POST",
        &path,
        &[("Content-Type", &content_type)],
        &form,
    )
    .expect("upload answered");
    assert_eq!(status, 204, "{}", String::from_utf8_lossy(&body));
    ids.push(created["image_id"].as_str().expect("id").to_owned());
    // A client retry posts the same form again: stored again, counted once.
    let (status, body) = http(
        &addr,
        "POST",
        &path,
        &[("Content-Type", &content_type)],
        &form,
    )
    .expect("upload answered");
    assert_eq!(status, 204, "{}", String::from_utf8_lossy(&body));

    // The same form with a file over the policy's size range is refused as S3 refuses it,
    // whether it is just over (the policy check) or far over (the route's body limit).
    for size in [10 * 1024 * 1024 + 1, 11 * 1024 * 1024] {
        let mut too_big = head.clone();
        too_big.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"b.jpg\"\r\n\r\n").as_bytes());
        too_big.extend(vec![0u8; size]);
        too_big.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
        let (status, body) = http(
            &addr,
            "POST",
            &path,
            &[("Content-Type", &content_type)],
            &too_big,
        )
        .expect("answered");
        assert_eq!(status, 400, "{size}: {}", String::from_utf8_lossy(&body));
        assert_eq!(json_of(&body)["error"]["code"], "EntityTooLarge", "{size}");
    }

    // A percent-encoded id is the same id (API Gateway decodes path parameters too).
    let encoded: String = ids[0].bytes().map(|b| format!("%{b:02X}")).collect();
    let (status, body) =
        http(&addr, "GET", &format!("/images/{encoded}"), &[], b"").expect("GET answered");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(json_of(&body)["image_id"], ids[0].as_str());

    // A known route asked with the wrong method answers JSON too.
    let (status, body) = http(&addr, "POST", "/healthz", &[], b"").expect("answered");
    assert_eq!(status, 405);
    assert_eq!(json_of(&body)["error"]["code"], "method_not_allowed");
    // HEAD of an image answers as GET does, without the body.
    let (status, body) =
        http(&addr, "HEAD", &format!("/images/{}", ids[0]), &[], b"").expect("HEAD answered");
    assert_eq!(status, 200);
    assert!(body.is_empty(), "{}", String::from_utf8_lossy(&body));
    // A declared length over the PUT limit is refused at once, before any body is sent.
    let mut stream = TcpStream::connect(&addr).expect("connect");
    stream
        .write_all(b"PUT /images HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 999999999\r\nExpect: 100-continue\r\n\r\n")
        .expect("head");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let started = Instant::now();
    let mut answer = [0u8; 512];
    let n = stream.read(&mut answer).expect("an answer before the body");
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    let (status, body) = http(&addr, "GET", "/images/NOSUCHIMAGE", &[], b"").expect("GET answered");
    assert_eq!(status, 404);
    assert_eq!(json_of(&body)["error"]["code"], "image_not_found");

    // Stop at once: whatever was acknowledged must be processed and in the lake.
    let stderr = server.stop();
    assert!(stderr.contains("stopped"), "{stderr}");
    // 12 PUTs and one presigned upload were stored and processed.
    assert!(
        stderr.contains("received 13, processed 13, rejected 0, failed 0"),
        "{stderr}"
    );
    let rows = json_rows(&query(
        &lake(&data),
        "json",
        "select image_id, status from images_current order by image_id",
    ));
    let mut lake_ids: Vec<String> = rows
        .iter()
        .map(|r| r["image_id"].as_str().unwrap_or("").to_owned())
        .collect();
    ids.sort();
    lake_ids.sort();
    assert_eq!(lake_ids, ids);
    assert!(rows.iter().all(|r| r["status"] == "PROCESSED"), "{rows:?}");
}

#[test]
fn a_rotated_photo_has_one_size_on_every_row_of_the_lake() {
    // Stored 480×320, EXIF orientation 6 (turn a quarter clockwise): displayed 320×480.
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let exif = Exif {
        orientation: 6,
        ..Exif::default()
    };
    let image = with_exif(&jpeg(&photo(480, 320, 7), 85), &exif);
    let (status, body) = http(&server.addr, "PUT", "/images", &[], &image).expect("PUT answered");
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
    let id = json_of(&body)["image_id"].as_str().expect("id").to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    let item = loop {
        let (_, body) = http(&server.addr, "GET", &format!("/images/{id}"), &[], b"").expect("GET");
        let item = json_of(&body);
        if item["status"] == "PROCESSED" {
            break item;
        }
        assert!(Instant::now() < deadline, "not processed: {item}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        (item["width"].as_i64(), item["height"].as_i64()),
        (Some(320), Some(480))
    );
    server.stop();
    let rows = json_rows(&query(
        &lake(&data),
        "json",
        &format!(
            "select status, width, height from image_events where image_id = '{id}' \
             order by sequence_number"
        ),
    ));
    let statuses: Vec<&str> = rows.iter().filter_map(|r| r["status"].as_str()).collect();
    assert_eq!(
        statuses,
        ["RECEIVED", "PROCESSING", "PROCESSED"],
        "{rows:?}"
    );
    for row in &rows {
        assert_eq!(
            (row["width"].as_i64(), row["height"].as_i64()),
            (Some(320), Some(480)),
            "{row}"
        );
    }
}

#[test]
fn serve_expires_images_by_ttl_and_the_lake_records_the_expiry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Server::start(&data, &["--ttl", "2s", "--sweep-every", "1s"]);
    let image = jpeg(&photo(320, 240, 1), 85);
    let (status, body) = http(&server.addr, "PUT", "/images", &[], &image).expect("PUT answered");
    assert_eq!(status, 202);
    let id = json_of(&body)["image_id"].as_str().expect("id").to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _) =
            http(&server.addr, "GET", &format!("/images/{id}"), &[], b"").expect("GET");
        if status == 404 {
            break;
        }
        assert!(Instant::now() < deadline, "image {id} never expired");
        std::thread::sleep(Duration::from_millis(300));
    }
    server.stop();
    assert!(
        !data.join("raw/images").join(&id).exists(),
        "the raw image is removed too"
    );
    assert!(
        !data.join("processed").join(&id).exists(),
        "and its variants"
    );
    let rows = json_rows(&query(
        &lake(&data),
        "json",
        &format!("select event_name, is_ttl_expiry from image_events where image_id = '{id}' and event_name = 'REMOVE'"),
    ));
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["is_ttl_expiry"], true);
}

#[test]
fn serve_drops_clients_that_stall_and_keeps_serving_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(
        &dir.path().join("data"),
        &["--body-timeout-secs", "1", "--max-connections", "4"],
    );
    // Four clients take every connection slot and then say nothing (slowloris).
    let stalled: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = TcpStream::connect(&server.addr).expect("connect");
            s.write_all(b"PUT /images HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                .expect("partial head");
            s
        })
        .collect();
    let started = Instant::now();
    // A well-behaved client still gets an answer once the stalled ones are cut off.
    let (status, _) = http(&server.addr, "GET", "/healthz", &[], b"").expect("healthz answered");
    assert_eq!(status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    for mut s in stalled {
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut buf = Vec::new();
        // The server closes the stalled connection (EOF or reset), never waits forever: a
        // read that times out means the connection was left open.
        let read = s.read_to_end(&mut buf);
        assert!(
            !matches!(&read, Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)),
            "a stalled connection was left open: {read:?}"
        );
    }
    // A client that sends its headers one byte at a time, each well within the idle
    // timeout, is cut off once the whole header has taken longer than the timeout.
    let mut trickle = TcpStream::connect(&server.addr).expect("connect");
    let started = Instant::now();
    let head =
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut cut_off = None;
    for byte in head {
        if trickle.write_all(&[*byte]).is_err() {
            cut_off = Some(started.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
        // A closed connection shows as EOF on a non-blocking peek.
        trickle.set_nonblocking(true).expect("nonblocking");
        let mut probe = [0u8; 1];
        let closed = matches!(trickle.peek(&mut probe), Ok(0));
        trickle.set_nonblocking(false).expect("blocking");
        if closed {
            cut_off = Some(started.elapsed());
            break;
        }
    }
    let cut_off = cut_off.expect("a trickling header kept its connection");
    assert!(
        cut_off < Duration::from_secs(5),
        "cut off after {cut_off:?}"
    );
    // A client that stops partway through its body is told so: a timeout, not "too large".
    let mut partial = TcpStream::connect(&server.addr).expect("connect");
    partial
        .write_all(b"PUT /images HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\nabc")
        .expect("partial body");
    partial
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut answer = Vec::new();
    let _ = partial.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    server.stop();
}
