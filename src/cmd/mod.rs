//! One module per subcommand.

pub mod backfill;
pub mod check;
pub mod compact;
pub mod demo;
pub mod export;
pub mod export_table;
pub mod kafka_send;
pub mod process;
pub mod query;
pub mod reconcile;
pub mod redrive;
pub mod schema;
pub mod serve;
pub mod sql;

use std::path::Path;

use anyhow::bail;
use imglake_exporter::Lake;

/// What a command needs of an existing lake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// The directory; no table yet is an empty lake (queries return no rows).
    Directory,
    /// The `image_events` table: checks that pass on no data would say nothing.
    Table,
}

/// Opens a lake that a command reads or rewrites but never starts: a local lake must be an
/// existing directory (it is not created on the way), so that a mistyped path is an error
/// instead of an empty lake. A data directory given for its `lake/` is named as such.
pub async fn open_existing_lake(location: &str, needs: Needs) -> anyhow::Result<Lake> {
    if location.starts_with("s3://") {
        let lake = Lake::open(location)?;
        if needs == Needs::Table {
            // A bucket has no directories: the table exists when an object is under it.
            use futures::StreamExt;
            let table = imglake_exporter::layout::table_prefix(&lake.root);
            let first = lake.store.list(Some(&table)).next().await.transpose()?;
            if first.is_none() {
                bail!(
                    "no data in the lake at {location}: nothing under {table}/ \
                     (the stream-export function or `imglake export` write it)"
                );
            }
        }
        return Ok(lake);
    }
    if !location.contains("://") || location.starts_with("file://") {
        let dir = Path::new(location.strip_prefix("file://").unwrap_or(location));
        if dir.exists() && !dir.is_dir() {
            bail!("no lake at {location}: it is a file; --lake takes the lake's directory");
        }
        if !dir.is_dir() {
            bail!(
                "no lake at {location}: the directory does not exist \
                 (`imglake demo` writes one to imglake-data/lake)"
            );
        }
        if !dir.join("image_events").is_dir() {
            // The table's own directory, or one of its partitions, given for the lake.
            if let Some(lake) = dir
                .ancestors()
                .find(|a| a.file_name().is_some_and(|n| n == "image_events"))
                .and_then(Path::parent)
            {
                let lake = if lake.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    lake
                };
                bail!(
                    "no lake at {location}: that is inside the image_events table; did you mean {}?",
                    lake.display()
                );
            }
            let nested = dir.join("lake");
            if nested.join("image_events").is_dir() {
                bail!(
                    "no lake at {location}: it has no image_events table; did you mean {}?",
                    nested.display()
                );
            }
            if needs == Needs::Table {
                bail!(
                    "no data in the lake at {location}: it has no image_events table yet \
                     (`imglake export` and `imglake demo` write it)"
                );
            }
        }
    }
    Ok(Lake::open(location)?)
}
