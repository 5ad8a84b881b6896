//! [`ArtifactStore`] over the `object_store` crate, so replicas can share one bucket
//! (S3 and others need that crate's cloud features; `LocalFileSystem` and `InMemory` are built in).
//! Uploads stream from the staged file with multipart writes; downloads are ranged GETs.

use std::io;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::{StreamExt as _, TryStreamExt as _};
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt as _, WriteMultipart};
use tokio::io::AsyncReadExt as _;

use super::{ArtifactStore, ByteStream};
use crate::domain::{Millis, Sha256};

const CHUNK: usize = 1024 * 1024;

/// Artifacts under `<prefix>/sha256/<hex>` in an object store.
#[derive(Debug, Clone)]
pub struct ObjectArtifacts {
    store: Arc<dyn ObjectStore>,
    prefix: String,
}

impl ObjectArtifacts {
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str) -> Self {
        Self {
            store,
            prefix: prefix.trim_matches('/').to_owned(),
        }
    }

    fn location(&self, d: &Sha256) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(format!("sha256/{}", d.hex()))
        } else {
            ObjectPath::from(format!("{}/sha256/{}", self.prefix, d.hex()))
        }
    }
}

fn not_found(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotFound { .. })
}

#[async_trait]
impl ArtifactStore for ObjectArtifacts {
    async fn put(&self, digest: &Sha256, staged: &Path) -> io::Result<bool> {
        let location = self.location(digest);
        match self.store.head(&location).await {
            Ok(_) => return Ok(false),
            Err(e) if not_found(&e) => {}
            Err(e) => return Err(e.into()),
        }
        let mut file = tokio::fs::File::open(staged).await?;
        let upload = self.store.put_multipart(&location).await?;
        let mut writer = WriteMultipart::new(upload);
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = file.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            writer.wait_for_capacity(4).await?;
            writer.write(&buf[..n]);
        }
        writer.finish().await?;
        Ok(true)
    }

    async fn len(&self, digest: &Sha256) -> io::Result<Option<u64>> {
        match self.store.head(&self.location(digest)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn get_range(&self, digest: &Sha256, start: u64, end: u64) -> io::Result<ByteStream> {
        if start >= end {
            return Ok(Box::pin(futures_util::stream::empty()));
        }
        let options = GetOptions {
            range: Some(GetRange::Bounded(start..end)),
            ..GetOptions::default()
        };
        let result = self.store.get_opts(&self.location(digest), options).await?;
        Ok(result.into_stream().map_err(io::Error::from).boxed())
    }

    async fn remove(&self, digest: &Sha256) -> io::Result<()> {
        match self.store.delete(&self.location(digest)).await {
            Err(e) if !not_found(&e) => Err(e.into()),
            _ => Ok(()),
        }
    }

    async fn list(&self) -> io::Result<Vec<(Sha256, Millis)>> {
        let prefix = if self.prefix.is_empty() {
            ObjectPath::from("sha256")
        } else {
            ObjectPath::from(format!("{}/sha256", self.prefix))
        };
        let metas: Vec<_> = self.store.list(Some(&prefix)).try_collect().await?;
        Ok(metas
            .into_iter()
            .filter_map(|m| {
                let digest = m.location.filename().and_then(Sha256::parse_hex)?;
                Some((digest, m.last_modified.timestamp_millis()))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use object_store::local::LocalFileSystem;
    use object_store::memory::InMemory;

    use super::*;

    async fn round_trip(store: ObjectArtifacts) {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
        let staged = dir.path().join("staged");
        std::fs::write(&staged, &data).unwrap();
        let d = Sha256::of(&data);
        assert_eq!(store.len(&d).await.unwrap(), None);
        assert!(store.put(&d, &staged).await.unwrap());
        assert!(!store.put(&d, &staged).await.unwrap(), "content-addressed: stored once");
        assert_eq!(store.len(&d).await.unwrap(), Some(3_000_000));
        let mut s = store.get_range(&d, 1_000_000, 2_500_001).await.unwrap();
        let mut got = Vec::new();
        while let Some(chunk) = s.next().await {
            got.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(got, &data[1_000_000..2_500_001]);
        store.remove(&d).await.unwrap();
        store.remove(&d).await.unwrap();
        assert_eq!(store.len(&d).await.unwrap(), None);
    }

    #[tokio::test]
    async fn in_memory_backend() {
        round_trip(ObjectArtifacts::new(Arc::new(InMemory::new()), "ota")).await;
    }

    #[tokio::test]
    async fn local_filesystem_backend() {
        let root = tempfile::tempdir().unwrap();
        let fs = LocalFileSystem::new_with_prefix(root.path()).unwrap();
        round_trip(ObjectArtifacts::new(Arc::new(fs), "")).await;
    }
}
