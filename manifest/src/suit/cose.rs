//! `COSE_Sign1_Tagged` (RFC 9052 §4.2) with a detached payload, as SUIT's authentication
//! blocks use it (draft §8.3), and the `Sig_structure` it signs (RFC 9052 §4.4).

use super::cbor::{Reader, MAJOR_BSTR};
use super::TAG_COSE_SIGN1;
use crate::error::{DecodeError, DecodeErrorKind as Kind};

/// A COSE signature algorithm (IANA COSE Algorithms; RFC 9864 for the fully specified ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CoseAlg(pub i64);

impl CoseAlg {
    /// RFC 9864: Ed25519 (what our tools emit).
    pub const ED25519: Self = Self(-19);
    /// RFC 9053 EdDSA; deprecated by RFC 9864 but still common. Accepted as Ed25519.
    pub const EDDSA: Self = Self(-8);
    /// RFC 9864: ECDSA with P-256 and SHA-256.
    pub const ESP256: Self = Self(-9);
    /// RFC 9053 ES256 (ECDSA w/ SHA-256; used with P-256 keys).
    pub const ES256: Self = Self(-7);

    /// Whether the profile accepts the algorithm.
    pub const fn is_supported(self) -> bool {
        matches!(self.0, -19 | -8 | -9 | -7)
    }

    /// Length of a signature (Ed25519: R‖S; ECDSA: r‖s, RFC 9053 §2.1 — not DER).
    pub const fn signature_len(self) -> usize {
        64
    }

    pub const fn name(self) -> Option<&'static str> {
        match self.0 {
            -19 => Some("Ed25519"),
            -8 => Some("EdDSA"),
            -9 => Some("ESP256"),
            -7 => Some("ES256"),
            _ => None,
        }
    }
}

/// COSE header labels we read (RFC 9052 §3.1).
const LABEL_ALG: i64 = 1;
const LABEL_CRIT: i64 = 2;
const LABEL_KID: i64 = 4;

/// Length of the key identifiers our signers write ([`key_id`]).
pub const KID_LEN: usize = 8;

/// The `kid` (RFC 9052 §3.1, label 4) of a signing key in this profile: the first
/// [`KID_LEN`] bytes of SHA-256 over the key's DER SubjectPublicKeyInfo, given that digest
/// (this crate does not hash; docs/FORMATS.md "Key identifiers").
pub fn key_id(spki_sha256: &[u8; 32]) -> [u8; KID_LEN] {
    let [a, b, c, d, e, f, g, h, ..] = *spki_sha256;
    [a, b, c, d, e, f, g, h]
}

/// Largest `Sig_structure` [`Sign1::sig_structure`] writes (protected header and payload are
/// bounded by it; ours is about 60 bytes).
pub const SIG_STRUCTURE_MAX: usize = 256;

/// One decoded `COSE_Sign1_Tagged` with a detached payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sign1<'a> {
    /// The serialized protected header map (contents of the protected bstr).
    pub protected: &'a [u8],
    pub alg: CoseAlg,
    /// Key identifier, if any (protected or unprotected): a verifier that holds a key with
    /// this [`key_id`] checks the signature under that key alone.
    pub kid: Option<&'a [u8]>,
    pub signature: &'a [u8],
    /// Absolute offset of the block (for errors).
    pub offset: usize,
}

impl<'a> Sign1<'a> {
    /// Decodes one block that must fill `bytes` exactly; `base` is its absolute offset.
    pub fn decode(bytes: &'a [u8], base: usize) -> Result<Self, DecodeError> {
        Self::read(&mut Reader::new(bytes, base))
    }

    pub(crate) fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let offset = r.offset();
        // RFC 9052 §2: COSE_Sign1_Tagged = #6.18(COSE_Sign1); draft §8.3 requires the tagged form.
        if r.tag()? != TAG_COSE_SIGN1 {
            return Err(DecodeError::new(Kind::UnexpectedValue, offset));
        }
        r.array_exact(4)?;
        let mut header = r.bstr_cbor()?;
        let protected = header_bytes(&header)?;
        let mut kid = None;
        let alg = read_header(&mut header, &mut kid)?;
        header.finish()?;
        let alg = alg.ok_or(DecodeError::new(Kind::MissingMember, offset))?;
        if read_header(r, &mut kid)?.is_some() {
            // RFC 9052 §3.1: alg belongs in the protected bucket; the profile insists.
            return Err(DecodeError::new(Kind::UnexpectedValue, offset));
        }
        // draft §8.3: the payload is detached (nil); it is the SUIT_Digest, supplied separately.
        let payload_at = r.offset();
        if r.peek_major()? == MAJOR_BSTR {
            return Err(DecodeError::new(Kind::UnsupportedFeature, payload_at));
        }
        r.null()?;
        let sig_at = r.offset();
        let signature = r.bstr()?;
        if !alg.is_supported() {
            return Err(DecodeError::new(Kind::UnsupportedAlgorithm, offset));
        }
        if signature.len() != alg.signature_len() {
            return Err(DecodeError::new(Kind::UnexpectedValue, sig_at));
        }
        r.finish()?;
        Ok(Self {
            protected,
            alg,
            kid,
            signature,
            offset,
        })
    }

    /// RFC 9052 §4.4: `Sig_structure = ["Signature1", body_protected, external_aad, payload]`,
    /// with an empty external_aad (draft §8.3) and the detached payload (the encoded
    /// SUIT_Digest). Written into `out`; `None` if it does not fit.
    pub fn sig_structure<'b>(&self, payload: &[u8], out: &'b mut [u8]) -> Option<&'b [u8]> {
        let mut w = SliceWriter { out, len: 0 };
        w.put(&[0x84])?;
        w.head(3, 10)?;
        w.put(b"Signature1")?;
        w.bstr(self.protected)?;
        w.bstr(&[])?;
        w.bstr(payload)?;
        let len = w.len;
        w.out.get(..len)
    }
}

/// The protected bstr contents, i.e. everything the nested reader spans.
fn header_bytes<'a>(r: &Reader<'a>) -> Result<&'a [u8], DecodeError> {
    let mut copy = *r;
    let bytes = copy.raw_item()?;
    copy.finish()?;
    Ok(bytes)
}

/// Reads one header map; returns `alg` if present. Only alg (protected) and kid are in the profile.
fn read_header<'a>(r: &mut Reader<'a>, kid: &mut Option<&'a [u8]>) -> Result<Option<CoseAlg>, DecodeError> {
    let mut alg = None;
    for _ in 0..r.map_len()? {
        let at = r.offset();
        match r.int()? {
            LABEL_ALG => alg = Some(CoseAlg(r.int()?)),
            LABEL_KID if kid.is_none() => *kid = Some(r.bstr()?),
            // RFC 9052 §3.1: a `crit` list names parameters we must understand; we understand
            // none beyond alg and kid, so any crit header means "reject".
            LABEL_CRIT => return Err(DecodeError::new(Kind::UnknownCriticalMember, at)),
            _ => return Err(DecodeError::new(Kind::UnsupportedFeature, at)),
        }
    }
    Ok(alg)
}

/// Writes CBOR into a fixed buffer (no allocation on the device).
struct SliceWriter<'b> {
    out: &'b mut [u8],
    len: usize,
}

impl SliceWriter<'_> {
    fn put(&mut self, bytes: &[u8]) -> Option<()> {
        let end = self.len.checked_add(bytes.len())?;
        self.out.get_mut(self.len..end)?.copy_from_slice(bytes);
        self.len = end;
        Some(())
    }

    fn head(&mut self, major: u8, len: usize) -> Option<()> {
        let m = major << 5;
        match u16::try_from(len).ok()? {
            n @ 0..=23 => self.put(&[m | u8::try_from(n).ok()?]),
            n @ 24..=0xff => self.put(&[m | 24, u8::try_from(n).ok()?]),
            n => {
                let [a, b] = n.to_be_bytes();
                self.put(&[m | 25, a, b])
            }
        }
    }

    fn bstr(&mut self, bytes: &[u8]) -> Option<()> {
        self.head(2, bytes.len())?;
        self.put(bytes)
    }
}
