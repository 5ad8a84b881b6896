use super::encode::{self, BuildError, DeltaFields, EnvelopeBuilder, ManifestFields, TextFields};
use super::*;
use crate::error::DecodeErrorKind as Kind;
use alloc::vec::Vec;
use sha2::Digest as _;

extern crate alloc;

fn sha256(data: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(data).into()
}

fn fields<'a>(deltas: &'a [DeltaFields<'a>]) -> ManifestFields<'a> {
    ManifestFields {
        sequence: 7,
        vendor_id: [1; 16],
        class_id: [2; 16],
        image_digest: [3; 32],
        image_size: 34768,
        install_uri: "fw.bin",
        deltas,
    }
}

const TEXT: TextFields<'static> = TextFields {
    language: "en",
    version: "1.2.3",
    notes: "fixes",
};

/// An envelope with a fake signature (structure only; signatures are the verifier's job).
fn envelope(deltas: &[DeltaFields<'_>]) -> Vec<u8> {
    let mut builder = EnvelopeBuilder::new(&fields(deltas), &TEXT);
    builder.add_signature(CoseAlg::ED25519, None, &[0u8; 64]).unwrap();
    builder.finish().unwrap()
}

/// The same envelope assembled from the encoder's pieces by hand (as the signer did before the
/// builder existed): the builder must not change a byte of it.
fn envelope_by_hand(deltas: &[DeltaFields<'_>], sigs: &[(CoseAlg, &[u8])]) -> Vec<u8> {
    let text = encode::text_bstr(&TEXT);
    let manifest = encode::manifest_bstr(&fields(deltas), Some(&sha256(&text)));
    let digest = encode::digest(&sha256(&manifest));
    let sign1s: Vec<Vec<u8>> = sigs
        .iter()
        .map(|(alg, sig)| encode::sign1(&encode::protected_header(*alg, None), sig))
        .collect();
    encode::envelope(&digest, &sign1s, &manifest, Some(&text))
}

const DELTA: DeltaFields<'static> = DeltaFields {
    format: DeltaFormat::FWSIGN_V1,
    precursor_digest: [4; 32],
    precursor_size: 1000,
    patch_digest: [5; 32],
    patch_size: 99,
    uri: "p.bin",
};

#[test]
fn builder_round_trips_through_the_decoder() {
    let deltas = [DELTA];
    let sigs: [(CoseAlg, [u8; 64]); 2] = [(CoseAlg::ED25519, [0xa5; 64]), (CoseAlg::ESP256, [0x5a; 64])];
    let mut builder = EnvelopeBuilder::new(&fields(&deltas), &TEXT);
    let mut signed = Vec::new();
    for (alg, sig) in &sigs {
        signed.push(builder.to_be_signed(*alg, None).unwrap());
        builder.add_signature(*alg, None, sig).unwrap();
    }
    assert_eq!(builder.signature_count(), 2);
    let digest_encoded = builder.digest_encoded().to_vec();
    let manifest_bstr = builder.manifest_bstr().to_vec();
    let bytes = builder.finish().unwrap();

    let env = Envelope::decode(&bytes).unwrap();
    assert_eq!(env.digest_encoded(), digest_encoded);
    assert_eq!(env.manifest_bstr(), manifest_bstr);
    assert_eq!(env.digest().bytes, &sha256(env.manifest_bstr()));
    let blocks: Vec<Sign1<'_>> = env.signatures().map(Result::unwrap).collect();
    assert_eq!(blocks.len(), sigs.len());
    for ((block, (alg, sig)), tbs) in blocks.iter().zip(&sigs).zip(&signed) {
        assert_eq!((block.alg, block.signature), (*alg, &sig[..]));
        // What a verifier reconstructs is exactly what the signer was given.
        let mut buf = [0u8; SIG_STRUCTURE_MAX];
        assert_eq!(block.sig_structure(env.digest_encoded(), &mut buf), Some(&tbs[..]));
    }
    let m = env.manifest(&sha256).unwrap();
    assert_eq!(m.sequence(), 7);
    assert_eq!(m.common().image_size(), 34768);
    assert_eq!(m.common().deltas().count(), 1);
    let text = m.text().unwrap();
    assert_eq!((text.version, text.notes), (Some("1.2.3"), Some("fixes")));
}

#[test]
fn builder_output_is_deterministic_and_equals_the_pieces() {
    for deltas in [&[][..], &[DELTA][..]] {
        let build = || {
            let mut b = EnvelopeBuilder::new(&fields(deltas), &TEXT);
            b.add_signature(CoseAlg::ED25519, None, &[1; 64]).unwrap();
            b.add_signature(CoseAlg::ESP256, None, &[2; 64]).unwrap();
            b.finish().unwrap()
        };
        let first = build();
        assert_eq!(first, build());
        assert_eq!(
            first,
            envelope_by_hand(deltas, &[(CoseAlg::ED25519, &[1; 64]), (CoseAlg::ESP256, &[2; 64])])
        );
    }
}

#[test]
fn builder_refuses_what_the_decoder_would_refuse() {
    let mut b = EnvelopeBuilder::new(&fields(&[]), &TEXT);
    for len in [0, 63, 65, 72] {
        assert_eq!(
            b.add_signature(CoseAlg::ED25519, None, &alloc::vec![0; len]),
            Err(BuildError::SignatureLength {
                alg: CoseAlg::ED25519,
                expected: 64,
                actual: len
            })
        );
    }
    // ES384 (-35) is outside the profile, for signing and for adding alike.
    let es384 = CoseAlg(-35);
    assert_eq!(
        b.to_be_signed(es384, None),
        Err(BuildError::UnsupportedAlgorithm(es384))
    );
    assert_eq!(
        b.add_signature(es384, None, &[0; 64]),
        Err(BuildError::UnsupportedAlgorithm(es384))
    );
    assert_eq!(b.signature_count(), 0, "a refused signature is not added");
    assert_eq!(b.clone().finish(), Err(BuildError::NoSignature));
    for _ in 0..MAX_SIGNATURES {
        b.add_signature(CoseAlg::ED25519, None, &[0; 64]).unwrap();
    }
    assert_eq!(
        b.add_signature(CoseAlg::ED25519, None, &[0; 64]),
        Err(BuildError::TooManySignatures)
    );
    let bytes = b.finish().unwrap();
    assert_eq!(Envelope::decode(&bytes).unwrap().signatures().count(), MAX_SIGNATURES);
}

#[test]
fn round_trip() {
    let delta = DeltaFields {
        format: DeltaFormat::FWSIGN_V1,
        precursor_digest: [4; 32],
        precursor_size: 1000,
        patch_digest: [5; 32],
        patch_size: 99,
        uri: "p.bin",
    };
    let bytes = envelope(core::slice::from_ref(&delta));
    let env = Envelope::decode(&bytes).unwrap();
    assert_eq!(env.digest().bytes, &sha256(env.manifest_bstr()));
    let sig = env.signatures().next().unwrap().unwrap();
    assert_eq!(sig.alg, CoseAlg::ED25519);
    let m = env.manifest(&sha256).unwrap();
    assert_eq!(m.sequence(), 7);
    assert_eq!(m.common().vendor_id(), &[1; 16]);
    assert_eq!(m.common().class_id(), &[2; 16]);
    assert_eq!(m.common().image_digest().bytes, &[3; 32]);
    assert_eq!(m.common().image_size(), 34768);
    assert_eq!(m.install_uri(), Some("fw.bin"));
    let text = m.text().unwrap();
    assert_eq!((text.version, text.notes), (Some("1.2.3"), Some("fixes")));
    let d = m.common().deltas().next().unwrap();
    assert_eq!(
        (d.format, d.precursor_size, d.patch_size, d.uri),
        (DeltaFormat::FWSIGN_V1, 1000, 99, "p.bin")
    );
    assert_eq!(d.precursor_digest.bytes, &[4; 32]);
}

#[test]
fn truncated_and_garbage() {
    let bytes = envelope(&[]);
    for len in 0..bytes.len() {
        assert!(Envelope::decode(&bytes[..len]).is_err(), "prefix {len}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(Envelope::decode(&longer).unwrap_err().kind, Kind::TrailingBytes);
    for seed in 0u32..2000 {
        let garbage: Vec<u8> = (0..64u32)
            .map(|i| (seed.wrapping_mul(2654435761).wrapping_add(i * 97) >> 7) as u8)
            .collect();
        let _ = Envelope::decode(&garbage);
    }
}

#[test]
fn unknown_manifest_member_is_critical() {
    let manifest_inner = {
        let mut w = encode::Writer::default();
        w.map(4)
            .int(1)
            .uint(1)
            .int(2)
            .uint(1)
            .int(3)
            .bstr(&[0xa0])
            .int(99)
            .uint(0);
        w.out
    };
    let mut w = encode::Writer::default();
    w.bstr(&manifest_inner);
    let manifest = w.out;
    let digest = encode::digest(&sha256(&manifest));
    let sig = encode::sign1(&encode::protected_header(CoseAlg::ED25519, None), &[0u8; 64]);
    let bytes = encode::envelope(&digest, &[sig], &manifest, None);
    let env = Envelope::decode(&bytes).unwrap();
    assert_eq!(env.manifest(&sha256).unwrap_err().kind, Kind::UnknownCriticalMember);
}

/// Round trip: what we emit decodes, and re-encoding the decoded fields gives the same bytes.
#[test]
fn decode_then_encode_is_identity() {
    let delta = DeltaFields {
        format: DeltaFormat::BSDIFF40,
        precursor_digest: [6; 32],
        precursor_size: 70000,
        patch_digest: [7; 32],
        patch_size: 300,
        uri: "https://x/p",
    };
    for deltas in [&[][..], core::slice::from_ref(&delta)] {
        let bytes = envelope(deltas);
        let env = Envelope::decode(&bytes).unwrap();
        let m = env.manifest(&sha256).unwrap();
        let c = m.common();
        let decoded_deltas: Vec<DeltaFields<'_>> = c
            .deltas()
            .map(|d| DeltaFields {
                format: d.format,
                precursor_digest: *d.precursor_digest.bytes,
                precursor_size: d.precursor_size,
                patch_digest: *d.patch_digest.bytes,
                patch_size: d.patch_size,
                uri: d.uri,
            })
            .collect();
        let fields = ManifestFields {
            sequence: m.sequence(),
            vendor_id: *c.vendor_id(),
            class_id: *c.class_id(),
            image_digest: *c.image_digest().bytes,
            image_size: c.image_size(),
            install_uri: m.install_uri().unwrap(),
            deltas: &decoded_deltas,
        };
        let t = m.text().unwrap();
        let text = encode::text_bstr(&TextFields {
            language: t.language,
            version: t.version.unwrap(),
            notes: t.notes.unwrap(),
        });
        let manifest = encode::manifest_bstr(&fields, Some(&sha256(&text)));
        assert_eq!(manifest, env.manifest_bstr());
        let sigs: Vec<Vec<u8>> = env
            .signatures()
            .map(|s| {
                let s = s.unwrap();
                encode::sign1(s.protected, s.signature)
            })
            .collect();
        assert_eq!(
            encode::envelope(env.digest_encoded(), &sigs, &manifest, Some(&text)),
            bytes
        );
    }
}

#[test]
fn profile_refusals() {
    // An empty override-parameters map (the draft requires at least one parameter).
    let mut w = encode::Writer::default();
    w.wrapped(|w| {
        w.map(2).int(2).array(1).raw(encode::COMPONENT_ID);
        w.int(4).wrapped(|w| {
            w.array(2).int(20).map(0);
        });
    });
    let common = w.out;
    let mut inner = encode::Writer::default();
    inner
        .map(4)
        .int(1)
        .uint(1)
        .int(2)
        .uint(1)
        .int(3)
        .raw(&common)
        .int(7)
        .wrapped(|w| {
            w.array(2).int(3).uint(15);
        });
    let mut w = encode::Writer::default();
    w.bstr(&inner.out);
    let manifest = w.out;
    let digest = encode::digest(&sha256(&manifest));
    let sig = encode::sign1(&encode::protected_header(CoseAlg::ED25519, None), &[0u8; 64]);
    let bytes = encode::envelope(&digest, &[sig], &manifest, None);
    let env = Envelope::decode(&bytes).unwrap();
    assert_eq!(env.manifest(&sha256).unwrap_err().kind, Kind::UnexpectedValue);

    // An unsupported signature algorithm (ES384, -35) and a crit header are refused in phase one.
    for protected in [&[0xa1, 0x01, 0x38, 0x22][..], &[0xa2, 0x01, 0x32, 0x02, 0x81, 0x01]] {
        let sig = encode::sign1(protected, &[0u8; 64]);
        let bytes = encode::envelope(&digest, &[sig], &manifest, None);
        let kind = Envelope::decode(&bytes).unwrap_err().kind;
        assert!(
            matches!(kind, Kind::UnsupportedAlgorithm | Kind::UnknownCriticalMember),
            "{kind:?}"
        );
    }
}

proptest::proptest! {
    /// No input makes the decoder panic; mutated envelopes either fail or decode to a view whose
    /// manifest phase also terminates without panicking.
    #[test]
    fn mutated_envelopes_never_panic(at in 0usize..400, xor in 1u8..=255, cut in 0usize..400, extra in proptest::collection::vec(proptest::num::u8::ANY, 0..8)) {
        let mut bytes = envelope(&[]);
        bytes.truncate(bytes.len() - cut % 4);
        let i = at % bytes.len();
        bytes[i] ^= xor;
        bytes.splice(i..i, extra);
        if let Ok(env) = Envelope::decode(&bytes) {
            let _ = env.signatures().count();
            let _ = env.manifest(&sha256);
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
        if let Ok(env) = Envelope::decode(&bytes) {
            let _ = env.manifest(&sha256);
        }
    }
}

#[test]
fn authentication_wrapper_must_precede_the_manifest() {
    let bytes = envelope(&[]);
    let env = Envelope::decode(&bytes).unwrap();
    // Rebuild the map with the manifest first.
    let mut w = encode::Writer::default();
    w.tag(TAG_ENVELOPE).map(2).int(3).raw(env.manifest_bstr()).int(2);
    let mut auth = encode::Writer::default();
    let sig: Vec<u8> = encode::sign1(&encode::protected_header(CoseAlg::ED25519, None), &[0u8; 64]);
    auth.array(2).bstr(env.digest_encoded()).bstr(&sig);
    w.bstr(&auth.out);
    assert_eq!(Envelope::decode(&w.out).unwrap_err().kind, Kind::UnexpectedValue);
}
