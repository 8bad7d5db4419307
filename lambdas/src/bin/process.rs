//! `process` Lambda: SQS-wrapped S3 ObjectCreated events of the raw bucket → variants in the
//! processed bucket + metadata. Wiring only; the handler is `Pipeline::handle_sqs`, whose
//! messages to redeliver become the partial batch response.

use std::sync::Arc;
use std::time::Instant;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use imglake_lambdas::config::Config;
use imglake_lambdas::invocation::print_metrics;
use imglake_lambdas::responses::sqs_response;
use imglake_pipeline::handlers::metrics::Outcomes;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    imglake_lambdas::logging::init_json_tracing();
    let config = Config::from_lookup(|k| std::env::var(k).ok())?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let pipeline = config.pipeline(&sdk, Arc::new(chrono::Utc::now), None)?;
    let pipeline = &pipeline;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let started = Instant::now();
        let mut outcomes = Outcomes::default();
        let retry = // Boxed: the handler future over the SDK clients is too deeply nested
            // for the compiler's layout queries when inlined into main's future.
            Box::pin(pipeline.handle_sqs(&event.payload, &mut outcomes)).await;
        print_metrics("process", &outcomes, started);
        Ok::<SqsBatchResponse, Error>(sqs_response(retry))
    }))
    .await
}
