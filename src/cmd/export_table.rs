//! `imglake export-table`: the embedded store as a DynamoDB table export.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use imglake_pipeline::store::{EmbeddedStore, DEFAULT_TABLE_NAME};
use imglake_pipeline::table_export::{write_table_export, ExportRequest};

use crate::cli::ExportTableArgs;

pub async fn run(args: ExportTableArgs) -> anyhow::Result<ExitCode> {
    let path = args.data_dir.join("metadata.sqlite3");
    if !path.is_file() {
        anyhow::bail!(
            "no metadata store at {} (`imglake demo` or `imglake serve` make one; choose the data directory with --data-dir)",
            path.display()
        );
    }
    let store = EmbeddedStore::open(&path, DEFAULT_TABLE_NAME, Arc::new(chrono::Utc::now))
        .with_context(|| format!("opening {}", path.display()))?;
    let request = match (args.from, args.to) {
        (Some(from), Some(to)) => ExportRequest::Incremental { from, to },
        _ => ExportRequest::Full,
    };
    let written = write_table_export(&store, DEFAULT_TABLE_NAME, &args.out, request).await?;
    outln!(
        "wrote {} items in {} data files: {}",
        written.items,
        written.data_files,
        written.folder.display()
    );
    outln!(
        "  backfill:  imglake backfill --export {} --lake LAKE",
        written.folder.display()
    );
    Ok(ExitCode::SUCCESS)
}
