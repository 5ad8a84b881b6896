//! What tokens hand back, turned into what MCUboot wants: CKA_EC_PARAMS + CKA_EC_POINT → DER
//! SubjectPublicKeyInfo, and a raw `r || s` ECDSA signature → DER `ECDSA-Sig-Value`.
//!
//! Real tokens differ: CKA_EC_POINT is a DER OCTET STRING (PKCS#11 2.40 §2.3.3; SoftHSM, most
//! HSMs) or the bare point (some Ed25519 implementations, PKCS#11 3.0 drafts); CKA_EC_PARAMS for
//! Ed25519 is the OID 1.3.101.112 (RFC 8410) or the PrintableString "edwards25519" (PKCS#11 3.0
//! §2.3.10 allows curve names).

use ed25519_dalek::pkcs8::EncodePublicKey;
use pkcs8::der::asn1::{ObjectIdentifier, OctetStringRef, PrintableStringRef};
use pkcs8::der::{Decode, Encode};

use crate::error::Error;
use crate::keys::KeyAlgorithm;

/// id-Ed25519 (RFC 8410 §3).
pub const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// GnuPG's Ed25519 curve OID, which some tokens report.
pub const OID_ED25519_GNU: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11591.15.1");
/// prime256v1 / secp256r1 (RFC 5480 §2.1.1.1).
pub const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

/// CKA_EC_PARAMS to write when generating a key of `algorithm` (DER OID).
pub fn ec_params_for(algorithm: KeyAlgorithm) -> Vec<u8> {
    let oid = match algorithm {
        KeyAlgorithm::Ed25519 => OID_ED25519,
        KeyAlgorithm::EcdsaP256 => OID_P256,
    };
    oid.to_der().unwrap_or_default()
}

/// CKA_EC_PARAMS as the PrintableString "edwards25519", for tokens that refuse the OID.
pub fn ed25519_curve_name() -> Vec<u8> {
    PrintableStringRef::new("edwards25519")
        .and_then(|s| s.to_der())
        .unwrap_or_default()
}

/// The curve a CKA_EC_PARAMS value names, if it is one the signer supports.
pub fn curve_from_ec_params(params: &[u8]) -> Result<KeyAlgorithm, Error> {
    if let Ok(oid) = ObjectIdentifier::from_der(params) {
        return match oid {
            OID_ED25519 | OID_ED25519_GNU => Ok(KeyAlgorithm::Ed25519),
            OID_P256 => Ok(KeyAlgorithm::EcdsaP256),
            other => Err(Error::token(format!("the token key's curve {other} is not supported"))
                .with_hint("use an ed25519 or ecdsa-p256 key (signer keygen -t ed25519 -k pkcs11:...)")),
        };
    }
    if let Ok(name) = PrintableStringRef::from_der(params) {
        return match name.as_str() {
            "edwards25519" | "ed25519" => Ok(KeyAlgorithm::Ed25519),
            "prime256v1" | "secp256r1" | "P-256" => Ok(KeyAlgorithm::EcdsaP256),
            other => Err(
                Error::token(format!("the token key's curve {other:?} is not supported"))
                    .with_hint("use an ed25519 or ecdsa-p256 key"),
            ),
        };
    }
    Err(Error::token(format!(
        "the token returned CKA_EC_PARAMS the signer cannot read ({})",
        hex::encode(params)
    ))
    .with_hint("expected a DER OID (1.3.101.112, 1.2.840.10045.3.1.7) or the PrintableString \"edwards25519\""))
}

fn plausible_point(algorithm: KeyAlgorithm, bytes: &[u8]) -> bool {
    match algorithm {
        KeyAlgorithm::Ed25519 => bytes.len() == 32,
        // SEC1 uncompressed (0x04 || X || Y) or compressed (0x02/0x03 || X).
        KeyAlgorithm::EcdsaP256 => {
            (bytes.len() == 65 && bytes[0] == 4) || (bytes.len() == 33 && matches!(bytes[0], 2 | 3))
        }
    }
}

/// The bare point from CKA_EC_POINT, whether or not the token wrapped it in an OCTET STRING.
pub fn unwrap_ec_point(algorithm: KeyAlgorithm, ec_point: &[u8]) -> Result<Vec<u8>, Error> {
    // Try the wrapped form first: a bare P-256 point also starts with 0x04, but a bare point is
    // never a complete OCTET STRING whose content is itself a plausible point.
    if let Ok(inner) = OctetStringRef::from_der(ec_point) {
        if plausible_point(algorithm, inner.as_bytes()) {
            return Ok(inner.as_bytes().to_vec());
        }
    }
    if plausible_point(algorithm, ec_point) {
        return Ok(ec_point.to_vec());
    }
    Err(Error::token(format!(
        "the token returned a CKA_EC_POINT of {} bytes that is not a {} public key",
        ec_point.len(),
        algorithm.imgtool_name()
    ))
    .with_hint("the key object may be damaged or of another type; check it with `signer hsm list`"))
}

/// DER SubjectPublicKeyInfo (RFC 8410 / RFC 5480) from CKA_EC_PARAMS and CKA_EC_POINT.
pub fn spki_from_ec(params: &[u8], ec_point: &[u8]) -> Result<(KeyAlgorithm, Vec<u8>), Error> {
    let algorithm = curve_from_ec_params(params)?;
    let point = unwrap_ec_point(algorithm, ec_point)?;
    let bad = |e: &dyn std::fmt::Display| {
        Error::token(format!(
            "the token's public key is not a valid {} point: {e}",
            algorithm.imgtool_name()
        ))
    };
    let der = match algorithm {
        KeyAlgorithm::Ed25519 => {
            let bytes: [u8; 32] = point.as_slice().try_into().map_err(|_| bad(&"wrong length"))?;
            ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                .map_err(|e| bad(&e))?
                .to_public_key_der()
        }
        // Also decompresses a compressed point: MCUboot wants the uncompressed form.
        KeyAlgorithm::EcdsaP256 => p256::PublicKey::from_sec1_bytes(&point)
            .map_err(|e| bad(&e))?
            .to_public_key_der(),
    };
    let der = der.map_err(|e| bad(&e))?;
    Ok((algorithm, der.as_bytes().to_vec()))
}

/// The algorithm and bytes of a DER SPKI (e.g. CKA_PUBLIC_KEY_INFO), checked.
pub fn check_spki(spki: &[u8]) -> Result<KeyAlgorithm, Error> {
    match device_verifier::TrustedKey::from_spki(spki).map(|k| k.algorithm()) {
        Some(device_verifier::KeyAlgorithm::EcdsaP256) => Ok(KeyAlgorithm::EcdsaP256),
        Some(_) => Ok(KeyAlgorithm::Ed25519),
        None => Err(Error::token("the token's public key is neither Ed25519 nor P-256")),
    }
}

/// CKM_ECDSA returns `r || s` (PKCS#11 §2.3.1: "the signature octets correspond to the
/// concatenation of the ECDSA values r and s"); MCUboot's ECDSA_SIG TLV holds the DER
/// `ECDSA-Sig-Value` (RFC 5480 §2.2.3), as imgtool writes it.
pub fn ecdsa_raw_to_der(raw: &[u8]) -> Result<Vec<u8>, Error> {
    let signature = if raw.len() == 64 {
        p256::ecdsa::Signature::from_slice(raw)
    } else {
        // A few tokens return DER already.
        p256::ecdsa::Signature::from_der(raw)
    }
    .map_err(|e| {
        Error::token(format!(
            "the token returned a {}-byte ECDSA signature that is not valid: {e}",
            raw.len()
        ))
        .with_hint("the token's CKM_ECDSA output is not r||s for P-256; check the key's curve")
    })?;
    Ok(signature.to_der().as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED_PUB: [u8; 32] = [
        0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07, 0x3a, 0x0e, 0xe1,
        0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a,
    ];

    fn octet_string(bytes: &[u8]) -> Vec<u8> {
        OctetStringRef::new(bytes).unwrap().to_der().unwrap()
    }

    #[test]
    fn ed25519_point_wrapped_or_bare_and_params_as_oid_or_name() {
        let oid = ec_params_for(KeyAlgorithm::Ed25519);
        assert_eq!(oid, [0x06, 0x03, 0x2b, 0x65, 0x70]);
        let name = ed25519_curve_name();
        assert_eq!(name[0], 0x13, "PrintableString tag");
        let expected = ed25519_dalek::VerifyingKey::from_bytes(&ED_PUB)
            .unwrap()
            .to_public_key_der()
            .unwrap();
        for params in [&oid, &name] {
            for point in [octet_string(&ED_PUB), ED_PUB.to_vec()] {
                let (alg, spki) = spki_from_ec(params, &point).unwrap();
                assert_eq!(alg, KeyAlgorithm::Ed25519);
                assert_eq!(spki, expected.as_bytes());
            }
        }
    }

    #[test]
    fn p256_point_wrapped_or_bare_compressed_or_not() {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let secret = p256::SecretKey::from_slice(&[7u8; 32]).unwrap();
        let public = secret.public_key();
        let expected = public.to_public_key_der().unwrap();
        let uncompressed = p256::EncodedPoint::from(public);
        let compressed = public.to_encoded_point(true);
        let params = ec_params_for(KeyAlgorithm::EcdsaP256);
        for point in [uncompressed.as_bytes(), compressed.as_bytes()] {
            for form in [octet_string(point), point.to_vec()] {
                let (alg, spki) = spki_from_ec(&params, &form).unwrap();
                assert_eq!(alg, KeyAlgorithm::EcdsaP256);
                assert_eq!(spki, expected.as_bytes());
                assert_eq!(check_spki(&spki).unwrap(), KeyAlgorithm::EcdsaP256);
            }
        }
    }

    #[test]
    fn unknown_curves_and_garbage_are_refused() {
        let secp384 = ObjectIdentifier::new_unwrap("1.3.132.0.34").to_der().unwrap();
        assert!(curve_from_ec_params(&secp384).is_err());
        assert!(curve_from_ec_params(b"\x13\x05curve").is_err());
        assert!(curve_from_ec_params(b"junk").is_err());
        assert!(unwrap_ec_point(KeyAlgorithm::Ed25519, &[0u8; 31]).is_err());
    }

    #[test]
    fn raw_ecdsa_signature_becomes_der() {
        use p256::ecdsa::signature::hazmat::PrehashSigner;
        let key = p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).unwrap();
        let sig: p256::ecdsa::Signature = key.sign_prehash(&[1u8; 32]).unwrap();
        let der = ecdsa_raw_to_der(&sig.to_bytes()).unwrap();
        assert_eq!(der, sig.to_der().as_bytes());
        assert_eq!(ecdsa_raw_to_der(&der).unwrap(), der);
        assert!(ecdsa_raw_to_der(&[0u8; 64]).is_err());
    }
}
