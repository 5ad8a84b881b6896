//! Release ingest: verify an uploaded bundle as a device would, then move its files into the
//! artifact store and record the release. Nothing is stored unless every check passes; the
//! store takes only the verifier's proof ([`VerifiedBundle`](crate::domain::ingest::VerifiedBundle)).

use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::PathBuf;
use std::sync::Arc;

use device_verifier::flash::{FlashError, FlashRead};
use ota_protocol::ErrorCode;

use crate::artifacts::{holds_digest, ArtifactStore};
use crate::domain::ingest::{Bundle, Rejection, ReleaseVerifier, StagedArtifact};
use crate::domain::{Millis, Release, Sha256, SharedClock};
use crate::store::cache::LatestReleases;
use crate::store::{SharedStore, StoreError};

/// How old an unreferenced artifact must be before the start-up sweep removes it (1 hour:
/// far longer than any ingest takes between moving its artifacts and recording its release).
pub const ORPHAN_GRACE_MS: Millis = 60 * 60 * 1000;

/// A staged file; deleted when dropped unless moved into the artifact store.
#[derive(Debug)]
pub struct Staged {
    pub artifact: StagedArtifact,
    pub guard: tempfile::TempPath,
}

/// An upload: the envelope in memory, the other files staged.
#[derive(Debug)]
pub struct Upload {
    pub envelope: Vec<u8>,
    pub summary: Option<Vec<u8>>,
    pub image: Staged,
    pub patches: Vec<Staged>,
}

/// Why an ingest failed.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The bundle failed a check (its kind picks the status).
    #[error("{0}")]
    Rejected(Rejection),
    /// A release with this or a higher sequence number exists for the class.
    #[error("sequence not above the stored releases of the class")]
    SequenceNotAbovePrevious,
    #[error(transparent)]
    Store(StoreError),
    #[error("{0}")]
    Internal(String),
}

impl From<Rejection> for IngestError {
    fn from(r: Rejection) -> Self {
        Self::Rejected(r)
    }
}

impl From<StoreError> for IngestError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(code) if code == ErrorCode::SEQUENCE_NOT_ABOVE_PREVIOUS => {
                Self::SequenceNotAbovePrevious
            }
            other => Self::Store(other),
        }
    }
}

fn internal(e: impl std::fmt::Display) -> IngestError {
    IngestError::Internal(e.to_string())
}

/// The ingest workflow. Cheap to clone.
#[derive(Debug, Clone)]
pub struct IngestService {
    pub store: SharedStore,
    pub artifacts: Arc<dyn ArtifactStore>,
    pub verifier: Arc<dyn ReleaseVerifier>,
    pub latest: Arc<LatestReleases>,
    pub clock: SharedClock,
    /// Where uploads are staged (beside the artifacts).
    pub staging_dir: PathBuf,
}

/// A staged image read like a flash slot, without loading it into memory.
struct FileFlash {
    file: File,
    len: u32,
}

impl FlashRead for FileFlash {
    fn capacity(&self) -> u32 {
        self.len
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        self.file.read_exact_at(buf, u64::from(offset)).map_err(|_| FlashError)
    }
}

impl IngestService {
    /// Verifies `upload` and stores it as a release uploaded by `uploaded_by`.
    pub async fn ingest(&self, upload: Upload, uploaded_by: &str) -> Result<Release, IngestError> {
        let class = self.verifier.class_of(&upload.envelope)?;
        let floor = self.store.max_sequence(&class.class_id_string()).await?;
        let bundle = Bundle {
            envelope: upload.envelope,
            image: upload.image.artifact.clone(),
            patches: upload.patches.iter().map(|p| p.artifact.clone()).collect(),
            summary: upload.summary,
        };
        let verifier = self.verifier.clone();
        let (bundle, verified) = tokio::task::spawn_blocking(move || {
            let v = File::open(&bundle.image.path)
                .map_err(|_| Rejection::verification(ErrorCode::IMAGE_MALFORMED, "staged image unreadable"))
                .and_then(|file| {
                    let len = u32::try_from(bundle.image.size).unwrap_or(u32::MAX);
                    verifier.verify(&bundle, &class, floor, &mut FileFlash { file, len })
                });
            (bundle, v)
        })
        .await
        .map_err(internal)?;
        let verified = verified?;

        // Verified: move artifacts into the store, then record the release atomically.
        let envelope = self.stage_bytes(&bundle.envelope, "release.suit")?;
        let mut created = Vec::new();
        let mut all = vec![&envelope, &upload.image];
        all.extend(upload.patches.iter());
        for staged in all {
            // A file already at the digest path is adopted only if it hashes to that digest;
            // anything else (planted, or torn) is replaced by the verified staged file.
            match self.replace_unless_genuine(&staged.artifact.digest).await {
                Ok(()) => {}
                Err(e) => {
                    self.remove(&created).await;
                    return Err(internal(e));
                }
            }
            match self.artifacts.put(&staged.artifact.digest, &staged.artifact.path).await {
                Ok(true) => created.push(staged.artifact.digest),
                Ok(false) => {}
                Err(e) => {
                    self.remove(&created).await;
                    return Err(internal(e));
                }
            }
        }
        match self
            .store
            .insert_release(&verified, uploaded_by, self.clock.now_ms())
            .await
        {
            Ok(release) => {
                self.latest.invalidate();
                Ok(release)
            }
            Err(e) => {
                self.remove(&created).await;
                Err(e.into())
            }
        }
    }

    /// Removes what is stored at `digest` unless its bytes hash to it.
    async fn replace_unless_genuine(&self, digest: &Sha256) -> std::io::Result<()> {
        if self.artifacts.len(digest).await?.is_none() || holds_digest(self.artifacts.as_ref(), digest).await? {
            return Ok(());
        }
        tracing::warn!(%digest, "a stored file at this digest does not hash to it: replaced by the verified upload");
        self.artifacts.remove(digest).await
    }

    /// Removes artifacts no release references that were last modified before
    /// `now - ORPHAN_GRACE_MS`: what a crash between moving an upload's artifacts into the
    /// store and recording its release leaves behind. The grace keeps the artifacts of an
    /// ingest in flight on another replica. Returns how many were removed.
    pub async fn sweep_orphans(&self, now: Millis) -> Result<usize, IngestError> {
        let mut removed = 0;
        for (digest, modified) in self.artifacts.list().await.map_err(internal)? {
            if modified > now.saturating_sub(ORPHAN_GRACE_MS) || self.store.artifact_known(&digest, None).await? {
                continue;
            }
            self.artifacts.remove(&digest).await.map_err(internal)?;
            tracing::info!(%digest, "removed an orphan artifact (no release references it)");
            removed += 1;
        }
        Ok(removed)
    }

    /// Stages bytes held in memory (the envelope) like an uploaded file.
    fn stage_bytes(&self, bytes: &[u8], name: &str) -> Result<Staged, IngestError> {
        let mut tmp = tempfile::Builder::new()
            .prefix("upload-")
            .tempfile_in(&self.staging_dir)
            .map_err(internal)?;
        std::io::Write::write_all(&mut tmp, bytes).map_err(internal)?;
        let guard = tmp.into_temp_path();
        Ok(Staged {
            artifact: StagedArtifact {
                name: name.to_owned(),
                path: guard.to_path_buf(),
                digest: Sha256::of(bytes),
                size: bytes.len() as u64,
            },
            guard,
        })
    }

    async fn remove(&self, digests: &[Sha256]) {
        for d in digests {
            // A concurrent ingest may have recorded a release that shares this artifact.
            if self.store.artifact_known(d, None).await.unwrap_or(true) {
                continue;
            }
            if let Err(e) = self.artifacts.remove(d).await {
                tracing::error!(error = %e, digest = %d, "cleanup after failed ingest");
            }
        }
    }
}
