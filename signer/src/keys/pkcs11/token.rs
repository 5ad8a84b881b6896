//! Reaching a token: loading the module, choosing the slot the URI names, the PIN and the login.
//!
//! Login is attempted exactly once per run. A wrong PIN is reported, never retried: every failed
//! C_Login counts towards the token's lockout.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::{Slot, TokenInfo};
use cryptoki::types::AuthPin;

use super::uri::Pkcs11Uri;
use crate::error::Error;

static MODULE_OVERRIDE: OnceLock<PathBuf> = OnceLock::new();

/// Sets the module given by `--pkcs11-module` (used when the URI has no `module-path`).
pub fn set_module_override(path: PathBuf) {
    let _ = MODULE_OVERRIDE.set(path);
}

const MODULE_HINT: &str = "name the PKCS#11 module with module-path= in the URI (after '?'), --pkcs11-module PATH, or the PKCS11_MODULE environment variable; SoftHSM2's is /usr/lib/softhsm/libsofthsm2.so (Debian package softhsm2)";

/// `CKR_PIN_INCORRECT` from cryptoki's `PinIncorrect`.
pub fn ckr_name(rv: &RvError) -> String {
    let camel = format!("{rv:?}");
    let mut out = String::from("CKR");
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// A PKCS#11 failure as an [`Error`] with the return value's name.
pub fn ck_error(action: &str, error: CkError) -> Error {
    match error {
        CkError::Pkcs11(rv, _) => Error::token(format!("{action} failed: {}", ckr_name(&rv))),
        other => Error::token(format!("{action} failed: {other}")),
    }
}

/// Which module file a URI uses: `module-path`, then `--pkcs11-module`, then `PKCS11_MODULE`, then
/// `module-name` looked up in the p11-kit module directory.
pub fn module_path(uri: &Pkcs11Uri) -> Result<PathBuf, Error> {
    if let Some(path) = &uri.module_path {
        return Ok(path.clone());
    }
    if let Some(path) = MODULE_OVERRIDE.get() {
        return Ok(path.clone());
    }
    if let Some(path) = std::env::var_os("PKCS11_MODULE").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    if let Some(name) = &uri.module_name {
        for dir in [
            "/usr/lib/x86_64-linux-gnu/pkcs11",
            "/usr/lib/aarch64-linux-gnu/pkcs11",
            "/usr/lib/pkcs11",
        ] {
            let candidate = Path::new(dir).join(format!("{name}.so"));
            if candidate.exists() {
                return Ok(candidate);
            }
        }
        return Err(Error::token(format!("PKCS#11 module-name {name:?} not found")).with_hint(MODULE_HINT));
    }
    Err(Error::token("no PKCS#11 module given for the pkcs11: key").with_hint(MODULE_HINT))
}

/// A loaded, initialized PKCS#11 module (cheap to clone: the library is shared).
#[derive(Debug, Clone)]
pub struct Module {
    pub ctx: Pkcs11,
    pub path: PathBuf,
}

impl Module {
    pub fn load(path: &Path) -> Result<Self, Error> {
        let ctx = Pkcs11::new(path).map_err(|e| {
            let why = match &e {
                CkError::LibraryLoading(inner) => inner.to_string(),
                other => other.to_string(),
            };
            Error::token(format!("cannot load PKCS#11 module {}: {why}", path.display())).with_hint(
                if path.exists() {
                    "the file exists but is not a loadable PKCS#11 library for this machine (wrong architecture or missing dependencies?)"
                } else {
                    "the file does not exist; install the token's PKCS#11 library (for SoftHSM2: apt-get install softhsm2) or fix the path"
                },
            )
        })?;
        match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => {
                return Err(
                    ck_error(&format!("initializing PKCS#11 module {}", path.display()), e).with_hint(
                        "for SoftHSM2, check that SOFTHSM2_CONF names a readable softhsm2.conf whose tokendir exists",
                    ),
                )
            }
        }
        Ok(Self {
            ctx,
            path: path.to_path_buf(),
        })
    }

    /// Slots with a token present, with their token info.
    pub fn tokens(&self) -> Result<Vec<(Slot, TokenInfo)>, Error> {
        let slots = self
            .ctx
            .get_slots_with_token()
            .map_err(|e| ck_error("listing the module's slots", e))?;
        slots
            .into_iter()
            .map(|slot| {
                let info = self
                    .ctx
                    .get_token_info(slot)
                    .map_err(|e| ck_error("reading token info", e))?;
                Ok((slot, info))
            })
            .collect()
    }

    /// The one token the URI selects; otherwise an error listing the tokens there are.
    pub fn select_token(&self, uri: &Pkcs11Uri) -> Result<(Slot, TokenInfo), Error> {
        let tokens = self.tokens()?;
        let matches = |(slot, info): &(Slot, TokenInfo)| {
            uri.token.as_deref().is_none_or(|t| info.label().trim_end() == t)
                && uri
                    .serial
                    .as_deref()
                    .is_none_or(|s| info.serial_number().trim_end() == s)
                && uri
                    .manufacturer
                    .as_deref()
                    .is_none_or(|m| info.manufacturer_id().trim_end() == m)
                && uri.model.as_deref().is_none_or(|m| info.model().trim_end() == m)
                && uri.slot_id.is_none_or(|id| slot.id() == id)
                && info.token_initialized()
        };
        let mut found: Vec<_> = tokens.iter().filter(|t| matches(t)).cloned().collect();
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err(Error::token(format!(
                "token not found: {} selects none of the tokens in {} (tokens there: {})",
                uri.describe(),
                self.path.display(),
                list_tokens(&tokens)
            ))
            .with_hint(if !tokens.iter().any(|(_, info)| info.token_initialized()) {
                "the module has no initialized token; for SoftHSM2 create one with `softhsm2-util --init-token --free --label NAME` and check SOFTHSM2_CONF"
            } else {
                "fix token= in the URI (labels are case-sensitive), or see `signer hsm list`"
            })),
            _ => Err(Error::token(format!(
                "{} matches {} tokens: {}",
                uri.describe(),
                found.len(),
                list_tokens(&found)
            ))
            .with_hint("add token=, serial= or slot-id= to the URI to pick one")),
        }
    }
}

fn list_tokens(tokens: &[(Slot, TokenInfo)]) -> String {
    let initialized: Vec<_> = tokens.iter().filter(|(_, info)| info.token_initialized()).collect();
    if initialized.is_empty() {
        return "none".into();
    }
    initialized
        .iter()
        .map(|(slot, info)| {
            format!(
                "{:?} (serial {}, slot {})",
                info.label().trim_end(),
                info.serial_number().trim_end(),
                slot.id()
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where the PIN comes from, in order: `pin-source` in the URI, `PKCS11_PIN`, a terminal prompt.
/// Never from argv. `prompt` = false returns `None` instead of asking.
pub fn read_pin(uri: &Pkcs11Uri, token: &str, prompt: bool) -> Result<Option<AuthPin>, Error> {
    if let Some(source) = &uri.pin_source {
        let path = source
            .strip_prefix("file://")
            .or_else(|| source.strip_prefix("file:"))
            .unwrap_or(source);
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| Error::io(format_args!("cannot read the PIN file {path}"), &e))?,
        );
        // The first line; the rest of the file (if any) is ignored.
        let pin = text.lines().next().unwrap_or("");
        return Ok(Some(AuthPin::from(pin.to_owned())));
    }
    if let Ok(pin) = std::env::var("PKCS11_PIN") {
        return Ok(Some(AuthPin::from(pin)));
    }
    if !prompt {
        return Ok(None);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::token(format!(
            "token {token:?} needs a PIN and there is no terminal to ask for it"
        ))
        .with_hint(
            "set PKCS11_PIN, or add pin-source=file:/path/to/pin-file to the URI (PINs are never taken from arguments)",
        ));
    }
    let pin = rpassword::prompt_password(format!("PIN for token {token:?}: "))
        .map_err(|e| Error::token(format!("cannot read the PIN from the terminal: {e}")))?;
    Ok(Some(AuthPin::from(pin)))
}

/// Logs in as the user, once. Wrong PIN, locked PIN and friends become actionable failures.
pub fn login(session: &Session, token: &TokenInfo, pin: &AuthPin) -> Result<(), Error> {
    let label = token.label().trim_end();
    if token.user_pin_locked() {
        return Err(Error::token(format!("the user PIN of token {label:?} is locked"))
            .with_hint("the token's security officer must unblock or reset the user PIN (for SoftHSM2: re-initialize the token)"));
    }
    let pin_arg = if token.protected_authentication_path() {
        None
    } else {
        Some(pin)
    };
    match session.login(UserType::User, pin_arg) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => Err(Error::token(format!(
            "wrong PIN for token {label:?} (CKR_PIN_INCORRECT)"
        ))
        .with_hint(
            "check PKCS11_PIN or the pin-source file; the signer tried once and will not retry, because each wrong PIN counts towards the token's lockout (after too many the user PIN is blocked)",
        )),
        Err(CkError::Pkcs11(RvError::PinLocked, _)) => {
            Err(Error::token(format!("the user PIN of token {label:?} is locked (CKR_PIN_LOCKED)"))
                .with_hint("the token's security officer must unblock or reset the user PIN"))
        }
        Err(CkError::Pkcs11(RvError::PinLenRange, _)) => Err(Error::token(format!(
            "the PIN for token {label:?} has the wrong length (CKR_PIN_LEN_RANGE)"
        ))
        .with_hint("check PKCS11_PIN or the pin-source file (a trailing space?)")),
        Err(CkError::Pkcs11(RvError::UserPinNotInitialized, _)) => Err(Error::token(format!(
            "token {label:?} has no user PIN yet (CKR_USER_PIN_NOT_INITIALIZED)"
        ))
        .with_hint("initialize the user PIN with the token's tools first")),
        Err(e) => Err(ck_error(&format!("login to token {label:?}"), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_value_names_match_the_spec() {
        assert_eq!(ckr_name(&RvError::PinIncorrect), "CKR_PIN_INCORRECT");
        assert_eq!(ckr_name(&RvError::MechanismInvalid), "CKR_MECHANISM_INVALID");
    }
}
