//! Attacks on image verification, named by the property they defend.

mod common;

use common::*;
use device_verifier::VerifyErrorKind as K;
use manifest::image::encode::tlv_area;
use manifest::image::{ImageView, TlvKind, TLV_INFO_MAGIC};
use manifest::DecodeErrorKind;

const SMALL: &[&str] = &[
    "images/small-a-seccnt5.bin",
    "images/small-a-pure.bin",
    "images/small-a-sha512.bin",
];

fn image_len(image: &[u8]) -> usize {
    ImageView::parse(image).unwrap().image_len()
}

#[test]
fn committed_vectors_verify() {
    for name in SMALL
        .iter()
        .chain(&["images/fw-v1.signed.bin", "images/fw-v2.signed.bin"])
    {
        let image = repo_fixture(name);
        let verified = verify_a(&image).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(verified.image_len() as usize, image_len(&image));
    }
    let full = repo_fixture("images/small-b-fullkey.bin");
    verify_with(&full, &[&key_b()], Some(5), 64).unwrap();
}

#[test]
fn tamper_every_single_bit_flip_is_rejected() {
    for name in SMALL {
        let image = repo_fixture(name);
        let len = image_len(&image);
        for byte in 0..len {
            for bit in 0..8 {
                let mut evil = image.clone();
                evil[byte] ^= 1 << bit;
                if let Ok(v) = verify_a(&evil) {
                    panic!("{name}: flip of byte {byte} bit {bit} still verifies ({v:?})");
                }
            }
        }
    }
}

#[test]
fn truncated_at_every_length_is_rejected() {
    let image = repo_fixture("images/small-a-seccnt5.bin");
    let len = image_len(&image);
    for cut in 0..len {
        let err = verify_a(&image[..cut]).expect_err("truncated image verified");
        assert!(
            matches!(err.kind, K::ExceedsSlot | K::Flash | K::Malformed(_)),
            "cut at {cut}: unexpected {err:?}"
        );
    }
}

#[test]
fn truncated_at_every_tlv_boundary_is_rejected() {
    let image = repo_fixture("images/small-a-seccnt5.bin");
    let view = ImageView::parse(&image).unwrap();
    let boundaries: Vec<usize> = view
        .protected_tlvs()
        .chain(view.unprotected_tlvs())
        .map(|t| t.unwrap().offset)
        .collect();
    assert!(boundaries.len() >= 4);
    for cut in boundaries {
        assert!(verify_a(&image[..cut]).is_err(), "cut at TLV boundary {cut} verified");
    }
}

/// Offset of the first unprotected TLV of `kind`.
fn tlv_offset(image: &[u8], kind: TlvKind) -> usize {
    ImageView::parse(image)
        .unwrap()
        .unprotected_tlvs()
        .map(Result::unwrap)
        .find(|t| t.kind == kind)
        .unwrap()
        .offset
}

#[test]
fn endless_data_tlv_length_past_the_end_is_rejected() {
    let image = repo_fixture("images/small-a-seccnt5.bin");
    let sig = tlv_offset(&image, TlvKind::ED25519);
    for len in [65u16, 0x1000, 0xffff] {
        let mut evil = image.clone();
        evil[sig + 2..sig + 4].copy_from_slice(&len.to_le_bytes());
        let err = verify_a(&evil).unwrap_err();
        assert_eq!(
            err.kind,
            K::Malformed(DecodeErrorKind::TlvOverrun),
            "len {len}: {err:?}"
        );
    }
    // The area total pointing past the slot.
    let mut evil = image.clone();
    let area = image_len(&image) - (image_len(&image) - tlv_offset(&image, TlvKind::SHA256) + 4);
    evil[area + 2..area + 4].copy_from_slice(&0xfff0u16.to_le_bytes());
    assert_eq!(verify_a(&evil).unwrap_err().kind, K::ExceedsSlot);
}

#[test]
fn header_size_below_32_is_rejected() {
    let mut evil = repo_fixture("images/small-a-seccnt5.bin");
    for size in [0u16, 16, 31] {
        evil[8..10].copy_from_slice(&size.to_le_bytes());
        assert_eq!(
            verify_a(&evil).unwrap_err().kind,
            K::Malformed(DecodeErrorKind::HeaderTooSmall)
        );
    }
}

#[test]
fn endless_data_img_size_overflow_is_rejected() {
    let image = repo_fixture("images/small-a-seccnt5.bin");
    for size in [u32::MAX, u32::MAX - 0x40, 0x8000_0000] {
        let mut evil = image.clone();
        evil[12..16].copy_from_slice(&size.to_le_bytes());
        let err = verify_a(&evil).unwrap_err();
        assert!(
            matches!(err.kind, K::Malformed(DecodeErrorKind::SizeOverflow) | K::ExceedsSlot),
            "img_size {size:#x}: {err:?}"
        );
    }
}

#[test]
fn untrusted_key_is_rejected() {
    let image = repo_fixture("images/small-a-seccnt5.bin");
    assert_eq!(
        verify_with(&image, &[&key_b()], None, 64).unwrap_err().kind,
        K::UntrustedKey
    );
    let full = repo_fixture("images/small-b-fullkey.bin");
    assert_eq!(
        verify_with(&full, &[&key_a()], None, 64).unwrap_err().kind,
        K::UntrustedKey
    );
    assert_eq!(verify_with(&image, &[], None, 64).unwrap_err().kind, K::UntrustedKey);
}

#[test]
fn key_rotation_old_and_new_trusted_then_old_removed() {
    let old = repo_fixture("images/small-a-seccnt5.bin");
    let new = repo_fixture("images/small-b-fullkey.bin");
    let (a, b) = (key_a(), key_b());
    // During rotation both verify, and the verifier says which key signed.
    assert_eq!(verify_with(&old, &[&b, &a], None, 64).unwrap().key_index(), 1);
    assert_eq!(verify_with(&new, &[&b, &a], None, 64).unwrap().key_index(), 0);
    // After the old key is retired, its images are refused.
    assert_eq!(verify_with(&old, &[&b], None, 64).unwrap_err().kind, K::UntrustedKey);
}

#[test]
fn rollback_security_counter_below_floor_is_rejected() {
    let image = repo_fixture("images/small-a-seccnt5.bin");
    assert_eq!(
        verify_with(&image, &[&key_a()], Some(5), 64)
            .unwrap()
            .security_counter(),
        Some(5)
    );
    assert_eq!(
        verify_with(&image, &[&key_a()], Some(6), 64).unwrap_err().kind,
        K::Rollback
    );
    assert_eq!(
        verify_with(&image, &[&key_a()], Some(u32::MAX), 64).unwrap_err().kind,
        K::Rollback
    );
}

/// Rebuilds `image` with its unprotected area replaced by `entries`.
fn with_unprotected(image: &[u8], entries: &[(TlvKind, Vec<u8>)]) -> Vec<u8> {
    let view = ImageView::parse(image).unwrap();
    let covered = view.covered().len();
    let refs: Vec<(TlvKind, &[u8])> = entries.iter().map(|(k, v)| (*k, v.as_slice())).collect();
    let mut out = image[..covered].to_vec();
    out.extend_from_slice(&tlv_area(TLV_INFO_MAGIC, &refs).unwrap());
    out
}

fn unprotected_entries(image: &[u8]) -> Vec<(TlvKind, Vec<u8>)> {
    ImageView::parse(image)
        .unwrap()
        .unprotected_tlvs()
        .map(|t| t.map(|t| (t.kind, t.value.to_vec())).unwrap())
        .collect()
}

#[test]
fn duplicate_tlvs_are_rejected() {
    let image = repo_fixture("images/small-a-seccnt5.bin");
    let entries = unprotected_entries(&image);
    // Sanity: re-encoding the same entries reproduces a valid image.
    verify_a(&with_unprotected(&image, &entries)).unwrap();
    for dup in 0..entries.len() {
        let mut evil = entries.clone();
        evil.insert(dup + 1, entries[dup].clone());
        let err = verify_a(&with_unprotected(&image, &evil)).unwrap_err();
        assert_eq!(err.kind, K::DuplicateTlv, "duplicate of entry {dup}");
    }
}

#[test]
fn rollback_unprotected_security_counter_is_refused() {
    // An attacker cannot raise the counter by appending an unsigned SEC_CNT.
    let image = repo_fixture("images/small-a-seccnt5.bin");
    let mut entries = unprotected_entries(&image);
    entries.push((TlvKind::SEC_CNT, 99u32.to_le_bytes().to_vec()));
    assert_eq!(
        verify_a(&with_unprotected(&image, &entries)).unwrap_err().kind,
        K::UnexpectedTlv
    );
}

#[test]
fn streaming_result_does_not_depend_on_buffer_size() {
    let image = repo_fixture("images/fw-v1.signed.bin");
    let reference = verify_with(&image, &[&key_a()], Some(0), 4096).unwrap();
    for len in [12, 13, 64, 1000, 65536] {
        assert_eq!(
            verify_with(&image, &[&key_a()], Some(0), len).unwrap(),
            reference,
            "buf {len}"
        );
    }
    // The protected area (12 bytes here) must fit the buffer.
    assert_eq!(
        verify_with(&image, &[&key_a()], Some(0), 11).unwrap_err().kind,
        K::BufferTooSmall
    );
    assert_eq!(
        verify_with(&image, &[&key_a()], Some(0), 0).unwrap_err().kind,
        K::BufferTooSmall
    );
}

#[test]
fn image_larger_than_its_slot_is_rejected() {
    let image = repo_fixture("images/fw-v1.signed.bin");
    let len = image_len(&image);
    // A slot one byte short of the image.
    assert!(verify_a(&image[..len - 1]).is_err());
}
