//! MCUboot image verification (bootutil `bootutil_img_validate`), streamed from flash.
//!
//! Order of work, so that no byte is trusted before it is covered by a check:
//! 1. the 32-byte header is read once, sanity-checked, and fed to the hash from that copy;
//! 2. the unprotected TLV area is scanned (hash, key reference, signature; nothing else allowed);
//! 3. header padding and body are streamed through the caller's buffer into the hash (and, for
//!    `--pure` images, into the Ed25519 verifier); the protected area is read into the buffer
//!    once, hashed and parsed from that same copy;
//! 4. the digest, then the signature by a trusted key, then the security counter are checked.

mod scan;
mod signature;

use manifest::image::{
    ImageFlags, ImageHeader, TlvInfo, TlvIter, TlvKind, HEADER_LEN, PROTECTED_TLV_INFO_MAGIC, TLV_INFO_LEN,
};

use crate::error::{VerifyError, VerifyErrorKind as Kind};
use crate::flash::FlashRead;
use crate::hash::{HashAlg, MAX_DIGEST};
use crate::keys::TrustedKey;

pub use signature::SignatureKind;

/// What the device requires of an image.
#[derive(Debug, Clone, Copy)]
pub struct ImagePolicy<'a> {
    /// Keys whose signatures are accepted. Trust old and new at once while rotating keys.
    pub trusted_keys: &'a [TrustedKey<'a>],
    /// The device's stored anti-rollback floor. `Some(floor)` requires a SEC_CNT TLV with a value
    /// `>= floor`; `None` skips the check (development only).
    pub security_counter_floor: Option<u32>,
}

/// Proof that an image verified. Only [`verify_image`] can construct one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedImage {
    header: ImageHeader,
    hash_alg: HashAlg,
    digest: [u8; MAX_DIGEST],
    security_counter: Option<u32>,
    key_index: usize,
    signature: SignatureKind,
    image_len: u32,
}

impl VerifiedImage {
    /// The image header (image.h `struct image_header`): load address, sizes, flags, version.
    pub fn header(&self) -> &ImageHeader {
        &self.header
    }

    /// The image hash (what the hash TLV holds and what was signed, unless pure).
    pub fn digest(&self) -> &[u8] {
        self.digest.get(..self.hash_alg.digest_len()).unwrap_or_default()
    }

    /// The algorithm of [`digest`](Self::digest).
    pub fn hash_alg(&self) -> HashAlg {
        self.hash_alg
    }

    /// The protected SEC_CNT TLV, if the image has one: raise the device's stored floor to it
    /// once the image is committed.
    pub fn security_counter(&self) -> Option<u32> {
        self.security_counter
    }

    /// Index into [`ImagePolicy::trusted_keys`] of the key that signed the image.
    pub fn key_index(&self) -> usize {
        self.key_index
    }

    /// Which signature verified.
    pub fn signature_kind(&self) -> SignatureKind {
        self.signature
    }

    /// Bytes from the start of the slot to the end of the unprotected TLV area.
    pub fn image_len(&self) -> u32 {
        self.image_len
    }
}

/// Verifies the image at the start of `flash`. `buf` is scratch space for streaming; it must be
/// non-empty and at least as large as the protected TLV area (12 bytes for a SEC_CNT-only area).
pub fn verify_image<F: FlashRead>(
    flash: &mut F,
    policy: &ImagePolicy<'_>,
    buf: &mut [u8],
) -> Result<VerifiedImage, VerifyError> {
    let capacity = flash.capacity();
    if buf.is_empty() {
        return Err(VerifyError::new(Kind::BufferTooSmall, 0));
    }

    // 1. Header (image.h `struct image_header`).
    let mut raw_header = [0u8; HEADER_LEN];
    read(flash, 0, &mut raw_header)?;
    let header = ImageHeader::parse(&raw_header).map_err(|e| VerifyError::malformed(e, 0))?;
    let unsupported = ImageFlags(
        ImageFlags::ENCRYPTED_AES128.0
            | ImageFlags::ENCRYPTED_AES256.0
            | ImageFlags::COMPRESSED_LZMA1.0
            | ImageFlags::COMPRESSED_LZMA2.0,
    );
    if header.flags.0 & unsupported.0 != 0 {
        return Err(VerifyError::new(Kind::UnsupportedFlags, 16));
    }
    // `parse` guarantees these sums do not overflow.
    let body_end = header.body_end().ok_or(VerifyError::new(Kind::ExceedsSlot, 12))?;
    let protected_end = header.protected_end().ok_or(VerifyError::new(Kind::ExceedsSlot, 12))?;
    if protected_end > capacity {
        return Err(VerifyError::new(Kind::ExceedsSlot, 12));
    }

    // 2. Unprotected TLVs: what to compare and whom to trust.
    let tlvs = scan::unprotected(flash, protected_end, capacity)?;
    let hash_alg = match (tlvs.hash_alg(), tlvs.pure) {
        (Some(alg), _) => alg,
        // Pure Ed25519 signs the bytes themselves; MCUboot then hashes keys with SHA-512.
        (None, true) => HashAlg::Sha512,
        (None, false) => return Err(VerifyError::new(Kind::MissingHash, protected_end)),
    };
    let (key_index, key) = tlvs.find_key(policy.trusted_keys, hash_alg, protected_end)?;
    let mut verifier = signature::Verifier::new(&key, &tlvs, hash_alg, protected_end)?;

    // 3. Stream the covered bytes: header copy, then padding and body, then the protected area.
    let mut hasher = hash_alg.hasher();
    hasher.update(&raw_header);
    verifier.update(&raw_header);
    let mut offset = u32::try_from(HEADER_LEN).unwrap_or(u32::MAX);
    while offset < body_end {
        let want = usize::try_from(body_end.saturating_sub(offset)).unwrap_or(usize::MAX);
        let chunk = buf.get_mut(..want.min(buf.len())).unwrap_or_default();
        read(flash, offset, chunk)?;
        hasher.update(chunk);
        verifier.update(chunk);
        offset = offset.saturating_add(u32::try_from(chunk.len()).unwrap_or(u32::MAX));
    }
    let security_counter = if header.protect_tlv_size == 0 {
        None
    } else {
        let area = buf
            .get_mut(..usize::from(header.protect_tlv_size))
            .ok_or(VerifyError::new(Kind::BufferTooSmall, body_end))?;
        read(flash, body_end, area)?;
        hasher.update(area);
        verifier.update(area);
        protected_security_counter(area, body_end)?
    };

    // 4. Hash, signature, anti-rollback.
    let mut digest = [0u8; MAX_DIGEST];
    let digest_len = hasher.finish(&mut digest);
    let computed = digest.get(..digest_len).unwrap_or_default();
    if let Some(expected) = tlvs.hash_value() {
        if expected != computed {
            return Err(VerifyError::new(Kind::HashMismatch, tlvs.hash_offset));
        }
    }
    verifier.finish(computed, tlvs.signature_offset)?;
    if let Some(floor) = policy.security_counter_floor {
        let counter = security_counter.ok_or(VerifyError::new(Kind::MissingSecurityCounter, body_end))?;
        // Anti-rollback (bootutil `boot_nv_security_counter`): never accept below the floor.
        if counter < floor {
            return Err(VerifyError::new(Kind::Rollback, body_end));
        }
    }
    Ok(VerifiedImage {
        header,
        hash_alg,
        digest,
        security_counter,
        key_index,
        signature: tlvs.signature_kind(),
        image_len: tlvs.end,
    })
}

pub(crate) fn read<F: FlashRead>(flash: &mut F, offset: u32, buf: &mut [u8]) -> Result<(), VerifyError> {
    flash
        .read(offset, buf)
        .map_err(|_| VerifyError::new(Kind::Flash, offset))
}

/// Parses the protected area (already hashed from this very copy) for SEC_CNT.
fn protected_security_counter(area: &[u8], base: u32) -> Result<Option<u32>, VerifyError> {
    let info = TlvInfo::parse(area).map_err(|e| VerifyError::malformed(e, base))?;
    // image.h: the protected area carries IMAGE_TLV_PROT_INFO_MAGIC and its it_tlv_tot equals
    // ih_protect_tlv_size.
    if info.magic != PROTECTED_TLV_INFO_MAGIC {
        return Err(VerifyError::new(
            Kind::Malformed(manifest::DecodeErrorKind::BadTlvInfoMagic),
            base,
        ));
    }
    if usize::from(info.total) != area.len() {
        return Err(VerifyError::new(
            Kind::Malformed(manifest::DecodeErrorKind::ProtectedSizeMismatch),
            base.saturating_add(2),
        ));
    }
    let entries = area.get(TLV_INFO_LEN..).unwrap_or_default();
    let base_usize = usize::try_from(base).unwrap_or(usize::MAX);
    let mut counter = None;
    for tlv in TlvIter::new(entries, base_usize.saturating_add(TLV_INFO_LEN)) {
        let tlv = tlv.map_err(|e| VerifyError::malformed(e, 0))?;
        let at = u32::try_from(tlv.offset).unwrap_or(u32::MAX);
        if tlv.kind == TlvKind::SEC_CNT {
            if counter.is_some() {
                return Err(VerifyError::new(Kind::DuplicateTlv, at));
            }
            let value: [u8; 4] = tlv
                .value
                .try_into()
                .map_err(|_| VerifyError::new(Kind::BadTlvLength, at))?;
            counter = Some(u32::from_le_bytes(value));
        }
    }
    Ok(counter)
}
