//! `SUIT_Envelope_Tagged` and its authentication wrapper (draft §8.2, §8.3).

use super::cbor::{Reader, MAJOR_TSTR};
use super::cose::Sign1;
use super::manifest::{Manifest, Severable};
use super::{Digest, Member, Sha256Fn, TAG_ENVELOPE};
use crate::error::{DecodeError, DecodeErrorKind as Kind};

/// Most COSE_Sign1 blocks one envelope may carry (k-of-n thresholds need a few, not many).
pub const MAX_SIGNATURES: usize = 8;

/// An envelope whose structure is checked but whose manifest is not yet interpreted.
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    digest: Digest<'a>,
    digest_encoded: &'a [u8],
    signatures: Sign1Iter<'a>,
    manifest_bstr: &'a [u8],
    manifest: &'a [u8],
    manifest_offset: usize,
    severable: Severable<'a>,
}

impl<'a> Envelope<'a> {
    /// Walks the envelope and authentication wrapper; the manifest bstr is located, not read.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes, 0);
        // draft §8.2: SUIT_Envelope_Tagged = #6.107(SUIT_Envelope).
        if r.tag()? != TAG_ENVELOPE {
            return Err(DecodeError::new(Kind::UnexpectedValue, 0));
        }
        let map_at = r.offset();
        let mut auth = None;
        let mut manifest = None;
        let mut severable = Severable::default();
        for _ in 0..r.map_len()? {
            let at = r.offset();
            if r.peek_major()? == MAJOR_TSTR {
                // draft §5.5: integrated payloads; the profile fetches payloads by URI instead.
                return Err(DecodeError::new(Kind::UnsupportedFeature, at));
            }
            match Member(r.int()?) {
                Member::AUTHENTICATION_WRAPPER => auth = Some(r.bstr_cbor()?),
                Member::MANIFEST => {
                    // draft §8.3: the authentication wrapper MUST come before the manifest.
                    if auth.is_none() {
                        return Err(DecodeError::new(Kind::UnexpectedValue, at));
                    }
                    manifest = Some(r.bstr_item()?)
                }
                Member::INSTALL => severable.install = Some(r.bstr_item()?),
                Member::TEXT => severable.text = Some(r.bstr_item()?),
                Member::PAYLOAD_FETCH => return Err(DecodeError::new(Kind::UnsupportedFeature, at)),
                _ => return Err(DecodeError::new(Kind::UnknownCriticalMember, at)),
            }
        }
        r.finish()?;
        let mut auth = auth.ok_or(DecodeError::new(Kind::MissingMember, map_at))?;
        let (manifest_bstr, manifest, manifest_offset) =
            manifest.ok_or(DecodeError::new(Kind::MissingMember, map_at))?;

        // draft §8.3: SUIT_Authentication = [ bstr .cbor SUIT_Digest, * bstr .cbor auth block ].
        let auth_at = auth.offset();
        let count = auth.array_len()?;
        let (_, digest_encoded, digest_at) = auth.bstr_item()?;
        let digest = Digest::decode(digest_encoded, digest_at)?;
        let blocks = count.saturating_sub(1);
        if blocks == 0 {
            // Unsigned manifests are outside the profile: something must vouch for the digest.
            return Err(DecodeError::new(Kind::MissingMember, auth_at));
        }
        if blocks > MAX_SIGNATURES {
            return Err(DecodeError::new(Kind::TooManyEntries, auth_at));
        }
        let signatures = Sign1Iter {
            reader: auth,
            remaining: blocks,
        };
        // Check every block's structure now, so that iteration later cannot fail.
        for block in signatures {
            block?;
        }
        let mut end = auth;
        for _ in 0..blocks {
            end.bstr()?;
        }
        end.finish()?;
        Ok(Self {
            digest,
            digest_encoded,
            signatures,
            manifest_bstr,
            manifest,
            manifest_offset,
            severable,
        })
    }

    /// The signed SUIT_Digest of the manifest.
    pub fn digest(&self) -> Digest<'a> {
        self.digest
    }

    /// The encoded SUIT_Digest: the detached COSE payload (draft §8.3).
    pub fn digest_encoded(&self) -> &'a [u8] {
        self.digest_encoded
    }

    /// The COSE_Sign1 blocks, in order.
    pub fn signatures(&self) -> Sign1Iter<'a> {
        self.signatures
    }

    /// The manifest as an encoded bstr *including its CBOR header*: what the digest covers (draft §8.3).
    pub fn manifest_bstr(&self) -> &'a [u8] {
        self.manifest_bstr
    }

    /// Interprets the manifest. Call only after the signatures over [`Self::digest_encoded`]
    /// verified and `sha256(manifest_bstr)` equals [`Self::digest`] (draft §8.3; RFC 9124 REQ.SEC.AUTHENTIC).
    /// `sha256` also checks severable members against their digests (draft §8.6).
    pub fn manifest(&self, sha256: &impl Sha256Fn) -> Result<Manifest<'a>, DecodeError> {
        Manifest::decode(self.manifest, self.manifest_offset, self.severable, sha256)
    }
}

/// Iterates the COSE_Sign1 blocks of an authentication wrapper.
#[derive(Debug, Clone, Copy)]
pub struct Sign1Iter<'a> {
    reader: Reader<'a>,
    remaining: usize,
}

impl<'a> Iterator for Sign1Iter<'a> {
    type Item = Result<Sign1<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining = self.remaining.saturating_sub(1);
        let block = self.reader.bstr_cbor().and_then(|mut r| {
            let sign1 = Sign1::read(&mut r)?;
            r.finish()?;
            Ok(sign1)
        });
        if block.is_err() {
            self.remaining = 0;
        }
        Some(block)
    }
}
