//! The canonical encoding our tools emit (feature `alloc`).
//!
//! Deterministic (RFC 8949 §4.2.1): preferred integer/length encodings, definite lengths, map
//! keys in bytewise order of their encodings.
//!
//! [`EnvelopeBuilder`] makes a whole envelope: it encodes the manifest and text, hashes them,
//! hands out the bytes each key signs and assembles the signed envelope. The pieces it is made
//! of ([`manifest_bstr`], [`digest`], [`sig_structure`], [`sign1`], [`envelope`], [`Writer`])
//! stay public for tests that need an envelope the builder would never make.

mod builder;

use alloc::vec::Vec;

pub use builder::{BuildError, EnvelopeBuilder};

use super::{Command, CoseAlg, DeltaFormat, DigestAlg, Member, Parameter, SHA256_LEN, TAG_COSE_SIGN1, TAG_ENVELOPE};

/// Reporting policy the draft's examples use for conditions: record and sysinfo on both outcomes.
const REP_ALL: u64 = 15;
/// Reporting policy for directives: send a record on failure.
const REP_FAILURE: u64 = 2;

/// A patch the manifest allows (see [`super::DeltaPatch`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaFields<'a> {
    pub format: DeltaFormat,
    pub precursor_digest: [u8; SHA256_LEN],
    pub precursor_size: u64,
    pub patch_digest: [u8; SHA256_LEN],
    pub patch_size: u64,
    pub uri: &'a str,
}

/// Everything that goes into our manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestFields<'a> {
    pub sequence: u64,
    pub vendor_id: [u8; 16],
    pub class_id: [u8; 16],
    /// SHA-256 of the complete signed image.
    pub image_digest: [u8; SHA256_LEN],
    pub image_size: u64,
    pub install_uri: &'a str,
    pub deltas: &'a [DeltaFields<'a>],
}

/// The severable text member's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextFields<'a> {
    pub language: &'a str,
    pub version: &'a str,
    pub notes: &'a str,
}

/// The single component's identifier, `[h'00']`, as in the draft's examples.
pub const COMPONENT_ID: &[u8] = &[0x81, 0x41, 0x00];

/// A CBOR writer with preferred encodings only.
#[derive(Debug, Default)]
pub struct Writer {
    pub out: Vec<u8>,
}

impl Writer {
    pub fn head(&mut self, major: u8, arg: u64) -> &mut Self {
        let m = major << 5;
        // Truncating casts are exact in each arm: the range is checked by the match.
        match arg {
            0..=23 => self.out.push(m | arg.to_be_bytes()[7]),
            24..=0xff => self.out.extend_from_slice(&[m | 24, arg.to_be_bytes()[7]]),
            0x100..=0xffff => {
                self.out.push(m | 25);
                self.out.extend_from_slice(&arg.to_be_bytes()[6..]);
            }
            0x1_0000..=0xffff_ffff => {
                self.out.push(m | 26);
                self.out.extend_from_slice(&arg.to_be_bytes()[4..]);
            }
            _ => {
                self.out.push(m | 27);
                self.out.extend_from_slice(&arg.to_be_bytes());
            }
        }
        self
    }

    pub fn uint(&mut self, v: u64) -> &mut Self {
        self.head(0, v)
    }

    pub fn int(&mut self, v: i64) -> &mut Self {
        if v >= 0 {
            self.head(0, v.unsigned_abs())
        } else {
            // RFC 8949 §3.1: -1 - n.
            self.head(1, v.unsigned_abs() - 1)
        }
    }

    pub fn bstr(&mut self, bytes: &[u8]) -> &mut Self {
        self.head(2, bytes.len() as u64);
        self.out.extend_from_slice(bytes);
        self
    }

    pub fn tstr(&mut self, text: &str) -> &mut Self {
        self.head(3, text.len() as u64);
        self.out.extend_from_slice(text.as_bytes());
        self
    }

    pub fn array(&mut self, len: usize) -> &mut Self {
        self.head(4, len as u64)
    }

    pub fn map(&mut self, len: usize) -> &mut Self {
        self.head(5, len as u64)
    }

    pub fn tag(&mut self, tag: u64) -> &mut Self {
        self.head(6, tag)
    }

    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.out.extend_from_slice(bytes);
        self
    }

    pub fn null(&mut self) -> &mut Self {
        self.out.push(0xf6);
        self
    }

    /// `bstr .cbor T`: `build` writes T, which is then wrapped.
    pub fn wrapped(&mut self, build: impl FnOnce(&mut Writer)) -> &mut Self {
        let mut inner = Writer::default();
        build(&mut inner);
        self.bstr(&inner.out)
    }
}

/// An encoded SUIT_Digest `[-16, h'..']`.
pub fn digest(sha256: &[u8; SHA256_LEN]) -> Vec<u8> {
    let mut w = Writer::default();
    write_digest(&mut w, sha256);
    w.out
}

fn write_digest(w: &mut Writer, sha256: &[u8; SHA256_LEN]) {
    w.array(2).int(DigestAlg::SHA256.0).bstr(sha256);
}

/// The text member as an encoded bstr (header included: what its digest covers).
pub fn text_bstr(text: &TextFields<'_>) -> Vec<u8> {
    let mut w = Writer::default();
    w.wrapped(|w| {
        w.map(1).tstr(text.language);
        // Keys in canonical order: 2 (update-description) before the component-id array.
        w.map(2).int(2).tstr(text.notes);
        w.raw(COMPONENT_ID).map(1).int(6).tstr(text.version);
    });
    w.out
}

/// The manifest as an encoded bstr (header included: what the authentication digest covers).
/// `text_digest` is the SHA-256 of [`text_bstr`], when a text member is sent.
pub fn manifest_bstr(m: &ManifestFields<'_>, text_digest: Option<&[u8; SHA256_LEN]>) -> Vec<u8> {
    let mut w = Writer::default();
    w.wrapped(|w| {
        let members = 5 + usize::from(text_digest.is_some());
        w.map(members);
        w.int(Member::VERSION.0).uint(1);
        w.int(Member::SEQUENCE_NUMBER.0).uint(m.sequence);
        w.int(Member::COMMON.0).wrapped(|w| write_common(w, m));
        w.int(Member::VALIDATE.0).wrapped(|w| {
            w.array(2).int(Command::CONDITION_IMAGE_MATCH.0).uint(REP_ALL);
        });
        w.int(Member::INSTALL.0).wrapped(|w| {
            w.array(6);
            w.int(Command::DIRECTIVE_OVERRIDE_PARAMETERS.0)
                .map(1)
                .int(Parameter::URI.0)
                .tstr(m.install_uri);
            w.int(Command::DIRECTIVE_FETCH.0).uint(REP_FAILURE);
            w.int(Command::CONDITION_IMAGE_MATCH.0).uint(REP_ALL);
        });
        if let Some(d) = text_digest {
            w.int(Member::TEXT.0);
            write_digest(w, d);
        }
    });
    w.out
}

fn write_common(w: &mut Writer, m: &ManifestFields<'_>) {
    w.map(2);
    w.int(Member::COMMON_COMPONENTS.0).array(1).raw(COMPONENT_ID);
    w.int(Member::COMMON_SHARED_SEQUENCE.0).wrapped(|w| {
        w.array(6).int(Command::DIRECTIVE_OVERRIDE_PARAMETERS.0);
        w.map(4 + usize::from(!m.deltas.is_empty()));
        w.int(Parameter::VENDOR_IDENTIFIER.0).bstr(&m.vendor_id);
        w.int(Parameter::CLASS_IDENTIFIER.0).bstr(&m.class_id);
        w.int(Parameter::IMAGE_DIGEST.0)
            .wrapped(|w| write_digest(w, &m.image_digest));
        w.int(Parameter::IMAGE_SIZE.0).uint(m.image_size);
        if !m.deltas.is_empty() {
            w.int(Parameter::FWSIGN_DELTA_PATCHES.0).wrapped(|w| {
                w.array(m.deltas.len());
                for d in m.deltas {
                    w.array(6).uint(d.format.0);
                    write_digest(w, &d.precursor_digest);
                    w.uint(d.precursor_size);
                    write_digest(w, &d.patch_digest);
                    w.uint(d.patch_size).tstr(d.uri);
                }
            });
        }
        w.int(Command::CONDITION_VENDOR_IDENTIFIER.0).uint(REP_ALL);
        w.int(Command::CONDITION_CLASS_IDENTIFIER.0).uint(REP_ALL);
    });
}

/// The protected header `{1: alg}`, or `{1: alg, 4: kid}` with the signer's key id,
/// serialized (the contents of the protected bstr; labels in deterministic order).
pub fn protected_header(alg: CoseAlg, kid: Option<&[u8; super::KID_LEN]>) -> Vec<u8> {
    let mut w = Writer::default();
    match kid {
        None => {
            w.map(1).int(1).int(alg.0);
        }
        Some(kid) => {
            w.map(2).int(1).int(alg.0).int(4).bstr(kid);
        }
    }
    w.out
}

/// RFC 9052 §4.4 `Sig_structure` for a COSE_Sign1 with empty external_aad and the detached
/// payload (the encoded SUIT_Digest).
pub fn sig_structure(protected: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut w = Writer::default();
    w.array(4).tstr("Signature1").bstr(protected).bstr(&[]).bstr(payload);
    w.out
}

/// `COSE_Sign1_Tagged` with an empty unprotected map and a nil (detached) payload.
pub fn sign1(protected: &[u8], signature: &[u8]) -> Vec<u8> {
    let mut w = Writer::default();
    w.tag(TAG_COSE_SIGN1)
        .array(4)
        .bstr(protected)
        .map(0)
        .null()
        .bstr(signature);
    w.out
}

/// `SUIT_Envelope_Tagged`. `manifest_bstr` and `text_bstr` are already-encoded bstrs.
pub fn envelope(digest_encoded: &[u8], sign1s: &[Vec<u8>], manifest_bstr: &[u8], text_bstr: Option<&[u8]>) -> Vec<u8> {
    let mut w = Writer::default();
    w.tag(TAG_ENVELOPE).map(2 + usize::from(text_bstr.is_some()));
    w.int(Member::AUTHENTICATION_WRAPPER.0).wrapped(|w| {
        w.array(1 + sign1s.len()).bstr(digest_encoded);
        for s in sign1s {
            w.bstr(s);
        }
    });
    w.int(Member::MANIFEST.0).raw(manifest_bstr);
    if let Some(text) = text_bstr {
        w.int(Member::TEXT.0).raw(text);
    }
    w.out
}
