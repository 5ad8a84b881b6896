//! The text member (draft §8.4.4): `SUIT_Text_Map = { + language => SUIT_Text_LMap }`.
//!
//! Text is recipient-unnecessary: it changes nothing the device does, so unknown text keys are
//! non-critical and skipped (after a well-formedness check). We read, from the first language:
//! `suit-text-update-description` (2) as the release notes, `suit-text-manifest-description` (1),
//! and our component's `suit-text-component-version` (6) as the version string.

use super::cbor::{Reader, MAJOR_ARRAY, MAJOR_TSTR};
use crate::error::{DecodeError, DecodeErrorKind as Kind};

const MANIFEST_DESCRIPTION: i64 = 1;
const UPDATE_DESCRIPTION: i64 = 2;
const COMPONENT_VERSION: i64 = 6;

/// Human-readable release text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Text<'a> {
    /// The language tag of the entry read (the first in the map), e.g. "en".
    pub language: &'a str,
    /// Component version string (suit-text-component-version).
    pub version: Option<&'a str>,
    /// Release notes (suit-text-update-description).
    pub notes: Option<&'a str>,
    /// suit-text-manifest-description.
    pub description: Option<&'a str>,
}

impl<'a> Text<'a> {
    pub(crate) fn read(r: &mut Reader<'a>, component: &[u8]) -> Result<Self, DecodeError> {
        let at = r.offset();
        let languages = r.map_len()?;
        if languages == 0 {
            return Err(DecodeError::new(Kind::MissingMember, at));
        }
        let mut text = Text::default();
        for i in 0..languages {
            let language = r.tstr()?;
            if i == 0 {
                text.language = language;
                text.read_lmap(r, component)?;
            } else {
                r.skip()?;
            }
        }
        r.finish()?;
        Ok(text)
    }

    fn read_lmap(&mut self, r: &mut Reader<'a>, component: &[u8]) -> Result<(), DecodeError> {
        for _ in 0..r.map_len()? {
            if r.peek_major()? == MAJOR_ARRAY {
                let id = r.raw_item()?;
                if id == component {
                    for _ in 0..r.map_len()? {
                        match r.int()? {
                            COMPONENT_VERSION => self.version = Some(r.tstr()?),
                            _ => skip_text(r)?,
                        }
                    }
                } else {
                    r.skip()?;
                }
                continue;
            }
            match r.int()? {
                MANIFEST_DESCRIPTION => self.description = Some(r.tstr()?),
                UPDATE_DESCRIPTION => self.notes = Some(r.tstr()?),
                _ => skip_text(r)?,
            }
        }
        Ok(())
    }
}

/// Every defined text value is a tstr; other values are skipped only if well-formed.
fn skip_text(r: &mut Reader<'_>) -> Result<(), DecodeError> {
    if r.peek_major()? == MAJOR_TSTR {
        r.tstr().map(drop)
    } else {
        r.skip()
    }
}
