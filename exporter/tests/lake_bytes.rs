//! The lake's bytes, pinned: for fixed inputs, every door into the exporter writes exactly
//! these objects (key, size, SHA-256 of the body). A change to the reader, the mapping, the
//! batching or the writer that alters one byte of one file fails here; a deliberate change of
//! the lake's contents updates the snapshot (`cargo insta review`) in the same commit.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use imglake_exporter::{Compression, ExportOptions, ExportReport, Exporter, Source};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use sha2::{Digest, Sha256};

mod support {
    // Shared with benches/export.rs, which also prints the orders' labels.
    #[allow(dead_code)]
    pub mod sample;
}
use support::sample::{generate, Order};

const LIFECYCLE: &[u8] = include_bytes!("fixtures/lambda_lifecycle.json");
const GET_RECORDS: &[u8] = include_bytes!("fixtures/get_records.json");
const BAD: &[u8] = include_bytes!("fixtures/bad_records.jsonl");
/// Records malformed in every way a reader can meet (and a few it must still take): their
/// quarantine reasons are pinned too.
const MALFORMED: &[u8] = include_bytes!("fixtures/malformed_records.jsonl");
const NOW: i64 = 1_795_600_000_000;

/// How the input enters the exporter.
#[derive(Debug, Clone, Copy)]
enum Door {
    /// Split into records first, each handed over apart (as the embedded feed does).
    Split,
    /// A whole document in memory, cut into batches of this many records.
    Whole(usize),
    /// A file on disk, read a chunk at a time where its form allows, in batches.
    File(usize),
    /// A Lambda invocation payload.
    Event,
}

fn exporter(store: Arc<dyn ObjectStore>, compression: Compression) -> Exporter {
    Exporter::new(
        store,
        Path::from("lake"),
        ExportOptions {
            compression,
            ..ExportOptions::default()
        },
    )
}

async fn run(input: &[u8], door: Door, compression: Compression) -> (ExportReport, String) {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let e = exporter(store.clone(), compression);
    let mut report = ExportReport::default();
    match door {
        Door::Split => {
            // Each record apart, as the embedded change feed hands them over.
            let records = apart(input);
            report.merge(
                e.export(Source::Records(&records), NOW)
                    .await
                    .expect("export"),
            );
        }
        Door::Whole(batch) => {
            for prepared in e
                .prepare(Source::Document(input), NOW, batch)
                .expect("export")
            {
                report.merge(e.write(prepared).await.expect("export"));
            }
        }
        Door::File(batch) => {
            let dir = tempfile::tempdir().expect("temporary input file");
            let path = dir.path().join("input.json");
            std::fs::write(&path, input).expect("temporary input file");
            let file = std::fs::File::open(&path).expect("temporary input file");
            let source = Source::File {
                file,
                name: &path,
                progress: &mut |_| {},
            };
            for prepared in e.prepare(source, NOW, batch).expect("export") {
                report.merge(e.write(prepared).await.expect("export"));
            }
        }
        Door::Event => {
            let text = std::str::from_utf8(input).expect("UTF-8 event");
            report.merge(e.export(Source::Event(text), NOW).await.expect("export"));
        }
    }
    (report, listing(store.as_ref()).await)
}

/// The records of an event (`{"Records": [...]}`), or the lines of JSON Lines, each its own
/// text.
fn apart(input: &[u8]) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct Event<'a> {
        #[serde(rename = "Records", borrow)]
        records: Vec<&'a serde_json::value::RawValue>,
    }
    match serde_json::from_slice::<Event<'_>>(input) {
        Ok(event) => event.records.iter().map(|r| r.get().to_owned()).collect(),
        Err(_) => String::from_utf8_lossy(input)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
    }
}

/// Every object: key, size, and the first 16 hex digits of its SHA-256.
async fn listing(store: &dyn ObjectStore) -> String {
    let metas: Vec<_> = store.list(None).collect().await;
    let mut objects = BTreeMap::new();
    for meta in metas {
        let meta = meta.expect("read the in-memory store");
        let body = store
            .get(&meta.location)
            .await
            .expect("read the in-memory store")
            .bytes()
            .await
            .expect("read the in-memory store");
        let digest = hex(&Sha256::digest(&body));
        objects.insert(meta.location.to_string(), (body.len(), digest, body));
    }
    let mut out = String::new();
    for (key, (len, digest, body)) in objects {
        out.push_str(&format!("{key} {len} {}\n", &digest[..16]));
        // A quarantine file's reasons, readable in the snapshot.
        if key.ends_with(".jsonl") {
            let text = std::str::from_utf8(&body).expect("quarantine files are UTF-8");
            for line in text.lines() {
                out.push_str(&format!(
                    "  {} {}\n",
                    field(line, "code"),
                    field(line, "reason")
                ));
            }
        }
    }
    out
}

/// The string field `name` of a quarantine line, read where it stands: the record after it
/// may nest deeper than a JSON parser's recursion limit.
fn field(line: &str, name: &str) -> String {
    let key = format!("\"{name}\":");
    let at = line.find(&key).expect("the field is there") + key.len();
    serde_json::Deserializer::from_str(&line[at..])
        .into_iter::<String>()
        .next()
        .expect("a value")
        .expect("a string")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn summary(report: &ExportReport) -> String {
    format!(
        "received {} written {} quarantined {} reasons {:?}",
        report.received, report.rows_written, report.quarantined, report.quarantine_reasons
    )
}

/// Runs every door on `input` and checks they agree with each other, then returns the one
/// listing (and report) they share, for the snapshot.
async fn all_doors(input: &[u8], doors: &[Door], compression: Compression) -> String {
    let mut out = String::new();
    let mut first: Option<(String, String)> = None;
    for door in doors {
        let (report, objects) = run(input, *door, compression).await;
        let got = (summary(&report), objects);
        match &first {
            None => {
                out = format!("{}\n{}", got.0, got.1);
                first = Some(got);
            }
            Some(want) => assert_eq!(&got, want, "{door:?} differs from {:?}", doors[0]),
        }
    }
    out
}

#[tokio::test]
async fn the_fixtures_make_these_objects_through_every_door() {
    let one = [
        Door::Split,
        Door::Whole(usize::MAX),
        Door::File(usize::MAX),
        Door::Event,
    ];
    insta::assert_snapshot!(
        "lifecycle",
        all_doors(LIFECYCLE, &one, Compression::Zstd).await
    );
    insta::assert_snapshot!(
        "get_records",
        all_doors(GET_RECORDS, &one, Compression::Zstd).await
    );
    insta::assert_snapshot!(
        "lifecycle_in_batches_of_3",
        all_doors(
            LIFECYCLE,
            &[Door::Whole(3), Door::File(3)],
            Compression::Zstd
        )
        .await
    );
    insta::assert_snapshot!(
        "bad_records",
        all_doors(
            BAD,
            &[Door::Split, Door::Whole(usize::MAX), Door::File(usize::MAX)],
            Compression::Zstd
        )
        .await
    );
}

#[tokio::test]
async fn malformed_records_are_quarantined_with_these_reasons_through_every_door() {
    insta::assert_snapshot!(
        "malformed_lines",
        all_doors(
            MALFORMED,
            &[Door::Split, Door::Whole(usize::MAX), Door::File(usize::MAX)],
            Compression::Zstd
        )
        .await
    );
    // The same records as one Lambda event.
    let text = std::str::from_utf8(MALFORMED).expect("UTF-8 fixture");
    let event = format!(
        "{{\"Records\": [{}]}}",
        text.trim_end().replace('\n', ",\n")
    );
    insta::assert_snapshot!(
        "malformed_event",
        all_doors(
            event.as_bytes(),
            &[
                Door::Split,
                Door::Whole(usize::MAX),
                Door::File(usize::MAX),
                Door::Event
            ],
            Compression::Zstd
        )
        .await
    );
}

#[tokio::test]
async fn generated_events_make_these_objects_through_every_door() {
    let doors = [
        Door::Whole(usize::MAX),
        Door::File(usize::MAX),
        Door::Event,
        Door::Split,
    ];
    for order in Order::ALL {
        let input = generate(1_000, order);
        insta::assert_snapshot!(
            format!("generated_1000_{}", order.arg()),
            all_doors(input.as_bytes(), &doors, Compression::Zstd).await
        );
    }
    let input = generate(1_000, Order::Lambda);
    insta::assert_snapshot!(
        "generated_1000_lambda_snappy",
        all_doors(input.as_bytes(), &doors, Compression::Snappy).await
    );
    insta::assert_snapshot!(
        "generated_1000_lambda_in_batches_of_250",
        all_doors(
            input.as_bytes(),
            &[Door::Whole(250), Door::File(250)],
            Compression::Zstd
        )
        .await
    );
    // JSON Lines of the same records, one per line.
    let value: serde_json::Value = serde_json::from_str(&input).unwrap();
    let lines: String = value["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{r}\n"))
        .collect();
    insta::assert_snapshot!(
        "generated_1000_json_lines",
        all_doors(
            lines.as_bytes(),
            &[Door::Split, Door::Whole(usize::MAX), Door::File(usize::MAX)],
            Compression::Zstd
        )
        .await
    );
}
