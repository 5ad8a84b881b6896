//! Test helpers: committed vectors from `fixtures/`, PEM public keys, verification shorthand.
#![allow(dead_code)]

use base64::Engine as _;
use device_verifier::{verify_image, ImagePolicy, SliceFlash, TrustedKey, VerifiedImage, VerifyError};
use std::path::PathBuf;

pub fn repo_fixture(rel: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures").join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// DER SPKI from PEM text (`BEGIN PUBLIC KEY`).
pub fn spki_from_pem(pem: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(pem).unwrap();
    let b64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(b64).unwrap()
}

pub fn key_a() -> Vec<u8> {
    spki_from_pem(&repo_fixture("keys/test-only-ed25519-a.pub.pem"))
}

pub fn key_b() -> Vec<u8> {
    spki_from_pem(&repo_fixture("keys/test-only-ed25519-b.pub.pem"))
}

/// Verifies `image` trusting `keys` with the given floor and buffer size.
pub fn verify_with(
    image: &[u8],
    keys: &[&[u8]],
    floor: Option<u32>,
    buf_len: usize,
) -> Result<VerifiedImage, VerifyError> {
    let trusted: Vec<TrustedKey<'_>> = keys.iter().map(|k| TrustedKey::from_spki(k).unwrap()).collect();
    let mut buf = vec![0u8; buf_len];
    verify_image(
        &mut SliceFlash::new(image),
        &ImagePolicy {
            trusted_keys: &trusted,
            security_counter_floor: floor,
        },
        &mut buf,
    )
}

pub fn verify_a(image: &[u8]) -> Result<VerifiedImage, VerifyError> {
    verify_with(image, &[&key_a()], Some(0), 64)
}
