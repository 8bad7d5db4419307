//! imglake-pipeline: the image half of imglake.
//!
//! - [`validate`]: type from magic bytes, size and pixel budgets checked from the header
//!   before any full decode; typed rejections.
//! - [`model`]: the metadata item (attribute names are the lake's column names, defined once
//!   in `imglake_exporter::schema`), statuses and their legal transitions.
//! - [`process`]: recipes (TOML/JSON), EXIF orientation, resize/ops/encode into variants
//!   with no metadata, and the analytics features.
//! - [`store`]: the metadata store interface and the embedded default (SQLite) whose change
//!   feed emits DynamoDB Streams records.
//! - [`feed`]: tails that change feed into the lake with the exporter, checkpointing like
//!   Lambda does for a DynamoDB stream.
//! - [`table_export`]: writes the embedded store as a DynamoDB table export (full or
//!   incremental), for backfill and reconcile on a laptop.
//! - [`presign`]: presigned S3 POST (policy with `content-length-range`, SigV4 signature) for
//!   uploads that cannot pass through Lambda.
//! - [`blob`]: raw and processed images behind one `object_store` (directory or S3 bucket).
//! - [`handlers`]: the upload API, Kafka ingest and processing handlers, pure functions of an
//!   event over a [`handlers::Pipeline`] (stores, clock, configuration), shared by the Lambdas,
//!   `imglake serve` and `imglake demo`.

pub mod blob;
pub mod feed;
pub mod handlers;
pub mod model;
pub mod presign;
pub mod process;
pub mod samples;
pub mod store;
pub mod table_export;
#[cfg(test)]
mod test_images;
#[cfg(test)]
mod test_lake;
pub mod validate;
