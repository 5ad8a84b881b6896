//! What a simulated device's firmware and bootloader do with an update, using `device-verifier`
//! exactly as real firmware would: verify the SUIT envelope → authorise the patch against the
//! manifest (or check the full image) → write the inactive slot → bind the new image to the
//! release → boot it → commit the new anti-rollback floor. Synchronous and in memory.

use device_verifier::delta::{self, ApplyIo, ApplyRam, PatchSource as _};
use device_verifier::release::{
    bind_image, check_patch_file, match_patch, verify_envelope, BoundImage, ManifestPolicy, RollbackStore,
    SequenceCommit, StoreError,
};
use device_verifier::{verify_image, ImagePolicy, SliceFlash, TrustedKey};
use manifest::delta::DeltaHeader;

use crate::sha256;

/// The keys and identity a device is provisioned with.
#[derive(Debug, Clone)]
pub struct Provisioning {
    /// SUIT manifest keys (SPKI DER).
    pub manifest_keys: Vec<Vec<u8>>,
    /// MCUboot image keys (SPKI DER).
    pub image_keys: Vec<Vec<u8>>,
    pub vendor_id: [u8; 16],
    pub class_id: [u8; 16],
}

/// The persistent anti-rollback state (SUIT sequence number and MCUboot security counter floor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nvm {
    pub sequence: u64,
    pub security_counter_floor: u32,
}

impl RollbackStore for Nvm {
    fn sequence(&self) -> u64 {
        self.sequence
    }
    fn commit(&mut self, commit: SequenceCommit) -> Result<(), StoreError> {
        self.sequence = commit.sequence();
        Ok(())
    }
}

/// One flash slot in memory (erased = 0xFF).
pub use device_verifier::flash::MemSlot as Slot;

/// What was downloaded for an offer.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    Full(&'a [u8]),
    Patch(&'a [u8]),
}

/// A new image written to the inactive slot and bound to its release, waiting for the reboot.
#[derive(Debug)]
pub struct Staged {
    bound: BoundImage,
    image_len: usize,
}

/// Two slots, the running image and the persistent store.
#[derive(Debug, Clone)]
pub struct Firmware {
    pub provisioning: Provisioning,
    pub slots: [Slot; 2],
    /// Index of the slot that boots.
    pub active: usize,
    /// Length of the signed image in the active slot.
    pub running_len: usize,
    pub nvm: Nvm,
}

impl Firmware {
    /// A device whose active slot holds `image` (a signed MCUboot image), `slot_size` bytes per slot.
    pub fn new(provisioning: Provisioning, image: &[u8], slot_size: usize, nvm: Nvm) -> Self {
        let mut primary = Slot::new(slot_size.max(image.len()));
        primary.bytes[..image.len()].copy_from_slice(image);
        Self {
            provisioning,
            slots: [primary, Slot::new(slot_size.max(image.len()))],
            active: 0,
            running_len: image.len(),
            nvm,
        }
    }

    pub fn running_image(&self) -> &[u8] {
        &self.slots[self.active].bytes[..self.running_len]
    }

    /// SHA-256 of the running image (what the device reports in its check-in).
    pub fn running_digest(&self) -> [u8; 32] {
        sha256(self.running_image())
    }

    /// Step 1: the envelope alone (signatures, vendor/class, sequence above the stored one).
    pub fn check_envelope(&self, envelope: &[u8]) -> Result<(), String> {
        let keys = trusted(&self.provisioning.manifest_keys)?;
        let policy = ManifestPolicy::new(&keys, self.provisioning.vendor_id, self.provisioning.class_id);
        verify_envelope(envelope, &policy, &self.nvm)
            .map(|_| ())
            .map_err(|e| format!("envelope: {e}"))
    }

    /// Step 2: authorise what was downloaded against the manifest, write it to the inactive slot
    /// (a patch is applied against the running image) and bind it to the release. Nothing
    /// touches flash before the downloaded file is known to be the one the manifest names.
    pub fn stage(&mut self, envelope: &[u8], payload: Payload<'_>) -> Result<Staged, String> {
        let mkeys = trusted(&self.provisioning.manifest_keys)?;
        let ikeys = trusted(&self.provisioning.image_keys)?;
        let policy = ManifestPolicy::new(&mkeys, self.provisioning.vendor_id, self.provisioning.class_id);
        let release = verify_envelope(envelope, &policy, &self.nvm).map_err(|e| format!("envelope: {e}"))?;
        let image_policy = ImagePolicy {
            trusted_keys: &ikeys,
            security_counter_floor: Some(self.nvm.security_counter_floor),
        };
        let inactive = 1 - self.active;
        let mut page = [0u8; 4096];
        let image_len = usize::try_from(release.image_size()).map_err(|_| "bind: image too large".to_owned())?;
        if image_len > self.slots[inactive].bytes.len() {
            return Err("bind: image exceeds the slot".into());
        }
        match payload {
            Payload::Patch(patch) => {
                let header = DeltaHeader::parse(patch).map_err(|e| format!("patch-header: {e:?}"))?;
                let entry =
                    match_patch(&release, &header, patch.len() as u64).map_err(|e| format!("patch-manifest: {e}"))?;
                // The patch file itself must be the one the manifest names (docs/FORMATS.md, Delta).
                check_patch_file(&entry, &mut SliceFlash::new(patch), &mut page)
                    .map_err(|e| format!("patch-digest: the patch differs from the manifest ({e})"))?;
                let mut source: &[u8] = patch;
                let header = delta::read_header(&mut source).map_err(|e| format!("patch-header: {e:?}"))?;
                let [a, b] = &mut self.slots;
                let (base, target) = if self.active == 0 { (a, b) } else { (b, a) };
                let mut base = SliceFlash::new(&base.bytes[..self.running_len]);
                target.bytes.fill(0xFF);
                let mut ram = ApplyRam::new();
                delta::apply_and_verify(
                    &header,
                    ApplyIo {
                        base: &mut base,
                        target,
                        patch: &mut source,
                        ram: &mut ram,
                        page: &mut page,
                    },
                    &image_policy,
                )
                .map_err(|e| format!("apply: {e:?}"))?;
                let mut rest = [0u8; 1];
                if source.read(&mut rest).map(|n| n > 0).unwrap_or(false) {
                    return Err("apply: trailing bytes after the patch".into());
                }
            }
            Payload::Full(image) => {
                if image.len() != image_len {
                    return Err("image-size: the image differs from the manifest".into());
                }
                let target = &mut self.slots[inactive];
                target.bytes.fill(0xFF);
                target.bytes[..image.len()].copy_from_slice(image);
            }
        }
        let bound = bind_image(&release, &mut self.slots[inactive], &image_policy, &mut page)
            .map_err(|e| format!("bind: {e}"))?;
        Ok(Staged { bound, image_len })
    }

    /// Step 3: reboot into the staged slot. `boots` = false models an image that does not come
    /// up: the bootloader reverts to the old slot and nothing is committed.
    pub fn reboot(&mut self, staged: Staged, boots: bool) -> Result<(), String> {
        if !boots {
            return Err("rolled-back".into());
        }
        let ikeys = trusted(&self.provisioning.image_keys)?;
        let image_policy = ImagePolicy {
            trusted_keys: &ikeys,
            security_counter_floor: Some(self.nvm.security_counter_floor),
        };
        let inactive = 1 - self.active;
        let mut page = [0u8; 4096];
        // The bootloader checks the slot again before jumping to it.
        let running =
            verify_image(&mut self.slots[inactive], &image_policy, &mut page).map_err(|e| format!("boot: {e}"))?;
        self.active = inactive;
        self.running_len = staged.image_len;
        // The new firmware confirms itself and moves the floors.
        staged
            .bound
            .commit_after_boot(&mut self.nvm, &running)
            .map_err(|e| format!("commit: {e}"))?;
        if let Some(counter) = running.security_counter() {
            self.nvm.security_counter_floor = self.nvm.security_counter_floor.max(counter);
        }
        Ok(())
    }
}

fn trusted(keys: &[Vec<u8>]) -> Result<Vec<TrustedKey<'_>>, String> {
    keys.iter()
        .map(|k| TrustedKey::from_spki(k).ok_or_else(|| "provisioning: unsupported trusted key".to_owned()))
        .collect()
}
