//! imglake-lambdas: the image pipeline on AWS. The handlers are `imglake_pipeline::handlers`;
//! this crate only adapts them to AWS:
//!
//! - [`dynamodb`]: [`dynamodb::DynamoStore`], the metadata store on a DynamoDB table, with
//!   the semantics of the embedded store (conditional puts, consistent reads).
//! - [`config`]: the functions' environment (the contract with terraform/), validated at start.
//! - [`invocation`]: what every invocation does around a handler: EMF metrics on stdout, and
//!   the Kafka batch outcome as a Lambda result.
//! - `src/bin/{upload,kafka_ingest,process}.rs`: the Lambda mains, wiring only.
//!
//! This crate must not depend on DataFusion (Lambda binaries stay small).

pub mod config;
pub mod dynamodb;
pub mod invocation;
