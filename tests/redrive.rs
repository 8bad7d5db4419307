//! Redrive end to end against AWS-protocol servers on 127.0.0.1 (moto: S3, DynamoDB and its
//! stream, SQS, Glue): a stream batch fails until its retries are exhausted, the on-failure
//! queue gets the documented `DDBStreamBatchInfo` message, and the `redrive` Lambda binary (or
//! `imglake redrive`) reads the batch again from the stream into the lake.

use std::io::{BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::lambda_stream::{moto_step, run_stream_export};
use crate::util::faulty_s3_proxy;
use crate::util::{imglake, query_with, run_ok, Moto};

const LAKE: &str = "s3://imglake-lake/lake";

fn one_number(moto: &Moto, sql: &str) -> i64 {
    let out = query_with(&moto.env(), LAKE, "json", sql);
    serde_json::from_str::<Value>(out.lines().next().unwrap_or("{}")).expect("row")["n"]
        .as_i64()
        .unwrap_or(-1)
}

fn depth(moto: &Moto) -> usize {
    moto_step(moto, "depth").trim().parse().expect("depth")
}

fn stream_arn(moto: &Moto) -> String {
    moto.boto3(
        "import boto3; print(boto3.client('dynamodb').describe_table(TableName='imglake-images')['Table']['LatestStreamArn'])",
    )
    .trim()
    .to_owned()
}

/// moto with the table, its changes and the on-failure queue holding two messages: a batch of
/// this stream (records 1 to 3) and one of another table's stream, which a redrive of this
/// stream leaves alone. Returns the queue's URL.
fn queue_with_a_foreign_message(moto: &Moto) -> String {
    moto_step(moto, "setup");
    moto_step(moto, "changes");
    let queue_url = moto_step(moto, "queue").trim().to_owned();
    let fail = |args: &[&str]| {
        run_ok(
            Command::new(crate::util::venv_bin("python"))
                .arg(crate::lambda_stream::SCRIPT)
                .arg("fail")
                .args(args)
                .envs(moto.env()),
        )
    };
    fail(&["1", "3"]);
    fail(&[
        "0",
        "0",
        "arn:aws:dynamodb:us-east-1:123456789012:table/other/stream/2026-11-01T00:00:00.000",
    ]);
    queue_url
}

/// Runs the `redrive` binary once through the Lambda Runtime API, as its schedule would.
fn run_redrive_lambda(env: &[(&'static str, String)]) -> (String, Value, String) {
    let mut env = env.to_vec();
    env.push(("IMGLAKE_LAKE_URL", LAKE.to_owned()));
    crate::util::run_scheduled_lambda("redrive", &env)
}

#[test]
fn a_batch_that_exhausted_its_retries_is_redriven_into_a_complete_lake() {
    let moto = Moto::start();
    moto_step(&moto, "setup");
    moto_step(&moto, "changes");
    let queue_url = moto_step(&moto, "queue").trim().to_owned();
    let event: Value = serde_json::from_str(&moto_step(&moto, "event")).expect("event");
    let records = event["Records"].as_array().expect("records").clone();
    assert_eq!(records.len(), 6);

    // S3 refuses every write of the lake: each attempt fails the whole batch.
    let mut refusing = moto.env();
    refusing.push((
        "AWS_ENDPOINT_URL_S3",
        faulty_s3_proxy(&moto.endpoint, "PUT", "image_events"),
    ));
    for attempt in 0..3 {
        let (kind, body, _) = run_stream_export(&refusing, event.to_string());
        let failed = body["batchItemFailures"].as_array().map_or(0, Vec::len);
        assert!(
            kind == "error" || failed > 0,
            "attempt {attempt} must fail while S3 refuses: {kind} {body}"
        );
    }
    // Bisecting the batch landed its first half before the rest exhausted the retries.
    let first_half = serde_json::json!({ "Records": records[..3] }).to_string();
    let (_, body, _) = run_stream_export(&moto.env(), first_half);
    assert_eq!(body, serde_json::json!({"batchItemFailures": []}));
    assert_eq!(
        one_number(&moto, "select count(*) as n from image_events"),
        3
    );
    // The event source mapping's on-failure message names the whole batch.
    run_ok(
        Command::new(crate::util::venv_bin("python"))
            .args([crate::lambda_stream::SCRIPT, "fail", "0", "5"])
            .envs(moto.env()),
    );
    assert_eq!(depth(&moto), 1);

    let mut env = moto.env();
    env.push(("IMGLAKE_REDRIVE_QUEUE_URL", queue_url));
    env.push(("IMGLAKE_STREAM_ARN", stream_arn(&moto)));
    env.push(("IMGLAKE_GLUE_DATABASE", "imglake".into()));
    env.push(("IMGLAKE_GLUE_TABLE", "image_events".into()));
    let (kind, body, logs) = run_redrive_lambda(&env);
    assert_eq!(kind, "response", "{body}\n{logs}");
    assert_eq!(body["redriven"], 1, "{body}\n{logs}");
    assert_eq!(body["records"], 6, "{body}");
    assert_eq!(body["rows_written"], 6, "{body}");
    let emf: Value = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v.get("_aws").is_some())
        .unwrap_or_else(|| panic!("no EMF line in\n{logs}"));
    assert_eq!(emf["RedriveBatches"], 1);
    assert_eq!(emf["RedriveAgedOut"], 0);
    assert_eq!(
        depth(&moto),
        0,
        "the message is deleted once its batch is written"
    );

    // Every change is in the lake; the three the first half had landed twice, under the same
    // event ids, which the dedup view drops.
    assert_eq!(
        one_number(&moto, "select count(*) as n from image_events"),
        9
    );
    assert_eq!(
        one_number(
            &moto,
            "select count(distinct event_id) as n from image_events"
        ),
        6
    );
    assert_eq!(
        one_number(&moto, "select count(*) as n from image_events_dedup"),
        6
    );
    let current = query_with(
        &moto.env(),
        LAKE,
        "csv",
        "select image_id, status, is_deleted, error_code from images_current order by image_id",
    );
    assert_eq!(
        current,
        "image_id,status,is_deleted,error_code\n\
         img-0,PROCESSING,false,\n\
         img-1,REJECTED,false,unsupported_type\n\
         img-2,RECEIVED,true,\n"
    );
    // The checks agree (no event id names two changes, no transition is missing)...
    let check = imglake()
        .args(["check", "--lake", LAKE])
        .envs(moto.env())
        .output()
        .expect("check");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    // ... and compaction leaves one row per change.
    run_ok(imglake().args(["compact", "--lake", LAKE]).envs(moto.env()));
    assert_eq!(
        one_number(&moto, "select count(*) as n from image_events"),
        6
    );

    // The redriven partition is registered in Glue like the stream export's.
    let partitions: Value = serde_json::from_str(&moto_step(&moto, "partitions")).expect("json");
    assert!(
        !partitions.as_array().expect("array").is_empty(),
        "{partitions}"
    );
}

/// A DynamoDB Streams endpoint whose records have all aged out: every call answers what
/// the service answers for records past its 24-hour retention.
fn trimmed_stream() -> String {
    trimmed_stream_after(std::time::Duration::ZERO)
}

/// [`trimmed_stream`], answering each call after `delay`.
fn trimmed_stream_after(delay: std::time::Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let mut reader = BufReader::new(client.try_clone().expect("clone"));
            if crate::util::read_request(&mut reader).is_none() {
                continue;
            }
            std::thread::sleep(delay);
            let error = r#"{"__type":"com.amazonaws.dynamodb.v20120810#TrimmedDataAccessException","message":"The operation attempted to read past the oldest stream record in a shard."}"#;
            let mut client = client;
            let _ = write!(
                client,
                "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{error}",
                error.len()
            );
        }
    });
    format!("http://{addr}")
}

#[test]
fn a_batch_aged_out_of_the_stream_stays_queued_and_the_window_to_backfill_is_named() {
    let moto = Moto::start();
    let queue_url = queue_with_a_foreign_message(&moto);

    let mut env = moto.env();
    env.push(("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", trimmed_stream()));
    let run = |extra: &[&str]| {
        let out = imglake()
            .args([
                "redrive",
                "--queue",
                &queue_url,
                "--lake",
                LAKE,
                "--stream-arn",
            ])
            .arg(stream_arn(&moto))
            .args(["--visibility-timeout", "1"])
            .args(extra)
            .envs(env.iter().cloned())
            .output()
            .expect("run imglake redrive");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (code, text) = run(&["--max-messages", "2"]);
    assert_eq!(code, Some(1), "a message left behind fails the run: {text}");
    assert!(
        text.contains("aged out of the stream, left in the queue"),
        "{text}"
    );
    assert!(
        text.contains("messages of other streams left in the queue"),
        "{text}"
    );
    let window = "backfill the window 2026-";
    assert!(text.contains(window), "{text}");
    assert!(text.contains("imglake backfill --export"), "{text}");
    assert_eq!(depth(&moto), 2, "both messages stay");

    let (code, json) = run(&["--json", "--max-messages", "2"]);
    assert_eq!(code, Some(1));
    let report: Value = serde_json::from_str(json.lines().next().unwrap_or("")).expect("json");
    assert_eq!(
        report["aged_out"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    assert_eq!(report["other_streams"], 1);
    let window = report["backfill_window"].as_array().expect("window");
    assert!(window[0].as_str() <= window[1].as_str(), "{report}");
    assert_eq!(
        one_number(&moto, "select count(*) as n from image_events"),
        0
    );
}

/// Messages of the queue visible now (not hidden by a consumer's visibility timeout).
fn visible(moto: &Moto) -> usize {
    moto.boto3(
        "import boto3; s = boto3.client('sqs'); u = s.get_queue_url(QueueName='imglake-stream-export-failures')['QueueUrl']; print(s.get_queue_attributes(QueueUrl=u, AttributeNames=['ApproximateNumberOfMessages'])['Attributes']['ApproximateNumberOfMessages'])",
    )
    .trim()
    .parse()
    .expect("visible count")
}

/// Without `--max-messages`, a redrive of one stream ends when the queue gives nothing more:
/// another stream's message, left for its owner, and its own aged-out message are hidden again
/// when they come back, not gone through again and again. The other stream's message is
/// visible again once the run ends.
#[test]
fn a_redrive_of_one_stream_ends_with_another_streams_message_in_the_queue() {
    let moto = Moto::start();
    let queue_url = queue_with_a_foreign_message(&moto);
    let mut env = moto.env();
    env.push(("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", trimmed_stream()));
    let arn = stream_arn(&moto);
    // With a visibility timeout the run outlasts first (each message back after 1 s), then with one it does not.
    for visibility in ["1", "300"] {
        let mut child = imglake()
            .args(["redrive", "--queue", &queue_url, "--lake", LAKE, "--json"])
            .args(["--stream-arn", &arn, "--visibility-timeout", visibility])
            .envs(env.iter().cloned())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run imglake redrive");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while child.try_wait().expect("wait").is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("imglake redrive --visibility-timeout {visibility} still running after 60 s: it receives the same messages again and again");
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let out = child.wait_with_output().expect("output");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(
            out.status.code(),
            Some(1),
            "an aged-out batch fails the run: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_str(text.lines().next().unwrap_or("")).expect("json");
        assert_eq!(report["messages"], 2, "each message counted once: {report}");
        assert_eq!(report["other_streams"], 1, "{report}");
        assert_eq!(
            report["aged_out"].as_array().map(Vec::len),
            Some(1),
            "{report}"
        );
        assert_eq!(report["redriven"], 0, "{report}");
        assert_eq!(depth(&moto), 2, "both messages stay");
        if visibility == "300" {
            // The other stream's message is back for its own redrive; ours stays hidden.
            assert_eq!(visible(&moto), 1);
        }
    }
}

/// `imglake redrive --json` of this stream with a 1 s visibility timeout, against a stream
/// whose records have aged out and that answers each call after `delay_ms`: its exit status
/// and report.
fn redrive_slowly(moto: &Moto, queue_url: &str, delay_ms: u64) -> (Option<i32>, Value) {
    let mut env = moto.env();
    env.push((
        "AWS_ENDPOINT_URL_DYNAMODB_STREAMS",
        trimmed_stream_after(std::time::Duration::from_millis(delay_ms)),
    ));
    let out = imglake()
        .args(["redrive", "--queue", queue_url, "--lake", LAKE, "--json"])
        .args([
            "--stream-arn",
            &stream_arn(moto),
            "--visibility-timeout",
            "1",
        ])
        .envs(env.iter().cloned())
        .output()
        .expect("run imglake redrive");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let report = serde_json::from_str(text.lines().next().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{e}: {text}{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), report)
}

/// A run that outlasts its messages' visibility timeout still reaches every message: those
/// it went through come back first (SQS hands out the oldest), and are hidden again rather
/// than taken for the end of the queue.
#[test]
fn a_run_that_outlasts_the_visibility_timeout_still_reaches_every_message() {
    let moto = Moto::start();
    let queue_url = queue_with_a_foreign_message(&moto);
    // Eleven more copies of this stream's message: twelve of ours and the foreign one.
    moto.boto3(&format!(
        "import boto3; s = boto3.client('sqs'); u = {queue_url:?}\n\
         m = s.receive_message(QueueUrl=u, MaxNumberOfMessages=10, VisibilityTimeout=0)['Messages']\n\
         body = next(x['Body'] for x in m if '/table/other/' not in x['Body'])\n\
         [s.send_message(QueueUrl=u, MessageBody=body) for _ in range(11)]"
    ));
    assert_eq!(depth(&moto), 13);
    // Each of our messages takes 0.25 s: the first ten take longer than the 1 s timeout.
    let (code, report) = redrive_slowly(&moto, &queue_url, 250);
    assert_eq!(report["messages"], 13, "every message reached: {report}");
    assert_eq!(
        report["aged_out"].as_array().map(Vec::len),
        Some(12),
        "{report}"
    );
    assert_eq!(report["other_streams"], 1, "{report}");
    assert!(report["incomplete"].is_null(), "{report}");
    assert_eq!(code, Some(1), "aged-out batches fail the run");
}

#[test]
fn a_visibility_timeout_outside_sqs_range_is_refused() {
    for bad in ["0", "43201"] {
        let out = imglake()
            .args(["redrive", "--queue", "http://127.0.0.1:9/q", "--lake", LAKE])
            .args(["--visibility-timeout", bad])
            .output()
            .expect("run imglake redrive");
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("1..=43200"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// More messages the run went through than one receive holds come back together (35 of
/// another stream, hidden for 1 s while ours takes 2.5 s): going through them again is not
/// taken for messages never reached, and the run ends complete.
#[test]
fn many_messages_back_together_after_the_visibility_timeout_leave_the_run_complete() {
    let moto = Moto::start();
    let queue_url = queue_with_a_foreign_message(&moto);
    moto.boto3(&format!(
        "import boto3, json; s = boto3.client('sqs'); u = {queue_url:?}\n\
         m = [x for _ in range(5) for x in s.receive_message(QueueUrl=u, MaxNumberOfMessages=10, VisibilityTimeout=0).get('Messages', [])]\n\
         ours = next(x['Body'] for x in m if '/table/other/' not in x['Body'])\n\
         o = json.loads(ours); o['DDBStreamBatchInfo']['streamArn'] = 'arn:aws:dynamodb:us-east-1:123456789012:table/other/stream/2026-11-01T00:00:00.000'; other = json.dumps(o)\n\
         s.purge_queue(QueueUrl=u)\n\
         [s.send_message(QueueUrl=u, MessageBody=other) for _ in range(35)]\n\
         s.send_message(QueueUrl=u, MessageBody=ours)"
    ));
    assert_eq!(depth(&moto), 36);
    let (_, report) = redrive_slowly(&moto, &queue_url, 2500);
    assert_eq!(report["messages"], 36, "{report}");
    assert_eq!(report["other_streams"], 35, "{report}");
    assert!(report["incomplete"].is_null(), "{report}");
}
