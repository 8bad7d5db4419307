//! `imglake serve` consuming, and `imglake kafka-send` producing, against a real
//! Kafka-protocol broker (tansu) on 127.0.0.1: delivery through crashes, restarts of both
//! sides, poison records, TLS with client certificates and SASL.

mod harness;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use harness::*;

const TOPIC: &str = "images";

/// Poison records, by file name → the reason they are REJECTED with.
fn poison(dir: &Path) -> BTreeMap<&'static str, &'static str> {
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::write(dir.join("a-notes.txt"), b"not an image at all").expect("write");
    std::fs::write(
        dir.join("b-missing-claim.json"),
        br#"{"bucket":"claims","key":"kafka-send/no-such-object"}"#,
    )
    .expect("write");
    std::fs::write(
        dir.join("c-foreign-claim.json"),
        br#"{"bucket":"elsewhere","key":"x"}"#,
    )
    .expect("write");
    std::fs::write(dir.join("d-bad-claim.json"), br#"{"bucket": 7}"#).expect("write");
    // Over serve's --max-image-size 3MB: it travels as a claim-check and is refused by size.
    std::fs::write(dir.join("e-huge.bin"), vec![0x5a; 3_500_000]).expect("write");
    BTreeMap::from([
        ("a-notes.txt", "unknown_type"),
        ("b-missing-claim.json", "claim_check_missing"),
        ("c-foreign-claim.json", "claim_check_bucket_not_allowed"),
        ("d-bad-claim.json", "invalid_claim_check"),
        ("e-huge.bin", "too_large"),
    ])
}

#[test]
fn every_record_reaches_the_lake_once_through_a_sigkill_between_store_and_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    // SQLite storage: a restart reads on from an offset inside a record batch, which tansu's
    // memory engine answers with nothing (see a_partition_the_broker_answers_with_nothing_…).
    let broker = Tansu::sqlite(dir.path());
    broker.create_topic(TOPIC, 3);
    let brokers = broker.brokers();

    // Poison first, all in partition 0, ahead of good images there.
    let bad = poison(&dir.path().join("poison"));
    let mut sent = kafka_send(
        &brokers,
        TOPIC,
        &[&dir.path().join("poison")],
        &data,
        &["--kafka-partition", "0", "--tenant", "acme"],
    );
    let images = dir.path().join("images");
    small_images(&images, 24, 1);
    large_image(&images.join("large-1.jpg"), 1);
    large_image(&images.join("large-2.jpg"), 2);
    sent.extend(kafka_send(&brokers, TOPIC, &[&images], &data, &[]));
    assert_eq!(sent.len(), 31);
    let routes = |route: &str| sent.iter().filter(|s| s.route == route).count();
    // Both large images and the huge poison record go as claim-checks.
    assert_eq!(routes("claim_check"), 3, "{sent:?}");

    // One worker and a queue of one: each batch waits for processing after its items are
    // stored, before its offset is committed. Kill serve in exactly that window.
    let flags = [
        "--kafka-batch-size",
        "4",
        "--workers",
        "1",
        "--queue-capacity",
        "1",
        "--max-image-size",
        "3MB",
    ];
    let mut serve = Serve::start(&data, &brokers, TOPIC, &flags);
    serve.wait_until_a_batch_is_stored_not_committed();
    serve.kill();

    let mut serve = Serve::start(&data, &brokers, TOPIC, &flags);
    serve.wait_until_consumed(&ends(&sent));
    let log = serve.stop();
    // The batch in flight at the kill came again and changed nothing.
    assert!(summary(&log, "duplicates") >= 1, "{log}");
    assert_lake_has_each_once(&data.join("lake"), TOPIC, &sent, &bad);
}

/// Whether some partition of /healthz shows an error.
fn a_partition_error(health: &serde_json::Value) -> bool {
    health["kafka"]["partitions"]
        .as_object()
        .is_some_and(|parts| parts.values().any(|p| p["error"].is_string()))
}

#[test]
fn serve_reconnects_when_the_broker_restarts_and_nothing_is_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut broker = Tansu::sqlite(dir.path());
    broker.create_topic(TOPIC, 2);
    let brokers = broker.brokers();
    let one = dir.path().join("one");
    small_images(&one, 12, 1);
    let mut sent = kafka_send(&brokers, TOPIC, &[&one], &data, &[]);
    // A slow consumer (small batches, one worker, a queue of one), so that records are
    // fetched but not committed when the broker goes.
    let flags = [
        "--kafka-timeout",
        "3s",
        "--kafka-batch-size",
        "2",
        "--workers",
        "1",
        "--queue-capacity",
        "1",
    ];
    let mut serve = Serve::start(&data, &brokers, TOPIC, &flags);
    serve.wait_until_a_batch_is_stored_not_committed();
    broker.kill();
    serve.wait_for(
        "serve to see the broker gone",
        Duration::from_secs(60),
        a_partition_error,
    );

    broker.restart();
    let two = dir.path().join("two");
    small_images(&two, 6, 2);
    sent.extend(kafka_send(&brokers, TOPIC, &[&two], &data, &[]));
    let health = serve.wait_until_consumed(&ends(&sent));
    assert!(!a_partition_error(&health), "{health}");

    // With nothing to do, an outage shows on /healthz within --kafka-timeout (3 s) plus a
    // fetch's wait (--kafka-max-wait 500ms) and some slack, not after nested retries.
    broker.kill();
    let gone = std::time::Instant::now();
    serve.wait_for(
        "the outage on /healthz within about --kafka-timeout",
        Duration::from_secs(7),
        a_partition_error,
    );
    let shown = gone.elapsed();
    broker.restart();
    let three = dir.path().join("three");
    small_images(&three, 2, 3);
    sent.extend(kafka_send(&brokers, TOPIC, &[&three], &data, &[]));
    let health = serve.wait_until_consumed(&ends(&sent));
    assert!(!a_partition_error(&health), "{health}");
    let log = serve.stop();
    assert_eq!(summary(&log, "received"), 20, "{log}");
    assert_lake_has_each_once(&data.join("lake"), TOPIC, &sent, &BTreeMap::new());
    eprintln!("the outage showed on /healthz after {shown:?}");
}

#[test]
fn ctrl_c_stores_and_commits_what_was_fetched_then_stops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let broker = Tansu::sqlite(dir.path());
    broker.create_topic(TOPIC, 1);
    let brokers = broker.brokers();
    let images = dir.path().join("images");
    small_images(&images, 12, 3);
    let sent = kafka_send(&brokers, TOPIC, &[&images], &data, &[]);
    let flags = [
        "--kafka-batch-size",
        "6",
        "--workers",
        "1",
        "--queue-capacity",
        "1",
    ];
    let mut serve = Serve::start(&data, &brokers, TOPIC, &flags);
    let health = serve.wait_until_a_batch_is_stored_not_committed();
    // The full queue holds the consumer at that batch: it fetches nothing further (and
    // drops nothing) until the batch's images are queued and its offset committed.
    let part = &health["kafka"]["partitions"]["0"];
    let ahead = part["stored"].as_i64().unwrap_or(0) - part["committed"].as_i64().unwrap_or(0);
    assert!((1..=6).contains(&ahead), "{health}");
    let log = serve.stop();
    let received = summary(&log, "received");
    assert!(received >= 6, "{log}");
    // Everything received was processed before the exit.
    assert_eq!(summary(&log, "processed"), received, "{log}");

    // A restart reads on from the committed offset: nothing stored is delivered again. (Two
    // more records, sent after the restart, show when it has read everything.)
    let mut serve = Serve::start(&data, &brokers, TOPIC, &[]);
    let mut sent = sent;
    let more = dir.path().join("more");
    small_images(&more, 2, 6);
    sent.extend(kafka_send(&brokers, TOPIC, &[&more], &data, &[]));
    serve.wait_until_consumed(&ends(&sent));
    let log = serve.stop();
    assert_eq!(summary(&log, "duplicates"), 0, "{log}");
    assert_eq!(summary(&log, "received"), 14 - received, "{log}");
    assert_lake_has_each_once(&data.join("lake"), TOPIC, &sent, &BTreeMap::new());
}

#[test]
fn a_record_that_cannot_be_stored_holds_its_partition_until_it_can() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let broker = Tansu::memory(dir.path());
    broker.create_topic(TOPIC, 1);
    let brokers = broker.brokers();
    let images = dir.path().join("images");
    small_images(&images, 5, 7);
    let sent = kafka_send(&brokers, TOPIC, &[&images], &data, &[]);
    // A file where the raw store's images/ directory goes: every raw write fails (even as
    // root), as a full or broken disk would make it.
    let blocker = data.join("raw/images");
    std::fs::create_dir_all(data.join("raw")).expect("mkdir");
    std::fs::write(&blocker, b"in the way").expect("write");

    let mut serve = Serve::start(&data, &brokers, TOPIC, &[]);
    serve.wait_for_log("kafka: record not stored; it is read again");
    // Each attempt waits longer than the last (0.1 s doubling, not reset by the fetch in
    // between): about 7 in the next 6 s, not a few every second.
    std::thread::sleep(Duration::from_secs(6));
    let attempts = serve
        .log()
        .lines()
        .filter(|l| l.contains("it is read again") && l.contains("offset=0 "))
        .count();
    assert!(
        (2..=9).contains(&attempts),
        "{attempts} attempts at offset 0 in about 6 s:\n{}",
        serve.log()
    );
    let health = serve.health().expect("healthz");
    assert_eq!(
        health["kafka"]["partitions"]["0"]["committed"].as_i64(),
        Some(0),
        "the offset moved past records that are not stored: {health}"
    );
    std::fs::remove_file(&blocker).expect("remove");
    serve.wait_until_consumed(&ends(&sent));
    let log = serve.stop();
    assert_eq!(summary(&log, "received"), 5, "{log}");
    assert_lake_has_each_once(&data.join("lake"), TOPIC, &sent, &BTreeMap::new());
}

#[test]
fn a_claim_check_the_claims_store_can_never_read_is_rejected_and_its_partition_moves_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let broker = Tansu::memory(dir.path());
    broker.create_topic(TOPIC, 1);
    let brokers = broker.brokers();
    // An object of the claims store, and claim-checks whose keys the file system refuses
    // whatever the retry: under that object (ENOTDIR), a name too long (ENAMETOOLONG).
    std::fs::create_dir_all(data.join("claims")).expect("mkdir");
    std::fs::write(data.join("claims/ok.png"), b"an object").expect("write");
    let poison_dir = dir.path().join("poison");
    std::fs::create_dir_all(&poison_dir).expect("mkdir");
    std::fs::write(
        poison_dir.join("a-under-an-object.json"),
        br#"{"bucket":"claims","key":"ok.png/x"}"#,
    )
    .expect("write");
    std::fs::write(
        poison_dir.join("b-name-too-long.json"),
        format!(r#"{{"bucket":"claims","key":"{}/b"}}"#, "a".repeat(300)),
    )
    .expect("write");
    let mut sent = kafka_send(&brokers, TOPIC, &[&poison_dir], &data, &[]);
    let images = dir.path().join("images");
    small_images(&images, 3, 9);
    sent.extend(kafka_send(&brokers, TOPIC, &[&images], &data, &[]));
    assert_eq!(sent.len(), 5);

    let mut serve = Serve::start(&data, &brokers, TOPIC, &[]);
    serve.wait_until_consumed(&ends(&sent));
    let log = serve.stop();
    assert!(
        !log.contains("it is read again"),
        "a poison claim-check was retried:\n{log}"
    );
    assert_eq!(summary(&log, "received"), 3, "{log}");
    let bad = BTreeMap::from([
        ("a-under-an-object.json", "invalid_claim_check"),
        ("b-name-too-long.json", "invalid_claim_check"),
    ]);
    assert_lake_has_each_once(&data.join("lake"), TOPIC, &sent, &bad);
    // The reason says which key and why.
    let reasons = crate::util::query(
        &data.join("lake").display().to_string(),
        "csv",
        "select error_message from images_current where status = 'REJECTED' order by source_ref",
    );
    assert!(
        reasons.contains("`ok.png/x` cannot be read from bucket `claims`")
            && reasons.contains("Not a directory"),
        "{reasons}"
    );
    assert!(reasons.contains("File name too long"), "{reasons}");
}

#[test]
fn a_folder_sent_again_with_content_ids_adds_no_image() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let broker = Tansu::memory(dir.path());
    broker.create_topic(TOPIC, 2);
    let brokers = broker.brokers();
    let images = dir.path().join("images");
    small_images(&images, 4, 8);
    large_image(&images.join("large.jpg"), 8);
    let flags = ["--image-id", "content", "--tenant", "acme"];
    let first = kafka_send(&brokers, TOPIC, &[&images], &data, &flags);
    let again = kafka_send(&brokers, TOPIC, &[&images], &data, &flags);
    let mut serve = Serve::start(&data, &brokers, TOPIC, &[]);
    serve.wait_until_consumed(&ends(&[first.clone(), again].concat()));
    let log = serve.stop();
    assert_eq!(summary(&log, "received"), 5, "{log}");
    assert_eq!(summary(&log, "duplicates"), 5, "{log}");
    assert_lake_has_each_once(&data.join("lake"), TOPIC, &first, &BTreeMap::new());
}

#[test]
fn tls_with_client_certificates_and_sasl_scram_reach_a_broker_that_requires_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let certs = Certs::make(&dir.path().join("certs"));
    // SCRAM credentials live in the broker's storage: made while it runs without
    // authentication, then required by its restart with --authentication, behind a TLS proxy
    // that it advertises, so every connection a client makes goes through TLS.
    let mut broker = Tansu::sqlite(dir.path());
    broker.create_user("alice", "wonderland");
    broker.create_topic(TOPIC, 2);
    let proxy_port = free_port();
    broker.restart_with(&["--authentication"], proxy_port);
    let proxy = TlsProxy::start(proxy_port, broker.port, &certs);
    let brokers = format!("127.0.0.1:{}", proxy.port);
    let password = dir.path().join("password");
    std::fs::write(&password, "wonderland\n").expect("write");
    let (ca, cert, key, password) = (
        certs.ca.display().to_string(),
        certs.client.display().to_string(),
        certs.client_key.display().to_string(),
        password.display().to_string(),
    );
    let secure = [
        "--kafka-tls-ca",
        &ca,
        "--kafka-tls-cert",
        &cert,
        "--kafka-tls-key",
        &key,
        "--kafka-sasl-mechanism",
        "scram-sha-512",
        "--kafka-sasl-username",
        "alice",
        "--kafka-sasl-password-file",
        &password,
    ];
    let images = dir.path().join("images");
    small_images(&images, 4, 4);
    let sent = kafka_send(&brokers, TOPIC, &[&images], &data, &secure);
    assert_eq!(sent.len(), 4);

    let mut serve = Serve::start(&data, &brokers, TOPIC, &secure);
    serve.wait_until_consumed(&ends(&sent));
    serve.stop();
    assert_lake_has_each_once(&data.join("lake"), TOPIC, &sent, &BTreeMap::new());

    // Each missing or wrong piece is refused, and the error says what to fix.
    let (images, data) = (images.display().to_string(), data.display().to_string());
    let refused = |flags: &[&str]| {
        let send = [
            "kafka-send",
            &images,
            "--kafka-brokers",
            &brokers,
            "--data-dir",
            &data,
        ];
        let topic = ["--kafka-topic", TOPIC, "--kafka-timeout", "2s"];
        imglake_fails(&[&send[..], &topic[..], flags].concat())
    };
    let sasl = [
        "--kafka-sasl-mechanism",
        "scram-sha-512",
        "--kafka-sasl-username",
        "alice",
    ];
    let tls = [
        "--kafka-tls-ca",
        &ca,
        "--kafka-tls-cert",
        &cert,
        "--kafka-tls-key",
        &key,
    ];
    let wrong_password =
        refused(&[&tls[..], &sasl[..], &["--kafka-sasl-password", "queen"]].concat());
    assert!(
        wrong_password.contains("--kafka-sasl-username and the password"),
        "{wrong_password}"
    );
    let other_ca = certs.other_ca.display().to_string();
    let untrusted = refused(
        &[
            &[
                "--kafka-tls-ca",
                &other_ca,
                "--kafka-tls-cert",
                &cert,
                "--kafka-tls-key",
                &key,
            ][..],
            &sasl[..],
            &["--kafka-sasl-password-file", &password],
        ]
        .concat(),
    );
    assert!(
        untrusted.contains("give their CA with --kafka-tls-ca"),
        "{untrusted}"
    );
    let no_client_cert = refused(
        &[
            &["--kafka-tls-ca", &ca][..],
            &sasl[..],
            &["--kafka-sasl-password-file", &password],
        ]
        .concat(),
    );
    assert!(
        no_client_cert.contains("cannot connect to Kafka"),
        "{no_client_cert}"
    );
    let no_sasl = refused(&tls);
    assert!(no_sasl.contains("cannot connect to Kafka"), "{no_sasl}");
    let no_tls = refused(&[]);
    assert!(no_tls.contains("need --kafka-tls"), "{no_tls}");
}

#[test]
fn unreachable_brokers_missing_topics_and_oversized_files_are_reported_with_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data").display().to_string();
    let serve = |brokers: &str, topic: &str| {
        let addr = format!("127.0.0.1:{}", free_port());
        let kafka = [
            "--kafka-brokers",
            brokers,
            "--kafka-topic",
            topic,
            "--kafka-timeout",
            "1s",
        ];
        imglake_fails(
            &[
                &["serve", "--addr", &addr, "--data-dir", &data][..],
                &kafka[..],
            ]
            .concat(),
        )
    };
    let stderr = serve(&format!("127.0.0.1:{}", free_port()), TOPIC);
    assert!(
        stderr.contains("cannot connect to Kafka") && stderr.contains("--kafka-brokers"),
        "{stderr}"
    );
    let broker = Tansu::memory(dir.path());
    let brokers = broker.brokers();
    let stderr = serve(&brokers, "absent");
    assert!(
        stderr.contains("`absent` does not exist") && stderr.contains("--kafka-topic"),
        "{stderr}"
    );

    let images = dir.path().join("images");
    small_images(&images, 2, 5);
    let images_arg = images.display().to_string();
    let send = [
        "kafka-send",
        &images_arg,
        "--kafka-brokers",
        &brokers,
        "--data-dir",
        &data,
    ];
    let stderr = imglake_fails(&[&send[..], &["--kafka-topic", "absent"]].concat());
    assert!(stderr.contains("--create-topic"), "{stderr}");

    // A file above --max-file-size is skipped and reported; the others are sent.
    std::fs::write(images.join("big.bin"), vec![1u8; 300_000]).expect("write");
    let flags = [
        "--kafka-topic",
        TOPIC,
        "--create-topic",
        "1",
        "--max-file-size",
        "200KB",
        "--json",
    ];
    let (code, stdout, stderr) = run_imglake(&[&send[..], &flags[..]].concat());
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("big.bin") && stderr.contains("--max-file-size"),
        "{stderr}"
    );
    let sent = stdout.lines().filter(|l| l.contains("\"offset\"")).count();
    assert_eq!(sent, 2, "{stdout}");
}

#[test]
fn a_record_larger_than_the_fetch_size_is_still_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    // tansu's SQLite engine answers a fetch whose first record is larger than the fetch's
    // byte limit with nothing (Kafka would send that record's batch whole).
    let broker = Tansu::sqlite(dir.path());
    broker.create_topic(TOPIC, 1);
    let brokers = broker.brokers();
    let images = dir.path().join("images");
    small_images(&images, 4, 11);
    let sent = kafka_send(&brokers, TOPIC, &[&images], &data, &[]);
    let mut serve = Serve::start(&data, &brokers, TOPIC, &["--kafka-fetch-bytes", "1KB"]);
    serve.wait_until_consumed(&ends(&sent));
    let log = serve.stop();
    assert_eq!(summary(&log, "received"), 4, "{log}");
    assert_lake_has_each_once(&data.join("lake"), TOPIC, &sent, &BTreeMap::new());
}

#[test]
fn a_partition_the_broker_answers_with_nothing_shows_as_stalled_and_a_skip_is_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    // tansu 0.6's memory engine answers a fetch that starts inside a record batch with no
    // record, and later with the next batch (Kafka sends the batch holding the offset): a
    // broker fault serve cannot repair, but must not sit through silently.
    let broker = Tansu::memory(dir.path());
    broker.create_topic(TOPIC, 1);
    let brokers = broker.brokers();
    let first = dir.path().join("first");
    small_images(&first, 6, 12);
    let mut sent = kafka_send(&brokers, TOPIC, &[&first], &data, &[]);
    assert_eq!(ends(&sent), BTreeMap::from([(0, 6)]));
    commit_offset(&data, TOPIC, 0, 3);

    let mut serve = Serve::start(&data, &brokers, TOPIC, &[]);
    let health = serve.wait_for(
        "partition 0 to show that it is stalled",
        Duration::from_secs(40),
        |h| h["kafka"]["partitions"]["0"]["stalled"].is_string(),
    );
    assert_eq!(health["status"], "degraded", "{health}");
    let part = &health["kafka"]["partitions"]["0"];
    assert_eq!(part["committed"].as_i64(), Some(3), "{health}");
    assert_eq!(part["high_watermark"].as_i64(), Some(6), "{health}");
    assert!(
        part["stalled"]
            .as_str()
            .unwrap_or("")
            .contains("no record at offset 3"),
        "{health}"
    );

    // The next batch comes after the skipped offsets; serve reads on and counts them.
    let second = dir.path().join("second");
    small_images(&second, 2, 13);
    sent = kafka_send(&brokers, TOPIC, &[&second], &data, &[]);
    let health = serve.wait_until_consumed(&ends(&sent));
    let part = &health["kafka"]["partitions"]["0"];
    assert_eq!(part["skipped_offsets"].as_i64(), Some(3), "{health}");
    assert!(part["stalled"].is_null(), "{health}");
    let log = serve.stop();
    assert!(
        log.contains("the broker returned no record for these offsets")
            && log.contains("from=3 to=5"),
        "{log}"
    );
    assert_eq!(summary(&log, "received"), 2, "{log}");
}

/// One batch of three records (offset 0 refused without a raw write, 1 and 2 photos) on a
/// memory broker, with the raw store blocked so that offset 1 fails; serve started on it and
/// seen failing there. Returns the broker (alive while held), the sent records and serve.
fn serve_failing_inside_a_batch(dir: &Path, data: &Path) -> (Tansu, Vec<SentRecord>, Serve) {
    let broker = Tansu::memory(dir);
    broker.create_topic(TOPIC, 1);
    let first = dir.join("first");
    small_images(&first, 2, 21);
    std::fs::write(first.join("a-notes.txt"), b"not an image at all").expect("write");
    let sent = kafka_send(&broker.brokers(), TOPIC, &[&first], data, &[]);
    assert_eq!(ends(&sent), BTreeMap::from([(0, 3)]));
    std::fs::create_dir_all(data.join("raw")).expect("mkdir");
    std::fs::write(data.join("raw/images"), b"in the way").expect("write");
    let mut serve = Serve::start(data, &broker.brokers(), TOPIC, &[]);
    let health = serve.wait_for(
        "the failing record on /healthz",
        Duration::from_secs(30),
        |h| {
            h["kafka"]["partitions"]["0"]["error"]
                .as_str()
                .is_some_and(|e| e.contains("storing the record at offset 1"))
        },
    );
    assert_eq!(health["status"], "degraded", "{health}");
    // Committed at the start of the fetch that brought it, not inside its batch: a restart
    // must not ask a broker for an offset inside a batch either.
    assert_eq!(
        health["kafka"]["partitions"]["0"]["committed"].as_i64(),
        Some(0),
        "{health}"
    );
    (broker, sent, serve)
}

/// A record handed back for retry from inside a record batch is read again with the fetch
/// that brought it, so a broker that answers a fetch starting inside a batch with the next
/// batch (tansu's memory engine) cannot make serve commit past records it saw and has not
/// stored; while the record fails, /healthz says so.
#[test]
fn a_record_retried_inside_a_batch_is_stored_before_its_partition_moves_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (broker, mut sent, mut serve) = serve_failing_inside_a_batch(dir.path(), &data);
    std::fs::remove_file(data.join("raw/images")).expect("remove");
    // The next batch, which the broker answers a fetch at offset 1 with.
    std::thread::sleep(Duration::from_secs(1));
    let second = dir.path().join("second");
    small_images(&second, 1, 22);
    sent.extend(kafka_send(&broker.brokers(), TOPIC, &[&second], &data, &[]));
    let health = serve.wait_until_consumed(&ends(&sent));
    assert_eq!(health["status"], "ok", "{health}");
    assert!(
        health["kafka"]["partitions"]["0"]["skipped_offsets"].is_null(),
        "{health}"
    );
    let log = serve.stop();
    assert_eq!(summary(&log, "received"), 3, "{log}");
    let bad = BTreeMap::from([("a-notes.txt", "unknown_type")]);
    assert_lake_has_each_once(&data.join("lake"), TOPIC, &sent, &bad);
}

/// The same across a restart: serve stopped while the record fails starts again at the
/// fetch's start, not inside the batch where the broker would skip to the next one.
#[test]
fn a_record_retried_inside_a_batch_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (broker, mut sent, serve) = serve_failing_inside_a_batch(dir.path(), &data);
    serve.stop();
    std::fs::remove_file(data.join("raw/images")).expect("remove");
    let second = dir.path().join("second");
    small_images(&second, 1, 22);
    sent.extend(kafka_send(&broker.brokers(), TOPIC, &[&second], &data, &[]));
    let mut serve = Serve::start(&data, &broker.brokers(), TOPIC, &[]);
    let health = serve.wait_until_consumed(&ends(&sent));
    assert!(
        health["kafka"]["partitions"]["0"]["skipped_offsets"].is_null(),
        "{health}"
    );
    serve.stop();
    let bad = BTreeMap::from([("a-notes.txt", "unknown_type")]);
    assert_lake_has_each_once(&data.join("lake"), TOPIC, &sent, &bad);
}
