//! Wire formats shared by every part of the pipeline.
//!
//! * [`image`] — the MCUboot image format (header, protected and unprotected TLV areas,
//!   slot trailer), byte-compatible with imgtool 2.5.0.
//!
//! Decoding is `no_std`, zero-copy and never allocates: every view borrows the caller's
//! bytes and every malformed input yields a small `Copy` [`DecodeError`] carrying a kind
//! and the byte offset where decoding stopped. The `alloc` feature adds encoders.
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)
)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod bytes;
pub mod error;
pub mod image;
pub mod suit;

pub use error::{DecodeError, DecodeErrorKind};
