//! Release ingest: verify an uploaded bundle as a device would, then move its files into the
//! artifact store and record the release. Nothing is stored unless every check passes; the
//! store takes only the verifier's proof ([`VerifiedBundle`](crate::domain::ingest::VerifiedBundle)).

use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::PathBuf;
use std::sync::Arc;

use device_verifier::flash::{FlashError, FlashRead};
use ota_protocol::ErrorCode;

use crate::artifacts::ArtifactStore;
use crate::domain::ingest::{Bundle, Rejection, ReleaseVerifier, StagedArtifact};
use crate::domain::{Release, Sha256, SharedClock};
use crate::store::cache::LatestReleases;
use crate::store::{SharedStore, StoreError};

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
            if self.store.artifact_known(d).await.unwrap_or(true) {
                continue;
            }
            if let Err(e) = self.artifacts.remove(d).await {
                tracing::error!(error = %e, digest = %d, "cleanup after failed ingest");
            }
        }
    }
}
