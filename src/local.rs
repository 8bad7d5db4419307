//! The embedded default: the pipeline's stores on one machine, under one data directory.
//!
//! ```text
//! <data-dir>/raw/          raw uploads            (the raw bucket on AWS)
//! <data-dir>/processed/    variants               (the processed bucket)
//! <data-dir>/claims/       Kafka claim-check objects (bucket name `claims`)
//! <data-dir>/lake/         the Parquet lake       (the lake bucket)
//! <data-dir>/metadata.sqlite3   items + DynamoDB-Streams-shaped change feed (the table)
//! <data-dir>/feed.cursor   how far the exporter has read the change feed
//! <data-dir>/upload.secret signing secret of local presigned uploads
//! ```
//!
//! `imglake demo` and `imglake serve` drive the very same handlers, exporter and SQL as the
//! Lambdas over these stores.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use imglake_exporter::{ExportOptions, Exporter, Lake};
use imglake_pipeline::blob::BlobStore;
use imglake_pipeline::feed::export_next;
use imglake_pipeline::handlers::worker::Worked;
use imglake_pipeline::handlers::{raw_key, HandlerError, Pipeline, PresignConfig};
use imglake_pipeline::presign::Credentials;
use imglake_pipeline::store::{Clock, EmbeddedStore, DEFAULT_TABLE_NAME};

/// Bucket name of the local raw store in presigned forms.
pub const RAW_BUCKET: &str = "raw";
/// Bucket name Kafka claim-checks use for `<data-dir>/claims`.
pub const CLAIMS_BUCKET: &str = "claims";
/// Region of local presigned forms.
pub const REGION: &str = "us-east-1";
/// Access key id of local presigned forms.
pub const ACCESS_KEY_ID: &str = "imglake-local";
/// Change records per exporter batch when flushing.
pub const FLUSH_BATCH: usize = 50_000;

/// The local stores and the exporter over them.
pub struct Local {
    pub data_dir: PathBuf,
    pub pipeline: Arc<Pipeline<EmbeddedStore>>,
    pub lake: Lake,
    pub exporter: Exporter,
    pub claims: BlobStore,
    /// Secret that signs (and the upload route verifies) local presigned forms.
    pub upload_secret: String,
}

/// What a feed flush wrote.
#[derive(Debug, Default, Clone, Copy)]
pub struct Flushed {
    pub records: usize,
    pub rows: usize,
    pub quarantined: usize,
    pub files: usize,
}

impl Local {
    /// Opens (creating) the data directory. `upload_endpoint` is the base URL of the local
    /// upload route presigned forms point at (`http://127.0.0.1:8080/upload`).
    pub fn open(
        data_dir: &Path,
        clock: Arc<dyn Clock>,
        upload_endpoint: &str,
    ) -> anyhow::Result<Local> {
        std::fs::create_dir_all(data_dir).with_context(|| {
            format!(
                "cannot create the data directory {} (choose another with --data-dir)",
                data_dir.display()
            )
        })?;
        let dir = |name: &str| data_dir.join(name).display().to_string();
        let raw = BlobStore::open(&dir("raw"), None)?;
        let processed = BlobStore::open(&dir("processed"), None)?;
        let claims = BlobStore::open(&dir("claims"), None)?;
        let store = EmbeddedStore::open(
            data_dir.join("metadata.sqlite3"),
            DEFAULT_TABLE_NAME,
            clock.clone(),
        )?;
        let upload_secret = secret(&data_dir.join("upload.secret"))?;
        let mut pipeline = Pipeline::new(store, raw, processed, clock);
        pipeline
            .claim_checks
            .insert(CLAIMS_BUCKET.to_owned(), claims.clone());
        pipeline.config.presign = Some(PresignConfig {
            bucket: RAW_BUCKET.to_owned(),
            region: REGION.to_owned(),
            credentials: Credentials::new(ACCESS_KEY_ID, upload_secret.clone()),
            endpoint: Some(upload_endpoint.to_owned()),
            expires_in: Duration::from_secs(15 * 60),
            server_side_encryption: None,
        });
        let lake = Lake::open(&dir("lake"))?;
        let exporter = lake.exporter(ExportOptions::default());
        Ok(Local {
            data_dir: data_dir.to_owned(),
            pipeline: Arc::new(pipeline),
            lake,
            exporter,
            claims,
            upload_secret,
        })
    }

    fn cursor_file(&self) -> PathBuf {
        self.data_dir.join("feed.cursor")
    }

    /// How far the exporter has read the change feed.
    pub fn cursor(&self) -> anyhow::Result<u64> {
        match std::fs::read_to_string(self.cursor_file()) {
            Ok(text) => text.trim().parse().with_context(|| {
                format!(
                    "{} is not a number; delete it to re-export the whole feed (replays rewrite the same files)",
                    self.cursor_file().display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e).context("reading the feed cursor"),
        }
    }

    fn save_cursor(&self, cursor: u64) -> anyhow::Result<()> {
        let tmp = self.data_dir.join("feed.cursor.tmp");
        std::fs::write(&tmp, cursor.to_string()).context("writing the feed cursor")?;
        std::fs::rename(&tmp, self.cursor_file()).context("writing the feed cursor")
    }

    /// Changes not yet in the lake.
    pub async fn pending(&self) -> anyhow::Result<u64> {
        Ok(self.pipeline.store.pending_changes(self.cursor()?).await?)
    }

    /// Exports every pending change into the lake, `batch` records per exporter call
    /// (each call writes its own files), saving the cursor after each.
    pub async fn flush(&self, batch: usize) -> anyhow::Result<Flushed> {
        let mut total = Flushed::default();
        let mut cursor = self.cursor()?;
        loop {
            let now_ms = chrono::Utc::now().timestamp_millis();
            let Some(done) =
                export_next(&self.pipeline.store, &self.exporter, cursor, batch, now_ms).await?
            else {
                return Ok(total);
            };
            cursor = done.cursor;
            self.save_cursor(cursor)?;
            let r = &done.report;
            total.records += r.received;
            total.rows += r.rows_written;
            total.quarantined += r.quarantined;
            total.files += r.files.len();
            if r.failed_records() > 0 {
                anyhow::bail!(
                    "{} change records could not be written to the lake ({}); they stay in the feed and are retried by the next flush",
                    r.failed_records(),
                    r.write_errors.join("; ")
                );
            }
        }
    }
}

/// Processes the raw object of `image_id` as the queue would deliver its S3 event:
/// attempts until it settles or the last attempt, with a short backoff.
pub async fn process_with_retries(
    pipeline: &Pipeline<EmbeddedStore>,
    image_id: &str,
) -> Result<Worked, HandlerError> {
    let key = raw_key(image_id);
    let mut attempt = 1;
    loop {
        match pipeline.process_object(&key, attempt).await {
            Err(err) if err.is_retryable() && attempt < pipeline.config.max_attempts => {
                tracing::warn!(image_id, attempt, error = %err, "processing will be retried");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// The TTL sweep at `now`: removes expired items (REMOVE records with the DynamoDB service
/// identity) and their images, as DynamoDB TTL and the buckets' lifecycle do on AWS.
pub async fn sweep(
    pipeline: &Pipeline<EmbeddedStore>,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<usize> {
    let expired = pipeline.store.sweep_expired(now).await?;
    for image_id in &expired {
        pipeline.raw.delete(&raw_key(image_id)).await?;
        pipeline.processed.delete_prefix(image_id).await?;
    }
    Ok(expired.len())
}

/// The local upload secret, made on first use.
fn secret(path: &Path) -> anyhow::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => return Ok(s.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    let secret = format!("{}{}", ulid::Ulid::new(), ulid::Ulid::new());
    std::fs::write(path, &secret).with_context(|| format!("writing {}", path.display()))?;
    Ok(secret)
}
