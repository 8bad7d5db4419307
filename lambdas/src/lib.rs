//! imglake-lambdas: every Lambda function of imglake, and everything only Lambda needs. The
//! work itself is done by the libraries (`imglake_pipeline::handlers` for images,
//! `imglake_exporter` for the lake); this crate adapts them to AWS:
//!
//! - [`stream_export`], [`compact`]: configuration and handler of the `stream-export`
//!   (DynamoDB Streams → lake, Glue partitions) and scheduled `compact` functions;
//!   [`redrive`], [`reconcile`]: the scheduled `redrive` (the on-failure queue's batches read
//!   again from the stream) and `reconcile` (the lake against full table exports) functions.
//! - [`config`]: the image functions' environment (the contract with terraform/), validated at
//!   start; [`dynamodb`]: `DynamoStore`, the metadata store on a DynamoDB table, with the
//!   semantics of the embedded store (conditional puts, consistent reads).
//! - [`invocation`]: what every image invocation does around a handler (metrics; the Kafka
//!   batch outcome as a Lambda result); [`responses`]: the partial batch responses of the
//!   DynamoDB Streams, SQS and Kafka event sources; [`emf`]: CloudWatch embedded-metric-format
//!   lines; [`glue`]: partition registration in the Glue catalog; [`logging`]: JSON logs.
//! - `src/bin/*.rs`: the Lambda mains (`upload`, `kafka-ingest`, `process`, `stream-export`,
//!   `compact`, `redrive`, `reconcile`), wiring only.
//!
//! Only this crate depends on `lambda_runtime` and the Glue SDK; it must not depend on
//! DataFusion (Lambda binaries stay small). `.ci/run` checks both rules.

pub mod compact;
pub mod config;
pub mod dynamodb;
pub mod emf;
pub mod glue;
pub mod invocation;
pub mod logging;
pub mod reconcile;
pub mod redrive;
pub mod responses;
pub mod stream_export;
