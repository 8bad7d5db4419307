//! Handler tests over the embedded metadata store and in-memory blobs, fed with real-shaped
//! events (pipeline/tests/fixtures/events).

use std::sync::Arc;

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::encodings::Body;
use aws_lambda_events::kafka::KafkaEvent;
use aws_lambda_events::sqs::SqsEvent;
use base64::Engine as _;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};

use super::metrics::Outcomes;
use super::worker::Worked;
use super::*;
use crate::presign::Credentials;
use crate::samples::{jpeg, photo, png_header_only, with_exif, Exif};
use crate::store::EmbeddedStore;

const PUT: &str = include_str!("../../tests/fixtures/events/apigw_put_image.json");
const POST: &str = include_str!("../../tests/fixtures/events/apigw_post_images.json");
const GET: &str = include_str!("../../tests/fixtures/events/apigw_get_image.json");
const SQS: &str = include_str!("../../tests/fixtures/events/sqs_s3_object_created.json");
const S3: &str = include_str!("../../tests/fixtures/events/s3_object_created.json");
const S3_TEST: &str = include_str!("../../tests/fixtures/events/s3_test_event.json");
const MSK: &str = include_str!("../../tests/fixtures/events/msk_batch.json");

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0)
        .single()
        .unwrap()
}

fn pipeline() -> Pipeline<EmbeddedStore> {
    let clock: Arc<dyn Clock> = Arc::new(now);
    let store = EmbeddedStore::open_in_memory("imglake-images", clock.clone()).unwrap();
    let mut p = Pipeline::new(store, BlobStore::in_memory(), BlobStore::in_memory(), clock);
    p.claim_checks
        .insert("producer-bucket".into(), BlobStore::in_memory());
    p
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn put_request(body: &[u8]) -> ApiGatewayV2httpRequest {
    let mut req: ApiGatewayV2httpRequest = serde_json::from_str(PUT).unwrap();
    req.body = Some(b64(body));
    req
}

fn request(method: &str, path: &str) -> ApiGatewayV2httpRequest {
    let mut req: ApiGatewayV2httpRequest = serde_json::from_str(GET).unwrap();
    req.request_context.http.method = method.parse().unwrap();
    req.raw_path = Some(path.to_owned());
    req.path_parameters.clear();
    req
}

fn body_of(resp: &aws_lambda_events::apigw::ApiGatewayV2httpResponse) -> Value {
    match &resp.body {
        Some(Body::Text(text)) => serde_json::from_str(text).unwrap(),
        other => panic!("unexpected body {other:?}"),
    }
}

fn sample_jpeg() -> Vec<u8> {
    with_exif(
        &jpeg(&photo(600, 400, 1), 85),
        &Exif {
            orientation: 6,
            make: Some("Make"),
            model: Some("Model"),
            taken: Some("2026:11:20 09:30:00"),
        },
    )
}

async fn changes(p: &Pipeline<EmbeddedStore>) -> Vec<Value> {
    p.store
        .changes_after(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, text)| serde_json::from_str(&text).unwrap())
        .collect()
}

fn sqs_event(keys: &[&str], receive_count: u32) -> SqsEvent {
    let mut event: SqsEvent = serde_json::from_str(SQS).unwrap();
    let template = event.records[0].clone();
    event.records = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let mut s3: Value = serde_json::from_str(S3).unwrap();
            s3["Records"][0]["s3"]["object"]["key"] = json!(key);
            let mut m = template.clone();
            m.message_id = Some(format!("msg-{i}"));
            m.body = Some(s3.to_string());
            m.attributes
                .insert("ApproximateReceiveCount".into(), receive_count.to_string());
            m
        })
        .collect();
    event
}

#[tokio::test]
async fn put_then_process_then_get_walks_the_whole_lifecycle() {
    let p = pipeline();
    let mut outcomes = Outcomes::default();
    let bytes = sample_jpeg();
    let resp = p.handle_upload(&put_request(&bytes), &mut outcomes).await;
    assert_eq!(resp.status_code, 202, "{:?}", resp.body);
    let body = body_of(&resp);
    let id = body["image_id"].as_str().unwrap().to_owned();
    assert_eq!(body["status"], "RECEIVED");
    assert_eq!(resp.headers["location"], format!("/images/{id}").as_str());

    let item = p.store.get(&id).await.unwrap().unwrap();
    assert_eq!(
        item.tenant.as_deref(),
        Some("acme"),
        "tenant from the JWT claim"
    );
    assert_eq!(item.source_ref.as_deref(), Some("CgZ1qjRxDoEEJ8A="));
    assert_eq!(item.format.as_deref(), Some("jpeg"));
    assert_eq!(item.size_bytes, Some(bytes.len() as i64));
    let raw = p.raw.get(&raw_key(&id), u64::MAX).await.unwrap();
    assert_eq!(raw.as_ref(), bytes.as_slice());

    // The S3 notification, wrapped in SQS, as the process Lambda receives it.
    let response = p
        .handle_sqs(&sqs_event(&[&raw_key(&id)], 1), &mut outcomes)
        .await;
    assert!(response.is_empty());
    let item = p.store.get(&id).await.unwrap().unwrap();
    assert_eq!(item.status, Status::Processed);
    // Orientation 6 turns 600×400 into 400×600.
    assert_eq!((item.width, item.height), (Some(400), Some(600)));
    assert_eq!(item.camera_make.as_deref(), Some("Make"));
    assert_eq!(item.variant_count, Some(2));
    assert!(item.processing_ms.is_some() && item.processed_at.is_some());
    let variants: Vec<Value> =
        serde_json::from_str(item.variants_json.as_deref().unwrap()).unwrap();
    for v in &variants {
        let stored = p
            .processed
            .get(v["key"].as_str().unwrap(), u64::MAX)
            .await
            .unwrap();
        assert_eq!(stored.len() as u64, v["bytes"].as_u64().unwrap());
        let decoded = image::load_from_memory(&stored).unwrap();
        assert_eq!(u64::from(decoded.width()), v["width"].as_u64().unwrap());
    }
    assert_eq!(
        item.processed_bytes,
        Some(variants.iter().map(|v| v["bytes"].as_i64().unwrap()).sum())
    );

    let mut get = request("GET", &format!("/images/{id}"));
    get.path_parameters.insert("id".into(), id.clone());
    let resp = p.handle_upload(&get, &mut outcomes).await;
    assert_eq!(resp.status_code, 200);
    let view = body_of(&resp);
    assert_eq!(view["status"], "PROCESSED");
    assert_eq!(view["variants"].as_array().unwrap().len(), 2);
    assert!(view.get("variants_json").is_none());

    let events: Vec<String> = changes(&p)
        .await
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c["eventName"].as_str().unwrap(),
                c["dynamodb"]["NewImage"]["status"]["S"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        events,
        ["INSERT RECEIVED", "MODIFY PROCESSING", "MODIFY PROCESSED"]
    );
    assert_eq!((outcomes.received, outcomes.processed), (1, 1));
}

#[tokio::test]
async fn refused_uploads_get_their_http_status_and_a_recorded_reason() {
    let p = pipeline();
    let mut outcomes = Outcomes::default();
    let cases: [(&[u8], u16, &str); 3] = [
        (b"%PDF-1.7\n%%EOF\n", 415, "unsupported_type"),
        (b"just some text, not an image", 415, "unknown_type"),
        (
            &png_header_only(60_000, 60_000),
            422,
            "pixel_budget_exceeded",
        ),
    ];
    for (bytes, status, code) in cases {
        let resp = p.handle_upload(&put_request(bytes), &mut outcomes).await;
        assert_eq!(resp.status_code, i64::from(status), "{code}");
        let body = body_of(&resp);
        assert_eq!(body["status"], "REJECTED");
        assert_eq!(body["error"]["code"], code);
        let id = body["image_id"].as_str().unwrap();
        let item = p.store.get(id).await.unwrap().unwrap();
        assert_eq!(item.status, Status::Rejected);
        assert_eq!(item.error_code.as_deref(), Some(code));
        assert!(item.error_message.is_some());
        assert_eq!(item.raw_key, None, "refused bytes are not stored");
        assert_eq!(p.raw.size(&raw_key(id)).await.unwrap(), None);
    }
    assert_eq!(outcomes.rejected_total(), 3);

    // Transport-level refusals: no image, nothing recorded, a clear error.
    let mut empty = put_request(b"");
    empty.body = None;
    let resp = p.handle_upload(&empty, &mut outcomes).await;
    assert_eq!(resp.status_code, 400);
    assert_eq!(body_of(&resp)["error"]["code"], "empty_input");

    let big = vec![0xFFu8; (DEFAULT_DIRECT_MAX_BYTES + 1) as usize];
    let resp = p.handle_upload(&put_request(&big), &mut outcomes).await;
    assert_eq!(resp.status_code, 413);
    let message = body_of(&resp)["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("POST /images"), "{message}");

    let mut not_b64 = put_request(b"");
    not_b64.body = Some("%%%not base64%%%".into());
    let resp = p.handle_upload(&not_b64, &mut outcomes).await;
    assert_eq!(resp.status_code, 400);
    assert_eq!(body_of(&resp)["error"]["code"], "invalid_body");

    let mut bad_tenant = put_request(&sample_jpeg());
    bad_tenant.request_context.authorizer = None;
    bad_tenant
        .headers
        .insert(upload::TENANT_HEADER, "no spaces allowed".parse().unwrap());
    let resp = p.handle_upload(&bad_tenant, &mut outcomes).await;
    assert_eq!(resp.status_code, 400);
    assert_eq!(
        changes(&p).await.len(),
        6,
        "3 refusals × (INSERT + MODIFY), nothing else"
    );
}

#[tokio::test]
async fn routes_methods_and_ids_are_checked() {
    let p = pipeline();
    let mut o = Outcomes::default();
    for (method, path, status) in [
        ("GET", "/images/01JDQ0000000000000000000AB", 404),
        ("GET", "/images/not..valid", 400),
        ("DELETE", "/images", 405),
        ("POST", "/images/01JDQ0000000000000000000AB", 405),
        ("GET", "/elsewhere", 404),
        ("GET", "/", 404),
    ] {
        let resp = p.handle_upload(&request(method, path), &mut o).await;
        assert_eq!(resp.status_code, status, "{method} {path}");
        assert!(body_of(&resp)["error"]["code"].is_string());
        assert_eq!(resp.headers["content-type"], "application/json");
    }
    // A 405 names the methods the route takes.
    let resp = p.handle_upload(&request("DELETE", "/images"), &mut o).await;
    assert_eq!(resp.headers["allow"], "POST, PUT");
    let resp = p
        .handle_upload(
            &request("PUT", "/images/01JDQ0000000000000000000AB"),
            &mut o,
        )
        .await;
    assert_eq!(resp.headers["allow"], "GET, HEAD");
    // HEAD answers as GET does, without a body.
    let resp = p
        .handle_upload(
            &request("HEAD", "/images/01JDQ0000000000000000000AB"),
            &mut o,
        )
        .await;
    assert_eq!(resp.status_code, 404);
    assert!(resp.body.is_none());
    let resp = p
        .handle_upload(&request("HEAD", "/images/not..valid"), &mut o)
        .await;
    assert_eq!(resp.status_code, 400);
    // An unknown route is named as requested.
    let resp = p.handle_upload(&request("GET", "/"), &mut o).await;
    let message = body_of(&resp)["error"]["message"].clone();
    assert!(
        message
            .as_str()
            .is_some_and(|m| m.starts_with("no route GET /:")),
        "{message}"
    );
}

#[tokio::test]
async fn an_idempotency_key_reused_for_another_image_is_refused() {
    let p = pipeline();
    let mut o = Outcomes::default();
    let keyed = |body: &[u8]| {
        let mut req = put_request(body);
        req.headers.insert(
            upload::IDEMPOTENCY_HEADER,
            "order-44/photo-1".parse().unwrap(),
        );
        req
    };
    let first = p.handle_upload(&keyed(&sample_jpeg()), &mut o).await;
    assert_eq!(first.status_code, 202);
    // The same image again: the same answer about the same image.
    let again = p.handle_upload(&keyed(&sample_jpeg()), &mut o).await;
    assert_eq!(again.status_code, 200);
    assert_eq!(body_of(&again)["image_id"], body_of(&first)["image_id"]);
    // Another image under the key is not silently answered with the first one's status.
    let other = p
        .handle_upload(&keyed(b"%PDF-1.7 not the same"), &mut o)
        .await;
    assert_eq!(other.status_code, 422);
    assert_eq!(body_of(&other)["error"]["code"], "idempotency_key_reused");
}

#[tokio::test]
async fn a_retried_refused_put_is_refused_again_not_answered_200() {
    let p = pipeline();
    let mut o = Outcomes::default();
    let mut req = put_request(b"just some text, not an image");
    req.headers.insert(
        upload::IDEMPOTENCY_HEADER,
        "order-43/photo-1".parse().unwrap(),
    );
    let first = p.handle_upload(&req, &mut o).await;
    assert_eq!(first.status_code, 415);
    let again = p.handle_upload(&req, &mut o).await;
    assert_eq!(again.status_code, 415);
    assert_eq!(body_of(&again)["status"], "REJECTED");
    assert_eq!(
        body_of(&again)["error"]["code"],
        body_of(&first)["error"]["code"]
    );
    assert_eq!(o.duplicates, 1);
}

#[tokio::test]
async fn idempotency_key_makes_a_retried_put_land_on_the_same_image() {
    let p = pipeline();
    let mut o = Outcomes::default();
    let mut req = put_request(&sample_jpeg());
    req.headers.insert(
        upload::IDEMPOTENCY_HEADER,
        "order-42/photo-1".parse().unwrap(),
    );
    let first = body_of(&p.handle_upload(&req, &mut o).await);
    let resp = p.handle_upload(&req, &mut o).await;
    assert_eq!(resp.status_code, 200);
    assert_eq!(body_of(&resp)["image_id"], first["image_id"]);
    assert_eq!(changes(&p).await.len(), 1);
    assert_eq!(o.duplicates, 1);
}

#[tokio::test]
async fn post_returns_a_size_bounded_presigned_form_and_records_the_image() {
    let mut p = pipeline();
    let resp = p
        .handle_upload(
            &serde_json::from_str(POST).unwrap(),
            &mut Outcomes::default(),
        )
        .await;
    assert_eq!(resp.status_code, 501, "no presign configuration");

    p.config.presign = Some(PresignConfig {
        bucket: "imglake-prod-raw".into(),
        region: "eu-west-1".into(),
        credentials: Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        endpoint: None,
        expires_in: Duration::from_secs(900),
        server_side_encryption: Some(ServerSideEncryption::Kms {
            key_id: Some("arn:aws:kms:eu-west-1:123456789012:key/abcd".into()),
        }),
    });
    let resp = p
        .handle_upload(
            &serde_json::from_str(POST).unwrap(),
            &mut Outcomes::default(),
        )
        .await;
    assert_eq!(resp.status_code, 201);
    let body = body_of(&resp);
    let id = body["image_id"].as_str().unwrap();
    let fields = &body["upload"]["fields"];
    assert_eq!(fields["key"], raw_key(id));
    assert_eq!(fields["x-amz-server-side-encryption"], "aws:kms");
    assert_eq!(
        body["upload"]["url"],
        "https://imglake-prod-raw.s3.eu-west-1.amazonaws.com/"
    );
    let policy = base64::engine::general_purpose::STANDARD
        .decode(fields["policy"].as_str().unwrap())
        .unwrap();
    let policy: Value = serde_json::from_slice(&policy).unwrap();
    assert!(
        policy["conditions"].as_array().unwrap().contains(&json!([
            "content-length-range",
            1,
            10 * 1024 * 1024
        ])),
        "{policy}"
    );
    let item = p.store.get(id).await.unwrap().unwrap();
    assert_eq!(item.status, Status::Received);
    assert_eq!(item.raw_key, Some(raw_key(id)));
}

#[tokio::test]
async fn duplicate_and_racing_process_events_leave_one_consistent_item() {
    let p = pipeline();
    let mut o = Outcomes::default();
    let body = body_of(&p.handle_upload(&put_request(&sample_jpeg()), &mut o).await);
    let key = raw_key(body["image_id"].as_str().unwrap());
    // Two workers race on the same object, then the event is delivered twice more.
    let (a, b) = tokio::join!(p.process_object(&key, 1), p.process_object(&key, 1));
    let results = [a.unwrap(), b.unwrap()];
    let processed = results
        .iter()
        .filter(|r| matches!(r, Worked::Processed(_)))
        .count();
    assert_eq!(processed, 1, "{results:?}");
    let after_race = changes(&p).await.len();
    let resp = p.handle_sqs(&sqs_event(&[&key, &key], 2), &mut o).await;
    assert!(resp.is_empty());
    assert_eq!(o.duplicates, 2);
    let history: Vec<Value> = changes(&p).await;
    assert_eq!(history.len(), after_race, "duplicates write nothing");
    assert_eq!(
        history.len(),
        3,
        "INSERT, PROCESSING, PROCESSED: {history:#?}"
    );
}

#[tokio::test]
async fn a_raw_object_replaced_after_processing_is_recorded_counted_and_not_reprocessed() {
    let p = pipeline();
    let mut o = Outcomes::default();
    let body = body_of(&p.handle_upload(&put_request(&sample_jpeg()), &mut o).await);
    let key = raw_key(body["image_id"].as_str().unwrap());
    let first = p.process_object(&key, 1).await.unwrap();
    let Worked::Processed(processed) = first else {
        panic!("{first:?}")
    };
    // The same event again: a plain duplicate.
    let again = p.process_object(&key, 2).await.unwrap();
    assert!(matches!(again, Worked::Duplicate(_)), "{again:?}");
    // A presigned form posted again with other bytes replaces the object under the key (a
    // store without versions: the later upload stays, and the item says so).
    p.raw
        .put(&key, Bytes::from_static(b"other content"), "image/jpeg")
        .await
        .unwrap();
    let replaced = p.process_object(&key, 1).await.unwrap();
    let Worked::Replaced(item) = &replaced else {
        panic!("{replaced:?}")
    };
    assert_eq!(item.status, Status::Processed, "the status stays");
    assert_eq!(
        item.sha256, processed.sha256,
        "it describes the first upload"
    );
    assert_eq!(item.variants_json, processed.variants_json);
    assert_eq!(item.error_code.as_deref(), Some("upload_replaced"));
    let message = item.error_message.clone().unwrap_or_default();
    assert!(
        message.contains("13 bytes") && message.contains("left in place"),
        "{message}"
    );
    assert_eq!(
        p.store.get(&item.image_id).await.unwrap().as_ref(),
        Some(item)
    );
    let mut counted = Outcomes::default();
    replaced.count(&mut counted);
    assert_eq!((counted.duplicates, counted.replaced), (0, 1));
    // Delivered again: the record is not written twice.
    let before = changes(&p).await.len();
    let again = p.process_object(&key, 1).await.unwrap();
    assert!(matches!(again, Worked::Replaced(_)), "{again:?}");
    assert_eq!(
        changes(&p).await.len(),
        before,
        "the same note again writes nothing"
    );
}

/// The embedded store, except that the first PROCESSING → PROCESSED write finds another
/// worker's result already there: `competing` (the same image processed from other bytes).
struct LosesTheRace {
    inner: EmbeddedStore,
    competing: std::sync::Mutex<Option<crate::model::ImageItem>>,
}

impl crate::store::MetadataStore for LosesTheRace {
    async fn put_new(&self, item: &crate::model::ImageItem) -> Result<(), StoreError> {
        self.inner.put_new(item).await
    }
    async fn get(&self, image_id: &str) -> Result<Option<crate::model::ImageItem>, StoreError> {
        self.inner.get(image_id).await
    }
    async fn transition(
        &self,
        image_id: &str,
        from: Status,
        update: &crate::model::ImageItem,
    ) -> Result<crate::store::Transition, StoreError> {
        let competing = if update.status == Status::Processed {
            self.competing.lock().unwrap().take()
        } else {
            None
        };
        if let Some(other) = competing {
            self.inner.transition(image_id, from, &other).await?;
        }
        self.inner.transition(image_id, from, update).await
    }
    async fn amend(
        &self,
        image_id: &str,
        status: Status,
        update: &crate::model::ImageItem,
    ) -> Result<crate::store::Transition, StoreError> {
        self.inner.amend(image_id, status, update).await
    }
    async fn awaiting_upload(
        &self,
        cutoff_ms: i64,
        limit: usize,
    ) -> Result<Vec<crate::model::ImageItem>, StoreError> {
        self.inner.awaiting_upload(cutoff_ms, limit).await
    }
}

#[tokio::test]
async fn a_worker_that_loses_the_race_to_another_upload_removes_its_variants_and_sets_its_upload_aside(
) {
    let clock: Arc<dyn Clock> = Arc::new(now);
    // The other worker's result: the same image, processed from the first upload.
    let helper = pipeline();
    let first_upload = sample_jpeg();
    let helper_id = stored_upload(&helper, first_upload.clone()).await;
    let Worked::Processed(mut winner) = helper
        .process_object(&raw_key(&helper_id), 1)
        .await
        .unwrap()
    else {
        panic!("helper did not process")
    };
    let store = LosesTheRace {
        inner: EmbeddedStore::open_in_memory("imglake-images", clock.clone()).unwrap(),
        competing: std::sync::Mutex::new(None),
    };
    let p = Pipeline::new(store, BlobStore::in_memory(), BlobStore::in_memory(), clock);
    // This worker reads a later upload to the same key: another photo.
    let later = jpeg(&photo(300, 200, 9), 80);
    let image_id = stored_upload(&p, later.clone()).await;
    winner.image_id = image_id.clone();
    let listed: Vec<String> = winner
        .variants()
        .into_iter()
        .map(|v| v.key.replace(&helper_id, &image_id))
        .collect();
    winner.variants_json = Some(
        serde_json::to_string(
            &winner
                .variants()
                .into_iter()
                .zip(&listed)
                .map(|(mut v, k)| {
                    v.key = k.clone();
                    v
                })
                .collect::<Vec<_>>(),
        )
        .unwrap(),
    );
    winner.raw_key = Some(raw_key(&image_id));
    *p.store.competing.lock().unwrap() = Some(winner.clone());
    let worked = p.process_object(&raw_key(&image_id), 1).await.unwrap();
    let Worked::Replaced(item) = &worked else {
        panic!("{worked:?}")
    };
    assert_eq!(
        item.sha256, winner.sha256,
        "the winner's upload is the image"
    );
    assert_eq!(item.error_code.as_deref(), Some("upload_replaced"));
    assert!(item
        .error_message
        .as_deref()
        .unwrap_or("")
        .contains(&crate::process::sha256_hex(&later)));
    // The loser's variants, under its own content's keys, are gone: nothing under the image
    // but what the item lists (the winner's, written by the other worker).
    for v in ["thumb", "display"] {
        let mine = variant_key(&image_id, &crate::process::sha256_hex(&later), v, "jpg");
        assert!(
            matches!(p.processed.size(&mine).await, Ok(None)),
            "{mine} was left behind"
        );
    }
    assert!(!listed
        .iter()
        .any(|k| k.contains(&crate::process::sha256_hex(&later)[..16])));
}

#[tokio::test]
async fn a_refusal_interrupted_between_its_writes_is_finished_by_the_redelivery() {
    let p = pipeline();
    let image_id = crate::model::new_image_id(now());
    let arrival = Arrival {
        image_id: image_id.clone(),
        source: Source::Kafka,
        source_ref: "images/0/7".into(),
        tenant: "t".into(),
    };
    // The first delivery wrote RECEIVED and stopped before REJECTED (throttled, timed out).
    p.store.put_new(&p.received_item(&arrival)).await.unwrap();
    let redelivered = p
        .ingest(
            arrival.clone(),
            Bytes::from_static(b"GIF87a but not really"),
        )
        .await
        .unwrap();
    let Ingested::Rejected(item) = redelivered else {
        panic!("{redelivered:?}")
    };
    assert_eq!(item.status, Status::Rejected);
    let stored = p.store.get(&image_id).await.unwrap().unwrap();
    assert_eq!(stored.status, Status::Rejected);
    assert!(stored.error_code.is_some() && stored.error_message.is_some());
    // A further delivery is the duplicate it now is.
    let again = p
        .ingest(arrival, Bytes::from_static(b"GIF87a but not really"))
        .await
        .unwrap();
    assert!(matches!(again, Ingested::Duplicate(_)), "{again:?}");
}

#[tokio::test]
async fn a_second_arrival_under_one_image_id_never_replaces_the_first_ones_raw_bytes() {
    let p = pipeline();
    let first = jpeg(&photo(64, 48, 1), 85);
    let second = jpeg(&photo(64, 48, 2), 85);
    assert_ne!(first, second);
    let arrival = |source_ref: &str| Arrival {
        image_id: "same-id".into(),
        source: Source::Kafka,
        source_ref: source_ref.into(),
        tenant: "t".into(),
    };
    // The first arrival (on another partition) has written its raw object and not yet its
    // item when the second one, with the same image-id header, is handled.
    let key = raw_key("same-id");
    p.raw
        .put(&key, Bytes::from(first.clone()), "image/jpeg")
        .await
        .unwrap();
    let got = p
        .ingest(arrival("images/1/0"), Bytes::from(second.clone()))
        .await
        .unwrap();
    let Ingested::Rejected(item) = &got else {
        panic!("{got:?}")
    };
    assert_eq!(item.error_code.as_deref(), Some("image_id_conflict"));
    assert!(
        item.error_message
            .as_deref()
            .unwrap_or("")
            .contains("same-id"),
        "{item:?}"
    );
    assert_eq!(p.raw.get(&key, 1 << 20).await.unwrap(), &first[..]);

    // The same bytes again (an interrupted attempt of the same record) are the image.
    let p = pipeline();
    p.raw
        .put(&key, Bytes::from(first.clone()), "image/jpeg")
        .await
        .unwrap();
    let got = p
        .ingest(arrival("images/0/0"), Bytes::from(first.clone()))
        .await
        .unwrap();
    let Ingested::Received(item) = &got else {
        panic!("{got:?}")
    };
    assert_eq!(
        item.sha256.as_deref(),
        Some(crate::process::sha256_hex(&first).as_str())
    );
    assert_eq!(p.raw.get(&key, 1 << 20).await.unwrap(), &first[..]);
}

/// A RECEIVED item whose raw object holds `bytes`, as a presigned upload leaves it; its id.
async fn stored_upload<M: crate::store::MetadataStore>(p: &Pipeline<M>, bytes: Vec<u8>) -> String {
    let image_id = crate::model::new_image_id(now());
    let arrival = Arrival {
        image_id: image_id.clone(),
        source: Source::Api,
        source_ref: "req".into(),
        tenant: "t".into(),
    };
    let mut item = p.received_item(&arrival);
    item.raw_key = Some(raw_key(&image_id));
    p.store.put_new(&item).await.unwrap();
    p.raw
        .put(&raw_key(&image_id), Bytes::from(bytes), "image/jpeg")
        .await
        .unwrap();
    image_id
}

/// The embedded store, except that its first `n` writes of a PROCESSED status fail as a
/// throttled DynamoDB would.
struct FailingProcessedWrites {
    inner: EmbeddedStore,
    failures_left: std::sync::atomic::AtomicU32,
}

impl crate::store::MetadataStore for FailingProcessedWrites {
    async fn put_new(&self, item: &crate::model::ImageItem) -> Result<(), StoreError> {
        self.inner.put_new(item).await
    }
    async fn get(&self, image_id: &str) -> Result<Option<crate::model::ImageItem>, StoreError> {
        self.inner.get(image_id).await
    }
    async fn transition(
        &self,
        image_id: &str,
        from: Status,
        update: &crate::model::ImageItem,
    ) -> Result<crate::store::Transition, StoreError> {
        use std::sync::atomic::Ordering;
        if update.status == Status::Processed
            && self
                .failures_left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            return Err(StoreError::Backend {
                operation: "transition",
                source: "ProvisionedThroughputExceededException".into(),
            });
        }
        self.inner.transition(image_id, from, update).await
    }
    async fn amend(
        &self,
        image_id: &str,
        status: Status,
        update: &crate::model::ImageItem,
    ) -> Result<crate::store::Transition, StoreError> {
        self.inner.amend(image_id, status, update).await
    }
    async fn awaiting_upload(
        &self,
        cutoff_ms: i64,
        limit: usize,
    ) -> Result<Vec<crate::model::ImageItem>, StoreError> {
        self.inner.awaiting_upload(cutoff_ms, limit).await
    }
}

#[tokio::test]
async fn a_result_that_cannot_be_recorded_on_the_last_delivery_is_failed_not_left_processing() {
    let clock: Arc<dyn Clock> = Arc::new(now);
    let store = FailingProcessedWrites {
        inner: EmbeddedStore::open_in_memory("imglake-images", clock.clone()).unwrap(),
        failures_left: std::sync::atomic::AtomicU32::new(2),
    };
    let p = Pipeline::new(store, BlobStore::in_memory(), BlobStore::in_memory(), clock);
    let image_id = stored_upload(&p, sample_jpeg()).await;
    // An earlier delivery: the error goes back for a retry, the item stays PROCESSING.
    assert!(p.process_object(&raw_key(&image_id), 1).await.is_err());
    let stored = p.store.get(&image_id).await.unwrap().unwrap();
    assert_eq!(stored.status, Status::Processing);
    // The last delivery: FAILED with the reason.
    let last = p.config.max_attempts;
    let worked = p.process_object(&raw_key(&image_id), last).await.unwrap();
    let Worked::Failed(item) = worked else {
        panic!("{worked:?}")
    };
    assert_eq!(item.error_code.as_deref(), Some("store_error"));
    assert!(item
        .error_message
        .as_deref()
        .is_some_and(|m| m.contains("recording the result failed")));
    let stored = p.store.get(&image_id).await.unwrap().unwrap();
    assert_eq!(stored.status, Status::Failed);
}

#[tokio::test]
async fn bad_bytes_found_at_processing_are_rejected_and_unknown_keys_ignored() {
    let p = pipeline();
    let mut o = Outcomes::default();
    // A presigned upload delivers bytes nobody validated yet: a truncated JPEG.
    let full = sample_jpeg();
    let image_id = stored_upload(&p, full[..full.len() / 2].to_vec()).await;
    let worked = p.process_object(&raw_key(&image_id), 1).await.unwrap();
    let Worked::Rejected(item) = worked else {
        panic!("{worked:?}")
    };
    assert_eq!(item.error_code.as_deref(), Some("truncated"));
    assert!(item.sha256.is_some() && item.size_bytes.is_some());

    let resp = p
        .handle_sqs(&sqs_event(&["uploads/foreign.jpg"], 1), &mut o)
        .await;
    assert!(resp.is_empty());
    let mut test_event: SqsEvent = serde_json::from_str(SQS).unwrap();
    test_event.records[0].body = Some(S3_TEST.to_owned());
    let resp = p.handle_sqs(&test_event, &mut o).await;
    assert!(resp.is_empty());
    assert_eq!(o.ignored, 2);
}

#[tokio::test]
async fn an_object_whose_item_is_not_written_yet_is_retried_then_given_up() {
    let p = pipeline();
    let mut o = Outcomes::default();
    let key = raw_key("01JDQ0000000000000000000AB");
    p.raw
        .put(&key, Bytes::from(sample_jpeg()), "image/jpeg")
        .await
        .unwrap();
    let resp = p.handle_sqs(&sqs_event(&[&key], 1), &mut o).await;
    assert_eq!(resp.len(), 1);
    assert_eq!(resp[0], "msg-0");
    assert_eq!(o.retries, 1);
    let last = p.config.max_attempts;
    let resp = p.handle_sqs(&sqs_event(&[&key], last), &mut o).await;
    assert!(resp.is_empty(), "last attempt gives up");
    assert_eq!(o.ignored, 1);
}

fn msk_event(records: Vec<Value>) -> KafkaEvent {
    let mut event: Value = serde_json::from_str(MSK).unwrap();
    let template = event["records"]["images-0"][0].clone();
    let list: Vec<Value> = records
        .into_iter()
        .enumerate()
        .map(|(i, patch)| {
            let mut r = template.clone();
            r["offset"] = json!(15 + i);
            for (k, v) in patch.as_object().unwrap() {
                r[k] = v.clone();
            }
            r
        })
        .collect();
    event["records"]["images-0"] = json!(list);
    serde_json::from_value(event).unwrap()
}

#[tokio::test]
async fn a_claim_check_may_not_name_a_stored_image_of_the_raw_bucket() {
    let clock: Arc<dyn Clock> = Arc::new(now);
    let store = EmbeddedStore::open_in_memory("imglake-images", clock.clone()).unwrap();
    let raw = BlobStore::in_memory_bucket("imglake-raw");
    let p = Pipeline::new(store, raw, BlobStore::in_memory(), clock);
    // Another tenant's stored image, and an object a producer put there to be claimed.
    let stored = raw_key("01JDQ0000000000000000000AB");
    for key in [stored.as_str(), "claims/big.jpg"] {
        p.raw
            .put(key, Bytes::from(sample_jpeg()), "image/jpeg")
            .await
            .unwrap();
    }
    let claim = |key: &str| {
        b64(json!({"bucket": "imglake-raw", "key": key})
            .to_string()
            .as_bytes())
    };
    let event = msk_event(vec![
        json!({"value": claim(&stored)}),
        json!({"value": claim("claims/big.jpg")}),
    ]);
    let report = p.handle_kafka(&event, &mut Outcomes::default()).await;
    let outcomes: Vec<(&str, Option<&str>)> = report
        .records
        .iter()
        .map(|r| (r.outcome, r.error.as_deref()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("REJECTED", Some("claim_check_key_not_allowed")),
            ("RECEIVED", None)
        ]
    );
}

#[tokio::test]
async fn kafka_batches_record_every_record_and_redelivery_changes_nothing() {
    let p = pipeline();
    let claimed = jpeg(&photo(300, 200, 3), 80);
    p.claim_checks["producer-bucket"]
        .put("big/photo.jpg", Bytes::from(claimed.clone()), "image/jpeg")
        .await
        .unwrap();
    let claim =
        |bucket: &str, key: &str| b64(json!({"bucket": bucket, "key": key}).to_string().as_bytes());
    let event = msk_event(vec![
        json!({"value": b64(&sample_jpeg())}),
        json!({"value": claim("producer-bucket", "big/photo.jpg")}),
        json!({"value": "@@not base64@@"}),
        json!({"value": null}),
        json!({"value": claim("producer-bucket", "missing.jpg")}),
        json!({"value": claim("someone-elses-bucket", "x.jpg")}),
        json!({"value": b64(b"{\"bucket\": 1}")}),
        json!({"value": b64(b"GIF89a")}),
        json!({"value": b64(&sample_jpeg()), "headers": [{"image-id": b"producer-id-7".iter().map(|&b| b as i8).collect::<Vec<i8>>()}]}),
        json!({"value": b64(&sample_jpeg()), "headers": [{"tenant": [-1i8]}]}),
    ]);
    let mut o = Outcomes::default();
    let report = p.handle_kafka(&event, &mut o).await;
    let outcomes: Vec<(&str, Option<&str>)> = report
        .records
        .iter()
        .map(|r| (r.outcome, r.error.as_deref()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("RECEIVED", None),
            ("RECEIVED", None),
            ("REJECTED", Some("invalid_record")),
            ("REJECTED", Some("empty_input")),
            ("REJECTED", Some("claim_check_missing")),
            ("REJECTED", Some("claim_check_bucket_not_allowed")),
            ("REJECTED", Some("invalid_claim_check")),
            ("REJECTED", Some("corrupt_header")),
            ("RECEIVED", None),
            // A tenant header that is not text is refused, not read as no tenant.
            ("REJECTED", Some("invalid_record")),
        ]
    );
    assert_eq!(report.retries().count(), 0);
    assert_eq!(report.records[8].image_id, "producer-id-7");
    let first = &report.records[0];
    assert_eq!(
        first.image_id,
        kafka::derived_image_id("images", 0, 15, 1_795_600_804_000)
    );
    let item = p.store.get(&first.image_id).await.unwrap().unwrap();
    assert_eq!(item.source, Some(Source::Kafka));
    assert_eq!(item.source_ref.as_deref(), Some("images/0/15"));
    assert_eq!(item.tenant.as_deref(), Some("acme"));
    let claimed_item = p
        .store
        .get(&report.records[1].image_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed_item.size_bytes, Some(claimed.len() as i64));
    assert!(p
        .raw
        .size(&raw_key(&claimed_item.image_id))
        .await
        .unwrap()
        .is_some());

    let before = changes(&p).await.len();
    let mut again = Outcomes::default();
    let report = p.handle_kafka(&event, &mut again).await;
    assert!(report.records.iter().all(|r| r.outcome == "DUPLICATE"));
    assert_eq!(
        changes(&p).await.len(),
        before,
        "a redelivery writes nothing"
    );
    assert_eq!(again.duplicates, 10);
}

#[tokio::test]
async fn a_kafka_record_with_a_repeated_tenant_or_id_header_is_refused_whichever_comes_first() {
    let p = pipeline();
    let bytes = |s: &str| s.bytes().map(|b| b as i8).collect::<Vec<i8>>();
    let event = msk_event(vec![
        json!({"value": b64(&sample_jpeg()), "headers": [{"tenant": bytes("acme")}, {"tenant": bytes("globex")}]}),
        json!({"value": b64(&sample_jpeg()), "headers": [{"tenant": bytes("globex")}, {"Tenant": bytes("acme")}]}),
        json!({"value": b64(&sample_jpeg()), "headers": [{"image-id": bytes("a1")}, {"image-id": bytes("b2")}]}),
        json!({"value": b64(&sample_jpeg()), "headers": [{"tenant": bytes("acme")}]}),
    ]);
    let mut o = Outcomes::default();
    let report = p.handle_kafka(&event, &mut o).await;
    let outcomes: Vec<(&str, Option<&str>)> = report
        .records
        .iter()
        .map(|r| (r.outcome, r.error.as_deref()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("REJECTED", Some("repeated_header")),
            ("REJECTED", Some("repeated_header")),
            ("REJECTED", Some("repeated_header")),
            ("RECEIVED", None),
        ]
    );
    // Refused under the derived id, with the reason; neither header's value was used.
    let third = &report.records[2];
    assert_eq!(
        third.image_id,
        kafka::derived_image_id("images", 0, 17, 1_795_600_804_000)
    );
    let item = p.store.get(&third.image_id).await.unwrap().unwrap();
    assert!(
        item.error_message
            .as_deref()
            .unwrap_or("")
            .contains("image-id"),
        "{item:?}"
    );
    let first = p
        .store
        .get(&report.records[0].image_id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        first
            .error_message
            .as_deref()
            .unwrap_or("")
            .contains("tenant"),
        "{first:?}"
    );
}

#[test]
fn s3_keys_are_url_decoded_and_only_raw_keys_map_to_images() {
    assert_eq!(worker::decode_s3_key("images/a+b%2Bc"), "images/a b+c");
    assert_eq!(image_id_of_raw_key("images/01ABC"), Some("01ABC"));
    assert_eq!(image_id_of_raw_key("images/a/b"), None);
    assert_eq!(image_id_of_raw_key("other/01ABC"), None);
    assert_eq!(
        variant_key("01ABC", &"ab".repeat(32), "thumb", "jpg"),
        "01ABC/abababababababab/thumb.jpg"
    );
}

#[tokio::test]
async fn a_tenant_header_that_is_not_ascii_or_is_repeated_is_refused_not_read_as_default() {
    let p = pipeline();
    let mut o = Outcomes::default();
    let mut non_ascii = put_request(&sample_jpeg());
    non_ascii.request_context.authorizer = None;
    non_ascii.headers.insert(
        upload::TENANT_HEADER,
        http::HeaderValue::from_bytes("acmé".as_bytes()).unwrap(),
    );
    let resp = p.handle_upload(&non_ascii, &mut o).await;
    assert_eq!(resp.status_code, 400, "{:?}", resp.body);
    assert_eq!(body_of(&resp)["error"]["code"], "invalid_tenant");

    let mut twice = put_request(&sample_jpeg());
    twice.request_context.authorizer = None;
    twice
        .headers
        .append(upload::TENANT_HEADER, "acme".parse().unwrap());
    twice
        .headers
        .append(upload::TENANT_HEADER, "globex".parse().unwrap());
    let resp = p.handle_upload(&twice, &mut o).await;
    assert_eq!(resp.status_code, 400, "{:?}", resp.body);
    assert_eq!(body_of(&resp)["error"]["code"], "repeated_header");
    let message = body_of(&resp)["error"]["message"].clone();
    assert!(
        message.to_string().contains("X-Imglake-Tenant"),
        "{message}"
    );

    // Neither wrote anything: no image was filed under `default`.
    assert!(changes(&p).await.is_empty());
    // The same refusals for POST /images, which records the image before any upload.
    let mut post: ApiGatewayV2httpRequest = serde_json::from_str(POST).unwrap();
    post.request_context.authorizer = None;
    post.headers.insert(
        upload::TENANT_HEADER,
        http::HeaderValue::from_bytes(b"\xffbad").unwrap(),
    );
    let resp = p.handle_upload(&post, &mut o).await;
    assert_eq!(resp.status_code, 400, "{:?}", resp.body);
    assert_eq!(body_of(&resp)["error"]["code"], "invalid_tenant");
}

#[tokio::test]
async fn an_idempotency_key_must_be_visible_ascii_and_single() {
    let p = pipeline();
    let mut o = Outcomes::default();
    for key in ["a b", "tab\there", "x".repeat(257).as_str(), ""] {
        let mut req = put_request(&sample_jpeg());
        req.headers
            .insert(upload::IDEMPOTENCY_HEADER, key.parse().unwrap());
        let resp = p.handle_upload(&req, &mut o).await;
        assert_eq!(resp.status_code, 400, "{key:?}: {:?}", resp.body);
        assert_eq!(
            body_of(&resp)["error"]["code"],
            "invalid_idempotency_key",
            "{key:?}"
        );
    }
    let mut twice = put_request(&sample_jpeg());
    twice
        .headers
        .append(upload::IDEMPOTENCY_HEADER, "k1".parse().unwrap());
    twice
        .headers
        .append(upload::IDEMPOTENCY_HEADER, "k2".parse().unwrap());
    let resp = p.handle_upload(&twice, &mut o).await;
    assert_eq!(resp.status_code, 400);
    assert_eq!(body_of(&resp)["error"]["code"], "repeated_header");
    assert!(changes(&p).await.is_empty());
    // The widest legal key is taken.
    let mut ok = put_request(&sample_jpeg());
    let widest: String = (b'!'..=b'~').map(char::from).collect();
    ok.headers
        .insert(upload::IDEMPOTENCY_HEADER, widest.parse().unwrap());
    assert_eq!(p.handle_upload(&ok, &mut o).await.status_code, 202);
}

/// A pipeline whose clock reads `clock` (milliseconds), with local presigning.
fn pipeline_at(clock: Arc<std::sync::atomic::AtomicI64>) -> Pipeline<EmbeddedStore> {
    let clock: Arc<dyn Clock> = Arc::new(move || {
        Utc.timestamp_millis_opt(clock.load(std::sync::atomic::Ordering::SeqCst))
            .single()
            .unwrap_or_else(now)
    });
    let store = EmbeddedStore::open_in_memory("imglake-images", clock.clone()).unwrap();
    let mut p = Pipeline::new(store, BlobStore::in_memory(), BlobStore::in_memory(), clock);
    p.config.presign = Some(PresignConfig {
        bucket: "raw".into(),
        region: "us-east-1".into(),
        credentials: Credentials::new("local", "secret"),
        endpoint: Some("http://127.0.0.1:1/upload".into()),
        expires_in: Duration::from_secs(900),
        server_side_encryption: None,
    });
    p
}

#[tokio::test]
async fn a_backlog_of_uploads_awaiting_processing_does_not_starve_the_abandon_sweep() {
    use std::sync::atomic::{AtomicI64, Ordering};
    let start = now().timestamp_millis();
    let clock = Arc::new(AtomicI64::new(start));
    let p = pipeline_at(clock.clone());
    let mut o = Outcomes::default();
    let post = || serde_json::from_str::<ApiGatewayV2httpRequest>(POST).unwrap();
    let form = |resp: &aws_lambda_events::apigw::ApiGatewayV2httpResponse| {
        body_of(resp)["image_id"].as_str().unwrap().to_owned()
    };
    // Five forms used (stored, not processed yet), then one left unused: it sorts after them.
    for _ in 0..5 {
        let used = form(&p.handle_upload(&post(), &mut o).await);
        p.raw
            .put(&raw_key(&used), Bytes::from(sample_jpeg()), "image/jpeg")
            .await
            .unwrap();
    }
    clock.store(start + 1000, Ordering::SeqCst);
    let unused = form(&p.handle_upload(&post(), &mut o).await);
    clock.store(start + 2000 * 1000, Ordering::SeqCst);
    // A sweep moving at most 2 looks past the 5 uploads to the unused form.
    let mut swept = Outcomes::default();
    let moved = p
        .abandon_expired_uploads(
            Duration::from_secs(900),
            Duration::from_secs(60),
            2,
            &mut swept,
        )
        .await
        .unwrap();
    assert_eq!(moved, 1);
    assert_eq!(
        p.store.get(&unused).await.unwrap().unwrap().status,
        Status::Abandoned
    );
}

#[tokio::test]
async fn forms_that_expire_unused_become_abandoned_and_used_ones_do_not() {
    use std::sync::atomic::{AtomicI64, Ordering};
    let clock = Arc::new(AtomicI64::new(now().timestamp_millis()));
    let p = pipeline_at(clock.clone());
    let mut o = Outcomes::default();
    let post = || serde_json::from_str::<ApiGatewayV2httpRequest>(POST).unwrap();
    let form = |resp: &aws_lambda_events::apigw::ApiGatewayV2httpResponse| {
        body_of(resp)["image_id"].as_str().unwrap().to_owned()
    };
    let unused = form(&p.handle_upload(&post(), &mut o).await);
    let used = form(&p.handle_upload(&post(), &mut o).await);
    // The used form's upload arrived (stored); its processing has not run yet.
    p.raw
        .put(&raw_key(&used), Bytes::from(sample_jpeg()), "image/jpeg")
        .await
        .unwrap();
    // A direct upload is RECEIVED too, but has its bytes: never abandoned.
    let direct = form(&p.handle_upload(&put_request(&sample_jpeg()), &mut o).await);

    let (lifetime, grace) = (Duration::from_secs(900), Duration::from_secs(60));
    let mut swept = Outcomes::default();
    // Before the form expired, and within the grace after: nothing moves.
    for at in [899, 959] {
        clock.store(now().timestamp_millis() + at * 1000, Ordering::SeqCst);
        let moved = p
            .abandon_expired_uploads(lifetime, grace, 100, &mut swept)
            .await
            .unwrap();
        assert_eq!(moved, 0, "{at}s after the form was issued");
    }
    clock.store(now().timestamp_millis() + 961 * 1000, Ordering::SeqCst);
    let moved = p
        .abandon_expired_uploads(lifetime, grace, 100, &mut swept)
        .await
        .unwrap();
    assert_eq!(moved, 1);
    assert_eq!(swept.abandoned, 1);
    let item = p.store.get(&unused).await.unwrap().unwrap();
    assert_eq!(item.status, Status::Abandoned);
    assert_eq!(item.error_code.as_deref(), Some("upload_expired"));
    assert!(
        item.error_message
            .as_deref()
            .unwrap_or("")
            .contains("expired at 2026-11-25T10:15:00Z"),
        "{item:?}"
    );
    assert_eq!(
        p.store.get(&used).await.unwrap().unwrap().status,
        Status::Received
    );
    assert_eq!(
        p.store.get(&direct).await.unwrap().unwrap().status,
        Status::Received
    );
    // Again: nothing left to move; the feed has one MODIFY for the abandoned image.
    let moved = p
        .abandon_expired_uploads(lifetime, grace, 100, &mut swept)
        .await
        .unwrap();
    assert_eq!(moved, 0);
    let modifies: Vec<Value> = changes(&p)
        .await
        .into_iter()
        .filter(|c| c["eventName"] == "MODIFY")
        .collect();
    assert_eq!(modifies.len(), 1, "{modifies:#?}");
    assert_eq!(
        modifies[0]["dynamodb"]["NewImage"]["status"]["S"],
        "ABANDONED"
    );
    // An upload that still lands (a clock skewed at S3) is not processed: the item records
    // it, keeping why it was abandoned.
    p.raw
        .put(&raw_key(&unused), Bytes::from(sample_jpeg()), "image/jpeg")
        .await
        .unwrap();
    let late = p.process_object(&raw_key(&unused), 1).await.unwrap();
    let Worked::Replaced(item) = late else {
        panic!("{late:?}")
    };
    assert_eq!(item.status, Status::Abandoned);
    assert_eq!(item.error_code.as_deref(), Some("upload_replaced"));
    assert!(
        item.error_message
            .as_deref()
            .unwrap_or("")
            .contains("before: upload_expired: no upload arrived"),
        "{item:?}"
    );
}
