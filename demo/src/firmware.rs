//! Development keys and the demo's firmware: the repository's real Cortex-M4 v1 and v2 payloads,
//! re-signed with freshly generated keys, and releases cut with `signer`'s library (SUIT
//! envelope, delta patches) exactly as `signer release` does.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use manifest::image::{ImageVersion, ImageView, TrailerLayout};
use signer::image::{sign_image, SignSettings};
use signer::keys::{generate_file_key, load_file_key, FileKey, KeyAlgorithm, SigningKey as _};
use signer::output::Overwrite;
use signer::release::sign::KeyCoseSigner;
use signer::release::{build_release, CoseSigner, DeltaRef, ReleaseBundle, ReleaseInput};

/// Flash slot the demo images are signed for.
pub const SLOT_SIZE: u32 = 0x20000;

/// The two development keys: MCUboot image key and SUIT manifest key (separate, as in production).
pub struct DevKeys {
    pub image: FileKey,
    pub manifest: FileKey,
    pub image_pub: PathBuf,
    pub manifest_pub: PathBuf,
}

/// The development key `<name>.pem` in `dir`, loaded if present, else generated (mode 0600);
/// its public PEM beside it. Returns whether the private key was kept.
fn load_or_generate_key(dir: &Path, name: &str) -> Result<(FileKey, PathBuf, bool)> {
    let path = dir.join(format!("{name}.pem"));
    let (key, reused) = if path.exists() {
        keep_private(&path)?;
        let key = load_file_key(&path).map_err(|f| anyhow::anyhow!("{f}"))?;
        (key, true)
    } else {
        let key =
            generate_file_key(KeyAlgorithm::Ed25519, &path, Overwrite::Refuse).map_err(|f| anyhow::anyhow!("{f}"))?;
        (key, false)
    };
    let spki = key.public_spki().map_err(|f| anyhow::anyhow!("{f}"))?;
    let pem = spki::der::pem::encode_string("PUBLIC KEY", spki::der::pem::LineEnding::LF, &spki)
        .map_err(|e| anyhow::anyhow!("encoding a public key: {e}"))?;
    let public = dir.join(format!("{name}.pub.pem"));
    // The public half is derived: written when missing or not the key's (never a secret).
    if std::fs::read_to_string(&public).ok().as_deref() != Some(pem.as_str()) {
        std::fs::write(&public, pem).with_context(|| format!("writing {}", public.display()))?;
    }
    Ok((key, public, reused))
}

/// A private key file kept from an earlier run must be readable by its owner only (0600): a
/// broader mode (copied around, restored from a backup) is narrowed, never widened.
pub fn keep_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
    anyhow::ensure!(meta.is_file(), "{} is not a file", path.display());
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("restricting {} to mode 0600", path.display()))?;
    }
    Ok(())
}

impl DevKeys {
    /// The image and manifest keys in `dir` (Ed25519, PKCS#8 files, mode 0600) and their public
    /// PEMs: kept from an earlier run when present (never replaced), generated otherwise.
    /// Returns whether both were kept.
    pub fn load_or_generate(dir: &Path) -> Result<(Self, bool)> {
        let (image, image_pub, kept_image) = load_or_generate_key(dir, "image-key")?;
        let (manifest, manifest_pub, kept_manifest) = load_or_generate_key(dir, "manifest-key")?;
        let keys = Self {
            image,
            manifest,
            image_pub,
            manifest_pub,
        };
        Ok((keys, kept_image && kept_manifest))
    }

    pub fn image_spki(&self) -> Result<Vec<u8>> {
        self.image.public_spki().map_err(|f| anyhow::anyhow!("{f}"))
    }

    pub fn manifest_spki(&self) -> Result<Vec<u8>> {
        self.manifest.public_spki().map_err(|f| anyhow::anyhow!("{f}"))
    }
}

/// The firmware body of a signed MCUboot image.
pub fn payload(signed: &[u8]) -> Result<Vec<u8>> {
    let view = ImageView::parse(signed).map_err(|e| anyhow::anyhow!("not an MCUboot image: {e:?}"))?;
    Ok(view.body().to_vec())
}

/// The repository's real firmware pair (v1 → v2 of a Cortex-M4 application), as payloads.
pub fn repo_payloads(repo: &Path) -> Result<(Vec<u8>, Vec<u8>)> {
    let read = |name: &str| -> Result<Vec<u8>> {
        let path = repo.join("fixtures/images").join(name);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        payload(&bytes)
    };
    Ok((read("fw-v1.signed.bin")?, read("fw-v2.signed.bin")?))
}

/// Signs `payload` as MCUboot image `major.minor.0`.
pub fn sign(payload: &[u8], major: u8, minor: u8, key: &FileKey) -> Result<Vec<u8>> {
    let settings = SignSettings::new(
        ImageVersion {
            major,
            minor,
            revision: 0,
            build: 0,
        },
        SLOT_SIZE,
    )
    .pad_header(true)
    .security_counter(Some(0))
    .trailer(TrailerLayout::for_align(8, None));
    Ok(sign_image(payload, &settings, key)
        .map_err(|f| anyhow::anyhow!("{f}"))?
        .bytes)
}

impl std::fmt::Debug for DevKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevKeys")
            .field("image_pub", &self.image_pub)
            .field("manifest_pub", &self.manifest_pub)
            .finish_non_exhaustive()
    }
}

/// What a release is cut from.
#[derive(Debug)]
pub struct ReleaseSpec<'a> {
    pub image: &'a [u8],
    pub version: &'a str,
    pub sequence: u64,
    pub class: &'a str,
    pub vendor_domain: &'a str,
    /// Images devices may run now: a delta patch is made from each.
    pub delta_from: Vec<&'a [u8]>,
}

/// Cuts a signed release bundle (envelope, image, patches, summary).
pub fn cut_release(spec: &ReleaseSpec<'_>, manifest_key: &FileKey) -> Result<ReleaseBundle> {
    let cose = KeyCoseSigner::new(manifest_key).map_err(|f| anyhow::anyhow!("{f}"))?;
    let deltas = spec
        .delta_from
        .iter()
        .enumerate()
        .map(|(i, base)| {
            let patch = signer::delta::create(base, spec.image, &|_, _| {}).map_err(|f| anyhow::anyhow!("{f}"))?;
            Ok(DeltaRef {
                format: manifest::suit::DeltaFormat::FWSIGN_V1.0,
                precursor_image: base.to_vec(),
                patch,
                file_name: format!("delta-{i}.patch"),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    build_release(
        ReleaseInput {
            image: spec.image.to_vec(),
            image_name: "firmware.bin".into(),
            image_uri: None,
            sequence: spec.sequence,
            vendor_domain: spec.vendor_domain.into(),
            class_name: spec.class.into(),
            version: spec.version.into(),
            notes: format!("demo release {}", spec.version),
            deltas,
        },
        &[&cose as &dyn CoseSigner],
    )
    .map_err(|f| anyhow::anyhow!("{f}"))
}
