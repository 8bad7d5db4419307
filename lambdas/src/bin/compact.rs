//! `compact` Lambda, run on a schedule: compacts the lake partitions of the previous hours.
//! Wiring only; the handler lives in `imglake_lambdas::compact`.

use imglake_exporter::Lake;
use imglake_lambdas::compact::{handle_compact, CompactConfig};
use imglake_lambdas::logging::init_json_tracing;
use imglake_lambdas::stream_export::ConfigError;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_json_tracing();
    let config = CompactConfig::from_lookup(|k| std::env::var(k).ok())?;
    let lake = Lake::open(&config.lake_url).map_err(ConfigError::from)?;
    let (lake, config) = (&lake, &config);
    run(service_fn(
        move |_event: LambdaEvent<serde_json::Value>| async move {
            let now_ms = chrono::Utc::now().timestamp_millis();
            handle_compact(lake, config, now_ms).await
        },
    ))
    .await
}
