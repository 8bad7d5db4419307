//! `redrive` Lambda, run on a schedule: exports again the stream batches of the on-failure
//! queue. Wiring only; the handler lives in `imglake_lambdas::redrive`.

use imglake_exporter::aws_json::AwsJson;
use imglake_lambdas::glue::GlueCatalog;
use imglake_lambdas::logging::init_json_tracing;
use imglake_lambdas::redrive::{handle_redrive, RedriveConfig};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_json_tracing();
    let config = RedriveConfig::from_lookup(|k| std::env::var(k).ok())?;
    let exporter = config.base.exporter()?;
    let aws = AwsJson::from_env()?;
    let catalog = match config.base.glue.clone() {
        Some((database, table)) => Some(GlueCatalog::from_env(database, table).await),
        None => None,
    };
    let (aws, exporter, catalog, config) = (&aws, &exporter, catalog.as_ref(), &config);
    run(service_fn(
        move |_event: LambdaEvent<serde_json::Value>| async move {
            let now_ms = chrono::Utc::now().timestamp_millis();
            handle_redrive(aws, exporter, catalog, config, now_ms).await
        },
    ))
    .await
}
