//! The `stream-export` Lambda binary end to end against AWS-protocol servers on 127.0.0.1:
//! records read from a DynamoDB table's stream through the Streams API (moto), handed to the
//! real binary through the Lambda Runtime API, Parquet written to S3, partitions registered in
//! Glue, the lake queried with DataFusion over the same S3 endpoint.

use std::process::{Command, Stdio};

use serde_json::Value;

use crate::util::{query_with, run_ok, sibling_binary, venv_bin, Moto, RuntimeApi};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/moto_stream.py");

fn moto_step(moto: &Moto, step: &str) -> String {
    run_ok(
        Command::new(venv_bin("python"))
            .args([SCRIPT, step])
            .envs(moto.env()),
    )
}

#[test]
fn stream_records_flow_through_the_lambda_binary_into_s3_and_glue() {
    let moto = Moto::start();
    moto_step(&moto, "setup");
    moto_step(&moto, "changes");
    let event = moto_step(&moto, "event");
    let records = serde_json::from_str::<Value>(&event).expect("event JSON")["Records"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0);
    // 3 puts, 2 updates, 1 delete (moto emits one record per PutItem of a new item).
    assert_eq!(records, 6, "{event}");

    let api = RuntimeApi::serve_one(event);
    let mut child = Command::new(sibling_binary("stream-export"))
        .envs(moto.env())
        .envs(api.env())
        .env("IMGLAKE_LAKE_URL", "s3://imglake-lake/lake")
        .env("IMGLAKE_GLUE_DATABASE", "imglake")
        .env("IMGLAKE_GLUE_TABLE", "image_events")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start stream-export");
    let (kind, body) = api.outcome();
    let _ = child.kill();
    let output = child.wait_with_output().expect("wait");
    let logs = String::from_utf8_lossy(&output.stdout);
    assert_eq!(kind, "response", "{body}\n{logs}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json"),
        serde_json::json!({"batchItemFailures": []})
    );

    // One embedded-metric-format line with the batch's counts.
    let emf: Value = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v.get("_aws").is_some())
        .unwrap_or_else(|| panic!("no EMF line in\n{logs}"));
    assert_eq!(emf["RecordsIn"], 6);
    assert_eq!(emf["RowsWritten"], 6);
    assert_eq!(emf["_aws"]["CloudWatchMetrics"][0]["Namespace"], "imglake");

    let lake = "s3://imglake-lake/lake";
    let rows = query_with(
        &moto.env(),
        lake,
        "csv",
        "select image_id, status, event_name, previous_status, error_code, \
         extra_attributes from image_events order by sequence_number",
    );
    assert_eq!(
        rows,
        "image_id,status,event_name,previous_status,error_code,extra_attributes\n\
         img-0,RECEIVED,INSERT,,,\"{\"\"thumbhash\"\":{\"\"B\"\":\"\"AAEC\"\"}}\"\n\
         img-1,RECEIVED,INSERT,,,\"{\"\"thumbhash\"\":{\"\"B\"\":\"\"AAEC\"\"}}\"\n\
         img-2,RECEIVED,INSERT,,,\"{\"\"thumbhash\"\":{\"\"B\"\":\"\"AAEC\"\"}}\"\n\
         img-0,PROCESSING,MODIFY,RECEIVED,,\"{\"\"thumbhash\"\":{\"\"B\"\":\"\"AAEC\"\"}}\"\n\
         img-1,REJECTED,MODIFY,RECEIVED,unsupported_type,\"{\"\"thumbhash\"\":{\"\"B\"\":\"\"AAEC\"\"}}\"\n\
         img-2,RECEIVED,REMOVE,RECEIVED,,\"{\"\"thumbhash\"\":{\"\"B\"\":\"\"AAEC\"\"}}\"\n"
    );

    // Every partition written is registered in Glue, at its own location.
    let written = query_with(
        &moto.env(),
        lake,
        "json",
        "select distinct cast(dt as varchar) as dt, hour from image_events",
    );
    let partitions: Value = serde_json::from_str(&moto_step(&moto, "partitions")).expect("json");
    let registered = partitions.as_array().expect("array");
    assert_eq!(
        registered.len(),
        written.lines().count(),
        "{partitions}\n{written}"
    );
    for line in written.lines() {
        let row: Value = serde_json::from_str(line).expect("json row");
        let dt = row["dt"].as_str().expect("dt");
        let hour = format!("{:02}", row["hour"].as_i64().expect("hour"));
        let entry = registered
            .iter()
            .find(|p| p["values"] == serde_json::json!([dt, hour]))
            .unwrap_or_else(|| panic!("dt={dt}/hour={hour} not registered: {partitions}"));
        assert_eq!(
            entry["location"],
            format!("s3://imglake-lake/lake/image_events/dt={dt}/hour={hour}/")
        );
    }
}
