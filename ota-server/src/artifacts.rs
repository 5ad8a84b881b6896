//! Content-addressed artifact storage (images, patches, envelopes), keyed by SHA-256.
//!
//! [`LocalFs`] keeps `<root>/sha256/ab/abcd…` on the local filesystem (the default, one
//! replica); [`object::ObjectArtifacts`] keeps them in an `object_store` backend, an S3 bucket
//! when several replicas share them ([`open`] chooses by URL). Uploads are staged by the caller
//! under [`LocalFs::staging_dir`] (local disk of the replica), hashed while written, and only
//! [`ArtifactStore::put`] after verification.

pub mod object;

use std::sync::Arc;
use std::time::Duration;

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use crate::domain::{Millis, Sha256};

/// A stream of artifact bytes.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

#[async_trait]
pub trait ArtifactStore: Send + Sync + std::fmt::Debug {
    /// Moves the verified staged file at `staged` into the store under `digest`.
    /// Returns `true` if the artifact was new (so a failed release insert can remove it).
    async fn put(&self, digest: &Sha256, staged: &Path) -> io::Result<bool>;
    /// Size of a stored artifact, or `None`.
    async fn len(&self, digest: &Sha256) -> io::Result<Option<u64>>;
    /// Bytes `start..end` (end exclusive), streamed, never whole in memory.
    async fn get_range(&self, digest: &Sha256, start: u64, end: u64) -> io::Result<ByteStream>;
    /// Removes an artifact (cleanup after a failed ingest).
    async fn remove(&self, digest: &Sha256) -> io::Result<()>;
    /// Every stored artifact with its last-modified time (Unix ms), for the orphan sweep.
    async fn list(&self) -> io::Result<Vec<(Sha256, Millis)>>;
}

/// Whether the stored artifact's bytes hash to `digest` (streamed, never whole in memory).
/// A file found at a digest path is only adopted after this check: it may have been planted.
pub async fn holds_digest(store: &dyn ArtifactStore, digest: &Sha256) -> io::Result<bool> {
    use futures_util::StreamExt as _;
    use sha2::Digest as _;
    let Some(len) = store.len(digest).await? else {
        return Ok(false);
    };
    let mut stream = store.get_range(digest, 0, len).await?;
    let mut hasher = sha2::Sha256::new();
    while let Some(chunk) = stream.next().await {
        hasher.update(&chunk?);
    }
    Ok(Sha256(hasher.finalize().into()) == *digest)
}

/// Why an artifact store could not be opened (the message says what to change).
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("artifacts_url {0:?} is not understood: use s3://bucket[/prefix], file:///absolute/dir or memory:")]
    Scheme(String),
    #[error("artifacts_url {url}: {source}")]
    Backend {
        url: String,
        #[source]
        source: object_store::Error,
    },
    #[error("artifacts_url {url}: the bucket does not answer ({source}); check AWS_ENDPOINT_URL, AWS_REGION and the credentials in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY")]
    Unreachable {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error("artifact directory {0}: {1}")]
    Local(String, #[source] io::Error),
}

/// Opens the artifact store `url` names (`None`: `<local_root>` on the local filesystem).
///
/// * `s3://bucket[/prefix]` — an S3 bucket (or any S3-compatible server). Endpoint, region and
///   credentials come from the standard `AWS_*` environment (`AWS_ENDPOINT_URL`, `AWS_REGION`,
///   `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ALLOW_HTTP` for a plain-HTTP test
///   server), never from the configuration file. The bucket is probed once, so a wrong
///   endpoint fails the start, not the first download.
/// * `file:///dir` — through `object_store`'s local filesystem backend.
/// * `memory:` — in memory (tests).
pub async fn open(url: Option<&str>, local_root: &Path) -> Result<Arc<dyn ArtifactStore>, OpenError> {
    use object_store::aws::AmazonS3Builder;
    use object_store::client::ClientConfigKey;
    use object_store::{BackoffConfig, RetryConfig};

    let backend = |source| OpenError::Backend {
        url: url.unwrap_or_default().to_owned(),
        source,
    };
    let Some(url) = url else {
        let local = LocalFs::open(local_root).map_err(|e| OpenError::Local(local_root.display().to_string(), e))?;
        return Ok(Arc::new(local));
    };
    if url == "memory:" {
        return Ok(Arc::new(object::ObjectArtifacts::new(
            Arc::new(object_store::memory::InMemory::new()),
            "",
        )));
    }
    if let Some(dir) = url.strip_prefix("file://") {
        std::fs::create_dir_all(dir).map_err(|e| OpenError::Local(dir.to_owned(), e))?;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(dir).map_err(backend)?;
        return Ok(Arc::new(object::ObjectArtifacts::new(Arc::new(fs), "")));
    }
    let Some(rest) = url.strip_prefix("s3://") else {
        return Err(OpenError::Scheme(url.to_owned()));
    };
    let prefix = rest.split_once('/').map_or("", |(_, p)| p);
    let s3 = AmazonS3Builder::from_env()
        .with_url(url)
        // A request to an S3 server that is down fails within seconds (the device resumes
        // later) rather than after object_store's default three minutes of retries.
        .with_retry(RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: 3,
            retry_timeout: Duration::from_secs(15),
        })
        .with_config(
            object_store::aws::AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
            "5s",
        )
        // Whole-request limit: a ranged GET streams to a slow device for as long as it reads.
        .with_config(
            object_store::aws::AmazonS3ConfigKey::Client(ClientConfigKey::Timeout),
            "1h",
        )
        .build()
        .map_err(backend)?;
    let store = object::ObjectArtifacts::new(Arc::new(s3), prefix);
    // Probe: an absent object is a fine answer; no answer (or a refusal) is not.
    let probe = Sha256::of(b"ota-server artifact store probe");
    store.len(&probe).await.map_err(|source| OpenError::Unreachable {
        url: url.to_owned(),
        source,
    })?;
    Ok(Arc::new(store))
}

/// Artifacts on the local filesystem.
#[derive(Debug, Clone)]
pub struct LocalFs {
    root: PathBuf,
}

impl LocalFs {
    /// Creates `root/sha256` and `root/staging`; removes staging leftovers of a crash.
    pub fn open(root: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(root.join("sha256"))?;
        let staging = root.join("staging");
        if staging.exists() {
            std::fs::remove_dir_all(&staging)?;
        }
        std::fs::create_dir_all(&staging)?;
        Ok(Self { root: root.to_owned() })
    }

    /// Where uploads are staged (same filesystem, so `put` is a rename).
    pub fn staging_dir(&self) -> PathBuf {
        self.root.join("staging")
    }

    fn path(&self, d: &Sha256) -> PathBuf {
        let hex = d.hex();
        self.root.join("sha256").join(&hex[..2]).join(hex)
    }
}

const CHUNK: usize = 64 * 1024;

#[async_trait]
impl ArtifactStore for LocalFs {
    async fn put(&self, digest: &Sha256, staged: &Path) -> io::Result<bool> {
        let dest = self.path(digest);
        if tokio::fs::try_exists(&dest).await? {
            return Ok(false);
        }
        let staged = staged.to_owned();
        tokio::task::spawn_blocking(move || -> io::Result<bool> {
            let dir = dest.parent().ok_or_else(|| io::Error::other("no parent"))?;
            std::fs::create_dir_all(dir)?;
            // Durable before visible: fsync the staged data, rename (same filesystem), fsync the
            // directory. A concurrent put of the same digest renames identical bytes.
            std::fs::File::open(&staged)?.sync_all()?;
            std::fs::rename(&staged, &dest)?;
            std::fs::File::open(dir)?.sync_all()?;
            Ok(true)
        })
        .await
        .map_err(io::Error::other)?
    }

    async fn len(&self, digest: &Sha256) -> io::Result<Option<u64>> {
        match tokio::fs::metadata(self.path(digest)).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn get_range(&self, digest: &Sha256, start: u64, end: u64) -> io::Result<ByteStream> {
        let mut file = tokio::fs::File::open(self.path(digest)).await?;
        file.seek(io::SeekFrom::Start(start)).await?;
        let limited = file.take(end.saturating_sub(start));
        Ok(Box::pin(tokio_util::io::ReaderStream::with_capacity(limited, CHUNK)))
    }

    async fn remove(&self, digest: &Sha256) -> io::Result<()> {
        match tokio::fs::remove_file(self.path(digest)).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    async fn list(&self) -> io::Result<Vec<(Sha256, Millis)>> {
        let root = self.root.join("sha256");
        tokio::task::spawn_blocking(move || -> io::Result<Vec<(Sha256, Millis)>> {
            let mut out = Vec::new();
            for dir in std::fs::read_dir(&root)? {
                let dir = dir?;
                if !dir.file_type()?.is_dir() {
                    continue;
                }
                for file in std::fs::read_dir(dir.path())? {
                    let file = file?;
                    let Some(digest) = file.file_name().to_str().and_then(Sha256::parse_hex) else {
                        continue;
                    };
                    let modified = file.metadata()?.modified()?;
                    let ms = modified
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX));
                    out.push((digest, ms));
                }
            }
            Ok(out)
        })
        .await
        .map_err(io::Error::other)?
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt as _;

    use super::*;

    #[tokio::test]
    async fn put_is_content_addressed_and_ranges_stream() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalFs::open(dir.path()).unwrap();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let staged = store.staging_dir().join("x");
        std::fs::write(&staged, &data).unwrap();
        let d = Sha256::of(&data);
        assert!(store.put(&d, &staged).await.unwrap());
        assert!(!store.put(&d, &staged).await.unwrap());
        assert_eq!(store.len(&d).await.unwrap(), Some(200_000));
        let mut s = store.get_range(&d, 1000, 150_000).await.unwrap();
        let mut got = Vec::new();
        while let Some(chunk) = s.next().await {
            got.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(got, &data[1000..150_000]);
        store.remove(&d).await.unwrap();
        assert_eq!(store.len(&d).await.unwrap(), None);
    }
}
