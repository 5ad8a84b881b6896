//! Verification that runs inside the bootloader and the device's update client: `no_std`, no
//! allocator, no `unsafe`, no panics.
//!
//! A device checks two signatures made with two different keys (docs/ARCHITECTURE.md, "The trust
//! model"): the **release manifest** (an IETF SUIT envelope, draft-ietf-suit-manifest, signed with
//! COSE_Sign1, RFC 9052) says what to install, on which device class, with which anti-rollback
//! sequence number and from which delta bases; the **image** (MCUboot format) carries its own
//! signature, which the bootloader checks at every boot. This crate does every check on the
//! device side, streaming from flash through buffers the caller owns.
//!
//! # The device flow
//!
//! | step | where it runs | call | proof it returns |
//! |---|---|---|---|
//! | 1. the envelope is authentic, for this device, newer than the stored floor | update client | [`verify_envelope`] | [`VerifiedRelease`] |
//! | 2. the offered patch is one the manifest allows for the running image | update client | [`match_patch`], [`check_patch_file`] | the manifest's `DeltaPatch` entry |
//! | 3. rebuild the image in the inactive slot (or write the full image) | update client | [`delta::apply_and_verify`] | [`VerifiedImage`] |
//! | 4. the slot holds exactly the manifest's image, and its MCUboot signature verifies | update client | [`bind_image`] | [`BoundImage`] |
//! | 5. every boot: hash, trusted signature, security counter | bootloader | [`verify_image`] | [`VerifiedImage`] |
//! | 6. the new image confirmed itself: store the new sequence floor | new firmware | [`BoundImage::commit_after_boot`] | a [`SequenceCommit`] handed to your [`RollbackStore`] |
//!
//! The example below is the whole flow, run by `cargo test --doc` against the repository's
//! committed test vectors (`fixtures/regenerate.sh`): release `fixtures/releases/v2/` (sequence
//! 7, vendor `example.com`, class `sensor-v1`, manifest key `test-only-ed25519-b`) of
//! `fw-v2.signed.bin` (image key `test-only-ed25519-a`), with a delta patch from
//! `fw-v1.signed.bin`, the image the device runs. Those keys are public: test only.
//!
//! ```
//! use device_verifier::delta::{self, ApplyError, ApplyIo, ApplyRam};
//! use device_verifier::release::{check_patch_file, match_patch};
//! use device_verifier::{
//!     bind_image, verify_envelope, verify_image, BoundImage, FlashError, FlashRead, FlashWrite, ImagePolicy,
//!     ManifestPolicy, RollbackStore, SequenceCommit, SliceFlash, StoreError, TrustedKey, VerifiedImage, VerifyError,
//!     VerifyErrorKind,
//! };
//!
//! /// The device's identity (draft-ietf-suit-manifest §8.4.8.3, §8.4.8.4): UUIDv5(DNS,
//! /// "example.com") and UUIDv5(vendor id, "sensor-v1"), as `signer release` computes them.
//! const VENDOR_ID: [u8; 16] = [
//!     0xcf, 0xbf, 0xf0, 0xd1, 0x93, 0x75, 0x56, 0x85, 0x96, 0x8c, 0x48, 0xce, 0x8b, 0x15, 0xae, 0x17,
//! ];
//! const CLASS_ID: [u8; 16] = [
//!     0x05, 0xac, 0xb4, 0x94, 0x44, 0x0f, 0x57, 0x8c, 0xb7, 0xb9, 0x6e, 0x13, 0x7a, 0x09, 0x51, 0x89,
//! ];
//!
//! /// Everything that can stop an update. The verifier's errors are small `Copy` values: a kind
//! /// and the byte offset where the check stopped.
//! #[derive(Debug)]
//! enum UpdateError {
//!     /// A provisioned key is not an Ed25519 or P-256 SubjectPublicKeyInfo.
//!     BadKey,
//!     /// Erasing or writing the inactive slot failed.
//!     Flash(FlashError),
//!     Verify(VerifyError),
//!     Apply(ApplyError),
//! }
//!
//! impl From<FlashError> for UpdateError {
//!     fn from(e: FlashError) -> Self {
//!         Self::Flash(e)
//!     }
//! }
//!
//! impl From<VerifyError> for UpdateError {
//!     fn from(e: VerifyError) -> Self {
//!         Self::Verify(e)
//!     }
//! }
//!
//! impl From<ApplyError> for UpdateError {
//!     fn from(e: ApplyError) -> Self {
//!         Self::Apply(e)
//!     }
//! }
//!
//! /// The anti-rollback floor in non-volatile storage (a flash word, OTP fuses, a secure
//! /// element's monotonic counter). `commit` only accepts a `SequenceCommit`, which only
//! /// `BoundImage::commit_after_boot` can make.
//! struct Nv {
//!     sequence: u64,
//! }
//!
//! impl RollbackStore for Nv {
//!     fn sequence(&self) -> u64 {
//!         self.sequence
//!     }
//!
//!     fn commit(&mut self, commit: SequenceCommit) -> Result<(), StoreError> {
//!         // A device programs the new value power-fail safely here (two copies, or a counter
//!         // that only counts up) and reports a failed write as `StoreError`.
//!         self.sequence = commit.sequence();
//!         Ok(())
//!     }
//! }
//!
//! /// The inactive slot as the flash driver sees it: 4 KiB erase sectors, erased = 0xFF.
//! /// (With the `embedded-storage` feature, `flash::nor::NorRegion` adapts an existing driver.)
//! struct Slot {
//!     bytes: [u8; SLOT_SIZE],
//! }
//!
//! const SLOT_SIZE: usize = 64 * 1024;
//! const SECTOR: usize = 4096;
//!
//! impl Slot {
//!     fn range(&mut self, offset: u32, len: usize) -> Result<&mut [u8], FlashError> {
//!         let start = usize::try_from(offset).map_err(|_| FlashError)?;
//!         let end = start.checked_add(len).ok_or(FlashError)?;
//!         self.bytes.get_mut(start..end).ok_or(FlashError)
//!     }
//! }
//!
//! impl FlashRead for Slot {
//!     fn capacity(&self) -> u32 {
//!         u32::try_from(self.bytes.len()).unwrap_or(u32::MAX)
//!     }
//!
//!     fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
//!         buf.copy_from_slice(self.range(offset, buf.len())?);
//!         Ok(())
//!     }
//! }
//!
//! impl FlashWrite for Slot {
//!     fn capacity(&self) -> u32 {
//!         FlashRead::capacity(self)
//!     }
//!
//!     fn erase(&mut self, offset: u32, len: u32) -> Result<(), FlashError> {
//!         let len = usize::try_from(len).map_err(|_| FlashError)?;
//!         if usize::try_from(offset).map_err(|_| FlashError)? % SECTOR != 0 || len % SECTOR != 0 {
//!             return Err(FlashError); // whole sectors only
//!         }
//!         self.range(offset, len)?.fill(0xFF);
//!         Ok(())
//!     }
//!
//!     fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
//!         self.range(offset, data.len())?.copy_from_slice(data);
//!         Ok(())
//!     }
//! }
//!
//! /// What the server offered, as downloaded (here in RAM; a staging slot works the same way
//! /// through `FlashRead`).
//! enum Download<'a> {
//!     Patch(&'a [u8]),
//!     Image(&'a [u8]),
//! }
//!
//! /// What the device was provisioned with: trusted keys and its identity.
//! struct Trust<'k> {
//!     manifest: ManifestPolicy<'k>,
//!     image: ImagePolicy<'k>,
//! }
//!
//! /// Steps 1–4, in the running firmware's update client (or the bootloader), before the swap.
//! /// Nothing is erased before the download is known to be what the signed manifest names.
//! fn install(
//!     trust: &Trust<'_>,
//!     nv: &Nv,
//!     envelope: &[u8],
//!     download: Download<'_>,
//!     running: &[u8], // the primary slot, memory-mapped
//!     inactive: &mut Slot,
//! ) -> Result<BoundImage, UpdateError> {
//!     // 1. Signed by a trusted manifest key, for this vendor and class, sequence above the floor.
//!     let release = verify_envelope(envelope, &trust.manifest, nv)?;
//!
//!     // One erase sector of RAM: delta apply's page buffer and the verifier's scratch buffer.
//!     let mut page = [0u8; SECTOR];
//!     match download {
//!         Download::Patch(patch) => {
//!             // 2. The manifest lists this patch for the image we run, and this is its file.
//!             let mut source = patch;
//!             let header = delta::read_header(&mut source)?;
//!             let patch_size = u64::try_from(patch.len()).unwrap_or(u64::MAX);
//!             let entry = match_patch(&release, &header, patch_size)?;
//!             check_patch_file(&entry, &mut SliceFlash::new(patch), &mut page)?;
//!             // 3. Base digest checked before the first erase; result digest and the rebuilt
//!             //    image's MCUboot signature checked after the last write.
//!             let mut ram = ApplyRam::new(); // 3.5 KiB; a `static` on a small device
//!             let io = ApplyIo {
//!                 base: &mut SliceFlash::new(running),
//!                 target: inactive,
//!                 patch: &mut source,
//!                 ram: &mut ram,
//!                 page: &mut page,
//!             };
//!             delta::apply_and_verify(&header, io, &trust.image)?;
//!         }
//!         Download::Image(image) => {
//!             // The same check as step 4, on the download itself, before the first erase.
//!             bind_image(&release, &mut SliceFlash::new(image), &trust.image, &mut page)?;
//!             write_image(inactive, image, &page)?;
//!         }
//!     }
//!
//!     // 4. Exactly the manifest's image (digest and size), with a valid signature of its own.
//!     Ok(bind_image(&release, inactive, &trust.image, &mut page)?)
//! }
//!
//! /// Copies a full image into the slot, one sector at a time.
//! fn write_image(slot: &mut Slot, image: &[u8], page: &[u8]) -> Result<(), FlashError> {
//!     let sector = u32::try_from(page.len()).map_err(|_| FlashError)?;
//!     for (offset, chunk) in (0..).step_by(page.len()).zip(image.chunks(page.len())) {
//!         slot.erase(offset, sector)?;
//!         slot.write(offset, chunk)?;
//!     }
//!     Ok(())
//! }
//!
//! /// Step 5, the bootloader at every boot: jump only to an image that verifies.
//! fn boot(trust: &Trust<'_>, slot: &mut impl FlashRead) -> Result<VerifiedImage, UpdateError> {
//!     let mut buf = [0u8; 512]; // at least the protected TLV area
//!     Ok(verify_image(slot, &trust.image, &mut buf)?)
//! }
//!
//! /// Step 6, in the new firmware once its self-test passed. Nothing in RAM survives the reboot,
//! /// so the proofs are rebuilt from the stored envelope and the slot it booted from.
//! fn confirm(
//!     trust: &Trust<'_>,
//!     nv: &mut Nv,
//!     envelope: &[u8],
//!     booted: &mut impl FlashRead,
//! ) -> Result<u64, UpdateError> {
//!     let release = verify_envelope(envelope, &trust.manifest, nv)?;
//!     let mut buf = [0u8; 512];
//!     let bound = bind_image(&release, booted, &trust.image, &mut buf)?;
//!     let running = verify_image(booted, &trust.image, &mut buf)?;
//!     // Refused unless `running` is the bound image and the sequence is still above the floor.
//!     bound.commit_after_boot(nv, &running)?;
//!     Ok(bound.sequence())
//! }
//!
//! # fn spki_from_pem(pem: &str) -> Vec<u8> {
//! #     use base64::Engine as _;
//! #     let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
//! #     base64::engine::general_purpose::STANDARD.decode(b64).expect("fixture PEM")
//! # }
//! # macro_rules! fixture {
//! #     ($path:literal) => {
//! #         include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/", $path))
//! #     };
//! # }
//! fn main() -> Result<(), UpdateError> {
//!     // Provisioned at manufacture: the trusted keys as DER SubjectPublicKeyInfo (what
//!     // `imgtool getpub` / `signer getpub` print), compiled in or in OTP.
//! #   let manifest_spki = spki_from_pem(include_str!(concat!(
//! #       env!("CARGO_MANIFEST_DIR"),
//! #       "/../fixtures/keys/test-only-ed25519-b.pub.pem"
//! #   )));
//! #   let image_spki = spki_from_pem(include_str!(concat!(
//! #       env!("CARGO_MANIFEST_DIR"),
//! #       "/../fixtures/keys/test-only-ed25519-a.pub.pem"
//! #   )));
//!     let manifest_keys = [TrustedKey::from_spki(&manifest_spki).ok_or(UpdateError::BadKey)?];
//!     let image_keys = [TrustedKey::from_spki(&image_spki).ok_or(UpdateError::BadKey)?];
//!     let trust = Trust {
//!         manifest: ManifestPolicy::new(&manifest_keys, VENDOR_ID, CLASS_ID),
//!         image: ImagePolicy {
//!             trusted_keys: &image_keys,
//!             // The stored image security-counter floor (MCUboot's SEC_CNT, bootutil
//!             // `boot_nv_security_counter`); `None` skips the check: development only.
//!             security_counter_floor: Some(0),
//!         },
//!     };
//!     let mut nv = Nv { sequence: 6 };
//!
//!     // The device runs v1 and downloaded the v2 release: its envelope and the v1 → v2 patch.
//!     let running: &[u8] = fixture!("images/fw-v1.signed.bin");
//!     let envelope: &[u8] = fixture!("releases/v2/release.suit");
//!     let patch: &[u8] = fixture!("releases/v2/delta-from-06eb12d24ae7.patch");
//!     let mut inactive = Slot { bytes: [0xFF; SLOT_SIZE] };
//!     let bound = install(&trust, &nv, envelope, Download::Patch(patch), running, &mut inactive)?;
//!     assert_eq!(bound.sequence(), 7);
//!
//!     // Reboot into the inactive slot (MCUboot: a test swap, reverted unless confirmed).
//!     let booted = boot(&trust, &mut inactive)?;
//!     assert_eq!(booted.digest(), bound.image().digest());
//!     assert_eq!(nv.sequence, 6, "nothing is committed before the new image confirmed itself");
//!
//!     // The new firmware runs, passes its self-test, and confirms.
//!     let committed = confirm(&trust, &mut nv, envelope, &mut inactive)?;
//!     assert_eq!((committed, nv.sequence), (7, 7));
//! #   let v2: &[u8] = fixture!("images/fw-v2.signed.bin");
//! #   assert_eq!(inactive.bytes.get(..v2.len()), Some(v2), "the patch rebuilt v2 byte for byte");
//!
//!     // The same release again is now a rollback, refused before anything is written.
//!     let again = install(&trust, &nv, envelope, Download::Patch(patch), running, &mut inactive);
//!     assert!(matches!(again, Err(UpdateError::Verify(e)) if e.kind == VerifyErrorKind::SequenceRollback));
//! #
//! #   // A device that downloads the full image instead ends in the same place.
//! #   let mut nv = Nv { sequence: 6 };
//! #   let mut other = Slot { bytes: [0xFF; SLOT_SIZE] };
//! #   let bound = install(&trust, &nv, envelope, Download::Image(v2), running, &mut other)?;
//! #   assert_eq!(bound.digest()[..], <sha2::Sha256 as sha2::Digest>::digest(v2)[..]);
//! #   boot(&trust, &mut other)?;
//! #   assert_eq!(confirm(&trust, &mut nv, envelope, &mut other)?, 7);
//! #
//! #   // A patch for another base image (here: v2 as the running image) is refused before any write.
//! #   let mut fresh = Slot { bytes: [0xFF; SLOT_SIZE] };
//! #   let old = Nv { sequence: 6 };
//! #   let wrong_base = install(&trust, &old, envelope, Download::Patch(patch), v2, &mut fresh);
//! #   assert!(matches!(wrong_base, Err(UpdateError::Apply(e)) if e.kind == delta::ApplyErrorKind::WrongBase));
//! #   assert!(fresh.bytes.iter().all(|b| *b == 0xFF));
//! #   // A tampered patch file is refused before any write.
//! #   let mut tampered = patch.to_vec();
//! #   if let Some(last) = tampered.last_mut() {
//! #       *last ^= 1;
//! #   }
//! #   let bad = install(&trust, &old, envelope, Download::Patch(&tampered), running, &mut fresh);
//! #   assert!(matches!(bad, Err(UpdateError::Verify(e)) if e.kind == VerifyErrorKind::PatchNotInManifest));
//! #   assert!(fresh.bytes.iter().all(|b| *b == 0xFF));
//! #   // An image the manifest does not name (v1 offered as the v2 release) is never written.
//! #   let swapped = install(&trust, &old, envelope, Download::Image(running), running, &mut fresh);
//! #   assert!(matches!(swapped, Err(UpdateError::Verify(e)) if e.kind == VerifyErrorKind::ImageDigestMismatch));
//! #   assert!(fresh.bytes.iter().all(|b| *b == 0xFF));
//!     Ok(())
//! }
//! ```
//!
//! # Proofs, not booleans
//!
//! Each step returns a value that only that step's check can build, and the next step asks for
//! it, so skipping a check does not compile:
//!
//! | proof | built only by | needed by |
//! |---|---|---|
//! | [`VerifiedRelease`] | [`verify_envelope`] | [`match_patch`], [`bind_image`] |
//! | [`VerifiedImage`] | [`verify_image`] (also inside [`delta::apply_and_verify`] and [`bind_image`]) | [`BoundImage::commit_after_boot`] (the image that booted) |
//! | [`BoundImage`] | [`bind_image`] | [`BoundImage::commit_after_boot`] |
//! | [`SequenceCommit`] | [`BoundImage::commit_after_boot`] | [`RollbackStore::commit`] |
//!
//! Their fields are private, so none can be written by hand:
//!
//! ```compile_fail,E0451
//! // A new anti-rollback floor that no verified, booted image stands behind: does not compile.
//! let commit = device_verifier::SequenceCommit { sequence: u64::MAX };
//! ```
//!
//! ```compile_fail
//! // Nor can an unverified manifest be dressed up as a verified one.
//! let release: device_verifier::VerifiedRelease<'static> = device_verifier::VerifiedRelease {};
//! ```
//!
//! # Modules
//!
//! * [`image`] — MCUboot images (bootutil `bootutil_img_validate`): header, TLV areas, SHA-256
//!   or SHA-512 hash, an Ed25519 (`--pure` too) or ECDSA P-256 signature by one of several
//!   trusted keys ([`keys`]; trust old and new at once while rotating), and the protected
//!   security counter against [`ImagePolicy::security_counter_floor`]. Streams from a
//!   [`FlashRead`] through the caller's buffer.
//! * [`release`] — SUIT envelopes: every COSE_Sign1 verified under a trusted manifest key with a
//!   k-of-n threshold, the manifest digest, then vendor, class and sequence number
//!   ([`verify_envelope`]); a delta patch matched against the manifest's allowed bases
//!   ([`match_patch`], [`check_patch_file`]);
//!   a slot's image bound to the release ([`bind_image`]), reading nothing past the manifest's
//!   image-size.
//! * [`delta`] — streaming delta apply (docs/FORMATS.md, "Delta patch"): base slot + patch →
//!   target slot in 3.5 KiB of caller RAM ([`delta::ApplyRam`]) plus one page buffer; the base
//!   digest is checked before the first erase, bounds before every write, the result digest and
//!   the image signature at the end ([`delta::apply_and_verify`]).
//! * Rollback store — [`RollbackStore`] is the one thing the device implements for anti-rollback:
//!   `sequence()` returns the committed floor (0 on a fresh device), `commit()` persists a
//!   [`SequenceCommit`]. Make the write power-fail safe (a torn write must read back as the old
//!   or the new value). The image security counter floor is separate: keep it next to the
//!   sequence and raise it from [`VerifiedImage::security_counter`] when you commit.
//! * [`flash`] — [`FlashRead`] (slots to verify, the delta base) and [`FlashWrite`] (the delta
//!   target); [`SliceFlash`] for memory-mapped flash and RAM; with `std`, `flash::MemSlot`;
//!   with `embedded-storage`, `flash::nor::NorRegion` over any embedded-storage NOR driver.
//! * [`error`] — [`VerifyError`]: a [`VerifyErrorKind`] and the byte offset where the check
//!   stopped (in the slot for images, in the envelope for manifests); delta apply has its own
//!   [`delta::ApplyError`].
//!
//! # Features
//!
//! | feature | default | what it does |
//! |---|---|---|
//! | `ed25519` | yes | Ed25519 image and manifest signatures, with the crate's own panic-free RFC 8032 verifier over curve25519-dalek (docs/HARDENING.md) |
//! | `ecdsa-p256` | no | ECDSA P-256 image signatures (`ECDSA_SIG` TLV) and ES256/ESP256 manifest signatures via `p256`; not covered by the no-panic link check (docs/HARDENING.md) |
//! | `compact-sha` | no | sha2's smaller, slower software SHA-2, for flash-constrained bootloaders |
//! | `fast` | no | curve25519-dalek's precomputed basepoint tables: faster Ed25519, larger binary (hosts) |
//! | `std` | no | `std::error::Error` for the error types and `flash::MemSlot` (host tools, simulators) |
//! | `embedded-storage` | no | `flash::nor::NorRegion`: a slot inside any embedded-storage 0.3 `ReadNorFlash` / `NorFlash` driver as a [`FlashRead`] / [`FlashWrite`] |
//!
//! No feature allocates, uses `unsafe` or adds a reachable panic (except `ecdsa-p256`, see
//! above); `.ci/steps/embedded.sh` proves the panic freedom at link time on a Cortex-M4.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::as_conversions,
    clippy::unreachable,
    clippy::todo,
    clippy::unimplemented
)]

#[cfg(feature = "std")]
extern crate std;

pub mod delta;
#[cfg(feature = "ed25519")]
mod ed25519;
pub mod error;
pub mod flash;
#[cfg(fuzzing)]
pub mod fuzzing;
mod hash;
pub use hash::HashAlg;
pub mod image;
pub mod keys;
pub mod release;

pub use error::{VerifyError, VerifyErrorKind};
#[cfg(feature = "embedded-storage")]
pub use flash::nor::NorRegion;
pub use flash::{FlashError, FlashRead, FlashWrite, SliceFlash};
pub use image::{verify_image, ImagePolicy, SignatureKind, VerifiedImage};
pub use keys::{KeyAlgorithm, TrustedKey};
pub use release::{
    bind_image, check_patch_file, match_patch, verify_envelope, BoundImage, ManifestPolicy, RollbackStore,
    SequenceCommit, StoreError, VerifiedRelease,
};
