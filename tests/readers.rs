//! Our Parquet read back by readers that are not ours: pyarrow and DuckDB.

use serde_json::{json, Value};

use crate::util::{export, query, run_ok, venv_bin};

#[test]
fn pyarrow_and_duckdb_read_the_hive_partitioned_lake() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake").display().to_string();
    export(&lake, "lambda_lifecycle.json", &[]);
    export(&lake, "get_records.json", &[]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/read_lake.py");
    let out = run_ok(std::process::Command::new(venv_bin("python")).args([script, &lake]));
    let v: Value = serde_json::from_str(&out).expect("reader output is JSON");

    let expected_by_name = json!({"INSERT": 3, "MODIFY": 4, "REMOVE": 3});
    let expected_parts = json!({
        "2026-11-24/09": 2, "2026-11-24/10": 3, "2026-11-24/11": 1,
        "2026-11-24/12": 3, "2026-12-01/09": 1
    });
    for reader in ["pyarrow", "duckdb"] {
        assert_eq!(v[reader]["rows"], 10, "{reader}: {v}");
        assert_eq!(v[reader]["by_event_name"], expected_by_name, "{reader}");
        assert_eq!(v[reader]["ttl_expiries"], 1, "{reader}");
        assert_eq!(v[reader]["partitions"], expected_parts, "{reader}");
        assert_eq!(v[reader]["processed"]["width"], 4000, "{reader}");
        assert_eq!(
            v[reader]["processed"]["operations"],
            json!(["orient", "strip", "resize:thumb", "resize:display"]),
            "{reader}"
        );
    }
    let pa = &v["pyarrow"];
    assert_eq!(pa["types"]["event_time"], "timestamp[ms, tz=UTC]");
    assert_eq!(pa["types"]["expires_at"], "timestamp[ms, tz=UTC]");
    assert_eq!(pa["types"]["width"], "int32");
    assert_eq!(pa["types"]["size_bytes"], "int64");
    assert_eq!(pa["types"]["mean_luma"], "double");
    assert_eq!(pa["types"]["has_alpha"], "bool");
    assert_eq!(pa["types"]["operations"], "list<item: string>");
    assert_eq!(pa["processed"]["event_time"], "2026-11-24T10:00:03+00:00");
    assert_eq!(pa["processed"]["expires_at"], "2026-12-01T09:58:10+00:00");
    assert_eq!(
        pa["processed"]["extra_tags"],
        json!({"SS": ["beach", "sunset"]})
    );
    let duck = &v["duckdb"];
    assert_eq!(duck["types"]["event_time"], "TIMESTAMP WITH TIME ZONE");
    assert_eq!(duck["types"]["width"], "INTEGER");
    assert_eq!(duck["types"]["size_bytes"], "BIGINT");
    assert_eq!(duck["types"]["operations"], "VARCHAR[]");

    // DataFusion agrees with both on the event time of the processed row.
    let ms = query(
        &lake,
        "csv",
        "select cast(to_unixtime(event_time) * 1000 as bigint) as ms from image_events \
         where status = 'PROCESSED' and event_name = 'MODIFY'",
    );
    assert_eq!(ms, format!("ms\n{}\n", duck["processed"]["event_time_ms"]));
}
