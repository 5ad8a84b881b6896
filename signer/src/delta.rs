//! Delta patches between two images (format in `docs/FORMATS.md`, "Delta patch
//! format").
//!
//! [`create`] finds bsdiff-style matches with a suffix array (`matcher`) and range-codes the
//! interleaved record stream (`encoder`). [`apply`] runs the device's own streaming decoder
//! (`device_verifier::delta`) over in-memory slots, so the host and the device cannot disagree.

pub mod cli;
mod encoder;
mod matcher;

use device_verifier::delta::{self as device, ApplyError, ApplyRam};
use device_verifier::SliceFlash;
use manifest::delta::{encode_patch, Codec, CodecParams, DeltaHeader};
use sha2::{Digest, Sha256};

/// Page size of the in-memory target slot used by [`apply`].
const HOST_PAGE: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum DeltaError {
    #[error("image larger than the patch format allows (base < 2 GiB, result < 4 GiB)")]
    TooLarge,
    #[error("malformed patch: {0}")]
    Header(#[from] manifest::delta::DeltaError),
    #[error("patch does not apply: {0}")]
    Apply(#[from] ApplyError),
}

/// Makes a patch that turns `old` into `new`. `progress(done, total)` is called with the
/// number of `new` bytes scanned so far.
pub fn create(old: &[u8], new: &[u8], progress: &dyn Fn(u64, u64)) -> Result<Vec<u8>, DeltaError> {
    create_with(old, new, CodecParams::DEFAULT, progress)
}

/// [`create`] with explicit coder parameters (for experiments and tests).
pub fn create_with(
    old: &[u8],
    new: &[u8],
    params: CodecParams,
    progress: &dyn Fn(u64, u64),
) -> Result<Vec<u8>, DeltaError> {
    let base_size = u32::try_from(old.len()).map_err(|_| DeltaError::TooLarge)?;
    let result_size = u32::try_from(new.len()).map_err(|_| DeltaError::TooLarge)?;
    let records = matcher::records(old, new, progress)?;
    let payload = encoder::encode(old, new, &records, params);
    let header = DeltaHeader {
        codec: Codec::RANGE_CM,
        params,
        base_size,
        base_digest: Sha256::digest(old).into(),
        result_size,
        result_digest: Sha256::digest(new).into(),
        payload_len: u32::try_from(payload.len()).map_err(|_| DeltaError::TooLarge)?,
    };
    Ok(encode_patch(&header, &payload))
}

/// Applies `patch` to `old` with the device-side decoder and returns the verified result.
pub fn apply(old: &[u8], patch: &[u8]) -> Result<Vec<u8>, DeltaError> {
    // Parse the whole container first: the host sees all bytes, so it can reject trailing
    // data and truncation up front with the container's own error.
    manifest::delta::PatchView::parse(patch)?;
    let mut source = patch;
    let header = device::read_header(&mut source)?;
    let result_len = usize::try_from(header.result_size).map_err(|_| DeltaError::TooLarge)?;
    let mut target = MemSlot::new(result_len.div_ceil(HOST_PAGE) * HOST_PAGE);
    let mut ram = Box::new(ApplyRam::new());
    let mut page = vec![0u8; HOST_PAGE];
    device::apply(
        &header,
        &mut SliceFlash::new(old),
        &mut target,
        &mut source,
        &mut ram,
        &mut page,
    )?;
    let mut out = target.bytes;
    out.truncate(result_len);
    Ok(out)
}

/// In-memory slot for host-side apply (shared with the simulator: it lives beside the flash traits).
pub use device_verifier::flash::MemSlot;
