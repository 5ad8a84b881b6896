//! The exported C functions. This is the only module of the verifier stack that may use
//! `unsafe`: exporting unmangled symbols and turning C pointers into Rust references.
//! Each block states what the C caller promises (see the header's comments).
#![allow(unsafe_code)]

use core::ffi::{c_char, c_void};

use device_verifier::{
    verify_image, FlashError, FlashRead, ImagePolicy, SignatureKind, SliceFlash, TrustedKey, VerifiedImage,
};

use crate::FwvStatus;

/// Most trusted keys one call accepts (old + new during rotation, plus spares).
pub const FWV_MAX_TRUSTED_KEYS: usize = 8;

/// A trusted public key: DER SubjectPublicKeyInfo bytes (`imgtool getpub -e raw`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct FwvKey {
    pub spki: *const u8,
    pub spki_len: usize,
}

/// What the device requires of an image.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct FwvPolicy {
    /// `num_keys` trusted keys (1..=FWV_MAX_TRUSTED_KEYS).
    pub keys: *const FwvKey,
    pub num_keys: usize,
    /// If true, the image must carry a security counter >= `security_counter_floor`.
    pub has_floor: bool,
    pub security_counter_floor: u32,
}

/// Reads `len` bytes at `offset` of the slot into `buf`; returns 0 on success.
pub type FwvReadFn = Option<unsafe extern "C" fn(ctx: *mut c_void, offset: u32, buf: *mut u8, len: usize) -> i32>;

/// A flash slot read through a callback (for flash that is not memory-mapped).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct FwvFlash {
    pub ctx: *mut c_void,
    /// Size of the slot in bytes.
    pub capacity: u32,
    pub read: FwvReadFn,
}

/// Which signature the image carried.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FwvSignatureKind {
    Ed25519 = 1,
    Ed25519Pure = 2,
    EcdsaP256 = 3,
}

/// Filled in when an image verified.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct FwvVerifiedImage {
    /// Bytes from the start of the slot to the end of the unprotected TLV area.
    pub image_len: u32,
    pub hdr_size: u16,
    pub img_size: u32,
    pub load_addr: u32,
    pub flags: u32,
    pub version_major: u8,
    pub version_minor: u8,
    pub version_revision: u16,
    pub version_build: u32,
    pub has_security_counter: bool,
    pub security_counter: u32,
    /// Index into `FwvPolicy.keys` of the key that signed the image.
    pub key_index: u32,
    pub signature_kind: FwvSignatureKind,
    /// The image hash: 32 (SHA-256) or 64 (SHA-512) bytes of `digest`.
    pub digest_len: u32,
    pub digest: [u8; 64],
}

/// Why a call failed: status and the slot offset where verification stopped.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct FwvError {
    pub status: FwvStatus,
    pub offset: u32,
}

struct CallbackFlash {
    ctx: *mut c_void,
    capacity: u32,
    read: unsafe extern "C" fn(*mut c_void, u32, *mut u8, usize) -> i32,
}

impl FlashRead for CallbackFlash {
    fn capacity(&self) -> u32 {
        self.capacity
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        let end = u32::try_from(buf.len()).ok().and_then(|len| offset.checked_add(len));
        if end.is_none_or(|end| end > self.capacity) {
            return Err(FlashError);
        }
        // SAFETY: `buf` is a valid, exclusive, writable region of `buf.len()` bytes for the
        // duration of the call; the C caller promised `read` writes at most `len` bytes to it.
        let rc = unsafe { (self.read)(self.ctx, offset, buf.as_mut_ptr(), buf.len()) };
        if rc == 0 {
            Ok(())
        } else {
            Err(FlashError)
        }
    }
}

/// Verifies the image in a slot read through `flash->read`.
///
/// `buf`/`buf_len` is scratch space (at least the protected TLV area; 256+ bytes is plenty,
/// larger is faster). On success returns FWV_STATUS_OK and fills `*out`; otherwise returns the
/// refusal and, if `err` is not NULL, fills `*err` with it and the slot offset.
///
/// # Safety
/// `flash`, `policy`, `buf` (`buf_len` bytes, writable) and `out` must be valid pointers;
/// `policy->keys` must point to `policy->num_keys` keys whose `spki` pointers are valid for
/// `spki_len` bytes; `err` may be NULL. Nothing is retained after the call.
#[no_mangle]
pub unsafe extern "C" fn fwv_verify_image(
    flash: *const FwvFlash,
    policy: *const FwvPolicy,
    buf: *mut u8,
    buf_len: usize,
    out: *mut FwvVerifiedImage,
    err: *mut FwvError,
) -> FwvStatus {
    // SAFETY: the caller promises `flash` is NULL or valid (checked for NULL by as_ref).
    let flash = unsafe { flash.as_ref() };
    let result = match flash.map(|f| (f, f.read)) {
        Some((flash, Some(read))) => {
            let mut slot = CallbackFlash {
                ctx: flash.ctx,
                capacity: flash.capacity,
                read,
            };
            // SAFETY: forwarded caller promises on policy and buf.
            unsafe { verify_with(&mut slot, policy, buf, buf_len) }
        }
        _ => Err(null()),
    };
    // SAFETY: forwarded caller promises on out and err.
    unsafe { finish(result, out, err) }
}

/// Verifies the image in memory-mapped flash: `image_len` bytes at `image` are the slot.
///
/// # Safety
/// As [`fwv_verify_image`], with `image` valid for reads of `image_len` bytes that do not
/// change during the call.
#[no_mangle]
pub unsafe extern "C" fn fwv_verify_image_mem(
    image: *const u8,
    image_len: usize,
    policy: *const FwvPolicy,
    buf: *mut u8,
    buf_len: usize,
    out: *mut FwvVerifiedImage,
    err: *mut FwvError,
) -> FwvStatus {
    let result = if image.is_null() {
        Err(null())
    } else {
        // SAFETY: non-NULL, and the caller promises `image_len` readable, unchanging bytes.
        let bytes = unsafe { core::slice::from_raw_parts(image, image_len) };
        // SAFETY: forwarded caller promises on policy and buf.
        unsafe { verify_with(&mut SliceFlash::new(bytes), policy, buf, buf_len) }
    };
    // SAFETY: forwarded caller promises on out and err.
    unsafe { finish(result, out, err) }
}

/// A NUL-terminated, statically allocated description of `status`.
#[no_mangle]
pub extern "C" fn fwv_status_str(status: FwvStatus) -> *const c_char {
    status.message().as_ptr().cast()
}

const fn null() -> FwvError {
    FwvError {
        status: FwvStatus::NullArgument,
        offset: 0,
    }
}

const fn refuse(status: FwvStatus) -> FwvError {
    FwvError { status, offset: 0 }
}

/// # Safety
/// See [`fwv_verify_image`]: `policy` and `buf` as promised there.
unsafe fn verify_with<F: FlashRead>(
    flash: &mut F,
    policy: *const FwvPolicy,
    buf: *mut u8,
    buf_len: usize,
) -> Result<FwvVerifiedImage, FwvError> {
    // SAFETY: the caller promises `policy` is NULL or valid.
    let policy = unsafe { policy.as_ref() }.ok_or(null())?;
    if buf.is_null() || policy.keys.is_null() {
        return Err(null());
    }
    if policy.num_keys == 0 || policy.num_keys > FWV_MAX_TRUSTED_KEYS {
        return Err(refuse(FwvStatus::TooManyKeys));
    }
    // SAFETY: non-NULL; the caller promises `num_keys` (checked <= 8) valid entries.
    let c_keys = unsafe { core::slice::from_raw_parts(policy.keys, policy.num_keys) };
    let mut keys: [Option<TrustedKey<'_>>; FWV_MAX_TRUSTED_KEYS] = [None; FWV_MAX_TRUSTED_KEYS];
    for (slot, key) in keys.iter_mut().zip(c_keys) {
        if key.spki.is_null() {
            return Err(null());
        }
        // SAFETY: non-NULL; the caller promises `spki_len` readable bytes that outlive the call.
        let spki = unsafe { core::slice::from_raw_parts(key.spki, key.spki_len) };
        *slot = Some(TrustedKey::from_spki(spki).ok_or(refuse(FwvStatus::BadTrustedKey))?);
    }
    let first = keys.first().copied().flatten().ok_or(refuse(FwvStatus::TooManyKeys))?;
    // Unused tail entries repeat the first key; only the first `num_keys` are passed on.
    let trusted = keys.map(|k| k.unwrap_or(first));
    let trusted = trusted.get(..policy.num_keys).ok_or(refuse(FwvStatus::TooManyKeys))?;
    // SAFETY: non-NULL; the caller promises `buf_len` writable bytes not aliased during the call.
    let buf = unsafe { core::slice::from_raw_parts_mut(buf, buf_len) };
    let rust_policy = ImagePolicy {
        trusted_keys: trusted,
        security_counter_floor: policy.has_floor.then_some(policy.security_counter_floor),
    };
    verify_image(flash, &rust_policy, buf)
        .map(|verified| describe(&verified))
        .map_err(|error| FwvError {
            status: FwvStatus::from_error(&error),
            offset: error.offset,
        })
}

/// Writes the outcome to `out` or `err` and returns its status.
///
/// # Safety
/// `out` and `err` are each NULL or valid for writes.
unsafe fn finish(
    result: Result<FwvVerifiedImage, FwvError>,
    out: *mut FwvVerifiedImage,
    err: *mut FwvError,
) -> FwvStatus {
    let error = match result {
        Ok(verified) => {
            // SAFETY: the caller promises `out` is NULL or valid and writable.
            match unsafe { out.as_mut() } {
                Some(out) => {
                    *out = verified;
                    return FwvStatus::Ok;
                }
                None => null(),
            }
        }
        Err(error) => error,
    };
    // SAFETY: the caller promises `err` is NULL or valid and writable.
    if let Some(err) = unsafe { err.as_mut() } {
        *err = error;
    }
    error.status
}

fn describe(verified: &VerifiedImage) -> FwvVerifiedImage {
    let header = verified.header();
    let mut digest = [0u8; 64];
    for (dst, src) in digest.iter_mut().zip(verified.digest()) {
        *dst = *src;
    }
    FwvVerifiedImage {
        image_len: verified.image_len(),
        hdr_size: header.hdr_size,
        img_size: header.img_size,
        load_addr: header.load_addr,
        flags: header.flags.0,
        version_major: header.version.major,
        version_minor: header.version.minor,
        version_revision: header.version.revision,
        version_build: header.version.build,
        has_security_counter: verified.security_counter().is_some(),
        security_counter: verified.security_counter().unwrap_or(0),
        key_index: u32::try_from(verified.key_index()).unwrap_or(u32::MAX),
        signature_kind: match verified.signature_kind() {
            SignatureKind::Ed25519 => FwvSignatureKind::Ed25519,
            SignatureKind::Ed25519Pure => FwvSignatureKind::Ed25519Pure,
            SignatureKind::EcdsaP256 => FwvSignatureKind::EcdsaP256,
        },
        digest_len: u32::try_from(verified.digest().len()).unwrap_or(0),
        digest,
    }
}
