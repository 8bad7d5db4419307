//! `upload` Lambda: the upload API (API Gateway HTTP API, payload format 2.0) → raw bucket +
//! metadata table. Wiring only; the handler is `Pipeline::handle_upload`.

use std::sync::Arc;
use std::time::Instant;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use imglake_lambdas::config::Config;
use imglake_lambdas::invocation::print_metrics;
use imglake_pipeline::handlers::metrics::Outcomes;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    imglake_lambdas::logging::init_json_tracing();
    let env = |k: &str| std::env::var(k).ok();
    let config = Config::from_lookup(env)?;
    let presign = config.presign_from_lookup(env)?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let pipeline = config.pipeline(&sdk, Arc::new(chrono::Utc::now), Some(presign))?;
    let pipeline = &pipeline;
    run(service_fn(
        move |event: LambdaEvent<ApiGatewayV2httpRequest>| async move {
            let started = Instant::now();
            let mut outcomes = Outcomes::default();
            let response = // Boxed: the handler future over the SDK clients is too deeply nested
            // for the compiler's layout queries when inlined into main's future.
            Box::pin(pipeline.handle_upload(&event.payload, &mut outcomes)).await;
            print_metrics("upload", &outcomes, started);
            Ok::<ApiGatewayV2httpResponse, Error>(response)
        },
    ))
    .await
}
