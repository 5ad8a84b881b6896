//! The offline release signer: library behind the `signer` binary.
//!
//! * [`keys`] — signing keys (PKCS#8 files for development, PKCS#11 tokens for production) and
//!   trusted public keys;
//! * [`audit`] — the append-only log of every signature made;
//! * [`input`] — firmware input: raw binary, Intel HEX, ELF;
//! * [`image`] — building and signing MCUboot images byte-for-byte as imgtool 2.5.0;
//! * [`output`] — atomic, no-clobber file output;
//! * [`delta`] — delta patches between signed images (suffix-array diff, range-coded, applied
//!   on the device in under 4 KiB);
//! * [`release`] — signed release bundles: SUIT envelope (COSE_Sign1) + image + patches;
//! * [`cli`] — one module per subcommand, printing `error:`/`hint:` and mapping [`error`] kinds
//!   to exit codes;
//! * [`error`] — the one error type: a kind, a message and the hint that goes with it.

pub mod audit;
pub mod cli;
pub mod delta;
pub mod error;
pub mod image;
pub mod input;
pub mod keys;
pub mod output;
pub mod release;

pub use error::{Error, ErrorKind, Result};
