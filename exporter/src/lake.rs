//! Where the lake lives: a local directory (the embedded default) or `s3://bucket/prefix`,
//! both behind one `object_store::ObjectStore`.

use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::ObjectStore;
use thiserror::Error;
use url::Url;

/// Why a lake location cannot be opened.
#[derive(Debug, Error)]
pub enum LakeError {
    /// The location is neither a directory path nor an `s3://` URL.
    #[error("unsupported lake location `{0}`: use a directory path or s3://bucket/prefix")]
    Unsupported(String),
    /// A local lake directory could not be created or resolved.
    #[error("cannot use lake directory `{path}` (check that it is writable): {source}")]
    Directory {
        path: String,
        source: std::io::Error,
    },
    /// A local lake path with a character the object store escapes in names: the files
    /// would land in a differently named directory (`~` becomes `%7E`).
    #[error("cannot use lake directory `{path}`: it contains `{ch}`, which the object store would write as a %-escape in the directory name; choose a path without any of \\ {{ }} ^ % ` [ ] \" < > ~ # | * ?")]
    Character { path: String, ch: char },
    /// The S3 client could not be configured from the environment.
    #[error("cannot configure S3 for `{location}` (check AWS_REGION, credentials and AWS_ENDPOINT_URL): {source}")]
    S3 {
        location: String,
        source: object_store::Error,
    },
}

/// An opened lake.
#[derive(Debug, Clone)]
pub struct Lake {
    /// The store holding the lake.
    pub store: Arc<dyn ObjectStore>,
    /// Path of the lake root within `store`.
    pub root: Path,
    /// URL of the store's root (`file:///` or `s3://bucket/`), for query engines that
    /// register stores by URL.
    pub store_url: Url,
    /// The location as the user wrote it, for messages.
    pub display: String,
}

impl Lake {
    /// Opens `s3://bucket/prefix` (configured from the standard AWS environment, including
    /// `AWS_ENDPOINT_URL` over plain http for local servers) or a directory (created if absent).
    pub fn open(location: &str) -> Result<Lake, LakeError> {
        if let Some(rest) = location.strip_prefix("s3://") {
            return Self::open_s3(location, rest);
        }
        if location.contains("://") && !location.starts_with("file://") {
            return Err(LakeError::Unsupported(location.to_owned()));
        }
        let dir = location.strip_prefix("file://").unwrap_or(location);
        Self::open_dir(dir)
    }

    fn open_dir(dir: &str) -> Result<Lake, LakeError> {
        let io = |source| LakeError::Directory {
            path: dir.to_owned(),
            source,
        };
        let character = |path: &std::path::Path| {
            let text = path.to_string_lossy();
            text.chars()
                .find(|c| c.is_control() || "\\{}^%`[]\"<>~#|*?".contains(*c))
                .map(|ch| LakeError::Character {
                    path: text.into_owned(),
                    ch,
                })
        };
        if let Some(err) = std::path::absolute(dir).ok().as_deref().and_then(character) {
            return Err(err);
        }
        std::fs::create_dir_all(dir).map_err(io)?;
        let abs = std::fs::canonicalize(dir).map_err(io)?;
        if let Some(err) = character(&abs) {
            return Err(err);
        }
        let root = Path::from_absolute_path(&abs).map_err(|e| {
            io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                e.to_string(),
            ))
        })?;
        let store_url = Url::parse("file:///").map_err(|e| {
            io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                e.to_string(),
            ))
        })?;
        Ok(Lake {
            store: Arc::new(LocalFileSystem::new()),
            root,
            store_url,
            display: abs.display().to_string(),
        })
    }

    fn open_s3(location: &str, rest: &str) -> Result<Lake, LakeError> {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(LakeError::Unsupported(location.to_owned()));
        }
        let store = s3_builder(bucket).build().map_err(|source| LakeError::S3 {
            location: location.to_owned(),
            source,
        })?;
        let store_url = Url::parse(&format!("s3://{bucket}/"))
            .map_err(|_| LakeError::Unsupported(location.to_owned()))?;
        Ok(Lake {
            store: Arc::new(store),
            root: Path::from(prefix.trim_matches('/')),
            store_url,
            display: location.to_owned(),
        })
    }

    /// An exporter writing into this lake.
    pub fn exporter(&self, options: crate::ExportOptions) -> crate::Exporter {
        crate::Exporter::new(self.store.clone(), self.root.clone(), options)
    }

    /// Where an object of the lake is, for people: a file path for a local lake, an
    /// `s3://bucket/key` URL otherwise.
    pub fn location(&self, key: &str) -> String {
        if self.store_url.scheme() == "file" {
            format!("/{}", key.trim_start_matches('/'))
        } else {
            format!("{}{}", self.store_url, key.trim_start_matches('/'))
        }
    }

    /// URL of the `image_events` table folder, with a trailing slash.
    pub fn table_url(&self) -> Result<Url, url::ParseError> {
        let table = crate::layout::table_prefix(&self.root);
        self.store_url.join(&format!("{}/", table.as_ref()))
    }
}

/// An S3 client for `bucket` from the standard AWS environment; `AWS_ENDPOINT_URL_S3` or
/// `AWS_ENDPOINT_URL` selects an S3-compatible server (plain http allowed for local ones,
/// which want path-style addressing). Shared by the lake and the pipeline's blob stores.
pub fn s3_builder(bucket: &str) -> AmazonS3Builder {
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    if let Ok(endpoint) =
        std::env::var("AWS_ENDPOINT_URL_S3").or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
    {
        builder = builder
            .with_endpoint(endpoint.clone())
            .with_allow_http(endpoint.starts_with("http://"));
    }
    if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err() {
        builder = builder.with_region("us-east-1");
    }
    builder
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_directory_lake_resolves_to_file_urls() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();
        let url = lake.table_url().unwrap();
        assert_eq!(url.scheme(), "file");
        assert!(url.path().ends_with("/lake/image_events/"), "{url}");
    }

    #[test]
    fn locations_are_paths_locally_and_urls_on_s3() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();
        let key = format!("{}/image_events/x.parquet", lake.root);
        let local = lake.location(&key);
        assert_eq!(
            std::path::Path::new(&local),
            std::fs::canonicalize(dir.path())
                .unwrap()
                .join("lake/image_events/x.parquet")
        );
        let s3 = Lake {
            store_url: Url::parse("s3://bucket/").unwrap(),
            ..lake
        };
        assert_eq!(s3.location("p/x.parquet"), "s3://bucket/p/x.parquet");
    }

    #[test]
    fn a_directory_name_the_store_would_escape_is_refused_before_anything_is_made() {
        let dir = tempfile::tempdir().unwrap();
        let lake = dir.path().join("my~data/lake");
        let err = Lake::open(lake.to_str().unwrap()).unwrap_err();
        assert!(err.to_string().contains("it contains `~`"), "{err}");
        assert!(!dir.path().join("my~data").exists());
        // Spaces and most punctuation are fine.
        Lake::open(dir.path().join("my data (2)/lake").to_str().unwrap()).unwrap();
    }

    #[test]
    fn unknown_schemes_name_the_accepted_forms() {
        let err = Lake::open("gs://bucket/x").unwrap_err();
        assert!(err.to_string().contains("s3://bucket/prefix"), "{err}");
    }
}
