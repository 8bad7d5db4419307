//! `imglake export` then `imglake query` on a local lake.

use crate::util::{export, files_under, imglake, query, run_ok};

fn lake_dir() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake").display().to_string();
    (dir, lake)
}

#[test]
fn query_across_partitions_returns_every_exported_row() {
    let (_dir, lake) = lake_dir();
    let summary = export(&lake, "lambda_lifecycle.json", &[]);
    assert!(
        summary.contains("records:     7\nrows:        7\nquarantined: 0"),
        "{summary}"
    );
    export(&lake, "get_records.json", &["--stream-label", "getrecords"]);
    export(&lake, "bad_records.jsonl", &[]);
    let csv = query(
        &lake,
        "csv",
        "select dt, hour, count(*) as n from image_events group by dt, hour order by dt, hour",
    );
    assert_eq!(
        csv,
        "dt,hour,n\n\
         2026-11-24,9,2\n\
         2026-11-24,10,3\n\
         2026-11-24,11,1\n\
         2026-11-24,12,3\n\
         2026-11-24,13,2\n\
         2026-12-01,9,1\n"
    );
    // Partition pruning works on the typed partition columns.
    let pruned = query(
        &lake,
        "csv",
        "select count(*) as n from image_events where dt = date '2026-11-24' and hour between 10 and 12",
    );
    assert_eq!(pruned, "n\n7\n");
    // One hour of one day, for a single-digit hour (its directory is hour=09): DataFusion
    // built the listing prefix hour=9 from an Int32 partition column and found nothing.
    for (hour, n) in [(9, 2), (10, 3)] {
        let one_hour = query(
            &lake,
            "csv",
            &format!(
                "select count(*) as n from image_events where dt = '2026-11-24' and hour = {hour}"
            ),
        );
        assert_eq!(one_hour, format!("n\n{n}\n"), "hour {hour}");
    }
}

#[test]
fn query_only_reads_the_lake() {
    let (dir, lake) = lake_dir();
    export(&lake, "lambda_lifecycle.json", &[]);
    let files = |root: &str| files_under(std::path::Path::new(root));
    let before = files(&lake);
    let copy_target = dir.path().join("copied.parquet").display().to_string();
    for sql in [
        "insert into image_events_files select * from image_events_files".to_owned(),
        format!("copy (select * from image_events) to '{copy_target}'"),
        "create view v as select 1".to_owned(),
        "set datafusion.execution.batch_size = 1".to_owned(),
    ] {
        let stderr = fails(&["query", "--lake", &lake, &sql]);
        assert!(stderr.contains("only reads the lake"), "{sql}: {stderr}");
        assert!(stderr.contains("--format csv or json"), "{sql}: {stderr}");
    }
    assert_eq!(files(&lake), before, "a refused statement changed the lake");
    assert!(!std::path::Path::new(&copy_target).exists());
    // Reading statements still run.
    let n = query(&lake, "csv", "select count(*) as n from image_events");
    assert_eq!(n, "n\n7\n");
    let plan = query(&lake, "csv", "explain select count(*) from image_events");
    assert!(plan.contains("plan_type"), "{plan}");
}

#[test]
fn json_output_carries_typed_values() {
    let (_dir, lake) = lake_dir();
    export(&lake, "lambda_lifecycle.json", &[]);
    let out = query(
        &lake,
        "json",
        "select image_id, width, size_bytes, mean_luma, has_alpha, operations, event_time, expires_at, \
         is_ttl_expiry, previous_status from image_events \
         where status = 'PROCESSED' and event_name = 'MODIFY'",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    let row: serde_json::Value = serde_json::from_str(lines[0]).expect("json");
    assert_eq!(row["image_id"], "01JDFY2Q4W8Z8H6V3M5N7K9P1A");
    assert_eq!(row["width"], 4000);
    assert_eq!(row["size_bytes"], 2_481_923);
    assert_eq!(row["mean_luma"], 118.25);
    assert_eq!(row["has_alpha"], false);
    assert_eq!(
        row["operations"],
        serde_json::json!(["orient", "strip", "resize:thumb", "resize:display"])
    );
    assert_eq!(row["event_time"], "2026-11-24T10:00:03Z");
    assert_eq!(row["expires_at"], "2026-12-01T09:58:10Z");
    assert_eq!(row["is_ttl_expiry"], false);
    assert_eq!(row["previous_status"], "PROCESSING");
}

#[test]
fn lifecycle_reads_back_as_a_change_log() {
    let (_dir, lake) = lake_dir();
    export(&lake, "lambda_lifecycle.json", &[]);
    let table = query(
        &lake,
        "table",
        "select image_id, event_name, previous_status, status, is_ttl_expiry, error_code \
         from image_events order by sequence_number",
    );
    insta::assert_snapshot!(table);
}

#[test]
fn replaying_an_export_rewrites_the_same_files() {
    let (dir, lake) = lake_dir();
    export(&lake, "lambda_lifecycle.json", &[]);
    export(&lake, "bad_records.jsonl", &[]);
    let first = files_under(&dir.path().join("lake"));
    export(&lake, "lambda_lifecycle.json", &[]);
    export(&lake, "bad_records.jsonl", &[]);
    let second = files_under(&dir.path().join("lake"));
    assert_eq!(first, second);
    assert_eq!(first.iter().filter(|f| f.ends_with(".parquet")).count(), 5);
    assert_eq!(
        first
            .iter()
            .filter(|f| f.starts_with("_quarantine/image_events/"))
            .count(),
        1
    );
    assert_eq!(
        query(&lake, "csv", "select count(*) as n from image_events"),
        "n\n9\n"
    );
}

#[test]
fn bad_records_are_quarantined_and_counted() {
    let (dir, lake) = lake_dir();
    let summary = export(&lake, "bad_records.jsonl", &[]);
    for line in [
        "records:     9",
        "rows:        2",
        "quarantined: 7",
        "  number_out_of_range: 1",
        "  wrong_attribute_type: 1",
        "  invalid_json: 1",
    ] {
        assert!(summary.contains(line), "missing {line:?} in\n{summary}");
    }
    let quarantine = files_under(&dir.path().join("lake/_quarantine"));
    assert_eq!(quarantine.len(), 1, "{quarantine:?}");
    let path = dir.path().join("lake/_quarantine").join(&quarantine[0]);
    let body = std::fs::read_to_string(&path).expect("read");
    assert_eq!(body.lines().count(), 7);
    // The summary says where the quarantined records went.
    let path = std::fs::canonicalize(path).expect("canonical path");
    assert!(
        summary.contains(&format!("  {} (7 quarantined)", path.display())),
        "{summary}"
    );

    // Input that is not stream records at all is an error that names the file's problem;
    // its lines are not quarantined as records.
    let notes = dir.path().join("notes.md");
    std::fs::write(&notes, "# Notes\n\nnot a stream record\n").expect("write");
    let stderr = fails(&[
        "export",
        "--input",
        &notes.display().to_string(),
        "--lake",
        &lake,
    ]);
    assert!(
        stderr.contains("expected value at line 1 column 1; read as JSON Lines, none of its 2 lines is a stream record"),
        "{stderr}"
    );
    assert_eq!(
        files_under(&dir.path().join("lake/_quarantine")),
        quarantine
    );
    // Records that are all malformed still get the question whether the file is records.
    let odd = dir.path().join("odd.jsonl");
    std::fs::write(&odd, "{\"id\": 1}\n{\"id\": 2}\n").expect("write");
    let out = imglake()
        .args(["export", "--input"])
        .arg(&odd)
        .args(["--lake", &lake])
        .output()
        .expect("spawn");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("Is {} a DynamoDB stream event", odd.display())),
        "{stderr}"
    );
}

#[test]
fn export_reads_stdin_and_reports_json() {
    let (_dir, lake) = lake_dir();
    let input = std::fs::read(crate::util::fixture("get_records.json")).expect("fixture");
    let mut child = imglake()
        .args(["export", "--input", "-", "--lake", &lake, "--json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&input)
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json report");
    assert_eq!(report["received"], 3);
    assert_eq!(report["rows_written"], 3);
    assert_eq!(report["files"].as_array().map(Vec::len), Some(1));
    // Each file's location is a path that exists.
    let location = report["files"][0]["location"].as_str().expect("location");
    assert!(std::path::Path::new(location).is_file(), "{report}");
}

#[test]
fn stdin_redirected_from_a_file_exports_what_the_file_does() {
    // `< file` hands stdin a regular file, which is read like --input: a chunk at a time
    // when its form allows, whole otherwise, from where the file stands (a script may have
    // read a header line first). The lake gets the same files either way.
    let dir = tempfile::tempdir().expect("tempdir");
    let event = std::fs::read(crate::util::fixture("lambda_lifecycle.json")).expect("fixture");
    let parsed: serde_json::Value = serde_json::from_slice(&event).expect("json");
    let array = serde_json::to_vec(&parsed["Records"]).expect("json");
    let header = b"# exported by a script that read this line itself\n";
    // The same report but for where the lake is and how long it took.
    let report = |text: &str, lake: &str| {
        let mut report: serde_json::Value = serde_json::from_str(text).expect("json report");
        report["seconds"] = serde_json::Value::Null;
        let root = std::fs::canonicalize(lake).expect("lake");
        let root = root.to_string_lossy().trim_start_matches('/').to_owned();
        serde_json::from_str::<serde_json::Value>(&report.to_string().replace(&root, "LAKE"))
            .expect("json")
    };
    for (name, body) in [("event", event.as_slice()), ("array", array.as_slice())] {
        let plain = dir.path().join(format!("{name}.json"));
        std::fs::write(&plain, body).expect("write");
        let headed = dir.path().join(format!("{name}-headed.json"));
        std::fs::write(&headed, [header.as_slice(), body].concat()).expect("write");
        let mut stdin = std::fs::File::open(&headed).expect("open");
        std::io::Seek::seek(&mut stdin, std::io::SeekFrom::Start(header.len() as u64))
            .expect("seek");
        let lake_a = dir
            .path()
            .join(format!("{name}-stdin"))
            .display()
            .to_string();
        let from_stdin = run_ok(
            imglake()
                .args(["export", "--input", "-", "--lake", &lake_a, "--json"])
                .stdin(stdin),
        );
        let lake_b = dir
            .path()
            .join(format!("{name}-file"))
            .display()
            .to_string();
        let from_file = run_ok(
            imglake()
                .args(["export", "--input"])
                .arg(&plain)
                .args(["--lake", &lake_b, "--json"]),
        );
        let (from_stdin, from_file) = (report(&from_stdin, &lake_a), report(&from_file, &lake_b));
        assert_eq!(from_stdin["rows_written"], 7, "{name}: {from_stdin}");
        assert_eq!(from_stdin, from_file, "{name}");
    }
}

#[test]
fn errors_name_the_fix() {
    let (_dir, lake) = lake_dir();
    let out = imglake()
        .args([
            "export",
            "--input",
            "/nonexistent/input.json",
            "--lake",
            &lake,
        ])
        .output()
        .expect("spawn");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot read --input /nonexistent/input.json"),
        "{stderr}"
    );
    assert!(
        !std::path::Path::new(&lake).exists(),
        "a missing input must not create the lake"
    );

    let out = imglake()
        .args(["query", "--lake", "gs://bucket/lake", "select 1"])
        .output()
        .expect("spawn");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("use a directory path or s3://bucket/prefix")
    );

    let out = imglake()
        .args([
            "export",
            "--input",
            "x",
            "--lake",
            &lake,
            "--compression",
            "lz4",
        ])
        .output()
        .expect("spawn");
    assert!(String::from_utf8_lossy(&out.stderr).contains("use zstd or snappy"));
    // The query on an empty lake is valid and returns zero.
    let empty = tempfile::tempdir().expect("tempdir");
    let n = run_ok(imglake().args([
        "query",
        "--lake",
        &empty.path().display().to_string(),
        "--format",
        "csv",
        "select count(*) as n from image_events",
    ]));
    assert_eq!(n, "n\n0\n");
    // ...but checks on it would pass on nothing, so they refuse.
    let stderr = fails(&["check", "--lake", &empty.path().display().to_string()]);
    assert!(stderr.contains("has no image_events table yet"), "{stderr}");

    // A mistyped lake is an error for every reading command, and is not created.
    let missing = empty.path().join("typo");
    let missing = missing.display().to_string();
    for args in [
        vec!["query", "--lake", &missing, "select 1"],
        vec!["check", "--lake", &missing],
        vec!["compact", "--lake", &missing],
    ] {
        let stderr = fails(&args);
        assert!(
            stderr.contains("the directory does not exist"),
            "{args:?}: {stderr}"
        );
    }
    assert!(!empty.path().join("typo").exists());
    // A data directory given for its lake is named.
    let data = empty.path().join("data");
    std::fs::create_dir_all(data.join("lake/image_events")).expect("mkdir");
    let stderr = fails(&["check", "--lake", &data.display().to_string()]);
    assert!(
        stderr.contains(&format!("did you mean {}?", data.join("lake").display())),
        "{stderr}"
    );
    // The table's directory (or a partition) given for the lake, or a file.
    let table = data.join("lake/image_events");
    let stderr = fails(&["query", "--lake", &table.display().to_string(), "select 1"]);
    assert!(
        stderr.contains(&format!(
            "inside the image_events table; did you mean {}?",
            data.join("lake").display()
        )),
        "{stderr}"
    );
    let file = data.join("records.json");
    std::fs::write(&file, "{}").expect("write");
    let stderr = fails(&["query", "--lake", &file.display().to_string(), "select 1"]);
    assert!(
        stderr.contains("it is a file; --lake takes the lake's directory"),
        "{stderr}"
    );
}

#[test]
fn odd_inputs_are_read_or_named() {
    let export_file = |input: &std::path::Path, lake: &str| {
        run_ok(
            imglake()
                .args(["export", "--input"])
                .arg(input)
                .args(["--lake", lake]),
        )
    };
    let (dir, lake) = lake_dir();
    // A byte order mark before a Lambda event is not part of the JSON.
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend(std::fs::read(crate::util::fixture("lambda_lifecycle.json")).expect("fixture"));
    let with_bom = dir.path().join("bom.json");
    std::fs::write(&with_bom, bom).expect("write");
    let out = export_file(&with_bom, &lake);
    assert!(out.contains("rows:        7\nquarantined: 0"), "{out}");
    // An input with no records says so.
    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, "{\"Records\": []}").expect("write");
    let out = imglake()
        .args(["export", "--input"])
        .arg(&empty)
        .args(["--lake", &lake])
        .output()
        .expect("spawn");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds no stream records"));
    // A pretty-printed event with trailing text is a wrong file, named with its place; its
    // lines are not records to quarantine one by one.
    let event: serde_json::Value = serde_json::from_slice(
        &std::fs::read(crate::util::fixture("lambda_lifecycle.json")).expect("fixture"),
    )
    .expect("json");
    let pretty = serde_json::to_string_pretty(&event).expect("json");
    let lines = pretty.lines().count();
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, format!("{pretty}\nxyz\n")).expect("write");
    let stderr = fails(&[
        "export",
        "--input",
        &broken.display().to_string(),
        "--lake",
        &lake,
    ]);
    assert!(
        stderr.contains(&format!(
            "trailing characters at line {} column 1",
            lines + 1
        )),
        "{stderr}"
    );
    // JSON Lines of whole events (one logged Lambda event per line) are read record by record.
    let compact = serde_json::to_string(&event).expect("json");
    let events = dir.path().join("events.jsonl");
    std::fs::write(&events, format!("{compact}\n{compact}\n")).expect("write");
    let lake3 = dir.path().join("lake3").display().to_string();
    let out = export_file(&events, &lake3);
    assert!(
        out.contains("records:     14\nrows:        14\nquarantined: 0"),
        "{out}"
    );
    // ...also when one of their records cannot be mapped: it is quarantined, the rest written.
    let mut bad_event = event.clone();
    bad_event["Records"][0]["dynamodb"]["ApproximateCreationDateTime"] = serde_json::json!(-5);
    std::fs::write(&events, format!("{compact}\n{bad_event}\n")).expect("write");
    let out = export_file(&events, &lake3);
    assert!(
        out.contains("records:     14\nrows:        13\nquarantined: 1"),
        "{out}"
    );
    // Stream records whose values do not fit are not a wrong file: no such question.
    let mut unfit = event.clone();
    for record in unfit["Records"].as_array_mut().expect("records") {
        record["dynamodb"]["ApproximateCreationDateTime"] = serde_json::json!(-5);
    }
    let unfit_path = dir.path().join("unfit.json");
    std::fs::write(&unfit_path, unfit.to_string()).expect("write");
    let out = imglake()
        .args(["export", "--input"])
        .arg(&unfit_path)
        .args(["--lake", &lake3])
        .output()
        .expect("spawn");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("none of the 7 records could be exported."),
        "{stderr}"
    );
    assert!(!stderr.contains("stream event"), "{stderr}");
    // A later batch that starts and ends at the same records as an earlier one but holds
    // fewer (records 1, 2, 3 then 1, 3) writes its own file: record 2 used to be lost.
    let record = |seq: u32| {
        serde_json::json!({
            "eventID": format!("e{seq}"), "eventName": "INSERT", "eventSourceARN": "arnA",
            "dynamodb": {
                "ApproximateCreationDateTime": 1_795_514_290,
                "SequenceNumber": seq.to_string(),
                "Keys": {"image_id": {"S": "i"}},
            }
        })
        .to_string()
    };
    let overlapping = dir.path().join("overlapping.jsonl");
    let lines: Vec<String> = [1, 2, 3, 1, 3].into_iter().map(record).collect();
    std::fs::write(&overlapping, lines.join("\n")).expect("write");
    let lake4 = dir.path().join("lake4").display().to_string();
    run_ok(
        imglake()
            .args(["export", "--input"])
            .arg(&overlapping)
            .args(["--lake", &lake4, "--batch-records", "3"]),
    );
    let ids = query(
        &lake4,
        "csv",
        "select distinct event_id from image_events order by event_id",
    );
    assert_eq!(ids, "event_id\ne1\ne2\ne3\n");
    // An input that repeats its events in a later batch rewrites the same files; the
    // summary counts the files the lake holds and says why it wrote more.
    let repeated = dir.path().join("repeated.jsonl");
    let lines =
        std::fs::read_to_string(crate::util::fixture("bad_records.jsonl")).expect("fixture");
    std::fs::write(&repeated, format!("{lines}{lines}")).expect("write");
    let lake2 = dir.path().join("lake2").display().to_string();
    let out = run_ok(imglake().args(["export", "--input"]).arg(&repeated).args([
        "--lake",
        &lake2,
        "--batch-records",
        "9",
    ]));
    assert!(out.contains("files:       2 "), "{out}");
    assert!(
        out.contains("rows:        4 (2 in the files the lake holds)"),
        "{out}"
    );
    assert!(
        out.contains("2 writes replaced a file this run had written"),
        "{out}"
    );
    let out = run_ok(imglake().args(["export", "--input"]).arg(&repeated).args([
        "--lake",
        &lake2,
        "--batch-records",
        "9",
        "--json",
    ]));
    let report: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(
        report["files"].as_array().map(Vec::len),
        Some(2),
        "{report}"
    );
    assert_eq!(report["rewrites"], 2, "{report}");
    // JSON rows carry every column, null ones too.
    let json = query(
        &lake,
        "json",
        // Any row without an error (an unordered `limit 1` picked whichever file came first).
        "select image_id, error_code from image_events where error_code is null limit 1",
    );
    assert!(json.contains("\"error_code\":null"), "{json}");
    // Compacting a partition that does not exist says so.
    let out = run_ok(imglake().args([
        "compact",
        "--lake",
        &lake,
        "--partition",
        "dt=2030-01-01/hour=00",
    ]));
    assert!(out.contains("no such partition"), "{out}");
}

#[test]
fn a_failed_query_names_the_damaged_file_and_the_misnamed_partition() {
    let (dir, lake) = lake_dir();
    export(&lake, "lambda_lifecycle.json", &[]);
    let table = dir.path().join("lake/image_events");
    let hour10 = table.join("dt=2026-11-24/hour=10");
    let damaged = std::fs::read_dir(&hour10)
        .expect("hour 10")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "parquet"))
        .expect("a file");
    let bytes = std::fs::read(&damaged).expect("read");
    std::fs::write(&damaged, &bytes[..100]).expect("truncate");
    let misnamed = table.join("dt=bad/hour=xx");
    std::fs::create_dir_all(&misnamed).expect("mkdir");
    std::fs::write(misnamed.join("p.parquet"), &bytes).expect("write");
    for args in [
        vec![
            "query",
            "--lake",
            &lake,
            "select count(*) from image_events",
        ],
        vec!["check", "--lake", &lake],
    ] {
        let stderr = fails(&args);
        let damaged = std::fs::canonicalize(&damaged).expect("path");
        assert!(
            stderr.contains(&format!("{}: not readable Parquet", damaged.display())),
            "{args:?}: {stderr}"
        );
        assert!(
            stderr.contains("partition dt=bad/hour=xx is not"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn output_to_a_closed_pipe_ends_quietly_with_the_sigpipe_status() {
    use std::io::Read;
    let empty = tempfile::tempdir().expect("tempdir");
    let mut child = imglake()
        .args(["query", "--lake"])
        .arg(empty.path())
        .args([
            "--format",
            "csv",
            "select * from generate_series(1, 200000)",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Read the first bytes, as `| head -c 16` would, then close the pipe.
    let mut first = [0u8; 16];
    child
        .stdout
        .take()
        .expect("stdout")
        .read_exact(&mut first)
        .expect("first bytes");
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Runs imglake, expects a failure, returns its stderr.
fn fails(args: &[&str]) -> String {
    let out = imglake().args(args).output().expect("spawn");
    assert!(!out.status.success(), "{args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn compact_merges_replayed_batches_and_queries_stay_correct() {
    let (dir, lake) = lake_dir();
    // The same records exported under three stream labels: the duplicates that bisected and
    // retried batches leave behind, in three files per partition.
    for label in ["a", "b", "c"] {
        export(&lake, "lambda_lifecycle.json", &["--stream-label", label]);
    }
    assert_eq!(
        query(&lake, "csv", "select count(*) as n from image_events"),
        "n\n21\n"
    );
    assert_eq!(
        query(&lake, "csv", "select count(*) as n from image_events_dedup"),
        "n\n7\n"
    );
    let out = run_ok(imglake().args(["compact", "--lake", &lake]));
    assert!(
        out.contains("[2/4] dt=2026-11-24/hour=10: 3 files, 9 rows -> 1 files, 3 rows (6 duplicates removed)"),
        "{out}"
    );
    let files = files_under(&dir.path().join("lake/image_events"));
    assert_eq!(files.len(), 4, "{files:?}");
    assert!(files.iter().all(|f| f.contains("/compacted-")), "{files:?}");
    assert_eq!(
        query(&lake, "csv", "select count(*) as n from image_events"),
        "n\n7\n"
    );
    // A second run finds every partition compact; one partition can be named.
    let again = run_ok(imglake().args([
        "compact",
        "--lake",
        &lake,
        "--partition",
        "dt=2026-11-24/hour=10",
    ]));
    assert_eq!(
        again,
        "[1/1] dt=2026-11-24/hour=10: already compact (3 rows)\n"
    );
    let bad = imglake()
        .args(["compact", "--lake", &lake, "--partition", "hour=10"])
        .output()
        .expect("spawn");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("use dt=YYYY-MM-DD/hour=HH"));
    // A damaged file is named by its full path.
    let zero = dir
        .path()
        .join("lake/image_events/dt=2026-11-24/hour=10/zero.parquet");
    std::fs::write(&zero, b"").expect("write");
    let stderr = fails(&[
        "compact",
        "--lake",
        &lake,
        "--partition",
        "dt=2026-11-24/hour=10",
    ]);
    let zero = std::fs::canonicalize(&zero).expect("canonical");
    assert!(
        stderr.contains(&format!("{}: ", zero.display())),
        "{stderr}"
    );
}

#[test]
fn check_passes_a_healthy_lake_and_names_the_problems_of_an_unhealthy_one() {
    // Dated 2026-11-24: in the past whatever this machine's clock says later.
    let (_dir, healthy) = lake_dir();
    export(&healthy, "get_records.json", &[]);
    export(&healthy, "bad_records.jsonl", &[]);
    let out = run_ok(imglake().args(["check", "--lake", &healthy]));
    assert!(out.contains("all 7 checks passed"), "{out}");

    let (_dir2, unhealthy) = lake_dir();
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/unhealthy.jsonl"
    );
    run_ok(imglake().args(["export", "--input", fixture, "--lake", &unhealthy]));
    let out = imglake()
        .args(["check", "--lake", &unhealthy, "--show-rows", "2"])
        .output()
        .expect("spawn");
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    for check in [
        "duplicate_event_ids",
        "events_in_future",
        "illegal_status_transitions",
        "negative_sizes",
        "processed_without_variants",
        "rejected_without_error_code",
        "replaced_uploads",
    ] {
        assert!(
            stdout.contains(&format!("FAIL  {check}:")),
            "{check} not reported:\n{stdout}"
        );
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("7 of 7 checks found problems"), "{stderr}");
}

#[test]
fn a_large_input_file_shows_how_far_reading_it_has_come() {
    // 40 MB: an event whose records are far apart (whitespace costs little to read), and an
    // array of the same, which is not read in chunks and so is read a second time, whole.
    let (dir, lake) = lake_dir();
    let event = std::fs::read_to_string(crate::util::fixture("lambda_lifecycle.json")).unwrap();
    let records: serde_json::Value = serde_json::from_str(&event).unwrap();
    let texts: Vec<String> = records["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.to_string())
        .collect();
    let gap = " ".repeat(40 << 20);
    let spaced = format!("{{\"Records\":[{}{gap}]}}", texts.join(","));
    let path = dir.path().join("spaced.json");
    let export_file = |text: &str| {
        std::fs::write(&path, text).unwrap();
        imglake()
            .args(["export", "--input"])
            .arg(&path)
            .args(["--lake", &lake])
            .output()
            .expect("spawn")
    };
    let out = export_file(&spaced);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("records:     {}", texts.len())),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("reading "))
        .collect();
    assert_eq!(lines.len(), 10, "{stderr}");
    assert!(lines[9].contains(": 100% (40 of 40 MB)"), "{stderr}");
    assert!(!stderr.contains("not read in chunks"), "{stderr}");

    let out = export_file(&format!("[{}{gap}]", texts.join(",")));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "is not read in chunks (its form or a record needs the whole input); reading it whole"
        ),
        "{stderr}"
    );
    assert!(
        stderr
            .lines()
            .last()
            .is_some_and(|l| l.contains(": 100% (40 of 40 MB)")),
        "{stderr}"
    );
}
