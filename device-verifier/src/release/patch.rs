//! Binding a delta patch to a verified release before a single flash byte is written.
//!
//! RFC 9124 REQ.SEC.AUTH.PRECURSOR: a patch is authorised only for the precursor image the
//! manifest names. The patch header says which base it needs and what it produces; both must
//! match one delta entry of the verified manifest, and the result must be the manifest's image.
//! (`bind_image` still checks the written image afterwards: this check stops a wrong or hostile
//! patch before it costs an erase cycle, and before the base digest is even computed.)

use manifest::delta::DeltaHeader;
use manifest::suit::{DeltaFormat, DeltaPatch};

use super::VerifiedRelease;
use crate::error::{VerifyError, VerifyErrorKind as Kind};

/// Finds the manifest's delta entry that authorises a patch with this header and this patch
/// file size. The caller then checks the patch file's SHA-256 against `patch_digest` as it
/// streams (or before applying) and applies it with `delta::apply`.
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
