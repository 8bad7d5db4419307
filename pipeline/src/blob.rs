//! Image blobs (raw uploads, variants, claim-checked objects) behind one `object_store`:
//! a directory on disk for the embedded default, an S3 bucket (optionally SSE-KMS) on AWS or
//! against a local S3-compatible server.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use imglake_exporter::lake::s3_builder;
use object_store::aws::{AmazonS3, AmazonS3ConfigKey, AwsAuthorizer};
use object_store::client::{ClientOptions, HttpClient, HttpConnector, ReqwestConnector};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    Attribute, Attributes, GetOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
};
use thiserror::Error;

/// Why a blob operation failed.
#[derive(Debug, Error)]
pub enum BlobError {
    /// The location cannot be opened as configured.
    #[error("cannot open blob store `{location}`: {reason}")]
    Open { location: String, reason: String },
    /// The object key is not a valid path (empty segment, `..`, control character).
    #[error("`{key}` is not a valid object key: {reason}")]
    Key { key: String, reason: String },
    /// No object under this key.
    #[error("no object `{key}` in {location}")]
    NotFound { location: String, key: String },
    /// The object is larger than the caller accepts; nothing was read.
    #[error("object `{key}` is {size} bytes, over the limit of {limit}")]
    TooLarge { key: String, size: u64, limit: u64 },
    /// The backend failed (I/O, network, 5xx after the client's retries); retrying may work.
    #[error("{operation} `{key}` in {location} failed: {source}")]
    Backend {
        operation: &'static str,
        location: String,
        key: String,
        source: Box<object_store::Error>,
    },
}

impl BlobError {
    /// Whether retrying the same call may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, BlobError::Backend { .. })
    }

    /// Why the key can never be read or written in this store, when a local file system
    /// refused it for a reason that depends only on the key and the objects already there:
    /// a key running under an existing object (`ENOTDIR`), naming a directory (`EISDIR`), a
    /// symlink loop, a name too long, or a name the file system does not take. Retrying the
    /// same key fails the same way, so callers holding a key from outside (a claim-check)
    /// refuse it instead of retrying forever. (Our own keys failing so mean a broken store,
    /// which an operator can repair: [`is_retryable`](Self::is_retryable) stays true.)
    pub fn key_unusable(&self) -> Option<String> {
        let BlobError::Backend { source, .. } = self else {
            return None;
        };
        let object_store::Error::Generic {
            store: "LocalFileSystem",
            source: inner,
        } = source.as_ref()
        else {
            return None;
        };
        if inner
            .to_string()
            .starts_with("Filenames containing trailing")
        {
            return Some(inner.to_string());
        }
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(inner.as_ref());
        while let Some(err) = cause {
            if let Some(io) = err.downcast_ref::<std::io::Error>() {
                use std::io::ErrorKind as K;
                // ELOOP has no stable ErrorKind yet: by its number (Linux and the BSDs
                // differ; 40 is Linux's, 62 macOS's).
                let looped = cfg!(target_os = "linux") && io.raw_os_error() == Some(40)
                    || cfg!(target_os = "macos") && io.raw_os_error() == Some(62);
                return (looped
                    || matches!(
                        io.kind(),
                        K::NotADirectory | K::IsADirectory | K::InvalidFilename | K::InvalidInput
                    ))
                .then(|| io.to_string());
            }
            cause = err.source();
        }
        None
    }
}

/// One bucket (or directory) of blobs.
#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    root: Path,
    /// `s3://bucket/prefix`, a directory path, or `memory://`.
    location: String,
    /// S3 bucket name, when the store is one.
    bucket: Option<String>,
    /// Whether the backend stores object attributes (content type); the file system does not.
    attributes: bool,
    /// For an S3 bucket: what deleting one object version needs (object_store has no call
    /// for it).
    versions: Option<Arc<S3Versions>>,
}

/// Deletes single object versions of an S3 bucket: a signed `DELETE ?versionId=`, with the
/// store's own credentials and an HTTP client of the same options.
struct S3Versions {
    store: Arc<AmazonS3>,
    client: HttpClient,
    /// `<endpoint>/<bucket>`, path-style (as object_store addresses the bucket).
    base: String,
    region: String,
}

impl fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobStore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl BlobStore {
    /// Opens `s3://bucket[/prefix]` (standard AWS environment, `AWS_ENDPOINT_URL` honoured
    /// with path-style plain http for local servers; SSE-KMS with `kms_key_id` when given) or
    /// a directory, created if absent.
    pub fn open(location: &str, kms_key_id: Option<&str>) -> Result<BlobStore, BlobError> {
        let fail = |reason: String| BlobError::Open {
            location: location.to_owned(),
            reason,
        };
        if let Some(rest) = location.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(fail("no bucket name (use s3://bucket/prefix)".into()));
            }
            let mut builder = s3_builder(bucket);
            if let Some(key) = kms_key_id.filter(|k| !k.is_empty()) {
                builder = builder.with_sse_kms_encryption(key);
            }
            let region = builder
                .get_config_value(&AmazonS3ConfigKey::Region)
                .unwrap_or_else(|| "us-east-1".to_owned());
            let endpoint = builder
                .get_config_value(&AmazonS3ConfigKey::Endpoint)
                .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
            let store = Arc::new(builder.build().map_err(|e| {
                fail(format!(
                    "{e} (check AWS_REGION, credentials and AWS_ENDPOINT_URL)"
                ))
            })?);
            let client = ReqwestConnector::default()
                .connect(&ClientOptions::new().with_allow_http(endpoint.starts_with("http://")))
                .map_err(|e| fail(e.to_string()))?;
            let versions = S3Versions {
                store: store.clone(),
                client,
                base: format!("{}/{bucket}", endpoint.trim_end_matches('/')),
                region,
            };
            return Ok(BlobStore {
                store,
                root: Path::from(prefix.trim_matches('/')),
                location: location.to_owned(),
                bucket: Some(bucket.to_owned()),
                attributes: true,
                versions: Some(Arc::new(versions)),
            });
        }
        if location.contains("://") {
            return Err(fail("use a directory path or s3://bucket/prefix".into()));
        }
        std::fs::create_dir_all(location)
            .map_err(|e| fail(format!("{e} (check that the directory is writable)")))?;
        let abs = std::fs::canonicalize(location).map_err(|e| fail(e.to_string()))?;
        let store = LocalFileSystem::new_with_prefix(&abs).map_err(|e| fail(e.to_string()))?;
        Ok(BlobStore {
            store: Arc::new(store.with_automatic_cleanup(true)),
            root: Path::default(),
            location: abs.display().to_string(),
            bucket: None,
            attributes: false,
            versions: None,
        })
    }

    /// A store in memory, for tests.
    pub fn in_memory() -> BlobStore {
        BlobStore {
            store: Arc::new(InMemory::new()),
            root: Path::default(),
            location: "memory://".into(),
            bucket: None,
            attributes: true,
            versions: None,
        }
    }

    /// A store in memory standing for the S3 bucket `bucket`, for tests of bucket rules.
    #[cfg(test)]
    pub fn in_memory_bucket(bucket: &str) -> BlobStore {
        BlobStore {
            bucket: Some(bucket.to_owned()),
            ..BlobStore::in_memory()
        }
    }

    /// Where the store is, as opened (an absolute directory for local stores).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The S3 bucket, when the store is one.
    pub fn bucket(&self) -> Option<&str> {
        self.bucket.as_deref()
    }

    fn path(&self, key: &str) -> Result<Path, BlobError> {
        let bad = |reason: &str| BlobError::Key {
            key: key.to_owned(),
            reason: reason.to_owned(),
        };
        if key.is_empty() || key.len() > 1024 {
            return Err(bad("keys are 1 to 1024 bytes"));
        }
        let parsed = Path::parse(key).map_err(|e| bad(&e.to_string()))?;
        if parsed.as_ref() != key {
            return Err(bad("keys may not start or end with `/` or contain `//`"));
        }
        Ok(self.root.parts().chain(parsed.parts()).collect())
    }

    fn backend(
        &self,
        operation: &'static str,
        key: &str,
        source: object_store::Error,
    ) -> BlobError {
        match source {
            object_store::Error::NotFound { .. } => BlobError::NotFound {
                location: self.location.clone(),
                key: key.to_owned(),
            },
            source => BlobError::Backend {
                operation,
                location: self.location.clone(),
                key: key.to_owned(),
                source: Box::new(source),
            },
        }
    }

    /// Writes `bytes` under `key` in one request (readers never see a partial object).
    pub async fn put(&self, key: &str, bytes: Bytes, content_type: &str) -> Result<(), BlobError> {
        let path = self.path(key)?;
        let mut attributes = Attributes::new();
        if self.attributes {
            attributes.insert(Attribute::ContentType, content_type.to_owned().into());
        }
        let opts = PutOptions {
            attributes,
            ..PutOptions::default()
        };
        self.store
            .put_opts(&path, PutPayload::from_bytes(bytes), opts)
            .await
            .map_err(|e| self.backend("put", key, e))?;
        Ok(())
    }

    /// Writes `bytes` under `key` unless an object is there already: `Ok(false)`, and
    /// nothing written. The check and the write are one step (the file system links the
    /// new file in place only if the name is free), so of two racing writers one wins.
    pub async fn put_new(
        &self,
        key: &str,
        bytes: Bytes,
        content_type: &str,
    ) -> Result<bool, BlobError> {
        let path = self.path(key)?;
        let mut attributes = Attributes::new();
        if self.attributes {
            attributes.insert(Attribute::ContentType, content_type.to_owned().into());
        }
        let opts = PutOptions {
            mode: PutMode::Create,
            attributes,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(&path, PutPayload::from_bytes(bytes), opts)
            .await
        {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(self.backend("put", key, e)),
        }
    }

    /// Reads the object under `key` if it is at most `limit` bytes; a larger object is
    /// refused from its metadata without reading the body.
    pub async fn get(&self, key: &str, limit: u64) -> Result<Bytes, BlobError> {
        self.get_version(key, None, limit)
            .await
            .map(|(bytes, _)| bytes)
    }

    /// [`get`](Self::get) of one version of the object (the current one when `version` is
    /// `None`), with the version read when the store keeps versions (a versioned bucket).
    pub async fn get_version(
        &self,
        key: &str,
        version: Option<&str>,
        limit: u64,
    ) -> Result<(Bytes, Option<String>), BlobError> {
        let path = self.path(key)?;
        let opts = GetOptions {
            version: version.map(str::to_owned),
            ..GetOptions::default()
        };
        let result = self
            .store
            .get_opts(&path, opts)
            .await
            .map_err(|e| self.backend("get", key, e))?;
        if result.meta.size > limit {
            return Err(BlobError::TooLarge {
                key: key.to_owned(),
                size: result.meta.size,
                limit,
            });
        }
        let read = result.meta.version.clone();
        let bytes = result
            .bytes()
            .await
            .map_err(|e| self.backend("get", key, e))?;
        Ok((bytes, read))
    }

    /// Deletes one version of the object under `key` (S3 with versioning: the previous
    /// version becomes current again when this one was). `Ok(false)` when this store keeps no
    /// versions; an absent version is not an error.
    pub async fn delete_version(&self, key: &str, version: &str) -> Result<bool, BlobError> {
        let Some(s3) = &self.versions else {
            return Ok(false);
        };
        let path = self.path(key)?;
        let encode = |part: &str| {
            percent_encoding::utf8_percent_encode(part, percent_encoding::NON_ALPHANUMERIC)
                .to_string()
        };
        let object: Vec<String> = path.parts().map(|p| encode(p.as_ref())).collect();
        let url = format!(
            "{}/{}?versionId={}",
            s3.base,
            object.join("/"),
            encode(version)
        );
        let failed = |reason: String| BlobError::Backend {
            operation: "delete version",
            location: self.location.clone(),
            key: key.to_owned(),
            source: Box::new(object_store::Error::Generic {
                store: "S3",
                source: reason.into(),
            }),
        };
        let credential = s3
            .store
            .credentials()
            .get_credential()
            .await
            .map_err(|e| failed(e.to_string()))?;
        let mut request = http::Request::builder()
            .method(http::Method::DELETE)
            .uri(&url)
            .body(object_store::client::HttpRequestBody::empty())
            .map_err(|e| failed(e.to_string()))?;
        AwsAuthorizer::new(&credential, "s3", &s3.region).authorize(&mut request, None);
        let response = s3
            .client
            .execute(request)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let status = response.status();
        if status.is_success() || status == http::StatusCode::NOT_FOUND {
            return Ok(true);
        }
        let body = response.into_body().bytes().await.unwrap_or_default();
        Err(failed(format!(
            "S3 answered {status}: {}",
            String::from_utf8_lossy(&body.slice(..body.len().min(300)))
        )))
    }

    /// Size of the object under `key`, or `None` when there is none.
    pub async fn size(&self, key: &str) -> Result<Option<u64>, BlobError> {
        let path = self.path(key)?;
        match self.store.head(&path).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.backend("head", key, e)),
        }
    }

    /// Deletes the object under `key`; an absent object is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), BlobError> {
        let path = self.path(key)?;
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.backend("delete", key, e)),
        }
    }

    /// Deletes every object under `prefix/` (a removed image's variants); returns how many.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<usize, BlobError> {
        use futures::TryStreamExt as _;
        let path = self.path(prefix)?;
        let metas: Vec<_> = self
            .store
            .list(Some(&path))
            .try_collect()
            .await
            .map_err(|e| self.backend("list", prefix, e))?;
        for meta in &metas {
            match self.store.delete(&meta.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.backend("delete", meta.location.as_ref(), e)),
            }
        }
        Ok(metas.len())
    }

    /// The file of `key` for a local store (for messages and local tools), `None` otherwise.
    pub fn local_file(&self, key: &str) -> Option<std::path::PathBuf> {
        if self.bucket.is_some() || self.location.contains("://") {
            return None;
        }
        let path = self.path(key).ok()?;
        Some(
            path.parts()
                .fold(std::path::PathBuf::from(&self.location), |p, part| {
                    p.join(part.as_ref())
                }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_store_round_trips_and_bounds_reads() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path().join("raw").to_str().unwrap(), None).unwrap();
        store
            .put("images/a", Bytes::from_static(b"hello"), "image/png")
            .await
            .unwrap();
        assert_eq!(store.get("images/a", 5).await.unwrap(), &b"hello"[..]);
        assert_eq!(store.size("images/a").await.unwrap(), Some(5));
        let file = store.local_file("images/a").unwrap();
        assert_eq!(std::fs::read(file).unwrap(), b"hello");
        assert!(matches!(
            store.get("images/a", 4).await,
            Err(BlobError::TooLarge {
                size: 5,
                limit: 4,
                ..
            })
        ));
        store.delete("images/a").await.unwrap();
        store.delete("images/a").await.unwrap();
        let missing = store.get("images/a", 5).await.unwrap_err();
        assert!(matches!(missing, BlobError::NotFound { .. }), "{missing}");
        assert!(!missing.is_retryable());
    }

    #[tokio::test]
    async fn keys_the_file_system_can_never_read_are_told_apart_from_failures() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path().to_str().unwrap(), None).unwrap();
        store
            .put("ok.png", Bytes::from_static(b"x"), "image/png")
            .await
            .unwrap();
        std::fs::create_dir_all(dir.path().join("adir")).unwrap();
        let long = format!("{}/b", "a".repeat(300));
        for key in ["ok.png/x", long.as_str(), "adir"] {
            match store.get(key, 10).await {
                Err(BlobError::NotFound { .. }) if key == "adir" => {}
                Err(err) => assert!(err.key_unusable().is_some(), "{key}: {err:?}"),
                Ok(_) => panic!("{key} was read"),
            }
        }
        let missing = store.get("nothing", 10).await.unwrap_err();
        assert_eq!(missing.key_unusable(), None);
    }

    #[tokio::test]
    async fn keys_that_escape_or_are_malformed_are_refused() {
        let store = BlobStore::in_memory();
        for key in ["", "../x", "a//b", "/a", "a/", "a/../b"] {
            let err = store
                .put(key, Bytes::from_static(b"x"), "image/png")
                .await
                .unwrap_err();
            assert!(matches!(err, BlobError::Key { .. }), "{key}: {err}");
        }
    }

    #[test]
    fn urls_other_than_s3_are_refused_with_the_accepted_forms() {
        let err = BlobStore::open("gs://bucket/x", None).unwrap_err();
        assert!(err.to_string().contains("s3://bucket/prefix"), "{err}");
    }
}
