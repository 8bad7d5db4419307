//! Configuration of the image Lambdas from their environment (the contract with terraform/,
//! listed in terraform/README.md), validated at start-up: every error names the variable.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use imglake_pipeline::blob::{BlobError, BlobStore};
use imglake_pipeline::handlers::{
    Pipeline, PipelineConfig, PresignConfig, DEFAULT_DIRECT_MAX_BYTES, DEFAULT_MAX_ATTEMPTS,
};
use imglake_pipeline::presign::{Credentials, ServerSideEncryption};
use imglake_pipeline::store::Clock;
use imglake_pipeline::validate::Limits;
use thiserror::Error;

use crate::dynamodb::DynamoStore;

/// Bucket of raw uploads.
pub const ENV_RAW_BUCKET: &str = "IMGLAKE_RAW_BUCKET";
/// Bucket of processed variants.
pub const ENV_PROCESSED_BUCKET: &str = "IMGLAKE_PROCESSED_BUCKET";
/// DynamoDB table of metadata items.
pub const ENV_METADATA_TABLE: &str = "IMGLAKE_METADATA_TABLE";
/// KMS key (id or ARN) for SSE-KMS on writes and in upload policies; optional.
pub const ENV_KMS_KEY_ID: &str = "IMGLAKE_KMS_KEY_ID";
/// Lifetime of items (`expires_at`), in days; default 7.
pub const ENV_METADATA_TTL_DAYS: &str = "IMGLAKE_METADATA_TTL_DAYS";
/// Largest accepted image in bytes; default 10 MiB.
pub const ENV_MAX_UPLOAD_BYTES: &str = "IMGLAKE_MAX_UPLOAD_BYTES";
/// Largest width × height accepted, in megapixels; default 50.
pub const ENV_MAX_MEGAPIXELS: &str = "IMGLAKE_MAX_MEGAPIXELS";
/// `true` to accept TIFF input; default `false`.
pub const ENV_ALLOW_TIFF: &str = "IMGLAKE_ALLOW_TIFF";
/// Most scans a JPEG may have (one decoding pass each); default 64.
pub const ENV_MAX_JPEG_SCANS: &str = "IMGLAKE_MAX_JPEG_SCANS";
/// Memory for decoding and processing one image, a size like `1GB` or `768MB` (powers of
/// 1024, as the CLI's `--memory-budget`); default 1GB, which fits a 1 769 MB function
/// working on one image at a time.
pub const ENV_MEMORY_BUDGET: &str = "IMGLAKE_MEMORY_BUDGET";
/// Processing attempts before FAILED: the process queue's `maxReceiveCount`; default 3.
pub const ENV_MAX_ATTEMPTS: &str = "IMGLAKE_MAX_ATTEMPTS";
/// Comma-separated buckets Kafka claim-checks may name (the raw bucket always may).
pub const ENV_CLAIM_CHECK_BUCKETS: &str = "IMGLAKE_CLAIM_CHECK_BUCKETS";

/// Seconds a presigned upload form stays valid (default 900, 15 minutes): the upload
/// function signs forms for this long, and the process function's scheduled sweep abandons the
/// images of forms older than this that received no upload. Both must see the same value.
pub const ENV_UPLOAD_FORM_EXPIRES_SECS: &str = "IMGLAKE_UPLOAD_FORM_EXPIRES_SECS";

/// How long a presigned upload form stays valid by default.
pub const PRESIGN_EXPIRES_IN: Duration = Duration::from_secs(15 * 60);

/// A configuration problem at start-up; the message starts with the variable to fix.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("{var} is not set: {hint}")]
    Missing {
        var: &'static str,
        hint: &'static str,
    },
    /// A variable's value is not acceptable.
    #[error("{var}: `{value}` is not {expected}")]
    Invalid {
        var: &'static str,
        value: String,
        expected: &'static str,
    },
    /// A bucket cannot be opened as an object store.
    #[error("{var}: {source}")]
    Bucket {
        var: &'static str,
        source: BlobError,
    },
}

/// The validated configuration shared by `upload`, `kafka-ingest` and `process`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub raw_bucket: String,
    pub processed_bucket: String,
    pub metadata_table: String,
    pub kms_key_id: Option<String>,
    pub ttl_days: u32,
    pub max_upload_bytes: u64,
    pub max_megapixels: u64,
    pub allow_tiff: bool,
    pub max_jpeg_scans: u32,
    pub memory_budget: u64,
    pub max_attempts: u32,
    /// Extra claim-check buckets (besides the raw bucket), without duplicates.
    pub claim_check_buckets: Vec<String>,
    /// How long an upload form is valid ([`ENV_UPLOAD_FORM_EXPIRES_SECS`]).
    pub form_expires_in: Duration,
}

fn non_empty(var: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    var(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn bucket(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    hint: &'static str,
) -> Result<String, ConfigError> {
    let value = non_empty(var, name).ok_or(ConfigError::Missing { var: name, hint })?;
    check_bucket(name, &value)?;
    Ok(value)
}

/// S3 bucket names: 3 to 63 of a-z 0-9 . -, starting and ending with a letter or digit.
fn check_bucket(var: &'static str, name: &str) -> Result<(), ConfigError> {
    let edge = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let ok = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && edge(name.as_bytes().first())
        && edge(name.as_bytes().last());
    if ok {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            var,
            value: name.to_owned(),
            expected: "an S3 bucket name (3 to 63 of a-z 0-9 . -; a name, not an ARN or URL)",
        })
    }
}

/// An optional number variable: `default` when unset or empty, else a value in `range`.
pub(crate) fn number<T: std::str::FromStr + PartialOrd>(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    range: std::ops::RangeInclusive<T>,
    default: T,
    expected: &'static str,
) -> Result<T, ConfigError> {
    let Some(value) = non_empty(var, name) else {
        return Ok(default);
    };
    value
        .parse::<T>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or(ConfigError::Invalid {
            var: name,
            value,
            expected,
        })
}

impl Config {
    /// Reads the configuration through `var` (the process environment in `main`).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let raw_bucket = bucket(&var, ENV_RAW_BUCKET, "set it to the raw uploads bucket")?;
        let processed_bucket = bucket(
            &var,
            ENV_PROCESSED_BUCKET,
            "set it to the processed variants bucket",
        )?;
        let metadata_table = non_empty(&var, ENV_METADATA_TABLE).ok_or(ConfigError::Missing {
            var: ENV_METADATA_TABLE,
            hint: "set it to the metadata DynamoDB table",
        })?;
        let table_ok = (3..=255).contains(&metadata_table.len())
            && metadata_table
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !table_ok {
            return Err(ConfigError::Invalid {
                var: ENV_METADATA_TABLE,
                value: metadata_table,
                expected: "a DynamoDB table name (3 to 255 of a-z A-Z 0-9 _ - .)",
            });
        }
        let ttl_days = number(
            &var,
            ENV_METADATA_TTL_DAYS,
            1..=3650,
            7,
            "a number of days from 1 to 3650",
        )?;
        let max_upload_bytes = number(
            &var,
            ENV_MAX_UPLOAD_BYTES,
            1..=5 * 1024 * 1024 * 1024,
            Limits::default().max_bytes,
            "a size in bytes from 1 to 5 GiB",
        )?;
        let max_megapixels = number(
            &var,
            ENV_MAX_MEGAPIXELS,
            1..=1_000,
            Limits::default().max_pixels / 1_000_000,
            "a number of megapixels from 1 to 1000",
        )?;
        let allow_tiff = match non_empty(&var, ENV_ALLOW_TIFF).as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    var: ENV_ALLOW_TIFF,
                    value: other.to_owned(),
                    expected: "true or false",
                })
            }
        };
        let max_jpeg_scans = number(
            &var,
            ENV_MAX_JPEG_SCANS,
            1..=10_000,
            Limits::default().max_jpeg_scans,
            "a count from 1 to 10000",
        )?;
        let memory_budget = match non_empty(&var, ENV_MEMORY_BUDGET) {
            None => Limits::default().max_memory_bytes,
            Some(text) => imglake_exporter::compact::parse_size(&text)
                .ok()
                .filter(|bytes| (16 << 20..=10 << 30).contains(bytes))
                .ok_or(ConfigError::Invalid {
                    var: ENV_MEMORY_BUDGET,
                    value: text,
                    expected:
                        "a size from 16MB to 10GB, like 1GB (below the function's memory size)",
                })?,
        };
        let max_attempts = number(
            &var,
            ENV_MAX_ATTEMPTS,
            1..=1000,
            DEFAULT_MAX_ATTEMPTS,
            "a count from 1 to 1000 (the process queue's maxReceiveCount)",
        )?;
        let mut claim_check_buckets = Vec::new();
        for name in var(ENV_CLAIM_CHECK_BUCKETS)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|b| !b.is_empty())
        {
            check_bucket(ENV_CLAIM_CHECK_BUCKETS, name)?;
            if name != raw_bucket && !claim_check_buckets.iter().any(|b| b == name) {
                claim_check_buckets.push(name.to_owned());
            }
        }
        let form_expires_secs = number(
            &var,
            ENV_UPLOAD_FORM_EXPIRES_SECS,
            1..=7 * 24 * 3600,
            PRESIGN_EXPIRES_IN.as_secs(),
            "a number of seconds from 1 to 604800 (S3 presigned forms last at most 7 days)",
        )?;
        Ok(Config {
            form_expires_in: Duration::from_secs(form_expires_secs),
            raw_bucket,
            processed_bucket,
            metadata_table,
            kms_key_id: non_empty(&var, ENV_KMS_KEY_ID),
            ttl_days,
            max_upload_bytes,
            max_megapixels,
            allow_tiff,
            max_jpeg_scans,
            memory_budget,
            max_attempts,
            claim_check_buckets,
        })
    }

    /// Limits, TTL and retries for the handlers (the default recipe).
    pub fn pipeline_config(&self) -> PipelineConfig {
        let limits = Limits {
            max_bytes: self.max_upload_bytes,
            max_pixels: self.max_megapixels * 1_000_000,
            allow_tiff: self.allow_tiff,
            max_jpeg_scans: self.max_jpeg_scans,
            max_memory_bytes: self.memory_budget,
        };
        PipelineConfig {
            ttl: Duration::from_secs(u64::from(self.ttl_days) * 86_400),
            max_attempts: self.max_attempts,
            direct_max_bytes: DEFAULT_DIRECT_MAX_BYTES.min(self.max_upload_bytes),
            ..PipelineConfig::default()
        }
        .with_limits(limits)
    }

    /// How `POST /images` signs forms: the function's own credentials and region
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`, set
    /// by Lambda), the endpoint from `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL` when set, and
    /// SSE-KMS with the configured key.
    pub fn presign_from_lookup(
        &self,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<PresignConfig, ConfigError> {
        let required = |name: &'static str, hint: &'static str| {
            non_empty(&var, name).ok_or(ConfigError::Missing { var: name, hint })
        };
        let hint =
            "presigned uploads are signed with the function's own credentials (Lambda sets them)";
        let mut credentials = Credentials::new(
            required("AWS_ACCESS_KEY_ID", hint)?,
            required("AWS_SECRET_ACCESS_KEY", hint)?,
        );
        if let Some(token) = non_empty(&var, "AWS_SESSION_TOKEN") {
            credentials = credentials.with_session_token(token);
        }
        let region = non_empty(&var, "AWS_REGION")
            .or_else(|| non_empty(&var, "AWS_DEFAULT_REGION"))
            .ok_or(ConfigError::Missing {
                var: "AWS_REGION",
                hint: "the raw bucket's region signs upload forms (Lambda sets it)",
            })?;
        let endpoint =
            non_empty(&var, "AWS_ENDPOINT_URL_S3").or_else(|| non_empty(&var, "AWS_ENDPOINT_URL"));
        Ok(PresignConfig {
            bucket: self.raw_bucket.clone(),
            region,
            credentials,
            endpoint,
            expires_in: self.form_expires_in,
            server_side_encryption: self
                .kms_key_id
                .as_ref()
                .map(|key| ServerSideEncryption::Kms {
                    key_id: Some(key.clone()),
                }),
        })
    }

    /// The handlers' pipeline over S3 and DynamoDB (clients from the standard AWS
    /// environment; no I/O happens here).
    pub fn pipeline(
        &self,
        sdk: &aws_config::SdkConfig,
        clock: Arc<dyn Clock>,
        presign: Option<PresignConfig>,
    ) -> Result<Pipeline<DynamoStore>, ConfigError> {
        let open = |var: &'static str, bucket: &str, kms: Option<&str>| {
            BlobStore::open(&format!("s3://{bucket}"), kms)
                .map_err(|source| ConfigError::Bucket { var, source })
        };
        let kms = self.kms_key_id.as_deref();
        let raw = open(ENV_RAW_BUCKET, &self.raw_bucket, kms)?;
        let processed = open(ENV_PROCESSED_BUCKET, &self.processed_bucket, kms)?;
        let mut claim_checks = HashMap::from([(self.raw_bucket.clone(), raw.clone())]);
        for bucket in &self.claim_check_buckets {
            // Read-only: objects are decrypted transparently, no key needed.
            claim_checks.insert(bucket.clone(), open(ENV_CLAIM_CHECK_BUCKETS, bucket, None)?);
        }
        let store = DynamoStore::from_sdk_config(sdk, self.metadata_table.clone());
        let mut pipeline = Pipeline::new(store, raw, processed, clock);
        pipeline.claim_checks = claim_checks;
        pipeline.config = PipelineConfig {
            presign,
            ..self.pipeline_config()
        };
        Ok(pipeline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    const BASE: [(&str, &str); 3] = [
        (ENV_RAW_BUCKET, "imglake-raw"),
        (ENV_PROCESSED_BUCKET, "imglake-processed"),
        (ENV_METADATA_TABLE, "imglake-images"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut pairs: Vec<_> = BASE.to_vec();
        pairs.extend_from_slice(extra);
        pairs
    }

    #[test]
    fn defaults_fill_everything_but_the_resources() {
        let config = Config::from_lookup(lookup(&BASE)).unwrap();
        assert_eq!(config.ttl_days, 7);
        assert_eq!(config.max_upload_bytes, Limits::default().max_bytes);
        assert_eq!(config.max_attempts, DEFAULT_MAX_ATTEMPTS);
        assert_eq!(config.kms_key_id, None);
        assert!(config.claim_check_buckets.is_empty());
        let pipeline = config.pipeline_config();
        assert_eq!(pipeline.ttl, Duration::from_secs(7 * 86_400));
        assert!(pipeline.direct_max_bytes <= pipeline.limits.max_bytes);
        assert_eq!(pipeline.limits, Limits::default());
    }

    #[test]
    fn image_limits_come_from_the_environment() {
        let pairs = with(&[
            (ENV_MAX_MEGAPIXELS, "24"),
            (ENV_ALLOW_TIFF, "true"),
            (ENV_MAX_JPEG_SCANS, "20"),
        ]);
        let limits = Config::from_lookup(lookup(&pairs))
            .unwrap()
            .pipeline_config()
            .limits;
        assert_eq!(limits.max_pixels, 24_000_000);
        assert!(limits.allow_tiff);
        assert_eq!(limits.max_jpeg_scans, 20);
    }

    #[test]
    fn the_memory_budget_defaults_to_1_gib_and_sizes_the_shared_budget() {
        let config = Config::from_lookup(lookup(&with(&[])))
            .unwrap()
            .pipeline_config();
        assert_eq!(config.limits.max_memory_bytes, 1024 * 1024 * 1024);
        assert_eq!(config.memory.total_bytes(), 1024 * 1024 * 1024);
        let config = Config::from_lookup(lookup(&with(&[(ENV_MEMORY_BUDGET, "768MB")])))
            .unwrap()
            .pipeline_config();
        assert_eq!(config.limits.max_memory_bytes, 768 * 1024 * 1024);
        assert_eq!(config.memory.total_bytes(), 768 * 1024 * 1024);
    }

    #[test]
    fn every_error_names_its_variable() {
        for (var, pairs) in [
            (ENV_RAW_BUCKET, vec![]),
            (
                ENV_RAW_BUCKET,
                with(&[(ENV_RAW_BUCKET, "arn:aws:s3:::raw")]),
            ),
            (ENV_PROCESSED_BUCKET, vec![BASE[0]]),
            (ENV_METADATA_TABLE, vec![BASE[0], BASE[1]]),
            (ENV_METADATA_TABLE, with(&[(ENV_METADATA_TABLE, "a b")])),
            (ENV_METADATA_TTL_DAYS, with(&[(ENV_METADATA_TTL_DAYS, "0")])),
            (
                ENV_MAX_UPLOAD_BYTES,
                with(&[(ENV_MAX_UPLOAD_BYTES, "10MB")]),
            ),
            (ENV_MAX_ATTEMPTS, with(&[(ENV_MAX_ATTEMPTS, "-1")])),
            (ENV_MAX_MEGAPIXELS, with(&[(ENV_MAX_MEGAPIXELS, "0")])),
            (ENV_ALLOW_TIFF, with(&[(ENV_ALLOW_TIFF, "yes")])),
            (ENV_MAX_JPEG_SCANS, with(&[(ENV_MAX_JPEG_SCANS, "lots")])),
            (ENV_MEMORY_BUDGET, with(&[(ENV_MEMORY_BUDGET, "1MB")])),
            (
                ENV_CLAIM_CHECK_BUCKETS,
                with(&[(ENV_CLAIM_CHECK_BUCKETS, "ok-bucket,Bad_Bucket")]),
            ),
        ] {
            // Later pairs win, as a later `export` would.
            let pairs: Vec<_> = pairs.into_iter().rev().collect();
            let err = Config::from_lookup(lookup(&pairs)).unwrap_err();
            assert!(err.to_string().starts_with(var), "{var}: {err}");
        }
    }

    #[test]
    fn claim_check_buckets_are_a_trimmed_list_without_the_raw_bucket() {
        let pairs = with(&[
            (
                ENV_CLAIM_CHECK_BUCKETS,
                " big-images , imglake-raw,big-images,,other ",
            ),
            (ENV_MAX_ATTEMPTS, "5"),
            (ENV_KMS_KEY_ID, "arn:aws:kms:eu-west-1:123456789012:key/k"),
        ]);
        let config = Config::from_lookup(lookup(&pairs)).unwrap();
        assert_eq!(config.claim_check_buckets, ["big-images", "other"]);
        assert_eq!(config.max_attempts, 5);
        assert_eq!(config.pipeline_config().max_attempts, 5);
    }

    #[test]
    fn presigning_uses_the_functions_credentials_region_and_key() {
        let pairs = with(&[(ENV_KMS_KEY_ID, "key-1")]);
        let config = Config::from_lookup(lookup(&pairs)).unwrap();
        let err = config.presign_from_lookup(lookup(&[])).unwrap_err();
        assert!(err.to_string().starts_with("AWS_ACCESS_KEY_ID"), "{err}");
        let presign = config
            .presign_from_lookup(lookup(&[
                ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE"),
                ("AWS_SECRET_ACCESS_KEY", "secret"),
                ("AWS_SESSION_TOKEN", "token"),
                ("AWS_REGION", "eu-west-1"),
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"),
            ]))
            .unwrap();
        assert_eq!(presign.bucket, "imglake-raw");
        assert_eq!(presign.region, "eu-west-1");
        assert_eq!(presign.credentials.session_token.as_deref(), Some("token"));
        assert_eq!(presign.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(
            presign.server_side_encryption,
            Some(ServerSideEncryption::Kms {
                key_id: Some("key-1".into())
            })
        );
    }
}
