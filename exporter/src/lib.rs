//! imglake-exporter: DynamoDB Streams records → Arrow → idempotent, Hive-partitioned Parquet.
//!
//! The lake contract lives in [`schema`]. The pipeline is pure up to [`export::Exporter::flush`]:
//! [`record`] splits input into raw records, [`map`] turns each into a row or a quarantine
//! reason, [`arrow_rows`] and [`parquet_file`] encode, [`keys`] names the objects.
//! The Lambda functions over this core live in crate imglake-lambdas.

pub mod arrow_rows;
pub mod attr;
pub mod compact;
pub mod decode;
pub mod document;
pub mod export;
pub mod fast;
pub mod lake;
pub mod layout;
pub mod map;
pub mod number;
pub mod parquet_file;
pub mod record;
pub mod schema;

pub use export::{
    ExportError, ExportInputError, ExportOptions, ExportReport, Exporter, PreparedBatch,
};
pub use lake::Lake;
pub use parquet_file::Compression;
pub use record::{split_input, InputRecord};
