//! Signing MCUboot images exactly as imgtool 2.5.0 `sign` does (see docs/FORMATS.md).

use manifest::image::encode::{check_fits_slot, pad_to_slot, EncodeError, ImageOptions, UnsignedImage};
use manifest::image::{ImageVersion, TlvKind, TrailerLayout};
use sha2::{Digest, Sha256, Sha512};

use crate::error::Error;
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
///
/// Build it with [`SignSettings::new`] (imgtool's defaults for every optional flag) and the
/// setters; the fields stay public for code that fills them directly.
///
/// ```
/// use manifest::image::{ImageVersion, TrailerLayout};
/// use signer::image::SignSettings;
///
/// let version: ImageVersion = "1.2.3+4".parse().unwrap();
/// let settings = SignSettings::new(version, 0x20000)
///     .pad_header(true)
///     .security_counter(Some(version.auto_security_counter()))
///     .trailer(TrailerLayout::for_align(8, None));
/// assert_eq!(settings.image.header_size, 0x200);
/// ```
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

impl SignSettings {
    /// Image `version` for a slot of `slot_size` bytes, otherwise imgtool 2.5.0's defaults:
    /// a 0x200-byte header overwriting the input's zeros (no `--pad-header`), no security
    /// counter, `--align 1`, no padding, KEYHASH, SHA-256, not pure, erased value 0xff.
    pub fn new(version: ImageVersion, slot_size: u32) -> Self {
        Self {
            image: ImageOptions {
                version,
                ..ImageOptions::default()
            },
            slot_size,
            trailer: TrailerLayout::for_align(1, None),
            pad: false,
            confirm: false,
            public_key_format: PublicKeyFormat::default(),
            sha: ShaChoice::default(),
            pure: false,
        }
    }

    /// `-H/--header-size`.
    #[must_use]
    pub fn header_size(mut self, bytes: u16) -> Self {
        self.image.header_size = bytes;
        self
    }

    /// `--pad-header`: prepend the header instead of overwriting the input's first bytes.
    #[must_use]
    pub fn pad_header(mut self, yes: bool) -> Self {
        self.image.pad_header = yes;
        self
    }

    /// `-s/--security-counter`; `None` writes no SEC_CNT TLV.
    #[must_use]
    pub fn security_counter(mut self, counter: Option<u32>) -> Self {
        self.image.security_counter = counter;
        self
    }

    /// `-L/--load-addr` (RAM-load images; 0 is none).
    #[must_use]
    pub fn load_addr(mut self, addr: u32) -> Self {
        self.image.load_addr = addr;
        self
    }

    /// `-F/--rom-fixed`.
    #[must_use]
    pub fn rom_fixed(mut self, addr: Option<u32>) -> Self {
        self.image.rom_fixed = addr;
        self
    }

    /// `--non-bootable`.
    #[must_use]
    pub fn non_bootable(mut self, yes: bool) -> Self {
        self.image.non_bootable = yes;
        self
    }

    /// `-R/--erased-val` (0xff or 0).
    #[must_use]
    pub fn erased_val(mut self, value: u8) -> Self {
        self.image.erased_val = value;
        self
    }

    /// The trailer layout (`--align`, `--max-align`, `-M/--max-sectors`, `--overwrite-only`).
    #[must_use]
    pub fn trailer(mut self, trailer: TrailerLayout) -> Self {
        self.trailer = trailer;
        self
    }

    /// `--pad`: fill the image to the slot and write the trailer magic.
    #[must_use]
    pub fn pad(mut self, yes: bool) -> Self {
        self.pad = yes;
        self
    }

    /// `--confirm`: mark the image confirmed (implies `--pad`).
    #[must_use]
    pub fn confirm(mut self, yes: bool) -> Self {
        self.confirm = yes;
        self
    }

    /// `--public-key-format`.
    #[must_use]
    pub fn public_key_format(mut self, format: PublicKeyFormat) -> Self {
        self.public_key_format = format;
        self
    }

    /// `--sha`.
    #[must_use]
    pub fn sha(mut self, sha: ShaChoice) -> Self {
        self.sha = sha;
        self
    }

    /// `--pure`.
    #[must_use]
    pub fn pure(mut self, yes: bool) -> Self {
        self.pure = yes;
        self
    }
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

#[derive(Debug, Clone, Copy)]
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
fn hash_for(algorithm: KeyAlgorithm, sha: ShaChoice, pure: bool) -> Result<HashAlg, Error> {
    match (algorithm, pure, sha) {
        (KeyAlgorithm::Ed25519, true, _) => Ok(HashAlg::Sha512),
        (_, true, _) => Err(Error::usage("--pure is only defined for ed25519 keys")
            .with_hint("drop --pure, or sign with an ed25519 key")),
        (KeyAlgorithm::Ed25519, false, ShaChoice::Sha512) => Ok(HashAlg::Sha512),
        (_, false, ShaChoice::Auto | ShaChoice::Sha256) => Ok(HashAlg::Sha256),
        (KeyAlgorithm::EcdsaP256, false, ShaChoice::Sha512) => {
            Err(Error::usage("key ecdsa-p256 can not be used with --sha 512")
                .with_hint("use --sha 256 (or omit --sha)"))
        }
    }
}

pub(crate) fn encode_error(cause: EncodeError) -> Error {
    let error = Error::usage(cause.to_string());
    match cause {
        EncodeError::HeaderNotZero | EncodeError::InputShorterThanHeader => error
            .with_hint("pass --pad-header to prepend the header, or link the firmware with -H bytes of zeros in front"),
        EncodeError::DoesNotFitSlot { .. } => {
            error.with_hint("use a larger -S/--slot-size, a smaller image, or a smaller --align/--max-sectors trailer")
        }
        EncodeError::HeaderSizeTooSmall => error.with_hint("use -H 32 or more (0x200 is common)"),
        EncodeError::LoadAndRomFixed => error.with_hint("pass only one of -L/--load-addr and -F/--rom-fixed"),
        EncodeError::InvalidAlign => error.with_hint("--align must be 1, 2, 4, 8, 16 or 32"),
        _ => error,
    }
}

/// An image built and hashed, waiting for its signature. [`sign_image`] signs it with any key;
/// `signer sign` signs it through the audit log ([`crate::audit::AuditedKey::sign_output`]).
#[derive(Debug)]
pub struct PreparedImage<'s> {
    unsigned: UnsignedImage,
    settings: &'s SignSettings,
    hash: HashAlg,
    digest: Vec<u8>,
    algorithm: KeyAlgorithm,
    spki: Vec<u8>,
}

impl<'s> PreparedImage<'s> {
    /// Lays out `input` as an image for a key of `algorithm` whose DER SPKI is `spki`.
    pub fn new(
        input: &[u8],
        settings: &'s SignSettings,
        algorithm: KeyAlgorithm,
        spki: Vec<u8>,
    ) -> Result<Self, Error> {
        let hash = hash_for(algorithm, settings.sha, settings.pure)?;
        let unsigned = UnsignedImage::new(input, &settings.image).map_err(encode_error)?;
        let digest = hash.digest(unsigned.covered());
        Ok(Self {
            unsigned,
            settings,
            hash,
            digest,
            algorithm,
            spki,
        })
    }

    /// The image hash (the hash TLV's value).
    pub fn digest(&self) -> &[u8] {
        &self.digest
    }

    /// What the key signs: the image hash, or with `--pure` the covered bytes themselves.
    pub fn message(&self) -> &[u8] {
        if self.settings.pure {
            self.unsigned.covered()
        } else {
            &self.digest
        }
    }

    /// Adds the TLVs with `signature`, pads as asked, and checks the result with the device's
    /// own verifier.
    pub fn finish(self, signature: &[u8]) -> Result<SignedImage, Error> {
        let settings = self.settings;
        let key_ref = match settings.public_key_format {
            // imgtool: KEYHASH uses the image hash algorithm (SHA-512 under --pure / --sha 512).
            PublicKeyFormat::Hash => (TlvKind::KEYHASH, self.hash.digest(&self.spki)),
            PublicKeyFormat::Full => (TlvKind::PUBKEY, self.spki.clone()),
        };
        let sig_tlv = match self.algorithm {
            KeyAlgorithm::Ed25519 => TlvKind::ED25519,
            KeyAlgorithm::EcdsaP256 => TlvKind::ECDSA_SIG,
        };
        // imgtool order: hash, [SIG_PURE], KEYHASH|PUBKEY, signature.
        let mut unprotected: Vec<(TlvKind, &[u8])> = vec![(self.hash.tlv(), &self.digest)];
        if settings.pure {
            unprotected.push((TlvKind::SIG_PURE, &[1]));
        }
        unprotected.push((key_ref.0, &key_ref.1));
        unprotected.push((sig_tlv, signature));
        let mut bytes = self.unsigned.finish(&unprotected).map_err(encode_error)?;
        check_fits_slot(bytes.len(), settings.slot_size, &settings.trailer).map_err(encode_error)?;
        if settings.pad || settings.confirm {
            pad_to_slot(
                &mut bytes,
                settings.slot_size,
                &settings.trailer,
                settings.image.erased_val,
                settings.confirm,
            )
            .map_err(encode_error)?;
        }
        self_check(&bytes, &self.spki)?;
        Ok(SignedImage {
            bytes,
            digest: self.digest,
            key_hash: crate::keys::key_hash(&self.spki),
            algorithm: self.algorithm,
        })
    }
}

/// Builds, hashes and signs an image; the result is checked by `device-verifier` before return.
///
/// # Production callers sign through the audit log
///
/// This signs with `key` as it is and writes no audit record of its own. Production callers sign
/// through an [`AuditedKey`](crate::audit::AuditedKey): best with
/// [`AuditedKey::sign_image`](crate::audit::AuditedKey::sign_image) (the demo) or, for an output
/// of their own making, a [`PreparedImage`] through
/// [`AuditedKey::sign_output`](crate::audit::AuditedKey::sign_output) (`signer sign`), whose
/// records also name the signed digest and the SHA-256 of the output; passing an `AuditedKey`
/// here records the signature too, without those. The trust model requires every signature to be
/// in the audit log before the signed output exists (docs/ARCHITECTURE.md): an image signed with
/// a raw key boots on every device that trusts the key, and the log does not know it exists.
/// Tests and benches may pass raw keys.
pub fn sign_image(input: &[u8], settings: &SignSettings, key: &dyn SigningKey) -> Result<SignedImage, Error> {
    let prepared = PreparedImage::new(input, settings, key.algorithm(), key.public_spki()?)?;
    let signature = key.sign(prepared.message())?;
    prepared.finish(&signature)
}

/// Verifies what we just produced with the device's own code; a signer that emits an image the
/// device would refuse (e.g. a faulty HSM signature) stops here instead.
fn self_check(image: &[u8], spki: &[u8]) -> Result<(), Error> {
    let key = device_verifier::TrustedKey::from_spki(spki)
        .ok_or_else(|| Error::key("the signing key's public key is not Ed25519 or P-256"))?;
    let policy = device_verifier::ImagePolicy {
        trusted_keys: &[key],
        security_counter_floor: None,
    };
    let mut buf = vec![0u8; 64 * 1024];
    device_verifier::verify_image(&mut device_verifier::SliceFlash::new(image), &policy, &mut buf)
        .map(|_| ())
        .map_err(|e| {
            Error::internal(format!("the freshly signed image does not verify ({e})"))
                .with_hint("the key or token produced a bad signature; nothing was written")
        })
}
