//! Binding a delta patch to a verified release before a single flash byte is written.
//!
//! RFC 9124 REQ.SEC.AUTH.PRECURSOR: a patch is authorised only for the precursor image the
//! manifest names. The patch header says which base it needs and what it produces; both must
//! match one delta entry of the verified manifest, and the result must be the manifest's image.
//! (`bind_image` still checks the written image afterwards: this check stops a wrong or hostile
//! patch before it costs an erase cycle, and before the base digest is even computed.)

use manifest::delta::DeltaHeader;
use manifest::suit::{DeltaFormat, DeltaPatch};

use sha2::{Digest as _, Sha256};

use super::VerifiedRelease;
use crate::error::{VerifyError, VerifyErrorKind as Kind};
use crate::flash::FlashRead;
use crate::image::read;

/// Finds the manifest's delta entry that authorises a patch with this header and this patch
/// file size. The caller then checks the downloaded patch file against the entry with
/// [`check_patch_file`] before applying it with [`delta::apply_and_verify`](crate::delta::apply_and_verify).
pub fn match_patch<'a>(
    release: &VerifiedRelease<'a>,
    header: &DeltaHeader,
    patch_size: u64,
) -> Result<DeltaPatch<'a>, VerifyError> {
    let refused = VerifyError::new(Kind::PatchNotInManifest, 0);
    // The patch must produce exactly the manifest's image.
    if header.result_digest != *release.image_digest() || u64::from(header.result_size) != release.image_size() {
        return Err(refused);
    }
    release
        .deltas()
        .find(|entry| {
            entry.format == DeltaFormat::FWSIGN_V1
                && entry.precursor_digest.bytes == &header.base_digest
                && entry.precursor_size == u64::from(header.base_size)
                && entry.patch_size == patch_size
        })
        .ok_or(refused)
}

/// Checks a downloaded patch file against the manifest entry [`match_patch`] returned: the file
/// is `entry.patch_size` bytes long and hashes to `entry.patch_digest` (the delta extension's
/// patch-digest and patch-size, docs/FORMATS.md; RFC 9124 REQ.SEC.AUTHENTIC). `patch` is where
/// the file was staged (a download slot, or [`SliceFlash`](crate::SliceFlash) over RAM or
/// memory-mapped flash); exactly `patch_size` bytes are read from its start, and a staging area
/// smaller than that is refused. `buf` is scratch space (any non-zero size).
///
/// Call it before [`delta::apply_and_verify`](crate::delta::apply_and_verify) erases anything:
/// a patch that is not the signed one is then refused without costing an erase cycle.
pub fn check_patch_file<F: FlashRead>(
    entry: &DeltaPatch<'_>,
    patch: &mut F,
    buf: &mut [u8],
) -> Result<(), VerifyError> {
    let refused = VerifyError::new(Kind::PatchNotInManifest, 0);
    let size = u32::try_from(entry.patch_size).map_err(|_| refused)?;
    if size > patch.capacity() {
        return Err(refused);
    }
    if buf.is_empty() {
        return Err(VerifyError::new(Kind::BufferTooSmall, 0));
    }
    let mut hasher = Sha256::new();
    let mut offset = 0u32;
    while offset < size {
        let want = usize::try_from(size.saturating_sub(offset)).unwrap_or(usize::MAX);
        let chunk = buf.get_mut(..want.min(buf.len())).unwrap_or_default();
        read(patch, offset, chunk)?;
        hasher.update(&*chunk);
        offset = offset.saturating_add(u32::try_from(chunk.len()).unwrap_or(u32::MAX));
    }
    let digest: [u8; 32] = hasher.finalize().into();
    if &digest != entry.patch_digest.bytes {
        return Err(refused);
    }
    Ok(())
}
