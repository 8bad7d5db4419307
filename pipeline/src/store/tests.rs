//! Store behaviour end to end: lifecycle records, conditional writes, races, TTL, and the
//! exporter reading the change feed.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};

use super::*;
use crate::model::{Source, DEFAULT_TTL};

/// 2026-11-24T09:58:10.123Z
const T0: i64 = 1_795_514_290_123;
const TABLE: &str = "imglake-images";

/// A clock the test moves by hand (epoch milliseconds).
#[derive(Clone)]
struct TestClock(Arc<AtomicI64>);

impl TestClock {
    fn new(ms: i64) -> TestClock {
        TestClock(Arc::new(AtomicI64::new(ms)))
    }
    fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
    fn shared(&self) -> Arc<dyn Clock> {
        Arc::new(self.clone())
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        at(self.0.load(Ordering::SeqCst))
    }
}

fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap()
}

fn memory_store(clock: &TestClock) -> EmbeddedStore {
    EmbeddedStore::open_in_memory(TABLE, clock.shared()).unwrap()
}

fn received(id: &str, clock: &TestClock) -> ImageItem {
    ImageItem::received(
        id,
        Source::Api,
        "req-7f3a",
        "acme",
        clock.now(),
        DEFAULT_TTL,
    )
}

fn processing(item: &ImageItem) -> ImageItem {
    ImageItem {
        status: Status::Processing,
        content_type: Some("image/jpeg".into()),
        format: Some("jpeg".into()),
        size_bytes: Some(2_481_923),
        raw_key: Some(format!("raw/acme/{}.jpg", item.image_id)),
        ..item.clone()
    }
}

fn processed(item: &ImageItem, now: i64) -> ImageItem {
    ImageItem {
        status: Status::Processed,
        width: Some(4000),
        height: Some(2667),
        variant_count: Some(2),
        operations: Some(vec!["orient".into(), "strip".into()]),
        processed_at: Some(now),
        mean_luma: Some(118.25),
        has_alpha: Some(false),
        ..item.clone()
    }
}

fn rejected(item: &ImageItem, code: &str) -> ImageItem {
    ImageItem {
        status: Status::Rejected,
        error_code: Some(code.into()),
        error_message: Some(format!("refused: {code}")),
        ..item.clone()
    }
}

async fn feed(store: &EmbeddedStore) -> Vec<(u64, Value)> {
    changes(store, 0, 1000).await
}

/// The change feed after `cursor`, each record parsed.
async fn changes(store: &EmbeddedStore, cursor: u64, limit: usize) -> Vec<(u64, Value)> {
    store
        .changes_after(cursor, limit)
        .await
        .unwrap()
        .into_iter()
        .map(|(seq, text)| (seq, serde_json::from_str(&text).unwrap()))
        .collect()
}

fn status_of(image: &Value) -> &str {
    image["status"]["S"].as_str().unwrap_or("-")
}

#[tokio::test]
async fn lifecycle_emits_insert_then_two_modifies_with_old_and_new_images() {
    let clock = TestClock::new(T0);
    let store = memory_store(&clock);
    let item = received("img-1", &clock);
    store.put_new(&item).await.unwrap();
    clock.advance(1_000);
    let p = processing(&item);
    assert_eq!(
        store
            .transition("img-1", Status::Received, &p)
            .await
            .unwrap(),
        Transition::Applied
    );
    clock.advance(1_500);
    let done = processed(&p, T0 + 2_500);
    assert_eq!(
        store
            .transition("img-1", Status::Processing, &done)
            .await
            .unwrap(),
        Transition::Applied
    );
    assert_eq!(store.get("img-1").await.unwrap(), Some(done.clone()));

    let records = feed(&store).await;
    let names: Vec<&str> = records
        .iter()
        .map(|(_, r)| r["eventName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["INSERT", "MODIFY", "MODIFY"]);
    let data: Vec<&Value> = records.iter().map(|(_, r)| &r["dynamodb"]).collect();
    assert!(data[0].get("OldImage").is_none());
    assert_eq!(status_of(&data[0]["NewImage"]), "RECEIVED");
    assert_eq!(status_of(&data[1]["OldImage"]), "RECEIVED");
    assert_eq!(status_of(&data[1]["NewImage"]), "PROCESSING");
    assert_eq!(status_of(&data[2]["OldImage"]), "PROCESSING");
    assert_eq!(status_of(&data[2]["NewImage"]), "PROCESSED");
    assert_eq!(data[2]["NewImage"]["width"], json!({"N": "4000"}));
    assert_eq!(
        data[2]["NewImage"]["expires_at"],
        json!({"N": "1796119090"})
    );
    assert!(
        data[0]["NewImage"].get("width").is_none(),
        "absent stays absent"
    );
    // Images are exactly the items' DynamoDB attributes.
    let new_image: serde_dynamo::Item =
        serde_json::from_value(data[2]["NewImage"].clone()).unwrap();
    assert_eq!(ImageItem::from_item(new_image).unwrap(), done);

    let times: Vec<i64> = data
        .iter()
        .map(|d| d["ApproximateCreationDateTime"].as_i64().unwrap())
        .collect();
    assert_eq!(times, [T0 / 1000, T0 / 1000 + 1, T0 / 1000 + 2]);
    let seqs: Vec<&str> = data
        .iter()
        .map(|d| d["SequenceNumber"].as_str().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert!(seqs
        .iter()
        .all(|s| s.len() >= 21 && s.bytes().all(|b| b.is_ascii_digit())));
    let cursors: Vec<u64> = records.iter().map(|(c, _)| *c).collect();
    assert!(cursors.windows(2).all(|w| w[0] < w[1]));
    let mut ids: Vec<&str> = records
        .iter()
        .map(|(_, r)| r["eventID"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 3);
    for (_, r) in &records {
        assert_eq!(r["eventSourceARN"], store.stream_arn());
        assert_eq!(r["dynamodb"]["Keys"], json!({"image_id": {"S": "img-1"}}));
        assert_eq!(r["dynamodb"]["StreamViewType"], "NEW_AND_OLD_IMAGES");
        assert!(r.get("userIdentity").is_none());
    }
    assert_eq!(
        store.stream_arn(),
        "arn:aws:dynamodb:local:000000000000:table/imglake-images/stream/2026-11-24T09:58:10.123"
    );
}

#[tokio::test]
async fn illegal_transitions_are_refused_and_write_nothing() {
    let clock = TestClock::new(T0);
    let store = memory_store(&clock);
    let item = received("img-1", &clock);
    store.put_new(&item).await.unwrap();
    let done = processed(&processing(&item), T0);
    let err = store
        .transition("img-1", Status::Received, &done)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::IllegalTransition {
                from: Status::Received,
                to: Status::Processed,
                ..
            }
        ),
        "{err}"
    );
    // FAILED is terminal: no retry out of it.
    let failed = ImageItem {
        status: Status::Failed,
        error_code: Some("decode_error".into()),
        error_message: Some("corrupt".into()),
        ..processing(&item)
    };
    assert!(matches!(
        store
            .transition("img-1", Status::Failed, &processing(&item))
            .await,
        Err(StoreError::IllegalTransition { .. })
    ));
    // REJECTED without a reason is refused by the model.
    let mut no_reason = rejected(&item, "x");
    no_reason.error_code = None;
    assert!(matches!(
        store
            .transition("img-1", Status::Received, &no_reason)
            .await,
        Err(StoreError::Invalid { .. })
    ));
    // A new item must start as RECEIVED.
    assert!(matches!(
        store
            .put_new(&ImageItem {
                image_id: "img-2".into(),
                ..failed
            })
            .await,
        Err(StoreError::InitialStatus {
            status: Status::Failed,
            ..
        })
    ));
    // The update must be for the same item.
    assert!(matches!(
        store
            .transition(
                "img-1",
                Status::Received,
                &processing(&received("img-9", &clock))
            )
            .await,
        Err(StoreError::KeyMismatch { .. })
    ));
    assert_eq!(store.get("img-1").await.unwrap(), Some(item));
    assert_eq!(feed(&store).await.len(), 1, "only the INSERT");
}

#[tokio::test]
async fn duplicate_events_are_no_ops_without_records() {
    let clock = TestClock::new(T0);
    let store = memory_store(&clock);
    let item = received("img-1", &clock);
    store.put_new(&item).await.unwrap();
    assert!(matches!(
        store.put_new(&item).await,
        Err(StoreError::AlreadyExists { .. })
    ));
    let p = processing(&item);
    store
        .transition("img-1", Status::Received, &p)
        .await
        .unwrap();
    // Redelivered event: same transition again.
    assert_eq!(
        store
            .transition("img-1", Status::Received, &p)
            .await
            .unwrap(),
        Transition::Unchanged
    );
    // A different update from the old status is a conflict, not a lost update.
    let err = store
        .transition("img-1", Status::Received, &rejected(&item, "late"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                expected: Status::Received,
                found: Status::Processing,
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.is_retryable());
    let names: Vec<Value> = feed(&store)
        .await
        .into_iter()
        .map(|(_, r)| r["eventName"].clone())
        .collect();
    assert_eq!(names, [json!("INSERT"), json!("MODIFY")]);
    assert!(matches!(
        store
            .transition(
                "nope",
                Status::Received,
                &processing(&received("nope", &clock))
            )
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(store.get("nope").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_workers_on_one_file_leave_one_winner_and_one_consistent_item() {
    const WORKERS: usize = 4;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metadata.sqlite");
    let clock = TestClock::new(T0);
    let stores: Vec<EmbeddedStore> = (0..WORKERS)
        .map(|_| EmbeddedStore::open(&path, TABLE, clock.shared()).unwrap())
        .collect();
    for round in 0..10 {
        let id = format!("img-{round}");
        let item = received(&id, &clock);
        stores[0].put_new(&item).await.unwrap();
        // Each worker has its own outcome: two start processing (different detected
        // types), two reject (different codes).
        let updates: Vec<ImageItem> = (0..WORKERS)
            .map(|w| match w % 2 {
                0 => ImageItem {
                    content_type: Some(format!("image/worker-{w}")),
                    ..processing(&item)
                },
                _ => rejected(&item, &format!("worker_{w}")),
            })
            .collect();
        let barrier = Arc::new(tokio::sync::Barrier::new(WORKERS));
        let tasks: Vec<_> = stores
            .iter()
            .cloned()
            .zip(updates.clone())
            .map(|(store, update)| {
                let barrier = Arc::clone(&barrier);
                let id = id.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    store.transition(&id, Status::Received, &update).await
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.unwrap());
        }
        let winners: Vec<usize> = outcomes
            .iter()
            .enumerate()
            .filter(|(_, o)| matches!(o, Ok(Transition::Applied)))
            .map(|(w, _)| w)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {outcomes:?}");
        let winner = &updates[winners[0]];
        for (w, outcome) in outcomes.iter().enumerate() {
            if w != winners[0] {
                assert!(
                    matches!(outcome, Err(StoreError::Conflict { found, .. }) if *found == winner.status),
                    "round {round}, worker {w}: {outcome:?}"
                );
            }
        }
        for store in &stores {
            assert_eq!(store.get(&id).await.unwrap().as_ref(), Some(winner));
        }
    }
    let records = changes(&stores[3], 0, 1000).await;
    assert_eq!(records.len(), 20, "one INSERT and one MODIFY per round");
    let seqs: Vec<&str> = records
        .iter()
        .map(|(_, r)| r["dynamodb"]["SequenceNumber"].as_str().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    // The file really is in WAL mode.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_duplicates_write_one_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metadata.sqlite");
    let clock = TestClock::new(T0);
    let a = EmbeddedStore::open(&path, TABLE, clock.shared()).unwrap();
    let b = EmbeddedStore::open(&path, TABLE, clock.shared()).unwrap();
    let item = received("img-1", &clock);
    a.put_new(&item).await.unwrap();
    let p = processing(&item);
    let (ra, rb) = tokio::join!(
        a.transition("img-1", Status::Received, &p),
        b.transition("img-1", Status::Received, &p)
    );
    let mut outcomes = vec![ra.unwrap(), rb.unwrap()];
    outcomes.sort_by_key(|t| *t == Transition::Unchanged);
    assert_eq!(outcomes, [Transition::Applied, Transition::Unchanged]);
    assert_eq!(a.changes_after(0, 10).await.unwrap().len(), 2);
}

#[tokio::test]
async fn ttl_sweep_removes_expired_items_as_the_dynamodb_service() {
    let clock = TestClock::new(T0);
    let store = memory_store(&clock);
    let early = received("img-early", &clock);
    store.put_new(&early).await.unwrap();
    clock.advance(60_000);
    let late = received("img-late", &clock);
    store.put_new(&late).await.unwrap();

    // Not yet: one second before the first expiry.
    let before = at((early.expires_at - 1) * 1000);
    assert!(store.sweep_expired(before).await.unwrap().is_empty());
    // expires_at ≤ now is expired.
    let sweep_at = at(early.expires_at * 1000 + 400);
    assert_eq!(store.sweep_expired(sweep_at).await.unwrap(), ["img-early"]);
    assert_eq!(store.get("img-early").await.unwrap(), None);
    assert_eq!(store.get("img-late").await.unwrap(), Some(late.clone()));
    assert!(
        store.sweep_expired(sweep_at).await.unwrap().is_empty(),
        "swept once"
    );

    let records = feed(&store).await;
    let (_, remove) = records.last().unwrap();
    assert_eq!(remove["eventName"], "REMOVE");
    assert_eq!(
        remove["userIdentity"],
        json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"})
    );
    assert_eq!(
        remove["dynamodb"]["Keys"],
        json!({"image_id": {"S": "img-early"}})
    );
    assert_eq!(
        remove["dynamodb"]["ApproximateCreationDateTime"],
        json!(early.expires_at)
    );
    assert!(remove["dynamodb"].get("NewImage").is_none());
    let old: serde_dynamo::Item =
        serde_json::from_value(remove["dynamodb"]["OldImage"].clone()).unwrap();
    assert_eq!(ImageItem::from_item(old).unwrap(), early);

    // A user delete is a REMOVE without userIdentity.
    assert_eq!(store.delete("img-late").await.unwrap(), Some(late));
    assert_eq!(
        store.delete("img-late").await.unwrap(),
        None,
        "nothing left to delete"
    );
    let records = feed(&store).await;
    assert_eq!(records.len(), 4);
    let (_, user) = records.last().unwrap();
    assert_eq!(user["eventName"], "REMOVE");
    assert!(user.get("userIdentity").is_none());
    assert_eq!(status_of(&user["dynamodb"]["OldImage"]), "RECEIVED");
}

#[tokio::test]
async fn feed_pages_by_cursor_and_reopened_file_continues_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metadata.sqlite");
    let clock = TestClock::new(T0);
    let store = EmbeddedStore::open(&path, TABLE, clock.shared()).unwrap();
    for i in 0..5 {
        store
            .put_new(&received(&format!("img-{i}"), &clock))
            .await
            .unwrap();
    }
    let page1 = changes(&store, 0, 2).await;
    assert_eq!(page1.len(), 2);
    let page2 = changes(&store, page1[1].0, 10).await;
    assert_eq!(page2.len(), 3);
    assert_eq!(page2[0].1["dynamodb"]["Keys"]["image_id"]["S"], "img-2");
    let arn = store.stream_arn().to_owned();
    drop(store);

    clock.advance(86_400_000);
    let reopened = EmbeddedStore::open(&path, TABLE, clock.shared()).unwrap();
    assert_eq!(reopened.stream_arn(), arn, "same file, same stream");
    reopened.put_new(&received("img-5", &clock)).await.unwrap();
    let all = changes(&reopened, 0, 100).await;
    assert_eq!(all.len(), 6);
    assert!(
        all[4].1["dynamodb"]["SequenceNumber"].as_str()
            < all[5].1["dynamodb"]["SequenceNumber"].as_str()
    );

    let err = EmbeddedStore::open(&path, "other-table", clock.shared()).unwrap_err();
    assert!(
        err.to_string().contains("holds table `imglake-images`"),
        "{err}"
    );
    let err = EmbeddedStore::open_in_memory("a/b", clock.shared()).unwrap_err();
    assert!(matches!(err, StoreError::Config(_)), "{err}");
}

#[tokio::test]
async fn oversized_items_are_refused_like_dynamodb() {
    let clock = TestClock::new(T0);
    let store = memory_store(&clock);
    let mut item = received("img-1", &clock);
    item.variants_json = Some("x".repeat(MAX_ITEM_BYTES));
    assert!(matches!(
        store.put_new(&item).await,
        Err(StoreError::TooLarge { .. })
    ));
    assert!(feed(&store).await.is_empty());
}

/// The change feed of a whole lifecycle, a user delete and a TTL sweep, as the Lambda event
/// the stream-export function would receive, goes through the exporter untouched.
#[tokio::test]
async fn change_feed_exports_through_the_lake_exporter() {
    let clock = TestClock::new(T0);
    let store = memory_store(&clock);
    let a = received("img-a", &clock);
    let b = ImageItem {
        source: Some(Source::Kafka),
        source_ref: Some("images/3/1042".into()),
        ..received("img-b", &clock)
    };
    store.put_new(&a).await.unwrap();
    store.put_new(&b).await.unwrap();
    clock.advance(1_000);
    let pa = processing(&a);
    store
        .transition("img-a", Status::Received, &pa)
        .await
        .unwrap();
    store
        .transition(
            "img-b",
            Status::Received,
            &rejected(&b, "unsupported_format"),
        )
        .await
        .unwrap();
    clock.advance(3_600_000); // the next hour: another partition
    store
        .transition("img-a", Status::Processing, &processed(&pa, T0 + 3_601_000))
        .await
        .unwrap();
    store.delete("img-b").await.unwrap();
    let swept = store.sweep_expired(at(a.expires_at * 1000)).await.unwrap();
    assert_eq!(swept, ["img-a"]);

    let records: Vec<Value> = feed(&store).await.into_iter().map(|(_, r)| r).collect();
    assert_eq!(records.len(), 7);
    let event = serde_json::to_string(&json!({ "Records": records })).unwrap();
    let (report, rows) =
        crate::test_lake::export(imglake_exporter::Source::Event(&event), T0 + 10_000_000).await;
    assert_eq!(report.received, 7);
    assert_eq!(report.quarantined, 0, "{:?}", report.quarantine_reasons);
    assert_eq!(report.rows_written, 7);
    assert!(report.failed_sequence_numbers.is_empty());

    // Row by row, as the exporter mapped them.
    let column = |name: &str| -> Vec<&str> { rows.iter().map(|r| r[name].as_str()).collect() };
    assert_eq!(
        column("is_ttl_expiry"),
        ["false", "false", "false", "false", "false", "false", "true"],
        "only the sweep is a TTL expiry"
    );
    assert_eq!(rows[4]["status"], "PROCESSED");
    assert_eq!(rows[4]["previous_status"], "PROCESSING");
    assert_eq!(rows[5]["status"], "REJECTED", "REMOVE maps the OldImage");
    let expires = chrono::DateTime::from_timestamp(a.expires_at, 0).unwrap();
    assert_eq!(
        rows[6]["expires_at"],
        expires.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
    );
    assert!(column("extra_attributes").iter().all(|v| v.is_empty()));
    // 09h, 10h on the day of receipt, and the expiry a week later.
    assert_eq!(report.files.len(), 3, "{:?}", report.files);
}

#[test]
fn both_stores_settle_a_transition_by_the_same_rule() {
    let clock = TestClock::new(T0);
    let item = received("01SETTLE", &clock);
    let update = processing(&item);
    let from = Status::Received;
    // Absent, a duplicate, or moved on by someone else: nothing is written.
    assert!(matches!(
        settled_transition("01SETTLE", from, &update, None),
        Some(Err(StoreError::NotFound { .. }))
    ));
    assert!(matches!(
        settled_transition("01SETTLE", from, &update, Some(&update)),
        Some(Ok(Transition::Unchanged))
    ));
    let done = processed(&update, T0 + 5);
    assert!(matches!(
        settled_transition("01SETTLE", from, &update, Some(&done)),
        Some(Err(StoreError::Conflict {
            found: Status::Processed,
            ..
        }))
    ));
    // In the expected status and different: the write goes ahead.
    assert!(settled_transition("01SETTLE", from, &update, Some(&item)).is_none());
    // Checked before any store is touched.
    assert!(check_new(&item).is_ok());
    assert!(matches!(
        check_new(&update),
        Err(StoreError::InitialStatus {
            status: Status::Processing,
            ..
        })
    ));
    assert!(check_transition("01SETTLE", from, &update).is_ok());
    assert!(matches!(
        check_transition("01OTHER", from, &update),
        Err(StoreError::KeyMismatch { .. })
    ));
    assert!(matches!(
        check_transition("01SETTLE", Status::Processed, &update),
        Err(StoreError::IllegalTransition { .. })
    ));
}

/// The data lines of the export written under `out`, every data file of its manifest.
fn export_lines(folder: &std::path::Path) -> Vec<Value> {
    use std::io::Read;
    let manifest = std::fs::read_to_string(folder.join("manifest-files.json")).unwrap();
    let base = folder.parent().unwrap().parent().unwrap();
    let mut lines = Vec::new();
    for entry in manifest.lines() {
        let entry: Value = serde_json::from_str(entry).unwrap();
        let key = entry["dataFileS3Key"].as_str().unwrap();
        let body = std::fs::read(base.join(key)).unwrap();
        let mut text = String::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_string(&mut text)
            .unwrap();
        let parsed: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(entry["itemCount"], parsed.len(), "{key}");
        lines.extend(parsed);
    }
    lines
}

#[tokio::test]
async fn table_exports_hold_the_items_or_their_net_changes_in_dynamodbs_format() {
    use crate::table_export::{write_table_export, ExportRequest};
    let clock = TestClock::new(T0);
    let store = memory_store(&clock);
    let a = received("img-a", &clock);
    store.put_new(&a).await.unwrap();
    let b = received("img-b", &clock);
    store.put_new(&b).await.unwrap();
    let out = tempfile::tempdir().unwrap();

    clock.advance(60_000);
    let window_from = clock.now();
    let full = write_table_export(&store, TABLE, out.path(), ExportRequest::Full)
        .await
        .unwrap();
    let summary: Value =
        serde_json::from_slice(&std::fs::read(full.folder.join("manifest-summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["itemCount"], 2);
    assert_eq!(summary["outputFormat"], "DYNAMODB_JSON");
    assert!(summary["exportTime"].is_string() && summary.get("exportType").is_none());
    let items: Vec<Value> = export_lines(&full.folder)
        .into_iter()
        .map(|l| l["Item"]["image_id"]["S"].clone())
        .collect();
    assert_eq!(items, [json!("img-a"), json!("img-b")]);

    // In the window: a goes RECEIVED -> PROCESSING -> PROCESSED, b is deleted, c is created,
    // d is created and deleted (no line, as in DynamoDB's).
    clock.advance(1_000);
    let p = processing(&a);
    store
        .transition("img-a", Status::Received, &p)
        .await
        .unwrap();
    clock.advance(1_000);
    let done = processed(&p, clock.now().timestamp_millis());
    store
        .transition("img-a", Status::Processing, &done)
        .await
        .unwrap();
    store.delete("img-b").await.unwrap();
    store.put_new(&received("img-c", &clock)).await.unwrap();
    store.put_new(&received("img-d", &clock)).await.unwrap();
    store.delete("img-d").await.unwrap();
    clock.advance(1_000);
    let window_to = clock.now();
    clock.advance(5_000);
    // After the window: not in the export.
    store.put_new(&received("img-e", &clock)).await.unwrap();

    let incremental = write_table_export(
        &store,
        TABLE,
        out.path(),
        ExportRequest::Incremental {
            from: window_from,
            to: window_to,
        },
    )
    .await
    .unwrap();
    let summary: Value = serde_json::from_slice(
        &std::fs::read(incremental.folder.join("manifest-summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["exportType"], "INCREMENTAL_EXPORT");
    assert_eq!(summary["outputView"], "NEW_AND_OLD_IMAGES");
    let lines = export_lines(&incremental.folder);
    let by_id = |id: &str| {
        lines
            .iter()
            .find(|l| l["Keys"]["image_id"]["S"] == id)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(lines.len(), 3, "{lines:?}");
    let a_line = by_id("img-a");
    assert_eq!(status_of(&a_line["OldImage"]), "RECEIVED");
    assert_eq!(status_of(&a_line["NewImage"]), "PROCESSED");
    let micros: i64 = a_line["Metadata"]["WriteTimestampMicros"]["N"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(micros >= window_from.timestamp_micros() && micros < window_to.timestamp_micros());
    let b_line = by_id("img-b");
    assert!(b_line.get("NewImage").is_none() && status_of(&b_line["OldImage"]) == "RECEIVED");
    let c_line = by_id("img-c");
    assert!(c_line.get("OldImage").is_none() && status_of(&c_line["NewImage"]) == "RECEIVED");
    assert!(by_id("img-d").is_null() && by_id("img-e").is_null());
}
