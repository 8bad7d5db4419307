//! `imglake query`: SQL over the lake.

use std::process::ExitCode;

use anyhow::Context;
use datafusion::arrow::record_batch::RecordBatch;

use crate::cli::{OutputFormat, QueryArgs};
use crate::engine;

pub async fn run(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let lake = imglake_exporter::Lake::open(&args.lake)?;
    let ctx = engine::session(&lake).await?;
    let df = ctx.sql(&args.sql).await.context("planning the query")?;
    let batches = df.collect().await.context("running the query")?;
    let mut out = std::io::stdout().lock();
    write_batches(&mut out, &batches, args.format)?;
    Ok(ExitCode::SUCCESS)
}

/// Writes query results in the chosen format.
pub fn write_batches(
    out: &mut impl std::io::Write,
    batches: &[RecordBatch],
    format: OutputFormat,
) -> anyhow::Result<()> {
    match format {
        OutputFormat::Table => {
            let table = datafusion::arrow::util::pretty::pretty_format_batches(batches)?;
            writeln!(out, "{table}")?;
        }
        OutputFormat::Csv => {
            let mut writer = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(out);
            for batch in batches {
                writer.write(batch)?;
            }
        }
        OutputFormat::Json => {
            let mut writer = datafusion::arrow::json::LineDelimitedWriter::new(out);
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
        }
    }
    Ok(())
}
