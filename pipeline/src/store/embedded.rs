//! The embedded metadata store: one SQLite file (WAL mode), or memory for tests.
//!
//! Items are stored as their DynamoDB JSON. Every change appends, in the same transaction,
//! one stream record in the exact DynamoDB Streams shape to the `changes` table, which
//! [`EmbeddedStore::changes_after`] tails. Writes take SQLite's write lock up front
//! (`BEGIN IMMEDIATE`), so conditional updates from several connections or processes are
//! serialized: no lost update, one record per change.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use serde_json::value::RawValue;

use super::stream::{self, Change, EventName};
use super::{
    check_amend, check_new, check_transition, decode_item, encode_item, is_awaiting_upload,
    settled_transition, Clock, MetadataStore, StoreError, Transition,
};
use crate::model::{ImageItem, Status};

pub mod listing;
/// Kafka consumer offsets (`imglake serve --kafka-*`), in their own table.
mod offsets;

/// Table name used in the stream ARN when none is configured.
pub const DEFAULT_TABLE_NAME: &str = "imglake-images";

/// How long a writer waits for another connection's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS stream (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    table_name TEXT NOT NULL,
    stream_arn TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    image_id TEXT PRIMARY KEY NOT NULL,
    expires_at INTEGER NOT NULL,
    item TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_by_expiry ON items (expires_at);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY,
    record TEXT NOT NULL
);
";

/// The embedded metadata store. Clones share one connection; open the same file again for
/// another connection (as another worker or process would).
#[derive(Clone)]
pub struct EmbeddedStore {
    conn: Arc<Mutex<Connection>>,
    clock: Arc<dyn Clock>,
    stream_arn: Arc<str>,
}

impl fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("stream_arn", &self.stream_arn)
            .finish_non_exhaustive()
    }
}

fn backend(operation: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| StoreError::Backend {
        operation,
        source: Box::new(e),
    }
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store in a SQLite file, in WAL mode. The stream ARN
    /// names `table` and the time of creation (from `clock`), and is kept in the file: a new
    /// file is a new stream, so its records never collide with an older file's in the lake.
    pub fn open(
        path: impl AsRef<Path>,
        table: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<EmbeddedStore, StoreError> {
        let path = path.as_ref();
        let conn = Connection::open(path).map_err(|e| {
            StoreError::Config(format!(
                "cannot open the metadata store {} (check the path and its permissions): {e}",
                path.display()
            ))
        })?;
        Self::init(conn, table, clock, true)
    }

    /// A store in memory, for tests: gone when the last clone is dropped.
    pub fn open_in_memory(table: &str, clock: Arc<dyn Clock>) -> Result<EmbeddedStore, StoreError> {
        let conn = Connection::open_in_memory().map_err(backend("open"))?;
        Self::init(conn, table, clock, false)
    }

    fn init(
        mut conn: Connection,
        table: &str,
        clock: Arc<dyn Clock>,
        expect_wal: bool,
    ) -> Result<EmbeddedStore, StoreError> {
        check_table_name(table)?;
        let op = backend("open");
        conn.busy_timeout(BUSY_TIMEOUT).map_err(&op)?;
        // WAL: readers never block the writer. In memory the mode stays "memory".
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(&op)?;
        if expect_wal && !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(
                journal_mode = %mode,
                "SQLite could not switch the metadata store to WAL mode (a network file system?); \
                 writes stay correct but readers and writers block each other"
            );
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(&op)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&op)?;
        tx.execute_batch(SCHEMA).map_err(&op)?;
        let existing: Option<(String, String)> = tx
            .query_row(
                "SELECT table_name, stream_arn FROM stream WHERE id = 1",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(&op)?;
        let stream_arn = match existing {
            Some((name, _)) if name != table => {
                return Err(StoreError::Config(format!(
                    "the metadata store file holds table `{name}`, not `{table}`: use table `{name}` or another file"
                )))
            }
            Some((_, arn)) => arn,
            None => {
                let arn = stream::stream_arn(table, clock.now());
                tx.execute(
                    "INSERT INTO stream (id, table_name, stream_arn) VALUES (1, ?1, ?2)",
                    params![table, arn],
                )
                .map_err(&op)?;
                arn
            }
        };
        tx.commit().map_err(&op)?;
        Ok(EmbeddedStore {
            conn: Arc::new(Mutex::new(conn)),
            clock,
            stream_arn: stream_arn.into(),
        })
    }

    /// The ARN in every record's `eventSourceARN`.
    pub fn stream_arn(&self) -> &str {
        &self.stream_arn
    }

    /// Runs `f` on the connection on a blocking thread (SQLite calls block).
    async fn run<T, F>(&self, operation: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &Ctx) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        let ctx = Ctx {
            clock: Arc::clone(&self.clock),
            stream_arn: Arc::clone(&self.stream_arn),
        };
        tokio::task::spawn_blocking(move || {
            // A panic in another call cannot leave a transaction open (it rolls back on
            // drop), so a poisoned lock still guards a usable connection.
            let mut conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut conn, &ctx)
        })
        .await
        .map_err(|e| StoreError::Backend {
            operation,
            source: Box::new(e),
        })?
    }

    /// Deletes an item as a user would (DeleteItem): one REMOVE record with the OldImage and
    /// no userIdentity. Returns the deleted item; deleting a missing item writes nothing.
    pub async fn delete(&self, image_id: &str) -> Result<Option<ImageItem>, StoreError> {
        let image_id = image_id.to_owned();
        self.run("delete", move |conn, ctx| {
            let op = backend("delete");
            let tx = write_tx(conn, "delete")?;
            let Some(stored) = stored_item(&tx, &image_id)? else {
                return Ok(None);
            };
            let old = decode(&image_id, &stored)?;
            tx.execute("DELETE FROM items WHERE image_id = ?1", params![image_id])
                .map_err(&op)?;
            let change = Change {
                event: EventName::Remove,
                image_id: &image_id,
                old_image: Some(raw(&image_id, &stored)?),
                new_image: None,
                by_ttl: false,
            };
            append_change(&tx, ctx, ctx.clock.now(), &change)?;
            tx.commit().map_err(&op)?;
            Ok(Some(old))
        })
        .await
    }

    /// Deletes every item whose `expires_at` (epoch seconds) is at or before `now`, as
    /// DynamoDB TTL does: one REMOVE record each, with the OldImage and the DynamoDB service
    /// as userIdentity. Returns the deleted ids, earliest expiry first.
    pub async fn sweep_expired(&self, now: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
        self.run("sweep_expired", move |conn, ctx| {
            let op = backend("sweep_expired");
            let tx = write_tx(conn, "sweep_expired")?;
            let expired: Vec<(String, String)> = {
                let mut stmt = tx
                    .prepare(
                        "SELECT image_id, item FROM items WHERE expires_at <= ?1
                         ORDER BY expires_at, image_id",
                    )
                    .map_err(&op)?;
                let rows = stmt
                    .query_map(params![now.timestamp()], |row| {
                        Ok((row.get(0)?, row.get(1)?))
                    })
                    .map_err(&op)?;
                rows.collect::<Result<_, _>>().map_err(&op)?
            };
            for (image_id, stored) in &expired {
                tx.execute("DELETE FROM items WHERE image_id = ?1", params![image_id])
                    .map_err(&op)?;
                let change = Change {
                    event: EventName::Remove,
                    image_id,
                    old_image: Some(raw(image_id, stored)?),
                    new_image: None,
                    by_ttl: true,
                };
                append_change(&tx, ctx, now, &change)?;
            }
            tx.commit().map_err(&op)?;
            Ok(expired.into_iter().map(|(id, _)| id).collect())
        })
        .await
    }

    /// Items still in RECEIVED or PROCESSING (work a restarted local worker must pick up,
    /// as the queue would redeliver it on AWS), oldest id first.
    pub async fn unfinished(&self) -> Result<Vec<ImageItem>, StoreError> {
        self.run("unfinished", move |conn, _| {
            let op = backend("unfinished");
            let mut stmt = conn
                .prepare("SELECT image_id, item FROM items ORDER BY image_id")
                .map_err(&op)?;
            let rows = stmt
                .query_map([], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
                })
                .map_err(&op)?;
            let mut out = Vec::new();
            for row in rows {
                let (image_id, json) = row.map_err(&op)?;
                let item = decode(&image_id, &json)?;
                if !item.status.is_terminal() {
                    out.push(item);
                }
            }
            Ok(out)
        })
        .await
    }

    /// Every item as stored (its DynamoDB JSON), read in one transaction, and the store's
    /// time of that read: what a full table export at that time holds.
    pub async fn snapshot(&self) -> Result<(DateTime<Utc>, Vec<String>), StoreError> {
        self.run("snapshot", move |conn, ctx| {
            let op = backend("snapshot");
            let tx = conn.transaction().map_err(&op)?;
            let at = ctx.clock.now();
            let items = {
                let mut stmt = tx
                    .prepare("SELECT item FROM items ORDER BY image_id")
                    .map_err(&op)?;
                let rows = stmt
                    .query_map([], |row| row.get::<_, String>(0))
                    .map_err(&op)?;
                rows.collect::<Result<Vec<String>, _>>().map_err(&op)?
            };
            tx.commit().map_err(&op)?;
            Ok((at, items))
        })
        .await
    }

    /// How many change records follow `cursor`.
    pub async fn pending_changes(&self, cursor: u64) -> Result<u64, StoreError> {
        self.run("pending_changes", move |conn, _| {
            let cursor = i64::try_from(cursor).unwrap_or(i64::MAX);
            conn.prepare_cached("SELECT count(*) FROM changes WHERE seq > ?1")
                .and_then(|mut stmt| stmt.query_row(params![cursor], |row| row.get::<_, i64>(0)))
                .map(|n| u64::try_from(n).unwrap_or(0))
                .map_err(backend("pending_changes"))
        })
        .await
    }

    /// Up to `limit` change records after `cursor` (0 = from the beginning), oldest first,
    /// each with its own cursor (pass the last one back to continue) and its stream record's
    /// JSON text, as stored.
    pub async fn changes_after(
        &self,
        cursor: u64,
        limit: usize,
    ) -> Result<Vec<(u64, String)>, StoreError> {
        self.run("changes_after", move |conn, _| {
            let op = backend("changes_after");
            let cursor = i64::try_from(cursor).unwrap_or(i64::MAX);
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let mut stmt = conn
                .prepare_cached(
                    "SELECT seq, record FROM changes WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                )
                .map_err(&op)?;
            let rows = stmt
                .query_map(params![cursor, limit], |row| {
                    Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
                })
                .map_err(&op)?;
            let mut out = Vec::new();
            for row in rows {
                let (seq, text) = row.map_err(&op)?;
                let seq = u64::try_from(seq).map_err(|e| StoreError::Corrupt {
                    what: format!("change {seq}"),
                    reason: e.to_string(),
                })?;
                out.push((seq, text));
            }
            Ok(out)
        })
        .await
    }
}

/// What a blocking call needs besides the connection.
struct Ctx {
    clock: Arc<dyn Clock>,
    stream_arn: Arc<str>,
}

/// A transaction holding the write lock from its start, so that its reads cannot go stale.
fn write_tx<'c>(
    conn: &'c mut Connection,
    operation: &'static str,
) -> Result<Transaction<'c>, StoreError> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend(operation))
}

/// The stored DynamoDB JSON of an item, if any.
fn stored_item(tx: &Transaction<'_>, image_id: &str) -> Result<Option<String>, StoreError> {
    tx.prepare_cached("SELECT item FROM items WHERE image_id = ?1")
        .and_then(|mut stmt| {
            stmt.query_row(params![image_id], |row| row.get(0))
                .optional()
        })
        .map_err(backend("read"))
}

fn decode(image_id: &str, stored: &str) -> Result<ImageItem, StoreError> {
    let what = format!("image {image_id}");
    let item: serde_dynamo::Item =
        serde_json::from_str(stored).map_err(|e| StoreError::Corrupt {
            what: what.clone(),
            reason: e.to_string(),
        })?;
    decode_item(&what, item)
}

fn raw<'s>(image_id: &str, stored: &'s str) -> Result<&'s RawValue, StoreError> {
    serde_json::from_str(stored).map_err(|e| StoreError::Corrupt {
        what: format!("image {image_id}"),
        reason: e.to_string(),
    })
}

/// The item as stored: its DynamoDB JSON with attributes in name order (stable records).
fn encode(item: &ImageItem) -> Result<String, StoreError> {
    Ok(encode_item(item)?.json)
}

/// Appends the stream record of `change` with the next sequence number.
fn append_change(
    tx: &Transaction<'_>,
    ctx: &Ctx,
    at: DateTime<Utc>,
    change: &Change<'_>,
) -> Result<u64, StoreError> {
    let op = backend("append change");
    // Writers hold the write lock, so MAX + 1 is race-free; changes are never deleted.
    let last: i64 = tx
        .query_row("SELECT COALESCE(MAX(seq), 0) FROM changes", [], |row| {
            row.get(0)
        })
        .map_err(&op)?;
    let seq = last + 1;
    let seq_u64 = u64::try_from(seq).map_err(|e| StoreError::Corrupt {
        what: "the change feed".into(),
        reason: e.to_string(),
    })?;
    let record = stream::record_json(&ctx.stream_arn, seq_u64, at, change).map_err(|e| {
        StoreError::Corrupt {
            what: format!("image {}", change.image_id),
            reason: e.to_string(),
        }
    })?;
    tx.execute(
        "INSERT INTO changes (seq, record) VALUES (?1, ?2)",
        params![seq, record],
    )
    .map_err(&op)?;
    Ok(seq_u64)
}

fn check_table_name(table: &str) -> Result<(), StoreError> {
    let ok = (3..=255).contains(&table.len())
        && table
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Config(format!(
            "table name `{table}` is not a DynamoDB table name (3 to 255 of a-z A-Z 0-9 _ - .)"
        )))
    }
}

impl MetadataStore for EmbeddedStore {
    async fn put_new(&self, item: &ImageItem) -> Result<(), StoreError> {
        check_new(item)?;
        let json = encode(item)?;
        let image_id = item.image_id.clone();
        let expires_at = item.expires_at;
        self.run("put_new", move |conn, ctx| {
            let op = backend("put_new");
            let tx = write_tx(conn, "put_new")?;
            if stored_item(&tx, &image_id)?.is_some() {
                return Err(StoreError::AlreadyExists { image_id });
            }
            tx.execute(
                "INSERT INTO items (image_id, expires_at, item) VALUES (?1, ?2, ?3)",
                params![image_id, expires_at, json],
            )
            .map_err(&op)?;
            let change = Change {
                event: EventName::Insert,
                image_id: &image_id,
                old_image: None,
                new_image: Some(raw(&image_id, &json)?),
                by_ttl: false,
            };
            append_change(&tx, ctx, ctx.clock.now(), &change)?;
            tx.commit().map_err(&op)
        })
        .await
    }

    async fn get(&self, image_id: &str) -> Result<Option<ImageItem>, StoreError> {
        let image_id = image_id.to_owned();
        self.run("get", move |conn, _| {
            let stored: Option<String> = conn
                .prepare_cached("SELECT item FROM items WHERE image_id = ?1")
                .and_then(|mut stmt| {
                    stmt.query_row(params![image_id], |row| row.get(0))
                        .optional()
                })
                .map_err(backend("get"))?;
            stored.map(|s| decode(&image_id, &s)).transpose()
        })
        .await
    }

    async fn transition(
        &self,
        image_id: &str,
        from: Status,
        update: &ImageItem,
    ) -> Result<Transition, StoreError> {
        check_transition(image_id, from, update)?;
        self.replace_in("transition", from, update).await
    }

    async fn amend(
        &self,
        image_id: &str,
        status: Status,
        update: &ImageItem,
    ) -> Result<Transition, StoreError> {
        check_amend(image_id, status, update)?;
        self.replace_in("amend", status, update).await
    }

    async fn awaiting_upload(
        &self,
        cutoff_ms: i64,
        limit: usize,
    ) -> Result<Vec<ImageItem>, StoreError> {
        self.run("awaiting_upload", move |conn, _| {
            let op = backend("awaiting_upload");
            // RECEIVED items without a size: the JSON is filtered here, the rest by the one
            // rule both stores share.
            let mut stmt = conn
                .prepare_cached(
                    "SELECT image_id, item FROM items
                     WHERE json_extract(item, '$.status.S') = 'RECEIVED'
                       AND json_extract(item, '$.size_bytes') IS NULL
                     ORDER BY image_id",
                )
                .map_err(&op)?;
            let rows = stmt
                .query_map([], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
                })
                .map_err(&op)?;
            let mut out = Vec::new();
            for row in rows {
                let (image_id, json) = row.map_err(&op)?;
                let item = decode(&image_id, &json)?;
                if is_awaiting_upload(&item, cutoff_ms) {
                    out.push(item);
                    if out.len() >= limit {
                        break;
                    }
                }
            }
            Ok(out)
        })
        .await
    }
}

impl EmbeddedStore {
    /// Replaces the item by `update` if its stored status is `from` (checked by the caller):
    /// one MODIFY record.
    async fn replace_in(
        &self,
        operation: &'static str,
        from: Status,
        update: &ImageItem,
    ) -> Result<Transition, StoreError> {
        let json = encode(update)?;
        let update = update.clone();
        self.run(operation, move |conn, ctx| {
            let op = backend("transition");
            let image_id = update.image_id.as_str();
            let tx = write_tx(conn, "transition")?;
            let stored_json = stored_item(&tx, image_id)?;
            let stored = stored_json
                .as_deref()
                .map(|json| decode(image_id, json))
                .transpose()?;
            if let Some(outcome) = settled_transition(image_id, from, &update, stored.as_ref()) {
                return outcome;
            }
            // Here the item exists (settled_transition answers NotFound otherwise).
            let old_image = stored_json
                .as_deref()
                .map(|json| raw(image_id, json))
                .transpose()?;
            tx.execute(
                "UPDATE items SET expires_at = ?2, item = ?3 WHERE image_id = ?1",
                params![image_id, update.expires_at, json],
            )
            .map_err(&op)?;
            let change = Change {
                event: EventName::Modify,
                image_id,
                old_image,
                new_image: Some(raw(image_id, &json)?),
                by_ttl: false,
            };
            append_change(&tx, ctx, ctx.clock.now(), &change)?;
            tx.commit().map_err(&op)?;
            Ok(Transition::Applied)
        })
        .await
    }
}
