//! imglake-pipeline: the image half of imglake.
//!
//! - [`validate`]: type from magic bytes, size and pixel budgets checked from the header
//!   before any full decode; typed rejections.
//! - [`model`]: the metadata item (attribute names are the lake's column names, defined once
//!   in `imglake_exporter::schema`), statuses and their legal transitions.
//! - [`store`]: the metadata store interface and the embedded default (SQLite) whose change
//!   feed emits DynamoDB Streams records.
//!
//! Processing, the upload / Kafka / process handlers and `imglake process` are not built yet.

pub mod model;
pub mod store;
pub mod validate;
