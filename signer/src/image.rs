//! Signing MCUboot images exactly as imgtool 2.5.0 `sign` does (see docs/FORMATS.md).

use manifest::image::encode::{check_fits_slot, pad_to_slot, EncodeError, ImageOptions, UnsignedImage};
use manifest::image::{TlvKind, TrailerLayout};
use sha2::{Digest, Sha256, Sha512};

use crate::failure::Failure;
use crate::keys::{KeyAlgorithm, SigningKey};

/// `--public-key-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PublicKeyFormat {
    /// KEYHASH TLV: hash of the DER SPKI (imgtool default).
    #[default]
    Hash,
    /// PUBKEY TLV: the DER SPKI itself.
    Full,
}

/// `--sha`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ShaChoice {
    #[default]
    #[value(name = "auto")]
    Auto,
    #[value(name = "256")]
    Sha256,
    #[value(name = "512")]
    Sha512,
}

/// Everything `sign` needs besides the input bytes and the key.
#[derive(Debug, Clone)]
pub struct SignSettings {
    pub image: ImageOptions,
    /// `-S/--slot-size` (always required, as in imgtool: the trailer must fit).
    pub slot_size: u32,
    pub trailer: TrailerLayout,
    /// `--pad` (fill to the slot with the trailer magic); `--confirm` implies it.
    pub pad: bool,
    pub confirm: bool,
    pub public_key_format: PublicKeyFormat,
    pub sha: ShaChoice,
    /// `--pure`: Ed25519 over the covered bytes instead of their digest.
    pub pure: bool,
}

/// A signed image and facts about it for reports and the audit log.
#[derive(Debug, Clone)]
pub struct SignedImage {
    pub bytes: Vec<u8>,
    /// The image hash (hash TLV value).
    pub digest: Vec<u8>,
    /// SHA-256 of the signing key's DER SPKI (`getpubhash`).
    pub key_hash: [u8; 32],
    pub algorithm: KeyAlgorithm,
}

#[derive(Clone, Copy)]
enum HashAlg {
    Sha256,
    Sha512,
}

impl HashAlg {
    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => Sha256::digest(data).to_vec(),
            Self::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    fn tlv(self) -> TlvKind {
        match self {
            Self::Sha256 => TlvKind::SHA256,
            Self::Sha512 => TlvKind::SHA512,
        }
    }
}

/// imgtool `key_and_user_sha_to_alg_and_tlv`: which hash a key and `--sha`/`--pure` select.
fn hash_for(algorithm: KeyAlgorithm, sha: ShaChoice, pure: bool) -> Result<HashAlg, Failure> {
    match (algorithm, pure, sha) {
        (KeyAlgorithm::Ed25519, true, _) => Ok(HashAlg::Sha512),
        (_, true, _) => Err(Failure::operational("--pure is only defined for ed25519 keys")
            .hint("drop --pure, or sign with an ed25519 key")),
        (KeyAlgorithm::Ed25519, false, ShaChoice::Sha512) => Ok(HashAlg::Sha512),
        (_, false, ShaChoice::Auto | ShaChoice::Sha256) => Ok(HashAlg::Sha256),
        (KeyAlgorithm::EcdsaP256, false, ShaChoice::Sha512) => {
            Err(Failure::operational("key ecdsa-p256 can not be used with --sha 512")
                .hint("use --sha 256 (or omit --sha)"))
        }
    }
}

pub(crate) fn encode_failure(error: EncodeError) -> Failure {
    let failure = Failure::operational(error.to_string());
    match error {
        EncodeError::HeaderNotZero | EncodeError::InputShorterThanHeader => failure
            .hint("pass --pad-header to prepend the header, or link the firmware with -H bytes of zeros in front"),
        EncodeError::DoesNotFitSlot { .. } => {
            failure.hint("use a larger -S/--slot-size, a smaller image, or a smaller --align/--max-sectors trailer")
        }
        EncodeError::HeaderSizeTooSmall => failure.hint("use -H 32 or more (0x200 is common)"),
        EncodeError::LoadAndRomFixed => failure.hint("pass only one of -L/--load-addr and -F/--rom-fixed"),
        EncodeError::InvalidAlign => failure.hint("--align must be 1, 2, 4, 8, 16 or 32"),
        _ => failure,
    }
}

/// Builds, hashes and signs an image; the result is checked by `device-verifier` before return.
pub fn sign_image(input: &[u8], settings: &SignSettings, key: &dyn SigningKey) -> Result<SignedImage, Failure> {
    let algorithm = key.algorithm();
    let hash = hash_for(algorithm, settings.sha, settings.pure)?;
    let unsigned = UnsignedImage::new(input, &settings.image).map_err(encode_failure)?;
    let digest = hash.digest(unsigned.covered());
    let spki = key.public_spki()?;
    let key_ref = match settings.public_key_format {
        // imgtool: KEYHASH uses the image hash algorithm (SHA-512 under --pure / --sha 512).
        PublicKeyFormat::Hash => (TlvKind::KEYHASH, hash.digest(&spki)),
        PublicKeyFormat::Full => (TlvKind::PUBKEY, spki.clone()),
    };
    let message: &[u8] = if settings.pure { unsigned.covered() } else { &digest };
    let signature = key.sign(message)?;
    let sig_tlv = match algorithm {
        KeyAlgorithm::Ed25519 => TlvKind::ED25519,
        KeyAlgorithm::EcdsaP256 => TlvKind::ECDSA_SIG,
    };
    // imgtool order: hash, [SIG_PURE], KEYHASH|PUBKEY, signature.
    let mut unprotected: Vec<(TlvKind, &[u8])> = vec![(hash.tlv(), &digest)];
    if settings.pure {
        unprotected.push((TlvKind::SIG_PURE, &[1]));
    }
    unprotected.push((key_ref.0, &key_ref.1));
    unprotected.push((sig_tlv, &signature));
    let mut bytes = unsigned.finish(&unprotected).map_err(encode_failure)?;
    check_fits_slot(bytes.len(), settings.slot_size, &settings.trailer).map_err(encode_failure)?;
    if settings.pad || settings.confirm {
        pad_to_slot(
            &mut bytes,
            settings.slot_size,
            &settings.trailer,
            settings.image.erased_val,
            settings.confirm,
        )
        .map_err(encode_failure)?;
    }
    self_check(&bytes, &spki)?;
    Ok(SignedImage {
        bytes,
        digest,
        key_hash: crate::keys::key_hash(&spki),
        algorithm,
    })
}

/// Verifies what we just produced with the device's own code; a signer that emits an image the
/// device would refuse (e.g. a faulty HSM signature) stops here instead.
fn self_check(image: &[u8], spki: &[u8]) -> Result<(), Failure> {
    let key = device_verifier::TrustedKey::from_spki(spki)
        .ok_or_else(|| Failure::operational("the signing key's public key is not Ed25519 or P-256"))?;
    let policy = device_verifier::ImagePolicy {
        trusted_keys: &[key],
        security_counter_floor: None,
    };
    let mut buf = vec![0u8; 64 * 1024];
    device_verifier::verify_image(&mut device_verifier::SliceFlash::new(image), &policy, &mut buf)
        .map(|_| ())
        .map_err(|e| {
            Failure::operational(format!("the freshly signed image does not verify ({e})"))
                .hint("the key or token produced a bad signature; nothing was written")
        })
}
