//! The image Lambdas (`upload`, `process`, `kafka-ingest`) end to end against moto on
//! 127.0.0.1: the real binaries run through the Lambda Runtime API against S3, DynamoDB and
//! SQS; the table's stream, read through the DynamoDB Streams API, goes through the real
//! `stream-export` binary into an S3 lake, which `imglake query` then reads.
//!
//! moto does not check POST policies (neither the signature nor `content-length-range`), so
//! the size bound of a presigned form is checked in the policy document the form carries.

use std::collections::BTreeMap;

use imglake_pipeline::samples;
use serde_json::{json, Value};

use crate::util::{query_with, Env, Moto};

const RAW: &str = "imglake-raw";
const PROCESSED: &str = "imglake-processed";
const CLAIMS: &str = "imglake-claims";
const LAKE: &str = "s3://imglake-lake/lake";
const TABLE: &str = "imglake-images";
const QUEUE: &str = "imglake-process";
const MAX_UPLOAD_BYTES: u64 = 1024 * 1024;

const EVENTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/pipeline/tests/fixtures/events"
);

/// Helpers every Python step starts with.
const PRELUDE: &str = r#"
import base64, decimal, json, sys
import boto3
from boto3.dynamodb.types import TypeDeserializer

def plain(v):
    if isinstance(v, decimal.Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, set)):
        return [plain(x) for x in v]
    if isinstance(v, bytes):
        return base64.b64encode(v).decode()
    return v

def items():
    ddb = boto3.client("dynamodb")
    des = TypeDeserializer()
    out = {}
    for page in ddb.get_paginator("scan").paginate(TableName=TABLE, ConsistentRead=True):
        for it in page["Items"]:
            out[it["image_id"]["S"]] = {k: plain(des.deserialize(v)) for k, v in it.items()}
    return out

def keys(bucket):
    s3 = boto3.client("s3")
    return sorted(o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
                  for o in p.get("Contents", []))
"#;

fn python(moto: &Moto, step: &str) -> String {
    let code = format!("TABLE = {TABLE:?}\n{PRELUDE}\n{step}");
    moto.boto3(&code)
}

fn python_json(moto: &Moto, step: &str) -> Value {
    let out = python(moto, step);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Buckets, the metadata table (stream NEW_AND_OLD_IMAGES, TTL on expires_at), the process
/// queue, and raw-bucket notifications into it as terraform/modules/processing sets them up.
/// Buckets, the table with its stream and TTL, the queue with the raw bucket's notifications,
/// and a KMS key for SSE-KMS; returns the key's ARN.
fn setup(moto: &Moto) -> String {
    python(
        moto,
        &format!(
            r#"
s3 = boto3.client("s3")
for b in [{RAW:?}, {PROCESSED:?}, {CLAIMS:?}, "imglake-lake"]:
    s3.create_bucket(Bucket=b)
ddb = boto3.client("dynamodb")
ddb.create_table(
    TableName=TABLE,
    KeySchema=[{{"AttributeName": "image_id", "KeyType": "HASH"}}],
    AttributeDefinitions=[{{"AttributeName": "image_id", "AttributeType": "S"}}],
    BillingMode="PAY_PER_REQUEST",
    StreamSpecification={{"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}},
)
ddb.update_time_to_live(
    TableName=TABLE, TimeToLiveSpecification={{"Enabled": True, "AttributeName": "expires_at"}}
)
sqs = boto3.client("sqs")
url = sqs.create_queue(QueueName={QUEUE:?})["QueueUrl"]
arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
s3.put_bucket_notification_configuration(
    Bucket={RAW:?},
    NotificationConfiguration={{"QueueConfigurations": [{{
        "QueueArn": arn,
        "Events": ["s3:ObjectCreated:*"],
        "Filter": {{"Key": {{"FilterRules": [{{"Name": "prefix", "Value": "images/"}}]}}}},
    }}]}},
)
"#
        ),
    );
    let key = python_json(
        moto,
        r#"print(json.dumps(boto3.client("kms").create_key(Description="imglake images")["KeyMetadata"]["Arn"]))"#,
    );
    key.as_str().expect("key ARN").to_owned()
}

/// Everything waiting in the process queue, as the Lambda SQS event the event source
/// mapping would deliver.
fn sqs_event(moto: &Moto) -> Value {
    python_json(
        moto,
        &format!(
            r#"
sqs = boto3.client("sqs")
url = sqs.get_queue_url(QueueName={QUEUE:?})["QueueUrl"]
arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
records = []
while True:
    msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"],
                               WaitTimeSeconds=0).get("Messages", [])
    if not msgs:
        break
    for m in msgs:
        records.append({{
            "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
            "attributes": m["Attributes"], "messageAttributes": {{}}, "md5OfBody": m["MD5OfBody"],
            "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": "us-east-1",
        }})
print(json.dumps({{"Records": records}}))
"#
        ),
    )
}

/// The table's stream from TRIM_HORIZON as a Lambda DynamoDB event (as moto_stream.py does).
fn stream_event(moto: &Moto) -> Value {
    python_json(
        moto,
        r#"
def to_wire(value):
    if isinstance(value, dict):
        return {k: (base64.b64encode(v).decode() if k == "B" else
                    [base64.b64encode(b).decode() for b in v] if k == "BS" else to_wire(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [to_wire(v) for v in value]
    return value

streams = boto3.client("dynamodbstreams")
arn = boto3.client("dynamodb").describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
records = []
for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    while it:
        page = streams.get_records(ShardIterator=it, Limit=100)
        for r in page["Records"]:
            d = r["dynamodb"]
            d["ApproximateCreationDateTime"] = d["ApproximateCreationDateTime"].timestamp()
            r["dynamodb"] = to_wire(d)
            r["eventSourceARN"] = arn
            records.append(r)
        it = page.get("NextShardIterator") if page["Records"] else None
print(json.dumps({"Records": records}))
"#,
    )
}

/// What one invocation of a Lambda binary returned.
struct Invocation {
    /// `response` or `error`.
    kind: String,
    body: Value,
    /// stdout: JSON log lines and EMF lines.
    stdout: String,
}

impl Invocation {
    /// The first EMF line (the totals).
    fn metrics(&self) -> Value {
        self.stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v.get("_aws").is_some())
            .unwrap_or_else(|| panic!("no EMF line in\n{}", self.stdout))
    }
}

/// Runs `binary` for one `event` through the Lambda Runtime API.
fn invoke(moto: &Moto, binary: &str, env: &Env, event: &Value) -> Invocation {
    let mut all = moto.env();
    all.push(("AWS_LAMBDA_FUNCTION_NAME", binary.to_owned()));
    all.extend(env.iter().cloned());
    let run = crate::util::run_lambda_once(binary, &all, event.to_string());
    let body = serde_json::from_str(&run.body).unwrap_or_else(|e| {
        panic!(
            "{binary} answered {} with non-JSON ({e}): {}\n{}\n{}",
            run.kind, run.body, run.stdout, run.stderr
        )
    });
    Invocation {
        kind: run.kind,
        body,
        stdout: run.stdout,
    }
}

/// The pipeline functions' environment, as terraform/main.tf sets it (no KMS key here).
fn pipeline_env() -> Env {
    vec![
        ("IMGLAKE_RAW_BUCKET", RAW.into()),
        ("IMGLAKE_PROCESSED_BUCKET", PROCESSED.into()),
        ("IMGLAKE_METADATA_TABLE", TABLE.into()),
        ("IMGLAKE_METADATA_TTL_DAYS", "7".into()),
        ("IMGLAKE_MAX_UPLOAD_BYTES", MAX_UPLOAD_BYTES.to_string()),
        ("IMGLAKE_MAX_ATTEMPTS", "3".into()),
        ("IMGLAKE_CLAIM_CHECK_BUCKETS", CLAIMS.into()),
    ]
}

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(format!("{EVENTS}/{name}")).expect("fixture");
    serde_json::from_str(&text).expect("fixture JSON")
}

/// Standard base64 (what API Gateway and MSK events carry).
fn b64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn jpeg(seed: u32) -> Vec<u8> {
    samples::jpeg(&samples::photo(320, 240, seed), 85)
}

const PDF: &[u8] =
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";

fn put_event(body: &[u8]) -> Value {
    let mut event = fixture("apigw_put_image.json");
    event["body"] = json!(b64(body));
    event
}

fn response_body(invocation: &Invocation) -> Value {
    let body = invocation.body["body"].as_str().expect("response body");
    serde_json::from_str(body).expect("response body JSON")
}

fn kafka_record(offset: i64, value: &[u8]) -> Value {
    json!({
        "topic": "images",
        "partition": 0,
        "offset": offset,
        "timestamp": 1_795_600_804_000_i64 + offset,
        "timestampType": "CREATE_TIME",
        "key": b64(b"camera-1"),
        "value": b64(value),
        "headers": [{"tenant": b"acme".to_vec()}],
    })
}

#[test]
fn images_flow_through_the_lambda_binaries_into_dynamodb_and_the_lake() {
    let moto = Moto::start();
    let kms_key = setup(&moto);
    let mut env = pipeline_env();
    env.push(("IMGLAKE_KMS_KEY_ID", kms_key.clone()));

    // --- upload: PUT an image → raw object + RECEIVED item.
    let put = invoke(&moto, "upload", &env, &put_event(&jpeg(1)));
    assert_eq!(put.kind, "response", "{}", put.stdout);
    assert_eq!(put.body["statusCode"], 202, "{}", put.body);
    let put_id = response_body(&put)["image_id"]
        .as_str()
        .expect("image_id")
        .to_owned();
    assert_eq!(put.metrics()["Received"], 1);

    // --- upload: PUT a PDF → 415 and a REJECTED item, nothing stored.
    let pdf = invoke(&moto, "upload", &env, &put_event(PDF));
    assert_eq!(pdf.body["statusCode"], 415, "{}", pdf.body);
    let pdf_id = response_body(&pdf)["image_id"]
        .as_str()
        .expect("image_id")
        .to_owned();
    assert_eq!(pdf.metrics()["Rejected"], 1);

    // --- upload: POST → a presigned form; its fields POSTed to S3 store the object.
    let post = invoke(&moto, "upload", &env, &fixture("apigw_post_images.json"));
    assert_eq!(post.body["statusCode"], 201, "{}", post.body);
    let created = response_body(&post);
    let post_id = created["image_id"].as_str().expect("image_id").to_owned();
    let form = &created["upload"];
    let url = form["url"].as_str().expect("upload url");
    assert!(url.starts_with(&moto.endpoint), "{url}");
    let dir = tempfile::tempdir().expect("tempdir");
    let photo = dir.path().join("photo.jpg");
    std::fs::write(&photo, jpeg(2)).expect("write photo");
    let posted = python_json(
        &moto,
        &format!(
            r#"
import requests
form = json.loads({form:?})
r = requests.post(form["url"], data=form["fields"],
                  files={{"file": ("photo.jpg", open({photo:?}, "rb"), "image/jpeg")}})
policy = json.loads(base64.b64decode(form["fields"]["policy"]))
print(json.dumps({{"status": r.status_code, "text": r.text, "policy": policy}}))
"#,
            form = form.to_string(),
            photo = photo.display().to_string(),
        ),
    );
    assert!(
        posted["status"]
            .as_u64()
            .is_some_and(|s| (200..300).contains(&s)),
        "{posted}"
    );
    // The form may carry at most the configured size (S3 enforces it; moto does not).
    let conditions = posted["policy"]["conditions"]
        .as_array()
        .expect("conditions");
    let range = conditions
        .iter()
        .find(|c| c[0] == "content-length-range")
        .unwrap_or_else(|| panic!("no content-length-range in {posted}"));
    assert_eq!(range[2], MAX_UPLOAD_BYTES, "{range}");
    assert!(
        conditions
            .iter()
            .any(|c| c[0] == "eq" && c[1] == "$key" && c[2] == format!("images/{post_id}")),
        "{posted}"
    );
    // The form asks S3 to encrypt the upload with the configured key. moto ignores SSE
    // fields on POST and never checks the policy, so check what S3 would: every form field
    // but the policy and the signature must be named by a condition, with its value.
    let fields = form["fields"].as_object().expect("fields");
    assert_eq!(fields["x-amz-server-side-encryption"], "aws:kms", "{form}");
    assert_eq!(
        fields["x-amz-server-side-encryption-aws-kms-key-id"],
        kms_key.as_str(),
        "{form}"
    );
    for (name, value) in fields {
        if name == "policy" || name == "x-amz-signature" {
            continue;
        }
        let covered = conditions.iter().any(|c| {
            c.get(name) == Some(value)
                || (c[0] == "eq" && c[1] == format!("${name}") && &c[2] == value)
        });
        assert!(covered, "form field {name} is not in the policy: {posted}");
    }

    let state = python_json(
        &moto,
        &format!(r#"print(json.dumps({{"items": items(), "raw": keys({RAW:?})}}))"#),
    );
    let items = &state["items"];
    assert_eq!(items[&put_id]["status"], "RECEIVED", "{state}");
    assert_eq!(items[&put_id]["tenant"], "acme");
    assert_eq!(items[&put_id]["format"], "jpeg");
    assert_eq!(items[&pdf_id]["status"], "REJECTED", "{state}");
    assert!(items[&pdf_id]["error_code"].is_string(), "{state}");
    assert_eq!(items[&post_id]["status"], "RECEIVED", "{state}");
    let mut raw = vec![format!("images/{put_id}"), format!("images/{post_id}")];
    raw.sort();
    assert_eq!(state["raw"], json!(raw), "the PDF is not stored: {state}");

    // --- process: the queue's S3 notifications → variants + PROCESSED.
    let queued = sqs_event(&moto);
    let messages = queued["Records"].as_array().expect("records").len();
    assert!(messages >= 2, "S3 notifications for both uploads: {queued}");
    let processed = invoke(&moto, "process", &env, &queued);
    assert_eq!(processed.kind, "response", "{}", processed.stdout);
    assert_eq!(
        processed.body,
        json!({"batchItemFailures": []}),
        "{}",
        processed.stdout
    );
    assert_eq!(processed.metrics()["Processed"], 2, "{}", processed.stdout);
    let state = python_json(
        &moto,
        &format!(r#"print(json.dumps({{"items": items(), "processed": keys({PROCESSED:?})}}))"#),
    );
    for id in [&put_id, &post_id] {
        let item = &state["items"][id];
        assert_eq!(item["status"], "PROCESSED", "{state}");
        let variants = state["processed"]
            .as_array()
            .expect("keys")
            .iter()
            .filter(|k| k.as_str().is_some_and(|k| k.starts_with(&format!("{id}/"))))
            .count();
        assert!(variants > 0, "{state}");
        assert_eq!(item["variant_count"], variants, "{state}");
    }
    let after_processing = state["items"].clone();
    // Stored raw and processed objects are encrypted with the configured key (moto records
    // the SSE-KMS headers it was sent and answers them on HEAD, as S3 does).
    let sse = python_json(
        &moto,
        &format!(
            r#"
s3 = boto3.client("s3")
out = []
for bucket, key in [({RAW:?}, "images/{put_id}")] + [({PROCESSED:?}, k) for k in keys({PROCESSED:?})]:
    head = s3.head_object(Bucket=bucket, Key=key)
    out.append([key, head.get("ServerSideEncryption"), head.get("SSEKMSKeyId")])
print(json.dumps(out))
"#
        ),
    );
    let sse = sse.as_array().expect("objects");
    assert!(sse.len() > 2, "{sse:?}");
    for object in sse {
        assert_eq!(object[1], "aws:kms", "{object}");
        assert_eq!(object[2], kms_key.as_str(), "{object}");
    }

    // --- process: the same batch again changes nothing; an object without an item is
    // returned for redelivery (its ingest may still be writing it), alone.
    let mut again = queued.clone();
    let mut orphan = queued["Records"][0].clone();
    orphan["messageId"] = json!("orphan-message");
    orphan["body"] = json!(json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-25T10:00:03.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "raw-object-created",
               "bucket": {"name": RAW, "arn": format!("arn:aws:s3:::{RAW}")},
               "object": {"key": "images/01JDQ0000000000000000000ZZ", "size": 1024}}
    }]})
    .to_string());
    again["Records"]
        .as_array_mut()
        .expect("records")
        .push(orphan);
    let redelivered = invoke(&moto, "process", &env, &again);
    assert_eq!(
        redelivered.body,
        json!({"batchItemFailures": [{"itemIdentifier": "orphan-message"}]}),
        "{}",
        redelivered.stdout
    );
    assert_eq!(redelivered.metrics()["Duplicates"], 2);
    let unchanged = python_json(&moto, r#"print(json.dumps(items()))"#);
    assert_eq!(unchanged, after_processing, "a redelivery changed items");

    // --- kafka-ingest: inline bytes, a claim-check, a PDF, a claim-check on a foreign bucket.
    python(
        &moto,
        &format!(
            r#"boto3.client("s3").put_object(Bucket={CLAIMS:?}, Key="big/photo.jpg", Body=bytes.fromhex({hex:?}))"#,
            hex = jpeg(3)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        ),
    );
    let mut batch = fixture("msk_batch.json");
    batch["records"]["images-0"] = json!([
        kafka_record(15, &jpeg(4)),
        kafka_record(
            16,
            json!({"bucket": CLAIMS, "key": "big/photo.jpg"})
                .to_string()
                .as_bytes()
        ),
        kafka_record(17, PDF),
        kafka_record(
            18,
            json!({"bucket": "someone-else", "key": "x.jpg"})
                .to_string()
                .as_bytes()
        ),
    ]);
    let ingested = invoke(&moto, "kafka-ingest", &env, &batch);
    assert_eq!(ingested.kind, "response", "{}", ingested.stdout);
    assert_eq!(
        ingested.body["batchItemFailures"],
        json!([]),
        "{}",
        ingested.body
    );
    let outcomes: Vec<(i64, String, String)> = ingested.body["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            (
                r["offset"].as_i64().expect("offset"),
                r["outcome"].as_str().expect("outcome").to_owned(),
                r["image_id"].as_str().expect("image_id").to_owned(),
            )
        })
        .collect();
    let outcome_names: Vec<(i64, &str)> =
        outcomes.iter().map(|(o, s, _)| (*o, s.as_str())).collect();
    assert_eq!(
        outcome_names,
        [
            (15, "RECEIVED"),
            (16, "RECEIVED"),
            (17, "REJECTED"),
            (18, "REJECTED")
        ],
        "{}",
        ingested.body
    );
    let state = python_json(&moto, r#"print(json.dumps(items()))"#);
    for (offset, outcome, id) in &outcomes {
        let item = &state[id];
        assert_eq!(item["source"], "kafka", "{state}");
        assert_eq!(item["source_ref"], format!("images/0/{offset}"));
        assert_eq!(item["tenant"], "acme");
        assert_eq!(item["status"], outcome.as_str());
    }
    assert_eq!(
        state[&outcomes[3].2]["error_code"],
        "claim_check_bucket_not_allowed"
    );

    // --- kafka-ingest: the redelivered batch changes nothing.
    let redelivered = invoke(&moto, "kafka-ingest", &env, &batch);
    assert_eq!(redelivered.kind, "response", "{}", redelivered.stdout);
    assert_eq!(
        redelivered.body["batchItemFailures"],
        json!([]),
        "{}",
        redelivered.body
    );
    assert!(
        redelivered.body["records"]
            .as_array()
            .expect("records")
            .iter()
            .all(|r| r["outcome"] == "DUPLICATE"),
        "{}",
        redelivered.body
    );
    assert_eq!(
        python_json(&moto, r#"print(json.dumps(items()))"#),
        state,
        "a redelivered batch changed items"
    );

    // --- kafka-ingest: a store failure fails every record, so the invocation fails (the
    // error alarm fires; the mapping retries the batch), naming the offsets. A batch where
    // only some records fail answers with batchItemFailures instead (unit-tested in
    // lambdas/src/invocation.rs).
    let mut broken = env.clone();
    broken.push(("IMGLAKE_METADATA_TABLE", "imglake-no-such-table".into()));
    let failed = invoke(&moto, "kafka-ingest", &broken, &batch);
    assert_eq!(failed.kind, "error", "{}", failed.body);
    let message = failed.body["errorMessage"].as_str().expect("errorMessage");
    assert!(message.contains("images/0@15"), "{message}");
    assert!(message.contains("imglake-no-such-table"), "{message}");
    assert_eq!(failed.body["errorType"], "imglake.KafkaRetry");

    // --- stream-export: the table's stream → the lake; every status change is a row.
    let stream = stream_event(&moto);
    let lake_env: Env = vec![("IMGLAKE_LAKE_URL", LAKE.to_owned())];
    let exported = invoke(&moto, "stream-export", &lake_env, &stream);
    assert_eq!(
        exported.body,
        json!({"batchItemFailures": []}),
        "{}",
        exported.stdout
    );
    let emf = exported.metrics();
    assert_eq!(emf["Quarantined"], 0, "{emf}");
    assert_eq!(emf["RowsWritten"], emf["RecordsIn"], "{emf}");

    let rows = query_with(
        &moto.env(),
        LAKE,
        "json",
        "select image_id, status, event_name from image_events order by sequence_number",
    );
    let mut history: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in rows.lines() {
        let row: Value = serde_json::from_str(line).expect("row");
        history
            .entry(row["image_id"].as_str().expect("image_id").to_owned())
            .or_default()
            .push(format!(
                "{} {}",
                row["event_name"].as_str().expect("event_name"),
                row["status"].as_str().expect("status")
            ));
    }
    let lifecycle = |statuses: &[&str]| -> Vec<String> {
        statuses
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{} {s}", if i == 0 { "INSERT" } else { "MODIFY" }))
            .collect()
    };
    let processed_life = lifecycle(&["RECEIVED", "PROCESSING", "PROCESSED"]);
    let rejected_life = lifecycle(&["RECEIVED", "REJECTED"]);
    let received_life = lifecycle(&["RECEIVED"]);
    let mut expected = BTreeMap::from([
        (put_id.clone(), processed_life.clone()),
        (post_id.clone(), processed_life),
        (pdf_id.clone(), rejected_life.clone()),
    ]);
    for (_, outcome, id) in &outcomes {
        let life = if outcome == "RECEIVED" {
            received_life.clone()
        } else {
            rejected_life.clone()
        };
        expected.insert(id.clone(), life);
    }
    assert_eq!(history, expected, "{rows}");
}

#[test]
fn the_scheduled_process_invocation_abandons_images_whose_form_expired_unused() {
    let moto = Moto::start();
    setup(&moto);
    let mut env = pipeline_env();
    // Forms valid for one second, in both functions as terraform sets them.
    env.push(("IMGLAKE_UPLOAD_FORM_EXPIRES_SECS", "1".into()));
    let unused = invoke(&moto, "upload", &env, &fixture("apigw_post_images.json"));
    assert_eq!(unused.body["statusCode"], 201, "{}", unused.body);
    let unused_id = response_body(&unused)["image_id"]
        .as_str()
        .expect("image_id")
        .to_owned();
    let used = invoke(&moto, "upload", &env, &fixture("apigw_post_images.json"));
    let used_id = response_body(&used)["image_id"]
        .as_str()
        .expect("image_id")
        .to_owned();
    // The second form's upload arrived (its processing has not run yet): not abandoned.
    python(
        &moto,
        &format!(
            r#"boto3.client("s3").put_object(Bucket={RAW:?}, Key="images/{used_id}", Body=b"x")"#
        ),
    );
    // Form lifetime and the grace (at most the lifetime) have passed.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let swept = invoke(
        &moto,
        "process",
        &env,
        &json!({"source": "imglake.schedule"}),
    );
    assert_eq!(swept.kind, "response", "{}", swept.stdout);
    assert_eq!(swept.body, json!({"abandoned": 1}), "{}", swept.stdout);
    assert_eq!(swept.metrics()["Abandoned"], 1);
    let items = python_json(&moto, r#"print(json.dumps(items()))"#);
    assert_eq!(items[&unused_id]["status"], "ABANDONED", "{items}");
    assert_eq!(items[&unused_id]["error_code"], "upload_expired", "{items}");
    assert_eq!(items[&used_id]["status"], "RECEIVED", "{items}");
    // Swept again: nothing more to do.
    let again = invoke(
        &moto,
        "process",
        &env,
        &json!({"source": "imglake.schedule"}),
    );
    assert_eq!(again.body, json!({"abandoned": 0}), "{}", again.stdout);
}

#[test]
fn a_second_upload_to_a_processed_images_key_is_recorded_and_its_version_removed() {
    let moto = Moto::start();
    setup(&moto);
    python(
        &moto,
        &format!(
            r#"boto3.client("s3").put_bucket_versioning(Bucket={RAW:?}, VersioningConfiguration={{"Status": "Enabled"}})"#
        ),
    );
    let env = pipeline_env();
    let created = invoke(&moto, "upload", &env, &fixture("apigw_post_images.json"));
    let id = response_body(&created)["image_id"]
        .as_str()
        .expect("image_id")
        .to_owned();
    let dir = tempfile::tempdir().expect("tempdir");
    let (first, second) = (dir.path().join("first.jpg"), dir.path().join("second.jpg"));
    std::fs::write(&first, jpeg(11)).expect("write");
    std::fs::write(&second, jpeg(12)).expect("write");
    // The form's upload, processed; then the same key uploaded again (S3 cannot refuse a form
    // posted twice before it expires), and that event delivered too.
    let put = |path: &std::path::Path| {
        python(
            &moto,
            &format!(
                r#"boto3.client("s3").put_object(Bucket={RAW:?}, Key="images/{id}", Body=open({:?}, "rb").read())"#,
                path.display().to_string()
            ),
        )
    };
    put(&first);
    let processed = invoke(&moto, "process", &env, &sqs_event(&moto));
    assert_eq!(processed.metrics()["Processed"], 1, "{}", processed.stdout);
    let before = python_json(&moto, r#"print(json.dumps(items()))"#)[&id].clone();
    assert_eq!(before["status"], "PROCESSED", "{before}");
    put(&second);
    let replaced = invoke(&moto, "process", &env, &sqs_event(&moto));
    assert_eq!(
        replaced.body,
        json!({"batchItemFailures": []}),
        "{}",
        replaced.stdout
    );
    assert_eq!(replaced.metrics()["RawReplaced"], 1, "{}", replaced.stdout);
    let state = python_json(
        &moto,
        &format!(
            r#"
s3 = boto3.client("s3")
versions = s3.list_object_versions(Bucket={RAW:?}, Prefix="images/{id}").get("Versions", [])
current = s3.get_object(Bucket={RAW:?}, Key="images/{id}")["Body"].read()
print(json.dumps({{"item": items()["{id}"], "versions": len(versions),
                  "current_is_first": current == open({first:?}, "rb").read()}}))
"#,
            first = first.display().to_string()
        ),
    );
    // The item still describes the first upload, and says a later one was set aside.
    let item = &state["item"];
    assert_eq!(item["status"], "PROCESSED", "{state}");
    assert_eq!(item["sha256"], before["sha256"], "{state}");
    assert_eq!(item["variants_json"], before["variants_json"], "{state}");
    assert_eq!(item["error_code"], "upload_replaced", "{state}");
    // The stray version is removed: the raw bytes are the ones the item describes again.
    assert_eq!(state["versions"], 1, "{state}");
    assert_eq!(state["current_is_first"], true, "{state}");
}
