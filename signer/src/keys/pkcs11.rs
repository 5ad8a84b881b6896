//! Keys inside a PKCS#11 token (an HSM, or SoftHSM2 in tests), named by RFC 7512 URIs.
//!
//! The private key never leaves the token: signing runs there (CKM_EDDSA over the image digest,
//! CKM_ECDSA over the SHA-256 digest) and only the public half is read out.

mod encoding;
mod keygen;
mod list;
mod objects;
mod token;
mod uri;

use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use cryptoki::slot::{Slot, TokenInfo};

pub use encoding::{ecdsa_raw_to_der, spki_from_ec};
pub use keygen::generate_token_key;
pub use list::{list_tokens, KeyObjectListing, TokenListing};
pub use token::set_module_override;
pub use uri::Pkcs11Uri;

use super::{KeyAlgorithm, SigningKey};
use crate::error::Error;
use token::{ck_error, Module};

/// A signing key held in a PKCS#11 token.
pub struct Pkcs11Key {
    session: Session,
    handle: ObjectHandle,
    algorithm: KeyAlgorithm,
    spki: Vec<u8>,
    description: String,
}

impl std::fmt::Debug for Pkcs11Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Key")
            .field("key", &self.description)
            .field("algorithm", &self.algorithm)
            .finish()
    }
}

/// An open session on the token a URI selects.
pub(crate) struct TokenSession {
    pub module: Module,
    pub slot: Slot,
    pub info: TokenInfo,
    pub session: Session,
    pub logged_in: bool,
}

impl TokenSession {
    pub fn open(uri: &Pkcs11Uri, read_write: bool) -> Result<Self, Error> {
        let module = Module::load(&token::module_path(uri)?)?;
        let (slot, info) = module.select_token(uri)?;
        let session = if read_write {
            module.ctx.open_rw_session(slot)
        } else {
            module.ctx.open_ro_session(slot)
        }
        .map_err(|e| ck_error(&format!("opening a session on token {:?}", info.label().trim_end()), e))?;
        Ok(Self {
            module,
            slot,
            info,
            session,
            logged_in: false,
        })
    }

    pub fn label(&self) -> &str {
        self.info.label().trim_end()
    }

    /// Logs in with the PIN from the URI, `PKCS11_PIN` or (if `prompt`) the terminal.
    /// Returns false, without logging in, when no PIN is available and prompting is off.
    pub fn login(&mut self, uri: &Pkcs11Uri, prompt: bool) -> Result<bool, Error> {
        if self.logged_in {
            return Ok(true);
        }
        // CKF_LOGIN_REQUIRED clear: the token signs without a login (no PIN asked).
        if !self.info.login_required() {
            self.logged_in = true;
            return Ok(true);
        }
        let Some(pin) = token::read_pin(uri, self.label(), prompt)? else {
            return Ok(false);
        };
        token::login(&self.session, &self.info, &pin)?;
        self.logged_in = true;
        Ok(true)
    }

    /// Fails unless the token offers `mechanism` for `purpose`.
    pub fn require_mechanism(&self, mechanism: MechanismType, name: &str, purpose: &str) -> Result<(), Error> {
        let list = self
            .module
            .ctx
            .get_mechanism_list(self.slot)
            .map_err(|e| ck_error("listing the token's mechanisms", e))?;
        if list.contains(&mechanism) {
            return Ok(());
        }
        Err(Error::token(format!(
            "token {:?} does not support {name}, needed to {purpose}",
            self.label()
        ))
        .with_hint(
            "use a token (or firmware version) that supports it, or the other key type (-t ed25519 / -t ecdsa-p256)",
        ))
    }
}

impl Pkcs11Key {
    /// Opens the private key a URI names, logging in (PIN from the URI's pin-source, PKCS11_PIN,
    /// or a terminal prompt).
    pub fn open(spec: &str) -> Result<Self, Error> {
        let uri = Pkcs11Uri::parse(spec)?;
        let mut ts = TokenSession::open(&uri, false)?;
        ts.login(&uri, true)?;
        let key = objects::find_one(&ts, &uri, ObjectClass::PRIVATE_KEY)?;
        let (algorithm, spki) = objects::public_key_of(&ts, &key)?;
        let (mechanism, name) = match algorithm {
            KeyAlgorithm::Ed25519 => (MechanismType::EDDSA, "CKM_EDDSA"),
            KeyAlgorithm::EcdsaP256 => (MechanismType::ECDSA, "CKM_ECDSA"),
        };
        ts.require_mechanism(mechanism, name, "sign with this key")?;
        let description = format!("pkcs11:token={};{}", ts.label(), key.describe_uri_part());
        Ok(Self {
            session: ts.session,
            handle: key.handle,
            algorithm,
            spki,
            description,
        })
    }
}

/// The public key (DER SPKI) a URI names: read without a PIN where the token allows it, with one
/// (prompting on a terminal) otherwise.
pub fn public_spki_from_uri(spec: &str) -> Result<(KeyAlgorithm, Vec<u8>), Error> {
    let uri = Pkcs11Uri::parse(spec)?;
    let mut ts = TokenSession::open(&uri, false)?;
    // Public key objects are usually public (CKA_PRIVATE false): try without logging in first.
    let key = match objects::find_one(&ts, &uri, ObjectClass::PUBLIC_KEY) {
        Ok(key) => key,
        Err(first) => {
            if !ts.login(&uri, true)? {
                return Err(first);
            }
            match objects::find_one(&ts, &uri, ObjectClass::PUBLIC_KEY) {
                Ok(key) => key,
                Err(_) => objects::find_one(&ts, &uri, ObjectClass::PRIVATE_KEY)?,
            }
        }
    };
    objects::public_key_of(&ts, &key)
}

impl SigningKey for Pkcs11Key {
    fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    fn public_spki(&self) -> Result<Vec<u8>, Error> {
        Ok(self.spki.clone())
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        match self.algorithm {
            KeyAlgorithm::Ed25519 => {
                // PureEdDSA (RFC 8032): no CK_EDDSA_PARAMS, so the token signs `message` itself.
                let mechanism = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
                self.session
                    .sign(&mechanism, self.handle, message)
                    .map_err(|e| sign_error(&self.description, "CKM_EDDSA", e))
            }
            KeyAlgorithm::EcdsaP256 => {
                let raw = self
                    .session
                    .sign(&Mechanism::Ecdsa, self.handle, message)
                    .map_err(|e| sign_error(&self.description, "CKM_ECDSA", e))?;
                ecdsa_raw_to_der(&raw)
            }
        }
    }

    fn describe(&self) -> String {
        self.description.clone()
    }

    fn is_file_key(&self) -> bool {
        false
    }
}

fn sign_error(key: &str, mechanism: &str, error: cryptoki::error::Error) -> Error {
    use cryptoki::error::{Error as CkError, RvError};
    let hint = match &error {
        CkError::Pkcs11(RvError::MechanismInvalid | RvError::KeyTypeInconsistent, _) => {
            "the token does not support this mechanism for this key; use a key type the token supports"
        }
        CkError::Pkcs11(RvError::KeyFunctionNotPermitted, _) => {
            "the key object does not allow signing (CKA_SIGN is false)"
        }
        CkError::Pkcs11(RvError::UserNotLoggedIn, _) => "the session lost its login; run the command again",
        _ => "check the token; nothing was written",
    };
    ck_error(&format!("signing with {key} ({mechanism})"), error).with_hint(hint)
}
