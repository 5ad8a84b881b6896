//! Interop: the SUIT draft's own signed examples (ES256, the draft's published example key).
//! Those that use only features of our profile verify with the device verifier; the others are
//! refused with a specific error rather than misread.

use device_verifier::{verify_envelope, ManifestPolicy, RollbackStore, SequenceCommit, StoreError, TrustedKey};
use manifest::suit::Envelope;
use manifest::DecodeErrorKind;
use p256::pkcs8::{DecodePrivateKey, EncodePublicKey};
use sha2::Digest as _;
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/third-party/suit-manifest-spec/examples")
}

/// The last hex block of `exampleN.txt`: the envelope with its COSE authentication object (and,
/// for example 2, its severable members).
fn example(n: usize) -> Vec<u8> {
    let path = dir().join(format!("example{n}.txt"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let block = text
        .split("~~~")
        .map(str::trim)
        .filter(|b| !b.is_empty() && b.chars().all(|c| c.is_ascii_hexdigit() || c.is_whitespace()))
        .last()
        .expect("hex block");
    hex::decode(block.split_whitespace().collect::<String>()).unwrap()
}

fn example_key_spki() -> Vec<u8> {
    let pem = std::fs::read_to_string(dir().join("private_key.pem")).unwrap();
    let key = p256::ecdsa::SigningKey::from_pkcs8_pem(&pem).unwrap();
    key.verifying_key().to_public_key_der().unwrap().as_bytes().to_vec()
}

struct Fresh;
impl RollbackStore for Fresh {
    fn sequence(&self) -> u64 {
        0
    }
    fn commit(&mut self, _: SequenceCommit) -> Result<(), StoreError> {
        Err(StoreError)
    }
}

/// Vendor "arm.com" (UUIDv5 DNS) and the examples' class.
const VENDOR: [u8; 16] = hex_literal(b"fa6b4a53d5ad5fdfbe9de663e4d41ffe");
const CLASS: [u8; 16] = hex_literal(b"1492af1425695e48bf429b2d51f2ab45");

const fn hex_literal(s: &[u8; 32]) -> [u8; 16] {
    const fn nib(c: u8) -> u8 {
        if c >= b'a' {
            c - b'a' + 10
        } else {
            c - b'0'
        }
    }
    let mut out = [0u8; 16];
    let mut i = 0;
    while i < 16 {
        out[i] = nib(s[2 * i]) << 4 | nib(s[2 * i + 1]);
        i += 1;
    }
    out
}

#[test]
fn vendor_id_is_uuid5_of_the_vendor_domain() {
    assert_eq!(signer::release::vendor_uuid("arm.com").as_bytes(), &VENDOR);
}

#[test]
fn draft_examples_in_the_profile_verify() {
    let spki = example_key_spki();
    let keys = [TrustedKey::from_spki(&spki).unwrap()];
    let policy = ManifestPolicy::new(&keys, VENDOR, CLASS);
    // Example 0: secure boot; 1: download + install; 2: adds reference-uri and severed install/text.
    for (n, seq, uri) in [
        (0, 0, None),
        (1, 1, Some("http://example.com/file.bin")),
        (2, 2, Some("http://example.com/very/long/path/to/file/file.bin")),
    ] {
        let bytes = example(n);
        // Sequence 0 is never installable on a device (it must be above the stored 0), so check
        // the decoder directly for example 0 and the full verifier for the others.
        if seq == 0 {
            let env = Envelope::decode(&bytes).unwrap();
            let m = env
                .manifest(&|d: &[u8]| -> [u8; 32] { sha2::Sha256::digest(d).into() })
                .unwrap();
            assert_eq!(m.sequence(), 0);
            assert_eq!(m.common().image_size(), 34768);
            continue;
        }
        let release = verify_envelope(&bytes, &policy, &Fresh).unwrap_or_else(|e| panic!("example {n}: {e}"));
        assert_eq!(release.sequence(), seq, "example {n}");
        assert_eq!(release.install_uri(), uri, "example {n}");
        assert_eq!(release.image_size(), 34768);
    }
}

#[test]
fn example0_signature_verifies_with_the_example_key() {
    // Example 0's sequence number is 0, which no device accepts (it must exceed the stored 0),
    // so check its COSE signature (RFC 9052 §4.4 Sig_structure from our decoder) directly.
    use p256::ecdsa::signature::Verifier;
    let bytes = example(0);
    let env = Envelope::decode(&bytes).unwrap();
    let sign1 = env.signatures().next().unwrap().unwrap();
    let mut buf = [0u8; manifest::suit::SIG_STRUCTURE_MAX];
    let tbs = sign1.sig_structure(env.digest_encoded(), &mut buf).unwrap();
    let pem = std::fs::read_to_string(dir().join("private_key.pem")).unwrap();
    let key = p256::ecdsa::SigningKey::from_pkcs8_pem(&pem).unwrap();
    let sig = p256::ecdsa::Signature::from_slice(sign1.signature).unwrap();
    key.verifying_key().verify(tbs, &sig).unwrap();
}

#[test]
fn draft_examples_outside_the_profile_are_refused_clearly() {
    let spki = example_key_spki();
    let keys = [TrustedKey::from_spki(&spki).unwrap()];
    let policy = ManifestPolicy::new(&keys, VENDOR, CLASS);
    // 3: try-each (A/B slots); 4: three components, load, payload-fetch; 5: two components.
    for (n, kind) in [
        (3, DecodeErrorKind::UnsupportedCommand),
        (4, DecodeErrorKind::UnsupportedFeature),
        (5, DecodeErrorKind::UnsupportedFeature),
    ] {
        let err = verify_envelope(&example(n), &policy, &Fresh).unwrap_err();
        assert_eq!(
            err.kind,
            device_verifier::VerifyErrorKind::Malformed(kind),
            "example {n}: {err}"
        );
    }
}
