//! When a query over the lake fails, what in the lake makes it fail: files that are not
//! readable Parquet, and partition directories whose names are not `dt=YYYY-MM-DD/hour=HH`.
//! DataFusion's own errors name neither ("Corrupt footer", "Cannot cast string 'bad'").

use datafusion::parquet::file::metadata::ParquetMetaDataReader;
use futures::StreamExt;
use imglake_exporter::Lake;
use object_store::path::Path;
use object_store::ObjectStoreExt;

/// Problems reported at most; the listing stops there.
const MAX_PROBLEMS: usize = 20;

/// A failed query over the lake, with what in the lake broke it when something did (a
/// damaged file, a misnamed partition directory: DataFusion's errors name neither).
pub async fn with_lake_problems(lake: &Lake, err: anyhow::Error) -> anyhow::Error {
    // Only for errors a damaged file or a misnamed directory causes: the diagnosis lists
    // and reads every file's footer, which takes a while on a large s3:// lake.
    let text = format!("{err:#}");
    if !text.contains("Parquet error") && !text.contains("Cannot cast string") {
        return err;
    }
    let problems = lake_problems(lake).await;
    if problems.is_empty() {
        return err;
    }
    err.context(format!(
        "the lake has problems to fix first:\n  {}\n",
        problems.join("\n  ")
    ))
}

/// The problems found under the `image_events` table, one line each, with what to do.
async fn lake_problems(lake: &Lake) -> Vec<String> {
    let table = imglake_exporter::layout::table_prefix(&lake.root);
    let mut listing = lake.store.list(Some(&table));
    let mut problems = Vec::new();
    let mut misnamed = std::collections::HashSet::new();
    while let Some(meta) = listing.next().await {
        let Ok(meta) = meta else { continue };
        let key = meta.location.as_ref();
        if !key.ends_with(".parquet") {
            continue; // the table reads only .parquet files
        }
        let relative = key
            .strip_prefix(table.as_ref())
            .unwrap_or(key)
            .trim_start_matches('/');
        if let Some(problem) = partition_problem(relative) {
            // Once per directory, not per file in it.
            let directory = relative.rsplit_once('/').map_or(relative, |(d, _)| d);
            if misnamed.insert(directory.to_owned()) {
                problems.push(format!("{}: {problem}", lake.location(key)));
            }
        } else if let Err(err) = read_footer(lake, &meta.location, meta.size).await {
            problems.push(format!(
                "{}: not readable Parquet ({err}); move it aside, e.g. under _quarantine/",
                lake.location(key)
            ));
        }
        if problems.len() >= MAX_PROBLEMS {
            break;
        }
    }
    problems
}

/// Reads and decodes a Parquet file's footer (two ranged reads, not the whole file).
async fn read_footer(lake: &Lake, location: &Path, size: u64) -> Result<(), String> {
    if size < 12 {
        return Err(format!("{size} bytes, too short for Parquet"));
    }
    let tail = lake
        .store
        .get_range(location, size - 8..size)
        .await
        .map_err(|e| e.to_string())?;
    if tail.len() != 8 || &tail[4..] != b"PAR1" {
        return Err("no Parquet footer at its end".to_owned());
    }
    let length = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if length + 12 > size {
        return Err(format!(
            "its footer claims {length} bytes of a {size}-byte file"
        ));
    }
    let footer = lake
        .store
        .get_range(location, size - 8 - length..size - 8)
        .await
        .map_err(|e| e.to_string())?;
    ParquetMetaDataReader::decode_metadata(&footer)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Why a file's partition directories break the table, if they do. Folders that are not
/// `name=value` pairs are not partitions, and the table skips their files.
fn partition_problem(relative: &str) -> Option<String> {
    let parts: Vec<&str> = relative.split('/').collect();
    let [dt, hour, _file] = parts.as_slice() else {
        return None;
    };
    let (Some(dt), Some(hour)) = (dt.strip_prefix("dt="), hour.strip_prefix("hour=")) else {
        return None;
    };
    // What the table cannot read: a dt that is not a date, an hour that is not a number
    // (`hour=7` reads as 7, so it does not break queries even if the exporter never writes it).
    let dt_ok = chrono::NaiveDate::parse_from_str(dt, "%Y-%m-%d").is_ok();
    let hour_ok = hour.parse::<i32>().is_ok();
    (!dt_ok || !hour_ok).then(|| {
        format!(
            "partition dt={dt}/hour={hour} is not dt=YYYY-MM-DD/hour=HH; every query over \
             the table fails on it: move the directory out of image_events/"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names_are_checked_only_where_they_are_partitions() {
        assert_eq!(
            partition_problem("dt=2026-11-24/hour=09/part-a.parquet"),
            None
        );
        assert!(partition_problem("dt=bad/hour=09/part-a.parquet").is_some());
        assert!(partition_problem("dt=2026-11-24/hour=xx/part-a.parquet").is_some());
        assert_eq!(
            partition_problem("dt=2026-11-24/hour=7/part-a.parquet"),
            None
        );
        assert!(partition_problem("dt=2026-13-01/hour=07/part-a.parquet").is_some());
        assert_eq!(partition_problem("backup/old/part-a.parquet"), None);
        assert_eq!(partition_problem("part-a.parquet"), None);
    }
}
