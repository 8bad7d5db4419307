//! Listing the embedded store's items for the web console: newest first, filtered by
//! status, source and tenant, a page at a time (keyset pagination, so page N costs what page
//! 1 costs), with the counts the console's filters show.
//!
//! Items are stored as their DynamoDB JSON; the filters read attributes with SQLite's
//! `json_extract`. [`EmbeddedStore::prepare_listing`] adds an index on
//! (`received_at`, `image_id`) so that a page is read from the index instead of sorting every
//! item: with 10 000 items a page takes about a millisecond instead of tens.

use rusqlite::params;

use super::{backend, decode, EmbeddedStore};
use crate::model::{ImageItem, Source, Status};
use crate::store::StoreError;

/// The ordering key: `received_at` (epoch ms) as an integer, as the index stores it.
const RECEIVED_AT: &str = "CAST(json_extract(item, '$.received_at.N') AS INTEGER)";

/// Largest page [`EmbeddedStore::list_items`] returns.
pub const MAX_PAGE: usize = 500;

/// Tenants [`EmbeddedStore::item_facets`] names at most (the most frequent).
pub const MAX_FACET_TENANTS: usize = 200;

/// Which items a listing returns; `None` matches any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemFilter {
    pub status: Option<Status>,
    pub source: Option<Source>,
    pub tenant: Option<String>,
}

/// A position in the newest-first order: a page starts after the item with this
/// `received_at` and `image_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCursor {
    pub received_at: i64,
    pub image_id: String,
}

impl ListCursor {
    /// The cursor as text for a URL: `<received_at>.<image_id>`.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.received_at, self.image_id)
    }

    /// The cursor from its [`encode`](Self::encode)d text, `None` if it is not one.
    pub fn decode(text: &str) -> Option<ListCursor> {
        let (at, id) = text.split_once('.')?;
        let received_at = at.parse().ok()?;
        crate::handlers::is_valid_image_id(id).then(|| ListCursor {
            received_at,
            image_id: id.to_owned(),
        })
    }

    fn of(item: &ImageItem) -> ListCursor {
        ListCursor {
            received_at: item.received_at,
            image_id: item.image_id.clone(),
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemPage {
    /// Newest first (by `received_at`, then `image_id`, both descending).
    pub items: Vec<ImageItem>,
    /// How many items match the filter, on all pages.
    pub total: u64,
    /// Where the next (older) page starts; `None` on the last page.
    pub next: Option<ListCursor>,
}

/// Counts of all items, for the console's filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemFacets {
    pub total: u64,
    /// Every status present, in lifecycle order.
    pub statuses: Vec<(Status, u64)>,
    /// Every source present.
    pub sources: Vec<(Source, u64)>,
    /// The most frequent tenants (at most [`MAX_FACET_TENANTS`]), most frequent first.
    pub tenants: Vec<(String, u64)>,
}

/// The `WHERE` clause of a filter over parameters ?1 status, ?2 source, ?3 tenant.
const FILTER: &str = "(?1 IS NULL OR json_extract(item, '$.status.S') = ?1)
    AND (?2 IS NULL OR json_extract(item, '$.source.S') = ?2)
    AND (?3 IS NULL OR json_extract(item, '$.tenant.S') = ?3)";

impl EmbeddedStore {
    /// Creates the index [`list_items`](Self::list_items) reads pages from, if it is not
    /// there yet. Optional: without it listings are correct but sort every item.
    pub async fn prepare_listing(&self) -> Result<(), StoreError> {
        self.run("prepare_listing", |conn, _| {
            conn.execute_batch(&format!(
                "CREATE INDEX IF NOT EXISTS items_newest_first
                 ON items ({RECEIVED_AT} DESC, image_id DESC)"
            ))
            .map_err(backend("prepare_listing"))
        })
        .await
    }

    /// Up to `limit` (1 to [`MAX_PAGE`]) items matching `filter`, newest first, starting
    /// after `after` (from the newest when `None`).
    pub async fn list_items(
        &self,
        filter: &ItemFilter,
        after: Option<&ListCursor>,
        limit: usize,
    ) -> Result<ItemPage, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let status = filter.status.map(Status::as_str);
        let source = filter.source.map(Source::as_str);
        let tenant = filter.tenant.clone();
        let after = after.cloned();
        self.run("list_items", move |conn, _| {
            let op = backend("list_items");
            let (after_at, after_id) = match &after {
                Some(c) => (Some(c.received_at), Some(c.image_id.clone())),
                None => (None, None),
            };
            // One more than asked tells whether an older page exists.
            let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT image_id, item FROM items
                     WHERE {FILTER}
                       AND (?4 IS NULL OR {RECEIVED_AT} < ?4
                            OR ({RECEIVED_AT} = ?4 AND image_id < ?5))
                     ORDER BY {RECEIVED_AT} DESC, image_id DESC
                     LIMIT ?6"
                ))
                .map_err(&op)?;
            let rows = stmt
                .query_map(
                    params![status, source, tenant, after_at, after_id, fetch],
                    |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
                )
                .map_err(&op)?;
            let mut items = Vec::with_capacity(limit + 1);
            for row in rows {
                let (image_id, json) = row.map_err(&op)?;
                items.push(decode(&image_id, &json)?);
            }
            let next = if items.len() > limit {
                items.truncate(limit);
                items.last().map(ListCursor::of)
            } else {
                None
            };
            let total = conn
                .prepare_cached(&format!("SELECT count(*) FROM items WHERE {FILTER}"))
                .and_then(|mut stmt| {
                    stmt.query_row(params![status, source, tenant], |row| row.get::<_, i64>(0))
                })
                .map_err(&op)?;
            Ok(ItemPage {
                items,
                total: u64::try_from(total).unwrap_or(0),
                next,
            })
        })
        .await
    }

    /// How many items there are by status and by source, and the most frequent tenants.
    pub async fn item_facets(&self) -> Result<ItemFacets, StoreError> {
        self.run("item_facets", |conn, _| {
            let op = backend("item_facets");
            let counts = |sql: &str| -> Result<Vec<(Option<String>, u64)>, StoreError> {
                let mut stmt = conn.prepare_cached(sql).map_err(&op)?;
                let rows = stmt
                    .query_map([], |row| {
                        Ok((row.get::<_, Option<String>>(0)?, row.get::<_, i64>(1)?))
                    })
                    .map_err(&op)?;
                rows.map(|r| {
                    r.map(|(k, n)| (k, u64::try_from(n).unwrap_or(0)))
                        .map_err(&op)
                })
                .collect()
            };
            let by_status =
                counts("SELECT json_extract(item, '$.status.S'), count(*) FROM items GROUP BY 1")?;
            let by_source =
                counts("SELECT json_extract(item, '$.source.S'), count(*) FROM items GROUP BY 1")?;
            let tenants = counts(&format!(
                "SELECT json_extract(item, '$.tenant.S') AS t, count(*) AS n FROM items
                 WHERE t IS NOT NULL GROUP BY t ORDER BY n DESC, t LIMIT {MAX_FACET_TENANTS}"
            ))?;
            let mut facets = ItemFacets {
                total: by_status.iter().map(|(_, n)| n).sum(),
                ..ItemFacets::default()
            };
            for status in Status::ALL {
                if let Some((_, n)) = by_status
                    .iter()
                    .find(|(s, _)| s.as_deref() == Some(status.as_str()))
                {
                    facets.statuses.push((status, *n));
                }
            }
            for source in [Source::Api, Source::Kafka] {
                if let Some((_, n)) = by_source
                    .iter()
                    .find(|(s, _)| s.as_deref() == Some(source.as_str()))
                {
                    facets.sources.push((source, *n));
                }
            }
            facets.tenants = tenants
                .into_iter()
                .filter_map(|(t, n)| t.map(|t| (t, n)))
                .collect();
            Ok(facets)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::model::ImageItem;
    use crate::store::MetadataStore;

    fn store() -> EmbeddedStore {
        let clock = Arc::new(|| Utc.timestamp_millis_opt(1_795_525_200_000).unwrap());
        EmbeddedStore::open_in_memory("imglake-images", clock).unwrap()
    }

    /// `n` items received a millisecond apart (item i at t0 + i), tenants t0/t1/t2 in turn,
    /// every third from Kafka; items 0, 4, 8, … rejected.
    async fn filled(n: i64) -> EmbeddedStore {
        let store = store();
        let t0 = Utc.timestamp_millis_opt(1_795_525_200_000).unwrap();
        for i in 0..n {
            let source = if i % 3 == 0 {
                Source::Kafka
            } else {
                Source::Api
            };
            let at = t0 + chrono::Duration::milliseconds(i);
            let item = ImageItem::received(
                format!("img-{i:05}"),
                source,
                "ref",
                format!("t{}", i % 3),
                at,
                Duration::from_secs(3600),
            );
            store.put_new(&item).await.unwrap();
            if i % 4 == 0 {
                let mut rejected = item.clone();
                rejected.status = Status::Rejected;
                rejected.error_code = Some("unknown_type".into());
                rejected.error_message = Some("not an image".into());
                store
                    .transition(&item.image_id, Status::Received, &rejected)
                    .await
                    .unwrap();
            }
        }
        store
    }

    fn ids(page: &ItemPage) -> Vec<&str> {
        page.items.iter().map(|i| i.image_id.as_str()).collect()
    }

    async fn walk(store: &EmbeddedStore, filter: &ItemFilter, limit: usize) -> Vec<String> {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .list_items(filter, after.as_ref(), limit)
                .await
                .unwrap();
            all.extend(page.items.iter().map(|i| i.image_id.clone()));
            match page.next {
                Some(next) => after = Some(next),
                None => return all,
            }
        }
    }

    #[tokio::test]
    async fn pages_run_newest_first_without_gaps_or_repeats() {
        for indexed in [false, true] {
            let store = filled(23).await;
            if indexed {
                store.prepare_listing().await.unwrap();
            }
            let first = store
                .list_items(&ItemFilter::default(), None, 5)
                .await
                .unwrap();
            assert_eq!(
                ids(&first),
                [
                    "img-00022",
                    "img-00021",
                    "img-00020",
                    "img-00019",
                    "img-00018"
                ]
            );
            assert_eq!(first.total, 23);
            let all = walk(&store, &ItemFilter::default(), 5).await;
            let expected: Vec<String> = (0..23).rev().map(|i| format!("img-{i:05}")).collect();
            assert_eq!(all, expected, "indexed: {indexed}");
        }
    }

    #[tokio::test]
    async fn equal_receive_times_are_ordered_by_id_and_not_skipped() {
        let store = store();
        let at = Utc.timestamp_millis_opt(1_795_525_200_000).unwrap();
        for id in ["b", "a", "c", "e", "d"] {
            let item = ImageItem::received(id, Source::Api, "r", "t", at, Duration::from_secs(60));
            store.put_new(&item).await.unwrap();
        }
        assert_eq!(
            walk(&store, &ItemFilter::default(), 2).await,
            ["e", "d", "c", "b", "a"]
        );
    }

    #[tokio::test]
    async fn filters_combine_and_count_every_match() {
        let store = filled(24).await;
        store.prepare_listing().await.unwrap();
        let filter = ItemFilter {
            status: Some(Status::Rejected),
            source: Some(Source::Kafka),
            tenant: None,
        };
        // Rejected: 0, 4, 8, 12, 16, 20; of those from Kafka (i % 3 == 0): 0, 12.
        let page = store.list_items(&filter, None, 50).await.unwrap();
        assert_eq!(ids(&page), ["img-00012", "img-00000"]);
        assert_eq!(page.total, 2);
        assert_eq!(page.next, None);
        let tenant = ItemFilter {
            tenant: Some("t1".into()),
            ..ItemFilter::default()
        };
        let all = walk(&store, &tenant, 3).await;
        assert_eq!(all.len(), 8);
        assert!(all.iter().all(|id| {
            let i: i64 = id[4..].parse().unwrap();
            i % 3 == 1
        }));
        let none = ItemFilter {
            tenant: Some("nobody".into()),
            ..ItemFilter::default()
        };
        let empty = store.list_items(&none, None, 10).await.unwrap();
        assert!(empty.items.is_empty() && empty.total == 0 && empty.next.is_none());
    }

    #[tokio::test]
    async fn facets_count_statuses_sources_and_tenants() {
        let store = filled(24).await;
        let facets = store.item_facets().await.unwrap();
        assert_eq!(facets.total, 24);
        assert_eq!(
            facets.statuses,
            [(Status::Received, 18), (Status::Rejected, 6)]
        );
        assert_eq!(facets.sources, [(Source::Api, 16), (Source::Kafka, 8)]);
        assert_eq!(
            facets.tenants,
            [
                ("t0".to_owned(), 8),
                ("t1".to_owned(), 8),
                ("t2".to_owned(), 8)
            ]
        );
    }

    #[test]
    fn cursors_round_trip_and_refuse_what_is_not_one() {
        let cursor = ListCursor {
            received_at: 1_795_525_200_123,
            image_id: "01JABC".into(),
        };
        assert_eq!(ListCursor::decode(&cursor.encode()), Some(cursor));
        for bad in ["", "x.01JABC", "123", "123.", "123.a/b", "123.a'--"] {
            assert_eq!(ListCursor::decode(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn the_index_serves_the_listing_order() {
        let store = filled(3).await;
        store.prepare_listing().await.unwrap();
        // Calling it again is harmless.
        store.prepare_listing().await.unwrap();
        let plan: Vec<String> = store
            .run("plan", |conn, _| {
                let mut stmt = conn
                    .prepare(&format!(
                        "EXPLAIN QUERY PLAN SELECT image_id FROM items
                         ORDER BY {RECEIVED_AT} DESC, image_id DESC LIMIT 5"
                    ))
                    .unwrap();
                let rows = stmt
                    .query_map([], |row| row.get::<_, String>(3))
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                Ok(rows)
            })
            .await
            .unwrap();
        let plan = plan.join("\n");
        assert!(plan.contains("items_newest_first"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }
}
