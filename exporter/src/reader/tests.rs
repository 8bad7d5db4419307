//! The reader core's two readers agree: the scanner takes what the exact reader takes and
//! gives the same records for it, whole or a chunk at a time, and an input it refuses ends
//! as if the exact reader alone had read it (property tests over generated records: every
//! attribute type, escapes, repeated names, both field orders, spacing, damage).

use std::sync::Arc;

use bytes::Bytes;
use object_store::memory::InMemory;
use object_store::path::Path;
use proptest::prelude::*;
use serde_json::{json, Value};

use super::export_line::{ExportContext, ExportKind, ExportView};
use super::framing::{self, Form, Framed};
use super::{exact, read, scan, Counted, ReadError, RecordSink, Source};
use crate::batch::{BatchSink, FileNames, Limits, PreparedBatch};
use crate::export::{ExportOptions, Exporter};
use crate::row::MapContext;

const LIFECYCLE: &[u8] = include_bytes!("../../tests/fixtures/lambda_lifecycle.json");
const BAD: &[u8] = include_bytes!("../../tests/fixtures/bad_records.jsonl");
const NOW: i64 = 1_795_600_000_000;

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
            prop::collection::btree_map(name(), inner, 0..3).prop_map(|m| json!({ "M": m })),
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
        ensure_ascii in any::<bool>(),
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
        let record = object(&fields, comma, colon);
        if ensure_ascii { escape_non_ascii(&record) } else { record }
    }
}

/// `text` with every non-ASCII character written as `\uXXXX` (a UTF-16 surrogate pair above
/// U+FFFF), as Python's `json.dumps` and other `ensure_ascii` writers do. Only strings hold
/// such characters in JSON, so the document means the same.
fn escape_non_ascii(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

type Outcome = Option<Vec<(String, Vec<(String, Bytes)>)>>;

/// What a sink made of what a reader told it: each batch's report and objects; `None`
/// when the reader gave up.
fn outcome(batches: Option<Vec<PreparedBatch>>) -> Outcome {
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

fn exporter() -> Exporter {
    Exporter::new(
        Arc::new(InMemory::new()),
        Path::from("lake"),
        ExportOptions::default(),
    )
}

/// Runs `read` into a batch sink of 3-record batches; `false` from it means it gave up.
fn with_sink(read: impl FnOnce(&mut dyn RecordSink) -> bool) -> Outcome {
    let options = ExportOptions::default();
    let root = Path::from("lake");
    let mut sink = BatchSink::new(
        &root,
        &options,
        MapContext {
            exported_at_ms: NOW,
        },
        Limits {
            records: 3,
            text_bytes: usize::MAX,
        },
        FileNames::Stream,
    );
    let read = read(&mut sink);
    outcome(read.then(|| sink.finish()))
}

/// The scanner alone on a `{"Records": [...]}` document.
fn scanned(text: &str) -> Outcome {
    with_sink(|sink| scan::document(text, Form::Batch, sink).is_ok())
}

/// The exact reader alone on a `{"Records": [...]}` document.
fn exactly(text: &str) -> Outcome {
    with_sink(|sink| match framing::split_event(text) {
        Ok(records) => {
            for record in records {
                exact(record, sink);
            }
            true
        }
        Err(_) => false,
    })
}

/// The reader core (the scanner, then the exact reader) on a Lambda payload.
fn as_event(text: &str) -> Outcome {
    with_sink(|sink| read(Source::Event(text), sink).is_ok())
}

/// The reader core on a whole document in memory.
fn whole(text: &str) -> Outcome {
    with_sink(|sink| read(Source::Document(text.as_bytes()), sink).is_ok())
}

/// The scanner on `reader`, `chunk` bytes at a time; `None` when it wants the input
/// whole.
fn streamed_from(reader: &mut dyn std::io::Read, chunk: usize) -> Outcome {
    with_sink(|sink| match scan::stream(reader, chunk, sink) {
        Ok(()) => true,
        Err(scan::StreamStop::Refused) => false,
        Err(scan::StreamStop::Io(e)) => panic!("reading failed: {e}"),
    })
}

fn streamed(text: &str, chunk: usize) -> Outcome {
    streamed_from(&mut text.as_bytes(), chunk)
}

/// The exporter's door on the file at `path`, standing at its start.
fn from_file(
    path: &std::path::Path,
    progress: &mut dyn FnMut(u64),
) -> Result<Vec<PreparedBatch>, ReadError> {
    let file = std::fs::File::open(path).expect("open");
    exporter().prepare(
        Source::File {
            file,
            name: path,
            progress,
        },
        NOW,
        usize::MAX,
    )
}

/// The raw text of every record of `records`.
fn texts_of<'a>(records: &'a [Framed<'_>]) -> Vec<&'a str> {
    records
        .iter()
        .map(|r| match r {
            Framed::Json(raw) => *raw,
            Framed::NotJson { .. } => unreachable!(),
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
        let mut reader = Trickle {
            rest: event.as_bytes(),
            step,
            interrupt: false,
        };
        let got = streamed_from(&mut reader, chunk);
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
    let records: Vec<_> = framing::split(LIFECYCLE).unwrap();
    let texts = texts_of(&records);
    let bad = texts[0].replacen("\"eventName\"", "\"eventNameX\"", 1);
    let tail = format!(
        "\u{feff} {{ \"Records\" : [ {} , {bad} ] , \"NextShardIterator\": \"é€\", \"n\": [1, -2.5e3, true, null] }} \n",
        texts.join(",\n")
    );
    for chunk in [1, 3, 5, 64] {
        let got = streamed(&tail, chunk);
        assert!(got.is_some(), "chunk {chunk}");
        let without_mark = tail.strip_prefix('\u{feff}').unwrap();
        assert_eq!(got, whole(without_mark), "chunk {chunk}");
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
    let records: Vec<_> = framing::split(LIFECYCLE).unwrap();
    let Framed::Json(first) = &records[0] else {
        unreachable!()
    };
    let event = format!(
        "{{\"Records\":[{}],\"x\":123456789,\"y\":-1.5e10,\"z\":[true,null,\"s\"]}}",
        first
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
    // Streamed: read once. An array: refused by the stream, then read whole again.
    let records: Vec<_> = framing::split(LIFECYCLE).unwrap();
    let texts = texts_of(&records);
    let array = format!("[{}]", texts.join(","));
    for (name, text, passes) in [
        ("event.json", LIFECYCLE, 1),
        ("array.json", array.as_bytes(), 2),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let mut seen = Vec::new();
        let batches = from_file(&path, &mut |n| seen.push(n)).unwrap();
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
    let e = exporter();
    let records: Vec<_> = framing::split(LIFECYCLE).unwrap();
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
            .prepare(
                Source::File {
                    file,
                    name: &path,
                    progress: &mut |n| seen.push(n),
                },
                NOW,
                usize::MAX,
            )
            .map(|b| outcome(Some(b)))
            .map_err(|e| e.to_string());
        let expected = outcome(e.prepare(Source::Document(text), NOW, usize::MAX).ok());
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
    let records: Vec<_> = framing::split(LIFECYCLE).unwrap();
    let texts = texts_of(&records);
    let array = format!("[{}]", texts.join(","));
    let writer = {
        let (fifo, array) = (fifo.clone(), array.clone());
        std::thread::spawn(move || std::fs::write(fifo, array).unwrap())
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let got = from_file(&fifo, &mut |_| {}).map(|b| outcome(Some(b)));
        tx.send(got.map_err(|e| e.to_string())).unwrap();
    });
    let got = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("prepare_file on a FIFO did not finish")
        .unwrap();
    writer.join().unwrap();
    let expected = outcome(
        exporter()
            .prepare(Source::Document(array.as_bytes()), NOW, usize::MAX)
            .ok(),
    );
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
    let array = format!(
        "[{}]",
        texts_of(&framing::split(LIFECYCLE).unwrap()).join(",")
    );
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
    let mut read = 0;
    let got = streamed_from(&mut Counted::new(long.as_bytes(), &mut |n| read = n), 4096);
    assert!(got.is_none());
    assert!(read <= 4096, "read {read} bytes");
    // So is an event with a malformed record early on.
    let broken = format!(
        "{{\"Records\":[{{\"eventID\":\"a\",}}{}]}}",
        ",{}".repeat(100_000)
    );
    let mut read = 0;
    assert!(streamed_from(
        &mut Counted::new(broken.as_bytes(), &mut |n| read = n),
        4096
    )
    .is_none());
    assert!(read <= 4096, "read {read} bytes");
}

/// An event of `records` cut at, or with one byte replaced at, `at`; `None` when that
/// leaves it not UTF-8.
fn damaged(records: &[String], at: prop::sample::Index, byte: u8, cut: bool) -> Option<String> {
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
    fn the_scanner_takes_what_the_exact_reader_takes_and_gives_the_same_files(
        records in prop::collection::vec(record(), 1..6),
    ) {
        let doc = format!("{{\"Records\":[{}]}}", records.join(","));
        let fast = scanned(&doc);
        prop_assert!(fast.is_some(), "the scanner refused {}", doc);
        prop_assert_eq!(fast, exactly(&doc), "{}", doc);
    }

    #[test]
    fn damaged_input_ends_as_it_would_without_the_scanner(
        records in prop::collection::vec(record(), 1..4),
        at in any::<prop::sample::Index>(),
        byte in prop::sample::select(vec![b'"', b'\\', b'{', b'}', b',', b':', b'1', b' ', 1u8]),
        cut in any::<bool>(),
    ) {
        let Some(doc) = damaged(&records, at, byte, cut) else {
            return Ok(());
        };
        prop_assert_eq!(as_event(&doc), exactly(&doc), "{}", doc);
    }
}

// Lines of DynamoDB table exports: the scanner and the exact reader agree on them too.

fn full_export() -> ExportContext {
    ExportContext {
        export_arn: "arn:aws:dynamodb:eu-west-1:1:table/t/export/01795600000000-a1b2c3d4"
            .to_owned(),
        export_id: "01795600000000-a1b2c3d4".to_owned(),
        kind: ExportKind::Full {
            export_time_ms: 1_795_600_000_123,
        },
    }
}

fn incremental_export(view: ExportView) -> ExportContext {
    ExportContext {
        export_arn: "arn:aws:dynamodb:eu-west-1:1:table/t/export/01795600000001-e5f6a7b8"
            .to_owned(),
        export_id: "01795600000001-e5f6a7b8".to_owned(),
        kind: ExportKind::Incremental { view },
    }
}

prop_compose! {
    /// A line as DynamoDB's export to S3 writes it: `{"Item": …}` (full) or
    /// `{"Metadata": …, "Keys": …, "NewImage": …, "OldImage": …}` (incremental, any of the
    /// images absent), with the key inside the item, any field order and spacing.
    fn export_line()(
        full in any::<bool>(),
        id in "[a-z0-9]{1,6}",
        micros in prop_oneof![
            (1_700_000_000_000_000u64..1_800_000_000_000_000).prop_map(|m| m.to_string()),
            Just("-5".to_owned()),
            Just("1.5E15".to_owned()),
            Just("x".to_owned()),
        ],
        new_image in prop::option::of(prop::collection::vec((name(), attribute()), 0..6)),
        old_image in prop::option::of(prop::collection::vec((name(), attribute()), 0..6)),
        metadata_last in any::<bool>(),
        comma in prop::sample::select(vec![",", ", "]),
        colon in prop::sample::select(vec![":", ": "]),
        ensure_ascii in any::<bool>(),
    ) -> String {
        let key = ("image_id".to_owned(), json!({ "S": id }));
        let with_key = |attrs: Vec<(String, Value)>| {
            let mut attrs = attrs;
            attrs.insert(0, key.clone());
            image(&attrs, comma, colon)
        };
        let line = if full {
            let fields = vec![("Item".to_owned(), with_key(new_image.unwrap_or_default()))];
            object(&fields, comma, colon)
        } else {
            let metadata = (
                "Metadata".to_owned(),
                object(&[("WriteTimestampMicros".to_owned(), json!({ "N": micros }).to_string())], comma, colon),
            );
            let mut fields = Vec::new();
            if !metadata_last {
                fields.push(metadata.clone());
            }
            fields.push(("Keys".to_owned(), image(std::slice::from_ref(&key), comma, colon)));
            if let Some(new_image) = new_image {
                fields.push(("NewImage".to_owned(), with_key(new_image)));
            }
            if let Some(old_image) = old_image {
                fields.push(("OldImage".to_owned(), with_key(old_image)));
            }
            if metadata_last {
                fields.push(metadata);
            }
            object(&fields, comma, colon)
        };
        if ensure_ascii { escape_non_ascii(&line) } else { line }
    }
}

/// The context a generated line belongs to: full lines to a full export, others to an
/// incremental one (and, when `mismatched`, each to the other kind).
fn context_for(line: &str, mismatched: bool, new_image_view: bool) -> ExportContext {
    let full = line.starts_with("{\"Item\"");
    let view = if new_image_view {
        ExportView::NewImage
    } else {
        ExportView::NewAndOldImages
    };
    if full != mismatched {
        full_export()
    } else {
        incremental_export(view)
    }
}

fn export_lines_with(lines: &[String], context: &ExportContext, scanner: bool) -> Outcome {
    with_sink(|sink| {
        for line in lines {
            let line = line.trim();
            if !scanner || scan::export_line(line, context, sink).is_err() {
                super::exact_export_line(line, context, sink);
            }
        }
        true
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_scanner_reads_export_lines_as_the_exact_reader_does(
        lines in prop::collection::vec(export_line(), 1..6),
        mismatched in any::<bool>(),
        new_image_view in any::<bool>(),
    ) {
        let context = context_for(&lines[0], mismatched, new_image_view);
        let exact_only = export_lines_with(&lines, &context, false);
        // Every generated line is JSON the scanner reads itself; it only hands over what it
        // cannot read.
        for line in &lines {
            let mut taken = false;
            with_sink(|sink| {
                taken = scan::export_line(line, &context, sink).is_ok();
                true
            });
            prop_assert!(taken, "the scanner refused {}", line);
        }
        prop_assert_eq!(export_lines_with(&lines, &context, true), exact_only);
    }

    #[test]
    fn damaged_export_lines_end_as_they_would_without_the_scanner(
        line in export_line(),
        at in any::<prop::sample::Index>(),
        byte in prop::sample::select(vec![b'"', b'\\', b'{', b'}', b',', b':', b'1', b' ', 1u8]),
        cut in any::<bool>(),
    ) {
        let mut bytes = line.into_bytes();
        let i = at.index(bytes.len());
        if cut {
            bytes.truncate(i);
        } else {
            bytes[i] = byte;
        }
        let Ok(line) = String::from_utf8(bytes) else {
            return Ok(());
        };
        let context = context_for(&line, false, false);
        let lines = [line];
        prop_assert_eq!(
            export_lines_with(&lines, &context, true),
            export_lines_with(&lines, &context, false),
            "{}", lines[0]
        );
    }
}

#[test]
fn export_lines_become_the_rows_the_export_kind_says() {
    let full = full_export();
    let incremental = incremental_export(ExportView::NewAndOldImages);
    let rows = |lines: &[&str], context: &ExportContext| {
        let owned: Vec<Vec<u8>> = lines.iter().map(|l| l.as_bytes().to_vec()).collect();
        let batches = exporter()
            .prepare(
                Source::ExportLines {
                    lines: &owned,
                    export: context,
                    part: 0,
                },
                NOW,
                usize::MAX,
            )
            .expect("read");
        batches
            .into_iter()
            .flat_map(|b| b.objects)
            .map(|o| o.key.to_string())
            .collect::<Vec<_>>()
    };
    let keys = rows(
        &[
            r#"{"Item":{"image_id":{"S":"a"},"status":{"S":"PROCESSED"},"size_bytes":{"N":"2048"},"score":{"N":"12345678901234567890123456789012345678"}}}"#,
        ],
        &full,
    );
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(
        keys[0].contains("dt=2026-11-25/hour=")
            && keys[0].ends_with("export-01795600000000-a1b2c3d4-000000-000.parquet"),
        "{keys:?}"
    );
    // A change in an incremental export of a full export's kind is quarantined, not exported.
    let keys = rows(
        &[
            r#"{"Metadata":{"WriteTimestampMicros":{"N":"1795600000123456"}},"Keys":{"image_id":{"S":"a"}},"NewImage":{"image_id":{"S":"a"}}}"#,
        ],
        &full,
    );
    assert!(keys.iter().all(|k| k.contains("_quarantine/")), "{keys:?}");
    let keys = rows(
        &[
            r#"{"Metadata":{"WriteTimestampMicros":{"N":"1795600000123456"}},"Keys":{"image_id":{"S":"a"}},"NewImage":{"image_id":{"S":"a"}}}"#,
        ],
        &incremental,
    );
    assert!(
        keys.len() == 1 && keys[0].ends_with("export-01795600000001-e5f6a7b8-000000-000.parquet"),
        "{keys:?}"
    );
}
