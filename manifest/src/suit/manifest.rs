//! `SUIT_Manifest` (draft §8.4) in the profile: one component; validate checks the image;
//! install fetches it from a URI; invoke (optional) boots it; text is optional and severable.

use super::cbor::{Reader, MAJOR_ARRAY};
use super::common::{read_policy, Common};
use super::text::Text;
use super::{Command, Digest, Member, Parameter, Sha256Fn};
use crate::error::{DecodeError, DecodeErrorKind as Kind};

/// A bstr found in the envelope: `(encoded item with header, contents, contents offset)`.
pub(crate) type Bstr<'a> = (&'a [u8], &'a [u8], usize);

/// Severable members carried in the envelope (draft §8.6).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Severable<'a> {
    pub(crate) install: Option<Bstr<'a>>,
    pub(crate) text: Option<Bstr<'a>>,
}

/// The decoded manifest: a borrowed view; nothing here is trusted until the caller has
/// authenticated the envelope (see [`super::Envelope::manifest`]).
#[derive(Debug, Clone, Copy)]
pub struct Manifest<'a> {
    sequence: u64,
    common: Common<'a>,
    reference_uri: Option<&'a str>,
    install_uri: Option<&'a str>,
    invoke: bool,
    text: Option<Text<'a>>,
}

/// A severable member as the manifest holds it: inline or as the digest of the envelope's copy.
enum Choice<'a> {
    Inline(Reader<'a>),
    Severed(Digest<'a>, usize),
}

fn read_choice<'a>(r: &mut Reader<'a>) -> Result<Choice<'a>, DecodeError> {
    let at = r.offset();
    if r.peek_major()? == MAJOR_ARRAY {
        Ok(Choice::Severed(Digest::read(r)?, at))
    } else {
        Ok(Choice::Inline(r.bstr_cbor()?))
    }
}

/// draft §8.6, §8.4.12: a severed member is authenticated by the digest of its encoded bstr
/// (header included) held in the manifest; an envelope copy without a digest is unauthenticated.
fn resolve<'a>(
    choice: Option<Choice<'a>>,
    member: Option<Bstr<'a>>,
    required: bool,
    sha256: &impl Sha256Fn,
) -> Result<Option<Reader<'a>>, DecodeError> {
    match (choice, member) {
        (None, None) => Ok(None),
        (Some(Choice::Inline(r)), None) => Ok(Some(r)),
        (Some(Choice::Severed(digest, at)), Some((whole, contents, offset))) => {
            if sha256.sha256(whole) != *digest.bytes {
                return Err(DecodeError::new(Kind::SeveredDigestMismatch, at));
            }
            Ok(Some(Reader::new(contents, offset)))
        }
        (Some(Choice::Severed(_, at)), None) => {
            if required {
                Err(DecodeError::new(Kind::SeveredMemberMissing, at))
            } else {
                // Text is recipient-unnecessary (draft §8.4.4): it may have been stripped.
                Ok(None)
            }
        }
        (_, Some((_, _, offset))) => Err(DecodeError::new(Kind::SeveredDigestMismatch, offset)),
    }
}

impl<'a> Manifest<'a> {
    pub(crate) fn decode(
        bytes: &'a [u8],
        base: usize,
        severable: Severable<'a>,
        sha256: &impl Sha256Fn,
    ) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes, base);
        let (mut version, mut sequence, mut common, mut reference_uri) = (false, None, None, None);
        let (mut validate, mut invoke, mut install, mut text) = (None, None, None, None);
        for _ in 0..r.map_len()? {
            let at = r.offset();
            match Member(r.int()?) {
                Member::VERSION => {
                    // draft §8.4.1: manifest-version is 1.
                    if r.uint()? != 1 {
                        return Err(DecodeError::new(Kind::UnexpectedValue, at));
                    }
                    version = true;
                }
                Member::SEQUENCE_NUMBER => sequence = Some(r.uint()?),
                Member::COMMON => common = Some(r.bstr_cbor()?),
                Member::REFERENCE_URI => reference_uri = Some(r.tstr()?),
                Member::VALIDATE => validate = Some(r.bstr_cbor()?),
                Member::INVOKE => invoke = Some(r.bstr_cbor()?),
                Member::INSTALL => install = Some(read_choice(&mut r)?),
                Member::TEXT => text = Some(read_choice(&mut r)?),
                Member::LOAD | Member::PAYLOAD_FETCH => return Err(DecodeError::new(Kind::UnsupportedFeature, at)),
                // Every other member of the signed manifest could change what the device does:
                // all of them are critical.
                _ => return Err(DecodeError::new(Kind::UnknownCriticalMember, at)),
            }
        }
        r.finish()?;
        let missing = DecodeError::new(Kind::MissingMember, base);
        if !version {
            return Err(missing);
        }
        let sequence = sequence.ok_or(missing)?;
        let common = Common::read(&mut common.ok_or(missing)?)?;

        // The profile's validate sequence checks the image (condition-image-match) before boot.
        let mut validate = validate.ok_or(missing)?;
        read_image_match_only(&mut validate)?;
        if let Some(mut invoke) = invoke {
            read_invoke(&mut invoke)?;
        }
        let install_uri = match resolve(install, severable.install, true, sha256)? {
            Some(mut r) => Some(read_install(&mut r)?),
            None => None,
        };
        let text = match resolve(text, severable.text, false, sha256)? {
            Some(mut r) => Some(Text::read(&mut r, common.component())?),
            None => None,
        };
        Ok(Self {
            sequence,
            common,
            reference_uri,
            install_uri,
            invoke: invoke.is_some(),
            text,
        })
    }

    /// draft §8.4.2: the anti-rollback sequence number.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    pub fn common(&self) -> &Common<'a> {
        &self.common
    }

    /// Where to fetch the image (may be relative to where the envelope came from).
    pub fn install_uri(&self) -> Option<&'a str> {
        self.install_uri
    }

    pub fn reference_uri(&self) -> Option<&'a str> {
        self.reference_uri
    }

    /// Whether the manifest asks for the image to be invoked (booted).
    pub fn invoke(&self) -> bool {
        self.invoke
    }

    /// Version string and release notes, if the text member is present.
    pub fn text(&self) -> Option<&Text<'a>> {
        self.text.as_ref()
    }
}

/// Reads `[ + (command, argument) ]` pairs, calling `each(command, reader, offset)`.
pub(crate) fn read_sequence<'a>(
    r: &mut Reader<'a>,
    mut each: impl FnMut(Command, &mut Reader<'a>, usize) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    let at = r.offset();
    let len = r.array_len()?;
    // draft §8.4.6: a command sequence is a non-empty list of (command, argument) pairs.
    if len == 0 || len % 2 != 0 {
        return Err(DecodeError::new(Kind::UnexpectedValue, at));
    }
    for _ in 0..len / 2 {
        let cmd_at = r.offset();
        let command = Command(r.int()?);
        each(command, r, cmd_at)?;
    }
    r.finish()
}

/// The error for a command outside the profile: known ones are unsupported, others critical.
pub(crate) fn unsupported(command: Command, at: usize) -> DecodeError {
    if command.is_known() {
        DecodeError::new(Kind::UnsupportedCommand, at)
    } else {
        DecodeError::new(Kind::UnknownCriticalMember, at)
    }
}

fn read_image_match_only(r: &mut Reader<'_>) -> Result<(), DecodeError> {
    read_sequence(r, |command, r, at| match command {
        // draft §8.4.9.2: condition-image-match compares the component with image-digest/size.
        Command::CONDITION_IMAGE_MATCH => read_policy(r),
        _ => Err(unsupported(command, at)),
    })
}

fn read_invoke(r: &mut Reader<'_>) -> Result<(), DecodeError> {
    read_sequence(r, |command, r, at| match command {
        Command::DIRECTIVE_INVOKE => read_policy(r),
        _ => Err(unsupported(command, at)),
    })
}

/// install = [ override-parameters {uri}, directive-fetch, condition-image-match ].
fn read_install<'a>(r: &mut Reader<'a>) -> Result<&'a str, DecodeError> {
    let start = r.offset();
    let (mut uri, mut fetched, mut matched) = (None, false, false);
    read_sequence(r, |command, r, at| {
        match command {
            Command::DIRECTIVE_OVERRIDE_PARAMETERS => {
                let count = r.map_len()?;
                if count == 0 {
                    return Err(DecodeError::new(Kind::UnexpectedValue, at));
                }
                for _ in 0..count {
                    let key_at = r.offset();
                    match Parameter(r.int()?) {
                        Parameter::URI => uri = Some(r.tstr()?),
                        p if p.is_known() => return Err(DecodeError::new(Kind::UnsupportedCommand, key_at)),
                        _ => return Err(DecodeError::new(Kind::UnknownCriticalMember, key_at)),
                    }
                }
            }
            Command::DIRECTIVE_FETCH => {
                // draft §8.4.10.4: fetch uses the uri parameter, which must be set.
                if uri.is_none() {
                    return Err(DecodeError::new(Kind::ParameterNotSet, at));
                }
                read_policy(r)?;
                fetched = true;
            }
            Command::CONDITION_IMAGE_MATCH if fetched => {
                read_policy(r)?;
                matched = true;
            }
            _ => return Err(unsupported(command, at)),
        }
        Ok(())
    })?;
    match uri {
        Some(uri) if fetched && matched => Ok(uri),
        _ => Err(DecodeError::new(Kind::MissingMember, start)),
    }
}
