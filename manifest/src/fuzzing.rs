//! Fuzz entry points (built only under `cfg(fuzzing)`, i.e. by cargo-fuzz). The targets in
//! `fuzz/fuzz_targets/` are three-line shims over these functions, so the logic is reviewed,
//! linted and versioned with the parser it exercises.
//!
//! Each function must never panic on any input except to report a broken invariant.

// Fuzz harnesses report broken invariants by panicking; that is how libFuzzer sees them.
#![allow(clippy::expect_used, clippy::panic)]

use crate::image::{ImageHeader, ImageView, TlvInfo, TlvIter};

/// Parses arbitrary bytes as an image and touches everything a view exposes.
pub fn image_parse(data: &[u8]) {
    let _ = ImageHeader::parse(data);
    let _ = TlvInfo::parse(data);
    for tlv in TlvIter::new(data, 0) {
        if tlv.is_err() {
            break;
        }
    }
    let Ok(view) = ImageView::parse(data) else {
        return;
    };
    let header = view.header();
    // Invariants of an accepted view (image.h layout): the parts tile the input exactly.
    let covered = view.covered();
    assert_eq!(
        Some(covered.len()),
        header.protected_end().and_then(|end| usize::try_from(end).ok()),
        "covered region disagrees with the header"
    );
    assert_eq!(
        view.body().len(),
        usize::try_from(header.img_size).unwrap_or(usize::MAX)
    );
    assert_eq!(
        view.image_len()
            .checked_add(view.trailer().len())
            .expect("image_len + trailer overflows"),
        data.len()
    );
    assert!(view.image_len() >= covered.len().saturating_add(super::image::TLV_INFO_LEN));
    for tlv in view.protected_tlvs().chain(view.unprotected_tlvs()) {
        assert!(tlv.is_ok(), "ImageView::parse accepted an area with a bad entry");
    }
    assert_eq!(ImageHeader::parse(&header.to_bytes()).ok().as_ref(), Some(header));
    let exact = ImageView::parse_exact(data);
    assert_eq!(exact.is_ok(), view.trailer().is_empty());
}

/// Round trip property: for every input [`ImageView::parse`] accepts,
/// decoding and re-encoding gives back the input byte for byte.
#[cfg(feature = "alloc")]
pub fn image_roundtrip(data: &[u8]) {
    let Ok(view) = ImageView::parse(data) else {
        return;
    };
    let encoded = crate::image::encode::reencode(&view).expect("re-encoding an accepted image failed");
    assert!(encoded == data, "reencode(parse(x)) != x");
}
