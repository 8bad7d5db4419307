//! Producing records to one topic: per-partition batches no larger than the broker's
//! message limit, sent in order; each record's offset is reported back with a tag.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{bail, Context as _};
use rskafka::client::error::{Error as ClientError, ProtocolError};
use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::client::Client;
use rskafka::record::Record;

/// Bytes a record takes in a batch besides its key, value and headers (length varints,
/// attributes, timestamp and offset deltas), rounded up.
pub const RECORD_OVERHEAD: usize = 32;
/// Bytes of a record batch's own header.
pub const BATCH_OVERHEAD: usize = 64;
/// Records per produce request at most.
const MAX_BATCH_RECORDS: usize = 500;

/// Where one record went.
#[derive(Debug, Clone)]
pub struct Sent<T> {
    pub tag: T,
    pub partition: i32,
    pub offset: i64,
}

struct Pending<T> {
    records: Vec<Record>,
    tags: Vec<T>,
    bytes: usize,
}

impl<T> Default for Pending<T> {
    fn default() -> Self {
        Pending {
            records: Vec::new(),
            tags: Vec::new(),
            bytes: BATCH_OVERHEAD,
        }
    }
}

/// The bytes `record` adds to a batch.
pub fn record_size(record: &Record) -> usize {
    record.approximate_size() + RECORD_OVERHEAD + record.headers.len() * 8
}

/// Batches records per partition and produces them.
pub struct Producer<T> {
    client: Client,
    topic: String,
    partitions: Vec<i32>,
    clients: BTreeMap<i32, Arc<PartitionClient>>,
    pending: BTreeMap<i32, Pending<T>>,
    compression: Compression,
    max_batch_bytes: usize,
}

impl<T> Producer<T> {
    /// A producer for `topic` (which must exist; see [`create_topic`]) whose batches stay at
    /// or below `max_batch_bytes` (the broker's `message.max.bytes` applies to a batch).
    pub async fn new(
        client: Client,
        topic: &str,
        compression: Compression,
        max_batch_bytes: usize,
    ) -> anyhow::Result<Producer<T>> {
        let topics = client.list_topics().await.context("listing Kafka topics")?;
        let Some(found) = topics.into_iter().find(|t| t.name == topic) else {
            bail!("Kafka topic `{topic}` does not exist: create it with --create-topic PARTITIONS, or fix --kafka-topic");
        };
        let partitions: Vec<i32> = found.partitions.into_iter().collect();
        if partitions.is_empty() {
            bail!("Kafka topic `{topic}` has no partitions");
        }
        Ok(Producer {
            client,
            topic: topic.to_owned(),
            partitions,
            clients: BTreeMap::new(),
            pending: BTreeMap::new(),
            compression,
            max_batch_bytes,
        })
    }

    /// The topic's partitions, in order.
    pub fn partitions(&self) -> &[i32] {
        &self.partitions
    }

    /// Adds `record` to `partition`'s batch, first sending the batch when the record would
    /// not fit in it; returns what was sent.
    pub async fn push(
        &mut self,
        partition: i32,
        record: Record,
        tag: T,
    ) -> anyhow::Result<Vec<Sent<T>>> {
        let size = record_size(&record);
        let full = self.pending.get(&partition).is_some_and(|p| {
            !p.records.is_empty()
                && (p.bytes + size > self.max_batch_bytes || p.records.len() >= MAX_BATCH_RECORDS)
        });
        let sent = if full {
            self.send(partition).await?
        } else {
            Vec::new()
        };
        let pending = self.pending.entry(partition).or_default();
        pending.bytes += size;
        pending.records.push(record);
        pending.tags.push(tag);
        Ok(sent)
    }

    /// Sends every pending batch.
    pub async fn flush(&mut self) -> anyhow::Result<Vec<Sent<T>>> {
        let mut sent = Vec::new();
        let partitions: Vec<i32> = self.pending.keys().copied().collect();
        for partition in partitions {
            sent.extend(self.send(partition).await?);
        }
        Ok(sent)
    }

    async fn send(&mut self, partition: i32) -> anyhow::Result<Vec<Sent<T>>> {
        let Some(pending) = self.pending.remove(&partition) else {
            return Ok(Vec::new());
        };
        if pending.records.is_empty() {
            return Ok(Vec::new());
        }
        let client = match self.clients.get(&partition) {
            Some(c) => c.clone(),
            None => {
                let c = Arc::new(
                    self.client
                        .partition_client(
                            self.topic.clone(),
                            partition,
                            UnknownTopicHandling::Retry,
                        )
                        .await
                        .with_context(|| {
                            format!("finding the leader of {}/{partition}", self.topic)
                        })?,
                );
                self.clients.insert(partition, c.clone());
                c
            }
        };
        let (count, bytes) = (pending.records.len(), pending.bytes);
        let offsets = client
            .produce(pending.records, self.compression)
            .await
            .map_err(|e| produce_error(e, &self.topic, partition, count, bytes))?;
        if offsets.len() != count {
            bail!(
                "the broker acknowledged {} of {count} records sent to {}/{partition}",
                offsets.len(),
                self.topic
            );
        }
        Ok(pending
            .tags
            .into_iter()
            .zip(offsets)
            .map(|(tag, offset)| Sent {
                tag,
                partition,
                offset,
            })
            .collect())
    }
}

fn produce_error(
    e: ClientError,
    topic: &str,
    partition: i32,
    count: usize,
    bytes: usize,
) -> anyhow::Error {
    let too_large = matches!(
        &e,
        ClientError::ServerError {
            protocol_error: ProtocolError::MessageTooLarge | ProtocolError::RecordListTooLarge,
            ..
        }
    );
    if too_large {
        anyhow::anyhow!(
            "the broker refused a batch of {count} records (~{bytes} bytes) to {topic}/{partition} as too large: \
             lower --kafka-max-message-bytes to the topic's max.message.bytes: {e}"
        )
    } else {
        anyhow::anyhow!("sending {count} records to {topic}/{partition} failed: {e}")
    }
}

/// Creates `topic` with `partitions` partitions unless it exists.
pub async fn create_topic(
    client: &Client,
    topic: &str,
    partitions: i32,
    replication_factor: i16,
) -> anyhow::Result<bool> {
    let topics = client.list_topics().await.context("listing Kafka topics")?;
    if topics.iter().any(|t| t.name == topic) {
        return Ok(false);
    }
    let controller = client
        .controller_client()
        .context("reaching the cluster's controller")?;
    match controller
        .create_topic(topic, partitions, replication_factor, 30_000)
        .await
    {
        Ok(()) => Ok(true),
        // Created by someone else in between.
        Err(ClientError::ServerError {
            protocol_error: ProtocolError::TopicAlreadyExists,
            ..
        }) => Ok(false),
        Err(e) => Err(anyhow::anyhow!(
            "creating Kafka topic `{topic}` ({partitions} partitions, replication factor {replication_factor}) failed \
             (check --replication-factor against the number of brokers): {e}"
        )),
    }
}
