//! `imglake serve --kafka-*`: reads a topic's partitions and runs each batch through the
//! `kafka-ingest` handler, committing offsets to the embedded store only after the batch's
//! items are stored.
//!
//! Per partition, one task repeats: fetch from the committed offset → split into batches of
//! `--kafka-batch-size` → for each: the Lambda event ([`super::event`]) → the handler →
//! queue RECEIVED images for processing (waiting while the queue is full: back-pressure, not
//! loss) → commit the offset after the last record whose outcome is stored. A record whose
//! outcome is a retry (our own I/O failed) stops the commit at its offset, and the partition
//! is fetched again from there after a backoff. Poison records are REJECTED by the handler
//! with their reason and committed past: they never block their partition.
//!
//! Delivery is at least once; ids derive from topic/partition/offset (or the `image-id`
//! header), so a record delivered again finds its item and changes nothing: no duplicates.
//! A broker that goes away is retried with backoff (each failed request is logged, and shown
//! by `/healthz`) until it is back. Stopping (Ctrl-C) cancels only a fetch in flight: the
//! records already fetched are handled and committed first.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::builder::TypedValueParser as _;
use clap::{Args, ValueEnum};
use imglake_pipeline::handlers::metrics::Outcomes;
use imglake_pipeline::handlers::Pipeline;
use imglake_pipeline::store::EmbeddedStore;
use rskafka::client::error::{Error as ClientError, ProtocolError};
use rskafka::client::partition::{OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::client::Client;
use rskafka::record::RecordAndOffset;
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::config::{parse_topic, KafkaConnArgs};
use super::event::kafka_event;

/// Where a partition that has no committed offset starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StartAt {
    /// The oldest record the broker keeps (Lambda's TRIM_HORIZON).
    Earliest,
    /// Records produced from now on (Lambda's LATEST).
    Latest,
}

/// `imglake serve`'s Kafka consumer options.
#[derive(Debug, Clone, Args)]
pub struct KafkaConsumeArgs {
    /// Consume images from Kafka: bootstrap brokers HOST:PORT[,HOST:PORT…] (needs
    /// --kafka-topic).
    #[arg(
        long,
        env = "IMGLAKE_KAFKA_BROKERS",
        value_delimiter = ',',
        requires = "kafka_topic"
    )]
    pub kafka_brokers: Vec<String>,

    /// Topic to consume; every partition is read.
    #[arg(long, env = "IMGLAKE_KAFKA_TOPIC", value_parser = parse_topic, requires = "kafka_brokers")]
    pub kafka_topic: Option<String>,

    /// Name under which this data directory keeps its offsets (in metadata.sqlite3, not in
    /// the broker): another group reads the topic again from --kafka-start.
    #[arg(long, env = "IMGLAKE_KAFKA_GROUP", default_value = "imglake")]
    pub kafka_group: String,

    /// Where partitions without a committed offset start.
    #[arg(long, env = "IMGLAKE_KAFKA_START", value_enum, default_value_t = StartAt::Earliest)]
    pub kafka_start: StartAt,

    /// Records per handler call (Lambda's batch size); offsets are committed after each.
    #[arg(long, env = "IMGLAKE_KAFKA_BATCH_SIZE", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10_000).try_map(usize::try_from))]
    pub kafka_batch_size: usize,

    /// Bytes one fetch asks of a partition, like 4MB. A record batch larger than this still
    /// arrives whole from Kafka; a broker that answers with nothing instead is asked for
    /// twice as much, up to 63MB.
    #[arg(long, env = "IMGLAKE_KAFKA_FETCH_BYTES", default_value = "4MB", value_parser = parse_fetch_bytes)]
    pub kafka_fetch_bytes: i32,

    /// Longest a fetch waits for new records (e.g. 500ms).
    #[arg(long, env = "IMGLAKE_KAFKA_MAX_WAIT", default_value = "500ms", value_parser = crate::cli::parse_duration)]
    pub kafka_max_wait: Duration,

    #[command(flatten)]
    pub conn: KafkaConnArgs,
}

fn parse_fetch_bytes(s: &str) -> Result<i32, String> {
    let n = imglake_exporter::compact::parse_size(s)?;
    if (1024..=MAX_FETCH_BYTES as u64).contains(&n) {
        i32::try_from(n).map_err(|e| e.to_string())
    } else {
        Err("use 1KB to 63MB (a broker's answer must fit the client's 64MB frame)".into())
    }
}

/// Most bytes a fetch asks for: the answer, with its headers, must fit one frame.
const MAX_FETCH_BYTES: i32 = (super::config::MAX_FRAME_BYTES - 1024 * 1024) as i32;
/// How long fetches at one offset may bring no record, while the broker says records lie
/// beyond it, before the partition reports that it is stalled.
const STALL_REPORT: Duration = Duration::from_secs(10);

/// How often the topic's partition list is read again (partitions may be added).
const PARTITION_REFRESH: Duration = Duration::from_secs(30);
/// Longest pause between attempts while the broker or the store keeps failing.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Longest pause before a record that could not be stored is read again: it keeps growing
/// while the same offset keeps failing (a fetch in between does not reset it), so a store
/// that stays broken is retried, and logged, a few times a minute rather than a second.
const MAX_RECORD_BACKOFF: Duration = Duration::from_secs(30);

/// What `/healthz` shows of one partition.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PartitionStatus {
    /// The next offset to read: every record before it has its outcome stored.
    pub committed: Option<i64>,
    /// The offset after the last record whose outcome is stored; ahead of `committed` while
    /// a batch's images are queued for processing and its offset is not yet committed.
    pub stored: Option<i64>,
    /// The broker's high watermark at the last fetch (the offset after its last record).
    pub high_watermark: Option<i64>,
    /// The last failure while it lasts: cleared by the next successful fetch, or, for a
    /// record that could not be stored, once it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Set while fetches at `committed` have brought no record for a while although the
    /// high watermark is more than one offset beyond it (cleared when a record arrives or
    /// the partition is caught up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stalled: Option<String>,
    /// Offsets no record came for before a stored record (compacted records, transaction
    /// markers, or a batch the broker skipped).
    #[serde(skip_serializing_if = "is_zero")]
    pub skipped_offsets: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// The consumer's state for `/healthz`.
#[derive(Debug, Default)]
pub struct Status {
    topic: String,
    group: String,
    partitions: Mutex<BTreeMap<i32, PartitionStatus>>,
}

impl Status {
    fn update(&self, partition: i32, f: impl FnOnce(&mut PartitionStatus)) {
        let mut map = self
            .partitions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f(map.entry(partition).or_default());
    }

    /// Topic, group, and per partition: committed and stored offsets, high watermark, and
    /// the current error; and whether some partition has an error or is stalled (from the
    /// same look, so the two agree).
    pub fn snapshot(&self) -> (serde_json::Value, bool) {
        let partitions = self
            .partitions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let troubled = partitions
            .values()
            .any(|p| p.error.is_some() || p.stalled.is_some());
        let json =
            serde_json::json!({"topic": self.topic, "group": self.group, "partitions": partitions});
        (json, troubled)
    }
}

/// What the partition tasks share.
struct Ctx {
    client: Client,
    topic: String,
    group: String,
    bootstrap: String,
    start: StartAt,
    batch_size: usize,
    fetch_bytes: i32,
    max_wait_ms: i32,
    /// --kafka-timeout: how long one broker call may take, its client-side retries
    /// included, before the partition shows the failure and tries again.
    timeout: Duration,
    pipeline: Arc<Pipeline<EmbeddedStore>>,
    queue: mpsc::Sender<String>,
    status: Arc<Status>,
}

/// A running consumer: stop it with [`Consumer::stop`].
pub struct Consumer {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Outcomes>,
    pub status: Arc<Status>,
    pub topic: String,
}

impl Consumer {
    /// Connects and starts reading every partition of the topic, or `None` when no
    /// --kafka-brokers are given. Fails when the brokers cannot be reached or the topic
    /// does not exist, naming the option to fix. RECEIVED images are sent to `queue`.
    pub async fn start(
        args: &KafkaConsumeArgs,
        pipeline: Arc<Pipeline<EmbeddedStore>>,
        queue: mpsc::Sender<String>,
    ) -> anyhow::Result<Option<Consumer>> {
        let Some(topic) = args.kafka_topic.clone() else {
            return Ok(None);
        };
        let client = args.conn.connect(&args.kafka_brokers).await?;
        let partitions = partitions(&client, &topic, &args.kafka_brokers).await?;
        let status = Arc::new(Status {
            topic: topic.clone(),
            group: args.kafka_group.clone(),
            partitions: Mutex::default(),
        });
        let committed = pipeline
            .store
            .kafka_offsets(&args.kafka_group, &topic)
            .await
            .context("reading the Kafka offsets of the metadata store")?;
        for p in &partitions {
            status.update(*p, |s| {
                s.committed = committed.get(p).copied();
                s.stored = s.committed;
            });
        }
        let ctx = Arc::new(Ctx {
            client,
            topic: topic.clone(),
            group: args.kafka_group.clone(),
            bootstrap: args.kafka_brokers.join(","),
            start: args.kafka_start,
            batch_size: args.kafka_batch_size,
            fetch_bytes: args.kafka_fetch_bytes,
            max_wait_ms: i32::try_from(args.kafka_max_wait.as_millis()).unwrap_or(i32::MAX),
            timeout: args.conn.kafka_timeout,
            pipeline,
            queue,
            status: status.clone(),
        });
        tracing::info!(topic, ?partitions, group = %ctx.group, "kafka: consuming");
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(supervise(ctx, partitions, committed, stopped));
        Ok(Some(Consumer {
            stop,
            task,
            status,
            topic,
        }))
    }

    /// Stops fetching, handles and commits what was fetched, and returns the outcomes of
    /// every record handled.
    pub async fn stop(self) -> Outcomes {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "kafka: the consumer task failed");
            Outcomes::default()
        })
    }
}

/// The partitions of `topic`, or an error saying how to create it.
async fn partitions(client: &Client, topic: &str, brokers: &[String]) -> anyhow::Result<Vec<i32>> {
    let topics = client
        .list_topics()
        .await
        .with_context(|| format!("listing the topics of Kafka at {}", brokers.join(",")))?;
    let Some(found) = topics.into_iter().find(|t| t.name == topic) else {
        bail!(
            "Kafka topic `{topic}` does not exist at {}: create it (e.g. `imglake kafka-send \
             --create-topic 3 …`, or your cluster's tools) or fix --kafka-topic",
            brokers.join(",")
        );
    };
    let partitions: Vec<i32> = found.partitions.into_iter().collect();
    if partitions.is_empty() {
        bail!("Kafka topic `{topic}` has no partitions");
    }
    Ok(partitions)
}

/// Runs one task per partition, adding tasks for partitions added to the topic, until
/// stopped; returns the outcomes of all of them.
async fn supervise(
    ctx: Arc<Ctx>,
    initial: Vec<i32>,
    committed: BTreeMap<i32, i64>,
    mut stopped: watch::Receiver<bool>,
) -> Outcomes {
    let mut tasks = JoinSet::new();
    let mut running = std::collections::BTreeSet::new();
    for p in initial {
        running.insert(p);
        tasks.spawn(read_partition(
            ctx.clone(),
            p,
            committed.get(&p).copied(),
            stopped.clone(),
        ));
    }
    let mut total = Outcomes::default();
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            Some(done) = tasks.join_next() => merge(&mut total, done),
            _ = tokio::time::sleep(PARTITION_REFRESH) => {
                let listed = tokio::select! {
                    r = within(ctx.timeout, ctx.client.list_topics()) => r,
                    _ = stopped.changed() => break,
                };
                match listed {
                    Ok(topics) => {
                        let now = topics.into_iter().find(|t| t.name == ctx.topic);
                        for p in now.map(|t| t.partitions).unwrap_or_default() {
                            if running.insert(p) {
                                tracing::info!(topic = %ctx.topic, partition = p, "kafka: new partition");
                                tasks.spawn(read_partition(ctx.clone(), p, None, stopped.clone()));
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "kafka: cannot list partitions; retried"),
                }
            }
        }
    }
    while let Some(done) = tasks.join_next().await {
        merge(&mut total, done);
    }
    total
}

fn merge(total: &mut Outcomes, done: Result<Outcomes, tokio::task::JoinError>) {
    match done {
        Ok(o) => total.merge(&o),
        Err(e) => tracing::error!(error = %e, "kafka: a partition task failed"),
    }
}

/// Backoff that doubles up to a cap ([`MAX_BACKOFF`] unless told).
struct Backoff(Duration, Duration);

impl Backoff {
    fn new() -> Backoff {
        Backoff::capped(MAX_BACKOFF)
    }
    fn capped(cap: Duration) -> Backoff {
        Backoff(Duration::from_millis(100), cap)
    }
    fn reset(&mut self) {
        self.0 = Duration::from_millis(100);
    }
    /// Waits the current delay (or until stopped: then `false`) and doubles it.
    async fn wait(&mut self, stopped: &mut watch::Receiver<bool>) -> bool {
        let delay = self.0;
        self.0 = (self.0 * 2).min(self.1);
        if *stopped.borrow() {
            return false;
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => true,
            _ = stopped.changed() => false,
        }
    }
}

/// One partition: fetch, handle, commit, until stopped.
async fn read_partition(
    ctx: Arc<Ctx>,
    partition: i32,
    committed: Option<i64>,
    mut stopped: watch::Receiver<bool>,
) -> Outcomes {
    let mut outcomes = Outcomes::default();
    let mut backoff = Backoff::new();
    let client = loop {
        let attempt = tokio::select! {
            c = within(ctx.timeout, ctx.client.partition_client(ctx.topic.clone(), partition, UnknownTopicHandling::Retry)) => c,
            _ = stopped.changed() => return outcomes,
        };
        match attempt {
            Ok(c) => break c,
            Err(e) => {
                report_error(&ctx, partition, "finding the partition's leader", &e);
                if !backoff.wait(&mut stopped).await {
                    return outcomes;
                }
            }
        }
    };
    backoff.reset();
    let mut next = committed;
    // Where the next fetch starts: `next`, except after a record was handed back for retry,
    // when the fetch that brought it is asked again (a broker may answer a fetch starting
    // inside a record batch with nothing or the next batch) and the records before `next`
    // are dropped here.
    let mut fetch_from: Option<i64> = None;
    // The offset of the record last handed back for retry, and its own backoff: kept across
    // fetches so that a record failing again and again waits longer each time. A record is
    // known to be there: a fetch that skips it is the broker's fault, never committed past.
    let mut retrying: Option<(i64, Backoff)> = None;
    // What one fetch asks for: doubled while a broker answers an offset with no record; kept
    // while the records that then come need it, else back to --kafka-fetch-bytes (an empty
    // answer may also be transaction markers, which need no more room).
    let mut fetch_bytes = ctx.fetch_bytes;
    // Since when fetches at this offset have brought nothing though records lie beyond it.
    let mut empty_since: Option<(i64, Instant)> = None;
    loop {
        if *stopped.borrow() {
            break;
        }
        let offset = match next {
            Some(o) => o,
            None => match start_offset(&ctx, &client, &mut stopped).await {
                Some(o) => {
                    // Kept at once: a restart goes on from here, not from a later `latest`.
                    commit(&ctx, partition, o).await;
                    next = Some(o);
                    o
                }
                None => break,
            },
        };
        let from = fetch_from.filter(|f| *f < offset).unwrap_or(offset);
        let fetched = tokio::select! {
            // The fetch may wait --kafka-max-wait for records on top of the timeout.
            r = within(
                ctx.timeout + Duration::from_millis(u64::try_from(ctx.max_wait_ms).unwrap_or(0)),
                client.fetch_records(from, 1..fetch_bytes, ctx.max_wait_ms),
            ) => r,
            _ = stopped.changed() => break,
        };
        let (mut records, high_watermark) = match fetched {
            Ok(ok) => ok,
            Err(CallError::Client(ClientError::ServerError {
                protocol_error: ProtocolError::OffsetOutOfRange,
                ..
            })) => {
                if from < offset {
                    // The retried fetch's start is gone (retention): ask at the record itself.
                    fetch_from = None;
                    continue;
                }
                let found = tokio::select! {
                    r = out_of_range(&ctx, &client, partition, offset) => r,
                    _ = stopped.changed() => break,
                };
                match found {
                    Ok(o) => {
                        // The record waiting for retry is gone (retention, a new topic).
                        next = Some(o);
                        empty_since = None;
                        if retrying.take().is_some() {
                            ctx.status.update(partition, |s| s.error = None);
                        }
                        ctx.status.update(partition, |s| s.stalled = None);
                    }
                    Err(e) => {
                        report_error(&ctx, partition, "reading the partition's offsets", &e);
                        if !backoff.wait(&mut stopped).await {
                            break;
                        }
                    }
                }
                continue;
            }
            Err(e) => {
                report_error(&ctx, partition, "fetching", &e);
                // A larger fetch than asked for may be what times out.
                fetch_bytes = ctx.fetch_bytes;
                if !backoff.wait(&mut stopped).await {
                    break;
                }
                continue;
            }
        };
        records.retain(|r| r.offset >= offset);
        if let (Some((known, _)), Some(first)) = (retrying.as_ref(), records.first()) {
            if first.offset > *known {
                // The record handed back for retry is there, yet the broker skipped it.
                let message = format!(
                    "the broker returned records from offset {} though a record at offset {known} \
                     exists (it was read before and is waiting to be stored); the partition waits \
                     at {known}",
                    first.offset
                );
                tracing::error!(topic = %ctx.topic, partition, "kafka: {message}");
                ctx.status.update(partition, |s| {
                    s.error = Some(format!("fetching: {message}"))
                });
                if !backoff.wait(&mut stopped).await {
                    break;
                }
                continue;
            }
        }
        // A retried record's error stays shown until it is stored.
        let still_failing = retrying.is_some();
        ctx.status.update(partition, |s| {
            s.high_watermark = Some(high_watermark);
            if !still_failing {
                s.error = None;
            }
        });
        backoff.reset();
        if records.is_empty() {
            if high_watermark > offset {
                // Records lie beyond `offset`, yet none came. Kafka sends a batch larger
                // than the fetch asked for whole, but some brokers send nothing: ask for
                // more. Only transaction markers (which the client drops) also look so.
                if fetch_bytes < MAX_FETCH_BYTES {
                    fetch_bytes = fetch_bytes.saturating_mul(2).min(MAX_FETCH_BYTES);
                    tracing::debug!(
                        partition,
                        offset,
                        fetch_bytes,
                        "kafka: an empty fetch below the high watermark; asking for more"
                    );
                    continue;
                }
                let since = match empty_since {
                    Some((at, since)) if at == offset => since,
                    _ => empty_since.insert((offset, Instant::now())).1,
                };
                // One offset short of the high watermark is what a transaction's commit marker
                // at the end of a partition looks like: not reported.
                let stalled = since.elapsed() >= STALL_REPORT && high_watermark - offset > 1;
                ctx.status.update(partition, |s| {
                    if stalled && s.stalled.is_none() {
                        let message = format!(
                            "no record at offset {offset} for {:?} though the broker's high \
                             watermark is {high_watermark}, even in a {fetch_bytes}-byte fetch: \
                             the broker returns nothing from there (transaction markers only, \
                             or a broker that does not answer a fetch starting inside a record \
                             batch)",
                            since.elapsed()
                        );
                        tracing::warn!(topic = %ctx.topic, partition, offset, high_watermark, "kafka: partition stalled: {message}");
                        s.stalled = Some(message);
                    }
                });
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    _ = stopped.changed() => {}
                }
            } else {
                // Caught up: nothing is waiting.
                empty_since = None;
                ctx.status.update(partition, |s| s.stalled = None);
            }
            continue;
        }
        empty_since = None;
        ctx.status.update(partition, |s| s.stalled = None);
        // A grown fetch size stays only while the first record alone needs it (a broker that
        // sends nothing for a record larger than the fetch); otherwise it would keep asking
        // for up to 63 MB after, say, a transaction marker.
        let first_size = records.first().map_or(0, |r| r.record.approximate_size());
        if first_size <= usize::try_from(ctx.fetch_bytes).unwrap_or(usize::MAX) {
            fetch_bytes = ctx.fetch_bytes;
        }
        // Everything fetched is handled and committed, even when a stop arrives meanwhile.
        let mut expected = offset;
        fetch_from = None;
        for batch in records.chunks(ctx.batch_size) {
            let (upto, retry) = handle(&ctx, partition, batch, &mut outcomes).await;
            count_gaps(&ctx, partition, batch, upto, &mut expected);
            commit(
                &ctx,
                partition,
                if retry.is_some() {
                    from.min(upto)
                } else {
                    upto
                },
            )
            .await;
            next = Some(upto);
            if let Some(why) = retry {
                // Our own failure (store, disk): the rest comes again from `upto`, after a
                // pause that grows while this same offset keeps failing. /healthz shows it.
                ctx.status.update(partition, |s| {
                    s.error = Some(format!("storing the record at offset {upto}: {why}"))
                });
                fetch_from = Some(from);
                let same = retrying.as_ref().is_some_and(|(at, _)| *at == upto);
                if !same {
                    retrying = Some((upto, Backoff::capped(MAX_RECORD_BACKOFF)));
                }
                if let Some((_, b)) = retrying.as_mut() {
                    b.wait(&mut stopped).await;
                }
                break;
            }
            if retrying.take().is_some() {
                ctx.status.update(partition, |s| s.error = None);
            }
        }
    }
    outcomes
}

/// Counts, and logs, the offsets before each stored record of `batch` (those below `upto`)
/// that no record was returned for: compacted records, transaction markers, or records a
/// broker skipped. `expected` is the offset after the last record counted.
fn count_gaps(ctx: &Ctx, partition: i32, batch: &[RecordAndOffset], upto: i64, expected: &mut i64) {
    let mut skipped = 0;
    // The record retried at `upto` is there too: the offsets before it have none.
    for r in batch.iter().filter(|r| r.offset <= upto) {
        if r.offset > *expected {
            tracing::warn!(
                topic = %ctx.topic, partition, from = *expected, to = r.offset - 1,
                "kafka: the broker returned no record for these offsets (compacted, transaction markers, or skipped by the broker); reading on from the next record"
            );
            skipped += r.offset - *expected;
        }
        *expected = (r.offset + 1).min(upto);
    }
    if skipped > 0 {
        ctx.status
            .update(partition, |s| s.skipped_offsets += skipped);
    }
}

/// Where a partition without a committed offset starts, or `None` when stopped first.
async fn start_offset(
    ctx: &Ctx,
    client: &PartitionClient,
    stopped: &mut watch::Receiver<bool>,
) -> Option<i64> {
    let at = match ctx.start {
        StartAt::Earliest => OffsetAt::Earliest,
        StartAt::Latest => OffsetAt::Latest,
    };
    let mut backoff = Backoff::new();
    loop {
        let got = tokio::select! {
            r = within(ctx.timeout, client.get_offset(at)) => r,
            _ = stopped.changed() => return None,
        };
        match got {
            Ok(o) => return Some(o),
            Err(e) => {
                report_error(ctx, client.partition(), "reading the start offset", &e);
                if !backoff.wait(stopped).await {
                    return None;
                }
            }
        }
    }
}

/// The offset to go on from when `offset` is outside what the broker keeps.
async fn out_of_range(
    ctx: &Ctx,
    client: &PartitionClient,
    partition: i32,
    offset: i64,
) -> Result<i64, CallError> {
    let earliest = within(ctx.timeout, client.get_offset(OffsetAt::Earliest)).await?;
    let latest = within(ctx.timeout, client.get_offset(OffsetAt::Latest)).await?;
    let next = if offset < earliest {
        tracing::error!(
            topic = %ctx.topic, partition, offset, earliest,
            "kafka: records {offset}..{earliest} were deleted by the topic's retention before they were read; they are lost to this data directory. Continuing at {earliest}"
        );
        earliest
    } else {
        let restart = match ctx.start {
            StartAt::Earliest => earliest,
            StartAt::Latest => latest,
        };
        tracing::warn!(
            topic = %ctx.topic, partition, offset, latest,
            "kafka: the committed offset is past the partition's end (was the topic deleted and created again?); reading from {restart} (--kafka-start)"
        );
        restart
    };
    commit(ctx, partition, next).await;
    Ok(next)
}

/// Runs one batch through the handler; returns the offset to commit (after the last record,
/// or at the first record to be retried) and, when one must be retried, why.
async fn handle(
    ctx: &Ctx,
    partition: i32,
    batch: &[RecordAndOffset],
    outcomes: &mut Outcomes,
) -> (i64, Option<String>) {
    let event = kafka_event(&ctx.bootstrap, &ctx.topic, partition, batch);
    let report = ctx.pipeline.handle_kafka(&event, outcomes).await;
    let retry = report.retries().next();
    let retry_at = retry.map(|r| r.offset);
    let why = retry.map(|r| r.error.clone().unwrap_or_default());
    let after_last = batch.last().map_or(0, |r| r.offset + 1);
    let upto = retry_at.unwrap_or(after_last);
    ctx.status.update(partition, |s| s.stored = Some(upto));
    for record in &report.records {
        match record.outcome {
            "REJECTED" => tracing::warn!(
                topic = %record.topic, partition = record.partition, offset = record.offset,
                image_id = %record.image_id, reason = record.error.as_deref().unwrap_or(""),
                "kafka: record rejected"
            ),
            "RETRY" => tracing::warn!(
                topic = %record.topic, partition = record.partition, offset = record.offset,
                error = record.error.as_deref().unwrap_or(""),
                "kafka: record not stored; it is read again"
            ),
            _ => {}
        }
    }
    for record in report.records.iter().filter(|r| r.outcome == "RECEIVED") {
        // Waits while the queue is full: the consumer slows down instead of dropping.
        if ctx.queue.send(record.image_id.clone()).await.is_err() {
            tracing::warn!(image_id = %record.image_id, "processing queue closed; the image resumes on the next start");
        }
    }
    (upto, why)
}

/// Stores `next` as the partition's offset, retrying while the store fails (a commit that
/// never lands only means the records are read again, and change nothing then).
async fn commit(ctx: &Ctx, partition: i32, next: i64) {
    let mut delay = Duration::from_millis(100);
    for attempt in 1..=5 {
        match ctx
            .pipeline
            .store
            .commit_kafka_offset(&ctx.group, &ctx.topic, partition, next)
            .await
        {
            Ok(()) => {
                ctx.status.update(partition, |s| {
                    s.committed = Some(next);
                    s.stored = Some(next);
                });
                return;
            }
            Err(e) => {
                tracing::warn!(partition, next, attempt, error = %e, "kafka: committing the offset failed");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_BACKOFF);
            }
        }
    }
    tracing::error!(
        partition,
        next,
        "kafka: the offset could not be committed; these records are read again on the next start (nothing is duplicated)"
    );
}

/// A broker call that failed: the client's error, or no answer within --kafka-timeout.
#[derive(Debug)]
enum CallError {
    Client(ClientError),
    TimedOut(Duration),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Client(e) => e.fmt(f),
            CallError::TimedOut(limit) => write!(
                f,
                "no answer from the broker within {limit:?} (--kafka-timeout); is it running?"
            ),
        }
    }
}

/// Runs one broker call for at most `limit`. The client retries a failing request with
/// backoff until its own deadline, but those retries nest (finding the broker, connecting,
/// the request), so one call could take many times --kafka-timeout before failing; this
/// bounds the whole call, so an outage shows within --kafka-timeout.
async fn within<T>(
    limit: Duration,
    call: impl std::future::Future<Output = Result<T, ClientError>>,
) -> Result<T, CallError> {
    match tokio::time::timeout(limit, call).await {
        Ok(result) => result.map_err(CallError::Client),
        Err(_) => Err(CallError::TimedOut(limit)),
    }
}

fn report_error(ctx: &Ctx, partition: i32, doing: &str, error: &CallError) {
    tracing::warn!(topic = %ctx.topic, partition, error = %error, "kafka: {doing} failed; retrying");
    ctx.status
        .update(partition, |s| s.error = Some(format!("{doing}: {error}")));
}
