//! imglake-exporter: DynamoDB Streams records → Arrow → idempotent, Hive-partitioned Parquet.
//!
//! The lake contract lives in [`schema`], its object layout in [`layout`]. Every record enters
//! through one door, [`Exporter::prepare`]: the reader core ([`reader`]) reads any [`Source`]
//! and hands each record to the batch sink ([`batch`]), which maps it ([`row`]) into the Arrow
//! builders of its partition file ([`arrow_rows`]) or the quarantine, and encodes each batch
//! ([`parquet_file`]). Everything up to [`Exporter::write`] ([`write`]) is pure. [`compact`]
//! merges a partition's small files. The Lambda functions over this core live in crate
//! imglake-lambdas.

mod arrow_rows;
mod attr;
pub mod aws_json;
mod batch;
pub mod compact;
pub mod export;
pub mod lake;
pub mod layout;
mod number;
pub mod parquet_file;
mod reader;
mod record;
pub mod redrive;
mod row;
pub mod schema;
pub mod table_export;
mod write;

pub use batch::PreparedBatch;
pub use export::{ExportError, ExportInputError, ExportOptions, ExportReport, Exporter};
pub use lake::Lake;
pub use parquet_file::Compression;
pub use reader::framing::InputError;
pub use reader::{ReadError, Source};
