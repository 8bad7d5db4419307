//! Command-line definitions. Every flag has an environment variable and help text.

use std::path::PathBuf;

use clap::builder::TypedValueParser as _;
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
    /// The whole pipeline on this machine: sample images through upload, presigned and Kafka
    /// ingest, processing, the lake, and the BI queries.
    Demo(DemoArgs),
    /// The upload API as a local HTTP service, with processing workers, the lake exporter
    /// and an optional TTL sweep; Ctrl-C flushes everything before exiting.
    Serve(Box<ServeArgs>),
    /// Send image files (or directories of them) to a Kafka topic: inline, or as claim-checks
    /// when larger than a message; `serve --kafka-*` consumes them.
    KafkaSend(Box<crate::cmd::kafka_send::KafkaSendArgs>),
    /// Write a DynamoDB table export (full or incremental, DYNAMODB_JSON) into the lake, as
    /// rows that the views order among the stream's: to start a lake from a snapshot, or to
    /// repair one after an outage longer than the stream keeps records. Glue partitions are not
    /// registered (Athena projects them; for Redshift Spectrum see sql/redshift/partitions.sql).
    Backfill(BackfillArgs),
    /// Compare the lake's state as of a full table export's time with the export's items.
    /// Exit status: 0 no drift, 3 drift (the report says what to backfill), 1 an error
    /// (the export or the lake could not be read), 2 a usage error.
    Reconcile(ReconcileArgs),
    /// Export again the stream batches that exhausted their retries: read each on-failure
    /// message of the queue, re-read its records from DynamoDB Streams and write them to the
    /// lake; exit 1 when a message could not be redriven (aged out of the stream, or failed).
    /// Glue partitions are not registered (the redrive Lambda does; Athena projects them; for
    /// Redshift Spectrum see sql/redshift/partitions.sql).
    Redrive(RedriveArgs),
    /// Write the embedded store of a data directory as a DynamoDB table export (the format
    /// DynamoDB's export to S3 writes), full or incremental.
    ExportTable(ExportTableArgs),
}

#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// The export's folder: PATH or s3://bucket/prefix/AWSDynamoDB/<export-id>.
    #[arg(long, env = "IMGLAKE_EXPORT")]
    pub export: String,

    /// Lake location: a directory, or s3://bucket/prefix.
    #[arg(long, env = "IMGLAKE_LAKE")]
    pub lake: String,

    /// Parquet compression of the files written.
    #[arg(long, env = "IMGLAKE_PARQUET_COMPRESSION", default_value_t = Compression::Zstd, value_parser = parse_compression)]
    pub compression: Compression,

    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// A full export's folder: PATH or s3://bucket/prefix/AWSDynamoDB/<export-id>.
    #[arg(long, env = "IMGLAKE_EXPORT")]
    pub export: String,

    /// Lake location: a directory, or s3://bucket/prefix.
    #[arg(long, env = "IMGLAKE_LAKE")]
    pub lake: String,

    /// How far before the export time the lake is read: an image's last change must be in
    /// it (default: 10 days, the items' 7-day TTL and TTL's deletion delay).
    #[arg(long, env = "IMGLAKE_RECONCILE_WINDOW", default_value = "10d", value_parser = parse_duration)]
    pub window: std::time::Duration,

    /// Images of each kind of drift shown with their values.
    #[arg(long, env = "IMGLAKE_RECONCILE_EXAMPLES", default_value_t = 10)]
    pub examples: usize,

    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RedriveArgs {
    /// The on-failure destination's SQS queue URL.
    #[arg(long, env = "IMGLAKE_REDRIVE_QUEUE_URL")]
    pub queue: String,

    /// Lake location: a directory, or s3://bucket/prefix.
    #[arg(long, env = "IMGLAKE_LAKE")]
    pub lake: String,

    /// Only messages of this stream; others stay in the queue for their own redrive.
    #[arg(long, env = "IMGLAKE_STREAM_ARN")]
    pub stream_arn: Option<String>,

    /// Stop after this many messages of the stream (default: until the queue gives no more).
    /// Other streams' messages do not count; they are hidden from this run while it lasts and
    /// made visible again at its end.
    #[arg(long)]
    pub max_messages: Option<usize>,

    /// Seconds a received message stays hidden from other consumers while it is redriven
    /// (1 to 43200, SQS's range); a message back before the run ends is hidden again.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..=43_200))]
    pub visibility_timeout: u32,

    /// Parquet compression of the files written.
    #[arg(long, env = "IMGLAKE_PARQUET_COMPRESSION", default_value_t = Compression::Zstd, value_parser = parse_compression)]
    pub compression: Compression,

    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExportTableArgs {
    /// The data directory whose metadata store is exported (as `demo` and `serve` use it).
    #[arg(long, env = "IMGLAKE_DATA_DIR", default_value = "imglake-data")]
    pub data_dir: PathBuf,

    /// Folder the export goes under (as an S3 prefix): <out>/AWSDynamoDB/<export-id>/.
    #[arg(long, env = "IMGLAKE_EXPORT_OUT")]
    pub out: PathBuf,

    /// An incremental export of the changes from this time (RFC 3339, inclusive); with
    /// --to. Without both, a full export of every item now.
    #[arg(long, env = "IMGLAKE_EXPORT_FROM", requires = "to")]
    pub from: Option<chrono::DateTime<chrono::Utc>>,

    /// End of the incremental export's window (RFC 3339, exclusive).
    #[arg(long, env = "IMGLAKE_EXPORT_TO", requires = "from")]
    pub to: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "IMGLAKE_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: std::net::SocketAddr,

    /// Holds raw/, processed/, lake/ and the metadata store (the same layout as `demo`).
    #[arg(long, env = "IMGLAKE_DATA_DIR", default_value = "imglake-data")]
    pub data_dir: PathBuf,

    #[command(flatten)]
    pub limits: LimitArgs,

    /// Processing workers (default: one per core); 0 only stores arriving images (RECEIVED),
    /// and a later start with workers processes them.
    #[arg(long, env = "IMGLAKE_WORKERS", default_value_t = default_workers())]
    pub workers: usize,

    /// Images waiting for a worker before uploads wait too (back-pressure).
    #[arg(long, env = "IMGLAKE_QUEUE_CAPACITY", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_000_000).try_map(usize::try_from))]
    pub queue_capacity: usize,

    /// Open connections at once. When all are open and another client connects, the
    /// connection idle longest (nothing sent yet, a partial head, between requests, or an
    /// answer left unread for 2 s) is closed for it. When every one has a request in flight, a few more (a sixteenth, 2 to
    /// 16) answer /healthz only; beyond those, clients wait in the accept backlog.
    #[arg(long, env = "IMGLAKE_MAX_CONNECTIONS", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=1_000_000).try_map(usize::try_from))]
    pub max_connections: usize,

    /// Reads (GET) handled at once, and as many other requests (upload forms, deletes); more
    /// wait their turn. Uploads never take these, and /healthz takes nothing.
    #[arg(long, env = "IMGLAKE_MAX_REQUESTS", default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=1_000_000).try_map(usize::try_from))]
    pub max_requests: usize,

    /// Uploads (PUT /images, POST /upload/…) received at once; an upload that finds none
    /// free within 10 s is answered 503 with Retry-After.
    #[arg(long, env = "IMGLAKE_MAX_UPLOADS", default_value_t = 128, value_parser = clap::value_parser!(u64).range(1..=1_000_000).try_map(usize::try_from))]
    pub max_uploads: usize,

    /// Memory the bodies of uploads being received may hold at once, like 256MB, taken as
    /// their bytes arrive (never for a declared length). A quarter of it (at most 256 KiB an
    /// upload slot) is split between the slots so small uploads never wait for it; a body
    /// that finds no room within 10 s is answered 503 with Retry-After.
    #[arg(long, env = "IMGLAKE_UPLOAD_MEMORY", default_value = "256MB", value_parser = imglake_exporter::compact::parse_size)]
    pub upload_memory: u64,

    /// Slowest a request body may arrive, in bytes per second on average once the grace
    /// below is over (e.g. 8KB); a slower or stalled body is cut with 408.
    #[arg(long, env = "IMGLAKE_MIN_BODY_RATE", default_value = "8KB", value_parser = imglake_exporter::compact::parse_size)]
    pub min_body_rate: u64,

    /// Time a request body has before the minimum rate counts (e.g. 2s).
    #[arg(long, env = "IMGLAKE_BODY_GRACE", default_value = "2s", value_parser = parse_duration)]
    pub body_grace: std::time::Duration,

    /// Upload forms (POST /images) each client address may be issued per minute; more are
    /// answered 429 with Retry-After. Not per tenant: X-Imglake-Tenant is unauthenticated
    /// here, and any client could spend another tenant's forms.
    #[arg(long, env = "IMGLAKE_FORMS_PER_MINUTE", default_value_t = 120, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub forms_per_minute: u32,

    /// How long an upload form stays valid (e.g. 15m). An image whose form expires without
    /// an upload becomes ABANDONED (upload_expired) shortly after.
    #[arg(long, env = "IMGLAKE_FORM_EXPIRY", default_value = "15m", value_parser = parse_duration)]
    pub form_expiry: std::time::Duration,

    /// Time a client has to send a whole request head, from connecting or from the end of
    /// the previous answer on a kept-alive connection (e.g. 5s; --body-timeout-secs when
    /// that is shorter); then the connection closes.
    #[arg(long, env = "IMGLAKE_HEADER_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub header_timeout: std::time::Duration,

    /// Seconds a client may take to send a request's body, may stay silent while a body is
    /// due, and may leave an answer unread (then the connection closes).
    #[arg(long, env = "IMGLAKE_BODY_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub body_timeout_secs: u64,

    /// Flush the change feed to the lake once this many changes wait...
    #[arg(long, env = "IMGLAKE_FLUSH_RECORDS", default_value_t = 50_000)]
    pub flush_records: u64,

    /// ...or once the oldest waiting change is this old (e.g. 2s, 5m). The default makes an
    /// upload queryable in the lake within seconds (BENCHMARKS.md, freshness).
    #[arg(long, env = "IMGLAKE_FLUSH_AGE", default_value = "2s", value_parser = parse_duration)]
    pub flush_age: std::time::Duration,

    /// Compact a lake partition once it holds this many files (past hours as soon as they
    /// hold two), after a flush; 0 leaves it to `imglake compact`.
    #[arg(long, env = "IMGLAKE_COMPACT_FILES", default_value_t = 32, value_parser = clap::value_parser!(u64).range(0..=100_000).try_map(usize::try_from))]
    pub compact_files: usize,

    /// A browser origin allowed to call the upload API besides the loopback ones
    /// (http://localhost:*, http://127.0.0.1:*, http://[::1]:*), e.g. https://app.example.com;
    /// repeat it, or give several comma-separated in the variable. `*` allows every origin.
    #[arg(long = "cors-origin", env = "IMGLAKE_CORS_ORIGINS", value_delimiter = ',', value_parser = crate::console::cors::parse_origin)]
    pub cors_origins: Vec<crate::console::cors::OriginPattern>,

    /// A host name this server answers to besides IP addresses and localhost (requests
    /// with another Host are refused with 421, against DNS rebinding), e.g. imglake.internal;
    /// repeat it, or give several comma-separated in the variable.
    #[arg(
        long = "allowed-host",
        env = "IMGLAKE_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,

    /// Item lifetime (DynamoDB TTL; default 7d), e.g. 30s to watch expiry locally.
    #[arg(long, env = "IMGLAKE_TTL", value_parser = parse_duration)]
    pub ttl: Option<std::time::Duration>,

    /// Run the TTL sweep this often (e.g. 10s); off by default.
    #[arg(long, env = "IMGLAKE_SWEEP_EVERY", value_parser = parse_duration)]
    pub sweep_every: Option<std::time::Duration>,

    /// Run the clock this far ahead of real time (e.g. 8d to see 7-day expiry now). Events
    /// are then stamped in the future, so `imglake check` reports them (events_in_future):
    /// use a separate --data-dir.
    #[arg(long, env = "IMGLAKE_CLOCK_OFFSET", value_parser = parse_duration)]
    pub clock_offset: Option<std::time::Duration>,

    #[command(flatten)]
    pub kafka: crate::kafka::consumer::KafkaConsumeArgs,
}

fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// `500ms`, `30s`, `5m`, `2h`, `7d`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("`{s}`: use a number and a unit, e.g. 30s, 5m, 7d"))?;
    let ms = match unit {
        "ms" => 1,
        "s" | "" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("`{s}`: unit must be ms, s, m, h or d")),
    };
    Ok(std::time::Duration::from_millis(n.saturating_mul(ms)))
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Use the images in this directory instead of the built-in sample set.
    #[arg(long, env = "IMGLAKE_IMAGES")]
    pub images: Option<PathBuf>,

    /// Holds raw/, processed/, lake/ and the metadata store; reused by later runs.
    #[arg(long, env = "IMGLAKE_DATA_DIR", default_value = "imglake-data")]
    pub data_dir: PathBuf,
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

    #[command(flatten)]
    pub limits: LimitArgs,
}

/// What an input image may be: the validation limits, the same for `process` and `serve`.
#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Largest image accepted, like 10MB or 512KB (powers of 1024).
    #[arg(long, env = "IMGLAKE_MAX_IMAGE_SIZE", default_value = "10MB", value_parser = imglake_exporter::compact::parse_size)]
    pub max_image_size: u64,

    /// Largest width × height accepted, in megapixels, checked from the header before any
    /// decoding.
    #[arg(long, env = "IMGLAKE_MAX_MEGAPIXELS", default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    pub max_megapixels: u64,

    /// Accept TIFF input too.
    #[arg(long, env = "IMGLAKE_ALLOW_TIFF")]
    pub allow_tiff: bool,

    /// Most scans a JPEG may have (each is one decoding pass over the whole image).
    #[arg(long, env = "IMGLAKE_MAX_JPEG_SCANS", default_value_t = imglake_pipeline::validate::DEFAULT_MAX_JPEG_SCANS, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_jpeg_scans: u32,

    /// Memory for decoding and processing images, like 1GB or 512MB, judged from each image's
    /// header (size, bit depth, channels) before decoding; an image that needs more is
    /// refused (memory_budget_exceeded). serve's workers share it.
    #[arg(long, env = "IMGLAKE_MEMORY_BUDGET", default_value = "1GB", value_parser = parse_memory_budget)]
    pub memory_budget: u64,
}

/// A memory budget of at least 16 MiB, like 1GB or 512MB.
fn parse_memory_budget(s: &str) -> Result<u64, String> {
    let bytes = imglake_exporter::compact::parse_size(s)?;
    if bytes < 16 * 1024 * 1024 {
        return Err(format!(
            "`{s}` is below 16MB: no image could be processed within it"
        ));
    }
    Ok(bytes)
}

impl LimitArgs {
    pub fn limits(&self) -> imglake_pipeline::validate::Limits {
        imglake_pipeline::validate::Limits {
            max_bytes: self.max_image_size,
            max_pixels: self.max_megapixels * 1_000_000,
            allow_tiff: self.allow_tiff,
            max_jpeg_scans: self.max_jpeg_scans,
            max_memory_bytes: self.memory_budget,
        }
    }
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
    pub partition: Option<imglake_exporter::layout::Partition>,

    /// Target size of the compacted files, e.g. 128MB.
    #[arg(long, env = "IMGLAKE_TARGET_SIZE", default_value = "128MB", value_parser = imglake_exporter::compact::parse_size)]
    pub target_size: u64,

    /// Parquet compression of the compacted files.
    #[arg(long, env = "IMGLAKE_PARQUET_COMPRESSION", default_value_t = Compression::Zstd, value_parser = parse_compression)]
    pub compression: Compression,
}

fn parse_partition(s: &str) -> Result<imglake_exporter::layout::Partition, String> {
    imglake_exporter::layout::Partition::of_key(s.trim_matches('/'))
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

    /// Records per export batch (each batch writes its own files, and bounds the Arrow
    /// working memory). A regular file (also on stdin) holding a Lambda event or GetRecords
    /// response with `Records` first, or JSON Lines of stream records, is read a chunk at a
    /// time; any other input, and a pipe, whole. The encoded files of all batches are
    /// written once the input is read. Keep it fixed between a run and its replay so that
    /// the replay rewrites the same objects.
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
