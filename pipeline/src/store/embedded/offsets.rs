//! Kafka consumer offsets kept beside the items they led to.
//!
//! `imglake serve --kafka-*` reads a topic partition by partition and remembers, per consumer
//! group, topic and partition, the next offset to read. The offset is advanced only after
//! every record before it has a stored outcome (its item written RECEIVED, REJECTED, or found
//! to exist already), so a crash at any point delivers records again rather than losing them,
//! and a record delivered again maps to the same image id and changes nothing.
//!
//! Keeping offsets in the metadata store rather than in the broker's consumer group makes
//! them describe this data directory: a fresh data directory reads the topic from the start
//! into a fresh lake, and a copy of the directory carries its position with it.

use std::collections::BTreeMap;

use rusqlite::params;

use super::{backend, write_tx, EmbeddedStore};
use crate::store::StoreError;

const OFFSETS_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kafka_offsets (
    consumer_group TEXT NOT NULL,
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (consumer_group, topic, partition)
) WITHOUT ROWID;
";

impl EmbeddedStore {
    /// The next offset to read of every partition of `topic` that consumer `group` has
    /// committed, by partition. Partitions never committed are absent.
    pub async fn kafka_offsets(
        &self,
        group: &str,
        topic: &str,
    ) -> Result<BTreeMap<i32, i64>, StoreError> {
        let (group, topic) = (group.to_owned(), topic.to_owned());
        self.run("kafka_offsets", move |conn, _| {
            let op = backend("kafka_offsets");
            let tx = write_tx(conn, "kafka_offsets")?;
            tx.execute_batch(OFFSETS_SCHEMA).map_err(&op)?;
            let mut offsets = BTreeMap::new();
            {
                let mut stmt = tx
                    .prepare(
                        "SELECT partition, next_offset FROM kafka_offsets
                         WHERE consumer_group = ?1 AND topic = ?2",
                    )
                    .map_err(&op)?;
                let rows = stmt
                    .query_map(params![group, topic], |row| {
                        Ok((row.get::<_, i32>(0)?, row.get::<_, i64>(1)?))
                    })
                    .map_err(&op)?;
                for row in rows {
                    let (partition, next) = row.map_err(&op)?;
                    offsets.insert(partition, next);
                }
            }
            tx.commit().map_err(&op)?;
            Ok(offsets)
        })
        .await
    }

    /// Records that consumer `group` reads `topic`/`partition` next at `next_offset`: every
    /// record before it has its outcome stored. A later commit replaces it, also backwards
    /// (a topic deleted and created again starts over at 0).
    pub async fn commit_kafka_offset(
        &self,
        group: &str,
        topic: &str,
        partition: i32,
        next_offset: i64,
    ) -> Result<(), StoreError> {
        let (group, topic) = (group.to_owned(), topic.to_owned());
        self.run("commit_kafka_offset", move |conn, ctx| {
            let op = backend("commit_kafka_offset");
            let now = ctx.clock.now().timestamp_millis();
            let tx = write_tx(conn, "commit_kafka_offset")?;
            tx.execute_batch(OFFSETS_SCHEMA).map_err(&op)?;
            tx.prepare_cached(
                "INSERT INTO kafka_offsets (consumer_group, topic, partition, next_offset, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (consumer_group, topic, partition)
                 DO UPDATE SET next_offset = excluded.next_offset, updated_at = excluded.updated_at",
            )
            .and_then(|mut stmt| stmt.execute(params![group, topic, partition, next_offset, now]))
            .map_err(&op)?;
            tx.commit().map_err(&op)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::{Clock, DEFAULT_TABLE_NAME};

    fn clock() -> Arc<dyn Clock> {
        Arc::new(chrono::Utc::now)
    }

    #[tokio::test]
    async fn offsets_are_kept_per_group_topic_and_partition_and_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("metadata.sqlite3");
        let store = EmbeddedStore::open(&path, DEFAULT_TABLE_NAME, clock()).expect("open");
        assert!(store
            .kafka_offsets("g", "t")
            .await
            .expect("read")
            .is_empty());
        store
            .commit_kafka_offset("g", "t", 0, 5)
            .await
            .expect("commit");
        store
            .commit_kafka_offset("g", "t", 2, 9)
            .await
            .expect("commit");
        store
            .commit_kafka_offset("g", "other", 0, 1)
            .await
            .expect("commit");
        store
            .commit_kafka_offset("h", "t", 0, 7)
            .await
            .expect("commit");
        store
            .commit_kafka_offset("g", "t", 0, 6)
            .await
            .expect("commit");
        drop(store);

        let store = EmbeddedStore::open(&path, DEFAULT_TABLE_NAME, clock()).expect("reopen");
        let offsets = store.kafka_offsets("g", "t").await.expect("read");
        assert_eq!(offsets, BTreeMap::from([(0, 6), (2, 9)]));
        assert_eq!(
            store.kafka_offsets("h", "t").await.expect("read"),
            BTreeMap::from([(0, 7)])
        );
    }

    #[tokio::test]
    async fn a_commit_may_move_an_offset_back() {
        let store = EmbeddedStore::open_in_memory(DEFAULT_TABLE_NAME, clock()).expect("open");
        store
            .commit_kafka_offset("g", "t", 0, 100)
            .await
            .expect("commit");
        store
            .commit_kafka_offset("g", "t", 0, 3)
            .await
            .expect("commit");
        assert_eq!(
            store.kafka_offsets("g", "t").await.expect("read"),
            BTreeMap::from([(0, 3)])
        );
    }
}
