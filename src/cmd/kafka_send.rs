//! `imglake kafka-send FILE|DIR…`: feeds images to a Kafka topic the way the `kafka-ingest`
//! handler reads them. An image that fits in a message goes inline; a larger one is stored
//! as a claim-check object (content-addressed, so sending it again stores nothing new) and
//! its record carries `{"bucket", "key"}`. Headers: `tenant` when --tenant is given.
//!
//! Claim-check objects go to `<data-dir>/claims` (bucket `claims` of `imglake serve` with the
//! same --data-dir), or with --claim-check-bucket to S3 for the Lambda (a bucket in its
//! IMGLAKE_CLAIM_CHECK_BUCKETS, or the raw bucket outside `images/`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context as _};
use bytes::Bytes;
use clap::{Args, ValueEnum};
use imglake_pipeline::blob::BlobStore;
use imglake_pipeline::handlers::is_valid_tenant;
use rskafka::client::partition::Compression;
use rskafka::record::Record;
use serde_json::json;

use crate::cmd::demo::{advance, note, progress};
use crate::kafka::config::{parse_topic, KafkaConnArgs};
use crate::kafka::producer::{create_topic, record_size, Producer, Sent, BATCH_OVERHEAD};
use crate::local::CLAIMS_BUCKET;

/// Prefix of claim-check objects written by kafka-send.
const CLAIM_PREFIX: &str = "kafka-send/";

/// Where the image id of a record comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImageIdFrom {
    /// No header: the consumer derives the id from topic/partition/offset, so every record
    /// is an image of its own.
    Offset,
    /// Header `image-id` = SHA-256 of the tenant and the bytes: sending the same file again
    /// (for the same tenant) is a duplicate that changes nothing.
    Content,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompressionArg {
    None,
    Gzip,
    Lz4,
    Snappy,
    Zstd,
}

#[derive(Debug, Args)]
pub struct KafkaSendArgs {
    /// Image files, and directories whose files (recursively, hidden ones left out) are sent.
    #[arg(required = true, value_name = "FILE|DIR")]
    pub inputs: Vec<PathBuf>,

    /// Bootstrap brokers HOST:PORT[,HOST:PORT…].
    #[arg(
        long,
        env = "IMGLAKE_KAFKA_BROKERS",
        value_delimiter = ',',
        required = true
    )]
    pub kafka_brokers: Vec<String>,

    /// Topic to send to.
    #[arg(long, env = "IMGLAKE_KAFKA_TOPIC", value_parser = parse_topic)]
    pub kafka_topic: String,

    #[command(flatten)]
    pub conn: KafkaConnArgs,

    /// Create the topic with this many partitions when it does not exist.
    #[arg(long, env = "IMGLAKE_KAFKA_CREATE_TOPIC", value_name = "PARTITIONS", value_parser = clap::value_parser!(i32).range(1..=10_000))]
    pub create_topic: Option<i32>,

    /// Replication factor of a topic created by --create-topic.
    #[arg(long, env = "IMGLAKE_KAFKA_REPLICATION_FACTOR", default_value_t = 1, value_parser = clap::value_parser!(i16).range(1..=32))]
    pub replication_factor: i16,

    /// The broker's message limit (its message.max.bytes, or the topic's): records are
    /// batched up to it, and an image that does not fit in a message with its headers goes
    /// as a claim-check.
    #[arg(long, env = "IMGLAKE_KAFKA_MAX_MESSAGE_BYTES", default_value = "1000000", value_parser = parse_message_bytes)]
    pub kafka_max_message_bytes: usize,

    /// Send everything to this partition (default: records rotate over all partitions).
    #[arg(long, env = "IMGLAKE_KAFKA_PARTITION")]
    pub kafka_partition: Option<i32>,

    /// Compression of the record batches (images are compressed already).
    #[arg(long, env = "IMGLAKE_KAFKA_COMPRESSION", value_enum, default_value_t = CompressionArg::None)]
    pub kafka_compression: CompressionArg,

    /// Tenant header of every record.
    #[arg(long, env = "IMGLAKE_TENANT", value_parser = parse_tenant)]
    pub tenant: Option<String>,

    /// Where image ids come from.
    #[arg(long, env = "IMGLAKE_KAFKA_IMAGE_ID", value_enum, default_value_t = ImageIdFrom::Offset)]
    pub image_id: ImageIdFrom,

    /// Data directory of the `imglake serve` that consumes the topic: claim-check objects
    /// go to its claims/ (bucket `claims`).
    #[arg(long, env = "IMGLAKE_DATA_DIR", default_value = "imglake-data")]
    pub data_dir: PathBuf,

    /// Store claim-check objects in S3 instead, as s3://bucket[/prefix] (standard AWS
    /// environment, AWS_ENDPOINT_URL too).
    #[arg(long, env = "IMGLAKE_CLAIM_CHECK_BUCKET", value_name = "S3_URL")]
    pub claim_check_bucket: Option<String>,

    /// KMS key for SSE-KMS on claim-check objects in S3 (when the bucket policy requires it).
    #[arg(
        long,
        env = "IMGLAKE_CLAIM_CHECK_KMS_KEY_ID",
        requires = "claim_check_bucket"
    )]
    pub claim_check_kms_key_id: Option<String>,

    /// Largest file sent; larger ones are skipped and reported (exit status 1), like 64MB.
    #[arg(long, env = "IMGLAKE_MAX_FILE_SIZE", default_value = "64MB", value_parser = imglake_exporter::compact::parse_size)]
    pub max_file_size: u64,

    /// One JSON line per input on stdout: file, partition, offset, route (inline or
    /// claim_check), bytes; or file and error.
    #[arg(long, env = "IMGLAKE_JSON")]
    pub json: bool,
}

fn parse_message_bytes(s: &str) -> Result<usize, String> {
    let n = imglake_exporter::compact::parse_size(s)?;
    if (4096..=1024 * 1024 * 1024).contains(&n) {
        usize::try_from(n).map_err(|e| e.to_string())
    } else {
        Err("use 4KB to 1GB".into())
    }
}

fn parse_tenant(s: &str) -> Result<String, String> {
    if is_valid_tenant(s) {
        Ok(s.to_owned())
    } else {
        Err("a tenant is 1 to 64 of a-z A-Z 0-9 _ - .".into())
    }
}

/// How an image travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Inline,
    ClaimCheck,
}

impl Route {
    fn name(self) -> &'static str {
        match self {
            Route::Inline => "inline",
            Route::ClaimCheck => "claim_check",
        }
    }
}

/// Inline when the record, alone in a batch, fits the broker's message limit.
pub fn route(record_bytes: usize, max_message_bytes: usize) -> Route {
    if record_bytes + BATCH_OVERHEAD <= max_message_bytes {
        Route::Inline
    } else {
        Route::ClaimCheck
    }
}

/// Where claim-check objects go, and the bucket name records carry.
struct Claims {
    store: BlobStore,
    bucket: String,
    prefix: String,
}

impl Claims {
    fn open(args: &KafkaSendArgs) -> anyhow::Result<Claims> {
        match &args.claim_check_bucket {
            Some(url) => {
                let rest = url.strip_prefix("s3://").with_context(|| {
                    format!("--claim-check-bucket {url}: use s3://bucket[/prefix]")
                })?;
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    bail!("--claim-check-bucket {url}: no bucket name (use s3://bucket[/prefix])");
                }
                let prefix = prefix.trim_matches('/');
                let store = BlobStore::open(
                    &format!("s3://{bucket}"),
                    args.claim_check_kms_key_id.as_deref(),
                )?;
                Ok(Claims {
                    store,
                    bucket: bucket.to_owned(),
                    prefix: if prefix.is_empty() {
                        String::new()
                    } else {
                        format!("{prefix}/")
                    },
                })
            }
            None => {
                let dir = args.data_dir.join("claims");
                std::fs::create_dir_all(&dir).with_context(|| {
                    format!(
                        "cannot create {} (choose the data directory with --data-dir)",
                        dir.display()
                    )
                })?;
                Ok(Claims {
                    store: BlobStore::open(&dir.display().to_string(), None)?,
                    bucket: CLAIMS_BUCKET.to_owned(),
                    prefix: String::new(),
                })
            }
        }
    }

    /// Stores `bytes` under a key derived from their hash; returns the record value.
    async fn put(&self, bytes: Bytes) -> anyhow::Result<Vec<u8>> {
        let key = format!(
            "{}{CLAIM_PREFIX}{}",
            self.prefix,
            imglake_pipeline::process::sha256_hex(&bytes)
        );
        self.store
            .put(&key, bytes, "application/octet-stream")
            .await
            .with_context(|| format!("storing claim-check object {key} in {}", self.bucket))?;
        Ok(json!({"bucket": self.bucket, "key": key})
            .to_string()
            .into_bytes())
    }
}

/// The files of the inputs: files as given, directories walked (sorted, hidden entries and
/// symbolic links to directories left out).
fn collect(inputs: &[PathBuf]) -> anyhow::Result<Vec<(PathBuf, String)>> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(PathBuf, String)>) -> anyhow::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read directory {}", dir.display()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                !p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        entries.sort();
        for path in entries {
            let meta = std::fs::symlink_metadata(&path)?;
            if meta.is_dir() {
                walk(base, &path, out)?;
            } else if path.is_file() {
                let name = path
                    .strip_prefix(base)
                    .unwrap_or(&path)
                    .display()
                    .to_string();
                out.push((path, name));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for input in inputs {
        let meta =
            std::fs::metadata(input).with_context(|| format!("cannot read {}", input.display()))?;
        if meta.is_dir() {
            walk(input, input, &mut out)?;
        } else {
            let name = input.file_name().map_or_else(
                || input.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            out.push((input.clone(), name));
        }
    }
    Ok(out)
}

/// What one input became.
#[derive(Debug, Clone)]
struct Input {
    file: PathBuf,
    route: Route,
    bytes: u64,
}

pub async fn run(args: KafkaSendArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let files = collect(&args.inputs)?;
    if files.is_empty() {
        bail!("no files to send in {}", display_all(&args.inputs));
    }
    let client = args.conn.connect(&args.kafka_brokers).await?;
    if let Some(partitions) = args.create_topic {
        if create_topic(
            &client,
            &args.kafka_topic,
            partitions,
            args.replication_factor,
        )
        .await?
        {
            eprintln!(
                "created topic {} with {partitions} partitions",
                args.kafka_topic
            );
        }
    }
    let compression = match args.kafka_compression {
        CompressionArg::None => Compression::NoCompression,
        CompressionArg::Gzip => Compression::Gzip,
        CompressionArg::Lz4 => Compression::Lz4,
        CompressionArg::Snappy => Compression::Snappy,
        CompressionArg::Zstd => Compression::Zstd,
    };
    let mut producer: Producer<Input> = Producer::new(
        client,
        &args.kafka_topic,
        compression,
        args.kafka_max_message_bytes,
    )
    .await?;
    let partitions = producer.partitions().to_vec();
    if let Some(p) = args.kafka_partition {
        if !partitions.contains(&p) {
            bail!(
                "--kafka-partition {p}: topic {} has partitions {:?}",
                args.kafka_topic,
                partitions
            );
        }
    }
    let claims = Claims::open(&args)?;
    let mut headers = std::collections::BTreeMap::new();
    if let Some(tenant) = &args.tenant {
        headers.insert("tenant".to_owned(), tenant.as_bytes().to_vec());
    }

    let bar = progress(files.len() as u64, "send");
    let mut failed = 0usize;
    let (mut inline, mut claimed) = (0usize, 0usize);
    let mut report = |sent: Vec<Sent<Input>>| {
        for s in sent {
            match s.tag.route {
                Route::Inline => inline += 1,
                Route::ClaimCheck => claimed += 1,
            }
            if args.json {
                outln!(
                    "{}",
                    json!({"file": s.tag.file.display().to_string(), "partition": s.partition,
                           "offset": s.offset, "route": s.tag.route.name(), "bytes": s.tag.bytes})
                );
            }
        }
    };
    for (i, (path, name)) in files.iter().enumerate() {
        bar.set_message(name.clone());
        let bytes = match read_bounded(path, args.max_file_size) {
            Ok(bytes) => bytes,
            Err(err) => {
                failed += 1;
                note(&bar, format!("skipped {}: {err:#}", path.display()));
                if args.json {
                    outln!(
                        "{}",
                        json!({"file": path.display().to_string(), "error": format!("{err:#}")})
                    );
                }
                advance(&bar);
                continue;
            }
        };
        let len = bytes.len() as u64;
        let mut headers = headers.clone();
        if args.image_id == ImageIdFrom::Content {
            let id = content_id(args.tenant.as_deref(), &bytes);
            headers.insert("image-id".to_owned(), id.into_bytes());
        }
        let mut record = Record {
            key: Some(name.as_bytes().to_vec()),
            value: Some(bytes.to_vec()),
            headers,
            timestamp: chrono::Utc::now(),
        };
        let route = route(record_size(&record), args.kafka_max_message_bytes);
        if route == Route::ClaimCheck {
            record.value = Some(claims.put(bytes).await?);
        }
        let partition = args
            .kafka_partition
            .unwrap_or(partitions[i % partitions.len()]);
        let tag = Input {
            file: path.clone(),
            route,
            bytes: len,
        };
        report(producer.push(partition, record, tag).await?);
        advance(&bar);
    }
    report(producer.flush().await?);
    bar.finish_and_clear();
    eprintln!(
        "imglake kafka-send: {} records to {} ({inline} inline, {claimed} claim-checks{}) in {:.1?}",
        inline + claimed,
        args.kafka_topic,
        if failed > 0 {
            format!(", {failed} files skipped")
        } else {
            String::new()
        },
        started.elapsed()
    );
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The `image-id` of `bytes` sent for `tenant`: 64 hex digits of SHA-256 over both.
pub fn content_id(tenant: Option<&str>, bytes: &[u8]) -> String {
    use sha2::{Digest as _, Sha256};
    let mut hash = Sha256::new();
    hash.update(
        tenant
            .unwrap_or(imglake_pipeline::handlers::DEFAULT_TENANT)
            .as_bytes(),
    );
    hash.update([0]);
    hash.update(bytes);
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The file's bytes, refused above `limit` without reading it.
fn read_bounded(path: &Path, limit: u64) -> anyhow::Result<Bytes> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).context("cannot open it")?;
    let len = file.metadata().context("cannot read its size")?.len();
    if len > limit {
        bail!("{len} bytes, above --max-file-size {limit}");
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    // A file growing meanwhile is read up to the limit and refused past it.
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .context("cannot read it")?;
    if bytes.len() as u64 > limit {
        bail!("more than --max-file-size {limit} bytes");
    }
    Ok(Bytes::from(bytes))
}

fn display_all(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_that_do_not_fit_a_message_go_as_claim_checks() {
        let limit = 1_000_000;
        assert_eq!(route(1000, limit), Route::Inline);
        assert_eq!(route(limit - BATCH_OVERHEAD, limit), Route::Inline);
        assert_eq!(route(limit - BATCH_OVERHEAD + 1, limit), Route::ClaimCheck);
        assert_eq!(route(5 * limit, limit), Route::ClaimCheck);
    }

    #[test]
    fn directories_are_walked_in_order_without_hidden_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("b/c")).expect("mkdir");
        std::fs::create_dir_all(root.join(".git")).expect("mkdir");
        for f in ["z.jpg", "a.png", "b/c/d.webp", ".DS_Store", ".git/x"] {
            std::fs::write(root.join(f), b"x").expect("write");
        }
        let names: Vec<String> = collect(&[root.to_path_buf()])
            .expect("collect")
            .into_iter()
            .map(|(_, name)| name)
            .collect();
        assert_eq!(names, ["a.png", "b/c/d.webp", "z.jpg"]);
        let single = collect(&[root.join("z.jpg")]).expect("collect");
        assert_eq!(single[0].1, "z.jpg");
        assert!(collect(&[root.join("missing")]).is_err());
    }

    #[test]
    fn content_ids_are_valid_image_ids_that_depend_on_tenant_and_bytes() {
        let id = content_id(None, b"abc");
        assert!(imglake_pipeline::handlers::is_valid_image_id(&id), "{id}");
        assert_eq!(id, content_id(Some("default"), b"abc"));
        assert_ne!(id, content_id(Some("acme"), b"abc"));
        assert_ne!(id, content_id(None, b"abd"));
    }

    #[test]
    fn files_above_the_limit_are_refused_unread() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        std::fs::write(&path, vec![7u8; 100]).expect("write");
        assert_eq!(read_bounded(&path, 100).expect("read").len(), 100);
        let err = read_bounded(&path, 99).expect_err("too large").to_string();
        assert!(err.contains("--max-file-size"), "{err}");
    }
}
