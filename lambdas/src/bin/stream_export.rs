//! `stream-export` Lambda: DynamoDB Streams → Parquet lake (and Glue partitions, when
//! configured). Wiring only; the handler lives in `imglake_lambdas::stream_export`.

use imglake_lambdas::glue::GlueCatalog;
use imglake_lambdas::logging::init_json_tracing;
use imglake_lambdas::stream_export::{handle, Config};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::value::RawValue;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_json_tracing();
    let config = Config::from_lookup(|k| std::env::var(k).ok())?;
    let exporter = config.exporter()?;
    let catalog = match config.glue.clone() {
        Some((database, table)) => Some(GlueCatalog::from_env(database, table).await),
        None => None,
    };
    let (exporter, catalog) = (&exporter, catalog.as_ref());
    run(service_fn(
        // The payload stays raw JSON: the exporter decodes it in one pass.
        move |event: LambdaEvent<Box<RawValue>>| async move {
            let now_ms = chrono::Utc::now().timestamp_millis();
            handle(exporter, catalog, &event.payload, now_ms).await
        },
    ))
    .await
}
