//! `imglake backfill`: a DynamoDB table export's items into the lake.

use std::process::ExitCode;

use imglake_exporter::table_export::{backfill, BackfillOptions, Export};
use imglake_exporter::{ExportOptions, Lake};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::BackfillArgs;

pub async fn run(args: BackfillArgs) -> anyhow::Result<ExitCode> {
    let export = Export::open(&args.export).await?;
    let lake = Lake::open(&args.lake)?;
    let exporter = lake.exporter(ExportOptions {
        compression: args.compression,
        ..ExportOptions::default()
    });
    let bar = progress(export.item_count(), args.json);
    let report = backfill(
        &exporter,
        &export,
        BackfillOptions::default(),
        &mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        },
    )
    .await;
    bar.finish_and_clear();
    let report = report?;
    if args.json {
        outln!("{}", serde_json::to_string(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    let what = match (&report.export_time, &report.window_from, &report.window_to) {
        (Some(at), _, _) => format!("full export at {at}"),
        (None, Some(from), Some(to)) => format!("incremental export of {from} .. {to}"),
        _ => "incremental export".to_owned(),
    };
    outln!("backfilled {} ({what})", report.export_arn);
    outln!(
        "  {} data files, {} lines read: {} rows written, {} quarantined{}",
        report.data_files,
        report.lines_read,
        report.rows_written,
        report.quarantined,
        if report.quarantine_reasons.is_empty() {
            String::new()
        } else {
            format!(
                " ({:?}; see {}/_quarantine/)",
                report.quarantine_reasons, lake.display
            )
        }
    );
    outln!(
        "  {} objects written to {}",
        report.objects_written,
        lake.display
    );
    Ok(ExitCode::SUCCESS)
}

/// Items written so far: a bar on a terminal, nothing otherwise (the report follows).
fn progress(items: u64, quiet: bool) -> ProgressBar {
    if quiet || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(items).with_prefix("backfill");
    if let Ok(style) =
        ProgressStyle::with_template("{prefix:>9} [{bar:30}] {pos}/{len} items ({eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
