//! Deterministic, stable cohorts: a device's point in `[0, 10000)` basis points never changes
//! for a given rollout salt, so growing the stage fraction only ever adds devices.

use sha2::{Digest, Sha256};

/// 100% in basis points.
pub const BASIS_POINTS: u16 = 10_000;

/// The device's fixed position in the rollout, uniform in `[0, 10000)`.
pub fn cohort_point(salt: &[u8; 16], device_id: &str) -> u16 {
    let mut hasher = Sha256::new();
    hasher.update(b"rollout-cohort-v1");
    hasher.update(salt);
    hasher.update(device_id.as_bytes());
    let digest = hasher.finalize();
    let value = u64::from_be_bytes([
        digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
    ]);
    // Modulo bias over 2^64 is below 1e-15: irrelevant for cohort sizing.
    (value % u64::from(BASIS_POINTS)) as u16
}

/// Whether the device belongs to a stage covering `fraction_bp` basis points.
pub fn in_cohort(salt: &[u8; 16], device_id: &str, fraction_bp: u16) -> bool {
    cohort_point(salt, device_id) < fraction_bp
}
