//! Streaming delta apply: base slot + patch → target slot, in caller-provided RAM.
//!
//! Pull API. The patch arrives through a [`PatchSource`] (a download buffer, a staging slot, a
//! network stream); the base image is read through [`FlashRead`] and the result is written
//! through [`FlashWrite`]:
//!
//! ```text
//! let header = delta::read_header(&mut source)?;        // strict header checks
//! let entry = release::match_patch(&release, &header, patch_size)?; // allowed by the manifest?
//! release::check_patch_file(&entry, &mut staged_patch, &mut page)?;  // the signed patch file?
//! let io = ApplyIo { base: &mut base, target: &mut target, patch: &mut source,
//!                    ram: &mut ram, page: &mut page };
//! let verified = delta::apply_and_verify(&header, io, &policy)?;
//! ```
//!
//! Order of work (FORMATS §Delta, "Apply"):
//! 1. SHA-256 of the first `base_size` bytes of the base slot must equal `base_digest` —
//!    before anything is erased or written;
//! 2. records are decoded front to back; each one is bounds-checked against `base_size` and
//!    `result_size` before any byte of it is produced, and the writer re-checks every write;
//! 3. the payload must end exactly at `payload_len` and the source right after it;
//! 4. SHA-256 of the result must equal `result_digest`; [`apply_and_verify`] then runs
//!    [`verify_image`] on the target slot, so success means a signed, trusted image.
//!
//! Power cuts: the base slot is only ever read (it is a [`FlashRead`]), and every target page
//! is erased before it is written, so an interrupted apply simply starts over from scratch.
//!
//! RAM: [`ApplyRam`] (3,552 B: the probability table plus two small staging buffers) and one
//! page buffer, both owned by the caller. On Cortex-M4 (opt-level "s") the deepest call chain
//! (`apply` → result hashing → SHA-256 compression) uses about 1.3 KB of stack and the whole
//! apply path, SHA-256 included, is about 6 KB of code: `scripts/delta-device-size.sh`.

mod decoder;
mod error;
mod output;

use manifest::delta::{model, DeltaHeader, HEADER_LEN};
use sha2::{Digest, Sha256};

use crate::flash::{FlashRead, FlashWrite};
use crate::image::{verify_image, ImagePolicy, VerifiedImage};

pub use error::{ApplyError, ApplyErrorKind};

use decoder::Decoder;
use error::ApplyErrorKind as Kind;
use output::Output;

/// Where patch bytes come from, in order, front to back.
pub trait PatchSource {
    /// Fills a prefix of `buf` with the next patch bytes and returns its length; `Ok(0)` means
    /// the patch has ended.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, PatchReadError>;
}

/// The patch source failed (transport or storage error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatchReadError;

/// A patch held in memory.
impl PatchSource for &[u8] {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, PatchReadError> {
        let n = buf.len().min(self.len());
        let (head, tail) = self.split_at(n);
        buf.get_mut(..n).ok_or(PatchReadError)?.copy_from_slice(head);
        *self = tail;
        Ok(n)
    }
}

const INPUT_BUF: usize = 32;
const BASE_BUF: usize = 64;

/// The decoder's working RAM. Put it in a `static` or on the stack; [`apply`] resets it.
#[derive(Debug, Clone)]
pub struct ApplyRam {
    probs: [u16; model::PROBS],
    input: [u8; INPUT_BUF],
    base: [u8; BASE_BUF],
}

impl ApplyRam {
    /// Fresh working RAM (`const`, so it can initialise a `static`).
    pub const fn new() -> Self {
        Self {
            probs: [model::PROB_INIT; model::PROBS],
            input: [0; INPUT_BUF],
            base: [0; BASE_BUF],
        }
    }
}

impl Default for ApplyRam {
    fn default() -> Self {
        Self::new()
    }
}

/// Proof that the target slot holds exactly the result the patch header declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppliedPatch {
    result_size: u32,
    result_digest: [u8; 32],
}

impl AppliedPatch {
    /// Bytes written to the target slot (the header's `result_size`).
    pub fn result_size(&self) -> u32 {
        self.result_size
    }

    /// SHA-256 of the written result (equal to the header's `result_digest`).
    pub fn result_digest(&self) -> &[u8; 32] {
        &self.result_digest
    }
}

/// Reads and checks the 96-byte header at the front of `source`.
pub fn read_header<S: PatchSource>(source: &mut S) -> Result<DeltaHeader, ApplyError> {
    let mut raw = [0u8; HEADER_LEN];
    let mut filled = 0usize;
    while let Some(rest) = raw.get_mut(filled..).filter(|rest| !rest.is_empty()) {
        let n = source
            .read(rest)
            .map_err(|_| ApplyError::new(Kind::PatchRead, offset32(filled)))?;
        if n == 0 {
            return Err(ApplyError::new(Kind::Truncated, offset32(filled)));
        }
        filled = filled.saturating_add(n.min(rest.len()));
    }
    DeltaHeader::parse(&raw).map_err(|e| ApplyError::new(Kind::Header(e.kind), offset32(e.offset)))
}

/// Applies the payload that follows the header in `source` (see the module docs for the
/// order of checks). `page` is the erase-unit staging buffer.
pub fn apply<B: FlashRead, T: FlashWrite, S: PatchSource>(
    header: &DeltaHeader,
    base: &mut B,
    target: &mut T,
    source: &mut S,
    ram: &mut ApplyRam,
    page: &mut [u8],
) -> Result<AppliedPatch, ApplyError> {
    // A header built by the caller rather than parsed still has to be one we decode.
    let params = header.params;
    if header.codec != manifest::delta::Codec::RANGE_CM
        || !(model::MIN_ADAPT_SHIFT..=model::MAX_ADAPT_SHIFT).contains(&params.adapt_shift)
        || params.literal_context_bits > model::MAX_LITERAL_CONTEXT_BITS
    {
        return Err(ApplyError::new(
            Kind::Header(manifest::delta::DeltaErrorKind::BadCodecParams),
            13,
        ));
    }
    ram.probs.fill(model::PROB_INIT);

    // 1. FORMATS §Delta, apply step 1: the base must be the declared image, checked before any
    //    write.
    check_base(header, base, &mut ram.base)?;

    // Rejects an empty page buffer or a slot too small for the result, still before writing.
    let mut out = Output::new(target, page, header.result_size)?;
    let mut dec = Decoder::new(
        source,
        &mut ram.input,
        header.payload_len,
        params.adapt_shift,
        offset32(HEADER_LEN),
    )?;
    let probs = ram.probs.as_mut_slice();
    let old_buf = &mut ram.base;

    // 2. Records (FORMATS §Delta, "Record stream").
    let mut old_pos: u32 = 0;
    let mut history: u8 = 0;
    let mut prev_out: u8 = 0;
    while out.produced() < header.result_size {
        let seek = model::unzigzag(dec.field(probs, model::FIELD_SEEK)?);
        let diff_len = dec.field(probs, model::FIELD_DIFF_LEN)?;
        let extra_len = dec.field(probs, model::FIELD_EXTRA_LEN)?;
        // FORMATS §Delta: the old position after the seek lies in 0..=base_size.
        old_pos = i64::from(old_pos)
            .checked_add(seek)
            .and_then(|p| u32::try_from(p).ok())
            .filter(|p| *p <= header.base_size)
            .ok_or(dec.error(Kind::BaseOverrun))?;
        // FORMATS §Delta: a record produces at least one byte (so decoding always progresses)...
        if diff_len == 0 && extra_len == 0 {
            return Err(dec.error(Kind::Corrupt));
        }
        // ...never more than result_size in total...
        let record_end = u64::from(out.produced())
            .checked_add(diff_len)
            .and_then(|e| e.checked_add(extra_len));
        if record_end.is_none_or(|e| e > u64::from(header.result_size)) {
            return Err(dec.error(Kind::ResultOverrun));
        }
        // ...and its diff part reads inside the base image.
        let diff_len = u32::try_from(diff_len).map_err(|_| dec.error(Kind::ResultOverrun))?;
        let extra_len = u32::try_from(extra_len).map_err(|_| dec.error(Kind::ResultOverrun))?;
        if old_pos.checked_add(diff_len).is_none_or(|e| e > header.base_size) {
            return Err(dec.error(Kind::BaseOverrun));
        }

        let mut remaining = diff_len;
        while remaining > 0 {
            let n = remaining.min(offset32(old_buf.len()));
            let chunk = old_buf.get_mut(..usize::try_from(n).unwrap_or(0)).unwrap_or_default();
            base.read(old_pos, chunk)
                .map_err(|_| ApplyError::new(Kind::FlashRead, old_pos))?;
            for old in chunk.iter() {
                let at = out.produced();
                let nonzero = dec.bit(probs, model::zero_index(history, at, *old))?;
                let delta = if nonzero == 0 {
                    0
                } else {
                    low_byte(dec.tree(probs, model::diff_base(at), 8)?)
                };
                history = history.wrapping_shl(1) | low_byte(nonzero);
                prev_out = old.wrapping_add(delta);
                out.push(prev_out)?;
            }
            old_pos = old_pos.saturating_add(n);
            remaining = remaining.saturating_sub(n);
        }
        for _ in 0..extra_len {
            prev_out = low_byte(dec.tree(probs, model::literal_base(prev_out, params.literal_context_bits), 8)?);
            out.push(prev_out)?;
        }
    }

    // 3. FORMATS §Delta: the payload ends exactly after the last record.
    dec.finish()?;
    // 4. FORMATS §Delta, apply step 4: the result is the declared image.
    let digest = out.finish()?;
    if digest != header.result_digest {
        return Err(ApplyError::new(Kind::ResultMismatch, 0));
    }
    Ok(AppliedPatch {
        result_size: header.result_size,
        result_digest: digest,
    })
}

/// What [`apply_and_verify`] reads, writes and works in: the slots, the patch stream and the
/// caller's RAM, all borrowed.
pub struct ApplyIo<'a, B, T, S> {
    /// The running image, the patch's precursor (only ever read).
    pub base: &'a mut B,
    /// The inactive slot the result is written to (and then verified in).
    pub target: &'a mut T,
    /// The patch payload, positioned right after the header [`read_header`] consumed.
    pub patch: &'a mut S,
    /// Decoder state.
    pub ram: &'a mut ApplyRam,
    /// One flash page; doubles as [`verify_image`]'s scratch buffer.
    pub page: &'a mut [u8],
}

impl<B, T, S> core::fmt::Debug for ApplyIo<'_, B, T, S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ApplyIo")
            .field("page_len", &self.page.len())
            .finish_non_exhaustive()
    }
}

/// [`apply`], then the full image check ([`verify_image`]: hash, trusted signature,
/// anti-rollback) on the target slot.
pub fn apply_and_verify<B: FlashRead, T: FlashWrite + FlashRead, S: PatchSource>(
    header: &DeltaHeader,
    io: ApplyIo<'_, B, T, S>,
    policy: &ImagePolicy<'_>,
) -> Result<VerifiedImage, ApplyError> {
    let ApplyIo {
        base,
        target,
        patch,
        ram,
        page,
    } = io;
    let applied = apply(header, base, target, patch, ram, page)?;
    let verified = verify_image(target, policy, page).map_err(|e| ApplyError::new(Kind::Verify(e.kind), e.offset))?;
    // The signed image must lie inside the bytes this patch produced.
    if verified.image_len() > applied.result_size() {
        return Err(ApplyError::new(Kind::ResultMismatch, applied.result_size()));
    }
    Ok(verified)
}

fn check_base<B: FlashRead>(header: &DeltaHeader, base: &mut B, buf: &mut [u8]) -> Result<(), ApplyError> {
    if base.capacity() < header.base_size {
        return Err(ApplyError::new(Kind::WrongBase, 0));
    }
    let mut hasher = Sha256::new();
    let mut offset: u32 = 0;
    while offset < header.base_size {
        let n = header.base_size.saturating_sub(offset).min(offset32(buf.len()));
        let chunk = buf.get_mut(..usize::try_from(n).unwrap_or(0)).unwrap_or_default();
        if chunk.is_empty() {
            return Err(ApplyError::new(Kind::FlashRead, offset));
        }
        base.read(offset, chunk)
            .map_err(|_| ApplyError::new(Kind::FlashRead, offset))?;
        hasher.update(&*chunk);
        offset = offset.saturating_add(n);
    }
    let digest: [u8; 32] = hasher.finalize().into();
    if digest != header.base_digest {
        return Err(ApplyError::new(Kind::WrongBase, 0));
    }
    Ok(())
}

fn offset32(v: usize) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

fn low_byte(v: u32) -> u8 {
    let [low, ..] = v.to_le_bytes();
    low
}
