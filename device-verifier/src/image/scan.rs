//! Scanning the unprotected TLV area straight from flash into fixed-size fields.

use manifest::image::{TlvEntryHeader, TlvInfo, TlvKind, TLV_ENTRY_HEADER_LEN, TLV_INFO_LEN, TLV_INFO_MAGIC};

use super::read;
use super::signature::SignatureKind;
use crate::error::{VerifyError, VerifyErrorKind as Kind};
use crate::flash::FlashRead;
use crate::hash::{HashAlg, MAX_DIGEST};
use crate::keys::TrustedKey;

/// Largest DER SPKI we accept in a PUBKEY TLV (P-256: 91 bytes).
const MAX_SPKI: usize = 91;
/// Largest DER ECDSA P-256 signature (`SEQUENCE { r, s }`, both with a sign byte).
const MAX_SIGNATURE: usize = 72;

/// How the image names its signing key.
#[derive(Debug, Clone, Copy)]
enum KeyRef {
    /// KEYHASH: hash of the DER SPKI, with the image hash algorithm.
    Hash { value: [u8; MAX_DIGEST], len: usize },
    /// PUBKEY: the DER SPKI itself.
    Full { value: [u8; MAX_SPKI], len: usize },
}

/// Everything the unprotected area may hold, each at most once.
#[derive(Debug, Clone, Copy)]
pub(super) struct UnprotectedTlvs {
    hash: Option<(HashAlg, [u8; MAX_DIGEST])>,
    pub(super) hash_offset: u32,
    key: Option<KeyRef>,
    key_offset: u32,
    signature: Option<(SignatureKind, [u8; MAX_SIGNATURE], usize)>,
    pub(super) signature_offset: u32,
    pub(super) pure: bool,
    /// Offset just past the area.
    pub(super) end: u32,
}

/// Reads a TLV value of exactly `len` bytes into the front of `dst`.
fn read_value<F: FlashRead, const N: usize>(
    flash: &mut F,
    at: u32,
    len: u16,
    allowed: core::ops::RangeInclusive<usize>,
) -> Result<([u8; N], usize), VerifyError> {
    let len = usize::from(len);
    if !allowed.contains(&len) || len > N {
        return Err(VerifyError::new(Kind::BadTlvLength, at));
    }
    let mut value = [0u8; N];
    let dst = value.get_mut(..len).unwrap_or_default();
    let value_at = at.checked_add(4).ok_or(VerifyError::new(Kind::ExceedsSlot, at))?;
    read(flash, value_at, dst)?;
    Ok((value, len))
}

fn set_once<T>(slot: &mut Option<T>, value: T, at: u32) -> Result<(), VerifyError> {
    if slot.is_some() {
        return Err(VerifyError::new(Kind::DuplicateTlv, at));
    }
    *slot = Some(value);
    Ok(())
}

/// Scans the area at `start` (image.h: right after the protected area).
pub(super) fn unprotected<F: FlashRead>(
    flash: &mut F,
    start: u32,
    capacity: u32,
) -> Result<UnprotectedTlvs, VerifyError> {
    let mut info_bytes = [0u8; TLV_INFO_LEN];
    read(flash, start, &mut info_bytes)?;
    let info = TlvInfo::parse(&info_bytes).map_err(|e| VerifyError::malformed(e, start))?;
    if info.magic != TLV_INFO_MAGIC {
        return Err(VerifyError::new(
            Kind::Malformed(manifest::DecodeErrorKind::BadTlvInfoMagic),
            start,
        ));
    }
    let end = start
        .checked_add(u32::from(info.total))
        .filter(|end| *end <= capacity)
        .ok_or(VerifyError::new(Kind::ExceedsSlot, start.saturating_add(2)))?;

    let mut tlvs = UnprotectedTlvs {
        hash: None,
        hash_offset: 0,
        key: None,
        key_offset: 0,
        signature: None,
        signature_offset: 0,
        pure: false,
        end,
    };
    let mut pure_seen = false;
    let mut at = start.saturating_add(4);
    while at < end {
        let overrun = VerifyError::new(Kind::Malformed(manifest::DecodeErrorKind::TlvOverrun), at);
        let value_end = at.checked_add(4).filter(|e| *e <= end).ok_or(overrun)?;
        let mut entry = [0u8; TLV_ENTRY_HEADER_LEN];
        read(flash, at, &mut entry)?;
        let TlvEntryHeader { kind, len } = TlvEntryHeader::parse(&entry).map_err(|e| VerifyError::malformed(e, at))?;
        let next = value_end
            .checked_add(u32::from(len))
            .filter(|n| *n <= end)
            .ok_or(overrun)?;
        match kind {
            TlvKind::SHA256 | TlvKind::SHA512 => {
                let alg = HashAlg::from_tlv(kind).ok_or(VerifyError::new(Kind::UnsupportedHash, at))?;
                let (value, _) = read_value::<F, MAX_DIGEST>(flash, at, len, alg.digest_len()..=alg.digest_len())?;
                set_once(&mut tlvs.hash, (alg, value), at)?;
                tlvs.hash_offset = at;
            }
            TlvKind::SHA384 => return Err(VerifyError::new(Kind::UnsupportedHash, at)),
            TlvKind::KEYHASH => {
                let (value, len) = read_value::<F, MAX_DIGEST>(flash, at, len, 32..=64)?;
                set_once(&mut tlvs.key, KeyRef::Hash { value, len }, at)?;
                tlvs.key_offset = at;
            }
            TlvKind::PUBKEY => {
                let (value, len) = read_value::<F, MAX_SPKI>(flash, at, len, 1..=MAX_SPKI)?;
                set_once(&mut tlvs.key, KeyRef::Full { value, len }, at)?;
                tlvs.key_offset = at;
            }
            TlvKind::ED25519 | TlvKind::ECDSA_SIG => {
                let sig_kind = if kind == TlvKind::ED25519 {
                    SignatureKind::Ed25519
                } else {
                    SignatureKind::EcdsaP256
                };
                // Ed25519: 64 bytes (RFC 8032 §5.1.6). ECDSA: DER SEQUENCE{r,s}, 8..=72 bytes.
                let range = if sig_kind == SignatureKind::Ed25519 {
                    64..=64
                } else {
                    8..=MAX_SIGNATURE
                };
                let (value, len) = read_value::<F, MAX_SIGNATURE>(flash, at, len, range)?;
                set_once(&mut tlvs.signature, (sig_kind, value, len), at)?;
                tlvs.signature_offset = at;
            }
            TlvKind::RSA2048_PSS | TlvKind::RSA3072_PSS | TlvKind::ECDSA224 => {
                return Err(VerifyError::new(Kind::SignatureKindMismatch, at))
            }
            TlvKind::SIG_PURE => {
                let (value, _) = read_value::<F, 1>(flash, at, len, 1..=1)?;
                if pure_seen {
                    return Err(VerifyError::new(Kind::DuplicateTlv, at));
                }
                pure_seen = true;
                // MCUboot MCUBOOT_SIGN_PURE: the TLV must hold exactly 1.
                if value != [1] {
                    return Err(VerifyError::new(Kind::BadPureFlag, at));
                }
                tlvs.pure = true;
            }
            // Allow list (MCUboot MCUBOOT_USE_TLV_ALLOW_LIST minus encryption, which we do not
            // support): anything else here is unauthenticated data and is refused — notably a
            // SEC_CNT, which only counts when it is protected.
            _ => return Err(VerifyError::new(Kind::UnexpectedTlv, at)),
        }
        at = next;
    }
    Ok(tlvs)
}

impl UnprotectedTlvs {
    pub(super) fn hash_alg(&self) -> Option<HashAlg> {
        self.hash.map(|(alg, _)| alg)
    }

    pub(super) fn hash_value(&self) -> Option<&[u8]> {
        self.hash
            .as_ref()
            .and_then(|(alg, value)| value.get(..alg.digest_len()))
    }

    pub(super) fn signature_kind(&self) -> SignatureKind {
        match self.signature {
            Some((SignatureKind::Ed25519, _, _)) if self.pure => SignatureKind::Ed25519Pure,
            Some((kind, _, _)) => kind,
            None => SignatureKind::Ed25519,
        }
    }

    pub(super) fn signature(&self) -> Option<(SignatureKind, &[u8])> {
        self.signature
            .as_ref()
            .map(|(kind, value, len)| (*kind, value.get(..*len).unwrap_or_default()))
    }

    /// bootutil `bootutil_find_key`: the KEYHASH (hash of the DER SPKI with the image hash
    /// algorithm) or PUBKEY must name one of the trusted keys.
    pub(super) fn find_key<'k>(
        &self,
        keys: &[TrustedKey<'k>],
        alg: HashAlg,
        area_start: u32,
    ) -> Result<(usize, TrustedKey<'k>), VerifyError> {
        let key_ref = self.key.ok_or(VerifyError::new(Kind::MissingKey, area_start))?;
        let untrusted = VerifyError::new(Kind::UntrustedKey, self.key_offset);
        keys.iter()
            .copied()
            .enumerate()
            .find(|(_, key)| match &key_ref {
                KeyRef::Hash { value, len } => {
                    let mut digest = [0u8; MAX_DIGEST];
                    let digest_len = alg.digest_into(key.spki(), &mut digest);
                    *len == digest_len && value.get(..*len) == digest.get(..digest_len)
                }
                KeyRef::Full { value, len } => value.get(..*len) == Some(key.spki()),
            })
            .ok_or(untrusted)
    }
}
