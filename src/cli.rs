//! Command-line definitions. Every flag has an environment variable and help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use imglake_exporter::Compression;

#[derive(Debug, Parser)]
#[command(
    name = "imglake",
    version,
    about = "Image pipeline and Parquet lake: export stream records, query the lake"
)]
pub struct Cli {
    /// More log output on stderr (-v: info, -vv: debug). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write DynamoDB stream records into the lake as partitioned Parquet.
    Export(ExportArgs),
    /// Run SQL over the lake with DataFusion (`image_events` is registered).
    Query(QueryArgs),
    /// Print the lake schema (the single source for DDL, Glue columns and docs).
    Schema(SchemaArgs),
    /// List the SQL of sql/ built into this binary, or print one statement.
    Sql(SqlArgs),
    /// Merge each partition's small files into files near a target size, without duplicates.
    Compact(CompactArgs),
    /// Run the data-quality checks of sql/checks; exit non-zero when any finds a problem.
    Check(CheckArgs),
    /// Validate and process image files locally: one JSON line per input.
    Process(ProcessArgs),
}

#[derive(Debug, Args)]
pub struct ProcessArgs {
    /// Image files to process.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,

    /// Directory for the variants: OUT/<input name>/<variant>.<ext>.
    #[arg(long, env = "IMGLAKE_OUT")]
    pub out: PathBuf,

    /// Recipe naming the variants (TOML or JSON); default: thumb 256x256 cover, display fit
    /// 1024x1024.
    #[arg(long, env = "IMGLAKE_RECIPE")]
    pub recipe: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Lake location: a directory, or s3://bucket/prefix.
    #[arg(long, env = "IMGLAKE_LAKE")]
    pub lake: String,

    /// Offending rows shown per failed check.
    #[arg(long, env = "IMGLAKE_CHECK_ROWS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub show_rows: u32,
}

#[derive(Debug, Args)]
pub struct CompactArgs {
    /// Lake location: a directory, or s3://bucket/prefix.
    #[arg(long, env = "IMGLAKE_LAKE")]
    pub lake: String,

    /// Only this partition, as dt=YYYY-MM-DD/hour=HH; default: every partition.
    #[arg(long, env = "IMGLAKE_PARTITION", value_parser = parse_partition)]
    pub partition: Option<imglake_exporter::map::Partition>,

    /// Target size of the compacted files, e.g. 128MB.
    #[arg(long, env = "IMGLAKE_TARGET_SIZE", default_value = "128MB", value_parser = imglake_exporter::compact::parse_size)]
    pub target_size: u64,

    /// Parquet compression of the compacted files.
    #[arg(long, env = "IMGLAKE_PARQUET_COMPRESSION", default_value_t = Compression::Zstd, value_parser = parse_compression)]
    pub compression: Compression,
}

fn parse_partition(s: &str) -> Result<imglake_exporter::map::Partition, String> {
    imglake_exporter::compact::partition_of(s.trim_matches('/'))
        .ok_or_else(|| format!("`{s}` is not a partition: use dt=YYYY-MM-DD/hour=HH"))
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SqlDialect {
    /// As deployed to Athena (Trino).
    Athena,
    /// As `imglake query` runs it.
    Datafusion,
}

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// A view, query or check name (e.g. images_current); without it, list them all.
    pub name: Option<String>,

    /// Dialect to print the statement in.
    #[arg(long, env = "IMGLAKE_SQL_DIALECT", value_enum, default_value_t = SqlDialect::Athena)]
    pub dialect: SqlDialect,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SchemaFormat {
    /// JSON: table, columns (name, athena_type, arrow_type, doc), partition columns.
    Json,
    /// The column list of an Athena / Glue `CREATE EXTERNAL TABLE`.
    AthenaColumns,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Output format.
    #[arg(long, env = "IMGLAKE_SCHEMA_FORMAT", value_enum, default_value_t = SchemaFormat::Json)]
    pub format: SchemaFormat,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// A Lambda DynamoDB event ({"Records":[...]}), a GetRecords response, a JSON array of
    /// stream records, or JSON Lines of records; `-` reads stdin.
    #[arg(long, short, env = "IMGLAKE_INPUT")]
    pub input: PathBuf,

    /// Lake location: a directory, or s3://bucket/prefix (standard AWS environment, including
    /// AWS_ENDPOINT_URL for S3-compatible servers).
    #[arg(long, env = "IMGLAKE_LAKE")]
    pub lake: String,

    /// Parquet compression.
    #[arg(long, env = "IMGLAKE_PARQUET_COMPRESSION", default_value_t = Compression::Zstd, value_parser = parse_compression)]
    pub compression: Compression,

    /// Stream label used in object keys instead of one derived from eventSourceARN.
    #[arg(long, env = "IMGLAKE_STREAM_LABEL", value_parser = parse_label)]
    pub stream_label: Option<String>,

    /// Records per export batch (each batch writes its own files, and bounds the Arrow and
    /// Parquet working memory). Keep it fixed between a run and its replay so that the replay
    /// rewrites the same objects.
    #[arg(long, env = "IMGLAKE_BATCH_RECORDS", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub batch_records: u64,

    /// Print the report as JSON instead of a summary.
    #[arg(long, env = "IMGLAKE_JSON")]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OutputFormat {
    /// Aligned table.
    Table,
    /// CSV with a header row.
    Csv,
    /// One JSON object per row (JSON Lines).
    Json,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Lake location: a directory, or s3://bucket/prefix.
    #[arg(long, env = "IMGLAKE_LAKE")]
    pub lake: String,

    /// The SQL statement, e.g. "select status, count(*) from image_events group by status"
    /// (it may start with a `--` comment).
    #[arg(allow_hyphen_values = true)]
    pub sql: String,

    /// Output format.
    #[arg(long, env = "IMGLAKE_FORMAT", value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

fn parse_compression(s: &str) -> Result<Compression, String> {
    s.parse()
}

fn parse_label(s: &str) -> Result<String, String> {
    if !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(s.to_owned())
    } else {
        Err("use 1 to 64 characters of [A-Za-z0-9_] (it becomes part of object keys)".into())
    }
}
