//! The SQL of `sql/` run end to end through `imglake query`: every view, dashboard query and
//! data-quality check against lakes made by the exporter, with known answers; and the Athena
//! DDL held to the exporter's schema.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::util::{export, imglake, query, run_ok};

/// A file in `sql/`.
fn sql_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sql").join(rel)
}

/// The `.sql` files of a folder of `sql/`, as (file stem, text), sorted by name.
fn sql_files(dir: &str) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(sql_path(dir))
        .unwrap_or_else(|e| panic!("read sql/{dir}: {e}"))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .map(|p| {
            let stem = p.file_stem().expect("stem").to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&p).expect("read sql file");
            (stem, text)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .sql files in sql/{dir}");
    files
}

/// `imglake query` with SQL that may start with a `--` comment (hence the `--` separator).
fn run_sql(lake: &str, format: &str, sql: &str) -> String {
    run_ok(imglake().args(["query", "--lake", lake, "--format", format, "--", sql]))
}

/// Rows of a JSON Lines result.
fn json_rows(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .map(|line| serde_json::from_str(line).expect("JSON line"))
        .collect()
}

fn lake_dir() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake").display().to_string();
    (dir, lake)
}

/// A lake made from the exporter's fixtures: two images through their lifecycle (one
/// processed then expired by TTL, one rejected then deleted), keys-only and new-image-only
/// records, the good rows of the bad-records file; then the lifecycle replayed in batches of 3,
/// which writes some records again under other object keys: duplicate deliveries, as a
/// bisected Lambda batch does.
fn healthy_lake() -> (tempfile::TempDir, String) {
    let (dir, lake) = lake_dir();
    export(&lake, "lambda_lifecycle.json", &[]);
    export(&lake, "get_records.json", &["--stream-label", "getrecords"]);
    export(&lake, "bad_records.jsonl", &[]);
    export(&lake, "lambda_lifecycle.json", &["--batch-records", "3"]);
    (dir, lake)
}

/// What each view's snapshot selects, in a stable order. A new view must be added here.
fn view_snapshot_sql(view: &str) -> (&'static str, String) {
    let (format, sql) = match view {
        // exported_at differs per run: leave it out.
        "image_events_dedup" => (
            "table",
            "select event_id, event_name, image_id, sequence_number, status, dt, hour, \
             delivery_rank from image_events_dedup order by sequence_number"
                .to_owned(),
        ),
        // Wide: JSON Lines name each value (nulls are left out).
        "images_current" => (
            "json",
            "select * from images_current order by image_id".to_owned(),
        ),
        "daily_ingest" => (
            "table",
            "select * from daily_ingest order by ingest_date, source, status, format".to_owned(),
        ),
        "processing_latency" => (
            "table",
            "select * from processing_latency order by processed_date, source".to_owned(),
        ),
        "rejections" => (
            "table",
            "select * from rejections order by status, error_code".to_owned(),
        ),
        "storage_savings" => (
            "table",
            "select * from storage_savings order by processed_date, tenant".to_owned(),
        ),
        other => panic!("view {other}: add its snapshot query to view_snapshot_sql"),
    };
    (format, sql)
}

#[test]
fn every_view_on_the_fixture_lake() {
    let (_dir, lake) = healthy_lake();
    // The replay really wrote duplicates, and the dedupe view removes exactly those.
    assert_eq!(
        query(
            &lake,
            "csv",
            "select (select count(*) from image_events) as delivered, \
             (select count(distinct event_id) from image_events) as distinct_events, \
             (select count(*) from image_events_dedup) as deduplicated, \
             (select count(*) from images_current) as images"
        ),
        "delivered,distinct_events,deduplicated,images\n15,12,12,6\n"
    );
    for (view, _) in sql_files("athena/views") {
        let (format, sql) = view_snapshot_sql(&view);
        let out = run_sql(&lake, format, &sql);
        insta::with_settings!({ description => sql.clone(), omit_expression => true }, {
            insta::assert_snapshot!(format!("view_{view}"), out);
        });
    }
}

#[test]
fn every_dashboard_query_on_the_fixture_lake() {
    let (_dir, lake) = healthy_lake();
    for (name, sql) in sql_files("queries") {
        let out = run_sql(&lake, "table", &sql);
        assert!(
            out.lines().count() > 4,
            "sql/queries/{name}.sql returned no rows:\n{out}"
        );
        insta::with_settings!({ description => format!("sql/queries/{name}.sql"), omit_expression => true }, {
            insta::assert_snapshot!(format!("query_{name}"), out);
        });
    }
}

/// Milliseconds since the epoch, now.
fn now_millis() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(since.as_millis()).expect("millis fit i64")
}

#[test]
fn every_check_passes_on_the_fixture_lake() {
    let (_dir, lake) = healthy_lake();
    for (name, sql) in sql_files("checks") {
        let rows = json_rows(&run_sql(&lake, "json", &sql));
        if name == "events_in_future" {
            // The fixtures are dated 2026-11-24 to 2026-12-01 (a TTL expiry a week later), so
            // whether some are "in the future" depends on this machine's clock: compare with
            // the events that are, by the test's own clock. Events within a minute of the
            // threshold are not judged.
            let threshold = now_millis() + 5 * 60 * 1000;
            let times = json_rows(&query(
                &lake,
                "json",
                "select event_id, cast(event_time as bigint) as ms from image_events_dedup",
            ));
            let near = |ms: i64| (ms - threshold).abs() < 60_000;
            let mut expected: Vec<String> = times
                .iter()
                .filter(|r| r["ms"].as_i64().expect("ms") > threshold)
                .filter(|r| !near(r["ms"].as_i64().expect("ms")))
                .map(|r| r["event_id"].as_str().expect("event_id").to_owned())
                .collect();
            let mut found: Vec<String> = rows
                .iter()
                .filter(|r| {
                    let id = r["event_id"].as_str().expect("event_id");
                    let ms = times
                        .iter()
                        .find(|t| t["event_id"] == id)
                        .and_then(|t| t["ms"].as_i64())
                        .expect("reported event is in the lake");
                    !near(ms)
                })
                .map(|r| r["event_id"].as_str().expect("event_id").to_owned())
                .collect();
            expected.sort();
            found.sort();
            assert_eq!(found, expected, "events_in_future on the fixture lake");
        } else {
            assert!(
                rows.is_empty(),
                "sql/checks/{name}.sql reports a healthy lake:\n{rows:#?}"
            );
        }
    }
}

/// The lake of `tests/fixtures/unhealthy.jsonl`: healthy control lifecycles plus records made
/// to trip every check (times in June 2024, one in 2100).
fn unhealthy_lake() -> (tempfile::TempDir, String) {
    let (dir, lake) = lake_dir();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/unhealthy.jsonl");
    let summary = run_ok(
        imglake()
            .args(["export", "--input"])
            .arg(&fixture)
            .args(["--lake", &lake]),
    );
    assert!(
        summary.contains("records:     62\nrows:        62\nquarantined: 0"),
        "{summary}"
    );
    (dir, lake)
}

/// What each check must report on the unhealthy lake: (event_id, problem), in the check's order.
fn expected_offences(check: &str) -> Vec<(&'static str, &'static str)> {
    match check {
        "duplicate_event_ids" => vec![
            ("dup-content-1", "same event_id, different tenant, raw_key"),
            ("dup-partition-1", "same event_id, different event_time"),
            ("dup-seq-1", "same event_id, different sequence_number"),
        ],
        "events_in_future" => vec![("future-1", "event_time more than 5 minutes in the future")],
        "illegal_status_transitions" => vec![
            (
                "after-remove-3",
                "MODIFY of an image removed by its previous change (an INSERT is missing)",
            ),
            (
                "backwards-3",
                "REJECTED -> PROCESSING is not a legal transition",
            ),
            // The same INSERT stored in two partitions: the later copy re-inserts the image.
            (
                "dup-partition-1",
                "INSERT of an image that exists (no REMOVE after its previous change)",
            ),
            (
                "gap-3",
                "a change is missing from the lake: the previous row left RECEIVED, \
                 this MODIFY starts from PROCESSING",
            ),
            (
                "insert-processing-1",
                "INSERT must create a RECEIVED image, not PROCESSING",
            ),
            // NEW_IMAGE stream, no OldImage: the lake's previous row says PROCESSING.
            (
                "new-image-3",
                "PROCESSING -> RECEIVED is not a legal transition",
            ),
            (
                "reinsert-2",
                "INSERT of an image that exists (no REMOVE after its previous change)",
            ),
            (
                "remove-gap-4",
                "a change is missing from the lake: the previous row left PROCESSING, \
                 this REMOVE starts from PROCESSED",
            ),
            (
                "skipped-processing-2",
                "RECEIVED -> PROCESSED is not a legal transition",
            ),
        ],
        "negative_sizes" => vec![
            ("negative-dims-3", "negative width, processing_ms"),
            ("negative-size-1", "negative size_bytes"),
        ],
        "processed_without_variants" => vec![
            (
                "empty-variants-3",
                "PROCESSED without variants: variant_count < 1, variants_json is empty, \
                 processed_bytes < 1",
            ),
            (
                "no-variants-3",
                "PROCESSED without variants: variant_count is null, variants_json is null, \
                 processed_bytes is null",
            ),
        ],
        "replaced_uploads" => vec![(
            "replaced-4",
            "a later upload to raw/acme/REPLACED.jpg was set aside (upload_replaced)",
        )],
        "rejected_without_error_code" => vec![
            ("failed-blank-code-3", "FAILED without an error_code"),
            ("rejected-no-code-2", "REJECTED without an error_code"),
            // The user's REMOVE keeps the status, and the missing code.
            ("rejected-no-code-3", "REJECTED without an error_code"),
        ],
        other => panic!("check {other}: add what it must report to expected_offences"),
    }
}

#[test]
fn every_check_reports_the_offending_rows_of_an_unhealthy_lake() {
    let (_dir, lake) = unhealthy_lake();
    let mut reported: BTreeMap<String, usize> = BTreeMap::new();
    for (name, sql) in sql_files("checks") {
        let rows = json_rows(&run_sql(&lake, "json", &sql));
        let found: Vec<(String, String)> = rows
            .iter()
            .map(|r| {
                (
                    r["event_id"].as_str().expect("event_id").to_owned(),
                    r["problem"].as_str().expect("problem").to_owned(),
                )
            })
            .collect();
        let expected: Vec<(String, String)> = expected_offences(&name)
            .into_iter()
            .map(|(id, problem)| (id.to_owned(), problem.to_owned()))
            .collect();
        assert_eq!(
            found, expected,
            "sql/checks/{name}.sql on the unhealthy lake"
        );
        // No healthy control lifecycle (ok-*) is ever reported.
        assert!(found.iter().all(|(id, _)| !id.starts_with("ok-")));
        reported.insert(name.clone(), found.len());
        let table = run_sql(&lake, "table", &sql);
        insta::with_settings!({ description => format!("sql/checks/{name}.sql on tests/fixtures/unhealthy.jsonl"), omit_expression => true }, {
            insta::assert_snapshot!(format!("unhealthy_{name}"), table);
        });
    }
    assert!(reported.values().all(|n| *n > 0), "{reported:?}");
}

/// One processed image as a DynamoDB stream record (Lambda shape, JSON Lines).
fn processed_record(
    i: u32,
    source: &str,
    received_ms: i64,
    processed_ms: i64,
    processing: u32,
) -> String {
    let image_id = format!("LATENCY-{source}-{i:03}");
    let n = |v: String| serde_json::json!({ "N": v });
    let s = |v: &str| serde_json::json!({ "S": v });
    let image = serde_json::json!({
        "image_id": s(&image_id),
        "status": s("PROCESSED"),
        "source": s(source),
        "tenant": s("acme"),
        "format": s("jpeg"),
        "size_bytes": n("1000000".into()),
        "variant_count": n("1".into()),
        "variants_json": s("[{\"name\":\"thumb\",\"key\":\"k\",\"width\":256,\"height\":256,\"bytes\":1000}]"),
        "processed_bytes": n("1000".into()),
        "received_at": n(received_ms.to_string()),
        "processed_at": n(processed_ms.to_string()),
        "processing_ms": n(processing.to_string()),
    });
    serde_json::json!({
        "eventID": format!("latency-{source}-{i}"),
        "eventName": "INSERT",
        "dynamodb": {
            "ApproximateCreationDateTime": processed_ms / 1000,
            "Keys": { "image_id": s(&image_id) },
            "SequenceNumber": format!("{}", 900_000_000_000_000_000_000_u128 + u128::from(i)),
            "StreamViewType": "NEW_AND_OLD_IMAGES",
            "NewImage": image,
        },
        "eventSourceARN": "arn:aws:dynamodb:eu-west-1:123456789012:table/imglake-images/stream/2024-05-01T00:00:00.000",
    })
    .to_string()
}

#[test]
fn processing_latency_percentiles_are_percentiles_in_milliseconds() {
    let (dir, lake) = lake_dir();
    // 100 api images: processing_ms 10, 20, …, 1000; received to processed 1.001 s, 2.002 s, …
    // (milliseconds that whole seconds would lose). One kafka image: 1850 ms end to end.
    let base = 1_717_200_000_123_i64; // 2024-06-01T00:00:00.123Z
    let mut lines: Vec<String> = (1..=100)
        .map(|i| {
            let received = base + i64::from(i) * 60_000;
            processed_record(i, "api", received, received + 1001 * i64::from(i), 10 * i)
        })
        .collect();
    lines.push(processed_record(101, "kafka", base, base + 1850, 412));
    let input = dir.path().join("latency.jsonl");
    std::fs::write(&input, lines.join("\n") + "\n").expect("write input");
    run_ok(
        imglake()
            .args(["export", "--input"])
            .arg(&input)
            .args(["--lake", &lake]),
    );
    let rows = json_rows(&run_sql(
        &lake,
        "json",
        &std::fs::read_to_string(sql_path("queries/latency_trend.sql")).expect("read"),
    ));
    assert_eq!(rows.len(), 2, "{rows:#?}");
    let api = &rows[0];
    assert_eq!(api["source"], "api");
    assert_eq!(api["processed_date"], "2024-06-01");
    assert_eq!(api["processed_images"], 100);
    let close = |column: &str, expected: i64, tolerance: i64| {
        let got = api[column]
            .as_i64()
            .unwrap_or_else(|| panic!("{column} in {api}"));
        assert!(
            (got - expected).abs() <= tolerance,
            "{column} = {got}, expected {expected} ± {tolerance}"
        );
    };
    // Continuous percentiles of 10..=1000 step 10, and of 1001..=100100 step 1001, give or
    // take one step (the engines approximate and interpolate differently).
    close("processing_ms_p50", 505, 10);
    close("processing_ms_p90", 905, 10);
    close("processing_ms_p99", 995, 10);
    close("received_to_processed_ms_p50", 50_550, 1001);
    close("received_to_processed_ms_p90", 90_590, 1001);
    close("received_to_processed_ms_p99", 99_600, 1001);
    let kafka = &rows[1];
    assert_eq!(kafka["source"], "kafka");
    for p in ["p50", "p90", "p99"] {
        assert_eq!(kafka[format!("processing_ms_{p}")], 412);
        assert_eq!(
            kafka[format!("received_to_processed_ms_{p}")],
            1850,
            "{kafka}"
        );
    }
}

#[test]
fn athena_ddl_declares_exactly_the_exporter_schema() {
    let ddl = std::fs::read_to_string(sql_path("athena/image_events.sql")).expect("read DDL");
    let columns = run_ok(imglake().args(["schema", "--format", "athena-columns"]));
    assert!(columns.lines().count() > 30, "{columns}");
    let expected = format!("CREATE EXTERNAL TABLE image_events (\n{columns})\nPARTITIONED BY (\n");
    assert!(
        ddl.contains(&expected),
        "sql/athena/image_events.sql must declare exactly the columns of \
         `imglake schema --format athena-columns`; expected:\n{expected}"
    );
    // The partition columns, their types and their projection.
    let schema: serde_json::Value =
        serde_json::from_str(&run_ok(imglake().args(["schema", "--format", "json"])))
            .expect("schema json");
    let partitions = schema["partition_columns"].as_array().expect("partitions");
    assert_eq!(partitions.len(), 2);
    let block = ddl
        .split("PARTITIONED BY (\n")
        .nth(1)
        .and_then(|rest| rest.split("\n)").next())
        .expect("PARTITIONED BY block");
    let declared: Vec<(String, String)> = block
        .lines()
        .map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next().expect("name").trim_matches('`').to_owned();
            let kind = words.next().expect("type").trim_end_matches(',').to_owned();
            (name, kind)
        })
        .collect();
    let wanted: Vec<(String, String)> = partitions
        .iter()
        .map(|p| {
            (
                p["name"].as_str().expect("name").to_owned(),
                p["athena_type"].as_str().expect("type").to_owned(),
            )
        })
        .collect();
    assert_eq!(declared, wanted);
    for (name, _) in &wanted {
        assert!(
            ddl.contains(&format!("'projection.{name}.type'")),
            "projection of {name}"
        );
        assert!(
            ddl.contains(&format!("/{name}=${{{name}}}")),
            "location template of {name}"
        );
    }
}

#[test]
fn duplicate_check_compares_every_column_but_the_key_and_the_export_time() {
    let schema: serde_json::Value =
        serde_json::from_str(&run_ok(imglake().args(["schema", "--format", "json"])))
            .expect("schema json");
    let check = std::fs::read_to_string(sql_path("checks/duplicate_event_ids.sql")).expect("read");
    for column in schema["columns"].as_array().expect("columns") {
        let name = column["name"].as_str().expect("name");
        let compared = check.contains(&format!("latest.{name} "))
            && check.contains(&format!("other.{name} "))
            && check.contains(&format!("THEN '{name}' END"));
        match name {
            "event_id" | "exported_at" => assert!(!compared, "{name} must not be compared"),
            _ => assert!(
                compared,
                "duplicate_event_ids.sql does not compare column {name}"
            ),
        }
    }
}

/// Every window over an image's rows in `sql/` (the views, the checks, the Redshift examples)
/// orders them by the one rule reconcile uses too, `schema::RECENCY_ORDER`: the same terms, in
/// the same order, all ascending or all descending.
#[test]
fn every_window_over_an_images_rows_uses_the_one_ordering_rule() {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|x| x == "sql") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&sql_path(""), &mut files);
    let rule: Vec<String> = imglake_exporter::schema::RECENCY_ORDER
        .iter()
        .map(|t| t.to_string())
        .collect();
    let mut windows = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        let code: String = text
            .lines()
            .map(|l| l.split("--").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join(" ");
        let code = code.split_whitespace().collect::<Vec<_>>().join(" ");
        for marker in [
            "PARTITION BY image_id ORDER BY ",
            "PARTITION BY d.image_id ORDER BY ",
        ] {
            for (at, _) in code.match_indices(marker) {
                let rest = &code[at + marker.len()..];
                let (mut depth, mut end) = (0i32, rest.len());
                for (i, c) in rest.char_indices() {
                    match c {
                        '(' => depth += 1,
                        ')' if depth == 0 => {
                            end = i;
                            break;
                        }
                        ')' => depth -= 1,
                        _ => {}
                    }
                }
                let mut terms = Vec::new();
                let (mut depth, mut start) = (0i32, 0);
                let clause = &rest[..end];
                for (i, c) in clause.char_indices() {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        ',' if depth == 0 => {
                            terms.push(clause[start..i].to_owned());
                            start = i + 1;
                        }
                        _ => {}
                    }
                }
                terms.push(clause[start..].to_owned());
                let directions: Vec<bool> = terms.iter().map(|t| t.contains(" DESC")).collect();
                let terms: Vec<String> = terms
                    .iter()
                    .map(|t| {
                        t.replace(" NULLS LAST", "")
                            .replace(" DESC", "")
                            .replace("d.", "")
                            .trim()
                            .to_owned()
                    })
                    .collect();
                assert_eq!(terms, rule, "{}: window ordered otherwise", file.display());
                assert!(
                    directions.iter().all(|d| *d == directions[0]),
                    "{}: mixed directions",
                    file.display()
                );
                windows += 1;
            }
        }
    }
    assert!(windows >= 5, "only {windows} windows over image rows found");
}
