//! The scheduled `compact` Lambda: configuration from the environment and the handler, which
//! compacts the lake partitions of the previous hours. The binary's `main` only wires these to
//! `lambda_runtime`.

use imglake_exporter::compact::{
    compact_partition, parse_size, CompactError, CompactOptions, PartitionReport,
    DEFAULT_TARGET_BYTES,
};
use imglake_exporter::lake::Lake;
use imglake_exporter::layout::Partition;

use crate::stream_export::{Config, ConfigError};

/// Environment variable: how many past hours the scheduled `compact` Lambda compacts.
pub const ENV_COMPACT_HOURS: &str = "IMGLAKE_COMPACT_HOURS";
/// Environment variable: target size of compacted files, e.g. `128MB`.
pub const ENV_COMPACT_TARGET_SIZE: &str = "IMGLAKE_COMPACT_TARGET_SIZE";

/// Configuration of the scheduled `compact` Lambda.
#[derive(Debug, Clone)]
pub struct CompactConfig {
    pub lake_url: String,
    /// Partitions of the last `hours` complete hours are compacted on each run.
    pub hours: u32,
    pub options: CompactOptions,
}

impl CompactConfig {
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<CompactConfig, ConfigError> {
        let base = Config::from_lookup(&var)?;
        let hours = match var(ENV_COMPACT_HOURS) {
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|h| (1..=168).contains(h))
                .ok_or_else(|| {
                    ConfigError::Invalid(format!("{ENV_COMPACT_HOURS}: `{v}` is not 1..=168"))
                })?,
            None => 3,
        };
        let target_bytes = match var(ENV_COMPACT_TARGET_SIZE) {
            Some(v) => parse_size(&v)
                .map_err(|e| ConfigError::Invalid(format!("{ENV_COMPACT_TARGET_SIZE}: {e}")))?,
            None => DEFAULT_TARGET_BYTES,
        };
        Ok(CompactConfig {
            lake_url: base.lake_url,
            hours,
            options: CompactOptions {
                target_bytes,
                compression: base.compression,
            },
        })
    }
}

/// Compacts the partitions of the `hours` complete hours before `now_ms` (the current hour is
/// still being written and is left alone).
pub async fn handle_compact(
    lake: &Lake,
    config: &CompactConfig,
    now_ms: i64,
) -> Result<Vec<PartitionReport>, CompactFailed> {
    let mut reports = Vec::new();
    for back in 1..=i64::from(config.hours) {
        let Some(partition) = Partition::of_millis(now_ms - back * 3_600_000) else {
            continue;
        };
        let report = compact_partition(&lake.store, &lake.root, partition, config.options).await?;
        tracing::info!(
            partition = %report.partition,
            input_files = report.input_files,
            output_files = report.output_files,
            rows = report.output_rows,
            duplicates_removed = report.duplicates_removed,
            "compacted"
        );
        reports.push(report);
    }
    Ok(reports)
}

/// A failed compaction run (the schedule runs it again; compaction is safe to re-run).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct CompactFailed(#[from] pub CompactError);

impl From<CompactFailed> for lambda_runtime::Diagnostic {
    fn from(err: CompactFailed) -> Self {
        lambda_runtime::Diagnostic {
            error_type: "imglake.CompactError".to_owned(),
            error_message: err.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use imglake_exporter::export::ExportOptions;
    use serde_json::value::RawValue;

    use super::*;
    use crate::stream_export::tests::lookup;
    use crate::stream_export::{handle, ENV_LAKE_URL};

    const LIFECYCLE: &[u8] = include_bytes!("../../exporter/tests/fixtures/lambda_lifecycle.json");

    #[test]
    fn config_errors_name_the_variable() {
        let err = CompactConfig::from_lookup(lookup(&[
            (ENV_LAKE_URL, "s3://b/l"),
            (ENV_COMPACT_HOURS, "0"),
        ]))
        .unwrap_err();
        assert!(err.to_string().starts_with(ENV_COMPACT_HOURS), "{err}");
        let ok = CompactConfig::from_lookup(lookup(&[
            (ENV_LAKE_URL, "s3://b/l"),
            (ENV_COMPACT_TARGET_SIZE, "64MB"),
        ]))
        .unwrap();
        assert_eq!((ok.hours, ok.options.target_bytes), (3, 64 << 20));
    }

    #[tokio::test]
    async fn scheduled_compaction_covers_the_previous_hours_only() {
        let dir = tempfile::tempdir().unwrap();
        let lake_url = dir.path().display().to_string();
        let exporter = Config::from_lookup(lookup(&[(ENV_LAKE_URL, &lake_url)]))
            .unwrap()
            .exporter()
            .unwrap();
        // Two exports of the 10h records under different stream labels: duplicates in 2 files.
        let event: Box<RawValue> = serde_json::from_slice(LIFECYCLE).unwrap();
        handle(&exporter, None, &event, 1).await.unwrap();
        let lake = Lake::open(&lake_url).unwrap();
        let relabelled = lake.exporter(ExportOptions {
            stream_override: Some("replay".into()),
            ..ExportOptions::default()
        });
        relabelled
            .export(imglake_exporter::Source::Document(LIFECYCLE), 2)
            .await
            .unwrap();
        let config = CompactConfig::from_lookup(lookup(&[
            (ENV_LAKE_URL, &lake_url),
            (ENV_COMPACT_HOURS, "1"),
        ]))
        .unwrap();
        // "Now" is 2026-11-24T11:30Z: only the 10h partition is in the window.
        let reports = handle_compact(&lake, &config, 1_795_519_800_000)
            .await
            .unwrap();
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].partition, "dt=2026-11-24/hour=10");
        assert_eq!((reports[0].input_rows, reports[0].output_rows), (6, 3));
        let nine = dir.path().join("image_events/dt=2026-11-24/hour=09");
        assert_eq!(
            std::fs::read_dir(nine).unwrap().count(),
            2,
            "outside the window: untouched"
        );
    }
}
