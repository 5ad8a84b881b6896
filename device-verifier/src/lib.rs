//! Verification that runs inside the bootloader: `no_std`, no allocator, no `unsafe`, no panics.
//!
//! * [`image::verify_image`] checks an MCUboot image in a flash slot — structure, hash, a
//!   signature by one of several trusted keys, and the anti-rollback security counter — streaming
//!   through a caller-supplied buffer, and returns a [`VerifiedImage`] that nothing else can build.
//!
//! All memory comes from the caller. Every failure is a small `Copy` [`VerifyError`] with a
//! kind and the byte offset in the slot where verification stopped.
#![no_std]
#![forbid(unsafe_code)]
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

pub mod error;
pub mod flash;
mod hash;
pub use hash::HashAlg;
pub mod image;
pub mod keys;
pub mod release;

pub use error::{VerifyError, VerifyErrorKind};
pub use flash::{FlashError, FlashRead, SliceFlash};
pub use image::{verify_image, ImagePolicy, SignatureKind, VerifiedImage};
pub use keys::{KeyAlgorithm, TrustedKey};
pub use release::{
    bind_image, verify_envelope, BoundImage, ManifestPolicy, RollbackStore, SequenceCommit, StoreError, VerifiedRelease,
};
