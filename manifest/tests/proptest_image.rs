//! Property tests for the MCUboot image encoders and decoders: every encoder round
//! trips through its decoder, accepted inputs re-encode to themselves, and no input panics.

use manifest::image::encode::{reencode, tlv_area, ImageOptions, UnsignedImage};
use manifest::image::{
    ImageFlags, ImageHeader, ImageVersion, ImageView, TlvInfo, TlvIter, TlvKind, HEADER_LEN, IMAGE_MAGIC,
    PROTECTED_TLV_INFO_MAGIC, TLV_INFO_LEN, TLV_INFO_MAGIC,
};
use proptest::prelude::*;

fn version() -> impl Strategy<Value = ImageVersion> {
    (any::<u8>(), any::<u8>(), any::<u16>(), any::<u32>()).prop_map(|(major, minor, revision, build)| ImageVersion {
        major,
        minor,
        revision,
        build,
    })
}

fn header() -> impl Strategy<Value = ImageHeader> {
    (
        any::<u32>(),
        32u16..,
        any::<u16>(),
        any::<u32>(),
        any::<u32>(),
        version(),
        any::<u32>(),
    )
        .prop_filter("sizes must fit 32 bits", |(_, hdr, prot, img, ..)| {
            u32::from(*hdr)
                .checked_add(*img)
                .and_then(|v| v.checked_add(u32::from(*prot)))
                .is_some()
        })
        .prop_map(
            |(load_addr, hdr_size, protect_tlv_size, img_size, flags, version, pad1)| ImageHeader {
                load_addr,
                hdr_size,
                protect_tlv_size,
                img_size,
                flags: ImageFlags(flags),
                version,
                pad1,
            },
        )
}

fn entries() -> impl Strategy<Value = Vec<(u16, Vec<u8>)>> {
    prop::collection::vec((any::<u16>(), prop::collection::vec(any::<u8>(), 0..80)), 0..8)
}

fn as_refs(entries: &[(u16, Vec<u8>)]) -> Vec<(TlvKind, &[u8])> {
    entries.iter().map(|(k, v)| (TlvKind(*k), v.as_slice())).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn header_encode_parse_round_trip(h in header()) {
        let bytes = h.to_bytes();
        prop_assert_eq!(&bytes[..4], &IMAGE_MAGIC.to_le_bytes());
        prop_assert_eq!(ImageHeader::parse(&bytes), Ok(h));
    }

    #[test]
    fn header_parse_encode_round_trip(mut raw in prop::array::uniform32(any::<u8>())) {
        raw[..4].copy_from_slice(&IMAGE_MAGIC.to_le_bytes());
        if let Ok(h) = ImageHeader::parse(&raw) {
            prop_assert_eq!(h.to_bytes(), raw);
            prop_assert!(usize::from(h.hdr_size) >= HEADER_LEN);
        }
    }

    #[test]
    fn tlv_area_round_trip(entries in entries(), protected in any::<bool>()) {
        let magic = if protected { PROTECTED_TLV_INFO_MAGIC } else { TLV_INFO_MAGIC };
        let area = tlv_area(magic, &as_refs(&entries)).unwrap();
        let info = TlvInfo::parse(&area).unwrap();
        prop_assert_eq!(info.magic, magic);
        prop_assert_eq!(usize::from(info.total), area.len());
        let decoded: Vec<(u16, Vec<u8>)> = TlvIter::new(&area[TLV_INFO_LEN..], TLV_INFO_LEN)
            .map(|t| t.map(|t| (t.kind.0, t.value.to_vec())))
            .collect::<Result<_, _>>()
            .unwrap();
        prop_assert_eq!(decoded, entries);
    }

    #[test]
    fn version_display_parse_round_trip(v in version()) {
        prop_assert_eq!(v.to_string().parse::<ImageVersion>(), Ok(v));
    }

    #[test]
    fn version_parse_never_panics_and_is_canonical(s in "[0-9.+]{0,24}") {
        if let Ok(v) = s.parse::<ImageVersion>() {
            // Whatever parses re-parses from its canonical form to the same value.
            prop_assert_eq!(v.to_string().parse::<ImageVersion>(), Ok(v));
        }
    }

    #[test]
    fn encoded_image_parses_and_reencodes(
        body in prop::collection::vec(any::<u8>(), 0..600),
        hdr_extra in 0u16..64,
        counter in proptest::option::of(any::<u32>()),
        v in version(),
        unprotected in entries(),
    ) {
        let options = ImageOptions {
            header_size: 32 + hdr_extra,
            pad_header: true,
            version: v,
            security_counter: counter,
            ..ImageOptions::default()
        };
        let image = UnsignedImage::new(&body, &options).unwrap().finish(&as_refs(&unprotected)).unwrap();
        let view = ImageView::parse_exact(&image).unwrap();
        prop_assert_eq!(view.body(), &body[..]);
        prop_assert_eq!(view.header().version, v);
        prop_assert!(view.header_padding().iter().all(|b| *b == 0xff));
        prop_assert_eq!(view.protected_area().is_some(), counter.is_some());
        prop_assert_eq!(reencode(&view).unwrap(), image);
    }

    #[test]
    fn parse_never_panics_on_arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(view) = ImageView::parse(&data) {
            prop_assert_eq!(reencode(&view).unwrap(), data);
        }
    }

    /// Arbitrary bytes behind a plausible header reach the TLV parsers.
    #[test]
    fn parse_never_panics_behind_a_valid_header(
        h in header(),
        tail in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut data = h.to_bytes().to_vec();
        data.extend_from_slice(&tail);
        if let Ok(view) = ImageView::parse(&data) {
            prop_assert_eq!(reencode(&view).unwrap(), data);
        }
    }
}
