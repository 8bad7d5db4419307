//! `imglake demo`: the whole product on one machine, in one command.
//!
//! 1. Inputs: the built-in sample set (sizes, formats, EXIF orientations, and inputs that
//!    must be refused), or the user's images (`--images DIR`).
//! 2. Ingest through the same handlers as the Lambdas: a third as direct `PUT /images`
//!    (API Gateway events), a third as presigned uploads (`POST /images`, then the form is
//!    checked against its policy as S3 does and the object stored), a third as one MSK-shaped
//!    Kafka batch, the largest image and anything too large for a message as claim-checks.
//! 3. Process every image still RECEIVED (as the queue would deliver its S3 events).
//! 4. Export the change feed into the lake, run the BI queries of sql/queries and print them.
//!
//! Running it again is safe: uploads carry idempotency keys, Kafka records keep their
//! offsets and presigned uploads are remembered, so a re-run adds nothing.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::encodings::Body;
use aws_lambda_events::kafka::KafkaEvent;
use base64::Engine as _;
use bytes::Bytes;
use imglake_exporter::table_export::{reconcile, Export, ReconcileOptions};
use imglake_pipeline::handlers::metrics::Outcomes;
use imglake_pipeline::handlers::upload::{IDEMPOTENCY_HEADER, TENANT_HEADER};
use imglake_pipeline::model::Status;
use imglake_pipeline::presign::verify_post;
use imglake_pipeline::samples::{sample_set, Expect, Sample};
use imglake_pipeline::store::{MetadataStore, DEFAULT_TABLE_NAME};
use imglake_pipeline::table_export::{write_table_export, ExportRequest};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::cli::{DemoArgs, OutputFormat};
use crate::engine;
use crate::local::{Local, CLAIMS_BUCKET, RAW_BUCKET, REGION};
use crate::sql::QUERIES;

/// Tenant of the demo's images.
const TENANT: &str = "demo";
/// Topic of the demo's Kafka batch.
const TOPIC: &str = "demo-images";
/// Largest input file read from `--images`.
const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Route {
    Put,
    Presigned,
    Kafka,
    ClaimCheck,
}

impl Route {
    fn label(self) -> &'static str {
        match self {
            Route::Put => "PUT /images",
            Route::Presigned => "POST /images + presigned upload",
            Route::Kafka => "Kafka (inline)",
            Route::ClaimCheck => "Kafka (claim-check)",
        }
    }
}

/// What a re-run must remember (presigned uploads get fresh ids otherwise).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct DemoState {
    /// Sample key → image id of its presigned upload.
    presigned: BTreeMap<String, String>,
    /// Timestamp of the demo's Kafka records (fixed on the first run, so ids derive alike).
    kafka_timestamp_ms: Option<i64>,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let local = Local::open(
        &args.data_dir,
        Arc::new(chrono::Utc::now),
        "http://127.0.0.1:8080/upload",
    )?;
    let builtin = args.images.is_none();
    let samples = match &args.images {
        Some(dir) => read_images(dir)?,
        None => sample_set(),
    };
    anyhow::ensure!(
        !samples.is_empty(),
        "no images found in {} (looked for files up to {MAX_INPUT_BYTES} bytes)",
        args.images.as_deref().unwrap_or(Path::new("")).display()
    );
    let plan = plan(&samples, local.pipeline.config.direct_max_bytes);
    let state_path = args.data_dir.join("demo-state.json");
    let mut state: DemoState = match std::fs::read(&state_path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        Err(_) => DemoState::default(),
    };
    outln!(
        "imglake demo: {} inputs into {}",
        samples.len(),
        args.data_dir.display()
    );
    // Making the sample set (or reading the user's folder) and opening the stores.
    let prepare_time = started.elapsed();

    // 1. Ingest.
    let t = Instant::now();
    let bar = progress(samples.len() as u64, "ingest");
    let mut outcomes = Outcomes::default();
    let mut ids: HashMap<usize, String> = HashMap::new();
    let mut kafka = Vec::new();
    for (i, (sample, route)) in samples.iter().zip(&plan).enumerate() {
        bar.set_message(sample.name.clone());
        match route {
            Route::Put => {
                let (status, body) = put(&local, sample, i, &mut outcomes).await;
                if let Some(id) = body["image_id"].as_str() {
                    ids.insert(i, id.to_owned());
                } else {
                    note(
                        &bar,
                        format!("  {}: PUT refused with {status}: {body}", sample.name),
                    );
                }
            }
            Route::Presigned => {
                let id = presigned(&local, sample, &mut state, &mut outcomes).await?;
                ids.insert(i, id);
            }
            Route::Kafka | Route::ClaimCheck => kafka.push(i),
        }
        advance(&bar);
    }
    if !kafka.is_empty() {
        let ts = *state
            .kafka_timestamp_ms
            .get_or_insert_with(|| chrono::Utc::now().timestamp_millis());
        let event = kafka_batch(&local, &samples, &plan, &kafka, ts).await?;
        let report = local.pipeline.handle_kafka(&event, &mut outcomes).await;
        for (&i, record) in kafka.iter().zip(&report.records) {
            ids.insert(i, record.image_id.clone());
        }
        let retry = report.retries().next().cloned();
        if let Some(retry) = retry {
            anyhow::bail!(
                "Kafka record {}/{}/{} could not be stored: {}",
                retry.topic,
                retry.partition,
                retry.offset,
                retry.error.as_deref().unwrap_or("")
            );
        }
    }
    std::fs::write(&state_path, serde_json::to_vec_pretty(&state)?)
        .with_context(|| format!("writing {}", state_path.display()))?;
    bar.finish_with_message("done");
    let ingest_time = t.elapsed();

    // 2. Process (every unfinished item: this run's and any an interrupted run left).
    let t = Instant::now();
    let unfinished = local.pipeline.store.unfinished().await?;
    let bar = progress(unfinished.len() as u64, "process");
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut tasks = tokio::task::JoinSet::new();
    let mut queue = unfinished.into_iter().map(|item| item.image_id);
    let mut process_outcomes = Outcomes::default();
    loop {
        while tasks.len() < workers {
            let Some(id) = queue.next() else { break };
            let pipeline = local.pipeline.clone();
            tasks.spawn(async move {
                let result = crate::local::process_with_retries(&pipeline, &id).await;
                (id, result)
            });
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let (id, result) = joined.context("a processing task failed")?;
        match result {
            Ok(worked) => worked.count(&mut process_outcomes),
            Err(err) => note(
                &bar,
                format!("  {id}: processing failed, retry later: {err}"),
            ),
        }
        advance(&bar);
    }
    bar.finish_with_message("done");
    let process_time = t.elapsed();

    // 3. Export the change feed.
    let t = Instant::now();
    let spinner = ProgressBar::new_spinner().with_message("exporting the change feed");
    spinner.enable_steady_tick(Duration::from_millis(120));
    let flushed = local.flush(crate::local::FLUSH_BATCH).await?;
    spinner.finish_and_clear();
    let export_time = t.elapsed();

    // 4. Account for every input.
    let mut mismatches = Vec::new();
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    for (i, sample) in samples.iter().enumerate() {
        let Some(id) = ids.get(&i) else {
            mismatches.push(format!(
                "{}: no image id (refused before it was recorded)",
                sample.name
            ));
            continue;
        };
        let Some(item) = local.pipeline.store.get(id).await? else {
            mismatches.push(format!("{}: item {id} missing", sample.name));
            continue;
        };
        *by_status.entry(item.status.to_string()).or_default() += 1;
        if !builtin {
            continue;
        }
        let ok = match sample.expect {
            Expect::Processed => item.status == Status::Processed,
            Expect::Rejected(code) => {
                item.status == Status::Rejected && item.error_code.as_deref() == Some(code)
            }
        };
        if !ok {
            mismatches.push(format!(
                "{}: expected {:?}, got {} {}",
                sample.name,
                sample.expect,
                item.status,
                item.error_code.as_deref().unwrap_or("")
            ));
        }
    }

    // 5. The BI queries.
    let t = Instant::now();
    let ctx = engine::session(&local.lake).await?;
    for name in [
        "ingest_overview",
        "rejection_reasons",
        "latency_trend",
        "tenant_storage",
    ] {
        let Some(query) = QUERIES.iter().find(|q| q.name == name) else {
            continue;
        };
        let df = ctx
            .sql(&query.for_datafusion())
            .await
            .with_context(|| format!("planning {}", query.path))?;
        let schema = df.schema().inner().clone();
        let batches = df
            .collect()
            .await
            .with_context(|| format!("running {}", query.path))?;
        outln!("\n== {} ({})", query.name, query.path);
        crate::cmd::query::write_batches(
            &mut crate::Stdout,
            &schema,
            &batches,
            OutputFormat::Table,
        )?;
    }
    let query_time = t.elapsed();

    // 5. Reconcile: the lake against a full export of the metadata table, in DynamoDB's
    // export format, as the scheduled reconcile does in AWS.
    let t = Instant::now();
    let exports = args.data_dir.join("table-exports");
    // Only the latest export is kept: the previous run's is the demo's own.
    let _ = std::fs::remove_dir_all(&exports);
    let written = write_table_export(
        &local.pipeline.store,
        DEFAULT_TABLE_NAME,
        &exports,
        ExportRequest::Full,
    )
    .await?;
    let export = Export::open(&written.folder.display().to_string()).await?;
    let reconciled = reconcile(&local.lake, &export, ReconcileOptions::default()).await?;
    let reconcile_time = t.elapsed();
    if reconciled.drift > 0 {
        mismatches.push(format!(
            "the lake drifted from the metadata table: {} images (imglake reconcile --export {} --lake {})",
            reconciled.drift,
            written.folder.display(),
            local.lake.display
        ));
    }

    // Summary.
    let lake_dir = local.lake.display.clone();
    outln!("\n== summary");
    let mut routes: BTreeMap<Route, usize> = BTreeMap::new();
    for route in &plan {
        *routes.entry(*route).or_default() += 1;
    }
    for (route, n) in &routes {
        outln!("  sent {n:>3} via {}", route.label());
    }
    let statuses: Vec<String> = by_status.iter().map(|(s, n)| format!("{s} {n}")).collect();
    outln!("  images now: {}", statuses.join(", "));
    outcomes.merge(&process_outcomes);
    if outcomes.duplicates > 0 {
        outln!(
            "  redeliveries that changed nothing: {}",
            outcomes.duplicates
        );
    }
    let reasons: Vec<String> = outcomes
        .rejected
        .iter()
        .map(|(code, n)| format!("{code} {n}"))
        .collect();
    if !reasons.is_empty() {
        outln!("  refused this run: {}", reasons.join(", "));
    }
    outln!(
        "  lake: {} change records → {} rows in {} files ({} quarantined)",
        flushed.records,
        flushed.rows,
        flushed.files,
        flushed.quarantined
    );
    outln!(
        "  reconcile: {} items of a table export against the lake: {} drift{}",
        reconciled.table_items,
        reconciled.drift,
        if reconciled.drift == 0 {
            ""
        } else {
            " (see imglake reconcile)"
        }
    );
    outln!(
        "  time: prepare {:.1}s, ingest {:.1}s, process {:.1}s, export {:.1}s, queries {:.1}s, reconcile {:.1}s, total {:.1}s",
        prepare_time.as_secs_f64(),
        ingest_time.as_secs_f64(),
        process_time.as_secs_f64(),
        export_time.as_secs_f64(),
        query_time.as_secs_f64(),
        reconcile_time.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    outln!("\nLook next:");
    outln!("  variants:  {}", local.pipeline.processed.location());
    outln!("  lake:      {lake_dir}");
    outln!(
        "  query:     imglake query --lake {lake_dir} \"select status, source, count(*) as n from images_current group by all order by 1, 2\""
    );
    outln!("  checks:    imglake check --lake {lake_dir}");
    outln!(
        "  reconcile: imglake reconcile --export {} --lake {lake_dir}",
        written.folder.display()
    );
    outln!(
        "  serve:     imglake serve --data-dir {}",
        args.data_dir.display()
    );
    if mismatches.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "\nerror: {} inputs did not end as expected:",
            mismatches.len()
        );
        for m in &mismatches {
            eprintln!("  {m}");
        }
        Ok(ExitCode::FAILURE)
    }
}

/// One step done. A bar is hidden when stderr is not a terminal (a log file, CI): then plain
/// lines report the progress instead, at most ten per bar.
pub(crate) fn advance(bar: &ProgressBar) {
    bar.inc(1);
    if bar.is_hidden() {
        let (pos, len) = (bar.position(), bar.length().unwrap_or(0).max(1));
        if pos * 10 / len != (pos - 1) * 10 / len {
            eprintln!("{:>8} {pos}/{len}", bar.prefix());
        }
    }
}

/// A message above the bar; on stderr itself when the bar is hidden (it would be lost).
pub(crate) fn note(bar: &ProgressBar, message: String) {
    if bar.is_hidden() {
        eprintln!("{message}");
    } else {
        bar.println(message);
    }
}

pub(crate) fn progress(len: u64, prefix: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(len).with_prefix(prefix);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} {elapsed} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

/// Routes: oversized inputs and the largest valid one go as Kafka claim-checks; the rest
/// rotate through PUT, presigned upload and inline Kafka.
fn plan(samples: &[Sample], direct_max: u64) -> Vec<Route> {
    let largest_ok = samples
        .iter()
        .enumerate()
        .filter(|(_, s)| s.expect == Expect::Processed && s.bytes.len() as u64 <= direct_max)
        .max_by_key(|(_, s)| s.bytes.len())
        .map(|(i, _)| i);
    samples
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if s.bytes.len() as u64 > direct_max || Some(i) == largest_ok {
                Route::ClaimCheck
            } else if s.bytes.is_empty() {
                // An empty body is refused by HTTP before any image is recorded; a Kafka
                // record with no value is recorded as REJECTED.
                Route::Kafka
            } else {
                [Route::Put, Route::Presigned, Route::Kafka][i % 3]
            }
        })
        .collect()
}

/// A stable key for a sample across runs: its name and content hash.
fn sample_key(sample: &Sample) -> String {
    let digest = Sha256::digest(&sample.bytes);
    format!("{}/{}", sample.name, hex_prefix(&digest))
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

fn api_request(method: &str, request_id: String) -> ApiGatewayV2httpRequest {
    let mut req = ApiGatewayV2httpRequest::default();
    req.request_context.http.method = method.parse().unwrap_or_default();
    req.request_context.request_id = Some(request_id);
    req.raw_path = Some("/images".to_owned());
    if let Ok(tenant) = TENANT.parse() {
        req.headers.insert(TENANT_HEADER, tenant);
    }
    req
}

fn response_json(body: Option<&Body>) -> Value {
    match body {
        Some(Body::Text(text)) => serde_json::from_str(text).unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

/// `PUT /images` with an idempotency key, as API Gateway would deliver it.
async fn put(local: &Local, sample: &Sample, i: usize, outcomes: &mut Outcomes) -> (i64, Value) {
    let mut req = api_request("PUT", format!("demo-put-{i}"));
    if let Ok(key) = format!("demo/{}", sample_key(sample)).parse() {
        req.headers.insert(IDEMPOTENCY_HEADER, key);
    }
    req.body = Some(base64::engine::general_purpose::STANDARD.encode(&sample.bytes));
    req.is_base64_encoded = true;
    let resp = local.pipeline.handle_upload(&req, outcomes).await;
    (resp.status_code, response_json(resp.body.as_ref()))
}

/// `POST /images`, then the upload the browser would send, checked against the form's
/// policy as S3 checks it. Remembered, so a re-run does not upload again.
async fn presigned(
    local: &Local,
    sample: &Sample,
    state: &mut DemoState,
    outcomes: &mut Outcomes,
) -> anyhow::Result<String> {
    let key = sample_key(sample);
    if let Some(id) = state.presigned.get(&key) {
        if local.pipeline.store.get(id).await?.is_some() {
            outcomes.duplicates += 1;
            return Ok(id.clone());
        }
    }
    let resp = local
        .pipeline
        .handle_upload(&api_request("POST", format!("demo-post-{key}")), outcomes)
        .await;
    let body = response_json(resp.body.as_ref());
    anyhow::ensure!(
        resp.status_code == 201,
        "POST /images answered {}: {body}",
        resp.status_code
    );
    let id = body["image_id"].as_str().unwrap_or_default().to_owned();
    let fields: BTreeMap<String, String> = serde_json::from_value(body["upload"]["fields"].clone())
        .context("the upload form has no fields")?;
    let object_key = verify_post(
        RAW_BUCKET,
        &fields,
        sample.bytes.len() as u64,
        &local.upload_secret,
        REGION,
        chrono::Utc::now(),
    )
    .map_err(|refused| {
        anyhow::anyhow!(
            "the presigned upload of {} was refused: {refused}",
            sample.name
        )
    })?;
    local
        .pipeline
        .raw
        .put(
            &object_key,
            Bytes::from(sample.bytes.clone()),
            "application/octet-stream",
        )
        .await?;
    state.presigned.insert(key, id.clone());
    Ok(id)
}

/// One MSK-shaped batch of the Kafka samples (claim-checked ones stored under `claims/`).
async fn kafka_batch(
    local: &Local,
    samples: &[Sample],
    plan: &[Route],
    indexes: &[usize],
    timestamp_ms: i64,
) -> anyhow::Result<KafkaEvent> {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut records = Vec::new();
    for (offset, &i) in indexes.iter().enumerate() {
        let sample = &samples[i];
        let value = if plan[i] == Route::ClaimCheck {
            let key = format!("demo/{}", sample_key(sample).replace('/', "-"));
            local
                .claims
                .put(
                    &key,
                    Bytes::from(sample.bytes.clone()),
                    "application/octet-stream",
                )
                .await?;
            b64(json!({"bucket": CLAIMS_BUCKET, "key": key})
                .to_string()
                .as_bytes())
        } else {
            b64(&sample.bytes)
        };
        let tenant: Vec<i8> = TENANT.bytes().map(|b| i8::from_ne_bytes([b])).collect();
        records.push(json!({
            "topic": TOPIC, "partition": 0, "offset": offset,
            "timestamp": timestamp_ms, "timestampType": "CREATE_TIME",
            "key": b64(sample.name.as_bytes()), "value": value,
            "headers": [{"tenant": tenant}],
        }));
    }
    let event = json!({
        "eventSource": "aws:kafka",
        "eventSourceArn": "arn:aws:kafka:us-east-1:000000000000:cluster/imglake-local/demo",
        "bootstrapServers": "127.0.0.1:9092",
        "records": {format!("{TOPIC}-0"): records},
    });
    Ok(serde_json::from_value(event)?)
}

/// The files of `dir` (not recursive, sorted, hidden files left out), as samples without
/// expectations.
fn read_images(dir: &Path) -> anyhow::Result<Vec<Sample>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read --images {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && !is_hidden(p))
        .collect();
    paths.sort();
    let mut samples = Vec::new();
    for path in paths {
        let len = std::fs::metadata(&path)?.len();
        if len > MAX_INPUT_BYTES {
            eprintln!(
                "skipping {} ({len} bytes, over {MAX_INPUT_BYTES})",
                path.display()
            );
            continue;
        }
        samples.push(Sample {
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            bytes: std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
            expect: Expect::Processed,
        });
    }
    Ok(samples)
}

/// `.DS_Store`, `.complete` and the like are not images someone meant to send.
fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}
