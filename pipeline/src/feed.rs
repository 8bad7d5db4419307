//! Tails the embedded store's change feed into the lake: on a laptop, what the stream-export
//! Lambda does for DynamoDB Streams on AWS, with the same exporter and the same checkpoint
//! rule (Lambda resumes a shard at the first record it reported as failed).

use imglake_exporter::{ExportInputError, ExportReport, Exporter, Source};
use thiserror::Error;

use crate::store::{EmbeddedStore, StoreError};

/// Why a feed batch could not be exported. The cursor did not move.
#[derive(Debug, Error)]
pub enum FeedError {
    #[error("reading the change feed: {0}")]
    Store(#[from] StoreError),
    #[error("exporting the change feed: {0}")]
    Export(#[from] ExportInputError),
}

/// One exported batch of the feed.
#[derive(Debug)]
pub struct FeedBatch {
    /// The cursor to resume from: after the last change exported, or just before the first
    /// change whose write failed (so it is retried).
    pub cursor: u64,
    pub report: ExportReport,
}

/// Exports up to `limit` changes after `cursor`. Returns `None` when there is nothing new.
pub async fn export_next(
    store: &EmbeddedStore,
    exporter: &Exporter,
    cursor: u64,
    limit: usize,
    now_ms: i64,
) -> Result<Option<FeedBatch>, FeedError> {
    let changes = store.changes_after(cursor, limit).await?;
    let Some(last) = changes.last().map(|(seq, _)| *seq) else {
        return Ok(None);
    };
    let records: Vec<String> = changes.into_iter().map(|(_, record)| record).collect();
    let report = exporter.export(Source::Records(&records), now_ms).await?;
    // The feed's sequence numbers are its cursor values, zero-padded.
    let first_failed = report
        .failed_sequence_numbers
        .iter()
        .filter_map(|s| s.parse::<u64>().ok())
        .min();
    let cursor = match first_failed {
        Some(seq) => seq.saturating_sub(1),
        None => last,
    };
    Ok(Some(FeedBatch { cursor, report }))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use chrono::{DateTime, TimeZone, Utc};
    use imglake_exporter::{ExportOptions, Lake};

    use super::*;
    use crate::model::{ImageItem, Source, Status};
    use crate::store::MetadataStore;

    fn clock() -> Arc<dyn crate::store::Clock> {
        let t: DateTime<Utc> = Utc
            .with_ymd_and_hms(2026, 11, 24, 10, 0, 0)
            .single()
            .unwrap();
        Arc::new(move || t)
    }

    async fn store_with_lifecycles(n: usize) -> EmbeddedStore {
        let store = EmbeddedStore::open_in_memory("images", clock()).unwrap();
        let now = clock().now();
        for i in 0..n {
            let item = ImageItem::received(
                format!("img-{i}"),
                Source::Api,
                format!("req-{i}"),
                "acme",
                now,
                Duration::from_secs(7 * 86_400),
            );
            store.put_new(&item).await.unwrap();
            let mut next = item.clone();
            next.status = Status::Processing;
            store
                .transition(&item.image_id, Status::Received, &next)
                .await
                .unwrap();
        }
        store
    }

    /// An exporter over a lake in a fresh temporary directory.
    fn lake_exporter() -> (tempfile::TempDir, Exporter) {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let exporter = lake.exporter(ExportOptions::default());
        (dir, exporter)
    }

    #[tokio::test]
    async fn the_feed_lands_in_the_lake_and_the_cursor_advances() {
        let store = store_with_lifecycles(3).await;
        let (_dir, exporter) = lake_exporter();
        let first = export_next(&store, &exporter, 0, 4, 1)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (first.report.rows_written, first.report.quarantined),
            (4, 0)
        );
        assert_eq!(first.cursor, 4);
        let second = export_next(&store, &exporter, first.cursor, 4, 1)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(second.report.rows_written, 2);
        assert_eq!(second.cursor, 6);
        assert!(export_next(&store, &exporter, second.cursor, 4, 1)
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn a_failed_write_holds_the_cursor_before_the_failed_change() {
        let store = store_with_lifecycles(2).await;
        let (dir, exporter) = lake_exporter();
        // All changes happen at 10h; a plain file where that partition's directory goes.
        let blocker = dir.path().join("image_events/dt=2026-11-24/hour=10");
        std::fs::create_dir_all(blocker.parent().unwrap()).unwrap();
        std::fs::write(&blocker, b"x").unwrap();
        let failed = export_next(&store, &exporter, 0, 10, 1)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(failed.report.rows_written, 0);
        assert_eq!(failed.cursor, 0, "nothing acknowledged");
        std::fs::remove_file(&blocker).unwrap();
        let retried = export_next(&store, &exporter, failed.cursor, 10, 1)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((retried.report.rows_written, retried.cursor), (4, 4));
    }
}
