//! The lake on S3: `imglake export` and `imglake query` with `s3://` through AWS_ENDPOINT_URL
//! at a moto server on 127.0.0.1 over plain http.

use crate::util::{export_with, imglake, query_with, run_ok, Moto};

#[test]
fn export_and_query_an_s3_lake_through_a_local_endpoint() {
    let moto = Moto::start();
    moto.boto3("import boto3; boto3.client('s3').create_bucket(Bucket='lake-bucket')");
    let lake = "s3://lake-bucket/prod/lake";
    let env = moto.env();
    let export = |name: &str| export_with(&env, lake, name, &[]);
    let summary = export("lambda_lifecycle.json");
    assert!(summary.contains("rows:        7"), "{summary}");
    export("bad_records.jsonl");
    let list_keys = "import boto3\n\
        keys = [o['Key'] for o in boto3.client('s3').list_objects_v2(Bucket='lake-bucket')['Contents']]\n\
        print('\\n'.join(sorted(keys)))";
    let keys = moto.boto3(list_keys);
    let keys: Vec<&str> = keys.lines().collect();
    assert_eq!(keys.len(), 6, "{keys:?}");
    assert!(keys.iter().any(|k| k
        .starts_with("prod/lake/image_events/dt=2026-11-24/hour=10/part-")
        && k.ends_with(".parquet")));
    assert!(keys
        .iter()
        .any(|k| k.starts_with("prod/lake/_quarantine/image_events/")));

    // Replaying writes the same keys.
    export("lambda_lifecycle.json");
    assert_eq!(moto.boto3(list_keys).lines().count(), 6);

    let out = query_with(
        &env,
        lake,
        "csv",
        "select event_name, count(*) as n from image_events group by event_name order by event_name",
    );
    assert_eq!(out, "event_name,n\nINSERT,4\nMODIFY,3\nREMOVE,2\n");

    // Compaction on S3: a second stream's copy of the lifecycle doubles the 10h partition's
    // files; compacting leaves one file there and no duplicate row.
    export_with(
        &env,
        lake,
        "lambda_lifecycle.json",
        &["--stream-label", "other"],
    );
    let compacted = run_ok(
        imglake()
            .args(["compact", "--lake", lake])
            .envs(env.iter().cloned()),
    );
    assert!(
        compacted.contains("dt=2026-11-24/hour=10: 2 files, 6 rows -> 1 files, 3 rows"),
        "{compacted}"
    );
    let keys = moto.boto3(list_keys);
    let hour10: Vec<&str> = keys
        .lines()
        .filter(|k| k.contains("/dt=2026-11-24/hour=10/"))
        .collect();
    assert_eq!(hour10.len(), 1, "{hour10:?}");
    assert!(hour10[0].contains("/compacted-"));
    let total = query_with(&env, lake, "csv", "select count(*) as n from image_events");
    assert_eq!(total, "n\n9\n");

    // Checks refuse a prefix that holds no table (a typo) instead of passing on no data.
    let typo = imglake()
        .args(["check", "--lake", "s3://lake-bucket/prod/lkae"])
        .envs(env.iter().cloned())
        .output()
        .expect("spawn");
    assert!(!typo.status.success());
    let stderr = String::from_utf8_lossy(&typo.stderr);
    assert!(
        stderr.contains("no data in the lake at s3://lake-bucket/prod/lkae"),
        "{stderr}"
    );
}
