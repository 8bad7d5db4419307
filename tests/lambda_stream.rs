//! The `stream-export` Lambda binary end to end against AWS-protocol servers on 127.0.0.1:
//! records read from a DynamoDB table's stream through the Streams API (moto), handed to the
//! real binary through the Lambda Runtime API, Parquet written to S3, partitions registered in
//! Glue, the lake queried with DataFusion over the same S3 endpoint.

use std::process::Command;

use serde_json::Value;

use crate::util::{query_with, run_ok, venv_bin, Moto};

pub(crate) const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/moto_stream.py");

pub(crate) fn moto_step(moto: &Moto, step: &str) -> String {
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

    let mut env = moto.env();
    env.push(("IMGLAKE_GLUE_DATABASE", "imglake".into()));
    env.push(("IMGLAKE_GLUE_TABLE", "image_events".into()));
    let (kind, body, logs) = run_stream_export(&env, event);
    assert_eq!(kind, "response", "{body}\n{logs}");
    assert_eq!(body, serde_json::json!({"batchItemFailures": []}));

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

/// Runs the stream-export binary on `event` with `env` (lake `s3://imglake-lake/lake`)
/// through the Lambda Runtime API; returns the outcome kind, its body and the binary's stdout.
pub(crate) fn run_stream_export(env: &crate::util::Env, event: String) -> (String, Value, String) {
    let mut env = env.clone();
    env.push(("IMGLAKE_LAKE_URL", "s3://imglake-lake/lake".to_owned()));
    let run = crate::util::run_lambda_once("stream-export", &env, event);
    let body = serde_json::from_str(&run.body).unwrap_or(Value::String(run.body));
    (run.kind, body, run.stdout)
}

#[test]
fn a_failed_s3_write_mid_batch_is_retried_and_the_replay_leaves_no_duplicate() {
    let moto = Moto::start();
    moto_step(&moto, "setup");
    moto_step(&moto, "changes");
    let mut event: Value = serde_json::from_str(&moto_step(&moto, "event")).expect("event");
    // Move the last three records two hours back: the batch writes two partitions (files).
    let records = event["Records"].as_array_mut().expect("records");
    let hour_of = |r: &Value| {
        r["dynamodb"]["ApproximateCreationDateTime"]
            .as_f64()
            .unwrap_or(0.0)
    };
    let early = hour_of(&records[0]) - 7200.0;
    for r in records.iter_mut().skip(3) {
        r["dynamodb"]["ApproximateCreationDateTime"] = serde_json::json!(early);
    }
    let early_hour = chrono::DateTime::from_timestamp(early as i64, 0)
        .expect("time")
        .format("hour=%H")
        .to_string();
    let refuse: &'static str = Box::leak(early_hour.into_boxed_str());
    let refused_seqs: Vec<Value> = records
        .iter()
        .skip(3)
        .map(|r| r["dynamodb"]["SequenceNumber"].clone())
        .collect();
    let event = event.to_string();

    let mut env = moto.env();
    env.push((
        "AWS_ENDPOINT_URL_S3",
        crate::util::faulty_s3_proxy(&moto.endpoint, "PUT", refuse),
    ));
    let (kind, body, _) = run_stream_export(&env, event.clone());
    assert_eq!(kind, "response", "{body}");
    let failures = body["batchItemFailures"]
        .as_array()
        .expect("failures")
        .clone();
    assert!(
        !failures.is_empty(),
        "the refused write ({refuse}) is reported: {body}\n{}",
        moto.boto3("import boto3; print([o['Key'] for o in boto3.client('s3').list_objects_v2(Bucket='imglake-lake').get('Contents', [])])")
    );

    for failure in &failures {
        assert!(
            refused_seqs.contains(&failure["itemIdentifier"]),
            "only records of the refused file are reported: {failure} not in {refused_seqs:?}"
        );
    }

    let lake = "s3://imglake-lake/lake";
    let count = |sql: &str| {
        let out = query_with(&moto.env(), lake, "json", sql);
        serde_json::from_str::<Value>(out.lines().next().unwrap_or("{}")).expect("row")["n"]
            .as_i64()
            .unwrap_or(-1)
    };
    let written = count("select count(*) as n from image_events");
    assert!(
        (1..6).contains(&written),
        "only the other partition landed: {written}"
    );

    // Lambda retries the batch (here: all of it, the worst case) once S3 works again.
    let (kind, body, _) = run_stream_export(&moto.env(), event);
    assert_eq!(kind, "response");
    assert_eq!(body, serde_json::json!({"batchItemFailures": []}));
    assert_eq!(
        count("select count(*) as n from image_events"),
        6,
        "no row missing"
    );
    assert_eq!(
        count("select count(distinct event_id) as n from image_events"),
        6,
        "and none twice"
    );
}
