//! Content-addressed artifact storage (images, patches, envelopes), keyed by SHA-256.
//!
//! [`ArtifactStore`] is what an `object_store` (S3) backend would implement so replicas share one
//! bucket; [`LocalFs`] keeps `<root>/sha256/ab/abcd…` on the local filesystem. Uploads are staged
//! by the caller under [`LocalFs::staging_dir`] (same filesystem), hashed while written, and
//! only [`ArtifactStore::put`] after verification.

pub mod object;

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use crate::domain::Sha256;

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
