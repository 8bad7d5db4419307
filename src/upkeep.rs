//! Keeping `imglake serve`'s lake few-filed while it flushes every few seconds.
//!
//! A flush writes one file per partition (UTC hour) it touches, so a lake flushed every two
//! seconds would gain up to 1 800 small files an hour, and every query lists and opens them
//! all. After each flush serve merges, with the same compaction as `imglake compact`:
//!
//! - a partition holding `max_files` files or more (the hour being written), and
//! - every other partition holding more than one file (hours that are over; only the newest
//!   partition is still being written).
//!
//! The exporter and this run one after the other on the exporter's thread, so a flush never
//! races a compaction; a query that listed a file just replaced retries (the console) or
//! fails with the file named (`imglake query`).

use std::collections::BTreeMap;

use futures::TryStreamExt;
use imglake_exporter::compact::{compact_partition, CompactOptions, PartitionReport};
use imglake_exporter::layout::{table_prefix, Partition};
use imglake_exporter::Lake;

/// The partitions to compact, given each partition's file count: a crowded one, and every
/// other than the newest with more than one file.
fn crowded(counts: &BTreeMap<Partition, usize>, max_files: usize) -> Vec<Partition> {
    let newest = counts.keys().next_back().copied();
    counts
        .iter()
        .filter(|(p, n)| **n >= max_files || (Some(**p) != newest && **n > 1))
        .map(|(p, _)| *p)
        .collect()
}

/// Compacts the partitions of `lake` that need it (see the module docs); `max_files` 0 turns
/// this off.
pub async fn compact_crowded(
    lake: &Lake,
    max_files: usize,
) -> anyhow::Result<Vec<PartitionReport>> {
    if max_files == 0 {
        return Ok(Vec::new());
    }
    let prefix = table_prefix(&lake.root);
    let metas: Vec<_> = match lake.store.list(Some(&prefix)).try_collect().await {
        Ok(m) => m,
        Err(object_store::Error::NotFound { .. }) => return Ok(Vec::new()),
        Err(err) => return Err(err.into()),
    };
    let mut counts: BTreeMap<Partition, usize> = BTreeMap::new();
    for meta in &metas {
        let key = meta.location.as_ref();
        if key.ends_with(".parquet") {
            if let Some(p) = Partition::of_key(key) {
                *counts.entry(p).or_default() += 1;
            }
        }
    }
    let mut reports = Vec::new();
    for partition in crowded(&counts, max_files.max(2)) {
        let report = compact_partition(
            &lake.store,
            &lake.root,
            partition,
            CompactOptions::default(),
        )
        .await?;
        tracing::info!(
            partition = report.partition,
            input_files = report.input_files,
            output_files = report.output_files,
            rows = report.output_rows,
            duplicates_removed = report.duplicates_removed,
            "compacted a partition of the lake"
        );
        reports.push(report);
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(dt: &str, hour: u32) -> Partition {
        Partition::of_date_hour(dt, hour).unwrap()
    }

    #[test]
    fn the_hour_being_written_waits_for_max_files_and_past_hours_merge_at_two() {
        let counts = BTreeMap::from([
            (p("2026-12-01", 22), 1),
            (p("2026-12-01", 23), 2),
            (p("2026-12-02", 0), 31),
        ]);
        assert_eq!(crowded(&counts, 32), vec![p("2026-12-01", 23)]);
        let counts = BTreeMap::from([(p("2026-12-01", 23), 1), (p("2026-12-02", 0), 32)]);
        assert_eq!(crowded(&counts, 32), vec![p("2026-12-02", 0)]);
        assert!(crowded(&BTreeMap::new(), 32).is_empty());
    }
}
