//! Trusted public keys, given as DER `SubjectPublicKeyInfo` — the same bytes `imgtool getpub`
//! embeds in MCUboot and whose hash is the image's KEYHASH TLV.

/// Signature algorithm a trusted key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// Ed25519 (RFC 8032; SPKI per RFC 8410). Needs the `ed25519` feature to verify.
    Ed25519,
    /// ECDSA over NIST P-256 (SPKI per RFC 5480). Needs the `ecdsa-p256` feature to verify.
    EcdsaP256,
}

/// RFC 8410 §4: SPKI for an Ed25519 key is this 12-byte prefix plus the 32-byte key.
const ED25519_SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
/// RFC 5480 §2: SPKI for a P-256 key (id-ecPublicKey, prime256v1), uncompressed point (0x04 ‖ X ‖ Y).
const P256_SPKI_PREFIX: [u8; 27] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
    0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04,
];

/// A public key the device trusts. Several can be trusted at once (key rotation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedKey<'a> {
    spki: &'a [u8],
    algorithm: KeyAlgorithm,
}

impl<'a> TrustedKey<'a> {
    /// Accepts exactly the two SPKI encodings above; anything else is `None`.
    pub fn from_spki(spki: &'a [u8]) -> Option<Self> {
        let algorithm = if spki.len() == 44 && spki.starts_with(&ED25519_SPKI_PREFIX) {
            KeyAlgorithm::Ed25519
        } else if spki.len() == 91 && spki.starts_with(&P256_SPKI_PREFIX) {
            KeyAlgorithm::EcdsaP256
        } else {
            return None;
        };
        Some(Self { spki, algorithm })
    }

    /// The DER SubjectPublicKeyInfo this key was made from.
    pub fn spki(&self) -> &'a [u8] {
        self.spki
    }

    /// The algorithm the key is for.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The raw key material after the SPKI prefix (32 bytes for Ed25519; X‖Y for P-256).
    pub(crate) fn raw(&self) -> &'a [u8] {
        let prefix = match self.algorithm {
            KeyAlgorithm::Ed25519 => ED25519_SPKI_PREFIX.len(),
            // Keep the 0x04 point marker: SEC1 encoding is what p256 parses.
            KeyAlgorithm::EcdsaP256 => P256_SPKI_PREFIX.len().saturating_sub(1),
        };
        self.spki.get(prefix..).unwrap_or_default()
    }
}
