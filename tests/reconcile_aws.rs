//! Backfill and reconcile with the export and the lake in S3 (moto on 127.0.0.1), through the
//! `imglake` binary and the scheduled `reconcile` Lambda binary.
//!
//! moto 5.2's `ExportTableToPointInTime` completes at once but writes a single gzipped data
//! file with no `manifest-summary.json` nor `manifest-files.json`, and its `DescribeExport`
//! names no `ExportManifest` (its export ARNs are malformed too: `table/<table ARN>/import/…`).
//! So the Lambda's start of an export and its skipping of an export it cannot read run against
//! moto itself; its reconcile of a completed export runs against a DynamoDB control plane
//! on 127.0.0.1 that answers ListExports / DescribeExport / ExportTableToPointInTime as
//! DynamoDB documents them, for a real-shaped export (the full-1 fixture) uploaded to moto's S3.

use std::io::{BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::util::{fixture, imglake, Env, Moto};

const LAKE: &str = "s3://imglake-lake/lake";
const BUCKET: &str = "imglake-exports";
const PREFIX: &str = "reconcile";
const TABLE_ARN: &str = "arn:aws:dynamodb:eu-west-1:123456789012:table/imglake-images";
const EXPORT_ID: &str = "01795514460123-a1b2c3d4";

/// The buckets, and the full-1 fixture export uploaded under `s3://BUCKET/PREFIX/`.
fn setup(moto: &Moto) -> String {
    let root = fixture("table_export/full-1");
    moto.boto3(&format!(
        r#"
import boto3, os
s3 = boto3.client("s3")
for b in ["imglake-lake", {BUCKET:?}]:
    s3.create_bucket(Bucket=b)
root = {root:?}
for d, _, files in os.walk(root):
    for f in files:
        path = os.path.join(d, f)
        s3.upload_file(path, {BUCKET:?}, {PREFIX:?} + "/" + os.path.relpath(path, root))
"#,
        root = root.display().to_string()
    ));
    format!("s3://{BUCKET}/{PREFIX}/AWSDynamoDB/{EXPORT_ID}")
}

fn run_json(env: &Env, args: &[&str]) -> (Option<i32>, Value, String) {
    let out = imglake()
        .args(args)
        .envs(env.iter().cloned())
        .output()
        .expect("run imglake");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let value = serde_json::from_str(stdout.lines().next().unwrap_or("")).unwrap_or(Value::Null);
    (out.status.code(), value, stdout + &stderr)
}

#[test]
fn backfill_and_reconcile_read_an_s3_export_into_an_s3_lake() {
    let moto = Moto::start();
    let export = setup(&moto);
    let env = moto.env();
    let (code, report, text) = run_json(
        &env,
        &["backfill", "--json", "--lake", LAKE, "--export", &export],
    );
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(report["rows_written"], 3, "{report}");
    assert_eq!(report["lines_read"], 3, "{report}");
    // The same export again: the same objects.
    let keys = |moto: &Moto| {
        moto.boto3("import boto3; print(sorted(o['Key'] for o in boto3.client('s3').list_objects_v2(Bucket='imglake-lake').get('Contents', [])))")
    };
    let before = keys(&moto);
    let (code, _, text) = run_json(
        &env,
        &["backfill", "--json", "--lake", LAKE, "--export", &export],
    );
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(keys(&moto), before);

    let (code, report, text) = run_json(
        &env,
        &["reconcile", "--json", "--lake", LAKE, "--export", &export],
    );
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(report["drift"], 0, "{report}");
    assert_eq!(report["table_items"], 3, "{report}");

    // An empty lake drifts: every item is missing from it.
    let (code, report, text) = run_json(
        &env,
        &[
            "reconcile",
            "--json",
            "--lake",
            "s3://imglake-lake/empty",
            "--export",
            &export,
        ],
    );
    assert_eq!(code, Some(3), "{text}");
    assert_eq!(report["missing_from_lake"], 3, "{report}");
}

/// A DynamoDB control plane for the export calls the Lambda makes; every call's target is
/// recorded.
fn control_plane(calls: Arc<Mutex<Vec<String>>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let mut reader = BufReader::new(client.try_clone().expect("clone"));
            let Some((head, _)) = crate::util::read_request(&mut reader) else {
                continue;
            };
            let target = crate::util::header(&head, "x-amz-target").unwrap_or_default();
            let operation = target.rsplit('.').next().unwrap_or_default().to_owned();
            calls.lock().expect("lock").push(operation.clone());
            let arn = format!("{TABLE_ARN}/export/{EXPORT_ID}");
            let answer = match operation.as_str() {
                "ListExports" => json!({"ExportSummaries": [
                    {"ExportArn": arn, "ExportStatus": "COMPLETED", "ExportType": "FULL_EXPORT"},
                ]}),
                "DescribeExport" => json!({"ExportDescription": {
                    "ExportArn": arn, "ExportStatus": "COMPLETED", "TableArn": TABLE_ARN,
                    "S3Bucket": BUCKET, "S3Prefix": PREFIX, "ExportFormat": "DYNAMODB_JSON",
                    "ExportType": "FULL_EXPORT",
                    "ExportManifest": format!("{PREFIX}/AWSDynamoDB/{EXPORT_ID}/manifest-summary.json"),
                }}),
                "ExportTableToPointInTime" => json!({"ExportDescription": {
                    "ExportArn": format!("{TABLE_ARN}/export/01795600000000-ffffffff"),
                    "ExportStatus": "IN_PROGRESS", "TableArn": TABLE_ARN,
                }}),
                _ => json!({}),
            }
            .to_string();
            let mut client = client;
            let _ = write!(
                client,
                "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    format!("http://{addr}")
}

/// Runs the `reconcile` binary once through the Lambda Runtime API, as its schedule would.
fn run_lambda(env: &Env) -> (String, Value, String) {
    let mut env = env.clone();
    env.push(("AWS_LAMBDA_FUNCTION_NAME", "reconcile".to_owned()));
    crate::util::run_scheduled_lambda("reconcile", &env)
}

#[test]
fn the_reconcile_lambda_reconciles_the_newest_export_and_starts_the_next() {
    let moto = Moto::start();
    let export = setup(&moto);
    let mut env = moto.env();
    env.push(("AWS_REGION", "eu-west-1".into()));
    env.push(("IMGLAKE_LAKE_URL", LAKE.into()));
    env.push(("IMGLAKE_TABLE_ARN", TABLE_ARN.into()));
    env.push(("IMGLAKE_EXPORT_BUCKET", BUCKET.into()));
    env.push(("IMGLAKE_EXPORT_PREFIX", PREFIX.into()));
    let (code, _, text) = run_json(
        &env,
        &["backfill", "--json", "--lake", LAKE, "--export", &export],
    );
    assert_eq!(code, Some(0), "{text}");

    let calls = Arc::new(Mutex::new(Vec::new()));
    let mut with_plane = env.clone();
    with_plane.push(("AWS_ENDPOINT_URL_DYNAMODB", control_plane(calls.clone())));
    let (kind, body, logs) = run_lambda(&with_plane);
    assert_eq!(kind, "response", "{body}\n{logs}");
    assert_eq!(body["reconciled"]["drift"], 0, "{body}\n{logs}");
    assert_eq!(body["reconciled"]["table_items"], 3, "{body}");
    assert!(body["started"].as_str().is_some(), "{body}");
    let emf: Value = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v.get("_aws").is_some())
        .unwrap_or_else(|| panic!("no EMF line in\n{logs}"));
    assert_eq!(emf["ReconcileDrift"], 0, "{emf}");
    assert_eq!(
        *calls.lock().expect("lock"),
        ["ListExports", "DescribeExport", "ExportTableToPointInTime"]
    );
    // The report beside the export, in S3; a second run does not reconcile it again.
    let report = moto.boto3(&format!(
        "import boto3; print(boto3.client('s3').get_object(Bucket={BUCKET:?}, Key='{PREFIX}/AWSDynamoDB/{EXPORT_ID}/imglake-reconcile.json')['Body'].read().decode())"
    ));
    let report: Value = serde_json::from_str(&report).expect("report json");
    assert_eq!(report["drift"], 0, "{report}");
    let (kind, body, logs) = run_lambda(&with_plane);
    assert_eq!(kind, "response", "{body}\n{logs}");
    assert!(body["reconciled"].is_null(), "{body}");
    assert_eq!(
        body["already_reconciled"],
        format!("{TABLE_ARN}/export/{EXPORT_ID}"),
        "{body}"
    );

    // Against moto's own DynamoDB: the Lambda starts a full export; moto completes it at once
    // without manifests, and the next run skips it (nothing it can reconcile) and starts another.
    moto.boto3(
        r#"
import boto3
boto3.client("dynamodb", region_name="eu-west-1").create_table(
    TableName="imglake-images", KeySchema=[{"AttributeName": "image_id", "KeyType": "HASH"}],
    AttributeDefinitions=[{"AttributeName": "image_id", "AttributeType": "S"}],
    BillingMode="PAY_PER_REQUEST")
"#,
    );
    // Without point-in-time recovery the export cannot start: the run fails, saying so.
    let (kind, body, _) = run_lambda(&env);
    assert_eq!(kind, "error", "{body}");
    assert!(
        body.to_string().contains("PointInTimeRecoveryUnavailable"),
        "{body}"
    );
    moto.boto3(
        r#"
import boto3
boto3.client("dynamodb", region_name="eu-west-1").update_continuous_backups(
    TableName="imglake-images",
    PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
"#,
    );
    let (kind, body, logs) = run_lambda(&env);
    assert_eq!(kind, "response", "{body}\n{logs}");
    assert!(body["started"].as_str().is_some(), "{body}");
    let (kind, body, logs) = run_lambda(&env);
    assert_eq!(kind, "response", "{body}\n{logs}");
    assert!(body["reconciled"].is_null(), "{body}");
}

/// S3 answers 403 for a missing object to a reader without s3:ListBucket: a refused
/// `.checksum` is neither taken for an absent one (skipping the check) nor reported as a bare
/// "permission denied"; the error names the permission to grant, and nothing is written.
#[test]
fn a_refused_checksum_names_the_permission_it_takes() {
    let moto = Moto::start();
    let export = setup(&moto);
    let mut env = moto.env();
    env.retain(|(k, _)| *k != "AWS_ENDPOINT_URL");
    // Every GET of a .checksum object refused, as S3 answers a reader without s3:ListBucket
    // for a missing one.
    env.push((
        "AWS_ENDPOINT_URL",
        crate::util::faulty_s3_proxy(&moto.endpoint, "GET", ".checksum"),
    ));
    let (code, _, text) = run_json(
        &env,
        &["backfill", "--json", "--lake", LAKE, "--export", &export],
    );
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("manifest-summary.checksum") && text.contains("s3:ListBucket"),
        "{text}"
    );
    let lake = moto.boto3("import boto3; print(boto3.client('s3').list_objects_v2(Bucket='imglake-lake').get('KeyCount', 0))");
    assert_eq!(lake.trim(), "0", "nothing is written to the lake");
}
