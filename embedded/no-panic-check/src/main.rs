//! Link-time proof that `device-verifier` cannot panic on a Cortex-M4 (docs/HARDENING.md).
//!
//! The panic handler calls `device_verifier_panic_path_is_reachable`, a symbol nothing defines.
//! With `panic = "abort"`, LTO and `opt-level = "z"`, the handler survives to the link only if
//! some panic (bounds check, overflow check, `unwrap`, `core::fmt` panic, …) is reachable from
//! `verify_image`; then the link fails with an undefined-symbol error naming it. A successful
//! link therefore proves that every reachable path of the verifier returns instead of panicking.
//!
//! The image is read from a memory-mapped slot the compiler cannot see into, and the policy goes
//! through `black_box`, so nothing is constant-folded away: the whole verifier is linked.
#![no_std]
#![no_main]

#[path = "../../common/vectors.rs"]
mod vectors;

use core::hint::black_box;
use core::panic::PanicInfo;

use cortex_m_rt::entry;
use device_verifier::{verify_image, ImagePolicy, SliceFlash, TrustedKey};

/// The primary slot: right after the 64 KiB bootloader partition (see memory.x), 256 KiB.
const SLOT_ADDR: usize = 0x0001_0000;
const SLOT_SIZE: usize = 0x0004_0000;

/// Test-only key (imgtool sample key); a product compiles its own DER SPKI in here.
static TRUSTED_SPKI: [u8; 44] = *include_bytes!("../../keys/TEST-ONLY-ed25519-pub.spki.der");

#[entry]
fn main() -> ! {
    // SAFETY: SLOT_ADDR..SLOT_ADDR+SLOT_SIZE is memory-mapped flash that is always readable and
    // never written while the bootloader runs, so a shared slice over it is sound.
    let slot: &'static [u8] = unsafe { core::slice::from_raw_parts(SLOT_ADDR as *const u8, SLOT_SIZE) };
    let keys = [TrustedKey::from_spki(black_box(&TRUSTED_SPKI))];
    let keys = keys.map(|k| k.unwrap_or_else(|| black_box_loop()));
    let policy = ImagePolicy {
        trusted_keys: &keys,
        security_counter_floor: black_box(Some(0)),
    };
    let mut buf = [0u8; 512];
    let result = verify_image(&mut SliceFlash::new(slot), &policy, &mut buf);
    // Use every field of the outcome so nothing in the verifier is dead code.
    black_box(&result);
    #[cfg(feature = "release")]
    release::check(slot, &keys, &mut buf);
    #[cfg(feature = "delta")]
    delta::check(slot, &keys);
    #[cfg(feature = "embedded-storage")]
    nor::check(&keys, &mut buf);
    black_box_loop()
}

/// The manifest path: envelope → `VerifiedRelease` → image bound to it → commit after boot.
#[cfg(feature = "release")]
mod release {
    use core::hint::black_box;
    use device_verifier::release::{
        bind_image, verify_envelope, ManifestPolicy, RollbackStore, SequenceCommit, StoreError,
    };
    use device_verifier::{verify_image, ImagePolicy, SliceFlash, TrustedKey};

    /// Where the bootloader keeps the downloaded envelope (after the slot), 4 KiB.
    const ENVELOPE_ADDR: usize = 0x0005_0000;
    const ENVELOPE_SIZE: usize = 0x1000;

    /// The device's stored sequence number, opaque to the optimizer.
    struct Counter(u64);

    impl RollbackStore for Counter {
        fn sequence(&self) -> u64 {
            black_box(self.0)
        }
        fn commit(&mut self, commit: SequenceCommit) -> Result<(), StoreError> {
            self.0 = black_box(commit.sequence());
            Ok(())
        }
    }

    pub(super) fn check(slot: &[u8], keys: &[TrustedKey<'_>], buf: &mut [u8]) {
        // SAFETY: like the slot, a read-only memory-mapped flash region.
        let envelope: &'static [u8] =
            unsafe { core::slice::from_raw_parts(ENVELOPE_ADDR as *const u8, black_box(ENVELOPE_SIZE)) };
        let mut store = Counter(black_box(0));
        let policy = ManifestPolicy::new(keys, black_box([0x11; 16]), black_box([0x22; 16]));
        let Ok(release) = verify_envelope(envelope, &policy, &store) else {
            return;
        };
        let image_policy = ImagePolicy {
            trusted_keys: keys,
            security_counter_floor: black_box(Some(0)),
        };
        let Ok(bound) = bind_image(&release, &mut SliceFlash::new(slot), &image_policy, buf) else {
            return;
        };
        if let Ok(running) = verify_image(&mut SliceFlash::new(slot), &image_policy, buf) {
            black_box(bound.commit_after_boot(&mut store, &running).is_ok());
        }
    }
}

/// Never returns; stands in for "refuse to boot".
fn black_box_loop() -> ! {
    loop {
        black_box(());
    }
}

extern "C" {
    /// Deliberately defined nowhere: referencing it fails the link.
    fn device_verifier_panic_path_is_reachable() -> !;
}

#[panic_handler]
fn panic(_info: &PanicInfo<'_>) -> ! {
    // SAFETY: the symbol does not exist; if this call survives dead-code elimination the link
    // fails, which is the point. It can never run.
    unsafe { device_verifier_panic_path_is_reachable() }
}

/// The delta path: patch header → streaming apply from the running slot into a target slot →
/// full image verification of the result.
#[cfg(feature = "delta")]
mod delta {
    use core::hint::black_box;
    use device_verifier::delta::{apply_and_verify, read_header, ApplyIo, ApplyRam};
    use device_verifier::{FlashError, FlashRead, FlashWrite, ImagePolicy, TrustedKey};

    /// Where the downloaded patch sits, 64 KiB.
    const PATCH_ADDR: usize = 0x0006_0000;
    const PATCH_SIZE: usize = 0x1_0000;

    /// A target "slot" the optimizer cannot see through (a stand-in for a flash driver).
    struct OpaqueSlot;

    impl FlashRead for OpaqueSlot {
        fn capacity(&self) -> u32 {
            black_box(0x4_0000)
        }
        fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
            black_box(offset);
            for b in buf.iter_mut() {
                *b = black_box(0xff);
            }
            if black_box(false) {
                Err(FlashError)
            } else {
                Ok(())
            }
        }
    }

    impl FlashWrite for OpaqueSlot {
        fn capacity(&self) -> u32 {
            black_box(0x4_0000)
        }
        fn erase(&mut self, offset: u32, len: u32) -> Result<(), FlashError> {
            black_box((offset, len));
            Ok(())
        }
        fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
            black_box((offset, data));
            Ok(())
        }
    }

    pub(super) fn check(slot: &[u8], keys: &[TrustedKey<'_>]) {
        // SAFETY: a read-only memory-mapped flash region, like the slot.
        let patch: &'static [u8] =
            unsafe { core::slice::from_raw_parts(PATCH_ADDR as *const u8, black_box(PATCH_SIZE)) };
        let mut source: &[u8] = patch;
        let Ok(header) = read_header(&mut source) else { return };
        let mut base = device_verifier::SliceFlash::new(slot);
        let mut ram = ApplyRam::new();
        let mut page = [0u8; 1024];
        let policy = ImagePolicy {
            trusted_keys: keys,
            security_counter_floor: black_box(Some(0)),
        };
        let result = apply_and_verify(
            &header,
            ApplyIo {
                base: &mut base,
                target: &mut OpaqueSlot,
                patch: &mut source,
                ram: &mut ram,
                page: &mut page,
            },
            &policy,
        );
        black_box(&result);
    }
}

/// The embedded-storage adapters: the slot verified through a `NorRegion` over a NOR driver,
/// and a delta applied from it into a second region.
#[cfg(feature = "embedded-storage")]
mod nor {
    use core::hint::black_box;
    use device_verifier::delta::{apply_and_verify, read_header, ApplyIo, ApplyRam};
    use device_verifier::flash::nor::NorRegion;
    use device_verifier::{verify_image, ImagePolicy, TrustedKey};
    use embedded_storage::nor_flash::{ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash};

    /// Where the downloaded patch sits, 64 KiB (as in the delta check).
    const PATCH_ADDR: usize = 0x0006_0000;
    const PATCH_SIZE: usize = 0x1_0000;

    /// A NOR driver the optimizer cannot see through: 4-byte reads, 8-byte writes, 4 KiB sectors.
    struct OpaqueNor;

    impl ErrorType for OpaqueNor {
        type Error = NorFlashErrorKind;
    }

    impl ReadNorFlash for OpaqueNor {
        const READ_SIZE: usize = 4;

        fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
            black_box(offset);
            for b in bytes.iter_mut() {
                *b = black_box(0xff);
            }
            if black_box(false) {
                Err(NorFlashErrorKind::Other)
            } else {
                Ok(())
            }
        }

        fn capacity(&self) -> usize {
            black_box(0x10_0000)
        }
    }

    impl NorFlash for OpaqueNor {
        const WRITE_SIZE: usize = 8;
        const ERASE_SIZE: usize = 4096;

        fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
            black_box((from, to));
            Ok(())
        }

        fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
            black_box((offset, bytes));
            Ok(())
        }
    }

    pub(super) fn check(keys: &[TrustedKey<'_>], buf: &mut [u8]) {
        let policy = ImagePolicy {
            trusted_keys: keys,
            security_counter_floor: black_box(Some(0)),
        };
        let Ok(mut slot) = NorRegion::new(OpaqueNor, black_box(0x1_0000), black_box(0x4_0000)) else {
            return;
        };
        black_box(&verify_image(&mut slot, &policy, buf));
        // SAFETY: a read-only memory-mapped flash region, like the slot.
        let patch: &'static [u8] =
            unsafe { core::slice::from_raw_parts(PATCH_ADDR as *const u8, black_box(PATCH_SIZE)) };
        let mut source: &[u8] = patch;
        let Ok(header) = read_header(&mut source) else { return };
        let Ok(mut target) = NorRegion::new_writable(OpaqueNor, black_box(0x5_0000), black_box(0x4_0000)) else {
            return;
        };
        let mut ram = ApplyRam::new();
        let mut page = [0u8; 4096];
        let result = apply_and_verify(
            &header,
            ApplyIo {
                base: &mut slot,
                target: &mut target,
                patch: &mut source,
                ram: &mut ram,
                page: &mut page,
            },
            &policy,
        );
        black_box(&result);
    }
}
