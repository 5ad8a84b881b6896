//! Images signed by imgtool 2.5.0 (fixtures/third-party/imgtool-2.5.0-samples) verify here.

mod common;

use device_verifier::{verify_image, ImagePolicy, SignatureKind, SliceFlash, TrustedKey, VerifyErrorKind};

fn read(name: &str) -> Vec<u8> {
    common::repo_fixture(&format!("third-party/imgtool-2.5.0-samples/{name}"))
}

fn spki_from_pem(name: &str) -> Vec<u8> {
    common::spki_from_pem(&read(name))
}

fn verify(name: &str, floor: Option<u32>) -> Result<device_verifier::VerifiedImage, device_verifier::VerifyError> {
    let spki = spki_from_pem("ed25519-pub.pem");
    let key = TrustedKey::from_spki(&spki).unwrap();
    let image = read(name);
    let mut buf = [0u8; 256];
    verify_image(
        &mut SliceFlash::new(&image),
        &ImagePolicy {
            trusted_keys: &[key],
            security_counter_floor: floor,
        },
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
    assert_eq!(
        verify("signed-ed25519-seccnt42.bin", Some(42))
            .unwrap()
            .security_counter(),
        Some(42)
    );
}

#[test]
fn rollback_below_floor_is_refused() {
    let err = verify("signed-ed25519-seccnt42.bin", Some(43)).unwrap_err();
    assert_eq!(err.kind, VerifyErrorKind::Rollback);
    let err = verify("signed-ed25519-basic.bin", Some(0)).unwrap_err();
    assert_eq!(err.kind, VerifyErrorKind::MissingSecurityCounter);
}
