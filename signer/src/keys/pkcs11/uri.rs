//! RFC 7512 PKCS#11 URIs: `pkcs11:token=fw-release;object=image-key-2026;id=%01?module-path=...`.
//!
//! Path attributes (before `?`) are separated by `;`, query attributes (after `?`) by `&`
//! (RFC 7512 §2.3). Values are percent-decoded (RFC 3986 §2.1). Unknown path attributes starting
//! with `x-` are vendor extensions and ignored; other unknown attributes are refused so that a
//! typo (`objekt=`) cannot silently select a different key.

use std::path::PathBuf;

use crate::error::Error;

/// The parts of a PKCS#11 URI the signer uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// `token`: the token label (CK_TOKEN_INFO.label).
    pub token: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    /// `serial`: the token serial number.
    pub serial: Option<String>,
    /// `slot-id`: a decimal slot number.
    pub slot_id: Option<u64>,
    /// `object`: the key label (CKA_LABEL).
    pub object: Option<String>,
    /// `id`: the key id (CKA_ID), raw bytes.
    pub id: Option<Vec<u8>>,
    /// `type`: private, public, cert, secret-key, data.
    pub object_type: Option<String>,
    /// `module-path` (query, RFC 7512 §2.3).
    pub module_path: Option<PathBuf>,
    /// `module-name` (query): a module file name without directory or suffix.
    pub module_name: Option<String>,
    /// `pin-source` (query): `file:/path` or a plain path.
    pub pin_source: Option<String>,
}

fn bad_uri(message: impl Into<String>) -> Error {
    Error::usage(format!("invalid PKCS#11 URI: {}", message.into()))
        .with_hint("use RFC 7512 form, e.g. 'pkcs11:token=fw-release;object=image-key-2026' (quote it for the shell)")
}

/// RFC 3986 §2.1 percent-decoding to bytes.
pub fn percent_decode(text: &str) -> Result<Vec<u8>, Error> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| bad_uri(format!("bad percent-escape in {text:?}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn decode_text(name: &str, value: &str) -> Result<String, Error> {
    String::from_utf8(percent_decode(value)?)
        .map_err(|_| bad_uri(format!("{name} is not UTF-8 after percent-decoding")))
}

impl Pkcs11Uri {
    /// True if `spec` names a PKCS#11 object rather than a file.
    pub fn is_pkcs11(spec: &str) -> bool {
        spec.get(..7).is_some_and(|s| s.eq_ignore_ascii_case("pkcs11:"))
    }

    pub fn parse(spec: &str) -> Result<Self, Error> {
        if !Self::is_pkcs11(spec) {
            return Err(bad_uri("it does not start with pkcs11:"));
        }
        let rest = &spec[7..];
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let mut uri = Self::default();
        for attr in path.split(';').filter(|a| !a.is_empty()) {
            let (name, value) = attr
                .split_once('=')
                .ok_or_else(|| bad_uri(format!("path attribute {attr:?} has no '='")))?;
            uri.set_path_attr(name, value)?;
        }
        for attr in query.into_iter().flat_map(|q| q.split('&')).filter(|a| !a.is_empty()) {
            let (name, value) = attr
                .split_once('=')
                .ok_or_else(|| bad_uri(format!("query attribute {attr:?} has no '='")))?;
            uri.set_query_attr(name, value)?;
        }
        Ok(uri)
    }

    fn set_path_attr(&mut self, name: &str, value: &str) -> Result<(), Error> {
        let slot = match name {
            "token" => &mut self.token,
            "manufacturer" => &mut self.manufacturer,
            "model" => &mut self.model,
            "serial" => &mut self.serial,
            "object" => &mut self.object,
            "type" => &mut self.object_type,
            "id" => {
                return set_once(&mut self.id, name, percent_decode(value)?);
            }
            "slot-id" => {
                let text = decode_text(name, value)?;
                let n = text
                    .parse()
                    .map_err(|_| bad_uri(format!("slot-id {text:?} is not a decimal number")))?;
                return set_once(&mut self.slot_id, name, n);
            }
            // Attributes we accept but do not need to select a key.
            "library-manufacturer"
            | "library-description"
            | "library-version"
            | "slot-description"
            | "slot-manufacturer" => return Ok(()),
            // Module attributes are query attributes, but some tools put them in the path.
            "module-path" | "module-name" | "pin-source" | "pin-value" => return self.set_query_attr(name, value),
            other if other.starts_with("x-") => return Ok(()),
            other => return Err(bad_uri(format!("unknown path attribute {other:?}"))),
        };
        set_once(slot, name, decode_text(name, value)?)
    }

    fn set_query_attr(&mut self, name: &str, value: &str) -> Result<(), Error> {
        match name {
            "module-path" => set_once(&mut self.module_path, name, PathBuf::from(decode_text(name, value)?)),
            "module-name" => set_once(&mut self.module_name, name, decode_text(name, value)?),
            "pin-source" => set_once(&mut self.pin_source, name, decode_text(name, value)?),
            // The URI is on the command line, where every user of the machine can read it.
            "pin-value" => Err(Error::usage(
                "pin-value in a PKCS#11 URI is refused: the PIN would be visible in the process list and shell history",
            )
            .with_hint(
                "use pin-source=file:/path/to/pin-file, the PKCS11_PIN environment variable, or type it at the prompt",
            )),
            other if other.starts_with("x-") => Ok(()),
            other => Err(bad_uri(format!("unknown query attribute {other:?}"))),
        }
    }

    /// What the URI selects, for messages (never includes the PIN source's content).
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(t) = &self.token {
            parts.push(format!("token={t}"));
        }
        if let Some(s) = &self.serial {
            parts.push(format!("serial={s}"));
        }
        if let Some(s) = self.slot_id {
            parts.push(format!("slot-id={s}"));
        }
        if let Some(o) = &self.object {
            parts.push(format!("object={o}"));
        }
        if let Some(id) = &self.id {
            parts.push(format!("id={}", encode_id(id)));
        }
        format!("pkcs11:{}", parts.join(";"))
    }
}

fn set_once<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<(), Error> {
    if slot.is_some() {
        return Err(bad_uri(format!("attribute {name} appears twice")));
    }
    *slot = Some(value);
    Ok(())
}

/// `%01%02` form of a CKA_ID, as RFC 7512 writes binary ids.
pub fn encode_id(id: &[u8]) -> String {
    id.iter().map(|b| format!("%{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_and_query_attributes() {
        let uri = Pkcs11Uri::parse(
            "pkcs11:token=fw%20release;object=image-key-2026;id=%01%AB;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin",
        )
        .unwrap();
        assert_eq!(uri.token.as_deref(), Some("fw release"));
        assert_eq!(uri.object.as_deref(), Some("image-key-2026"));
        assert_eq!(uri.id.as_deref(), Some(&[0x01, 0xab][..]));
        assert_eq!(uri.object_type.as_deref(), Some("private"));
        assert_eq!(
            uri.module_path.as_deref(),
            Some(std::path::Path::new("/usr/lib/softhsm/libsofthsm2.so"))
        );
        assert_eq!(uri.pin_source.as_deref(), Some("file:/run/pin"));
    }

    #[test]
    fn module_path_in_path_part_is_tolerated() {
        let uri = Pkcs11Uri::parse("pkcs11:token=t;object=k;module-path=/m.so;pin-source=file:/p").unwrap();
        assert_eq!(uri.module_path.as_deref(), Some(std::path::Path::new("/m.so")));
        assert_eq!(uri.pin_source.as_deref(), Some("file:/p"));
    }

    #[test]
    fn pin_value_is_refused() {
        let err = Pkcs11Uri::parse("pkcs11:token=t;object=k?pin-value=1234").unwrap_err();
        assert!(err.message().contains("pin-value"));
        assert!(!err.message().contains("1234"));
    }

    #[test]
    fn typos_and_bad_escapes_are_refused() {
        assert!(Pkcs11Uri::parse("pkcs11:objekt=k").is_err());
        assert!(Pkcs11Uri::parse("pkcs11:object=%4").is_err());
        assert!(Pkcs11Uri::parse("pkcs11:object=%zz").is_err());
        assert!(Pkcs11Uri::parse("pkcs11:object=a;object=b").is_err());
        assert!(Pkcs11Uri::parse("pkcs11:object").is_err());
        assert!(Pkcs11Uri::parse("pkcs11:slot-id=x").is_err());
        assert!(Pkcs11Uri::parse("file:key.pem").is_err());
    }

    #[test]
    fn vendor_and_informational_attributes_are_ignored() {
        let uri = Pkcs11Uri::parse("PKCS11:x-foo=1;library-manufacturer=SoftHSM;slot-id=3;object=k?x-bar=2").unwrap();
        assert_eq!(uri.slot_id, Some(3));
        assert_eq!(uri.object.as_deref(), Some("k"));
    }

    #[test]
    fn id_round_trips_in_describe() {
        let uri = Pkcs11Uri::parse("pkcs11:token=t;id=%00%ff").unwrap();
        assert_eq!(uri.describe(), "pkcs11:token=t;id=%00%ff");
    }
}
