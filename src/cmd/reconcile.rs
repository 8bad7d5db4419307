//! `imglake reconcile`: the lake against a full table export; exit 3 on drift, 1 on an error
//! (as every command), so that a schedule tells "the lake needs repair" from "reconcile could
//! not run".

use std::process::ExitCode;

use imglake_exporter::table_export::{reconcile, Export, ReconcileOptions};

use crate::cli::ReconcileArgs;

/// Exit status on drift: 1 is an error (every command's), 2 a usage error (clap's).
pub const DRIFT_EXIT: u8 = 3;

pub async fn run(args: ReconcileArgs) -> anyhow::Result<ExitCode> {
    let export = Export::open(&args.export).await?;
    let lake = super::open_existing_lake(&args.lake, super::Needs::Directory).await?;
    let options = ReconcileOptions {
        window_ms: i64::try_from(args.window.as_millis()).unwrap_or(i64::MAX),
        examples: args.examples,
    };
    let report = reconcile(&lake, &export, options).await?;
    let code = if report.drift == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(DRIFT_EXIT)
    };
    if args.json {
        outln!("{}", serde_json::to_string(&report)?);
        return Ok(code);
    }
    outln!(
        "reconciled {} with {} as of {}",
        lake.display,
        report.export_arn,
        report.export_time
    );
    outln!(
        "  table: {} items; lake: {} images alive",
        report.table_items,
        report.lake_images
    );
    outln!(
        "  missing from the lake:          {}",
        report.missing_from_lake
    );
    outln!("  attributes differ:              {}", report.differs);
    outln!(
        "  alive in the lake, gone from the table: {}",
        report.gone_from_table
    );
    outln!(
        "  not drift: {} expired (their TTL removal is on its way), {} changed in the export's second",
        report.expired,
        report.changed_at_export_time
    );
    if report.unmappable_lines > 0 {
        outln!(
            "  {} lines of the export could not be mapped (a backfill quarantines them)",
            report.unmappable_lines
        );
    }
    for example in &report.examples {
        outln!("  {} {}:", example.kind, example.image_id);
        for (column, lake, table) in &example.columns {
            let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".to_owned());
            outln!("    {column}: lake {}, table {}", show(lake), show(table));
        }
    }
    if report.drift == 0 {
        outln!("no drift");
    } else {
        outln!(
            "drift: {} images (backfill the export, or an incremental export of the missing window, to repair)",
            report.drift
        );
    }
    Ok(code)
}
