//! `imglake check`: the data-quality checks of `sql/checks` (each returns zero rows when the
//! lake is healthy) run against a local or `s3://` lake.

use std::process::ExitCode;

use anyhow::Context;
use datafusion::arrow::util::pretty::pretty_format_batches;

use crate::cli::CheckArgs;
use crate::engine;
use crate::sql::CHECKS;

pub async fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let lake = super::open_existing_lake(&args.lake, super::Needs::Table).await?;
    let ctx = engine::session(&lake).await?;
    let mut failed = Vec::new();
    for check in CHECKS {
        let df = ctx
            .sql(&check.for_datafusion())
            .await
            .with_context(|| format!("planning {}", check.path))?;
        let batches = match df
            .limit(0, Some(args.show_rows as usize + 1))?
            .collect()
            .await
        {
            Ok(batches) => batches,
            Err(err) => {
                return Err(crate::diagnose::with_lake_problems(&lake, err.into())
                    .await
                    .context(format!("running {}", check.path)))
            }
        };
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        if rows == 0 {
            outln!("ok    {}", check.name);
            continue;
        }
        let more = if rows > args.show_rows as usize {
            "more than "
        } else {
            ""
        };
        outln!(
            "FAIL  {}: {more}{} rows ({})",
            check.name,
            rows.min(args.show_rows as usize),
            check.path
        );
        let shown: Vec<_> = batches
            .iter()
            .scan(args.show_rows as usize, |left, b| {
                let take = (*left).min(b.num_rows());
                *left -= take;
                (take > 0).then(|| b.slice(0, take))
            })
            .collect();
        outln!("{}", pretty_format_batches(&shown)?);
        failed.push(check.name);
    }
    if failed.is_empty() {
        outln!("all {} checks passed on {}", CHECKS.len(), lake.display);
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "error: {} of {} checks found problems in {}: {} (each check's SQL is in sql/checks)",
            failed.len(),
            CHECKS.len(),
            lake.display,
            failed.join(", ")
        );
        Ok(ExitCode::FAILURE)
    }
}
