//! The offline release signer: library behind the `signer` binary.
//!
//! * [`keys`] — signing keys (PKCS#8 files today; the same trait fronts HSM keys) and trusted
//!   public keys;
//! * [`input`] — firmware input: raw binary, Intel HEX, ELF;
//! * [`image`] — building and signing MCUboot images byte-for-byte as imgtool 2.5.0;
//! * [`output`] — atomic, no-clobber file output;
//! * [`cli`] — one module per subcommand, and [`failure`] — `error:`/`hint:` and exit codes.

pub mod cli;
pub mod failure;
pub mod image;
pub mod input;
pub mod keys;
pub mod output;
pub mod release;

pub use failure::Failure;
