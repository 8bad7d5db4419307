//! Logs of the Lambda functions.

/// JSON logs on stdout, as CloudWatch Logs expects from Lambda; `AWS_LAMBDA_LOG_LEVEL` (set by
/// Lambda's logging controls) or `RUST_LOG` choose the level, default `info`.
pub fn init_json_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .without_time()
        .init();
}
