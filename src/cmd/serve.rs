//! `imglake serve`: the upload API as a local HTTP service over the embedded stores.
//!
//! - `POST /images`, `PUT /images`, `GET /images/{id}`: the same handler as the `upload`
//!   Lambda; requests become API Gateway (payload 2.0) events and back.
//! - `POST /upload/{bucket}`: where local presigned forms point; the form is checked against
//!   its policy as S3 checks it (signature, expiry, conditions, content-length-range), then
//!   the object is stored and its processing queued, as the S3 notification would.
//! - `GET /healthz`: queue and feed state, and each Kafka partition's offsets.
//! - `GET /` and `/console/…`: the web console (`crate::console`); CORS on the upload API
//!   lets pages of other origins call it (`crate::console::cors`).
//! - With `--kafka-brokers` and `--kafka-topic`: the topic's records go through the
//!   `kafka-ingest` handler into the same processing queue ([`crate::kafka::consumer`]).
//!
//! What requests may hold (permits, body memory, a minimum body rate, the form rate limit) is
//! `crate::conn::guard`'s; a second upload to a used key is refused here (`409`).
//!
//! Background work: processing workers fed by a bounded queue (the process Lambda's SQS
//! queue), an exporter that tails the change feed and flushes by size or age (then compacts
//! crowded partitions, `crate::upkeep`), and an optional TTL sweep. Ctrl-C (or SIGTERM) stops accepting requests, finishes the ones in flight,
//! drains the queue and flushes the feed: nothing acknowledged is lost. A restart picks up
//! images that were stored but not processed.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::encodings::Body as LambdaBody;
use axum::body::Body;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Path as UrlPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use bytes::Bytes;
use imglake_pipeline::handlers::metrics::Outcomes;
use imglake_pipeline::handlers::{image_id_of_raw_key, raw_key};
use imglake_pipeline::presign::verify_post;
use serde_json::json;
use tokio::sync::{mpsc, Mutex};

use crate::cli::ServeArgs;
use crate::conn::guard::{body_failure, BodyFailure, BodyRate, Guard, GuardConfig};
use crate::conn::json_error;
use crate::local::{process_with_retries, sweep, Local, REGION};

/// Room for the form fields of a presigned upload besides the file.
const FORM_OVERHEAD: usize = 64 * 1024;
/// Largest body taken by the API's routes other than `PUT /images` (none needs one).
const SMALL_BODY: usize = 64 * 1024;
/// Time after a form's expiry before its image is abandoned.
const ABANDON_GRACE: Duration = Duration::from_secs(2);

struct App {
    local: Arc<Local>,
    /// The processing queue; taken (closed) at shutdown so the workers drain it and stop.
    queue: std::sync::RwLock<Option<mpsc::Sender<String>>>,
    /// Requests and their outcomes, for the closing summary.
    outcomes: std::sync::Mutex<Outcomes>,
    /// Second uploads to a used key with other bytes, refused (409): nothing was replaced.
    refused_replays: std::sync::atomic::AtomicU64,
    body_timeout: Duration,
    /// The Kafka consumer's partitions, for /healthz.
    kafka: Option<Arc<crate::kafka::consumer::Status>>,
}

impl App {
    /// Queues the processing of an image, as its S3 notification would.
    async fn enqueue(&self, image_id: String) {
        let sender = self.queue.read().ok().and_then(|q| q.clone());
        match sender {
            Some(sender) if sender.send(image_id.clone()).await.is_ok() => {}
            _ => tracing::warn!(
                image_id,
                "processing queue closed; the image resumes on the next start"
            ),
        }
    }
}

pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let offset = chrono::Duration::from_std(args.clock_offset.unwrap_or_default())
        .context("--clock-offset is too large")?;
    let clock = Arc::new(move || chrono::Utc::now() + offset);
    let endpoint = format!("http://{}/upload", args.addr);
    let mut local = Local::open(&args.data_dir, clock.clone(), &endpoint)?;
    {
        let config = &mut Arc::get_mut(&mut local.pipeline)
            .context("the pipeline is shared before start")?
            .config;
        if let Some(ttl) = args.ttl {
            config.ttl = ttl;
        }
        // One memory budget for every worker.
        *config = config.clone().with_limits(args.limits.limits());
        if let Some(presign) = config.presign.as_mut() {
            presign.expires_in = args.form_expiry.max(Duration::from_secs(1));
        }
        // PUT carries the image in the request; larger ones take the presigned route.
        config.direct_max_bytes = config.direct_max_bytes.min(config.limits.max_bytes);
    }
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (choose another with --addr)",
                args.addr
            )
        })?;

    let (queue, receiver) = mpsc::channel::<String>(args.queue_capacity);
    // Kafka records go through the kafka-ingest handler into the same processing queue.
    let kafka =
        crate::kafka::consumer::Consumer::start(&args.kafka, local.pipeline.clone(), queue.clone())
            .await?;
    let app = Arc::new(App {
        local: Arc::new(local),
        queue: std::sync::RwLock::new(Some(queue)),
        outcomes: std::sync::Mutex::new(Outcomes::default()),
        refused_replays: std::sync::atomic::AtomicU64::new(0),
        body_timeout: Duration::from_secs(args.body_timeout_secs),
        kafka: kafka.as_ref().map(|k| k.status.clone()),
    });

    // Processing workers share one queue.
    let receiver = Arc::new(Mutex::new(receiver));
    let processed = Arc::new(std::sync::Mutex::new(Outcomes::default()));
    let mut workers = tokio::task::JoinSet::new();
    if args.workers == 0 {
        // Ingest only: images stay RECEIVED; a later start with workers processes them.
        let receiver = receiver.clone();
        workers.spawn(async move { while receiver.lock().await.recv().await.is_some() {} });
    }
    for _ in 0..args.workers {
        let (app, receiver, processed) = (app.clone(), receiver.clone(), processed.clone());
        workers.spawn(async move {
            loop {
                let next = receiver.lock().await.recv().await;
                let Some(image_id) = next else { break };
                let result = process_with_retries(&app.local.pipeline, &image_id).await;
                let mut o = processed.lock().unwrap_or_else(|e| e.into_inner());
                match result {
                    Ok(worked) => worked.count(&mut o),
                    Err(err) => {
                        // Left in RECEIVED/PROCESSING: the next start picks it up again.
                        o.retries += 1;
                        tracing::error!(image_id, error = %err, "processing gave up for now; it resumes on the next start");
                    }
                }
            }
        });
    }

    // Work a previous run left: stored but not processed.
    let mut resumed = 0;
    for item in app.local.pipeline.store.unfinished().await? {
        if app
            .local
            .pipeline
            .raw
            .size(&raw_key(&item.image_id))
            .await?
            .is_some()
        {
            app.enqueue(item.image_id).await;
            resumed += 1;
        }
    }

    // The exporter tails the change feed.
    let (stop_export, mut export_stopped) = tokio::sync::watch::channel(false);
    // The exporter's futures are not `Send` (object_store's multipart writer borrows across
    // awaits), so it runs on a thread of its own with a current-thread runtime.
    let exporter = {
        let app = app.clone();
        let (max_records, max_age) = (args.flush_records, args.flush_age);
        let compact_files = args.compact_files;
        std::thread::Builder::new()
            .name("imglake-exporter".into())
            .spawn(move || -> anyhow::Result<()> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(tail_feed(
                    &app,
                    max_records,
                    max_age,
                    compact_files,
                    &mut export_stopped,
                ));
                Ok(())
            })?
    };

    let sweeper = args.sweep_every.map(|every| {
        let app = app.clone();
        let clock = clock.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match sweep(&app.local.pipeline, clock()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(expired = n, "TTL sweep removed expired images"),
                    Err(err) => tracing::error!(error = %err, "TTL sweep failed"),
                }
            }
        })
    });

    // Forms that expired unused: their images become ABANDONED (a form's upload is stored
    // before its answer, so a short grace is enough here).
    let abandoner = {
        let app = app.clone();
        let lifetime = args.form_expiry.max(Duration::from_secs(1));
        let every = (lifetime / 2).clamp(Duration::from_secs(1), Duration::from_secs(60));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let mut outcomes = Outcomes::default();
                let swept = app
                    .local
                    .pipeline
                    .abandon_expired_uploads(
                        lifetime,
                        ABANDON_GRACE,
                        imglake_pipeline::handlers::sweep::SWEEP_LIMIT,
                        &mut outcomes,
                    )
                    .await;
                match swept {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(abandoned = n, "upload forms expired unused"),
                    Err(err) => tracing::error!(error = %err, "abandoned-upload sweep failed"),
                }
                if let Ok(mut total) = app.outcomes.lock() {
                    total.abandoned += outcomes.abandoned;
                }
            }
        })
    };

    let direct_limit =
        usize::try_from(app.local.pipeline.config.direct_max_bytes).unwrap_or(usize::MAX);
    let upload_limit = usize::try_from(app.local.pipeline.config.limits.max_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(FORM_OVERHEAD);
    let console = crate::console::Console::new(
        app.local.clone(),
        crate::console::Settings {
            flush_records: args.flush_records,
            flush_age: args.flush_age,
            compact_files: args.compact_files,
        },
    )
    .await?;
    let cors = Arc::new(crate::console::cors::CorsPolicy::new(&args.cors_origins));
    let router = Router::new()
        .route("/images", post(api).put(api).fallback(api))
        .route("/images/{id}", get(api).fallback(api))
        .layer(DefaultBodyLimit::max(direct_limit.saturating_add(1)))
        .merge(
            Router::new()
                .route("/upload/{bucket}", post(upload))
                .layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/healthz", get(health))
        .merge(crate::console::router(console))
        .fallback(api)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app.clone())
        // Permits by kind of request, body memory and rate, the form rate limit: one guard
        // for the whole server (`Router::layer` wraps every route on its own).
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(Guard::new(GuardConfig {
                max_uploads: args.max_uploads,
                upload_memory: args.upload_memory,
                max_requests: args.max_requests,
                rate: BodyRate {
                    min_bytes_per_sec: args.min_body_rate.max(1),
                    grace: args.body_grace,
                },
                forms_per_minute: args.forms_per_minute,
            })),
            crate::conn::guard::guard,
        ))
        // A request for another host (DNS rebinding) is refused before the guard and the
        // routes.
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(crate::conn::host::HostPolicy::new(&args.allowed_hosts)),
            crate::conn::host::check,
        ))
        // Outermost, CORS: the guard's refusals (429, 503, 400) and the Host check's 421 reach
        // a page of an allowed origin with their status and Retry-After, not as a failed
        // fetch. A rebinding page's origin is its own name, not an allowed one, so it still
        // reads nothing.
        .layer(axum::middleware::from_fn_with_state(
            cors.clone(),
            crate::console::cors::apply,
        ));

    eprintln!(
        "imglake serve: http://{}{} (data {}, {} workers{}); Ctrl-C stops after flushing",
        args.addr,
        kafka
            .as_ref()
            .map(|k| format!(" and Kafka topic {}", k.topic))
            .unwrap_or_default(),
        args.data_dir.display(),
        args.workers,
        if resumed > 0 {
            format!(", resumed {resumed} unprocessed images")
        } else {
            String::new()
        }
    );
    eprintln!(
        "imglake serve: web console at http://{}/; browsers may call the API from {}",
        args.addr,
        cors.describe()
    );
    let listener = crate::conn::LimitedListener::new(
        listener,
        args.max_connections,
        Duration::from_secs(args.body_timeout_secs),
    );
    crate::conn::serve(
        listener,
        router,
        // --body-timeout-secs bounded heads before --header-timeout existed: the shorter.
        args.header_timeout
            .min(Duration::from_secs(args.body_timeout_secs))
            .max(Duration::from_millis(100)),
        shutdown_signal(),
    )
    .await;

    // Stopped accepting; in-flight requests are done. Drain the queue, then the feed.
    eprintln!("imglake serve: stopping: finishing queued processing and flushing the lake");
    // Kafka first: what it fetched is stored and committed, and queued for the workers.
    let kafka_outcomes = match kafka {
        Some(consumer) => consumer.stop().await,
        None => Outcomes::default(),
    };
    if let Ok(mut queue) = app.queue.write() {
        queue.take();
    }
    while workers.join_next().await.is_some() {}
    let _ = stop_export.send(true);
    match exporter.join() {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::error!(error = %err, "the exporter thread failed"),
        Err(_) => tracing::error!("the exporter thread panicked"),
    }
    if let Some(sweeper) = sweeper {
        sweeper.abort();
    }
    abandoner.abort();
    let flushed = app.local.flush(crate::local::FLUSH_BATCH).await?;
    let mut total = app.outcomes.lock().map(|o| o.clone()).unwrap_or_default();
    total.merge(&processed.lock().map(|o| o.clone()).unwrap_or_default());
    total.merge(&kafka_outcomes);
    eprintln!(
        "imglake serve: stopped. requests {}, received {}, processed {}, rejected {}, failed {}, duplicates {}, abandoned {}, replaced uploads {}, refused replays {}; last flush {} rows in {} files; lake {}",
        total.records_in,
        total.received,
        total.processed,
        total.rejected_total(),
        total.failed_total(),
        total.duplicates,
        total.abandoned,
        total.replaced,
        app.refused_replays
            .load(std::sync::atomic::Ordering::Relaxed),
        flushed.rows,
        flushed.files,
        app.local.lake.display
    );
    Ok(ExitCode::SUCCESS)
}

/// Flushes the change feed into the lake when `max_records` changes wait or the oldest
/// waiting one is `max_age` old, until `stopped` turns true; after a flush, compacts
/// partitions that hold `compact_files` files (crate::upkeep).
async fn tail_feed(
    app: &App,
    max_records: u64,
    max_age: Duration,
    compact_files: usize,
    stopped: &mut tokio::sync::watch::Receiver<bool>,
) {
    let mut waiting_since: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = stopped.changed() => return,
        }
        let pending = match app.local.pending().await {
            Ok(n) => n,
            Err(err) => {
                tracing::error!(error = %err, "cannot read the change feed");
                continue;
            }
        };
        if pending == 0 {
            waiting_since = None;
            continue;
        }
        let since = *waiting_since.get_or_insert_with(Instant::now);
        if pending >= max_records || since.elapsed() >= max_age {
            match app.local.flush(crate::local::FLUSH_BATCH).await {
                Ok(f) => {
                    tracing::info!(rows = f.rows, files = f.files, "lake flushed");
                    waiting_since = None;
                    if let Err(err) =
                        crate::upkeep::compact_crowded(&app.local.lake, compact_files).await
                    {
                        tracing::error!(error = %err, "lake compaction failed; retried after the next flush");
                    }
                }
                Err(err) => tracing::error!(error = %err, "lake flush failed; retried"),
            }
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        tokio::signal::ctrl_c().await.ok();
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// The answer to a body that could not be read: too slow or stalled (408), malformed framing
/// or a client that went away (400).
fn body_error_reply(err: &(dyn std::error::Error + 'static)) -> Response {
    match body_failure(err) {
        BodyFailure::TooSlow(message) => {
            json_error(StatusCode::REQUEST_TIMEOUT, "request_timeout", message)
        }
        BodyFailure::Busy(message) => {
            busy(json_error(StatusCode::SERVICE_UNAVAILABLE, "busy", message))
        }
        BodyFailure::Malformed(message) => {
            json_error(StatusCode::BAD_REQUEST, "malformed_body", message)
        }
        BodyFailure::Incomplete => json_error(
            StatusCode::BAD_REQUEST,
            "incomplete_body",
            "the connection closed before the whole request body arrived",
        ),
        BodyFailure::Other(message) => json_error(
            StatusCode::BAD_REQUEST,
            "unreadable_body",
            format!("the request body could not be read: {message}"),
        ),
    }
}

/// `response` with `Retry-After: 1`.
fn busy(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(1));
    response
}

/// Whether reading a body failed because it was over the route's limit.
fn is_length_limit(err: &axum::Error) -> bool {
    std::error::Error::source(err).is_some_and(|e| e.is::<http_body_util::LengthLimitError>())
}

/// Every upload API route: the request becomes an API Gateway event for the same handler.
async fn api(State(app): State<Arc<App>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let limit = if parts.method == Method::PUT {
        usize::try_from(app.local.pipeline.config.direct_max_bytes).unwrap_or(usize::MAX)
    } else {
        SMALL_BODY
    };
    let too_large = || {
        json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            app.local.pipeline.config.direct_upload_limit(),
        )
    };
    // A declared length over the limit is refused before the body is read: the client is
    // not kept waiting for the body timeout, nor sent `100 Continue`.
    let declared = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large();
    }
    let bytes =
        match tokio::time::timeout(app.body_timeout, axum::body::to_bytes(body, limit)).await {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(err)) if !is_length_limit(&err) => return body_error_reply(&err),
            Ok(Err(_)) => return too_large(),
            Err(_) => {
                return json_error(
                    StatusCode::REQUEST_TIMEOUT,
                    "request_timeout",
                    "the request body did not arrive in time",
                )
            }
        };
    let mut event = ApiGatewayV2httpRequest::default();
    event.request_context.http.method = parts.method.clone();
    event.request_context.http.path = Some(parts.uri.path().to_owned());
    event.request_context.request_id = Some(ulid::Ulid::new().to_string());
    event.raw_path = Some(parts.uri.path().to_owned());
    // API Gateway hands the handler its path parameters decoded: `%30%31…` is the id `01…`.
    if let Some(id) = parts.uri.path().strip_prefix("/images/") {
        let id = id.trim_end_matches('/');
        if let Ok(id) = percent_encoding::percent_decode_str(id).decode_utf8() {
            event
                .path_parameters
                .insert("id".to_owned(), id.into_owned());
        }
    }
    event.raw_query_string = parts.uri.query().map(str::to_owned);
    event.headers = parts.headers.clone();
    if !bytes.is_empty() {
        event.body = Some(base64::engine::general_purpose::STANDARD.encode(&bytes));
        event.is_base64_encoded = true;
    }
    let mut outcomes = Outcomes::default();
    let response = app
        .local
        .pipeline
        .handle_upload(&event, &mut outcomes)
        .await;
    if let Ok(mut total) = app.outcomes.lock() {
        total.merge(&outcomes);
    }
    let body = match response.body {
        Some(LambdaBody::Text(text)) => text.into_bytes(),
        Some(LambdaBody::Binary(b)) => b,
        _ => Vec::new(),
    };
    // A direct upload that was stored: its S3 notification, locally.
    if parts.method == Method::PUT && response.status_code == 202 {
        if let Some(id) = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["image_id"].as_str().map(str::to_owned))
        {
            app.enqueue(id).await;
        }
    }
    let status = u16::try_from(response.status_code)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut out = Response::new(Body::from(body));
    *out.status_mut() = status;
    *out.headers_mut() = response.headers;
    out
}

/// The local stand-in for S3's POST object: a presigned form, checked against its policy.
async fn upload(
    State(app): State<Arc<App>>,
    UrlPath(bucket): UrlPath<String>,
    form: Result<Multipart, MultipartRejection>,
) -> Response {
    let mut form = match form {
        Ok(form) => form,
        Err(rejection) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "MalformedPOSTRequest",
                format!(
                    "the body is not a multipart form: {}",
                    rejection.body_text()
                ),
            )
        }
    };
    let mut fields = BTreeMap::new();
    let mut file: Option<Bytes> = None;
    // S3 ignores the fields after the file; their names make a clearer refusal.
    let mut after_file = Vec::new();
    let read = async {
        while let Some(field) = form.next_field().await? {
            let name = field.name().unwrap_or("").to_owned();
            if file.is_some() {
                after_file.push(name);
                continue;
            }
            if name.eq_ignore_ascii_case("file") {
                file = Some(field.bytes().await?);
                continue;
            }
            fields.insert(
                name.to_ascii_lowercase()
                    .replace("content-type", "Content-Type"),
                field.text().await?,
            );
        }
        Ok::<_, axum::extract::multipart::MultipartError>(())
    };
    match tokio::time::timeout(app.body_timeout, read).await {
        Ok(Ok(())) => {}
        // A body over the route's limit cannot fit any form this server signs: S3 answers
        // such an upload with EntityTooLarge (400), not with a parse error.
        Ok(Err(err)) if err.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "EntityTooLarge",
                format!(
                    "your proposed upload exceeds the maximum allowed size of {} bytes",
                    app.local.pipeline.config.limits.max_bytes
                ),
            )
        }
        Ok(Err(err)) => {
            return match body_failure(&err) {
                BodyFailure::TooSlow(message) => {
                    json_error(StatusCode::REQUEST_TIMEOUT, "RequestTimeout", message)
                }
                BodyFailure::Busy(message) => busy(json_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "SlowDown",
                    message,
                )),
                _ => json_error(
                    StatusCode::BAD_REQUEST,
                    "MalformedPOSTRequest",
                    format!("the body is not a multipart form: {err}"),
                ),
            }
        }
        Err(_) => {
            return json_error(
                StatusCode::REQUEST_TIMEOUT,
                "RequestTimeout",
                "the upload did not arrive in time",
            )
        }
    }
    let Some(file) = file else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "the form has no file field",
        );
    };
    let now = app.local.pipeline.clock.now();
    let key = match verify_post(
        &bucket,
        &fields,
        file.len() as u64,
        &app.local.upload_secret,
        REGION,
        now,
    )
    .map_err(|refused| refused.with_fields_after_file(&after_file))
    {
        Ok(key) => key,
        Err(refused) => {
            let status = StatusCode::from_u16(refused.status).unwrap_or(StatusCode::FORBIDDEN);
            return json_error(status, refused.code, refused.message);
        }
    };
    if bucket != crate::local::RAW_BUCKET {
        return json_error(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            format!("no bucket {bucket}"),
        );
    }
    // An image already abandoned takes no upload: its form may still be valid when
    // --form-expiry was lowered after it was issued (the sweep goes by the current one).
    let image = image_id_of_raw_key(&key).map(str::to_owned);
    if let Some(refused) = refuse_if_abandoned(&app, image.as_deref()).await {
        return refused;
    }
    // A key takes one upload: a form posted again is a retry when it carries the same file
    // (answered as the first time), and refused when it carries another, which would replace
    // an image that may already be processed. The check and the write are one step.
    let raw = &app.local.pipeline.raw;
    let stored = match raw
        .put_new(&key, file.clone(), "application/octet-stream")
        .await
    {
        Ok(stored) => stored,
        Err(err) => {
            tracing::error!(error = %err, "storing an upload failed");
            return json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "SlowDown",
                "storing the upload failed; retry",
            );
        }
    };
    if stored {
        // The sweep may have abandoned the image between the check above and the write:
        // then the bytes go, and the upload is refused like one that came later.
        if let Some(refused) = refuse_if_abandoned(&app, image.as_deref()).await {
            if let Err(err) = raw.delete(&key).await {
                tracing::error!(key, error = %err, "removing an upload to an abandoned image failed");
            }
            return refused;
        }
        // The image is stored now (its item became RECEIVED when the form was issued).
        if let Ok(mut total) = app.outcomes.lock() {
            total.received += 1;
        }
    } else {
        let limit = app.local.pipeline.config.limits.max_bytes;
        let same = matches!(raw.get(&key, limit).await, Ok(first) if first == file);
        if !same {
            app.refused_replays
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(
                key,
                bytes = file.len(),
                "a second upload to a used key was refused"
            );
            let image = image_id_of_raw_key(&key).unwrap_or("?");
            return json_error(
                StatusCode::CONFLICT,
                "KeyAlreadyUploaded",
                format!(
                    "this upload form was already used for image {image}, with another file; \
                     request a new form with POST /images for a new image"
                ),
            );
        }
    }
    if let Some(id) = image_id_of_raw_key(&key) {
        app.enqueue(id.to_owned()).await;
    }
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("/{bucket}/{key}")) {
        headers.insert("location", v);
    }
    (StatusCode::NO_CONTENT, headers).into_response()
}

/// The refusal of an upload to an image that is ABANDONED (its form expired unused).
async fn refuse_if_abandoned(app: &App, image_id: Option<&str>) -> Option<Response> {
    let image_id = image_id?;
    use imglake_pipeline::store::MetadataStore as _;
    let item = match app.local.pipeline.store.get(image_id).await {
        Ok(item) => item?,
        Err(err) => {
            tracing::error!(image_id, error = %err, "reading an upload's item failed");
            return Some(json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "SlowDown",
                "reading the image's record failed; retry",
            ));
        }
    };
    (item.status == imglake_pipeline::model::Status::Abandoned).then(|| {
        json_error(
            StatusCode::FORBIDDEN,
            "UploadAbandoned",
            format!(
                "image {image_id} was abandoned: its upload form expired before an upload \
                 arrived; request a new form with POST /images"
            ),
        )
    })
}

/// A known route asked with another method (`POST /healthz`, `GET /upload/raw`).
async fn method_not_allowed(request: Request) -> Response {
    let allow = if request.uri().path() == "/healthz" {
        "GET, HEAD"
    } else {
        "POST"
    };
    let mut response = json_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} does not take {}: /healthz takes GET, /upload/{{bucket}} takes POST",
            request.uri().path(),
            request.method()
        ),
    );
    response
        .headers_mut()
        .insert(axum::http::header::ALLOW, HeaderValue::from_static(allow));
    response
}

async fn health(State(app): State<Arc<App>>) -> Response {
    let pending = app.local.pending().await.unwrap_or(0);
    let kafka = app.kafka.as_ref().map(|k| k.snapshot());
    // serve itself answers (200), but a partition that fails or stalls makes it "degraded".
    let troubled = kafka.as_ref().is_some_and(|(_, troubled)| *troubled);
    Json(json!({
        "status": if troubled { "degraded" } else { "ok" },
        "queued": app.queue.read().ok().and_then(|q| q.as_ref().map(|s| s.max_capacity() - s.capacity())),
        "pending_changes": pending,
        "lake": app.local.lake.display,
        "kafka": kafka.map(|(json, _)| json),
    }))
    .into_response()
}
