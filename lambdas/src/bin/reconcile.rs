//! `reconcile` Lambda, run on a schedule: reconciles the lake with the newest full table export
//! and starts the next. Wiring only; the handler lives in `imglake_lambdas::reconcile`.

use imglake_exporter::Lake;
use imglake_lambdas::logging::init_json_tracing;
use imglake_lambdas::reconcile::{handle_reconcile, ReconcileConfig};
use imglake_lambdas::stream_export::ConfigError;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_json_tracing();
    let config = ReconcileConfig::from_lookup(|k| std::env::var(k).ok())?;
    let lake = Lake::open(&config.lake_url).map_err(ConfigError::from)?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = aws_sdk_dynamodb::Client::new(&aws);
    let (client, lake, config) = (&client, &lake, &config);
    run(service_fn(
        move |_event: LambdaEvent<serde_json::Value>| async move {
            let now_ms = chrono::Utc::now().timestamp_millis();
            handle_reconcile(client, lake, config, now_ms).await
        },
    ))
    .await
}
