//! The scheduled `reconcile` Lambda: each run reconciles the lake with the newest completed
//! full table export it had started (and writes the report beside the export), then starts the
//! next export unless one is still running. The binary's `main` only wires this to
//! `lambda_runtime`.
//!
//! Exports are DynamoDB's export to S3 (`ExportTableToPointInTime`, `DYNAMODB_JSON`, a full
//! snapshot from point-in-time recovery) into `IMGLAKE_EXPORT_BUCKET` under
//! `IMGLAKE_EXPORT_PREFIX`; the report is `imglake-reconcile.json` in the export's folder, so a
//! retried run does not reconcile the same export twice.

use aws_sdk_dynamodb::types::{ExportFormat, ExportStatus, ExportType, S3SseAlgorithm};
use imglake_exporter::lake::Lake;
use imglake_exporter::table_export::{reconcile, Export, ReconcileOptions, ReconcileReport};
use serde::Serialize;
use serde_json::json;

use crate::emf;
use crate::stream_export::{ConfigError, ENV_LAKE_URL};

pub const ENV_TABLE_ARN: &str = "IMGLAKE_TABLE_ARN";
pub const ENV_EXPORT_BUCKET: &str = "IMGLAKE_EXPORT_BUCKET";
pub const ENV_EXPORT_PREFIX: &str = "IMGLAKE_EXPORT_PREFIX";
pub const ENV_EXPORT_KMS_KEY_ARN: &str = "IMGLAKE_EXPORT_KMS_KEY_ARN";
/// The items' lifetime in days (as the pipeline functions'): the lake is read this long plus
/// [`TTL_DELETION_LAG_DAYS`] before the export time, so every live image's last change is in it.
pub use crate::config::ENV_METADATA_TTL_DAYS;
/// Days DynamoDB's TTL may take to delete an expired item (typically within a few days).
pub const TTL_DELETION_LAG_DAYS: i64 = 3;

/// The report's name in the export's folder.
pub const REPORT_NAME: &str = "imglake-reconcile.json";

/// Configuration of the `reconcile` Lambda.
#[derive(Debug, Clone)]
pub struct ReconcileConfig {
    pub lake_url: String,
    pub table_arn: String,
    pub bucket: String,
    /// Prefix of the exports, without a trailing slash (may be empty).
    pub prefix: String,
    pub kms_key_arn: Option<String>,
    /// How far before the export time the lake is read: the items' TTL plus
    /// [`TTL_DELETION_LAG_DAYS`] (10 days for the default 7-day TTL).
    pub window_ms: i64,
}

impl ReconcileConfig {
    pub fn from_lookup(
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<ReconcileConfig, ConfigError> {
        let need = |name: &'static str, what: &str| {
            var(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| ConfigError::Invalid(format!("{name} is not set: set it to {what}")))
        };
        Ok(ReconcileConfig {
            lake_url: need(ENV_LAKE_URL, "the lake location, e.g. s3://bucket/lake")?,
            table_arn: need(ENV_TABLE_ARN, "the metadata table's ARN")?,
            bucket: need(ENV_EXPORT_BUCKET, "the bucket the table exports go to")?,
            prefix: var(ENV_EXPORT_PREFIX)
                .unwrap_or_default()
                .trim_matches('/')
                .to_owned(),
            kms_key_arn: var(ENV_EXPORT_KMS_KEY_ARN).filter(|v| !v.is_empty()),
            window_ms: {
                let days: i64 = crate::config::number(
                    &var,
                    ENV_METADATA_TTL_DAYS,
                    1..=3650,
                    7,
                    "a number of days from 1 to 3650 (the items' TTL)",
                )
                .map_err(|e| ConfigError::Invalid(e.to_string()))?;
                (days + TTL_DELETION_LAG_DAYS) * 24 * 3_600_000
            },
        })
    }
}

/// What one run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReconcileRun {
    /// The export reconciled this run, and its report.
    pub reconciled: Option<ReconcileReport>,
    /// The newest completed export had been reconciled by an earlier run.
    pub already_reconciled: Option<String>,
    /// The export started this run.
    pub started: Option<String>,
    /// An export of an earlier run still running (no new one was started).
    pub in_progress: Option<String>,
}

/// A failed run (the schedule runs it again).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileFailed {
    #[error("DynamoDB {operation}: {message}")]
    DynamoDb {
        operation: &'static str,
        message: String,
    },
    #[error(transparent)]
    Export(#[from] imglake_exporter::table_export::ExportError),
    #[error(transparent)]
    Reconcile(#[from] imglake_exporter::table_export::ReconcileError),
}

impl From<ReconcileFailed> for lambda_runtime::Diagnostic {
    fn from(err: ReconcileFailed) -> Self {
        lambda_runtime::Diagnostic {
            error_type: "imglake.ReconcileError".to_owned(),
            error_message: err.to_string(),
        }
    }
}

/// One export as ListExports and DescribeExport tell it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub arn: String,
    pub status: String,
    pub full: bool,
}

/// The export id's leading digits are its start time in milliseconds: newest first.
fn started_ms(arn: &str) -> u64 {
    let id = arn.rsplit('/').next().unwrap_or_default();
    id.split('-')
        .next()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0)
}

/// The exports to look at, newest first: full ones, completed or in progress.
pub fn newest_first(mut exports: Vec<Listed>) -> Vec<Listed> {
    exports.retain(|e| e.full);
    exports.sort_by_key(|e| std::cmp::Reverse(started_ms(&e.arn)));
    exports
}

/// The export's folder, `s3://bucket/<prefix>/AWSDynamoDB/<id>`, from its manifest's key.
pub fn folder_of(bucket: &str, manifest_key: &str) -> Option<String> {
    let folder = manifest_key.strip_suffix("/manifest-summary.json")?;
    Some(format!("s3://{bucket}/{}", folder.trim_start_matches('/')))
}

fn ddb(operation: &'static str) -> impl Fn(String) -> ReconcileFailed {
    move |message| ReconcileFailed::DynamoDb { operation, message }
}

/// One run, at `now_ms`.
pub async fn handle_reconcile(
    client: &aws_sdk_dynamodb::Client,
    lake: &Lake,
    config: &ReconcileConfig,
    now_ms: i64,
) -> Result<ReconcileRun, ReconcileFailed> {
    let mut listed = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = client
            .list_exports()
            .table_arn(&config.table_arn)
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| {
                ddb("ListExports")(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())
            })?;
        for summary in page.export_summaries() {
            listed.push(Listed {
                arn: summary.export_arn().unwrap_or_default().to_owned(),
                status: summary
                    .export_status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                full: summary
                    .export_type()
                    .is_none_or(|t| *t == ExportType::FullExport),
            });
        }
        match page.next_token() {
            Some(token) => next = Some(token.to_owned()),
            None => break,
        }
    }
    let mut run = ReconcileRun::default();
    for export in newest_first(listed) {
        if export.status == ExportStatus::InProgress.as_str() {
            run.in_progress.get_or_insert(export.arn);
            continue;
        }
        if export.status != ExportStatus::Completed.as_str() {
            continue;
        }
        let described = client
            .describe_export()
            .export_arn(&export.arn)
            .send()
            .await
            .map_err(|e| {
                ddb("DescribeExport")(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())
            })?;
        let Some(description) = described.export_description() else {
            continue;
        };
        // Only the exports this function starts: its bucket and prefix.
        let ours = description.s3_bucket() == Some(config.bucket.as_str())
            && description
                .s3_prefix()
                .unwrap_or_default()
                .trim_matches('/')
                == config.prefix;
        let folder = description
            .export_manifest()
            .and_then(|key| folder_of(&config.bucket, key));
        let (true, Some(folder)) = (ours, folder) else {
            continue;
        };
        let opened = Export::open(&folder).await?;
        if opened.read_beside(REPORT_NAME).await?.is_some() {
            run.already_reconciled = Some(export.arn);
            break;
        }
        let options = ReconcileOptions {
            window_ms: config.window_ms,
            ..ReconcileOptions::default()
        };
        let report = reconcile(lake, &opened, options).await?;
        opened
            .write_beside(
                REPORT_NAME,
                serde_json::to_vec_pretty(&report).unwrap_or_default(),
            )
            .await?;
        println!(
            "{}",
            emf::line(
                now_ms,
                &[("Function", "reconcile")],
                &[("ReconcileDrift", "Count", json!(report.drift))],
            )
        );
        if report.drift > 0 {
            tracing::error!(
                export_arn = %report.export_arn,
                missing_from_lake = report.missing_from_lake,
                differs = report.differs,
                gone_from_table = report.gone_from_table,
                report = %format!("{folder}/{REPORT_NAME}"),
                "the lake drifted from the table: run imglake backfill --export {folder} --lake {}",
                config.lake_url
            );
        } else {
            tracing::info!(export_arn = %report.export_arn, table_items = report.table_items, "no drift");
        }
        run.reconciled = Some(report);
        break;
    }
    if run.in_progress.is_none() {
        let mut request = client
            .export_table_to_point_in_time()
            .table_arn(&config.table_arn)
            .s3_bucket(&config.bucket)
            .s3_prefix(&config.prefix)
            .export_format(ExportFormat::DynamodbJson)
            .export_type(ExportType::FullExport)
            // One export per hour even when a run is retried.
            .client_token(format!("imglake-reconcile-{}", now_ms / 3_600_000));
        if let Some(key) = &config.kms_key_arn {
            request = request
                .s3_sse_algorithm(S3SseAlgorithm::Kms)
                .s3_sse_kms_key_id(key);
        }
        let started = request.send().await.map_err(|e| {
            ddb("ExportTableToPointInTime")(
                aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string(),
            )
        })?;
        run.started = started
            .export_description()
            .and_then(|d| d.export_arn())
            .map(str::to_owned);
        tracing::info!(export_arn = ?run.started, "started the next full export");
    }
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream_export::tests::lookup;

    #[test]
    fn config_names_what_is_missing() {
        let err = ReconcileConfig::from_lookup(lookup(&[(ENV_LAKE_URL, "s3://b/l")])).unwrap_err();
        assert!(err.to_string().starts_with(ENV_TABLE_ARN), "{err}");
        let ok = ReconcileConfig::from_lookup(lookup(&[
            (ENV_LAKE_URL, "s3://b/l"),
            (ENV_TABLE_ARN, "arn:aws:dynamodb:eu-west-1:1:table/t"),
            (ENV_EXPORT_BUCKET, "exports"),
            (ENV_EXPORT_PREFIX, "/reconcile/"),
        ]))
        .unwrap();
        assert_eq!((ok.prefix.as_str(), ok.kms_key_arn), ("reconcile", None));
        assert_eq!(ok.window_ms, 10 * 24 * 3_600_000, "7-day TTL + 3 days");
        let with_ttl = |days: &str| {
            ReconcileConfig::from_lookup(lookup(&[
                (ENV_LAKE_URL, "s3://b/l"),
                (ENV_TABLE_ARN, "arn:aws:dynamodb:eu-west-1:1:table/t"),
                (ENV_EXPORT_BUCKET, "exports"),
                (ENV_METADATA_TTL_DAYS, days),
            ]))
        };
        assert_eq!(with_ttl("30").unwrap().window_ms, 33 * 24 * 3_600_000);
        let err = with_ttl("0").unwrap_err();
        assert!(err.to_string().starts_with(ENV_METADATA_TTL_DAYS), "{err}");
    }

    #[test]
    fn the_newest_full_export_comes_first() {
        let e = |id: &str, status: &str, full| Listed {
            arn: format!("arn:aws:dynamodb:eu-west-1:1:table/t/export/{id}"),
            status: status.to_owned(),
            full,
        };
        let order = newest_first(vec![
            e("01764800000000-aaaaaaaa", "COMPLETED", true),
            e("01764900000000-bbbbbbbb", "COMPLETED", false),
            e("01764850000000-cccccccc", "FAILED", true),
            e("01764700000000-dddddddd", "COMPLETED", true),
        ]);
        let ids: Vec<&str> = order.iter().map(|l| &l.arn[l.arn.len() - 8..]).collect();
        assert_eq!(ids, ["cccccccc", "aaaaaaaa", "dddddddd"]);
    }

    #[test]
    fn the_folder_is_the_manifests_directory() {
        assert_eq!(
            folder_of(
                "b",
                "p/AWSDynamoDB/01764800000000-aaaaaaaa/manifest-summary.json"
            )
            .as_deref(),
            Some("s3://b/p/AWSDynamoDB/01764800000000-aaaaaaaa")
        );
        assert_eq!(folder_of("b", "p/AWSDynamoDB/x/manifest-files.json"), None);
    }
}
