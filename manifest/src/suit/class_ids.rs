//! Vendor and class identifiers from names, the one derivation the signer, the server and the
//! devices share (docs/FORMATS.md, "SUIT profile", Identifiers): vendor-id = UUIDv5(NAMESPACE_DNS,
//! vendor domain), class-id = UUIDv5(vendor-id, class name), as in the draft's examples
//! (draft-ietf-suit-manifest §8.4.8.2; RFC 4122 §4.3 for name-based UUIDs).

use super::UUID_LEN;

/// The identifiers a manifest's `vendor-identifier` and `class-identifier` parameters carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClassIds {
    pub vendor_id: [u8; UUID_LEN],
    pub class_id: [u8; UUID_LEN],
}

/// The vendor id of `vendor_domain` and the class id of `class_name` under it.
pub fn class_ids(vendor_domain: &str, class_name: &str) -> ClassIds {
    let vendor = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_DNS, vendor_domain.as_bytes());
    let class = uuid::Uuid::new_v5(&vendor, class_name.as_bytes());
    ClassIds {
        vendor_id: *vendor.as_bytes(),
        class_id: *class.as_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The draft's example vendor: `uuid5(DNS, "arm.com")` (docs/FORMATS.md).
    #[test]
    fn vendor_id_is_uuid5_of_the_domain() {
        let ids = class_ids("arm.com", "anything");
        assert_eq!(
            ids.vendor_id,
            [0xfa, 0x6b, 0x4a, 0x53, 0xd5, 0xad, 0x5f, 0xdf, 0xbe, 0x9d, 0xe6, 0x63, 0xe4, 0xd4, 0x1f, 0xfe]
        );
        assert_ne!(class_ids("arm.com", "other").class_id, ids.class_id);
        assert_eq!(class_ids("arm.com", "anything"), ids);
    }
}
