//! `SUIT_Common` (draft §8.4.5): the one component and the shared sequence that sets and checks
//! the device identity and the image the manifest is about.

use super::cbor::{Reader, MAJOR_TAG};
use super::delta::DeltaIter;
use super::manifest::{read_sequence, unsupported};
use super::{Command, Digest, Member, Parameter, UUID_LEN};
use crate::error::{DecodeError, DecodeErrorKind as Kind};

/// What the shared sequence established. Vendor and class were both set *and* checked by
/// conditions (draft §8.4.9.1), so a device must compare them with its own identity.
#[derive(Debug, Clone, Copy)]
pub struct Common<'a> {
    component: &'a [u8],
    vendor_id: &'a [u8; UUID_LEN],
    class_id: &'a [u8; UUID_LEN],
    image_digest: Digest<'a>,
    image_size: u64,
    deltas: DeltaIter<'a>,
}

impl<'a> Common<'a> {
    /// The encoded `SUIT_Component_Identifier` of the single component.
    pub fn component(&self) -> &'a [u8] {
        self.component
    }

    /// draft §8.4.8.3: vendor-identifier, an RFC 4122 UUID.
    pub fn vendor_id(&self) -> &'a [u8; UUID_LEN] {
        self.vendor_id
    }

    /// draft §8.4.8.4: class-identifier, an RFC 4122 UUID.
    pub fn class_id(&self) -> &'a [u8; UUID_LEN] {
        self.class_id
    }

    /// draft §8.4.8.6: SHA-256 of the complete signed image.
    pub fn image_digest(&self) -> Digest<'a> {
        self.image_digest
    }

    /// draft §8.4.8.7: size of the complete signed image.
    pub fn image_size(&self) -> u64 {
        self.image_size
    }

    /// Our delta extension: patches allowed to produce this image (may be empty).
    pub fn deltas(&self) -> DeltaIter<'a> {
        self.deltas
    }

    pub(crate) fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let start = r.offset();
        let (mut component, mut shared) = (None, None);
        for _ in 0..r.map_len()? {
            let at = r.offset();
            match Member(r.int()?) {
                Member::COMMON_COMPONENTS => component = Some(read_components(r)?),
                Member::COMMON_SHARED_SEQUENCE => shared = Some(r.bstr_cbor()?),
                _ => return Err(DecodeError::new(Kind::UnknownCriticalMember, at)),
            }
        }
        r.finish()?;
        let missing = DecodeError::new(Kind::MissingMember, start);
        let component = component.ok_or(missing)?;
        let mut shared = shared.ok_or(missing)?;
        let shared_at = shared.offset();
        let mut state = State::default();
        read_sequence(&mut shared, |command, r, at| state.command(command, r, at))?;
        let missing = DecodeError::new(Kind::MissingMember, shared_at);
        match state {
            State {
                vendor_id: Some(vendor_id),
                class_id: Some(class_id),
                image_digest: Some(image_digest),
                image_size: Some(image_size),
                vendor_checked: true,
                class_checked: true,
                deltas,
            } => Ok(Self {
                component,
                vendor_id,
                class_id,
                image_digest,
                image_size,
                deltas: deltas.unwrap_or_default(),
            }),
            _ => Err(missing),
        }
    }
}

/// `SUIT_Components = [ + SUIT_Component_Identifier ]`, exactly one in the profile.
fn read_components<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], DecodeError> {
    let at = r.offset();
    match r.array_len()? {
        1 => {}
        0 => return Err(DecodeError::new(Kind::UnexpectedValue, at)),
        // Several components need component-index handling the profile leaves out.
        _ => return Err(DecodeError::new(Kind::UnsupportedFeature, at)),
    }
    let mut check = *r;
    let component = r.raw_item()?;
    // SUIT_Component_Identifier = [* bstr]
    for _ in 0..check.array_len()? {
        check.bstr()?;
    }
    Ok(component)
}

/// SUIT_Rep_Policy (draft §8.4.7): reporting bits, which do not change what is verified.
pub(crate) fn read_policy(r: &mut Reader<'_>) -> Result<(), DecodeError> {
    r.uint().map(drop)
}

/// Parameters as the shared sequence sets them; each at most once, so what a condition checked
/// is what the device later sees.
#[derive(Default)]
struct State<'a> {
    vendor_id: Option<&'a [u8; UUID_LEN]>,
    class_id: Option<&'a [u8; UUID_LEN]>,
    image_digest: Option<Digest<'a>>,
    image_size: Option<u64>,
    deltas: Option<DeltaIter<'a>>,
    vendor_checked: bool,
    class_checked: bool,
}

fn set_once<T>(slot: &mut Option<T>, value: T, at: usize) -> Result<(), DecodeError> {
    if slot.is_some() {
        return Err(DecodeError::new(Kind::DuplicateKey, at));
    }
    *slot = Some(value);
    Ok(())
}

fn uuid<'a>(r: &mut Reader<'a>) -> Result<&'a [u8; UUID_LEN], DecodeError> {
    let at = r.offset();
    if r.peek_major()? == MAJOR_TAG {
        // draft §8.4.8.3: a CBOR PEN (tag 112) vendor id; the profile uses UUIDs only.
        return Err(DecodeError::new(Kind::UnsupportedFeature, at));
    }
    // RFC4122_UUID = bstr .size 16
    r.bstr()?
        .try_into()
        .map_err(|_| DecodeError::new(Kind::UnexpectedValue, at))
}

impl<'a> State<'a> {
    fn command(&mut self, command: Command, r: &mut Reader<'a>, at: usize) -> Result<(), DecodeError> {
        match command {
            Command::DIRECTIVE_OVERRIDE_PARAMETERS => {
                // draft §8.4.10.3: `{+ $$SUIT_Parameters}`, at least one parameter.
                let count = r.map_len()?;
                if count == 0 {
                    return Err(DecodeError::new(Kind::UnexpectedValue, at));
                }
                for _ in 0..count {
                    let key_at = r.offset();
                    match Parameter(r.int()?) {
                        Parameter::VENDOR_IDENTIFIER => set_once(&mut self.vendor_id, uuid(r)?, key_at)?,
                        Parameter::CLASS_IDENTIFIER => set_once(&mut self.class_id, uuid(r)?, key_at)?,
                        Parameter::IMAGE_DIGEST => {
                            // image-digest = bstr .cbor SUIT_Digest
                            let mut wrapped = r.bstr_cbor()?;
                            let digest = Digest::read(&mut wrapped)?;
                            wrapped.finish()?;
                            set_once(&mut self.image_digest, digest, key_at)?;
                        }
                        Parameter::IMAGE_SIZE => set_once(&mut self.image_size, r.uint()?, key_at)?,
                        Parameter::FWSIGN_DELTA_PATCHES => {
                            let (_, contents, offset) = r.bstr_item()?;
                            set_once(&mut self.deltas, DeltaIter::decode(contents, offset)?, key_at)?;
                        }
                        p if p.is_known() => return Err(DecodeError::new(Kind::UnsupportedCommand, key_at)),
                        _ => return Err(DecodeError::new(Kind::UnknownCriticalMember, key_at)),
                    }
                }
            }
            // draft §8.4.9.1: the conditions compare the parameters with the device's identity.
            Command::CONDITION_VENDOR_IDENTIFIER => {
                if self.vendor_id.is_none() {
                    return Err(DecodeError::new(Kind::ParameterNotSet, at));
                }
                read_policy(r)?;
                self.vendor_checked = true;
            }
            Command::CONDITION_CLASS_IDENTIFIER => {
                if self.class_id.is_none() {
                    return Err(DecodeError::new(Kind::ParameterNotSet, at));
                }
                read_policy(r)?;
                self.class_checked = true;
            }
            _ => return Err(unsupported(command, at)),
        }
        Ok(())
    }
}
