//! Binding a slot's image to a verified release, and the post-boot commit of its sequence number.

use sha2::{Digest as _, Sha256};

use super::{RollbackStore, SequenceCommit, VerifiedRelease};
use crate::error::{VerifyError, VerifyErrorKind as Kind};
use crate::flash::{FlashError, FlashRead};
use crate::image::{read, verify_image, ImagePolicy, VerifiedImage};

/// Proof that a slot holds exactly the image a verified release names, with a valid MCUboot
/// signature of its own. Only [`bind_image`] builds one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoundImage {
    image: VerifiedImage,
    sequence: u64,
    digest: [u8; 32],
}

impl BoundImage {
    /// The MCUboot verification result.
    pub fn image(&self) -> &VerifiedImage {
        &self.image
    }

    /// The release's sequence number.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// SHA-256 of the complete signed image (equal to the manifest's image-digest).
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }

    /// Persists the release's sequence number as the new floor. Call this only from the new
    /// firmware once it has booted and confirmed itself (RFC 9124 REQ.SEC.SEQUENCE; docs/ARCHITECTURE.md,
    /// trust model 4), with `running` = the result of [`verify_image`] on the slot it booted from:
    /// it must be this very image, so a commit before the swap cannot be written by accident.
    pub fn commit_after_boot<S: RollbackStore + ?Sized>(
        &self,
        store: &mut S,
        running: &VerifiedImage,
    ) -> Result<(), VerifyError> {
        if running.digest() != self.image.digest() || running.image_len() != self.image.image_len() {
            return Err(VerifyError::new(Kind::NotBootedImage, 0));
        }
        // Re-check: a newer release may have been committed since this one was verified.
        if self.sequence <= store.sequence() {
            return Err(VerifyError::new(Kind::SequenceRollback, 0));
        }
        store
            .commit(SequenceCommit {
                sequence: self.sequence,
            })
            .map_err(|_| VerifyError::new(Kind::RollbackStore, 0))
    }
}

/// A view of a slot that ends at `limit`: nothing past the manifest's image-size can be read
/// (TUF "endless data"; RFC 9124 REQ.SEC.IMG.COMPLETE_DIGEST).
struct Limited<'f, F> {
    inner: &'f mut F,
    limit: u32,
}

impl<F: FlashRead> FlashRead for Limited<'_, F> {
    fn capacity(&self) -> u32 {
        self.limit
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        let len = u32::try_from(buf.len()).map_err(|_| FlashError)?;
        match offset.checked_add(len) {
            Some(end) if end <= self.limit => self.inner.read(offset, buf),
            _ => Err(FlashError),
        }
    }
}

/// Checks that `flash` holds the release's image: SHA-256 and size of the complete signed image
/// equal the manifest's image-digest and image-size (draft §8.4.9.2 condition-image-match), and
/// the image's own MCUboot signature and security counter verify under `policy`. Reads no byte
/// at or past image-size. `buf` is scratch space as for [`verify_image`].
pub fn bind_image<F: FlashRead>(
    release: &VerifiedRelease<'_>,
    flash: &mut F,
    policy: &ImagePolicy<'_>,
    buf: &mut [u8],
) -> Result<BoundImage, VerifyError> {
    let size = u32::try_from(release.image_size()).map_err(|_| VerifyError::new(Kind::ExceedsSlot, 0))?;
    if size > flash.capacity() {
        return Err(VerifyError::new(Kind::ExceedsSlot, 0));
    }
    if buf.is_empty() {
        return Err(VerifyError::new(Kind::BufferTooSmall, 0));
    }
    let mut limited = Limited {
        inner: flash,
        limit: size,
    };

    // draft §8.4.9.2: digest of exactly image-size bytes.
    let mut hasher = Sha256::new();
    let mut offset = 0u32;
    while offset < size {
        let want = usize::try_from(size.saturating_sub(offset)).unwrap_or(usize::MAX);
        let chunk = buf.get_mut(..want.min(buf.len())).unwrap_or_default();
        read(&mut limited, offset, chunk)?;
        hasher.update(&*chunk);
        offset = offset.saturating_add(u32::try_from(chunk.len()).unwrap_or(u32::MAX));
    }
    let digest: [u8; 32] = hasher.finalize().into();
    if &digest != release.image_digest() {
        return Err(VerifyError::new(Kind::ImageDigestMismatch, 0));
    }

    // The image's own signature (two keys, two signatures: docs/ARCHITECTURE.md, trust model 2).
    let image = verify_image(&mut limited, policy, buf)?;
    // The signed image must be all of image-size: no unsigned tail the device would also accept.
    if image.image_len() != size {
        return Err(VerifyError::new(Kind::ImageSizeMismatch, image.image_len()));
    }
    Ok(BoundImage {
        image,
        sequence: release.sequence(),
        digest,
    })
}
