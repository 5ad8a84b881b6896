//! Device certificates and enrolment (issue 16): what the server records of each certificate
//! it issued or an operator revoked, the per-certificate revocation rule, when a device is told
//! to renew, and the one-time enrolment tokens.

use super::Millis;

/// One certificate of a device, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCertificate {
    /// Lower-case hex of the serial number (`ca::serial_hex`).
    pub serial: String,
    pub device_id: String,
    /// SHA-256 of the DER certificate (hex), when the server saw the certificate.
    pub fingerprint: Option<String>,
    pub not_before_ms: Option<Millis>,
    pub not_after_ms: Option<Millis>,
    /// When this server's issuing CA issued it; `None` for certificates of another issuer.
    pub issued_ms: Option<Millis>,
    /// From when it is refused (may lie ahead: a rotation's grace window).
    pub revoked_ms: Option<Millis>,
    pub revoked_reason: Option<String>,
    /// Re-enrolment: the serial of the certificate this one replaces.
    pub replaces_serial: Option<String>,
    pub first_used_ms: Option<Millis>,
}

/// A revoked serial of a device, refused from `from_ms` on (`devices.revoked_serials`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialRevocation {
    pub serial: String,
    pub from_ms: Millis,
}

/// Whether `serial` is revoked at `now` by one of `list`.
pub fn serial_revoked(list: &[SerialRevocation], serial: &str, now: Millis) -> bool {
    list.iter().any(|r| r.serial == serial && now >= r.from_ms)
}

/// `devices.revoked_serials` as stored: `serial@from_ms,...`.
pub fn format_serial_list(list: &[SerialRevocation]) -> String {
    list.iter()
        .map(|r| format!("{}@{}", r.serial, r.from_ms))
        .collect::<Vec<_>>()
        .join(",")
}

/// Certificates listed per device (`GET /api/v1/admin/devices/{id}/certificates`), newest first.
pub const CERTIFICATES_LISTED: i64 = 100;

/// Serial numbers: 1–40 hex digits (RFC 5280 §4.1.2.2: at most 20 octets).
pub fn valid_serial(serial: &str) -> bool {
    (1..=40).contains(&serial.len()) && serial.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A serial as the store keeps it: lower-case, without leading zero digit pairs, so
/// `openssl x509 -serial`'s `0A1B…` and the API's `0a1b…` name one certificate.
pub fn normalize_serial(serial: &str) -> Option<String> {
    let s = serial.trim().to_ascii_lowercase();
    if !valid_serial(&s) {
        return None;
    }
    let s = if s.len() % 2 == 1 { format!("0{s}") } else { s };
    let mut t = s.as_str();
    while t.len() > 2 && t.starts_with("00") {
        t = &t[2..];
    }
    Some(t.to_owned())
}

/// `devices.revoked_serials` as a list; an entry without a time is revoked since ever.
pub fn parse_serial_list(text: &str) -> Vec<SerialRevocation> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|entry| match entry.split_once('@') {
            Some((serial, from)) => SerialRevocation {
                serial: serial.to_owned(),
                from_ms: from.parse().unwrap_or(0),
            },
            None => SerialRevocation {
                serial: entry.to_owned(),
                from_ms: 0,
            },
        })
        .collect()
}

/// Whether a certificate expiring at `not_after_ms` should be renewed at `now`: once its
/// remaining validity is below `renew_before_ms` (the check-in answer then says so).
pub fn renewal_due(not_after_ms: Millis, renew_before_ms: Millis, now: Millis) -> bool {
    not_after_ms.saturating_sub(now) < renew_before_ms
}

/// What a one-time enrolment token grants: one certificate for one device id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollmentGrant {
    pub device_id: String,
    /// The class the certificate names (its OU); `None`: the device's class from its record.
    pub class: Option<String>,
}

/// Enrolment tokens expire after this by default (one day), and at most after 30 days.
pub const ENROLLMENT_TOKEN_DEFAULT_S: u64 = 86_400;
pub const ENROLLMENT_TOKEN_MAX_S: u64 = 30 * 86_400;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_in_either_case_and_padding_name_one_certificate() {
        assert_eq!(normalize_serial("0A1B").as_deref(), Some("0a1b"));
        assert_eq!(normalize_serial("000a1b").as_deref(), Some("0a1b"));
        assert_eq!(normalize_serial("a1b").as_deref(), Some("0a1b"));
        assert_eq!(normalize_serial("00").as_deref(), Some("00"));
        assert_eq!(normalize_serial("xyz"), None);
        assert_eq!(normalize_serial(&"a".repeat(41)), None);
    }

    #[test]
    fn a_superseded_serial_is_refused_only_after_its_grace_window() {
        let list = parse_serial_list(&format_serial_list(&[SerialRevocation {
            serial: "0a".into(),
            from_ms: 5_000,
        }]));
        assert!(!serial_revoked(&list, "0a", 4_999));
        assert!(serial_revoked(&list, "0a", 5_000));
        assert!(!serial_revoked(&list, "0b", 9_000));
        assert!(serial_revoked(&parse_serial_list("0c"), "0c", 0));
    }

    #[test]
    fn renewal_is_due_inside_the_window_only() {
        let day = 86_400_000;
        assert!(!renewal_due(100 * day, 30 * day, 69 * day));
        assert!(renewal_due(100 * day, 30 * day, 71 * day));
        assert!(renewal_due(100 * day, 30 * day, 200 * day));
    }
}
