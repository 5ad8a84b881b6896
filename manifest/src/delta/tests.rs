//! Header decoding: strictness (FORMATS §Delta) and bytes → decode → encode round trips.

extern crate std;

use super::*;
use proptest::prelude::*;

fn sample() -> DeltaHeader {
    DeltaHeader {
        codec: Codec::RANGE_CM,
        params: CodecParams::DEFAULT,
        base_size: 55_576,
        base_digest: [0xAA; DIGEST_LEN],
        result_size: 55_580,
        result_digest: [0x52; DIGEST_LEN],
        payload_len: 7,
    }
}

fn patch() -> std::vec::Vec<u8> {
    encode_patch(&sample(), &[1, 2, 3, 4, 5, 6, 7])
}

fn kind_of(bytes: &[u8]) -> DeltaErrorKind {
    match PatchView::parse(bytes) {
        Ok(_) => panic!("accepted"),
        Err(e) => e.kind,
    }
}

#[test]
fn round_trip_sample() {
    let bytes = patch();
    let view = PatchView::parse(&bytes).unwrap();
    assert_eq!(view.header, sample());
    assert_eq!(view.payload, &[1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(encode_patch(&view.header, view.payload), bytes);
}

#[test]
fn tamper_magic_version_len_codec_params_reserved() {
    let cases: [(usize, u8, DeltaErrorKind); 8] = [
        (0, b'X', DeltaErrorKind::BadMagic),
        (8, 2, DeltaErrorKind::UnsupportedVersion),
        (10, 95, DeltaErrorKind::BadHeaderLen),
        (12, 2, DeltaErrorKind::UnsupportedCodec),
        (13, 9, DeltaErrorKind::BadCodecParams),
        (14, 2, DeltaErrorKind::BadCodecParams),
        (15, 1, DeltaErrorKind::ReservedNonZero),
        (95, 1, DeltaErrorKind::ReservedNonZero),
    ];
    for (offset, value, kind) in cases {
        let mut bytes = patch();
        bytes[offset] = value;
        assert_eq!(kind_of(&bytes), kind, "byte {offset}");
    }
}

#[test]
fn truncated_everywhere() {
    let bytes = patch();
    for len in 0..bytes.len() {
        assert_eq!(kind_of(&bytes[..len]), DeltaErrorKind::Truncated, "len {len}");
    }
}

#[test]
fn trailing_bytes_rejected() {
    let mut bytes = patch();
    bytes.push(0);
    assert_eq!(kind_of(&bytes), DeltaErrorKind::TrailingBytes);
}

#[test]
fn payload_too_small() {
    let mut h = sample();
    h.payload_len = 4;
    assert_eq!(kind_of(&encode_patch(&h, &[0; 4])), DeltaErrorKind::PayloadTooSmall);
}

#[test]
fn adapt_keeps_probabilities_inside_the_coder_range() {
    for shift in model::MIN_ADAPT_SHIFT..=model::MAX_ADAPT_SHIFT {
        for bit in [false, true] {
            let mut cell = model::PROB_INIT;
            for _ in 0..10_000 {
                cell = model::adapt(cell, bit, shift);
                let p = cell & model::PROB_MASK;
                assert!((1..model::PROB_ONE).contains(&p), "p = {p}");
            }
        }
    }
}

#[test]
fn zigzag_round_trip_extremes() {
    for v in [0i64, -1, 1, i64::from(u32::MAX), -i64::from(u32::MAX)] {
        assert_eq!(model::unzigzag(model::zigzag(v)), v);
    }
    const { assert!(model::PROBS * 2 <= 3_500, "probability table grew") };
}

proptest! {
    #[test]
    fn decode_encode_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(view) = PatchView::parse(&bytes) {
            prop_assert_eq!(encode_patch(&view.header, view.payload), bytes);
        }
    }

    /// bytes → decode → encode == bytes for every accepted mutation of a valid patch.
    #[test]
    fn mutated_patch_round_trips_or_is_refused(at in 0usize..103, value: u8) {
        let mut bytes = patch();
        bytes[at] = value;
        if let Ok(view) = PatchView::parse(&bytes) {
            prop_assert_eq!(encode_patch(&view.header, view.payload), bytes);
        }
    }

    #[test]
    fn encode_decode_round_trip(base_size: u32, result_size: u32, digest: [u8; 32], shift in 4u8..=6, ctx in 0u8..=1,
                                payload in proptest::collection::vec(any::<u8>(), 5..64)) {
        let header = DeltaHeader {
            codec: Codec::RANGE_CM,
            params: CodecParams { adapt_shift: shift, literal_context_bits: ctx },
            base_size,
            base_digest: digest,
            result_size,
            result_digest: [digest[0]; 32],
            payload_len: u32::try_from(payload.len()).unwrap(),
        };
        let bytes = encode_patch(&header, &payload);
        let view = PatchView::parse(&bytes).unwrap();
        prop_assert_eq!(view.header, header);
        prop_assert_eq!(view.payload, &payload[..]);
    }
}
