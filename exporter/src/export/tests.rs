//! The exporter's door end to end over an in-memory store: idempotent keys, every record
//! written or quarantined, batches cut by records and text, write failures reported.

use std::collections::BTreeMap;

use base64::Engine as _;
use bytes::Bytes;
use futures::StreamExt;
use object_store::memory::InMemory;
use object_store::ObjectStoreExt;
use parquet::basic::{Compression as PqCompression, LogicalType, TimeUnit};
use parquet::file::reader::{FileReader, SerializedFileReader};

use super::*;
use crate::batch::{BatchSink, FileNames, Limits};
use crate::reader::framing::{self, Framed};
use crate::reader::scan;
use crate::row::MapContext;

const LIFECYCLE: &[u8] = include_bytes!("../../tests/fixtures/lambda_lifecycle.json");
const BAD: &[u8] = include_bytes!("../../tests/fixtures/bad_records.jsonl");
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

/// The records of a document, each its own text.
fn texts(input: &[u8]) -> Vec<String> {
    framing::split(input)
        .unwrap()
        .iter()
        .map(|r| match r {
            Framed::Json(raw) => (*raw).to_owned(),
            Framed::NotJson { line, .. } => panic!("fixture line {line:?}"),
        })
        .collect()
}

/// Exports `input` through the door, one batch; the report.
async fn export(store: Arc<dyn ObjectStore>, input: &[u8], at: i64) -> ExportReport {
    exporter(store)
        .export(Source::Document(input), at)
        .await
        .unwrap()
}

/// The exact reader alone on a whole document, in batches of `batch` records.
fn exactly(input: &[u8], batch: usize) -> Vec<PreparedBatch> {
    let (root, options) = (Path::from("lake"), ExportOptions::default());
    let ctx = MapContext {
        exported_at_ms: NOW,
    };
    let limits = Limits {
        records: batch,
        text_bytes: options.batch_text_bytes,
    };
    let mut sink = BatchSink::new(&root, &options, ctx, limits, FileNames::Stream);
    crate::reader::exactly(input, &mut sink).unwrap();
    sink.finish()
}

#[tokio::test]
async fn retried_batch_rewrites_same_keys_with_same_rows() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let first = export(store.clone(), LIFECYCLE, NOW).await;
    let before = snapshot(store.as_ref()).await;
    let second = export(store.clone(), LIFECYCLE, NOW).await;
    let after = snapshot(store.as_ref()).await;
    assert_eq!(first.files, second.files);
    assert_eq!(before, after, "a replay must not add or change objects");
    // Partitions: 09h, 10h, 11h on 11-24 and the TTL expiry on 12-01.
    assert_eq!(before.len(), 4);
    assert!(before
        .keys()
        .all(|k| k.starts_with("lake/image_events/dt=")));
    // A later replay (another exported_at) still lands on the same keys.
    let later = export(store.clone(), LIFECYCLE, NOW + 60_000).await;
    assert_eq!(
        later.files.iter().map(|f| &f.key).collect::<Vec<_>>(),
        first.files.iter().map(|f| &f.key).collect::<Vec<_>>()
    );
    assert_eq!(snapshot(store.as_ref()).await.len(), 4);
}

/// LIFECYCLE's records plus BAD's lines that parse as records (they fail in mapping), as
/// one Lambda event.
fn mixed_event() -> String {
    let mut records = texts(LIFECYCLE);
    for line in std::str::from_utf8(BAD).unwrap().lines() {
        let mut record = crate::record::StreamRecord::default();
        if crate::reader::exact::read(line, &mut record).is_ok() {
            records.push(line.to_owned());
        }
    }
    format!("{{\"Records\": [{}]}}", records.join(",\n"))
}

#[tokio::test]
async fn the_door_writes_what_the_exact_reader_alone_writes() {
    let mixed = mixed_event();
    let get_records: &[u8] = include_bytes!("../../tests/fixtures/get_records.json");
    // Single-line events (as `jq -c` writes them) with records the scanner cannot take:
    // still batches, never JSON Lines. Newlines only stand between tokens in the
    // pretty-printed fixture: joining the lines keeps Lambda's field order (eventName before
    // dynamodb).
    let records: Vec<String> = texts(LIFECYCLE)
        .iter()
        .map(|r| r.replace('\n', " "))
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
        let mut want = Vec::new();
        for prepared in exactly(input, batch) {
            want.push(exporter(split.clone()).write(prepared).await.unwrap());
        }
        let one: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let e = exporter(one.clone());
        let mut got = Vec::new();
        for prepared in e.prepare(Source::Document(input), NOW, batch).unwrap() {
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
    let report = export(store.clone(), bad_old.as_bytes(), NOW).await;
    assert_eq!((report.received, report.quarantined), (8, 1));
    let line = snapshot(store.as_ref())
        .await
        .into_iter()
        .find(|(k, _)| k.contains("_quarantine"))
        .map(|(_, body)| String::from_utf8(body.to_vec()).unwrap())
        .unwrap();
    assert!(line.contains("dynamodb.OldImage.zz"), "{line}");
    // The mixed event is the scanner's: records that fail in mapping need no other reader.
    // BAD's nine lines: two good, five that fail in mapping, one structurally malformed
    // record and one that is not JSON (the last two are left out of the mixed event).
    let e = exporter(Arc::new(InMemory::new()));
    let options = ExportOptions::default();
    let root = Path::from("lake");
    let ctx = MapContext {
        exported_at_ms: NOW,
    };
    let limits = Limits {
        records: usize::MAX,
        text_bytes: usize::MAX,
    };
    let mut sink = BatchSink::new(&root, &options, ctx, limits, FileNames::Stream);
    scan::document(&mixed, framing::Form::Batch, &mut sink).expect("the scanner takes it");
    let batches = sink.finish();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].received(), 7 + 7);
    assert_eq!(batches[0].quarantined(), 5);
    // A line that is not JSON needs the exact reader.
    let bad = std::str::from_utf8(BAD).unwrap();
    let mut sink = BatchSink::new(&root, &options, ctx, limits, FileNames::Stream);
    assert!(scan::document(bad, framing::Form::Lines, &mut sink).is_err());
    // Not UTF-8: the fallback quarantines that line, and only that line.
    let good = texts(LIFECYCLE)[0].replace('\n', " ");
    let mut lines = good.into_bytes();
    lines.extend_from_slice(b"\n{\"eventID\": \"caf\xe9\"}\n");
    let batches = e
        .prepare(Source::Document(&lines), NOW, usize::MAX)
        .unwrap();
    assert_eq!(batches[0].received(), 2);
    assert_eq!(batches[0].quarantined(), 1);
    assert_eq!(
        batches[0].report.quarantine_reasons.get("invalid_json"),
        Some(&1)
    );
}

#[tokio::test]
async fn records_out_of_stream_order_make_the_same_files() {
    let in_order: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    export(in_order.clone(), LIFECYCLE, NOW).await;
    let mut records = texts(LIFECYCLE);
    records.reverse();
    let reversed = format!("[{}]", records.join(","));
    let shuffled: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    export(shuffled.clone(), reversed.as_bytes(), NOW).await;
    assert_eq!(
        snapshot(in_order.as_ref()).await,
        snapshot(shuffled.as_ref()).await
    );
}

#[tokio::test]
async fn every_record_is_written_or_quarantined_with_its_reason() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let report = export(store.clone(), BAD, NOW).await;
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
    export(store.clone(), BAD, NOW).await;
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
    let event =
        serde_json::to_string_pretty(&serde_json::json!({"Records": [record, record]})).unwrap();
    let report = export(store.clone(), event.as_bytes(), NOW).await;
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
    let report = exporter
        .export(Source::Document(LIFECYCLE), NOW)
        .await
        .unwrap();
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
    let retry = exporter
        .export(Source::Document(LIFECYCLE), NOW)
        .await
        .unwrap();
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
    export(store.clone(), LIFECYCLE, NOW).await;
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
    .export(Source::Document(LIFECYCLE), NOW)
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
        let batches = exporter
            .prepare(Source::Document(input.as_bytes()), NOW, 100)
            .unwrap();
        // 1 000 bytes of tenant plus ids per row: a batch is full at its third row.
        let received: Vec<usize> = batches.iter().map(PreparedBatch::received).collect();
        assert_eq!(received.len(), 3, "{received:?}");
        assert_eq!(received[..2], [3, 3], "{received:?}");
        assert_eq!(received.iter().sum::<usize>(), input.lines().count());
    }
    // export writes every batch, not only the last.
    let report = exporter
        .export(Source::Document(input.as_bytes()), NOW)
        .await
        .unwrap();
    assert_eq!((report.received, report.rows_written), (7, 7));
}

#[tokio::test]
async fn a_row_larger_than_any_dynamodb_item_is_quarantined() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let input = records_with_text(2, crate::row::MAX_ROW_TEXT_BYTES + 1);
    let report = export(store, input.as_bytes(), NOW).await;
    assert_eq!(report.quarantined, 2);
    assert_eq!(report.quarantine_reasons.get("record_too_large"), Some(&2));
}

#[tokio::test]
async fn a_line_that_is_not_utf8_is_quarantined_with_its_exact_bytes() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let mut input = records_with_text(1, 3).into_bytes();
    input.extend_from_slice(b"\nnot json caf\xe9\n");
    let report = export(store.clone(), &input, NOW).await;
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
