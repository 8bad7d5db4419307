//! `kafka-ingest` Lambda: MSK / self-managed Kafka batches (image bytes or S3 claim-checks)
//! → raw bucket + metadata table. Wiring only; the handler is `Pipeline::handle_kafka`. The
//! response is the batch report with a partial batch response: records that need a retry are
//! `batchItemFailures`, which the event source mapping delivers again. When every record needs
//! one, the invocation fails instead (the error alarm fires; the mapping retries the batch).

use std::sync::Arc;
use std::time::Instant;

use aws_lambda_events::kafka::KafkaEvent;
use imglake_lambdas::config::Config;
use imglake_lambdas::invocation::{kafka_result, print_metrics};
use imglake_pipeline::handlers::metrics::Outcomes;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    imglake_lambdas::logging::init_json_tracing();
    let config = Config::from_lookup(|k| std::env::var(k).ok())?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let pipeline = config.pipeline(&sdk, Arc::new(chrono::Utc::now), None)?;
    let pipeline = &pipeline;
    run(service_fn(
        move |event: LambdaEvent<KafkaEvent>| async move {
            let started = Instant::now();
            let mut outcomes = Outcomes::default();
            let report = // Boxed: the handler future over the SDK clients is too deeply nested
            // for the compiler's layout queries when inlined into main's future.
            Box::pin(pipeline.handle_kafka(&event.payload, &mut outcomes)).await;
            print_metrics("kafka-ingest", &outcomes, started);
            kafka_result(report)
        },
    ))
    .await
}
