//! Backfill and reconcile from DynamoDB table exports, end to end through the `imglake`
//! binary, over one table's history (exporter/tests/fixtures/table_export/make.py): a stream outage
//! longer than the stream's 24 hours repaired from an incremental export, a lake started from
//! a full export, and exports that are damaged.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::util::{files_under, fixture, imglake, query, run_ok};

fn table_export(name: &str) -> PathBuf {
    let root = fixture("table_export").join(name).join("AWSDynamoDB");
    // Incremental exports share AWSDynamoDB/data/ for their data files.
    let id = std::fs::read_dir(&root)
        .expect("export fixture")
        .flatten()
        .map(|e| e.file_name())
        .find(|name| name != "data")
        .expect("one export");
    root.join(id)
}

fn stream(lake: &str, name: &str) {
    run_ok(
        imglake()
            .args(["export", "--input"])
            .arg(fixture(&format!("table_export/{name}.json")))
            .args(["--lake", lake]),
    );
}

fn backfill(lake: &str, export: &Path) -> Value {
    let out = run_ok(
        imglake()
            .args(["backfill", "--json", "--lake", lake, "--export"])
            .arg(export),
    );
    serde_json::from_str(&out).expect("backfill report")
}

fn reconcile(lake: &str, export: &Path) -> (Option<i32>, Value) {
    let out = imglake()
        .args(["reconcile", "--json", "--lake", lake, "--export"])
        .arg(export)
        .output()
        .expect("run reconcile");
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "reconcile printed no report ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), report)
}

fn check(lake: &str) -> Output {
    imglake()
        .args(["check", "--lake", lake])
        .output()
        .expect("run check")
}

/// The lake agrees with the full export (reconcile: exit 0, no drift) and passes every check.
fn assert_whole(lake: &str, export: &Path) {
    let (code, report) = reconcile(lake, export);
    assert_eq!(
        (code, &report["drift"]),
        (Some(0), &Value::from(0)),
        "{report}"
    );
    let checked = check(lake);
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stdout)
    );
}

const CURRENT: &str = "select image_id, status, is_deleted, is_ttl_expiry, tenant, width, \
                       variant_count, processed_bytes, error_code, received_at, processed_at \
                       from images_current order by image_id";

/// The lake's rows of one image, oldest first as the views order them.
fn history(lake: &str, image_id: &str) -> String {
    query(
        lake,
        "csv",
        &format!(
            "select event_name, status, previous_status, is_ttl_expiry from image_events_dedup \
             where image_id = '{image_id}' order by {}",
            imglake_exporter::schema::RECENCY_ORDER.join(", ")
        ),
    )
}

#[test]
fn an_outage_longer_than_the_streams_retention_is_repaired_from_an_incremental_export() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake").display().to_string();
    let complete = dir.path().join("complete").display().to_string();
    for part in ["stream_before", "stream_outage", "stream_after"] {
        stream(&complete, part);
    }
    // The outage's records never reached the lake.
    stream(&lake, "stream_before");
    stream(&lake, "stream_after");
    let full = table_export("full-2");

    let (code, report) = reconcile(&lake, &full);
    assert_eq!(code, Some(3), "drift has its own exit status: {report}");
    assert_eq!(
        report["missing_from_lake"], 1,
        "the image created in the outage: {report}"
    );
    assert_eq!(
        report["gone_from_table"], 1,
        "the image a user deleted in the outage: {report}"
    );
    assert_eq!(
        report["expired"], 1,
        "the image TTL deleted is not drift: {report}"
    );
    assert_eq!(report["drift"], 2, "{report}");
    assert!(
        !check(&lake).status.success(),
        "the checks see the gap in c's history"
    );

    let incremental = table_export("incremental");
    let report = backfill(&lake, &incremental);
    assert_eq!(report["lines_read"], 4, "{report}");
    assert_eq!(report["rows_written"], 4, "{report}");
    assert_eq!(report["quarantined"], 0, "{report}");
    assert_whole(&lake, &full);

    // The repaired lake's current state is the complete lake's, TTL expiry told apart.
    let repaired = query(&lake, "csv", CURRENT);
    assert_eq!(repaired, query(&complete, "csv", CURRENT));
    assert!(
        repaired.contains("01JDFY2Q4W8Z8H6V3M5N7K9P1A,PROCESSED,true,true,"),
        "{repaired}"
    );
    assert!(
        repaired.contains("01JDFY3A1B2C3D4E5F6G7H8J9K,REJECTED,true,false,"),
        "{repaired}"
    );
    assert!(
        repaired.contains("01JDFY5D6E7F8G9H0J1K2M3N4P,FAILED,false,false,"),
        "{repaired}"
    );
    // An incremental export's rows are net changes: c went RECEIVED -> PROCESSED in one row,
    // and the stream's next row (the tag) follows it.
    assert_eq!(
        history(&lake, "01JDFY4C5D6E7F8G9H0J1K2M3N"),
        "event_name,status,previous_status,is_ttl_expiry\n\
         INSERT,RECEIVED,,false\n\
         MODIFY,PROCESSED,RECEIVED,false\n\
         MODIFY,PROCESSED,PROCESSED,false\n"
    );

    // The same export again writes the same objects, byte for byte.
    let lake_dir = dir.path().join("lake");
    let before = contents(&lake_dir);
    backfill(&lake, &incremental);
    let after = contents(&lake_dir);
    assert_eq!(before.len(), after.len());
    assert!(
        before == after,
        "a second backfill of the same export changed the lake"
    );
}

#[test]
fn a_lake_starts_from_a_full_export_and_the_stream_carries_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake").display().to_string();
    let first = table_export("full-1");
    let report = backfill(&lake, &first);
    assert_eq!(
        (
            report["lines_read"].as_u64(),
            report["rows_written"].as_u64()
        ),
        (Some(3), Some(3))
    );
    assert_eq!(reconcile(&lake, &first).1["drift"], 0);
    // Every attribute type survives, numbers to their 38 digits, in extra_attributes.
    let extras = query(
        &lake,
        "csv",
        "select extra_attributes from image_events where image_id = '01JDFY2Q4W8Z8H6V3M5N7K9P1A'",
    );
    for exact in [
        "12345678901234567890123456789012345678",
        "-0.00000000000000000000000000000000000001",
        "\"\"SS\"\":[\"\"beach\"\",\"\"sunset\"\"]",
        "\"\"BS\"\":[\"\"AAE=\"\",\"\"/w==\"\"]",
        "naïve café — 😀",
    ] {
        assert!(extras.contains(exact), "{exact} not in {extras}");
    }
    let snapshot = query(
        &lake,
        "csv",
        "select event_name, event_id, cast(event_time as varchar) as event_time, is_ttl_expiry \
         from image_events where image_id = '01JDFY4C5D6E7F8G9H0J1K2M3N'",
    );
    assert_eq!(
        snapshot,
        "event_name,event_id,event_time,is_ttl_expiry\n\
         SNAPSHOT,export:01795514460123-a1b2c3d4:01JDFY4C5D6E7F8G9H0J1K2M3N,2026-11-24T10:01:00.123Z,false\n"
    );

    stream(&lake, "stream_outage");
    stream(&lake, "stream_after");
    assert_whole(&lake, &table_export("full-2"));
}

/// Every file under `dir` with its bytes.
fn contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    files_under(dir)
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(dir.join(&f)).expect("read");
            (f, bytes)
        })
        .collect()
}

/// A copy of `export`'s folder (under `into`/AWSDynamoDB/<id>) to damage.
fn copy_export(export: &Path, into: &Path) -> PathBuf {
    let target = into
        .join("AWSDynamoDB")
        .join(export.file_name().expect("id"));
    std::fs::create_dir_all(target.join("data")).expect("mkdir");
    for entry in walk(export) {
        let relative = entry.strip_prefix(export).expect("under");
        std::fs::copy(&entry, target.join(relative)).expect("copy");
    }
    target
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The data files of an export folder, as the manifest lists them (the one with items first).
fn data_files(export: &Path) -> Vec<(PathBuf, Value)> {
    let manifest = std::fs::read_to_string(export.join("manifest-files.json")).expect("manifest");
    let mut files: Vec<(PathBuf, Value)> = manifest
        .lines()
        .map(|l| {
            let entry: Value = serde_json::from_str(l).expect("manifest line");
            let key = entry["dataFileS3Key"].as_str().expect("key");
            let name = key.rsplit('/').next().expect("name");
            (export.join("data").join(name), entry)
        })
        .collect();
    files.sort_by_key(|(_, e)| std::cmp::Reverse(e["itemCount"].as_u64()));
    files
}

fn failed_backfill(lake: &str, export: &Path) -> String {
    let out = imglake()
        .args(["backfill", "--lake", lake, "--export"])
        .arg(export)
        .output()
        .expect("run backfill");
    assert!(!out.status.success(), "backfill must fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_corrupt_or_missing_data_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake").display().to_string();
    let export = copy_export(&table_export("full-1"), &dir.path().join("corrupt"));
    let (file, _) = data_files(&export).remove(0);
    let mut bytes = std::fs::read(&file).expect("read");
    let last = bytes.len() - 12;
    bytes[last] ^= 0x20;
    std::fs::write(&file, bytes).expect("write");
    let name = file
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let error = failed_backfill(&lake, &export);
    assert!(error.contains(&name) && error.contains("MD5"), "{error}");

    let export = copy_export(&table_export("full-1"), &dir.path().join("missing"));
    let (file, _) = data_files(&export).remove(0);
    std::fs::remove_file(&file).expect("remove");
    let name = file
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let error = failed_backfill(&lake, &export);
    assert!(
        error.contains(&name) && error.contains("missing"),
        "{error}"
    );
}

#[test]
fn a_bad_line_is_quarantined_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake").display().to_string();
    let export = copy_export(&table_export("full-1"), &dir.path().join("bad-line"));
    // The data file with items gains two lines that are no item, its manifest entry updated
    // as DynamoDB would have written it.
    let (file, entry) = data_files(&export).remove(0);
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(&file).expect("open")),
        &mut text,
    )
    .expect("gunzip");
    text.push_str("{\"Item\": {\"image_id\": {\"S\": \"x\"}, \"size_bytes\": {\"N\": \"-\"}}\n");
    text.push_str("{\"Item\": {\"image_id\": \n");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, text.as_bytes()).expect("gzip");
    let body = gz.finish().expect("gzip");
    std::fs::write(&file, &body).expect("write");
    let md5 = md5_base64(&body);
    let items = entry["itemCount"].as_u64().expect("count") + 2;
    let manifest = std::fs::read_to_string(export.join("manifest-files.json")).expect("read");
    let manifest: String = manifest
        .lines()
        .map(|l| {
            let mut e: Value = serde_json::from_str(l).expect("line");
            if e["dataFileS3Key"] == entry["dataFileS3Key"] {
                e["md5Checksum"] = md5.clone().into();
                e["itemCount"] = items.into();
            }
            format!("{e}\n")
        })
        .collect();
    std::fs::write(export.join("manifest-files.json"), &manifest).expect("write");
    // The summary's item count and both manifests' checksums, as DynamoDB would write them.
    let mut summary: Value = serde_json::from_str(
        &std::fs::read_to_string(export.join("manifest-summary.json")).expect("read"),
    )
    .expect("summary");
    summary["itemCount"] = (summary["itemCount"].as_u64().expect("count") + 2).into();
    let summary = summary.to_string();
    std::fs::write(export.join("manifest-summary.json"), &summary).expect("write");
    for (name, text) in [("files", &manifest), ("summary", &summary)] {
        use md5::Digest as _;
        std::fs::write(
            export.join(format!("manifest-{name}.checksum")),
            md5::Md5::digest(text.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
        )
        .expect("write");
    }

    let report = backfill(&lake, &export);
    assert_eq!(report["lines_read"], 5, "{report}");
    assert_eq!(report["rows_written"], 3, "{report}");
    assert_eq!(report["quarantined"], 2, "{report}");
    let quarantined = files_under(&dir.path().join("lake/_quarantine"));
    assert!(!quarantined.is_empty());
    let (_, report) = reconcile(&lake, &export);
    assert_eq!(report["unmappable_lines"], 2, "{report}");
    assert_eq!(report["drift"], 0, "{report}");
}

fn md5_base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    use md5::Digest as _;
    base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(bytes))
}

/// Memory stays bounded however large the export: 200 MB of lines (about 290 000 items)
/// backfill under 160 MB of peak RSS (a debug build needs about 70 MB for 100 MB). The 2 GB
/// run against the 500 MB target is in BENCHMARKS.md (scripts/backfill-memory.py).
#[test]
fn a_large_export_is_backfilled_in_bounded_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run_ok(
        std::process::Command::new(crate::util::venv_bin("python"))
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/scripts/backfill-memory.py"
            ))
            .args([
                "--imglake",
                env!("CARGO_BIN_EXE_imglake"),
                "--size",
                "200MB",
                "--work",
            ])
            .arg(dir.path()),
    );
    let result: Value = serde_json::from_str(out.trim()).expect("result");
    assert!(result["lines"].as_u64() > Some(250_000), "{result}");
    assert_eq!(result["rows_written"], result["lines"], "{result}");
    let peak = result["peak_rss_mb"].as_f64().expect("peak");
    assert!(peak < 160.0, "peak RSS {peak} MB: {result}");
}

/// A manifest cut short or altered is refused, naming the fix, before any row is written:
/// a line removed from manifest-files.json (caught by its checksum file, and without that file
/// by the summary's item count), and a data file altered with its manifest line made to match
/// (caught by the manifest's checksum file). The untouched export still backfills.
#[test]
fn a_truncated_or_altered_manifest_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake").display().to_string();
    let no_rows = |lake: &str| {
        assert!(
            !Path::new(lake).exists() || files_under(Path::new(lake)).is_empty(),
            "nothing is written from a refused export"
        )
    };

    // A line of manifest-files.json removed.
    let export = copy_export(&table_export("full-1"), &dir.path().join("cut"));
    let manifest = std::fs::read_to_string(export.join("manifest-files.json")).expect("read");
    let lines: Vec<&str> = manifest.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() > 1, "the fixture has several data files");
    let first_with_items = lines
        .iter()
        .position(|l| {
            serde_json::from_str::<Value>(l).expect("line")["itemCount"]
                .as_u64()
                .unwrap_or(0)
                > 0
        })
        .expect("a data file with items");
    let cut: String = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != first_with_items)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    std::fs::write(export.join("manifest-files.json"), &cut).expect("write");
    let error = failed_backfill(&lake, &export);
    assert!(
        error.contains("manifest-files.checksum") && error.contains("export again"),
        "{error}"
    );
    no_rows(&lake);
    // Its checksum file gone too: the summary's item count tells.
    std::fs::remove_file(export.join("manifest-files.checksum")).expect("remove");
    let error = failed_backfill(&lake, &export);
    assert!(
        error.contains("manifest-summary.json says") && error.contains("truncated"),
        "{error}"
    );
    no_rows(&lake);
    let out = imglake()
        .args(["reconcile", "--lake", &lake, "--export"])
        .arg(&export)
        .output()
        .expect("reconcile");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("truncated"),
        "reconcile refuses it too: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "an error, not drift");

    // A data file altered, and its manifest line's MD5 made to match.
    let export = copy_export(&table_export("full-1"), &dir.path().join("altered"));
    let (file, entry) = data_files(&export).remove(0);
    let mut text = String::new();
    {
        use std::io::Read as _;
        flate2::read::MultiGzDecoder::new(std::fs::File::open(&file).expect("open"))
            .read_to_string(&mut text)
            .expect("gunzip");
    }
    let altered = text.replacen(r#"{"S":""#, r#"{"S":"x"#, 1);
    assert_ne!(altered, text);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    {
        use std::io::Write as _;
        gz.write_all(altered.as_bytes()).expect("gzip");
    }
    let body = gz.finish().expect("gzip");
    std::fs::write(&file, &body).expect("write");
    let manifest = std::fs::read_to_string(export.join("manifest-files.json")).expect("read");
    let old_md5 = entry["md5Checksum"].as_str().expect("md5").to_owned();
    std::fs::write(
        export.join("manifest-files.json"),
        manifest.replace(&old_md5, &md5_base64(&body)),
    )
    .expect("write");
    let error = failed_backfill(&lake, &export);
    assert!(error.contains("manifest-files.checksum"), "{error}");
    no_rows(&lake);

    // The untouched export goes in whole.
    let report = backfill(&lake, &table_export("full-1"));
    assert_eq!(report["rows_written"], report["lines_read"], "{report}");
    assert!(report["rows_written"].as_u64() > Some(0), "{report}");
}

/// Writes a DynamoDB export folder `<root>/AWSDynamoDB/<id>` with one data file of `lines`,
/// its manifests and their checksums; `summary` adds the kind's fields.
fn write_export(root: &Path, id: &str, lines: &[Value], summary: Value) -> PathBuf {
    use md5::Digest as _;
    let folder = root.join("AWSDynamoDB").join(id);
    std::fs::create_dir_all(folder.join("data")).expect("mkdir");
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, text.as_bytes()).expect("gzip");
    let body = gz.finish().expect("gzip");
    let key = format!("AWSDynamoDB/{id}/data/a.json.gz");
    std::fs::write(root.join(&key), &body).expect("write");
    let hex = |bytes: &[u8]| -> String {
        md5::Md5::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let files = format!(
        "{}\n",
        serde_json::json!({"itemCount": lines.len(), "md5Checksum": md5_base64(&body), "etag": hex(&body), "dataFileS3Key": key})
    );
    let mut all = serde_json::json!({
        "version": "2020-06-30",
        "exportArn": format!("arn:aws:dynamodb:eu-west-1:123456789012:table/imglake-images/export/{id}"),
        "startTime": "2026-11-25T12:00:00.000Z",
        "endTime": "2026-11-25T12:05:00.000Z",
        "manifestFilesS3Key": format!("AWSDynamoDB/{id}/manifest-files.json"),
        "itemCount": lines.len(),
        "outputFormat": "DYNAMODB_JSON",
    });
    for (k, v) in summary.as_object().expect("object") {
        all[k] = v.clone();
    }
    let all = all.to_string();
    for (name, text) in [("files", &files), ("summary", &all)] {
        std::fs::write(folder.join(format!("manifest-{name}.json")), text).expect("write");
        std::fs::write(
            folder.join(format!("manifest-{name}.checksum")),
            hex(text.as_bytes()),
        )
        .expect("write");
    }
    folder
}

/// An outage's boundary second, where stream rows (whole seconds) and export rows
/// (milliseconds) meet: `images_current` and reconcile order an image's rows by the same rule,
/// so the view shows the table's state whenever reconcile reports no drift.
/// - img-r: the stream's INSERT (RECEIVED) at second S, then the outage; an incremental export
///   holds its last write of the window, PROCESSED at S.900. The export row is newer.
/// - img-s: a full export's SNAPSHOT (PROCESSING) at S2.500, and the stream's MODIFY to
///   PROCESSED in second S2, after the snapshot. The stream row is newer.
#[test]
fn reconcile_and_images_current_agree_at_an_outage_boundary_second() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake").display().to_string();
    let s: i64 = 1_795_600_000;
    let s2 = s + 10;
    let image = |id: &str, status: &str, received: i64| {
        let mut item = serde_json::json!({
            "image_id": {"S": id}, "status": {"S": status}, "source": {"S": "api"},
            "tenant": {"S": "acme"}, "received_at": {"N": (received * 1000 + 100).to_string()},
            "expires_at": {"N": (received + 7 * 86_400).to_string()},
        });
        if status == "PROCESSED" {
            item["processed_at"] = serde_json::json!({"N": (received * 1000 + 900).to_string()});
        }
        item
    };
    let record = |id: &str, name: &str, second: i64, seq: &str, new: Value, old: Option<Value>| {
        let mut dynamodb = serde_json::json!({
            "ApproximateCreationDateTime": second, "Keys": {"image_id": {"S": id}},
            "SequenceNumber": seq, "SizeBytes": 100, "StreamViewType": "NEW_AND_OLD_IMAGES",
            "NewImage": new,
        });
        if let Some(old) = old {
            dynamodb["OldImage"] = old;
        }
        serde_json::json!({
            "eventID": format!("e-{id}-{seq}"), "eventName": name, "eventVersion": "1.1",
            "eventSource": "aws:dynamodb", "awsRegion": "eu-west-1", "dynamodb": dynamodb,
            "eventSourceARN": "arn:aws:dynamodb:eu-west-1:123456789012:table/imglake-images/stream/2026-11-01T00:00:00.000",
        })
    };
    let stream_file = dir.path().join("stream.json");
    std::fs::write(
        &stream_file,
        serde_json::json!({"Records": [
            record("img-r", "INSERT", s, "100000000000000009000", image("img-r", "RECEIVED", s), None),
            record("img-s", "MODIFY", s2, "100000000000000009100", image("img-s", "PROCESSED", s),
                Some(image("img-s", "PROCESSING", s))),
        ]})
        .to_string(),
    )
    .expect("write");
    run_ok(
        imglake()
            .args(["export", "--input"])
            .arg(&stream_file)
            .args(["--lake", &lake]),
    );
    let iso = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .expect("time")
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    let incremental = write_export(
        &dir.path().join("inc"),
        "01795610000000-bbbb0001",
        &[serde_json::json!({
            "Metadata": {"WriteTimestampMicros": {"N": (s * 1_000_000 + 900_000).to_string()}},
            "Keys": {"image_id": {"S": "img-r"}},
            "NewImage": image("img-r", "PROCESSED", s),
        })],
        serde_json::json!({
            "exportFromTime": iso((s - 600) * 1000), "exportToTime": iso((s + 3000) * 1000),
            "outputView": "NEW_AND_OLD_IMAGES", "exportType": "INCREMENTAL_EXPORT",
        }),
    );
    let snapshot = write_export(
        &dir.path().join("snap"),
        "01795600010500-bbbb0002",
        &[serde_json::json!({"Item": image("img-s", "PROCESSING", s)})],
        serde_json::json!({"exportTime": iso(s2 * 1000 + 500)}),
    );
    backfill(&lake, &incremental);
    backfill(&lake, &snapshot);
    let full = write_export(
        &dir.path().join("full"),
        "01795620000000-bbbb0003",
        &[
            serde_json::json!({"Item": image("img-r", "PROCESSED", s)}),
            serde_json::json!({"Item": image("img-s", "PROCESSED", s)}),
        ],
        serde_json::json!({"exportTime": iso((s + 7200) * 1000)}),
    );
    let (code, report) = reconcile(&lake, &full);
    let current = query(
        &lake,
        "csv",
        "select image_id, status from images_current order by image_id",
    );
    assert_eq!(
        (code, report["drift"].as_u64(), current.as_str()),
        (
            Some(0),
            Some(0),
            "image_id,status\nimg-r,PROCESSED\nimg-s,PROCESSED\n"
        ),
        "reconcile: {report}"
    );
}
