//! `imglake redrive`: the on-failure queue's stream batches, read again and exported.

use std::process::ExitCode;

use imglake_exporter::aws_json::AwsJson;
use imglake_exporter::redrive::{redrive, RedriveOptions};
use imglake_exporter::{ExportOptions, Lake};

use crate::cli::RedriveArgs;

pub async fn run(args: RedriveArgs) -> anyhow::Result<ExitCode> {
    let aws = AwsJson::from_env()?;
    let lake = Lake::open(&args.lake)?;
    let exporter = lake.exporter(ExportOptions {
        compression: args.compression,
        ..ExportOptions::default()
    });
    let options = RedriveOptions {
        queue_url: args.queue.clone(),
        stream_arn: args.stream_arn.clone(),
        max_messages: args.max_messages,
        visibility_timeout_secs: args.visibility_timeout,
    };
    let report = redrive(
        &aws,
        &exporter,
        &options,
        chrono::Utc::now().timestamp_millis(),
    )
    .await?;
    let code =
        if report.aged_out.is_empty() && report.failed.is_empty() && report.incomplete.is_none() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    if args.json {
        #[derive(serde::Serialize)]
        struct Out<'a> {
            #[serde(flatten)]
            report: &'a imglake_exporter::redrive::RedriveReport,
            backfill_window: Option<(String, String)>,
        }
        let out = Out {
            report: &report,
            backfill_window: report.backfill_window(),
        };
        outln!("{}", serde_json::to_string(&out)?);
        return Ok(code);
    }
    if report.messages == 0 {
        outln!(
            "the queue {} has no messages: nothing to redrive",
            args.queue
        );
        return Ok(code);
    }
    outln!(
        "{} messages: {} batches redriven ({} records: {} rows written, {} quarantined, {} objects) and deleted from the queue",
        report.messages,
        report.redriven,
        report.records,
        report.rows_written,
        report.quarantined,
        report.files.len()
    );
    if report.other_streams > 0 {
        outln!(
            "  {} messages of other streams left in the queue (redrive them with their --stream-arn)",
            report.other_streams
        );
    }
    for failed in &report.failed {
        outln!(
            "  left in the queue: message {}: {}",
            failed.message_id,
            failed.reason
        );
    }
    for aged in &report.aged_out {
        outln!(
            "  aged out of the stream, left in the queue: message {} (shard {}, sequence numbers {} .. {}): {}",
            aged.message_id,
            aged.batch.shard_id,
            aged.batch.start_sequence_number,
            aged.batch.end_sequence_number,
            aged.reason
        );
    }
    if let Some(why) = &report.incomplete {
        outln!("  not finished: {why}");
    }
    if !report.aged_out.is_empty() {
        match report.backfill_window() {
            Some((from, to)) => outln!(
                "backfill the window {from} .. {to}: export the table incrementally over it (ExportFromTime at or before {from}, ExportToTime after {to}; one export covers 15 minutes to 24 hours), run imglake backfill --export <the export's folder> --lake {lake}, then purge these messages",
                lake = args.lake
            ),
            None => outln!(
                "the messages do not say when their records arrived: backfill from a full export (imglake backfill --export <folder> --lake {}), then delete these messages",
                args.lake
            ),
        }
    }
    Ok(code)
}
