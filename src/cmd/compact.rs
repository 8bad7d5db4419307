//! `imglake compact`: merge small files per partition, without duplicate events.

use std::process::ExitCode;

use imglake_exporter::compact::{compact_partition, list_partitions, CompactError, CompactOptions};

use crate::cli::CompactArgs;

pub async fn run(args: CompactArgs) -> anyhow::Result<ExitCode> {
    let lake = super::open_existing_lake(&args.lake, super::Needs::Directory).await?;
    let partitions = match args.partition {
        Some(p) => vec![p],
        None => list_partitions(lake.store.as_ref(), &lake.root).await?,
    };
    let options = CompactOptions {
        target_bytes: args.target_size,
        compression: args.compression,
    };
    let total = partitions.len();
    for (i, partition) in partitions.into_iter().enumerate() {
        let r = match compact_partition(&lake.store, &lake.root, partition, options).await {
            Ok(r) => r,
            // Name a damaged file where the user can find it (an object key has no leading
            // slash for a local lake).
            Err(CompactError::BadFile { key, message }) => anyhow::bail!(
                "{}: {message} (move the file aside, e.g. to the lake's _quarantine/, and re-run)",
                lake.location(&key)
            ),
            Err(err) => return Err(err.into()),
        };
        if r.input_files == 0 {
            outln!(
                "[{}/{total}] {}: no files (no such partition in {})",
                i + 1,
                r.partition,
                lake.display
            );
        } else if r.skipped {
            outln!(
                "[{}/{total}] {}: already compact ({} rows)",
                i + 1,
                r.partition,
                r.input_rows
            );
        } else {
            outln!(
                "[{}/{total}] {}: {} files, {} rows -> {} files, {} rows ({} duplicates removed)",
                i + 1,
                r.partition,
                r.input_files,
                r.input_rows,
                r.output_files,
                r.output_rows,
                r.duplicates_removed
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
