//! `process` Lambda: SQS-wrapped S3 ObjectCreated events of the raw bucket → variants in the
//! processed bucket + metadata. Wiring only; the handler is `Pipeline::handle_sqs`, whose
//! messages to redeliver become the partial batch response.
//!
//! The same function, invoked by its schedule (`{"source": "imglake.schedule"}`), sweeps
//! abandoned uploads: images whose presigned form expired unused become ABANDONED
//! (`Pipeline::abandon_expired_uploads`). It has the raw bucket and the table already, and the
//! sweep is a few reads every few minutes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::sqs::SqsEvent;
use imglake_lambdas::config::Config;
use imglake_lambdas::invocation::print_metrics;
use imglake_lambdas::responses::sqs_response;
use imglake_pipeline::handlers::metrics::Outcomes;
use imglake_pipeline::handlers::sweep::SWEEP_LIMIT;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

/// Time after a form's expiry before its image is abandoned (at most the form's lifetime): an
/// upload S3 accepted just before the expiry has reached the bucket by then.
const ABANDON_GRACE: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() -> Result<(), Error> {
    imglake_lambdas::logging::init_json_tracing();
    let config = Config::from_lookup(|k| std::env::var(k).ok())?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let pipeline = config.pipeline(&sdk, Arc::new(chrono::Utc::now), None)?;
    let (pipeline, form_lifetime) = (&pipeline, config.form_expires_in);
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let started = Instant::now();
        let mut outcomes = Outcomes::default();
        if event.payload.get("source").and_then(Value::as_str) == Some("imglake.schedule") {
            let abandoned = Box::pin(pipeline.abandon_expired_uploads(
                form_lifetime,
                ABANDON_GRACE.min(form_lifetime),
                SWEEP_LIMIT,
                &mut outcomes,
            ))
            .await?;
            print_metrics("process", &outcomes, started);
            return Ok::<Value, Error>(json!({ "abandoned": abandoned }));
        }
        let sqs: SqsEvent = serde_json::from_value(event.payload)?;
        let retry = // Boxed: the handler future over the SDK clients is too deeply nested
            // for the compiler's layout queries when inlined into main's future.
            Box::pin(pipeline.handle_sqs(&sqs, &mut outcomes)).await;
        print_metrics("process", &outcomes, started);
        Ok(serde_json::to_value(sqs_response(retry))?)
    }))
    .await
}
